// printwarden — /groups: new group (then its editor), clone (then the copy's
// editor) and delete with the name typed to confirm.

import { api, clearStatus, fill, setBusy, setFlash, showStatus } from "./lib.js";

const table = document.getElementById("groups-table");
const pageStatus = document.getElementById("groups-status");

// ---------------------------------------------------------------------------
// New
// ---------------------------------------------------------------------------

const newDialog = document.getElementById("new-group-dialog");
const newForm = document.getElementById("new-group-form");
const newStatus = document.getElementById("new-group-status");

document.getElementById("new-group")?.addEventListener("click", () => {
  newForm.reset();
  clearStatus(newStatus);
  newDialog.showModal();
});

newForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(newStatus);
  const data = new FormData(newForm);
  const body = {
    name: String(data.get("name") ?? "").trim(),
    permissions: [],
  };
  const description = String(data.get("description") ?? "").trim();
  if (description) body.description = description;
  setBusy(newForm, true);
  const res = await api("POST", "/api/v1/groups", body);
  if (res.ok && res.data?.id !== undefined) {
    setFlash(`Group “${res.data.name}” created. Choose its permissions below.`);
    location.assign(`/groups/${encodeURIComponent(res.data.id)}`);
    return;
  }
  setBusy(newForm, false);
  showStatus(newStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Clone
// ---------------------------------------------------------------------------

async function cloneGroup(row, button) {
  clearStatus(pageStatus);
  button.disabled = true;
  const id = row.getAttribute("data-group-id");
  const res = await api("POST", `/api/v1/groups/${encodeURIComponent(id)}/clone`, {});
  if (res.ok && res.data?.id !== undefined) {
    setFlash(`Created “${res.data.name}”, a copy of “${row.getAttribute("data-group-name")}”. Rename and adjust it here.`);
    location.assign(`/groups/${encodeURIComponent(res.data.id)}`);
    return;
  }
  button.disabled = false;
  showStatus(pageStatus, "error", res.message);
}

// ---------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------

const deleteDialog = document.getElementById("delete-group-dialog");
const deleteForm = document.getElementById("delete-group-form");
const deleteStatus = document.getElementById("delete-group-status");
const deleteConfirm = document.getElementById("delete-group-confirm");
const deleteSubmit = document.getElementById("delete-group-submit");
let deleting = null;

function openDelete(row) {
  deleting = { id: row.getAttribute("data-group-id"), name: row.getAttribute("data-group-name") ?? "" };
  fill(deleteDialog, { name: deleting.name });
  deleteForm.reset();
  clearStatus(deleteStatus);
  deleteSubmit.disabled = true;
  deleteDialog.showModal();
  deleteConfirm.focus();
}

deleteConfirm?.addEventListener("input", () => {
  deleteSubmit.disabled = !deleting || deleteConfirm.value.trim() !== deleting.name;
});

deleteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!deleting || deleteConfirm.value.trim() !== deleting.name) return;
  clearStatus(deleteStatus);
  setBusy(deleteForm, true);
  const res = await api("DELETE", `/api/v1/groups/${encodeURIComponent(deleting.id)}`);
  setBusy(deleteForm, false);
  deleteSubmit.disabled = deleteConfirm.value.trim() !== deleting.name;
  if (res.ok) {
    setFlash(`Group “${deleting.name}” deleted.`);
    location.reload();
    return;
  }
  showStatus(deleteStatus, "error", res.message);
});

// ---------------------------------------------------------------------------

table?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const row = event.target.closest("tr[data-group-id]");
  if (!row) return;
  const clone = event.target.closest("button[data-clone-group]");
  if (clone) cloneGroup(row, clone);
  if (event.target.closest("button[data-delete-group]") && deleteDialog) openDelete(row);
});
