// printwarden — /webhooks: add, edit, test and delete outbound webhooks through
// the JSON API. After a change the page reloads so the table is the server's
// truth; a test reports the receiver's answer (or why the target was refused).

import { api, clearStatus, fill, setBusy, setFlash, showStatus } from "./lib.js";

const table = document.getElementById("webhooks-table");
const pageStatus = document.getElementById("webhooks-status");

function events(text) {
  return String(text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function rowData(row) {
  return {
    id: row.getAttribute("data-webhook-id"),
    name: row.getAttribute("data-name") ?? "",
    url: row.getAttribute("data-url") ?? "",
    events: row.getAttribute("data-events") ?? "",
    enabled: row.getAttribute("data-enabled") === "true",
  };
}

// ---------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------

const createForm = document.getElementById("create-webhook-form");
const createStatus = document.getElementById("create-webhook-status");

createForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(createStatus);
  const data = new FormData(createForm);
  const body = {
    name: String(data.get("name") ?? "").trim(),
    url: String(data.get("url") ?? "").trim(),
    events: events(data.get("events")),
  };
  const secret = String(data.get("secret") ?? "");
  if (secret) body.secret = secret;
  setBusy(createForm, true);
  const res = await api("POST", "/api/v1/webhooks", body);
  if (res.ok) {
    setFlash(`Webhook “${body.name}” added. Send a test to check that it arrives.`);
    location.reload();
    return;
  }
  setBusy(createForm, false);
  showStatus(createStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Edit
// ---------------------------------------------------------------------------

const editDialog = document.getElementById("edit-webhook-dialog");
const editForm = document.getElementById("edit-webhook-form");
const editStatus = document.getElementById("edit-webhook-status");
let editing = null;

function openEdit(hook) {
  editing = hook;
  fill(editDialog, { name: hook.name });
  clearStatus(editStatus);
  editForm.reset();
  editForm.elements.namedItem("name").value = hook.name;
  editForm.elements.namedItem("url").value = hook.url;
  editForm.elements.namedItem("events").value = hook.events;
  editForm.elements.namedItem("enabled").checked = hook.enabled;
  editDialog.showModal();
}

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editing) return;
  clearStatus(editStatus);
  const data = new FormData(editForm);
  const patch = {
    name: String(data.get("name") ?? "").trim(),
    url: String(data.get("url") ?? "").trim(),
    events: events(data.get("events")),
    enabled: editForm.elements.namedItem("enabled").checked,
  };
  const secret = String(data.get("secret") ?? "");
  if (secret) patch.secret = secret;
  if (editForm.elements.namedItem("remove_secret").checked) patch.remove_secret = true;
  setBusy(editForm, true);
  const res = await api("PATCH", `/api/v1/webhooks/${encodeURIComponent(editing.id)}`, patch);
  setBusy(editForm, false);
  if (res.ok) {
    setFlash(`Webhook “${patch.name}” saved.`);
    location.reload();
    return;
  }
  showStatus(editStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Test and delete
// ---------------------------------------------------------------------------

async function sendTest(hook, button) {
  clearStatus(pageStatus);
  button.disabled = true;
  const res = await api("POST", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/test`);
  button.disabled = false;
  if (!res.ok) {
    showStatus(pageStatus, "error", `Test to “${hook.name}” not sent: ${res.message}`);
    return;
  }
  if (res.data?.ok) {
    setFlash(`Test delivered to “${hook.name}” (HTTP ${res.data.status}).`);
  } else {
    const why = res.data?.error ?? `HTTP ${res.data?.status}`;
    setFlash(`Test to “${hook.name}” failed: ${why}`, "error");
  }
  location.reload();
}

async function remove(hook, button) {
  if (!window.confirm(`Delete the webhook “${hook.name}”? Deliveries stop at once.`)) return;
  clearStatus(pageStatus);
  button.disabled = true;
  const res = await api("DELETE", `/api/v1/webhooks/${encodeURIComponent(hook.id)}`);
  if (res.ok) {
    setFlash(`Webhook “${hook.name}” deleted.`);
    location.reload();
    return;
  }
  button.disabled = false;
  showStatus(pageStatus, "error", res.message);
}

table?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const row = event.target.closest("tr[data-webhook-id]");
  if (!row) return;
  const test = event.target.closest("[data-test-webhook]");
  if (test) sendTest(rowData(row), test);
  if (event.target.closest("[data-edit-webhook]") && editDialog) openEdit(rowData(row));
  const del = event.target.closest("[data-delete-webhook]");
  if (del) remove(rowData(row), del);
});
