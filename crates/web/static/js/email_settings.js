// printwarden — /settings/email: the mail server settings, the test email,
// the Advanced Auth via Email switch and the mail templates, through the JSON
// API. Saving the mail server reloads the page so it shows the server's
// truth; the rest updates in place.
//
// The SMTP password is write-only: an empty field keeps the stored one (the
// field is left out of the request), "Remove the stored password" sends "".
// While one is stored, changing where mail or its links go needs it typed
// again (the server refuses otherwise; the page says so before sending).
// A template's HTML preview goes into a sandboxed <iframe> as srcdoc, never
// into this page's DOM as markup.

import { api, clearStatus, el, fill, setBusy, setFlash, showStatus } from "./lib.js";

// File pickers fill their textarea, so a PEM can be pasted or loaded.
for (const picker of document.querySelectorAll("input[type=file][data-fills]")) {
  picker.addEventListener("change", async () => {
    const target = document.getElementById(picker.getAttribute("data-fills") ?? "");
    const file = picker.files?.[0];
    if (target && file) target.value = await file.text();
  });
}

// ---------------------------------------------------------------------------
// Mail server
// ---------------------------------------------------------------------------

const smtpForm = document.getElementById("smtp-form");
const smtpStatus = document.getElementById("smtp-status");
const securitySelect = document.getElementById("smtp-security");
const plaintextBox = document.getElementById("smtp-plaintext");
const portInput = document.getElementById("smtp-port");
const passwordInput = document.getElementById("smtp-password");
const passwordClear = document.getElementById("smtp-password-clear");
const externalUrl = document.getElementById("smtp-external-url");
const transportDialog = document.getElementById("transport-dialog");

/** What the server has saved now (kept current by the switch below). */
const saved = {
  advancedAuth: smtpForm?.getAttribute("data-advanced-auth") === "true",
  tested: document.getElementById("advanced-auth-card")?.getAttribute("data-tested") === "true",
};

/** The usual port of each kind of connection. */
const USUAL_PORTS = { starttls: 587, tls: 465, none: 25 };

function showPlaintext() {
  const plain = securitySelect.value === "none";
  plaintextBox.hidden = !plain;
}

securitySelect?.addEventListener("change", () => {
  showPlaintext();
  // Follow the connection's usual port unless someone chose another one.
  const port = Number(portInput.value);
  if (!portInput.value || Object.values(USUAL_PORTS).includes(port)) {
    portInput.value = String(USUAL_PORTS[securitySelect.value] ?? port);
  }
});

passwordClear?.addEventListener("change", () => {
  passwordInput.disabled = passwordClear.checked;
  if (passwordClear.checked) passwordInput.value = "";
});

// A first set-up: the address this page was opened at is the likeliest one.
if (externalUrl && externalUrl.value === "") externalUrl.value = location.origin;

/** The fields whose change makes the server forget that mail was tested, and
 * that need the stored password typed again: where the password, the mails
 * and the links in them go. */
const TRANSPORT_FIELDS = [
  "host",
  "port",
  "security",
  "allow_plaintext",
  "username",
  "from_address",
  "ca_cert_pem",
  "external_url",
];
const passwordStored = smtpForm?.getAttribute("data-password-set") === "true";

function changed(control) {
  if (!control) return false;
  if (control instanceof HTMLSelectElement) {
    return [...control.options].some((o) => o.selected !== o.defaultSelected);
  }
  if (control.type === "checkbox") return control.checked !== control.defaultChecked;
  return control.value.trim() !== control.defaultValue.trim();
}

/** Whether the form changes where mail or its links go. */
function destinationChanged() {
  return TRANSPORT_FIELDS.some((name) => changed(smtpForm.elements.namedItem(name)));
}

/** Whether the form would change how mail is sent (and so clear the test). */
function transportChanged() {
  return destinationChanged() || passwordInput.value !== "" || Boolean(passwordClear?.checked);
}

/** Whether anything in the form differs from what is saved. */
function formDirty() {
  return [...smtpForm.elements].some(
    (c) => c.name && c.type !== "file" && c.type !== "submit" && changed(c),
  );
}

function smtpBody(advancedAuth) {
  const data = new FormData(smtpForm);
  const text = (name) => String(data.get(name) ?? "").trim();
  const security = String(data.get("security") ?? "starttls");
  const body = {
    host: text("host"),
    port: Number(data.get("port")),
    security,
    allow_plaintext: security === "none" && data.get("allow_plaintext") === "on",
    username: text("username") || null,
    from_name: text("from_name"),
    from_address: text("from_address"),
    external_url: text("external_url"),
    ca_cert_pem: text("ca_cert_pem") || null,
    advanced_auth: advancedAuth,
  };
  if (passwordClear?.checked) body.password = "";
  else if (passwordInput.value !== "") body.password = passwordInput.value;
  return body;
}

