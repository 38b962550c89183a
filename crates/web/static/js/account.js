// printwarden — /account: display name, change password, two-factor authentication (TOTP
// and backup codes, codes by email), sign-in methods (link and unlink an
// identity provider, each after the password), mails about one's own prints,
// revoke sessions, passkeys (add after the password, rename, remove), create and revoke
// API keys. A new key, a TOTP secret and backup codes are shown once, from the
// API's answer only: they are never written into the page's HTML, so a reload
// cannot show them again.

import { api, clearStatus, el, passkeyCreate, passkeysSupported, readCode, setBusy, setFlash, showStatus, timeEl, tooManyText } from "./lib.js";

// ---------------------------------------------------------------------------
// Display name (local accounts)
// ---------------------------------------------------------------------------

const profileForm = document.getElementById("profile-form");
const profileStatus = document.getElementById("profile-status");

profileForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(profileStatus);
  const data = new FormData(profileForm);
  setBusy(profileForm, true);
  const res = await api("PATCH", "/api/v1/auth/me", {
    display_name: String(data.get("display_name") ?? "").trim(),
  });
  setBusy(profileForm, false);
  if (!res.ok) {
    showStatus(profileStatus, "error", res.message);
    return;
  }
  setFlash(res.data.display_name ? `Your display name is now “${res.data.display_name}”.` : "Display name removed: your username is shown.");
  location.reload();
});

// ---------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------

const passwordForm = document.getElementById("password-form");
const passwordStatus = document.getElementById("password-status");

passwordForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(passwordStatus);
  const data = new FormData(passwordForm);
  const next = String(data.get("new_password") ?? "");
  const confirm = passwordForm.elements.namedItem("confirm");
  if (next !== String(data.get("confirm") ?? "")) {
    confirm.setAttribute("aria-invalid", "true");
    showStatus(passwordStatus, "error", "The two new passwords do not match.");
    confirm.focus();
    return;
  }
  confirm.removeAttribute("aria-invalid");
  setBusy(passwordForm, true);
  const res = await api("POST", "/api/v1/auth/password", {
    current_password: String(data.get("current_password") ?? ""),
    new_password: next,
  });
  setBusy(passwordForm, false);
  if (!res.ok) {
    showStatus(passwordStatus, "error", res.message);
    return;
  }
  passwordForm.reset();
  removeOtherSessionRows();
  showStatus(
    passwordStatus,
    "success",
    "Password changed. Your other sessions were signed out.",
  );
});

// ---------------------------------------------------------------------------
// Two-factor authentication
// ---------------------------------------------------------------------------

const twoFactor = document.getElementById("two-factor");
const totpStatus = document.getElementById("totp-status");
const totpStart = document.getElementById("totp-start");
const codeForm = document.getElementById("totp-code-form");
const codeInput = document.getElementById("totp-code");
const setupForm = document.getElementById("totp-setup-form");
const qrBox = document.getElementById("totp-qr");
const secretValue = document.getElementById("totp-secret");
const backupBox = document.getElementById("backup-codes");
const backupList = document.getElementById("backup-codes-list");
const backupDownload = document.getElementById("backup-codes-download");

/** What each action of an account with TOTP on asks for before it runs. */
const CODE_ACTIONS = {
  replace: {
    title: "Replace your authenticator",
    text: "Enter a current code from the app you use now. You then scan a new QR code; the old app keeps working until the new one is confirmed.",
    label: "Current code from your authenticator app",
    submit: "Continue",
    numeric: true,
  },
  regenerate: {
    title: "New backup codes",
    text: "Enter a current code from your authenticator app. You get ten new backup codes; the old ones stop working at once.",
    label: "Current code from your authenticator app",
    submit: "Make new backup codes",
    numeric: true,
  },
  disable: {
    title: "Turn off two-factor authentication",
    text: "Enter a current code from your authenticator app, or one of your backup codes. Signing in then no longer asks for a code from the app, and your backup codes stop working.",
    label: "Code from the app, or a backup code",
    submit: "Turn off",
    numeric: false,
    danger: true,
  },
};

/** The open code form's action (a key of CODE_ACTIONS), or null. */
let codeAction = null;
/** Whether the set-up form replaces an active authenticator. */
let replacing = false;
/** The object URL behind the Download link, revoked when the codes go. */
let downloadUrl = null;

