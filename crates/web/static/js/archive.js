// printwarden — /archive and /archive/{id}.
//
// List: the grid/list choice (kept in this browser), the reader's time zone
// sent with the filter form (the server turns the "From"/"To" days into
// instants), and the purge dialog. Detail: notes, tags and rating saved
// through the API, a photo upload with progress that can be cancelled, and
// the delete dialog. Everywhere: start/end times as "today 14:20" in the
// reader's zone, with the exact instant in the tooltip.

import { api, clearStatus, setBusy, setFlash, showStatus } from "./lib.js";

// ---------------------------------------------------------------------------
// Times: "today 14:20", "yesterday 09:05", "Mon 23 Nov 14:20"
// ---------------------------------------------------------------------------

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayThisYear = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const dayOtherYear = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** An instant in words relative to today, in the reader's zone. */
export function whenText(date, now = new Date()) {
  const days = Math.round((startOfDay(now) - startOfDay(date)) / 86_400_000);
  const time = clock.format(date);
  if (days === 0) return `today ${time}`;
  if (days === 1) return `yesterday ${time}`;
  if (date.getFullYear() === now.getFullYear()) return `${dayThisYear.format(date)} ${time}`;
  return `${dayOtherYear.format(date)} ${time}`;
}

for (const node of document.querySelectorAll("time[datetime][data-when]")) {
  const iso = node.getAttribute("datetime") ?? "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) continue;
  node.textContent = whenText(when);
  node.setAttribute("title", exact.format(when));
}

// ---------------------------------------------------------------------------
// List: grid or table, remembered
// ---------------------------------------------------------------------------

const VIEW_KEY = "pw-archive-view";
const grid = document.getElementById("archive-grid");
const list = document.getElementById("archive-list");
const toggles = document.querySelectorAll("[data-archive-view]");

function readView() {
  try {
    return localStorage.getItem(VIEW_KEY) === "list" ? "list" : "grid";
  } catch {
    return "grid";
  }
}

function showView(view) {
  if (grid) grid.hidden = view !== "grid";
  if (list) list.hidden = view !== "list";
  for (const button of toggles) {
    button.setAttribute("aria-pressed", button.getAttribute("data-archive-view") === view ? "true" : "false");
  }
}

for (const button of toggles) {
  button.addEventListener("click", () => {
    const view = button.getAttribute("data-archive-view") === "list" ? "list" : "grid";
    try {
      localStorage.setItem(VIEW_KEY, view);
    } catch {
      // Storage off: the choice lasts for this page only.
    }
    showView(view);
  });
}
if (toggles.length > 0) showView(readView());

// The filter form sends the reader's zone, so "From"/"To" are their days (the server reads
// them as UTC days without it).
const filters = document.getElementById("archive-filters");
const tz = document.getElementById("archive-tz");
filters?.addEventListener("submit", () => {
  const from = filters.elements.namedItem("from")?.value;
  const to = filters.elements.namedItem("to")?.value;
  if (!tz) return;
  tz.value = from || to ? String(new Date().getTimezoneOffset()) : "";
  // Empty fields stay out of the address, so a shared link is short.
  for (const field of filters.querySelectorAll("input[name], select[name]")) {
    if (field.value === "") field.disabled = true;
  }
  // Re-enabled for the back button (the page is restored from the cache).
  setTimeout(() => {
    for (const field of filters.querySelectorAll("[disabled]")) field.disabled = false;
  }, 0);
});

// ---------------------------------------------------------------------------
// Purge
// ---------------------------------------------------------------------------

const purgeDialog = document.getElementById("purge-dialog");
const purgeForm = document.getElementById("purge-form");
const purgeStatus = document.getElementById("purge-status");

document.getElementById("archive-purge")?.addEventListener("click", () => {
  clearStatus(purgeStatus);
  purgeDialog?.showModal();
});

purgeForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const day = String(new FormData(purgeForm).get("before") ?? "");
  const before = new Date(`${day}T00:00:00`); // local midnight
  if (!day || Number.isNaN(before.getTime())) {
    showStatus(purgeStatus, "error", "Choose a day.");
    return;
  }
  setBusy(purgeForm, true);
  const res = await api("POST", "/api/v1/archives/purge", { before: before.toISOString() });
  setBusy(purgeForm, false);
  if (!res.ok) {
    showStatus(purgeStatus, "error", res.message);
    return;
  }
  const n = res.data?.deleted ?? 0;
  setFlash(`${n} archive entr${n === 1 ? "y" : "ies"} deleted.`);
  location.reload();
});

