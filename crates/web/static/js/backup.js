// printwarden — /settings/backup: create and download an encrypted backup,
// the backup schedule, and Verify for the backups the schedule wrote, through
// the JSON API.
//
// The download is read as a stream so the page can show how much has arrived
// while a long backup is written (the server cannot know the final size in
// advance: it encrypts as it reads); the file is handed to the browser once
// complete. A backup cut short never verifies (age proves its own end), and
// the page says so instead of saving it.
//
// Passphrases are only ever sent, never shown or stored by the page.
//
// Restore (administrators only): the file is uploaded with XMLHttpRequest (the
// one browser API that reports upload progress) as the raw request body; the
// check and the confirmation go through the JSON API; after the confirmation
// the page waits for the server to stop and come back, then says how it went.

import { api, clearStatus, el, setBusy, setFlash, showStatus, toLogin } from "./lib.js";

/** Words for a passphrase's strength: a rough guide from length and variety, not a promise. */
function strengthWords(value, min) {
  if (!value) return "";
  if (value.length < min) return `Too short: ${value.length} of at least ${min} characters.`;
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(value)).length;
  const words = value.trim().split(/\s+/).length;
  if (value.length >= 24 || (words >= 4 && value.length >= 20)) return "Strong.";
  if (value.length >= 16 && (kinds >= 2 || words >= 3)) return "Good.";
  return "Acceptable, but longer is better: add another word or two.";
}

/** Shows or hides the passphrase or public key fields of a form as its radio says. */
function sealSwitch(prefix) {
  const passFields = document.getElementById(`${prefix}-passphrase-fields`);
  const recipientField = document.getElementById(`${prefix}-recipient-field`);
  const radios = document.querySelectorAll(`input[name=seal][id^=${prefix}-seal-]`);
  const current = () =>
    [...radios].find((r) => r.checked)?.value === "recipient" ? "recipient" : "passphrase";
  const show = () => {
    const recipient = current() === "recipient";
    if (passFields) passFields.hidden = recipient;
    if (recipientField) recipientField.hidden = !recipient;
  };
  for (const radio of radios) radio.addEventListener("change", show);
  show();
  return current;
}

function bytesWords(n) {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

// ---------------------------------------------------------------------------
// Create and download
// ---------------------------------------------------------------------------

const createForm = document.getElementById("create-form");
const createStatus = document.getElementById("create-status");
const createProgress = document.getElementById("create-progress");
const createPass = document.getElementById("create-passphrase");
const createConfirm = document.getElementById("create-confirm");
const createStrength = document.getElementById("create-strength");
const min = Number(createForm?.getAttribute("data-min") ?? "12");
const createSeal = sealSwitch("create");

createPass?.addEventListener("input", () => {
  createStrength.textContent =
    strengthWords(createPass.value, min) ||
    `At least ${min} characters. Several unrelated words are easier to keep and harder to guess.`;
});

/** The file name from Content-Disposition, or a plain default. */
function fileName(res) {
  const match = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "");
  return match ? match[1] : "printwarden-backup.pwbk";
}

createForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(createStatus);
  const body = { include_key: document.getElementById("create-include-key").checked };
  if (createSeal() === "recipient") {
    body.recipient = document.getElementById("create-recipient").value.trim();
    if (!body.recipient) {
      showStatus(createStatus, "error", "Paste the public key (age1…) to seal the backup to.");
      return;
    }
  } else {
    if (createPass.value.length < min) {
      showStatus(createStatus, "error", `The passphrase must be at least ${min} characters long.`);
      createPass.focus();
      return;
    }
    if (createPass.value !== createConfirm.value) {
      showStatus(createStatus, "error", "The two passphrases differ. Type the same one twice.");
      createConfirm.focus();
      return;
    }
    body.passphrase = createPass.value;
  }
  setBusy(createForm, true);
  createProgress.hidden = false;
  createProgress.removeAttribute("value");
  showStatus(createStatus, "info", "Writing the backup…");
  let res;
  try {
    res = await fetch("/api/v1/system/backup", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/octet-stream" },
      body: JSON.stringify(body),
    });
  } catch {
    res = null;
  }
  try {
    if (!res) {
      showStatus(createStatus, "error", "The server could not be reached. Check the connection and try again.");
      return;
    }
    if (!res.ok) {
      const data = await res.json().catch(() => null);
      showStatus(
        createStatus,
        "error",
        data?.error?.message ?? `The server answered with status ${res.status}.`,
      );
      return;
    }
    const name = fileName(res);
    const reader = res.body.getReader();
    const parts = [];
    let received = 0;
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch {
        showStatus(
          createStatus,
          "error",
          `The backup stopped after ${bytesWords(received)}: it failed on the server or the connection broke. Nothing was saved; the reason is in the audit log.`,
        );
        return;
      }
      if (step.done) break;
      parts.push(step.value);
      received += step.value.length;
      showStatus(createStatus, "info", `Writing the backup… ${bytesWords(received)} received.`);
    }
    const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    createPass.value = "";
    createConfirm.value = "";
    showStatus(
      createStatus,
      "success",
      `Backup ${name} downloaded (${bytesWords(received)}). Keep it and its passphrase (or identity file) in different places.`,
    );
  } finally {
    createProgress.hidden = true;
    setBusy(createForm, false);
  }
});