/** A TOTP code as typed ("123 456") → its digits; "" if it is not six digits. */
function totpDigits(value) {
  const code = String(value ?? "").replace(/\s+/g, "");
  return /^\d{6}$/.test(code) ? code : "";
}

function totpFailed(res) {
  showStatus(
    totpStatus,
    "error",
    res.status === 429 ? tooManyText(res, "Too many wrong codes.") : res.message,
  );
}

function setTotpState(on) {
  twoFactor.setAttribute("data-totp", on ? "on" : "off");
  document.getElementById("totp-on").hidden = !on;
  document.getElementById("totp-off").hidden = on;
  showFactorState();
}

/** Whether emailed sign-in codes are on. */
function emailCodesOn() {
  return twoFactor?.getAttribute("data-email-mfa") === "on";
}

/** The section's On/Off badge: on while any second factor is. */
function showFactorState() {
  const any = twoFactor.getAttribute("data-totp") === "on" || emailCodesOn();
  document.getElementById("totp-badge-on").hidden = !any;
  document.getElementById("totp-badge-off").hidden = any;
  document.getElementById("totp-off-text").textContent = emailCodesOn()
    ? "No authenticator app is set up."
    : "No authenticator app is set up: your password alone signs you in.";
}

/** Closes the code and set-up forms; the secret leaves the page with them. */
function closeTotpForms() {
  codeAction = null;
  replacing = false;
  codeForm.hidden = true;
  codeForm.reset();
  setupForm.hidden = true;
  setupForm.reset();
  qrBox.replaceChildren();
  secretValue.textContent = "";
  if (totpStart) totpStart.hidden = false;
  document.getElementById("totp-setup-title").textContent = "Set up your authenticator app";
}

function hideBackupCodes() {
  backupBox.hidden = true;
  backupList.replaceChildren();
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = null;
  backupDownload.setAttribute("href", "#backup-codes");
}

/** Shows a new set of backup codes, with a text file of them behind Download. */
function showBackupCodes(codes) {
  hideBackupCodes();
  codes.forEach((code, i) => {
    // The newlines make the list's text one code per line for the Copy button.
    if (i > 0) backupList.append("\n");
    backupList.append(el("li", {}, el("code", {}, code)));
  });
  const username = document.getElementById("account-username")?.textContent ?? "";
  const text = [
    `printwarden backup codes for ${username} on ${location.host}`,
    `Made ${new Date().toISOString()}`,
    "",
    ...codes,
    "",
    "Each code signs you in once, instead of a code from your authenticator app.",
    "Making new codes, or turning two-factor authentication off, voids these.",
    "",
  ].join("\n");
  downloadUrl = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  backupDownload.setAttribute("href", downloadUrl);
  backupBox.hidden = false;
  backupBox.scrollIntoView({ block: "nearest" });
  backupDownload.focus();
}

const QR_ELEMENTS = new Set(["svg", "rect", "path"]);
const QR_ATTRIBUTES = new Set([
  "xmlns",
  "viewBox",
  "width",
  "height",
  "shape-rendering",
  "role",
  "aria-label",
  "fill",
  "d",
]);
const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * The server's QR code (an SVG document) as a node for this page, or null if
 * it is anything but the plain drawing expected: parsed as XML, never as
 * HTML, and checked element by element and attribute by attribute.
 */
function qrNode(markup) {
  const doc = new DOMParser().parseFromString(String(markup ?? ""), "image/svg+xml");
  const root = doc.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== "svg") return null;
  for (const node of [root, ...root.querySelectorAll("*")]) {
    if (node.namespaceURI !== SVG_NS || !QR_ELEMENTS.has(node.localName)) return null;
    for (const attr of node.attributes) {
      if (!QR_ATTRIBUTES.has(attr.name)) return null;
    }
  }
  return document.importNode(root, true);
}

/** Shows the set-up form for a secret from POST …/totp/setup. */
function showTotpSetup(data) {
  const qr = qrNode(data.qr_svg);
  qrBox.replaceChildren(
    qr ?? el("p", { class: "hint" }, "The QR code cannot be shown here: type the secret key into your app instead."),
  );
  secretValue.textContent = data.secret;
  // Starting again would make another secret: one set-up at a time.
  if (totpStart) totpStart.hidden = true;
  setupForm.hidden = false;
  setupForm.scrollIntoView({ block: "nearest" });
  document.getElementById("totp-confirm-code").focus();
}

