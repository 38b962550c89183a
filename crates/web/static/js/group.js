// printwarden — /groups/{id}: the group editor.
//
//   * permission grid: filter by name or label (categories with no match are
//     hidden), Select all / Clear all and the per-category checkbox act on
//     the shown permissions only; "n/m" badges update live;
//   * scope: all printers, or only some location / printer ids;
//   * Save sends one PATCH; members are added and removed at once.

import { api, clearStatus, el, parseIds, setBusy, setFlash, showStatus } from "./lib.js";

const editor = document.getElementById("group-editor");
const groupId = editor?.getAttribute("data-group-id") ?? "";
const base = `/api/v1/groups/${encodeURIComponent(groupId)}`;

// ---------------------------------------------------------------------------
// Permission grid
// ---------------------------------------------------------------------------

const grid = document.getElementById("permission-grid");
const search = document.getElementById("permission-search");
const noMatch = document.getElementById("permission-no-match");
const granted = document.querySelector("#permission-total [data-granted]");
const categories = grid ? [...grid.querySelectorAll("fieldset[data-category]")] : [];

function boxesOf(scope) {
  return [...scope.querySelectorAll('li[data-permission] input[name="permissions"]')];
}

function isShown(box) {
  const item = box.closest("li[data-permission]");
  const category = box.closest("fieldset[data-category]");
  return !item?.hidden && !category?.hidden;
}

function updateCounts() {
  let total = 0;
  for (const category of categories) {
    const boxes = boxesOf(category);
    const checked = boxes.filter((b) => b.checked).length;
    total += checked;
    const badge = category.querySelector("[data-category-count]");
    if (badge) badge.textContent = `${checked}/${boxes.length}`;
    const toggle = category.querySelector("input[data-category-toggle]");
    if (toggle) {
      const shown = boxes.filter(isShown);
      const shownChecked = shown.filter((b) => b.checked).length;
      toggle.checked = shown.length > 0 && shownChecked === shown.length;
      toggle.indeterminate = shownChecked > 0 && shownChecked < shown.length;
    }
  }
  if (granted) granted.textContent = String(total);
}

function applyFilter() {
  const query = (search?.value ?? "").trim().toLowerCase();
  let anyShown = false;
  for (const category of categories) {
    let shownHere = 0;
    for (const item of category.querySelectorAll("li[data-permission]")) {
      const name = (item.getAttribute("data-permission") ?? "").toLowerCase();
      const label = (item.getAttribute("data-label") ?? "").toLowerCase();
      const match = query === "" || name.includes(query) || label.includes(query);
      item.hidden = !match;
      if (match) shownHere += 1;
    }
    category.hidden = shownHere === 0;
    if (shownHere > 0) anyShown = true;
  }
  if (noMatch) noMatch.hidden = anyShown;
  updateCounts();
}

function setShown(scope, checked) {
  for (const box of boxesOf(scope)) {
    if (isShown(box) && !box.disabled) box.checked = checked;
  }
  updateCounts();
}

search?.addEventListener("input", applyFilter);
// Enter in the filter must not submit (save) the form.
search?.addEventListener("keydown", (event) => {
  if (event.key === "Enter") event.preventDefault();
});
document.getElementById("permission-select-all")?.addEventListener("click", () => setShown(grid, true));
document.getElementById("permission-clear-all")?.addEventListener("click", () => setShown(grid, false));

grid?.addEventListener("change", (event) => {
  if (!(event.target instanceof HTMLInputElement)) return;
  if (event.target.hasAttribute("data-category-toggle")) {
    const category = event.target.closest("fieldset[data-category]");
    if (category) setShown(category, event.target.checked);
    return;
  }
  updateCounts();
});

updateCounts();

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------

const form = document.getElementById("group-form");
const scopeIds = document.getElementById("scope-ids");

function scopeMode() {
  return form?.querySelector('input[name="scope_mode"]:checked')?.value ?? "all";
}

function updateScope() {
  if (!scopeIds) return;
  const some = scopeMode() === "some";
  scopeIds.hidden = !some;
  for (const input of scopeIds.querySelectorAll("input")) input.required = false;
}

form?.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === "scope_mode") updateScope();
});
updateScope();

// ---------------------------------------------------------------------------
// Save
// ---------------------------------------------------------------------------

const saveStatus = document.getElementById("group-status");
const title = document.getElementById("group-title");

