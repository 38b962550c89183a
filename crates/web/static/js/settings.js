// printwarden — /settings: the sealing key card, the HTTPS certificate (upload, back to
// generated), the outbound allow-list, sign-in with LDAP (and its Test), the OpenID Connect
// providers (add, edit, delete) and the password/API key limits, through the JSON API. After a
// change the page reloads so it shows the server's truth.

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

// OpenID Connect providers. One form adds or, after "Edit", changes a provider; the fields are
// filled from the API (the client secret never comes back: empty keeps the stored one).
const oidcForm = document.getElementById("oidc-form");
const oidcStatus = document.getElementById("oidc-status");
const oidcListStatus = document.getElementById("oidc-list-status");
const oidcCancel = document.getElementById("oidc-cancel");
const oidcGroupNames = new Map();
for (const li of document.querySelectorAll("#ldap-groups li")) {
  oidcGroupNames.set(Number(li.getAttribute("data-id")), (li.textContent ?? "").trim());
}

/** "claim value => group name" lines → [{claim_value, group_id}]; throws a plain sentence. */
function oidcMappings(text) {
  return mappings(text).map((m) => ({ claim_value: m.directory_group, group_id: m.group_id }));
}

function oidcEditing(provider) {
  const f = oidcForm.elements;
  document.getElementById("oidc-form-title").textContent = provider
    ? `Change ${provider.name}`
    : "Add a provider";
  document.getElementById("oidc-save").textContent = provider ? "Save provider" : "Add provider";
  oidcCancel.hidden = !provider;
  clearStatus(oidcStatus);
  if (!provider) {
    oidcForm.reset();
    f.namedItem("id").value = "";
    return;
  }
  f.namedItem("id").value = String(provider.id);
  f.namedItem("name").value = provider.name;
  f.namedItem("issuer").value = provider.issuer;
  f.namedItem("client_id").value = provider.client_id;
  f.namedItem("client_secret").value = "";
  f.namedItem("client_secret").placeholder = provider.client_secret_set
    ? "Stored (leave empty to keep it)"
    : "";
  f.namedItem("public_client").checked = !provider.client_secret_set;
  f.namedItem("scopes").value = provider.scopes;
  f.namedItem("email_claim").value = provider.email_claim;
  f.namedItem("groups_claim").value = provider.groups_claim ?? "";
  f.namedItem("group_mappings").value = provider.group_mappings
    .map((m) => `${m.claim_value} => ${oidcGroupNames.get(m.group_id) ?? m.group_id}`)
    .join("\n");
  f.namedItem("ca_cert_pem").value = provider.ca_cert_pem ?? "";
  f.namedItem("require_verified_email").checked = provider.require_verified_email;
  f.namedItem("auto_create").checked = provider.auto_create;
  f.namedItem("auto_link").checked = provider.auto_link;
  f.namedItem("enabled").checked = provider.enabled;
  f.namedItem("name").focus();
}

oidcCancel?.addEventListener("click", () => oidcEditing(null));

oidcForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(oidcForm);
  const text = (name) => String(data.get(name) ?? "").trim();
  let groupMappings;
  try {
    groupMappings = oidcMappings(text("group_mappings"));
  } catch (e) {
    showStatus(oidcStatus, "error", e.message);
    return;
  }
  const body = {
    name: text("name"),
    issuer: text("issuer"),
    client_id: text("client_id"),
    scopes: text("scopes") || null,
    email_claim: text("email_claim") || null,
    groups_claim: text("groups_claim") || null,
    group_mappings: groupMappings,
    ca_cert_pem: text("ca_cert_pem") || null,
    require_verified_email: data.get("require_verified_email") !== null,
    auto_create: data.get("auto_create") !== null,
    auto_link: data.get("auto_link") !== null,
    enabled: data.get("enabled") !== null,
  };
  // Omitted keeps the stored secret (the server asks again when the issuer or CA changes);
  // "" is a public client.
  const secret = String(data.get("client_secret") ?? "");
  if (data.get("public_client") !== null) body.client_secret = "";
  else if (secret !== "") body.client_secret = secret;
  const id = text("id");
  submit(
    oidcForm,
    oidcStatus,
    id ? "PUT" : "POST",
    id ? `/api/v1/settings/oidc/providers/${encodeURIComponent(id)}` : "/api/v1/settings/oidc/providers",
    body,
    (p) => `${p?.name ?? "The provider"} ${id ? "saved" : "added"}.`,
  );
});

document.getElementById("oidc")?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const edit = event.target.closest("[data-oidc-edit]");
  if (edit) {
    clearStatus(oidcListStatus);
    const res = await api("GET", "/api/v1/settings/oidc/providers");
    const id = Number(edit.getAttribute("data-oidc-edit"));
    const provider = res.ok ? res.data.find((p) => p.id === id) : null;
    if (!provider) {
      showStatus(oidcListStatus, "error", res.ok ? "That provider is gone; reload the page." : res.message);
      return;
    }
    oidcEditing(provider);
    return;
  }
  const del = event.target.closest("[data-oidc-delete]");
  if (del) {
    const name = del.getAttribute("data-oidc-name") ?? "this provider";
    if (!confirm(`Delete ${name}? Accounts linked to it can no longer sign in through it.`)) return;
    clearStatus(oidcListStatus);
    del.disabled = true;
    const res = await api(
      "DELETE",
      `/api/v1/settings/oidc/providers/${encodeURIComponent(del.getAttribute("data-oidc-delete") ?? "")}`,
    );
    if (res.ok) {
      setFlash(`${name} deleted.`);
      location.reload();
      return;
    }
    del.disabled = false;
    showStatus(oidcListStatus, "error", res.message);
  }
});