totpStart?.addEventListener("click", async () => {
  closeTotpForms();
  clearStatus(totpStatus);
  totpStart.disabled = true;
  const res = await api("POST", "/api/v1/auth/mfa/totp/setup", {});
  totpStart.disabled = false;
  if (!res.ok || typeof res.data?.secret !== "string") {
    totpFailed(res.ok ? { message: "The server did not return a secret." } : res);
    return;
  }
  showTotpSetup(res.data);
});

twoFactor?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  if (event.target.closest("[data-totp-cancel]")) {
    closeTotpForms();
    clearStatus(totpStatus);
    return;
  }
  const button = event.target.closest("button[data-totp-action]");
  const spec = CODE_ACTIONS[button?.getAttribute("data-totp-action") ?? ""];
  if (!spec) return;
  closeTotpForms();
  clearStatus(totpStatus);
  codeAction = button.getAttribute("data-totp-action");
  document.getElementById("totp-code-title").textContent = spec.title;
  document.getElementById("totp-code-text").textContent = spec.text;
  document.getElementById("totp-code-label").textContent = spec.label;
  const submit = document.getElementById("totp-code-submit");
  submit.textContent = spec.submit;
  submit.classList.toggle("btn--primary", !spec.danger);
  submit.classList.toggle("btn--danger", Boolean(spec.danger));
  // A backup code has letters; a TOTP code is digits (a numeric keypad on phones).
  codeInput.setAttribute("inputmode", spec.numeric ? "numeric" : "text");
  codeInput.setAttribute("autocomplete", spec.numeric ? "one-time-code" : "off");
  codeForm.hidden = false;
  codeForm.scrollIntoView({ block: "nearest" });
  codeInput.focus();
});

codeForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const action = codeAction;
  const spec = CODE_ACTIONS[action ?? ""];
  if (!spec) return;
  clearStatus(totpStatus);
  const code = spec.numeric
    ? readCode(codeInput, totpStatus, totpDigits, "Enter the 6 digits your authenticator app shows.")
    : readCode(codeInput, totpStatus, (v) => v.trim(), "Enter a code.");
  if (!code) return;
  const path = {
    replace: "/api/v1/auth/mfa/totp/setup",
    regenerate: "/api/v1/auth/mfa/backup-codes/regenerate",
    disable: "/api/v1/auth/mfa/totp/disable",
  }[action];
  setBusy(codeForm, true);
  const res = await api("POST", path, { code });
  setBusy(codeForm, false);
  if (!res.ok) {
    totpFailed(res);
    codeInput.select();
    codeInput.focus();
    return;
  }
  if (action === "replace") {
    if (typeof res.data?.secret !== "string") {
      totpFailed({ message: "The server did not return a secret." });
      return;
    }
    closeTotpForms();
    replacing = true;
    document.getElementById("totp-setup-title").textContent = "Set up your new authenticator app";
    showTotpSetup(res.data);
  } else if (action === "regenerate") {
    closeTotpForms();
    showBackupCodes(res.data?.backup_codes ?? []);
    showStatus(totpStatus, "success", "New backup codes made. The old ones no longer work.");
  } else {
    closeTotpForms();
    hideBackupCodes();
    setTotpState(false);
    showStatus(
      totpStatus,
      "success",
      emailCodesOn()
        ? "The authenticator app is removed and your backup codes no longer work. Signing in still asks for a code by email."
        : "Two-factor authentication is off. Your password alone now signs you in.",
    );
    totpStart?.focus();
  }
});

setupForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(totpStatus);
  const input = document.getElementById("totp-confirm-code");
  const code = readCode(input, totpStatus, totpDigits, "Enter the 6 digits your authenticator app shows.");
  if (!code) return;
  setBusy(setupForm, true);
  const res = await api("POST", "/api/v1/auth/mfa/totp/enable", { code });
  setBusy(setupForm, false);
  if (!res.ok || !Array.isArray(res.data?.backup_codes)) {
    totpFailed(res.ok ? { message: "The server did not return backup codes." } : res);
    input.select();
    input.focus();
    return;
  }
  const replaced = replacing;
  closeTotpForms();
  setTotpState(true);
  showBackupCodes(res.data.backup_codes);
  showStatus(
    totpStatus,
    "success",
    replaced
      ? "New authenticator confirmed. The old app and the old backup codes no longer work."
      : "Two-factor authentication is on. Signing in now asks for a code from your app.",
  );
});