async function saveSmtp(advancedAuth) {
  clearStatus(smtpStatus);
  setBusy(smtpForm, true);
  const body = smtpBody(advancedAuth);
  const res = await api("PUT", "/api/v1/settings/email", body);
  if (res.ok) {
    const parts = ["Mail settings saved."];
    if (saved.advancedAuth && !res.data?.advanced_auth) {
      parts.push("Advanced Auth via Email is off until a test email goes through and you turn it on again.");
    } else if (!res.data?.tested) {
      parts.push("Send a test email to check them.");
    }
    setFlash(parts.join(" "));
    location.reload();
    return;
  }
  setBusy(smtpForm, false);
  showStatus(smtpStatus, "error", res.message);
}

smtpForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  if (securitySelect.value === "none" && !document.getElementById("smtp-allow-plaintext").checked) {
    showStatus(
      smtpStatus,
      "error",
      "Plaintext needs your explicit consent: tick “I understand: send mail without encryption”, or choose STARTTLS or TLS.",
    );
    document.getElementById("smtp-allow-plaintext").focus();
    return;
  }
  passwordInput.removeAttribute("aria-invalid");
  if (passwordStored && destinationChanged() && passwordInput.value === "" && !passwordClear?.checked) {
    // The server refuses this too; saying it here keeps the other fields as typed.
    showStatus(
      smtpStatus,
      "error",
      "A password for the mail server is stored. Changing the server, port, security, username, sender address, CA certificate or this server's address needs it again: type the password (or remove it). The stored password is never sent to a changed server.",
    );
    passwordInput.setAttribute("aria-invalid", "true");
    passwordInput.focus();
    return;
  }
  if (saved.advancedAuth && transportChanged()) {
    // Saving would clear the test, and the server refuses Advanced Auth without one.
    transportDialog.showModal();
    return;
  }
  saveSmtp(saved.advancedAuth);
});

document.getElementById("transport-dialog-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  transportDialog.close();
  saveSmtp(false);
});

// ---------------------------------------------------------------------------
// Test email
// ---------------------------------------------------------------------------

const testForm = document.getElementById("email-test-form");
const testStatus = document.getElementById("email-test-status");
const testButton = document.getElementById("email-test-send");

/** A status banner with a lead sentence and the mail server's answer, verbatim. */
function showAnswer(kind, lead, answer, note) {
  showStatus(testStatus, kind, "");
  testStatus.replaceChildren(
    el(
      "div",
      { class: "stack stack--s" },
      el("p", {}, lead),
      el("p", {}, el("code", { id: "email-test-answer", class: "mail-answer" }, answer)),
      note ? el("p", { class: "hint" }, note) : null,
    ),
  );
}

testForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(testStatus);
  if (testButton.getAttribute("aria-disabled") === "true") {
    showStatus(testStatus, "error", "Save the mail server settings first: the test uses the saved settings.");
    return;
  }
  const to = String(new FormData(testForm).get("to") ?? "").trim();
  const note = formDirty()
    ? "The test used the saved settings, not your unsaved changes above."
    : "";
  setBusy(testForm, true);
  testButton.textContent = "Sending…";
  const res = await api("POST", "/api/v1/settings/email/test", { to });
  setBusy(testForm, false);
  testButton.textContent = "Send test email";
  if (!res.ok) {
    showStatus(testStatus, "error", res.message);
    return;
  }
  const ok = res.data?.ok === true;
  const message = String(res.data?.message ?? "");
  if (ok) {
    showAnswer("success", `Sent to ${to}. The mail server answered:`, message, note);
  } else {
    showAnswer("error", "The test email was not sent:", message, note);
  }
  // The server records the outcome: a failure also turns Advanced Auth off.
  saved.tested = ok;
  if (!ok) saved.advancedAuth = false;
  showAdvancedAuth();
});

// ---------------------------------------------------------------------------
// Advanced Auth via Email
// ---------------------------------------------------------------------------

const advancedSwitch = document.getElementById("advanced-auth");
const advancedStatus = document.getElementById("advanced-auth-status");
const advancedHint = document.getElementById("advanced-auth-hint");

function showAdvancedAuth() {
  if (!advancedSwitch) return;
  advancedSwitch.checked = saved.advancedAuth;
  // Turning it off is always possible; on needs a successful test.
  advancedSwitch.disabled = !saved.tested && !saved.advancedAuth;
  document.getElementById("advanced-auth-on").hidden = !saved.advancedAuth;
  document.getElementById("advanced-auth-off").hidden = saved.advancedAuth;
  document.getElementById("advanced-auth-card").setAttribute("data-tested", String(saved.tested));
  advancedHint.textContent = saved.tested
    ? "A test email went through with the saved settings."
    : "Send a test email that goes through first: it can only be turned on while mail works with the saved settings. Changing the server, port, security, username, password, sender address or CA asks for a new test.";
}