function readScope(data) {
  if (scopeMode() !== "some") return { ok: true, value: null };
  const locations = parseIds(String(data.get("scope_locations") ?? ""));
  const printers = parseIds(String(data.get("scope_printers") ?? ""));
  if (locations === null || printers === null) {
    return { ok: false, message: "Scope ids must be whole numbers separated by commas, e.g. 1, 4." };
  }
  if (locations.length === 0 && printers.length === 0) {
    return {
      ok: false,
      message: "Name at least one location or printer id, or choose “All printers”.",
    };
  }
  return { ok: true, value: { locations, printers } };
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!document.getElementById("group-save")) return; // read-only view
  clearStatus(saveStatus);
  const data = new FormData(form);
  const scope = readScope(data);
  if (!scope.ok) {
    showStatus(saveStatus, "error", scope.message);
    return;
  }
  const body = {
    name: String(data.get("name") ?? "").trim(),
    description: String(data.get("description") ?? "").trim(),
    permissions: data.getAll("permissions").map(String),
    scope: scope.value,
  };
  setBusy(form, true);
  const res = await api("PATCH", base, body);
  setBusy(form, false);
  if (!res.ok) {
    showStatus(saveStatus, "error", res.message);
    return;
  }
  if (title && res.data?.name) {
    title.textContent = res.data.name;
    document.title = `${res.data.name} · Groups · printwarden`;
  }
  showStatus(
    saveStatus,
    "success",
    "Saved. If the permissions or scope changed, the members were signed out so their new rights apply at once.",
  );
});

// The sign-in requirement: its own small form (system groups accept it too).
const requirementForm = document.getElementById("sign-in-requirement-form");
const requirementStatus = document.getElementById("sign-in-requirement-status");

requirementForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!document.getElementById("sign-in-requirement-save")) return; // read-only view
  clearStatus(requirementStatus);
  const data = new FormData(requirementForm);
  setBusy(requirementForm, true);
  const res = await api("PATCH", base, {
    sign_in_requirement: String(data.get("sign_in_requirement") ?? "none"),
  });
  setBusy(requirementForm, false);
  if (!res.ok) {
    showStatus(requirementStatus, "error", res.message);
    return;
  }
  showStatus(
    requirementStatus,
    "success",
    "Saved. If it changed, the members were signed out; the new rule applies at their next sign-in.",
  );
});

// ---------------------------------------------------------------------------
// Clone
// ---------------------------------------------------------------------------

const cloneStatus = document.getElementById("clone-status");

document.getElementById("clone-group")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  clearStatus(cloneStatus);
  button.disabled = true;
  const res = await api("POST", `${base}/clone`, {});
  if (res.ok && res.data?.id !== undefined) {
    setFlash(`Created “${res.data.name}”, an editable copy. Rename and adjust it here.`);
    location.assign(`/groups/${encodeURIComponent(res.data.id)}`);
    return;
  }
  button.disabled = false;
  showStatus(cloneStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------

const memberList = document.getElementById("member-list");
const membersEmpty = document.getElementById("members-empty");
const memberCount = document.getElementById("member-count");
const membersStatus = document.getElementById("members-status");
const addForm = document.getElementById("add-member-form");
const addSelect = document.getElementById("add-member");

function updateMembers() {
  const count = memberList?.querySelectorAll("li[data-member-id]").length ?? 0;
  if (membersEmpty) membersEmpty.hidden = count > 0;
  if (memberCount) memberCount.textContent = String(count);
  if (addSelect) {
    const real = [...addSelect.options].filter((o) => o.value !== "");
    for (const o of addSelect.options) if (o.value === "") o.remove();
    if (real.length === 0) {
      addSelect.append(el("option", { value: "" }, "Every user is already a member"));
    }
    addSelect.disabled = real.length === 0;
    const button = addForm?.querySelector("button[type=submit]");
    if (button) button.disabled = real.length === 0;
  }
}

function memberItem(id, username) {
  return el(
    "li",
    { "data-member-id": id },
    el("span", { class: "member-list__name" }, username),
    el(
      "button",
      { class: "btn btn--small", type: "button", "data-remove-member": true },
      "Remove",
      el("span", { class: "visually-hidden" }, ` ${username}`),
    ),
  );
}

addForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const option = addSelect?.selectedOptions[0];
  if (!option || option.value === "") return;
  clearStatus(membersStatus);
  setBusy(addForm, true);
  const res = await api("PUT", `${base}/members/${encodeURIComponent(option.value)}`);
  setBusy(addForm, false);
  if (!res.ok) {
    showStatus(membersStatus, "error", res.message);
    updateMembers();
    return;
  }
  const username = option.textContent ?? "";
  memberList.append(memberItem(option.value, username));
  option.remove();
  updateMembers();
  showStatus(membersStatus, "success", `${username} added.`);
});

memberList?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("button[data-remove-member]");
  const item = button?.closest("li[data-member-id]");
  if (!button || !item) return;
  const id = item.getAttribute("data-member-id") ?? "";
  const username = item.querySelector(".member-list__name")?.textContent ?? "";
  clearStatus(membersStatus);
  button.disabled = true;
  const res = await api("DELETE", `${base}/members/${encodeURIComponent(id)}`);
  if (!res.ok) {
    button.disabled = false;
    showStatus(membersStatus, "error", res.message);
    return;
  }
  item.remove();
  addSelect?.append(el("option", { value: id }, username));
  updateMembers();
  showStatus(membersStatus, "success", `${username} removed.`);
});