document.getElementById("backup-codes-print")?.addEventListener("click", () => {
  // The print stylesheet shows only the backup codes while this class is set.
  document.documentElement.classList.add("print-backup-codes");
  window.print();
});

window.addEventListener("afterprint", () => {
  document.documentElement.classList.remove("print-backup-codes");
});

// ---------------------------------------------------------------------------
// Codes by email
// ---------------------------------------------------------------------------

const emailStatus = document.getElementById("email-mfa-status");
const emailStart = document.getElementById("email-mfa-start");
const emailStop = document.getElementById("email-mfa-stop");
const emailEnableForm = document.getElementById("email-mfa-enable-form");
const emailDisableForm = document.getElementById("email-mfa-disable-form");

function emailFailed(res) {
  showStatus(
    emailStatus,
    "error",
    res.status === 429 && !res.message ? tooManyText(res, "Too many attempts.") : res.message,
  );
}

function setEmailState(on) {
  twoFactor.setAttribute("data-email-mfa", on ? "on" : "off");
  document.getElementById("email-mfa-badge-on").hidden = !on;
  document.getElementById("email-mfa-badge-off").hidden = on;
  const off = document.getElementById("email-mfa-off");
  const onBox = document.getElementById("email-mfa-on");
  if (off) off.hidden = on;
  if (onBox) onBox.hidden = !on;
  showFactorState();
}

function closeEmailForms() {
  emailEnableForm.hidden = true;
  emailEnableForm.reset();
  emailDisableForm.hidden = true;
  emailDisableForm.reset();
  if (emailStart) emailStart.hidden = false;
  if (emailStop) emailStop.hidden = false;
}

/** Mails a code that turns email codes on (POST …/email/setup); true when sent. */
async function sendEnableCode(button) {
  clearStatus(emailStatus);
  button.disabled = true;
  const res = await api("POST", "/api/v1/auth/mfa/email/setup");
  button.disabled = false;
  if (!res.ok) {
    emailFailed(res);
    return false;
  }
  return true;
}

emailStart?.addEventListener("click", async () => {
  closeEmailForms();
  if (!(await sendEnableCode(emailStart))) return;
  emailStart.hidden = true;
  emailEnableForm.hidden = false;
  emailEnableForm.scrollIntoView({ block: "nearest" });
  document.getElementById("email-mfa-code").focus();
});

document.getElementById("email-mfa-resend")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  if (await sendEnableCode(button)) {
    showStatus(emailStatus, "info", "Another code is on its way. Only the newest one works.");
    document.getElementById("email-mfa-code").focus();
  }
});

emailEnableForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(emailStatus);
  const input = document.getElementById("email-mfa-code");
  const code = readCode(input, emailStatus, totpDigits, "Enter the 6 digits from the email.");
  if (!code) return;
  setBusy(emailEnableForm, true);
  const res = await api("POST", "/api/v1/auth/mfa/email/enable", { code });
  setBusy(emailEnableForm, false);
  if (!res.ok) {
    emailFailed(res);
    input.select();
    input.focus();
    return;
  }
  closeEmailForms();
  setEmailState(true);
  showStatus(
    emailStatus,
    "success",
    "Email codes are on. Signing in can now ask for a code mailed to you.",
  );
  emailStop?.focus();
});

emailStop?.addEventListener("click", () => {
  closeEmailForms();
  clearStatus(emailStatus);
  emailStop.hidden = true;
  emailDisableForm.hidden = false;
  emailDisableForm.scrollIntoView({ block: "nearest" });
  document.getElementById("email-mfa-password").focus();
});

emailDisableForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(emailStatus);
  const password = document.getElementById("email-mfa-password");
  setBusy(emailDisableForm, true);
  const res = await api("POST", "/api/v1/auth/mfa/email/disable", { password: password.value });
  setBusy(emailDisableForm, false);
  if (!res.ok) {
    emailFailed(res);
    password.select();
    password.focus();
    return;
  }
  closeEmailForms();
  setEmailState(false);
  showStatus(
    emailStatus,
    "success",
    twoFactor.getAttribute("data-totp") === "on"
      ? "Email codes are off. Signing in asks for a code from your authenticator app."
      : "Email codes are off. Your password alone now signs you in.",
  );
  emailStart?.focus();
});

