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

import { api, clearStatus, setBusy, setFlash, showStatus } from "./lib.js";

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
