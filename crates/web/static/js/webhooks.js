// printwarden — /webhooks: add, edit, test and delete outbound webhooks through
// the JSON API. After a change the page reloads so the table is the server's
// truth; a test reports the receiver's answer (or why the target was refused).

import { api, clearStatus, confirmAction, fill, setBusy, setFlash, showStatus } from "./lib.js";

const table = document.getElementById("webhooks-table");
const pageStatus = document.getElementById("webhooks-status");

function events(text) {
  return String(text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

// The filter: the ticked catalogue events plus what is typed in the audit field.
function chosenEvents(form) {
  const ticked = [...form.querySelectorAll('input[name="event"]:checked')].map((i) => i.value);
  return [...ticked, ...events(new FormData(form).get("audit"))];
}

// Ticks the catalogue events of a filter; the rest goes to the audit field.
function showEvents(form, list) {
  const boxes = [...form.querySelectorAll('input[name="event"]')];
  const rest = [];
  for (const name of list) {
    const box = boxes.find((b) => b.value === name);
    if (box) box.checked = true;
    else rest.push(name);
  }
  form.elements.namedItem("audit").value = rest.join(", ");
}

function rowData(row) {
  return {
    id: row.getAttribute("data-webhook-id"),
    kind: row.getAttribute("data-kind") ?? "printwarden",
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
const kindSelect = document.getElementById("new-webhook-kind");

// A Discord URL is its own secret: no secret field; ntfy's secret is an access token.
function showKind() {
  const kind = kindSelect?.value ?? "printwarden";
  const field = createForm?.querySelector("[data-secret-field]");
  if (field) field.hidden = kind === "discord";
  const label = createForm?.querySelector("[data-secret-label]");
  if (label) label.textContent = kind === "ntfy" ? "Access token" : "Signing secret";
}
kindSelect?.addEventListener("change", showKind);
showKind();

createForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(createStatus);
  const data = new FormData(createForm);
  const body = {
    name: String(data.get("name") ?? "").trim(),
    kind: String(data.get("kind") ?? "printwarden"),
    url: String(data.get("url") ?? "").trim(),
    events: chosenEvents(createForm),
  };
  if (body.events.length === 0) {
    showStatus(createStatus, "error", "Choose at least one event.");
    return;
  }
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
  showEvents(editForm, events(hook.events));
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
    events: chosenEvents(editForm),
    enabled: editForm.elements.namedItem("enabled").checked,
  };
  // A Discord URL is shown shortened: only a newly typed one is sent.
  const url = String(data.get("url") ?? "").trim();
  if (url !== editing.url) patch.url = url;
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
  const sure = await confirmAction({
    title: `Delete the webhook “${hook.name}”?`,
    message: "Deliveries stop at once.",
    confirm: "Delete webhook",
  });
  if (!sure) return;
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