// ---------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------

const scheduleForm = document.getElementById("schedule-form");
const scheduleStatus = document.getElementById("schedule-status");
const schedulePass = document.getElementById("schedule-passphrase");
const scheduleConfirm = document.getElementById("schedule-confirm");
const scheduleStrength = document.getElementById("schedule-strength");
const scheduleSeal = sealSwitch("schedule");
const sealed = scheduleForm?.getAttribute("data-sealed") === "true";

schedulePass?.addEventListener("input", () => {
  const words = strengthWords(schedulePass.value, min);
  if (words) scheduleStrength.textContent = words;
});

scheduleForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(scheduleStatus);
  const body = {
    enabled: document.getElementById("schedule-enabled").checked,
    dir: document.getElementById("schedule-dir").value.trim(),
    interval_hours: Number(document.getElementById("schedule-interval").value),
    keep: Number(document.getElementById("schedule-keep").value),
    include_key: document.getElementById("schedule-include-key").checked,
  };
  if (scheduleSeal() === "recipient") {
    body.recipient = document.getElementById("schedule-recipient").value.trim();
  } else if (schedulePass.value || !sealed) {
    if (schedulePass.value.length < min) {
      showStatus(scheduleStatus, "error", `The passphrase must be at least ${min} characters long.`);
      schedulePass.focus();
      return;
    }
    if (schedulePass.value !== scheduleConfirm.value) {
      showStatus(scheduleStatus, "error", "The two passphrases differ. Type the same one twice.");
      scheduleConfirm.focus();
      return;
    }
    body.passphrase = schedulePass.value;
  }
  setBusy(scheduleForm, true);
  const res = await api("PUT", "/api/v1/system/backup/schedule", body);
  setBusy(scheduleForm, false);
  if (!res.ok) {
    showStatus(scheduleStatus, "error", res.message);
    return;
  }
  setFlash("Backup schedule saved.");
  window.location.reload();
});

document.getElementById("schedule-run")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  showStatus(scheduleStatus, "info", "Writing a backup into the directory…");
  const res = await api("POST", "/api/v1/system/backup/schedule/run");
  button.disabled = false;
  if (!res.ok) {
    showStatus(scheduleStatus, "error", res.message);
    return;
  }
  setFlash(res.data.message, res.data.ok ? "success" : "error");
  window.location.reload();
});

// ---------------------------------------------------------------------------
// Verify a written backup
// ---------------------------------------------------------------------------

for (const button of document.querySelectorAll("button[data-verify]")) {
  button.addEventListener("click", async () => {
    const name = button.getAttribute("data-verify");
    const out = document.querySelector(`[data-verify-result="${CSS.escape(name)}"]`);
    button.disabled = true;
    if (out) out.textContent = "Checking every entry…";
    const res = await api("POST", "/api/v1/system/backup/schedule/verify", { name });
    button.disabled = false;
    if (!out) return;
    out.textContent = res.ok ? res.data.message : res.message;
    out.setAttribute("data-ok", res.ok && res.data.ok ? "true" : "false");
  });
}

// ---------------------------------------------------------------------------
// Restore from a backup
// ---------------------------------------------------------------------------

