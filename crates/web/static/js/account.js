// printwarden — /account: change password, revoke sessions, create and
// revoke API keys. A new key is shown once, from the API's answer only: it is
// never written into the page's HTML, so a reload cannot show it again.

import { api, clearStatus, el, setBusy, showStatus, timeEl } from "./lib.js";

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
