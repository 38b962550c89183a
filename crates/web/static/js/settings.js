// printwarden — /settings: the sealing key card, the HTTPS certificate (upload, back to
// generated), the outbound allow-list, sign-in with LDAP (and its Test) and the password/API
// key limits, through the JSON
// API. After a change the page reloads so it shows the server's truth.

import { api, clearStatus, setBusy, setFlash, showStatus } from "./lib.js";

// File pickers fill their textarea, so a PEM can be pasted or loaded.
for (const picker of document.querySelectorAll("input[type=file][data-fills]")) {
  picker.addEventListener("change", async () => {
    const target = document.getElementById(picker.getAttribute("data-fills") ?? "");
    const file = picker.files?.[0];
    if (target && file) target.value = await file.text();
  });
}

async function submit(form, status, method, path, body, done) {
  clearStatus(status);
  setBusy(form, true);
  const res = await api(method, path, body);
  if (res.ok) {
    setFlash(done(res.data));
    location.reload();
    return;
  }
  setBusy(form, false);
  showStatus(status, "error", res.message);
}

// The sealing key card: "I have a copy of the key", and a quiet re-check every 30 s that
// reloads the page when the state changed (a restart with another key, a repaired value).
const keysCard = document.getElementById("keys");
const confirmButton = document.getElementById("keys-confirm");
confirmButton?.addEventListener("click", async () => {
  const status = document.getElementById("keys-confirm-status");
  clearStatus(status);
  confirmButton.disabled = true;
  const res = await api("POST", "/api/v1/system/keys/backup-confirmed");
  if (res.ok) {
    setFlash("Recorded: you hold a copy of the sealing key.");
    location.reload();
    return;
  }
  confirmButton.disabled = false;
  showStatus(status, "error", res.message);
});
if (keysCard) {
  setInterval(async () => {
    const res = await api("GET", "/api/v1/system/keys");
    if (res.ok && res.data?.state && res.data.state !== keysCard.dataset.state) location.reload();
  }, 30000);
}

const uploadForm = document.getElementById("tls-upload-form");
uploadForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(uploadForm);
  submit(
    uploadForm,
    document.getElementById("tls-upload-status"),
    "POST",
    "/api/v1/settings/tls/certificate",
    {
      certificate_pem: String(data.get("certificate_pem") ?? ""),
      key_pem: String(data.get("key_pem") ?? ""),
    },
    (s) => `Now serving the uploaded certificate for ${s?.sans?.join(", ") ?? "this server"}.`,
  );
});

const removeButton = document.getElementById("tls-remove");
removeButton?.addEventListener("click", async () => {
  const status = document.getElementById("tls-remove-status");
  clearStatus(status);
  removeButton.disabled = true;
  const res = await api("DELETE", "/api/v1/settings/tls/certificate");
  if (res.ok) {
    setFlash("Serving the generated certificate again.");
    location.reload();
    return;
  }
  removeButton.disabled = false;
  showStatus(status, "error", res.message);
});

const outboundForm = document.getElementById("outbound-form");
outboundForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = String(new FormData(outboundForm).get("allowed_hosts") ?? "");
  const hosts = text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  submit(
    outboundForm,
    document.getElementById("outbound-status"),
    "PUT",
    "/api/v1/settings/outbound",
    { allowed_hosts: hosts },
    (s) => `Allow-list saved (${s?.allowed_hosts?.length ?? 0} entries).`,
  );
});

const securityForm = document.getElementById("security-form");
securityForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(securityForm);
  const days = String(data.get("api_key_max_days") ?? "").trim();
  submit(
    securityForm,
    document.getElementById("security-status"),
    "PUT",
    "/api/v1/settings/security",
    {
      min_password_length: Number(data.get("min_password_length")),
      api_key_max_days: days === "" ? null : Number(days),
    },
    () => "Security settings saved.",
  );
});

// LDAP: "DN => group name or id" lines become {directory_group, group_id}.
const groupIds = new Map(
  [...document.querySelectorAll("#ldap-groups li")].map((li) => [
    (li.textContent ?? "").trim().toLowerCase(),
    Number(li.getAttribute("data-id")),
  ]),
);

function mappings(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const at = line.lastIndexOf("=>");
    if (at < 0) throw new Error(`"${line.trim()}" needs "=> group".`);
    const group = line.slice(at + 2).trim();
    const id = /^[0-9]+$/.test(group) ? Number(group) : groupIds.get(group.toLowerCase());
    if (!id) throw new Error(`There is no group "${group}".`);
    out.push({ directory_group: line.slice(0, at).trim(), group_id: id });
  }
  return out;
}

const ldapForm = document.getElementById("ldap-form");
ldapForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(ldapForm);
  const text = (name) => String(data.get(name) ?? "").trim();
  const status = document.getElementById("ldap-status");
  let groupMappings;
  try {
    groupMappings = mappings(text("group_mappings"));
  } catch (e) {
    showStatus(status, "error", e.message);
    return;
  }
  const body = {
    url: text("url"),
    starttls: data.get("starttls") !== null,
    ca_cert_pem: text("ca_cert_pem") || null,
    bind_dn: text("bind_dn"),
    user_base: text("user_base"),
    user_filter: text("user_filter"),
    email_attr: text("email_attr") || "mail",
    name_attr: text("name_attr") || "cn",
    group_base: text("group_base") || null,
    group_mappings: groupMappings,
    auto_provision: data.get("auto_provision") !== null,
    enabled: data.get("enabled") !== null,
  };
  // Empty keeps the stored password (the server asks for it when the server changes).
  const password = String(data.get("bind_password") ?? "");
  if (password !== "") body.bind_password = password;
  submit(ldapForm, status, "PUT", "/api/v1/settings/ldap", body, (s) =>
    s?.enabled ? "LDAP settings saved; LDAP sign-in is on." : "LDAP settings saved; LDAP sign-in is off.",
  );
});

const ldapTestForm = document.getElementById("ldap-test-form");
ldapTestForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = document.getElementById("ldap-steps");
  if (!list) return;
  list.replaceChildren();
  setBusy(ldapTestForm, true);
  const username = String(new FormData(ldapTestForm).get("username") ?? "").trim();
  const res = await api("POST", "/api/v1/settings/ldap/test", username ? { username } : {});
  setBusy(ldapTestForm, false);
  const steps = res.ok ? res.data.steps : [{ step: "test", ok: false, message: res.message }];
  for (const s of steps) {
    const li = document.createElement("li");
    li.className = s.ok ? "step step--ok" : "step step--failed";
    li.textContent = `${s.ok ? "✓" : "✗"} ${s.message}`;
    list.append(li);
  }
});
