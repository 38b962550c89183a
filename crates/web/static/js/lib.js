// printwarden — helpers shared by the page modules (imported as "./lib.js";
// the server rewrites that specifier to the content-hashed URL).
//
// Same CSP rules as app.js: no eval, no inline handlers, no element.style.

const FLASH_KEY = "pw-flash";

/**
 * Calls the JSON API. Never throws: resolves to
 * { ok, status, data, message, retryAfter } where `message` is the server's
 * safe error text (or a network message) for a failed call and `retryAfter`
 * the seconds of a `Retry-After` header (a 429), or null.
 *
 * A 401 means the session ended (revoked, expired, signed out elsewhere):
 * unless `allow401` is set (the sign-in forms), the browser goes to the
 * sign-in page and comes back here afterwards.
 */
export async function api(method, path, body, { allow401 = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return {
      ok: false,
      status: 0,
      data: null,
      message: "The server could not be reached. Check the connection and try again.",
      retryAfter: null,
    };
  }
  let data = null;
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.status === 401 && !allow401) {
    toLogin();
  }
  const message = res.ok
    ? ""
    : (data?.error?.message ?? `The server answered with status ${res.status}.`);
  const retry = Number.parseInt(res.headers.get("Retry-After") ?? "", 10);
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  return { ok: res.ok, status: res.status, data, message, retryAfter };
}

/**
 * The text for a refused-as-too-many answer (429): `what` and how long to
 * wait, from its Retry-After ("Too many wrong codes. Try again in 4 minutes.").
 */
export function tooManyText(res, what = "Too many attempts.") {
  const seconds = res.retryAfter;
  if (!seconds) return `${what} Wait a few minutes and try again.`;
  if (seconds < 60) {
    return `${what} Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`;
  }
  const minutes = Math.ceil(seconds / 60);
  return `${what} Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`;
}

/** Sends the browser to the sign-in page, returning here afterwards. */
export function toLogin() {
  const next = `${location.pathname}${location.search}`;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

const STATUS_KINDS = ["banner--error", "banner--success", "banner--info", "banner--warning"];

/**
 * Shows a message in a `.banner` status element.
 * kind: "error" | "success" | "info" | "warning".
 */
export function showStatus(el, kind, text) {
  if (!el) return;
  el.classList.add("banner");
  el.classList.remove(...STATUS_KINDS);
  el.classList.add(`banner--${kind}`);
  el.textContent = text;
  el.hidden = false;
}

// The code typed into `input`, normalised by `read` (which returns "" when it is not a code);
// on "" the field is marked invalid, `message` shown in `status` and the field focused.
export function readCode(input, status, read, message) {
  const code = read(input.value);
  if (!code) {
    input.setAttribute("aria-invalid", "true");
    showStatus(status, "error", message);
    input.focus();
    return "";
  }
  input.removeAttribute("aria-invalid");
  return code;
}

export function clearStatus(el) {
  if (!el) return;
  el.hidden = true;
  el.textContent = "";
}

/** Disables a form's submit buttons while a request runs (no double submits). */
export function setBusy(form, busy) {
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const button of form.querySelectorAll("button[type=submit], button:not([type])")) {
    button.disabled = busy;
  }
}

/** A message to show on the next page this tab loads (after a reload or redirect). */
export function setFlash(text, kind = "success") {
  try {
    sessionStorage.setItem(FLASH_KEY, JSON.stringify({ text, kind }));
  } catch {
    // Storage off: the message is lost, the action still happened.
  }
}

function showFlash() {
  let flash = null;
  try {
    flash = JSON.parse(sessionStorage.getItem(FLASH_KEY) ?? "null");
    sessionStorage.removeItem(FLASH_KEY);
  } catch {
    flash = null;
  }
  const el = document.getElementById("flash");
  if (flash && el && typeof flash.text === "string") {
    showStatus(el, flash.kind === "error" ? "error" : "success", flash.text);
  }
}

/**
 * Builds an element: el("td", { class: "num" }, "3"). Attribute values are
 * set with setAttribute and children as text nodes, so nothing is parsed as
 * HTML.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Fills every [data-fill="name"] inside root with the text of values[name]. */
export function fill(root, values) {
  for (const node of root.querySelectorAll("[data-fill]")) {
    const key = node.getAttribute("data-fill");
    if (key in values) node.textContent = values[key];
  }
}

const FOCUSABLE = 'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])';

/** The controls of `root` that Tab can reach, in document order. */
function tabbable(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter(
    (n) =>
      !n.disabled &&
      !n.closest("[hidden], [inert]") &&
      n.getClientRects().length > 0 &&
      n.tabIndex >= 0 &&
      // A radio group is one Tab stop: its checked button (or its first, when none is).
      (n.type !== "radio" || n.checked || !root.querySelector(`input[type="radio"][name="${CSS.escape(n.name)}"]:checked`)),
  );
}

