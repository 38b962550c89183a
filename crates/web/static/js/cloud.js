// printwarden — /account/cloud: link one's own Bambu account through the JSON
// API (password, then the code Bambu asks for), unlink, and list the linked
// account's printers. The password and code fields are cleared once sent;
// nothing on this page ever holds a Bambu token.

import { api, clearStatus, confirmAction, el, setBusy, setFlash, showStatus, tooManyText } from "./lib.js";

function failText(res) {
  return res.status === 429 ? tooManyText(res) : res.message;
}

const linkForm = document.getElementById("cloud-link-form");
linkForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("cloud-link-status");
  const password = document.getElementById("cloud-password");
  clearStatus(status);
  setBusy(linkForm, true);
  const res = await api("POST", "/api/v1/cloud/link", {
    email: document.getElementById("cloud-email-input").value.trim(),
    password: password.value,
    region: document.getElementById("cloud-region").value,
  });
  password.value = "";
  setBusy(linkForm, false);
  if (!res.ok) {
    showStatus(status, "error", failText(res));
    return;
  }
  window.location.reload();
});

const codeForm = document.getElementById("cloud-code-form");
codeForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("cloud-code-status");
  const code = document.getElementById("cloud-code");
  clearStatus(status);
  setBusy(codeForm, true);
  const res = await api("POST", "/api/v1/cloud/link/verify", { code: code.value });
  code.value = "";
  setBusy(codeForm, false);
  if (!res.ok) {
    showStatus(status, "error", failText(res));
    if (res.status === 400) window.setTimeout(() => window.location.reload(), 2500);
    return;
  }
  window.location.reload();
});

async function unlink(confirmFirst) {
  if (confirmFirst) {
    const ok = await confirmAction({
      title: "Unlink Bambu Cloud?",
      message: "printwarden deletes the sign-in it holds for this Bambu account. You can link it again later.",
      confirm: "Unlink",
    });
    if (!ok) return;
  }
  const res = await api("DELETE", "/api/v1/cloud/link");
  if (!res.ok && res.status !== 404) {
    setFlash(res.message, "error");
    return;
  }
  window.location.reload();
}

document.getElementById("cloud-unlink")?.addEventListener("click", () => unlink(true));
document.getElementById("cloud-cancel")?.addEventListener("click", () => unlink(false));

const devices = document.getElementById("cloud-devices");
async function loadDevices(refresh) {
  const note = document.getElementById("cloud-devices-note");
  const table = document.getElementById("cloud-devices-table");
  const body = document.getElementById("cloud-devices-body");
  note.textContent = "Loading…";
  const res = await api("GET", `/api/v1/cloud/devices${refresh ? "?refresh=true" : ""}`);
  if (!res.ok) {
    note.textContent = failText(res);
    table.hidden = true;
    return;
  }
  body.replaceChildren(
    ...res.data.devices.map((d) =>
      el("tr", {}, el("td", {}, d.name), el("td", {}, d.model), el("td", {}, d.serial),
        el("td", {}, d.online ? "online" : "offline"))),
  );
  table.hidden = res.data.devices.length === 0;
  const when = new Date(res.data.fetched_at).toLocaleString();
  note.textContent = res.data.devices.length === 0
    ? "Bambu lists no printers on this account."
    : `As Bambu listed them at ${when}${res.data.stale ? " (Bambu could not be asked just now; this is its last answer)" : ""}.`;
}
if (devices) {
  loadDevices(false);
  document.getElementById("cloud-devices-refresh")?.addEventListener("click", () => loadDevices(true));
}
