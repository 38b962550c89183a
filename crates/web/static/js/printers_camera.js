// printwarden — /printers?view=cameras: the camera wall. 2–16 tiles of the printers the
// viewer picked; each tile streams through the one authenticated camera path
// (`/api/v1/printers/{id}/camera/ws` through camera_stream.js: JPEG pictures in an <img> for
// A1/P1, H.264 as fragmented MP4 in a <video> for X1/H2/P2S; the session cookie authenticates
// the upgrade and the server checks `camera:view` on that printer before any frame), names
// the printer and its state in words, says "offline" or "no picture" in words, and leads to
// the printer's card.
//
// Invariants: only printers the server offered in the pick dialog (those whose camera the
// viewer may watch) ever get a tile, whatever the address or the browser's memory says; a
// socket is open only while the wall is shown and the printer online, so the printer's one
// camera connection is freed when nobody looks. The pick is kept in the address (`?cams=1,2`,
// a wall screen's bookmark) and remembered per user in this browser.

import { clearStatus, el, showStatus } from "./lib.js";
import { STATE_CLASSES, stateClass } from "./farm.js";
import { openCamera } from "./camera_stream.js";

const MAX_TILES = 16;
/** Wait before asking a silent or refused camera again. */
const RETRY_MS = 10_000;

const wall = document.getElementById("camera-wall");
const tiles = document.getElementById("camera-tiles");
const empty = document.getElementById("camera-wall-empty");
const pickDialog = document.getElementById("camera-pick-dialog");
const pickForm = document.getElementById("camera-pick-form");
const pickStatus = document.getElementById("camera-pick-status");
const storageKey = `printwarden.cameras.${wall?.getAttribute("data-viewer") || "everyone"}`;

/** id → { camera, timer, closing } for each tile's stream. */
const streams = new Map();
let shown = false;

/** The printers the server offered: the only ones a tile may show. */
function offered() {
  return new Set([...(pickForm?.querySelectorAll("input[name=printer_id]") ?? [])].map((i) => i.value));
}

function cleanPick(ids) {
  const allowed = offered();
  const seen = new Set();
  return ids.filter((id) => allowed.has(id) && !seen.has(id) && seen.add(id)).slice(0, MAX_TILES);
}

