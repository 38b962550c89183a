// printwarden — /queue: reorder jobs (drag a job by its handle, or its up/down buttons, then
// the new order of the waiting jobs goes to the server), pause and resume the queue or one
// printer's lane, change a job's copies, priority and "not before", cancel a waiting job or
// remove an ended one (after a confirmation naming the file). The live part of the page is
// fetched again every few seconds and swapped in when it changed — never while the viewer is
// dragging or a dialog is open. Controls exist only for the viewer's rights; the server checks
// again.

import { api, clearStatus, showStatus } from "./lib.js";

const root = document.getElementById("queue-page");
const status = document.getElementById("queue-status");
const POLL_MS = 5000;

let dragging = null;
let busy = false;
// The live part as last rendered by the server (the DOM may differ: hidden failed pictures).
let lastRendered = document.getElementById("queue-live")?.cloneNode(true) ?? null;

function live() {
  return document.getElementById("queue-live");
}

function itemOf(node) {
  return node instanceof Element ? node.closest(".queue-item") : null;
}

function fileOf(item) {
  return item?.getAttribute("data-file") ?? "";
}

// ---------------------------------------------------------------- refresh

/**
 * Fetches this page again and swaps the live part in when it changed. The markup is the
 * server's own rendering of the page (same origin, escaped by the templates), parsed into a
 * separate document; no data from the API is turned into HTML here.
 */
async function refresh({ force = false } = {}) {
  if (!force && (dragging || busy || document.querySelector("dialog[open]"))) return;
  let text;
  try {
    const res = await fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (res.status === 401 || res.redirected) {
      location.reload();
      return;
    }
    if (!res.ok) return;
    text = await res.text();
  } catch {
    return;
  }
  const doc = new DOMParser().parseFromString(text, "text/html");
  const fresh = doc.getElementById("queue-live");
  const current = live();
  if (!fresh || !current || (lastRendered && fresh.isEqualNode(lastRendered))) return;
  lastRendered = fresh.cloneNode(true);
  // Keep the keyboard where it was: the same control of the same job, when it is still there.
  const focused = document.activeElement;
  const focusItem = itemOf(focused)?.getAttribute("data-item-id");
  const focusKey = focused?.id || (focused?.hasAttribute("data-move") ? `move-${focused.getAttribute("data-move")}` : null);
  current.replaceWith(document.adoptNode(fresh));
  if (focusItem && focusKey?.startsWith("move-")) {
    live()
      .querySelector(`#queue-list .queue-item[data-item-id="${CSS.escape(focusItem)}"] [data-move="${focusKey.slice(5)}"]`)
      ?.focus();
  } else if (focusKey) {
    document.getElementById(focusKey)?.focus();
  }
}

setInterval(() => {
  if (!document.hidden) refresh();
}, POLL_MS);

// ---------------------------------------------------------------- reorder

function orderIds() {
  return [...live().querySelectorAll("#queue-list > .queue-item[draggable=true]")].map((li) =>
    Number(li.getAttribute("data-item-id")),
  );
}

async function saveOrder(what) {
  const ids = orderIds();
  if (ids.length === 0) return;
  busy = true;
  const res = await api("POST", "/api/v1/queue/reorder", { ids });
  busy = false;
  if (!res.ok) {
    showStatus(status, "error", res.message);
  } else {
    showStatus(status, "success", what);
  }
  await refresh({ force: true });
}

document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-move]") : null;
  if (!button || !root?.contains(button)) return;
  const item = itemOf(button);
  const up = button.getAttribute("data-move") === "up";
  const sibling = up ? item.previousElementSibling : item.nextElementSibling;
  if (!sibling || sibling.getAttribute("draggable") !== "true") {
    showStatus(status, "info", `“${fileOf(item)}” is already ${up ? "first" : "last"} among the waiting jobs.`);
    return;
  }
  if (up) sibling.before(item);
  else sibling.after(item);
  button.focus();
  await saveOrder(`“${fileOf(item)}” moved ${up ? "up" : "down"}.`);
});

document.addEventListener("dragstart", (event) => {
  const item = itemOf(event.target);
  if (!item || item.getAttribute("draggable") !== "true") return;
  dragging = item;
  item.classList.add("queue-item--dragging");
  event.dataTransfer.effectAllowed = "move";
  event.dataTransfer.setData("text/plain", item.getAttribute("data-item-id"));
});

document.addEventListener("dragover", (event) => {
  if (!dragging) return;
  const over = itemOf(event.target);
  if (!over || over === dragging || over.parentElement !== dragging.parentElement) return;
  if (over.getAttribute("draggable") !== "true") return;
  event.preventDefault();
  const box = over.getBoundingClientRect();
  if (event.clientY < box.top + box.height / 2) over.before(dragging);
  else over.after(dragging);
});

document.addEventListener("drop", (event) => {
  if (dragging) event.preventDefault();
});