/**
 * Native <dialog>: buttons marked [data-close-dialog] close their dialog; Tab and Shift+Tab
 * wrap around inside an open modal dialog (the page behind it is inert, but the browser would
 * otherwise move the focus out to its own toolbar and lose the keyboard user's place). The
 * browser gives the focus back to the opener when the dialog closes.
 */
function wireDialogs() {
  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest("[data-close-dialog]");
    const dialog = button?.closest("dialog");
    if (dialog) dialog.close();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || event.altKey || event.ctrlKey || event.metaKey) return;
    const open = [...document.querySelectorAll("dialog[open]")].filter((d) => d.matches(":modal"));
    const dialog = open[open.length - 1];
    if (!dialog) return;
    const items = tabbable(dialog);
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  });
}

/** Comma-separated positive integers → numbers; null if any part is not one. */
export function parseIds(text) {
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const ids = [];
  for (const part of parts) {
    if (!/^\d{1,15}$/.test(part)) return null;
    const n = Number(part);
    if (n < 1) return null;
    ids.push(n);
  }
  return ids;
}

/** A `<time data-relative>` for an RFC 3339 instant (app.js renders it). */
export function timeEl(iso) {
  return el("time", { datetime: iso, "data-relative": true }, iso);
}

let confirmParts = null;

/**
 * The one confirmation dialog of the app (instead of the browser's `confirm()`, which cannot
 * be styled, names no button and blocks the page). Resolves to true only when the person
 * presses the confirm button; Escape, Cancel or closing the dialog resolve to false.
 *
 *   if (!(await confirmAction({ title: "Stop the job?", message: "…", confirm: "Stop" }))) return;
 */
export function confirmAction({ title, message, confirm = "Confirm", danger = true }) {
  if (!confirmParts) {
    const heading = el("h2", { id: "confirm-action-title" });
    const text = el("p", { id: "confirm-action-message" });
    const ok = el("button", { class: "btn", type: "button", "data-confirm-ok": true });
    const cancel = el("button", { class: "btn", type: "button", "data-confirm-cancel": true }, "Cancel");
    const dialog = el(
      "dialog",
      { id: "confirm-action-dialog", "aria-labelledby": "confirm-action-title", "aria-describedby": "confirm-action-message" },
      el("div", { class: "stack" }, heading, text, el("div", { class: "dialog__actions" }, cancel, ok)),
    );
    document.body.append(dialog);
    confirmParts = { dialog, heading, text, ok, cancel, settle: null };
    ok.addEventListener("click", () => {
      confirmParts.settle?.(true);
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => confirmParts.settle?.(false));
  }
  const parts = confirmParts;
  parts.settle?.(false);
  parts.heading.textContent = title;
  parts.text.textContent = message;
  parts.ok.textContent = confirm;
  parts.ok.className = danger ? "btn btn--danger" : "btn btn--primary";
  return new Promise((resolve) => {
    parts.settle = (answer) => {
      parts.settle = null;
      resolve(answer);
    };
    parts.dialog.showModal();
    // The safe choice has the focus: Enter on a stray key press cancels.
    parts.cancel.focus();
  });
}

showFlash();
wireDialogs();

// ---------------------------------------------------------------------------
// Passkeys (WebAuthn): the server speaks base64url, the browser ArrayBuffers.
// ---------------------------------------------------------------------------

/** Whether this browser can use passkeys at all. */
export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  return bytes.buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromB64url(c.id) }));

/**
 * Runs navigator.credentials.create with the server's `publicKey` options;
 * resolves to the credential as the API takes it, or null when the person
 * cancelled (or the browser refused).
 */
export async function passkeyCreate(options) {
  const publicKey = {
    ...options,
    challenge: fromB64url(options.challenge),
    user: { ...options.user, id: fromB64url(options.user.id) },
    excludeCredentials: withIds(options.excludeCredentials),
  };
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey });
  } catch {
    return null;
  }
  if (!cred) return null;
  return {
    id: cred.id,
    response: {
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      attestationObject: toB64url(cred.response.attestationObject),
    },
  };
}

/** Runs navigator.credentials.get with the server's options; null when cancelled. */
export async function passkeyGet(options) {
  const publicKey = {
    ...options,
    challenge: fromB64url(options.challenge),
    allowCredentials: withIds(options.allowCredentials),
  };
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey });
  } catch {
    return null;
  }
  if (!cred) return null;
  const response = {
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    authenticatorData: toB64url(cred.response.authenticatorData),
    signature: toB64url(cred.response.signature),
  };
  if (cred.response.userHandle) response.userHandle = toB64url(cred.response.userHandle);
  return { id: cred.id, response };
}
