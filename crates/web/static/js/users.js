// printwarden — /users: create, edit and delete user accounts, reset a
// user's two-factor authentication and mail a password reset link, through
// the JSON API. After a change the page reloads so the table is the server's
// truth; the outcome is shown as a flash message.

import { api, clearStatus, fill, setBusy, setFlash, showStatus } from "./lib.js";

const table = document.getElementById("users-table");

function rowData(row) {
  return {
    id: row.getAttribute("data-user-id"),
    username: row.getAttribute("data-username") ?? "",
    email: row.getAttribute("data-email") ?? "",
    disabled: row.getAttribute("data-disabled") === "true",
    groupIds: (row.getAttribute("data-group-ids") ?? "")
      .split(",")
      .filter((s) => s !== "")
      .map(Number),
  };
}

function checkedIds(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => Number(i.value));
}

function sameSet(a, b) {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}

// ---------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------

const createForm = document.getElementById("create-user-form");
const createStatus = document.getElementById("create-user-status");

createForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(createStatus);
  const data = new FormData(createForm);
  const username = String(data.get("username") ?? "").trim();
  const body = { username, group_ids: checkedIds(createForm, "group_ids") };
  const email = String(data.get("email") ?? "").trim();
  if (email) body.email = email;
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  setBusy(createForm, true);
  const res = await api("POST", "/api/v1/users", body);
  if (res.ok) {
    const name = res.data?.username ?? username;
    let next = "";
    if (!password) {
      // With Advanced Auth via Email, the server mailed a set-password link.
      next =
        createForm.getAttribute("data-advanced-auth") === "true" && email
          ? ` A link to choose their password is on its way to ${email}; it works once, for one hour.`
          : " They cannot sign in until a password is set (Edit).";
    }
    setFlash(`User “${name}” created.${next}`);
    location.reload();
    return;
  }
  setBusy(createForm, false);
  showStatus(createStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Edit
// ---------------------------------------------------------------------------

const editDialog = document.getElementById("edit-user-dialog");
const editForm = document.getElementById("edit-user-form");
const editStatus = document.getElementById("edit-user-status");
let editing = null;

function openEdit(user) {
  editing = user;
  fill(editDialog, { username: user.username });
  clearStatus(editStatus);
  editForm.reset();
  editForm.elements.namedItem("email").value = user.email;
  for (const box of editForm.querySelectorAll('input[name="group_ids"]')) {
    box.checked = user.groupIds.includes(Number(box.value));
  }
  editForm.elements.namedItem("disabled").checked = user.disabled;
  editDialog.showModal();
}

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editing) return;
  clearStatus(editStatus);
  const data = new FormData(editForm);
  // Send only what changed: groups, disabled and password each end the
  // user's sessions, which must not happen for an unrelated email edit.
  const patch = {};
  const email = String(data.get("email") ?? "").trim();
  if (email !== editing.email) patch.email = email;
  const groups = checkedIds(editForm, "group_ids");
  if (!sameSet(groups, editing.groupIds)) patch.group_ids = groups;
  const disabled = editForm.elements.namedItem("disabled").checked;
  if (disabled !== editing.disabled) patch.disabled = disabled;
  const password = String(data.get("password") ?? "");
  if (password) patch.password = password;
  if (Object.keys(patch).length === 0) {
    editDialog.close();
    return;
  }
  setBusy(editForm, true);
  const res = await api("PATCH", `/api/v1/users/${encodeURIComponent(editing.id)}`, patch);
  setBusy(editForm, false);
  if (res.ok) {
    const extra = patch.password ? " They were signed out everywhere." : "";
    setFlash(`User “${editing.username}” updated.${extra}`);
    location.reload();
    return;
  }
  showStatus(editStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------

const deleteDialog = document.getElementById("delete-user-dialog");
const deleteForm = document.getElementById("delete-user-form");
const deleteStatus = document.getElementById("delete-user-status");
const deleteItems = document.getElementById("delete-user-items");
const deleteConfirm = document.getElementById("delete-user-confirm");
const deleteSubmit = document.getElementById("delete-user-submit");
let deleting = null;

function describeItems(items) {
  const owned = (items ?? []).filter((i) => i.count > 0);
  if (owned.length === 0) return "This user owns no items.";
  const parts = owned.map((i) => `${i.count} ${i.kind.replaceAll("_", " ")}`);
  return `This user owns ${parts.join(", ")}.`;
}

async function openDelete(user) {
  deleting = user;
  fill(deleteDialog, { username: user.username });
  clearStatus(deleteStatus);
  deleteForm.reset();
  deleteSubmit.disabled = true;
  deleteItems.textContent = "Counting what this user owns…";
  deleteDialog.showModal();
  deleteConfirm.focus();
  const res = await api("GET", `/api/v1/users/${encodeURIComponent(user.id)}`);
  if (deleting !== user) return;
  deleteItems.textContent = res.ok
    ? describeItems(res.data?.items)
    : `Could not count what this user owns: ${res.message}`;
}

deleteConfirm?.addEventListener("input", () => {
  deleteSubmit.disabled = !deleting || deleteConfirm.value.trim() !== deleting.username;
});

deleteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!deleting || deleteConfirm.value.trim() !== deleting.username) return;
  clearStatus(deleteStatus);
  const items = new FormData(deleteForm).get("items") === "delete" ? "delete" : "keep";
  setBusy(deleteForm, true);
  const res = await api(
    "DELETE",
    `/api/v1/users/${encodeURIComponent(deleting.id)}?items=${items}`,
  );
  setBusy(deleteForm, false);
  deleteSubmit.disabled = deleteConfirm.value.trim() !== deleting.username;
  if (res.ok) {
    setFlash(`User “${deleting.username}” deleted.`);
    location.reload();
    return;
  }
  showStatus(deleteStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Reset two-factor authentication
// ---------------------------------------------------------------------------

const resetDialog = document.getElementById("reset-mfa-dialog");
const resetForm = document.getElementById("reset-mfa-form");
const resetStatus = document.getElementById("reset-mfa-status");
let resetting = null;

function openReset(user) {
  resetting = user;
  fill(resetDialog, { username: user.username });
  clearStatus(resetStatus);
  setBusy(resetForm, false);
  resetDialog.showModal();
  // Cancel first: the safe choice is the default one.
  resetDialog.querySelector("[data-close-dialog]")?.focus();
}

resetForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!resetting) return;
  clearStatus(resetStatus);
  setBusy(resetForm, true);
  const res = await api("POST", `/api/v1/users/${encodeURIComponent(resetting.id)}/mfa/reset`);
  if (res.ok) {
    setFlash(
      `Two-factor authentication of “${resetting.username}” reset. They were signed out everywhere.`,
    );
    location.reload();
    return;
  }
  setBusy(resetForm, false);
  showStatus(resetStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Send a password reset link (Advanced Auth via Email)
// ---------------------------------------------------------------------------

const usersStatus = document.getElementById("users-status");

async function sendReset(button, user) {
  clearStatus(usersStatus);
  if (button.getAttribute("aria-disabled") === "true") {
    showStatus(
      usersStatus,
      "error",
      `“${user.username}” has no email address. Add one with Edit, then send the link.`,
    );
    return;
  }
  button.disabled = true;
  const res = await api("POST", `/api/v1/users/${encodeURIComponent(user.id)}/password-reset`);
  button.disabled = false;
  if (res.ok) {
    showStatus(
      usersStatus,
      "success",
      `A reset link for “${user.username}” is on its way to ${user.email}. It works once, for one hour; their password stays as it is until they use it.`,
    );
  } else {
    showStatus(usersStatus, "error", res.message);
  }
  usersStatus.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------------------

table?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const row = event.target.closest("tr[data-user-id]");
  if (!row) return;
  if (event.target.closest("[data-edit-user]") && editDialog) openEdit(rowData(row));
  if (event.target.closest("[data-delete-user]") && deleteDialog) openDelete(rowData(row));
  if (event.target.closest("[data-reset-mfa]") && resetDialog) openReset(rowData(row));
  const send = event.target.closest("[data-send-reset]");
  if (send) sendReset(send, rowData(row));
});