document.addEventListener("dragend", async () => {
  const item = dragging;
  if (!item) return;
  item.classList.remove("queue-item--dragging");
  const before = item.getAttribute("data-order-before");
  dragging = null;
  const now = orderIds().join(",");
  if (before !== now) await saveOrder(`“${fileOf(item)}” moved to place ${orderIds().indexOf(Number(item.getAttribute("data-item-id"))) + 1}.`);
});

// Remember the order when a drag starts, to save only a real change.
document.addEventListener(
  "dragstart",
  (event) => {
    const item = itemOf(event.target);
    if (item) item.setAttribute("data-order-before", orderIds().join(","));
  },
  true,
);

// ---------------------------------------------------------------- pause / resume

async function pause(path, body, done) {
  busy = true;
  const res = await api("POST", path, body);
  busy = false;
  if (!res.ok) {
    showStatus(status, "error", res.message);
    return;
  }
  showStatus(status, "success", done);
  await refresh({ force: true });
}

document.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element) || !root) return;
  const target = event.target.closest("#queue-pause, #queue-resume, [data-lane-pause], [data-lane-resume]");
  if (!target) return;
  if (target.id === "queue-pause") {
    await pause("/api/v1/queue/pause", {}, "The queue is paused: no new jobs start.");
  } else if (target.id === "queue-resume") {
    await pause("/api/v1/queue/resume", {}, "The queue runs again.");
  } else {
    const lane = target.closest(".queue-lane");
    const printer = Number(lane.getAttribute("data-printer-id"));
    const name = lane.querySelector(".card__title")?.textContent ?? "the printer";
    if (target.hasAttribute("data-lane-pause")) {
      await pause("/api/v1/queue/pause", { printer_id: printer }, `${name}'s lane is paused.`);
    } else {
      await pause("/api/v1/queue/resume", { printer_id: printer }, `${name}'s lane runs again.`);
    }
  }
});

// ---------------------------------------------------------------- edit

const editDialog = document.getElementById("queue-edit-dialog");
const editForm = document.getElementById("queue-edit-form");
const editStatus = document.getElementById("queue-edit-status");
let editing = null;

/** An RFC 3339 instant as a `datetime-local` value in the browser's time zone. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-edit]") : null;
  if (!button || !editForm) return;
  const item = itemOf(button);
  editing = item.getAttribute("data-item-id");
  document.getElementById("queue-edit-file").textContent = fileOf(item);
  editForm.elements.copies.value = item.getAttribute("data-copies");
  editForm.elements.priority.value = item.getAttribute("data-priority");
  editForm.elements.not_before.value = toLocalInput(item.getAttribute("data-not-before"));
  clearStatus(editStatus);
  editDialog.showModal();
});

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const when = editForm.elements.not_before.value;
  const notBefore = when ? new Date(when) : null;
  if (notBefore && Number.isNaN(notBefore.getTime())) {
    showStatus(editStatus, "error", "Not before must be a date and time, or empty.");
    return;
  }
  const res = await api("PATCH", `/api/v1/queue/${encodeURIComponent(editing)}`, {
    copies: Number(editForm.elements.copies.value),
    priority: Number(editForm.elements.priority.value),
    not_before: notBefore ? notBefore.toISOString() : null,
  });
  if (!res.ok) {
    showStatus(editStatus, "error", res.message);
    return;
  }
  editDialog.close();
  showStatus(status, "success", `“${res.data?.file_name ?? "The job"}” was saved.`);
  await refresh({ force: true });
});

// ---------------------------------------------------------------- cancel / remove

const confirmDialog = document.getElementById("queue-confirm-dialog");
const confirmForm = document.getElementById("queue-confirm-form");
const confirmStatus = document.getElementById("queue-confirm-status");
let confirming = null;

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-cancel], [data-remove]") : null;
  if (!button || !confirmForm) return;
  const item = itemOf(button);
  const cancel = button.hasAttribute("data-cancel");
  confirming = { id: item.getAttribute("data-item-id"), file: fileOf(item), cancel };
  document.getElementById("queue-confirm-title").textContent = cancel
    ? `Cancel “${confirming.file}”?`
    : `Remove “${confirming.file}” from the list?`;
  document.getElementById("queue-confirm-text").textContent = cancel
    ? "The job leaves the queue and will not be printed. The audit log keeps who cancelled it."
    : "The ended job disappears from the queue; its prints stay in the archive.";
  document.getElementById("queue-confirm-submit").textContent = cancel ? "Cancel the job" : "Remove it";
  clearStatus(confirmStatus);
  confirmDialog.showModal();
});

confirmForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const res = await api("DELETE", `/api/v1/queue/${encodeURIComponent(confirming.id)}`);
  if (!res.ok) {
    showStatus(confirmStatus, "error", res.message);
    return;
  }
  confirmDialog.close();
  showStatus(status, "success", confirming.cancel ? `“${confirming.file}” was cancelled.` : `“${confirming.file}” was removed.`);
  await refresh({ force: true });
});

// Thumbnails the viewer may not load (a file they cannot read) fall back to no picture.
document.addEventListener(
  "error",
  (event) => {
    if (event.target instanceof HTMLImageElement && event.target.closest(".queue-item__thumb")) {
      event.target.hidden = true;
    }
  },
  true,
);