advancedSwitch?.addEventListener("change", async () => {
  const wanted = advancedSwitch.checked;
  clearStatus(advancedStatus);
  advancedSwitch.disabled = true;
  // Start from what is saved, not from unsaved edits in the form above.
  const current = await api("GET", "/api/v1/settings/email");
  let res = current;
  if (current.ok) {
    const body = { ...current.data, advanced_auth: wanted };
    delete body.password_set;
    delete body.tested;
    res = await api("PUT", "/api/v1/settings/email", body);
  }
  if (res.ok) {
    saved.advancedAuth = Boolean(res.data?.advanced_auth);
    saved.tested = Boolean(res.data?.tested);
    showAdvancedAuth();
    showStatus(
      advancedStatus,
      "success",
      saved.advancedAuth
        ? "Advanced Auth via Email is on: new users without a password get a set-password link, and “Forgot password?” is offered on the sign-in page."
        : "Advanced Auth via Email is off: no password links are mailed.",
    );
    return;
  }
  showAdvancedAuth();
  showStatus(advancedStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

const templateSelect = document.getElementById("template-select");
const preview = document.getElementById("template-preview");
const previewFrame = document.getElementById("template-preview-html");
const resetDialog = document.getElementById("template-reset-dialog");
/** The template the reset dialog is about. */
let resetting = null;

function templateForm(name) {
  return document.querySelector(`form[data-template="${CSS.escape(name)}"]`);
}

function templateFields(form) {
  const data = new FormData(form);
  return {
    subject: String(data.get("subject") ?? ""),
    text: String(data.get("text") ?? ""),
    html: String(data.get("html") ?? ""),
  };
}

function hidePreview() {
  preview.hidden = true;
  previewFrame.removeAttribute("srcdoc");
}

function markCustomised(form, customised) {
  form.querySelector("[data-template-customised]").hidden = !customised;
  form.querySelector("[data-template-builtin]").hidden = customised;
  form.querySelector("[data-template-reset]").hidden = !customised;
}

templateSelect?.addEventListener("change", () => {
  for (const form of document.querySelectorAll("form[data-template]")) {
    form.hidden = form.getAttribute("data-template") !== templateSelect.value;
  }
  hidePreview();
});

async function previewTemplate(form) {
  const status = form.querySelector("[data-template-status]");
  clearStatus(status);
  const name = form.getAttribute("data-template");
  const res = await api(
    "POST",
    `/api/v1/settings/email/templates/${encodeURIComponent(name)}/preview`,
    templateFields(form),
  );
  if (!res.ok) {
    hidePreview();
    showStatus(status, "error", res.message);
    return;
  }
  document.getElementById("template-preview-subject").textContent = res.data?.subject ?? "";
  document.getElementById("template-preview-text").textContent = res.data?.text ?? "";
  // A document of its own in a sandbox without scripts or same-origin access.
  previewFrame.srcdoc = String(res.data?.html ?? "");
  preview.hidden = false;
  preview.scrollIntoView({ block: "nearest" });
}

async function saveTemplate(form) {
  const status = form.querySelector("[data-template-status]");
  clearStatus(status);
  const name = form.getAttribute("data-template");
  setBusy(form, true);
  const res = await api(
    "PUT",
    `/api/v1/settings/email/templates/${encodeURIComponent(name)}`,
    templateFields(form),
  );
  setBusy(form, false);
  if (!res.ok) {
    showStatus(status, "error", res.message);
    return;
  }
  markCustomised(form, true);
  showStatus(status, "success", "Template saved. Mails from now on use it.");
}

function openReset(form) {
  resetting = form;
  const label = templateSelect.selectedOptions[0]?.textContent?.trim() ?? "";
  fill(resetDialog, { label });
  resetDialog.showModal();
  resetDialog.querySelector("[data-close-dialog]")?.focus();
}

document.getElementById("template-reset-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = resetting;
  resetDialog.close();
  if (!form) return;
  const status = form.querySelector("[data-template-status]");
  clearStatus(status);
  const name = form.getAttribute("data-template");
  const res = await api("DELETE", `/api/v1/settings/email/templates/${encodeURIComponent(name)}`);
  if (!res.ok) {
    showStatus(status, "error", res.message);
    return;
  }
  // Show the built-in text the server uses again.
  const list = await api("GET", "/api/v1/settings/email/templates");
  const builtIn = list.ok ? list.data?.find?.((t) => t.name === name) : null;
  if (builtIn) {
    form.elements.namedItem("subject").value = builtIn.subject;
    form.elements.namedItem("text").value = builtIn.text;
    form.elements.namedItem("html").value = builtIn.html;
  }
  markCustomised(form, false);
  hidePreview();
  showStatus(status, "success", "Back to the built-in text.");
});

document.getElementById("templates")?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const form = event.target.closest("form[data-template]");
  if (!form) return;
  if (event.target.closest("[data-template-preview]")) previewTemplate(form);
  if (event.target.closest("[data-template-reset]")) openReset(form);
});

for (const form of document.querySelectorAll("form[data-template]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveTemplate(form);
  });
}
