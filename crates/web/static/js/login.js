// printwarden — /login: signs in through the JSON API, then goes to the
// (server-checked, same-site) return path.
//
// When the account has a second factor, the password's answer is
// { mfa_required, methods } with a short-lived challenge cookie: the password
// form gives way to the code step, which posts to /api/v1/auth/mfa/verify.
// An emailed code is mailed only when asked for ("Send code", which posts to
// /api/v1/auth/mfa/email/send), so opening the step spends none of the three
// sends per ten minutes. After a sign-in at an identity provider, the server
// sends the browser to /login?step=mfa: the page opens on the code step.

import { api, clearStatus, passkeyGet, passkeysSupported, readCode, setBusy, showStatus, tooManyText } from "./lib.js";

const form = document.getElementById("login-form");
const status = document.getElementById("login-status");
const mfaForm = document.getElementById("mfa-form");
const mfaStatus = document.getElementById("mfa-status");

/** Six digits as typed ("123 456") → "123456"; "" if it is not six digits. */
function sixDigits(value) {
  const digits = value.replace(/\s+/g, "");
  return /^\d{6}$/.test(digits) ? digits : "";
}

/**
 * The second-factor methods this page can take, in the order offered. Each
 * has a [data-mfa-panel] with its input and a [data-mfa-use] button in the
 * template. `code` turns what was typed into what is sent ("" = not valid);
 * `focus` names what gets the focus when the method is chosen (default: its
 * input).
 */
const METHODS = {
  totp: {
    code: sixDigits,
    invalid: "Enter the 6 digits your authenticator app shows.",
  },
  email: {
    code: sixDigits,
    invalid: "Enter the 6 digits from the email. No email yet? Choose “Send code” first.",
    focus: "[data-mfa-send]",
  },
  backup: {
    code: (value) => value.trim(),
    invalid: "Enter one of your backup codes.",
  },
  // No typed code: its button runs the passkey step (Verify does the same).
  passkey: {
    focus: "#mfa-passkey-button",
  },
};

/** The methods the server offered for this sign-in, and the one in use. */
let offered = [];
let current = null;

/** Goes where the sign-in page was asked to return to. */
function proceed() {
  // The server sanitised `next`; check again so a tampered attribute
  // cannot send anyone off-site.
  const next = form.getAttribute("data-next") ?? "/";
  const safe = next.startsWith("/") && !next.startsWith("//") && !next.includes("\\");
  location.assign(safe ? next : "/");
}

function panel(method) {
  return mfaForm.querySelector(`[data-mfa-panel="${method}"]`);
}

/** Shows one method's input; the others are hidden and disabled (not validated). */
function useMethod(method) {
  current = method;
  for (const name of Object.keys(METHODS)) {
    const box = panel(name);
    if (!box) continue;
    const active = name === method;
    box.hidden = !active;
    const input = box.querySelector("input");
    if (!input) continue;
    input.disabled = !active;
    input.removeAttribute("aria-invalid");
    if (!active) input.value = "";
  }
  for (const button of mfaForm.querySelectorAll("[data-mfa-use]")) {
    const name = button.getAttribute("data-mfa-use");
    button.hidden = name === method || !offered.includes(name);
  }
  clearStatus(mfaStatus);
  const box = panel(method);
  (box.querySelector(METHODS[method].focus ?? "input") ?? box.querySelector("input"))?.focus();
}

/** Replaces the password form with the code step for `methods` (from the server). */
function startCodeStep(methods) {
  offered = Object.keys(METHODS).filter((m) => methods.includes(m) && panel(m));
  if (offered.length === 0) {
    showStatus(
      status,
      "error",
      "This account needs a second factor that this page cannot take. Ask an administrator.",
    );
    return;
  }
  form.hidden = true;
  mfaForm.hidden = false;
  useMethod(offered[0]);
}

/** Back to the password form (the challenge is gone or the user starts over). */
function backToPassword(message) {
  mfaForm.hidden = true;
  mfaForm.reset();
  for (const input of mfaForm.querySelectorAll("[data-mfa-panel] input")) input.disabled = true;
  current = null;
  offered = [];
  resetSendButton();
  form.hidden = false;
  const password = form.elements.namedItem("password");
  password.value = "";
  if (message) showStatus(status, "error", message);
  else clearStatus(status);
  password.focus();
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(status);
  const data = new FormData(form);
  setBusy(form, true);
  const res = await api(
    "POST",
    "/api/v1/auth/login",
    {
      username: String(data.get("username") ?? "").trim(),
      password: String(data.get("password") ?? ""),
    },
    { allow401: true },
  );
  if (res.ok && !res.data?.mfa_required) {
    proceed();
    return;
  }
  setBusy(form, false);
  const password = form.elements.namedItem("password");
  if (res.ok) {
    startCodeStep(Array.isArray(res.data.methods) ? res.data.methods : []);
  } else if (res.status === 401) {
    // One message for every failure: never say whether the user exists.
    showStatus(status, "error", "Wrong username or password.");
    password.value = "";
    password.focus();
  } else if (res.status === 429) {
    showStatus(status, "error", tooManyText(res, "Too many failed sign-ins."));
  } else {
    showStatus(status, "error", res.message);
  }
});

mfaForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!current) return;
  if (current === "passkey") {
    passkeySecondStep();
    return;
  }
  clearStatus(mfaStatus);
  const input = panel(current).querySelector("input");
  const code = readCode(input, mfaStatus, METHODS[current].code, METHODS[current].invalid);
  if (!code) return;
  setBusy(mfaForm, true);
  const res = await api(
    "POST",
    "/api/v1/auth/mfa/verify",
    { method: current, code },
    { allow401: true },
  );
  if (res.ok) {
    proceed();
    return;
  }
  setBusy(mfaForm, false);
  if (res.status === 401 && /sign in again/i.test(res.message)) {
    // The challenge expired (5 minutes) or belongs to another browser.
    backToPassword(res.message);
    return;
  }
  if (res.status === 429) {
    showStatus(mfaStatus, "error", tooManyText(res, "Too many wrong codes."));
  } else {
    showStatus(mfaStatus, "error", res.message);
  }
  input.select();
  input.focus();
});

const sendButton = document.getElementById("mfa-email-send");

function resetSendButton() {
  if (!sendButton) return;
  sendButton.disabled = false;
  sendButton.textContent = "Send code";
}

/** Asks the server to mail a sign-in code for this challenge. */
async function sendEmailCode() {
  clearStatus(mfaStatus);
  sendButton.disabled = true;
  const res = await api("POST", "/api/v1/auth/mfa/email/send", undefined, { allow401: true });
  sendButton.disabled = false;
  if (res.ok) {
    sendButton.textContent = "Send another code";
    showStatus(
      mfaStatus,
      "info",
      "A code is on its way to the email address of your account. Enter it below.",
    );
    const input = panel("email").querySelector("input");
    input.value = "";
    input.focus();
    return;
  }
  if (res.status === 401 && /sign in again/i.test(res.message)) {
    backToPassword(res.message);
  } else if (res.status === 429) {
    showStatus(mfaStatus, "error", res.message || tooManyText(res, "Too many codes were sent."));
  } else {
    showStatus(mfaStatus, "error", res.message);
  }
}

mfaForm?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  if (event.target.closest("[data-mfa-send]")) {
    sendEmailCode();
    return;
  }
  const use = event.target.closest("[data-mfa-use]");
  if (use) {
    useMethod(use.getAttribute("data-mfa-use"));
    return;
  }
  if (event.target.closest("#mfa-passkey-button")) {
    passkeySecondStep();
    return;
  }
  if (event.target.closest("#mfa-restart")) backToPassword("");
});

// ---------------------------------------------------------------------------
// Passkeys: a passwordless sign-in, or the second step after the password.
// ---------------------------------------------------------------------------

const passkeyBox = document.getElementById("passkey-login");
const passkeyButton = document.getElementById("passkey-login-button");
const passkeyStatus = document.getElementById("passkey-login-status");

if (passkeyBox && passkeysSupported()) passkeyBox.hidden = false;

/** Options from `optionsPath`, the browser's passkey prompt, then `finishPath`. */
async function passkeyCeremony(optionsPath, finishPath, statusEl) {
  const options = await api("POST", optionsPath, undefined, { allow401: true });
  if (!options.ok) return options;
  const credential = await passkeyGet(options.data.publicKey);
  if (!credential) {
    return { ok: false, status: 0, message: "No passkey was used. Try again, or use your password." };
  }
  showStatus(statusEl, "info", "Checking the passkey…");
  return api("POST", finishPath, credential, { allow401: true });
}

passkeyButton?.addEventListener("click", async () => {
  clearStatus(passkeyStatus);
  passkeyButton.disabled = true;
  const res = await passkeyCeremony(
    "/api/v1/auth/passkeys/login/options",
    "/api/v1/auth/passkeys/login",
    passkeyStatus,
  );
  passkeyButton.disabled = false;
  if (res.ok) {
    proceed();
    return;
  }
  if (res.status === 429) {
    showStatus(passkeyStatus, "error", tooManyText(res, "Too many failed sign-ins."));
  } else {
    showStatus(passkeyStatus, "error", res.message);
  }
});

async function passkeySecondStep() {
  clearStatus(mfaStatus);
  setBusy(mfaForm, true);
  const res = await passkeyCeremony(
    "/api/v1/auth/mfa/passkey/options",
    "/api/v1/auth/mfa/passkey/verify",
    mfaStatus,
  );
  setBusy(mfaForm, false);
  if (res.ok) {
    proceed();
    return;
  }
  if (res.status === 401 && /sign in again/i.test(res.message)) {
    backToPassword(res.message);
  } else if (res.status === 429) {
    showStatus(mfaStatus, "error", tooManyText(res, "Too many failed attempts."));
  } else {
    showStatus(mfaStatus, "error", res.message);
  }
}

// Back from an identity provider whose account has a second factor: the server sent the
// browser to /login?step=mfa with a challenge cookie and put the challenge's methods on the
// form (the cookie itself is HttpOnly). It is also SameSite=Strict, so the first load, still
// part of the provider's cross-site redirect chain, comes without it ("unknown"): reload once
// from this page, which is same-site. "gone": the challenge expired or belongs elsewhere.
const mfaStep = form?.getAttribute("data-mfa-step");
const here = new URL(location.href);
if (mfaStep === "unknown" && !here.searchParams.has("again")) {
  here.searchParams.set("again", "1");
  location.replace(here.pathname + here.search);
} else if (mfaStep === "gone" || mfaStep === "unknown") {
  showStatus(status, "error", "That sign-in took too long or was started elsewhere. Sign in again.");
} else if (mfaStep) {
  startCodeStep(mfaStep.split(" "));
  const lead = mfaForm?.querySelector(".muted");
  if (lead) lead.textContent = "Your identity provider said who you are. One more step proves it is you.";
}