// ---------------------------------------------------------------------------
// Detail: notes, tags, rating
// ---------------------------------------------------------------------------

const entry = document.getElementById("archive-entry");
const entryId = entry?.getAttribute("data-archive-id");
const entryPath = entryId ? `/api/v1/archives/${encodeURIComponent(entryId)}` : null;
const entryForm = document.getElementById("entry-form");
const entryStatus = document.getElementById("entry-status");

entryForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(entryForm);
  const tags = String(data.get("tags") ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const rating = String(data.get("rating") ?? "");
  const body = {
    notes: String(data.get("notes") ?? ""),
    tags,
    rating: rating === "" ? null : Number(rating),
  };
  setBusy(entryForm, true);
  const res = await api("PATCH", entryPath, body);
  setBusy(entryForm, false);
  if (!res.ok) {
    showStatus(entryStatus, "error", res.message);
    return;
  }
  const tagInput = entryForm.elements.namedItem("tags");
  if (tagInput) tagInput.value = (res.data?.tags ?? tags).join(", ");
  showStatus(entryStatus, "success", "Saved.");
});

// ---------------------------------------------------------------------------
// Detail: photo upload with progress
// ---------------------------------------------------------------------------

const photoForm = document.getElementById("photo-form");
const photoStatus = document.getElementById("photo-status");
const photoProgress = document.getElementById("photo-progress");
const photoCancel = document.getElementById("photo-cancel");
let upload = null;

function endUpload() {
  upload = null;
  if (photoProgress) photoProgress.hidden = true;
  if (photoCancel) photoCancel.hidden = true;
  if (photoForm) setBusy(photoForm, false);
}

photoForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = photoForm.querySelector("input[type=file]")?.files?.[0];
  if (!file || !entryPath || upload) return;
  clearStatus(photoStatus);
  const body = new FormData();
  body.append("file", file, file.name);
  // XMLHttpRequest for upload progress (fetch has none); same-origin, so the browser sends
  // our Origin and the session cookie.
  const xhr = new XMLHttpRequest();
  upload = xhr;
  xhr.open("POST", `${entryPath}/photos`);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable || !photoProgress) return;
    const percent = Math.round((e.loaded / e.total) * 100);
    photoProgress.value = percent;
    photoProgress.textContent = `${percent}%`;
  });
  xhr.addEventListener("load", () => {
    endUpload();
    if (xhr.status >= 200 && xhr.status < 300) {
      setFlash("Photo added.");
      location.reload();
      return;
    }
    let message = `The server answered with status ${xhr.status}.`;
    try {
      message = JSON.parse(xhr.responseText)?.error?.message ?? message;
    } catch {
      // Not JSON: keep the status line.
    }
    showStatus(photoStatus, "error", message);
  });
  xhr.addEventListener("error", () => {
    endUpload();
    showStatus(photoStatus, "error", "The server could not be reached. Check the connection and try again.");
  });
  xhr.addEventListener("abort", () => {
    endUpload();
    showStatus(photoStatus, "info", "Upload cancelled.");
  });
  setBusy(photoForm, true);
  if (photoProgress) {
    photoProgress.value = 0;
    photoProgress.hidden = false;
  }
  if (photoCancel) photoCancel.hidden = false;
  xhr.send(body);
});

photoCancel?.addEventListener("click", () => upload?.abort());

// ---------------------------------------------------------------------------
// Detail: delete
// ---------------------------------------------------------------------------

const deleteDialog = document.getElementById("delete-entry-dialog");
const deleteForm = document.getElementById("delete-entry-form");
const deleteStatus = document.getElementById("delete-entry-status");

document.getElementById("entry-delete")?.addEventListener("click", () => {
  clearStatus(deleteStatus);
  deleteDialog?.showModal();
});

deleteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  setBusy(deleteForm, true);
  const res = await api("DELETE", entryPath);
  setBusy(deleteForm, false);
  if (res.ok || res.status === 404) {
    setFlash(`The entry for ${entry?.getAttribute("data-file") ?? "the print"} was deleted.`);
    location.assign("/archive");
    return;
  }
  showStatus(deleteStatus, "error", res.message);
});