document.getElementById("email-mfa")?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  if (event.target.closest("[data-email-mfa-cancel]")) {
    closeEmailForms();
    clearStatus(emailStatus);
  }
});

// ---------------------------------------------------------------------------
// Mails about one's own prints
// ---------------------------------------------------------------------------

const mailForm = document.getElementById("mail-prints-form");
const mailStatus = document.getElementById("mail-prints-status");

mailForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(mailStatus);
  const events = [...mailForm.querySelectorAll('input[name="events"]:checked')].map((i) => i.value);
  setBusy(mailForm, true);
  const res = await api("PUT", "/api/v1/auth/mail-preferences", { events });
  setBusy(mailForm, false);
  if (!res.ok) {
    showStatus(mailStatus, "error", res.message);
    return;
  }
  const saved = new Set(res.data?.events ?? []);
  for (const box of mailForm.querySelectorAll('input[name="events"]')) box.checked = saved.has(box.value);
  showStatus(
    mailStatus,
    "success",
    saved.size === 0
      ? "Saved: you get no mails about your prints."
      : `Saved: you get a mail for ${saved.size} of the 4 events.`,
  );
});

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

const sessionsStatus = document.getElementById("sessions-status");

function removeOtherSessionRows() {
  for (const row of document.querySelectorAll("#sessions-table tr[data-session-id]")) {
    if (row.getAttribute("data-current") !== "true") row.remove();
  }
}

document.getElementById("sessions-table")?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("button[data-revoke-session]");
  if (!button) return;
  const id = button.getAttribute("data-revoke-session");
  clearStatus(sessionsStatus);
  button.disabled = true;
  const res = await api("DELETE", `/api/v1/auth/sessions/${encodeURIComponent(id)}`);
  if (res.ok || res.status === 404) {
    // 404: it already ended (expired or signed out) — the row is stale either way.
    button.closest("tr")?.remove();
    showStatus(sessionsStatus, "success", "Session revoked. That browser is signed out.");
  } else {
    button.disabled = false;
    showStatus(sessionsStatus, "error", res.message);
  }
});

document.getElementById("revoke-others")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  clearStatus(sessionsStatus);
  button.disabled = true;
  const res = await api("POST", "/api/v1/auth/sessions/revoke-others");
  button.disabled = false;
  if (res.ok) {
    removeOtherSessionRows();
    showStatus(sessionsStatus, "success", "Every other session is signed out.");
  } else {
    showStatus(sessionsStatus, "error", res.message);
  }
});

// ---------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------

const keysBody = document.querySelector("#api-keys-table tbody");
const keysEmpty = document.getElementById("api-keys-empty");
const keysStatus = document.getElementById("api-keys-status");
const keyForm = document.getElementById("api-key-form");
const keyFormStatus = document.getElementById("api-key-form-status");
const newKey = document.getElementById("new-key");
const newKeyValue = document.getElementById("new-key-value");

const keysWrap = document.getElementById("api-keys-wrap");

function updateKeysEmpty() {
  const any = keysBody.querySelector("tr[data-key-id]") !== null;
  if (keysEmpty) keysEmpty.hidden = any;
  if (keysWrap) keysWrap.hidden = !any;
}

function keyRow(key) {
  return el(
    "tr",
    { "data-key-id": key.id },
    el("td", {}, key.name),
    el(
      "td",
      {},
      el("ul", { class: "tag-list", role: "list" }, key.scopes.map((s) => el("li", {}, el("code", {}, s)))),
    ),
    el("td", {}, el("code", {}, key.prefix)),
    el("td", {}, timeEl(key.created_at)),
    el("td", {}, key.expires_at ? timeEl(key.expires_at) : "Never"),
    el("td", {}, el("span", { class: "muted" }, "Never")),
    el(
      "td",
      { class: "actions" },
      el(
        "button",
        { class: "btn btn--small", type: "button", "data-revoke": `/api/v1/api-keys/${key.id}`, "data-name": key.name },
        "Revoke",
        el("span", { class: "visually-hidden" }, ` key ${key.name}`),
      ),
    ),
  );
}