const restore = document.getElementById("restore");
if (restore) {
  const status = document.getElementById("restore-status");
  const uploadForm = document.getElementById("restore-upload-form");
  const progress = document.getElementById("restore-progress");
  const staged = document.getElementById("restore-staged");
  const stagedWords = document.getElementById("restore-staged-words");
  const verifyForm = document.getElementById("restore-verify-form");
  const cover = document.getElementById("restore-cover");
  const coverList = document.getElementById("restore-cover-list");
  const dialog = document.getElementById("restore-dialog");
  const confirmForm = document.getElementById("restore-confirm-form");
  const confirmStatus = document.getElementById("restore-confirm-status");
  const passField = document.getElementById("restore-passphrase-field");
  const identityField = document.getElementById("restore-identity-field");
  const passInput = document.getElementById("restore-passphrase");
  const identityInput = document.getElementById("restore-identity");
  const maxBytes = Number(restore.getAttribute("data-max") ?? "0");

  const useIdentity = () => document.getElementById("restore-open-identity")?.checked === true;
  for (const radio of document.querySelectorAll("input[name=open]")) {
    radio.addEventListener("change", () => {
      passField.hidden = useIdentity();
      identityField.hidden = !useIdentity();
    });
  }
  const opening = () =>
    useIdentity() ? { identity: identityInput.value } : { passphrase: passInput.value };

  uploadForm?.addEventListener("submit", (event) => {
    event.preventDefault();
    clearStatus(status);
    const file = document.getElementById("restore-file")?.files?.[0];
    if (!file) {
      showStatus(status, "error", "Choose the backup file first.");
      return;
    }
    if (maxBytes && file.size > maxBytes) {
      showStatus(status, "error", `The file is larger than this page accepts (${bytesWords(maxBytes)}).`);
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/v1/system/restore/upload");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    progress.hidden = false;
    progress.value = 0;
    setBusy(uploadForm, true);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        progress.value = Math.round((e.loaded / e.total) * 100);
        progress.textContent = `${progress.value}%`;
      }
    });
    xhr.addEventListener("loadend", () => {
      setBusy(uploadForm, false);
      progress.hidden = true;
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 200 && data) {
        uploadForm.hidden = true;
        staged.hidden = false;
        stagedWords.textContent = `A backup is uploaded (${bytesWords(data.size ?? file.size)}). Check it with its passphrase.`;
        showStatus(status, "success", "Uploaded. Nothing has changed yet.");
        return;
      }
      showStatus(
        status,
        "error",
        data?.error?.message ??
          (xhr.status === 0
            ? "The upload stopped: the connection was lost."
            : `The server answered with status ${xhr.status}.`),
      );
    });
    xhr.send(file);
  });

  document.getElementById("restore-cancel")?.addEventListener("click", async () => {
    const res = await api("DELETE", "/api/v1/system/restore");
    if (!res.ok && res.status !== 404) {
      showStatus(status, "error", res.message);
      return;
    }
    setFlash("The uploaded backup was deleted; nothing was restored.");
    window.location.reload();
  });

  verifyForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearStatus(status);
    cover.hidden = true;
    setBusy(verifyForm, true);
    showStatus(status, "info", "Checking every entry of the backup…");
    const res = await api("POST", "/api/v1/system/restore/verify", opening());
    setBusy(verifyForm, false);
    if (!res.ok) {
      showStatus(status, "error", res.message);
      return;
    }
    clearStatus(status);
    const c = res.data;
    const sealedWords =
      c.sealed_values === 0
        ? "None."
        : c.sealed_values_open === null
          ? `${c.sealed_values}; not checked against this server's key.`
          : c.sealed_values_open === c.sealed_values
            ? `${c.sealed_values}; this server's key opens them all.`
            : `${c.sealed_values}; this server's key opens ${c.sealed_values_open}. ${c.includes_sealing_key ? "The backup's own key comes with it." : "The others will not open: start with the original key."}`;
    const rows = [
      ["Taken", c.created_at],
      ["Written by", `printwarden ${c.app_version} (schema ${c.schema_version})`],
      ["From", c.backend === "postgres" ? "PostgreSQL" : "SQLite"],
      ["Holds", `${c.tables} tables, ${c.rows} rows, ${c.files} files`],
      ...c.counts.map(([table, n]) => [table.replace(/_/g, " "), String(n)]),
      ["Sealing key inside", c.includes_sealing_key ? "Yes: it replaces this server's key file" : "No: this server's key stays"],
      ["Sealed secrets", sealedWords],
    ];
    coverList.replaceChildren(
      ...rows.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))),
    );
    cover.hidden = false;
  });

  document.getElementById("restore-open-confirm")?.addEventListener("click", () => {
    clearStatus(confirmStatus);
    const pass = document.getElementById("restore-confirm-passphrase");
    if (pass) pass.value = useIdentity() ? "" : passInput.value;
    dialog?.showModal();
  });

  /** After the confirmation: waits for the server to go away and come back. */
  async function awaitRestart() {
    let sawDown = false;
    for (let i = 0; i < 600; i += 1) {
      await new Promise((r) => setTimeout(r, 1000));
      const res = await api("GET", "/api/v1/system/restore", undefined, { allow401: true });
      if (res.status === 0) {
        sawDown = true;
        continue;
      }
      if (res.status === 401) {
        toLogin();
        return;
      }
      if (res.ok && res.data.last_restore && (sawDown || !res.data.staged)) {
        setFlash(res.data.last_restore.message, res.data.last_restore.ok ? "success" : "error");
        window.location.reload();
        return;
      }
    }
    showStatus(status, "error", "The server has not come back yet. Check its log (journalctl -u printwarden or docker logs).");
  }

  confirmForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearStatus(confirmStatus);
    const body = {
      ...(useIdentity()
        ? { identity: identityInput.value }
        : { passphrase: document.getElementById("restore-confirm-passphrase").value }),
      current_password: document.getElementById("restore-confirm-password").value,
    };
    setBusy(confirmForm, true);
    showStatus(confirmStatus, "info", "Checking the backup once more…");
    const res = await api("POST", "/api/v1/system/restore/confirm", body);
    setBusy(confirmForm, false);
    if (!res.ok) {
      showStatus(confirmStatus, "error", res.message);
      return;
    }
    dialog.close();
    verifyForm.hidden = true;
    cover.hidden = true;
    showStatus(status, "info", `${res.data.message} This page reloads when the server is back.`);
    awaitRestart();
  });
}