function remembered() {
  try {
    const value = JSON.parse(localStorage.getItem(storageKey) ?? "[]");
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}

/** The pick: the address first (a shared link or bookmark), else this user's last pick. */
function currentPick() {
  const cams = new URLSearchParams(location.search).get("cams");
  if (cams !== null) return cleanPick(cams.split(",").filter((s) => s !== ""));
  return cleanPick(remembered());
}

function savePick(ids) {
  try {
    localStorage.setItem(storageKey, JSON.stringify(ids));
  } catch {
    // Private mode or a full store: the address still carries the pick.
  }
  const params = new URLSearchParams(location.search);
  if (ids.length > 0) params.set("cams", ids.join(","));
  else params.delete("cams");
  const query = params.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
}

function card(id) {
  return document.querySelector(`#printers [data-printer-id="${CSS.escape(id)}"]`);
}

function tile(id) {
  return tiles?.querySelector(`[data-printer-id="${CSS.escape(id)}"]`) ?? null;
}

function setNote(t, text) {
  const note = t.querySelector("[data-tile-note]");
  if (!note) return;
  note.textContent = text;
  note.hidden = text === "";
}

function stop(id) {
  const s = streams.get(id);
  if (!s) return;
  clearTimeout(s.timer);
  s.closing = true;
  s.camera?.stop();
  streams.delete(id);
}

function stopAll() {
  for (const id of [...streams.keys()]) stop(id);
}

function online(id) {
  return card(id)?.getAttribute("data-connection") === "online";
}

/** Opens the tile's stream when the wall is shown and the printer online. */
function start(id) {
  const t = tile(id);
  if (!t || !shown || streams.has(id)) return;
  if (!online(id)) {
    t.setAttribute("data-live", "false");
    setNote(t, "Offline: no picture until the printer is back.");
    return;
  }
  setNote(t, "Connecting to the camera…");
  const s = { camera: null, timer: 0, closing: false };
  streams.set(id, s);
  const picture = t.querySelector(".camera-tile__picture");
  s.camera = openCamera(id, picture, {
    onPicture(count) {
      t.setAttribute("data-frames", String(count));
      if (count === 1) {
        t.setAttribute("data-live", "true");
        setNote(t, "");
      }
    },
    onError(text) {
      setNote(t, text);
    },
    onClose(event) {
      closed(id, t, s, event);
    },
  });
}

/** The tile's socket closed: say why, and knock again later unless rights changed. */
function closed(id, t, s, event) {
  if (s.closing || streams.get(id) !== s) return;
  streams.delete(id);
  t.setAttribute("data-live", "false");
  if (event.code === 4403 || event.code === 4001) {
    // Rights changed (or were never there): do not knock again.
    setNote(t, "You may no longer watch this camera.");
    return;
  }
  setNote(
    t,
    online(id) ? "No picture: the camera is not answering. Trying again shortly." : "Offline: no picture until the printer is back.",
  );
  // A waiting entry, so leaving the wall (stop) cancels the retry.
  const waiting = { camera: null, timer: 0, closing: true };
  waiting.timer = setTimeout(() => {
    if (streams.get(id) !== waiting) return;
    streams.delete(id);
    if (shown && tile(id)) start(id);
  }, RETRY_MS);
  streams.set(id, waiting);
}

function describe(t, id) {
  const c = card(id);
  const state = c?.querySelector('[data-field="state"]')?.textContent?.trim() || "Unknown";
  const glance = c?.getAttribute("data-glance") ?? "";
  const badge = t.querySelector("[data-tile-state]");
  if (badge) {
    badge.textContent = state;
    badge.className = `badge badge--${stateClass(glance)}`;
  }
  for (const cls of STATE_CLASSES) t.classList.toggle(`camera-tile--${cls}`, cls === stateClass(glance));
}

function build(id) {
  const c = card(id);
  const name = c?.getAttribute("data-name") ?? `Printer ${id}`;
  const t = el(
    "li",
    { class: "camera-tile", "data-printer-id": id, "data-frames": "0", "data-live": "false" },
    el(
      "a",
      { class: "camera-tile__link", href: `/printers?view=cards#printer-${encodeURIComponent(id)}` },
      el(
        "span",
        { class: "camera-tile__picture" },
        el("img", { alt: `Live camera of ${name}`, width: "640", height: "360" }),
        el("span", { class: "camera-tile__note", "data-tile-note": "" }),
      ),
      el(
        "span",
        { class: "camera-tile__caption" },
        el("span", { class: "camera-tile__name", title: name }, name),
        el("span", { class: "badge", "data-tile-state": "" }),
      ),
    ),
  );
  describe(t, id);
  return t;
}

function render() {
  if (!tiles) return;
  const ids = currentPick();
  stopAll();
  tiles.replaceChildren(...ids.map(build));
  tiles.setAttribute("data-count", String(ids.length));
  if (empty) empty.hidden = ids.length > 0;
  if (shown) for (const id of ids) start(id);
}

/** Shows or hides the wall; streams run only while it is shown. */
export function showCameraWall(on) {
  if (!wall) return;
  wall.hidden = !on;
  shown = on;
  if (on) render();
  else {
    stopAll();
    tiles?.replaceChildren();
  }
}

/** A printer changed (from the events socket): its tile's state, and its stream with it. */
export function updateCameraTile(p) {
  const id = String(p.id);
  const t = tile(id);
  if (!t) return;
  describe(t, id);
  if (!shown) return;
  if (p.connection !== "online") {
    stop(id);
    t.querySelector("img")?.removeAttribute("src");
    t.setAttribute("data-live", "false");
    setNote(t, "Offline: no picture until the printer is back.");
  } else if (!streams.has(id)) {
    start(id);
  }
}

document.getElementById("choose-cameras")?.addEventListener("click", () => {
  const pick = new Set(currentPick());
  for (const box of pickForm.querySelectorAll("input[name=printer_id]")) box.checked = pick.has(box.value);
  clearStatus(pickStatus);
  pickDialog.showModal();
});

pickForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const ids = [...pickForm.querySelectorAll("input[name=printer_id]:checked")].map((b) => b.value);
  if (ids.length > MAX_TILES) {
    showStatus(pickStatus, "error", `Choose at most ${MAX_TILES} printers; ${ids.length} are ticked.`);
    return;
  }
  savePick(cleanPick(ids));
  pickDialog.close();
  render();
});

// Leaving the tab frees the cameras; coming back reopens them.
document.addEventListener("visibilitychange", () => {
  if (!wall || wall.hidden) return;
  if (document.hidden) {
    shown = false;
    stopAll();
  } else {
    shown = true;
    render();
  }
});