/**
 * Revoke buttons in a table body: `data-revoke` names the row's API path, `data-name` the
 * label. A 404 counts as done (someone else revoked it first).
 */
function revokeButtons(body, status, updateEmpty, revokedText) {
  body?.addEventListener("click", async (event) => {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest("button[data-revoke]");
    if (!button) return;
    const name = button.getAttribute("data-name") ?? "";
    clearStatus(status);
    button.disabled = true;
    const res = await api("DELETE", button.getAttribute("data-revoke"));
    if (res.ok || res.status === 404) {
      button.closest("tr")?.remove();
      updateEmpty();
      showStatus(status, "success", revokedText(name));
    } else {
      button.disabled = false;
      showStatus(status, "error", res.message);
    }
  });
}

revokeButtons(keysBody, keysStatus, updateKeysEmpty, (name) => `Key “${name}” revoked. Programs using it are refused from now on.`);

/** The chosen expiry as RFC 3339: the start of that day in the reader's zone. */
function expiryFrom(data) {
  if (data.get("expiry") === "never") return { ok: true, value: null };
  const day = String(data.get("expires") ?? "");
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) {
    return { ok: false, message: "Choose the day the key expires, or “Never expires”." };
  }
  const when = new Date(`${day}T00:00:00`);
  if (Number.isNaN(when.getTime())) return { ok: false, message: "That expiry date is not valid." };
  if (when.getTime() <= Date.now()) {
    return { ok: false, message: "Choose an expiry day after today." };
  }
  return { ok: true, value: when.toISOString() };
}

keyForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(keyFormStatus);
  const data = new FormData(keyForm);
  const scopes = data.getAll("scopes").map(String);
  if (scopes.length === 0) {
    showStatus(keyFormStatus, "error", "Choose at least one scope.");
    return;
  }
  const expiry = expiryFrom(data);
  if (!expiry.ok) {
    showStatus(keyFormStatus, "error", expiry.message);
    return;
  }
  const body = { name: String(data.get("name") ?? "").trim(), scopes };
  if (expiry.value) body.expires_at = expiry.value;

  setBusy(keyForm, true);
  const res = await api("POST", "/api/v1/api-keys", body);
  setBusy(keyForm, false);
  if (!res.ok || typeof res.data?.key !== "string") {
    showStatus(keyFormStatus, "error", res.message || "The server did not return a key.");
    return;
  }
  newKeyValue.textContent = res.data.key;
  newKey.hidden = false;
  keysBody.append(keyRow(res.data));
  updateKeysEmpty();
  keyForm.reset(); // back to the default expiry; the date input is enabled again
  keyForm.elements.namedItem("expires").disabled = false;
  newKey.scrollIntoView({ block: "nearest" });
  newKey.querySelector("button[data-copy]")?.focus();
});

// Keep the date input usable only when "Expires on" is chosen.
keyForm?.addEventListener("change", () => {
  const never = keyForm.querySelector('input[name="expiry"][value="never"]');
  const date = keyForm.elements.namedItem("expires");
  if (date) date.disabled = Boolean(never?.checked);
});

// ---------------------------------------------------------------------------
// Camera tokens
// ---------------------------------------------------------------------------

const tokensBody = document.querySelector("#camera-tokens-table tbody");
const tokensWrap = document.getElementById("camera-tokens-wrap");
const tokensEmpty = document.getElementById("camera-tokens-empty");
const tokensStatus = document.getElementById("camera-tokens-status");
const tokenForm = document.getElementById("camera-token-form");
const tokenFormStatus = document.getElementById("camera-token-form-status");
const newToken = document.getElementById("new-camera-token");

function updateTokensEmpty() {
  const any = tokensBody?.querySelector("tr[data-camera-token-id]") != null;
  if (tokensEmpty) tokensEmpty.hidden = any;
  if (tokensWrap) tokensWrap.hidden = !any;
}

function tokenRow(token, printers) {
  return el(
    "tr",
    { "data-camera-token-id": token.id },
    el("td", {}, token.name),
    el("td", {}, printers),
    el("td", {}, el("code", {}, token.prefix)),
    el("td", {}, token.expires_at ? timeEl(token.expires_at) : ""),
    el("td", {}, el("span", { class: "muted" }, "Never")),
    el(
      "td",
      { class: "actions" },
      el(
        "button",
        { class: "btn btn--small", type: "button", "data-revoke": `/api/v1/camera-tokens/${token.id}`, "data-name": token.name },
        "Revoke",
        el("span", { class: "visually-hidden" }, ` camera token ${token.name}`),
      ),
    ),
  );
}

revokeButtons(
  tokensBody,
  tokensStatus,
  updateTokensEmpty,
  (name) => `Camera token “${name}” revoked. Streams using it are refused from now on.`,
);

tokenForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(tokenFormStatus);
  const data = new FormData(tokenForm);
  const body = { name: String(data.get("name") ?? "").trim(), days: Number(data.get("days")) };
  const chosen = [...tokenForm.querySelectorAll('input[name="printer_ids"]:checked')];
  if (chosen.length > 0) body.printer_ids = chosen.map((c) => Number(c.value));
  setBusy(tokenForm, true);
  const res = await api("POST", "/api/v1/camera-tokens", body);
  setBusy(tokenForm, false);
  if (!res.ok || typeof res.data?.token !== "string") {
    showStatus(tokenFormStatus, "error", res.message || "The server did not return a token.");
    return;
  }
  document.getElementById("new-camera-token-value").textContent = res.data.token;
  newToken.hidden = false;
  const names = chosen.map((c) => c.closest("label")?.textContent?.trim() ?? c.value);
  tokensBody.append(tokenRow(res.data, names.length > 0 ? names.join(", ") : "All"));
  updateTokensEmpty();
  tokenForm.reset();
  newToken.scrollIntoView({ block: "nearest" });
});

// ---------------------------------------------------------------------------
// Passkeys: adding one asks for the password, then the browser's prompt; the
// page reloads to show the list the server renders.
// ---------------------------------------------------------------------------

const passkeyForm = document.getElementById("passkey-form");
const passkeyRemoveForm = document.getElementById("passkey-remove-form");
const passkeysStatus = document.getElementById("passkeys-status");
let removing = null;

if (passkeyForm && !passkeysSupported()) {
  passkeyForm.hidden = true;
  document.getElementById("passkeys-unsupported").hidden = false;
}

function passkeyFailed(res) {
  showStatus(
    passkeysStatus,
    "error",
    res.status === 429 ? tooManyText(res, "Too many wrong passwords.") : res.message,
  );
}

passkeyForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(passkeysStatus);
  const data = new FormData(passkeyForm);
  setBusy(passkeyForm, true);
  const options = await api("POST", "/api/v1/auth/passkeys/register/options", {
    password: String(data.get("password") ?? ""),
  });
  if (!options.ok) {
    setBusy(passkeyForm, false);
    passkeyFailed(options);
    return;
  }
  showStatus(passkeysStatus, "info", "Follow your browser's prompt to create the passkey…");
  const credential = await passkeyCreate(options.data.publicKey);
  if (!credential) {
    setBusy(passkeyForm, false);
    showStatus(passkeysStatus, "error", "No passkey was created. Try again when you are ready.");
    return;
  }
  const res = await api("POST", "/api/v1/auth/passkeys/register", {
    name: String(data.get("name") ?? "").trim(),
    credential,
  });
  setBusy(passkeyForm, false);
  if (!res.ok) {
    passkeyFailed(res);
    return;
  }
  setFlash(`Passkey “${res.data.name}” added. You can now sign in with it.`);
  location.reload();
});

document.getElementById("passkeys-table")?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("[data-remove-passkey]");
  if (!button) return;
  removing = button.getAttribute("data-remove-passkey");
  passkeyRemoveForm.hidden = false;
  passkeyRemoveForm.querySelector("input[type=password]").focus();
});

// Inline rename: the row's button opens a small form filled with the current name.
const passkeyRenameForm = document.getElementById("passkey-rename-form");
let renaming = null;

document.getElementById("passkeys-table")?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("[data-rename-passkey]");
  if (!button || !passkeyRenameForm) return;
  renaming = button.getAttribute("data-rename-passkey");
  passkeyRenameForm.hidden = false;
  const input = passkeyRenameForm.querySelector("input[name=name]");
  input.value = button.getAttribute("data-passkey-name") ?? "";
  input.focus();
});

document.getElementById("passkey-rename-cancel")?.addEventListener("click", () => {
  renaming = null;
  passkeyRenameForm.reset();
  passkeyRenameForm.hidden = true;
});

passkeyRenameForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!renaming) return;
  clearStatus(passkeysStatus);
  const data = new FormData(passkeyRenameForm);
  setBusy(passkeyRenameForm, true);
  const res = await api("PATCH", `/api/v1/auth/passkeys/${encodeURIComponent(renaming)}`, {
    name: String(data.get("name") ?? "").trim(),
  });
  setBusy(passkeyRenameForm, false);
  if (!res.ok) {
    passkeyFailed(res);
    return;
  }
  setFlash(`Passkey renamed to “${res.data.name}”.`);
  location.reload();
});

document.getElementById("passkey-remove-cancel")?.addEventListener("click", () => {
  removing = null;
  passkeyRemoveForm.reset();
  passkeyRemoveForm.hidden = true;
});

passkeyRemoveForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!removing) return;
  clearStatus(passkeysStatus);
  const data = new FormData(passkeyRemoveForm);
  setBusy(passkeyRemoveForm, true);
  const res = await api("DELETE", `/api/v1/auth/passkeys/${encodeURIComponent(removing)}`, {
    password: String(data.get("password") ?? ""),
  });
  setBusy(passkeyRemoveForm, false);
  if (!res.ok) {
    passkeyFailed(res);
    return;
  }
  setFlash("Passkey removed.");
  location.reload();
});

// ---------------------------------------------------------------------------
// Sign-in methods: link / unlink an identity provider (password first)
// ---------------------------------------------------------------------------

const reauthForm = document.getElementById("oidc-reauth-form");
const reauthStatus = document.getElementById("oidc-reauth-status");
/** What the password confirms: { action: "link" | "unlink", id, name }. */
let pendingOidc = null;

function askPassword(action, id, name) {
  pendingOidc = { action, id, name };
  document.getElementById("oidc-reauth-what").textContent =
    action === "link"
      ? `To link ${name}, enter your password. You then sign in at ${name} and come back here.`
      : `To unlink ${name}, enter your password. You can no longer sign in with ${name} afterwards.`;
  document.getElementById("oidc-reauth-submit").textContent =
    action === "link" ? `Continue to ${name}` : `Unlink ${name}`;
  clearStatus(reauthStatus);
  reauthForm.reset();
  reauthForm.hidden = false;
  reauthForm.elements.namedItem("current_password").focus();
}

document.getElementById("sign-in-methods")?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element) || !reauthForm) return;
  const start = event.target.closest("[data-oidc-link-start]");
  if (start) {
    askPassword("link", start.getAttribute("data-oidc-link-start"), start.getAttribute("data-oidc-name"));
    return;
  }
  const unlink = event.target.closest("[data-oidc-unlink]");
  if (unlink) {
    askPassword("unlink", unlink.getAttribute("data-oidc-unlink"), unlink.getAttribute("data-oidc-name"));
    return;
  }
  if (event.target.closest("#oidc-reauth-cancel")) {
    pendingOidc = null;
    reauthForm.reset();
    reauthForm.hidden = true;
  }
});

reauthForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!pendingOidc) return;
  const { action, id, name } = pendingOidc;
  clearStatus(reauthStatus);
  const password = String(new FormData(reauthForm).get("current_password") ?? "");
  setBusy(reauthForm, true);
  const res = await api(
    "POST",
    `/api/v1/auth/oidc/${encodeURIComponent(id)}/${action}`,
    password === "" ? {} : { current_password: password },
  );
  if (res.ok && action === "link") {
    // Same check as the sign-in page's buttons: only the provider's https URL is followed.
    const to = String(res.data?.redirect ?? "");
    if (/^https:\/\//i.test(to)) {
      location.assign(to);
      return;
    }
  } else if (res.ok) {
    setFlash(`${name} is unlinked.`);
    location.reload();
    return;
  }
  setBusy(reauthForm, false);
  if (res.status === 429) {
    showStatus(reauthStatus, "error", tooManyText(res, "Too many wrong passwords."));
  } else {
    showStatus(reauthStatus, "error", res.ok ? "The provider's address is not usable." : res.message);
  }
  const input = reauthForm.elements.namedItem("current_password");
  input.value = "";
  input.focus();
});
