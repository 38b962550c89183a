// printwarden — /printers: follows the events WebSocket and updates the
// server-rendered cards in place (no layout shift: the same elements change
// their text and attributes), applies the view choice (search, filters, sort,
// cards or list) without a reload and keeps it in the address, and sends the
// commands the viewer may use. Controls exist only where the server rendered
// them (the viewer's rights on that printer); this module shows each one only
// when the printer's state allows it.
// A card appears or disappears only by reloading the page's truth. On a paged list (more
// printers than one page) the socket still reports every printer the viewer may read: only
// this page's cards are followed, so other pages' printers never force a reload.

import { api, clearStatus, confirmAction, el, fill, setFlash, showStatus } from "./lib.js";
import { STATE_CLASSES, controlsFor, doneWords, followEvents, localizeEnds, minutesWords, stateAnnouncer, stateClass } from "./farm.js";
import { openCamera } from "./camera_stream.js";
import { showCameraWall, updateCameraTile } from "./printers_camera.js";
import { openPrintDialog } from "./printers_print.js";

const RING = 163.363;
const LOW_FILAMENT_PERCENT = 15;
const grid = document.getElementById("printers");
const liveState = document.getElementById("live-state");
const paged = grid?.getAttribute("data-paged") === "true";
const announce = stateAnnouncer(document.getElementById("printer-announcer"));

function temperature(t) {
  if (!t || t.current === null || t.current === undefined) return "—";
  const current = Math.round(t.current);
  return t.target > 0 ? `${current} / ${Math.round(t.target)} °C` : `${current} °C`;
}

function setText(card, field, text) {
  const node = card.querySelector(`[data-field="${field}"]`);
  if (node && node.textContent !== text) node.textContent = text;
}

function setHidden(card, field, hidden) {
  const node = card.querySelector(`[data-field="${field}"]`);
  if (node) node.hidden = hidden;
}

/** A fact row (chamber, speed, fans, light): its value, hidden while the printer does not report it. */
function setFact(card, fact, text) {
  setText(card, fact, text);
  const row = card.querySelector(`[data-fact="${fact}"]`);
  if (row) row.hidden = text === "";
}

const SVG = "http://www.w3.org/2000/svg";
const SPEEDS = { 1: "Silent", 2: "Standard", 3: "Sport", 4: "Ludicrous" };

function trayItem(t) {
  const place = t.ams === "external" ? "External spool" : `AMS ${t.ams} tray ${t.tray}`;
  const remain = t.remain === null || t.remain === undefined ? "" : `${t.remain}%`;
  let label = `${place}: empty`;
  if (t.material) label = remain ? `${place}: ${t.material}, ${remain} left` : `${place}: ${t.material}`;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const dot = document.createElementNS(SVG, "circle");
  dot.setAttribute("cx", "8");
  dot.setAttribute("cy", "8");
  dot.setAttribute("r", "7");
  dot.setAttribute("fill", `#${(t.color || "000000").slice(0, 6)}`);
  svg.append(dot);
  const low = Boolean(t.material) && remain !== "" && t.remain <= LOW_FILAMENT_PERCENT;
  const shown = `${t.ams === "external" ? "Ext. " : ""}${t.material}${remain ? ` ${remain}` : ""}`;
  return el(
    "li",
    { class: low ? "tray tray--low" : "tray", title: label },
    svg,
    el("span", { class: "visually-hidden" }, label),
    el("span", { class: "tray__material", "aria-hidden": "true" }, shown),
  );
}

function showControl(card, selector, shown) {
  const node = card.querySelector(selector);
  if (node) node.hidden = !shown;
}

function update(p) {
  const card = grid?.querySelector(`[data-printer-id="${p.id}"]`);
  if (card) announce(p);
  if (!card) {
    // On a paged list, another page's printer.
    if (paged) return;
    // A printer this page does not show yet: take the server's page.
    location.reload();
    return;
  }
  const cls = stateClass(p.glance);
  for (const c of STATE_CLASSES) {
    card.classList.toggle(`card--${c}`, c === cls);
  }
  card.setAttribute("data-connection", p.connection);
  const glanceChanged = card.getAttribute("data-glance") !== p.glance;
  card.setAttribute("data-glance", p.glance);
  card.setAttribute("data-ends", p.ends_at_ms == null ? "" : String(p.ends_at_ms));
  const badge = card.querySelector('[data-field="state"]');
  if (badge) {
    badge.className = `badge badge--${cls}`;
    if (badge.textContent !== p.state_words) {
      badge.textContent = p.state_words;
      badge.title = p.state_words;
    }
  }
  const s = p.status;
  const percent = s?.percent ?? 0;
  card.querySelector('[data-field="ring"]')?.setAttribute("stroke-dashoffset", (RING * (1 - percent / 100)).toFixed(2));
  setText(card, "percent", `${percent}%`);
  setText(card, "percent_text", `${percent}%`);
  setText(card, "problem", p.problem ?? "");
  setHidden(card, "problem", !p.problem);
  // Flapping, in words (the server renders the same sentence on first paint).
  const drops = p.connection_drops_last_hour ?? 0;
  setText(
    card,
    "drops",
    drops === 1 ? "Connection dropped once in the last hour" : `Connection dropped ${drops} times in the last hour`,
  );
  setHidden(card, "drops", drops === 0);
  setHidden(card, "devmode", !p.developer_mode_off);
  setHidden(card, "trust", p.connection !== "certificate_changed");
  // The queue's plate gate: shown while a print ended and nobody confirmed the plate clear
  // (`plate_cleared: false`), unless the printer or its location waives the confirmation.
  setHidden(
    card,
    "plate",
    !(p.plate_cleared === false && !p.waive_plate_clear && !p.location_waives_plate_clear),
  );
  setText(card, "job", s?.job_name || "—");
  // The running job's archive entry: present only when this viewer may read it.
  const archive = card.querySelector('[data-field="archive"]');
  if (archive) {
    const href = p.archive_id == null ? "" : `/archive/${encodeURIComponent(p.archive_id)}`;
    const link = archive.querySelector("a");
    if (link && href && link.getAttribute("href") !== href) link.setAttribute("href", href);
    archive.hidden = href === "";
  }
  const minutes = s?.busy ? (s?.remaining_minutes ?? 0) : 0;
  setText(card, "time_left", minutes > 0 ? minutesWords(minutes) : "");
  const done = card.querySelector('[data-field="done"]');
  if (done) {
    done.setAttribute("data-ends-ms", p.ends_at_ms == null ? "" : String(p.ends_at_ms));
    const text = p.ends_at_ms == null ? "" : doneWords(p.ends_at_ms);
    if (done.textContent !== text) done.textContent = text;
  }
  setText(card, "layers", s?.total_layers ? `${s.layer ?? 0} / ${s.total_layers}` : "—");
  setText(card, "nozzle", s ? temperature(s.nozzle) : "—");
  setText(card, "bed", s ? temperature(s.bed) : "—");
  setFact(card, "chamber", s?.chamber == null ? "" : `${Math.round(s.chamber)} °C`);
  setFact(card, "speed", s?.speed_level == null ? "" : (SPEEDS[s.speed_level] ?? `Level ${s.speed_level}`));
  const fans = [
    ["part", s?.part_fan],
    ["aux", s?.aux_fan],
    ["chamber", s?.chamber_fan],
  ]
    .filter(([, v]) => v != null)
    .map(([n, v]) => `${n} ${v}%`)
    .join(", ");
  setFact(card, "fans", fans);
  setFact(card, "light", s?.light == null ? "" : s.light ? "On" : "Off");
  const trays = card.querySelector('[data-field="trays"]');
  const spools = [...(s?.trays ?? [])];
  if (s?.external_spool?.material) spools.push(s.external_spool);
  const trayKey = JSON.stringify(spools);
  if (trays && trays.getAttribute("data-key") !== trayKey) {
    trays.setAttribute("data-key", trayKey);
    trays.replaceChildren(...spools.map(trayItem));
  }
  const hms = card.querySelector('[data-field="hms"]');
  if (hms) {
    const codes = s?.hms ?? [];
    hms.replaceChildren(...codes.map((h) => el("li", {}, el("code", {}, `HMS ${h}`))));
    hms.hidden = codes.length === 0;
  }
  // Controls follow the state: Pause only while printing, Resume only while paused, Stop only
  // with a job, and nothing that needs the printer while it is offline.
  const allowed = controlsFor(p);
  showControl(card, '[data-command="pause"]', allowed.pause);
  showControl(card, '[data-command="resume"]', allowed.resume);
  showControl(card, '[data-command="stop"]', allowed.stop);
  showControl(card, "[data-print]", allowed.ready);
  showControl(card, "[data-print-file]", allowed.ready);
  showControl(card, "[data-files]", allowed.online);
  const camera = card.querySelector("[data-camera]");
  if (camera) {
    camera.hidden = !allowed.online;
    if (!allowed.online && camera.getAttribute("aria-expanded") === "true") toggleCamera(card, String(p.id), camera);
  }
  updateCameraTile(p);
  if (glanceChanged) applyChoice(false);
}

function onEvent(message) {
  if (message.type === "snapshot") {
    const shown = new Set([...(grid?.querySelectorAll("[data-printer-id]") ?? [])].map((c) => c.getAttribute("data-printer-id")));
    const sent = new Set(message.printers.map((p) => String(p.id)));
    const stale = paged
      ? [...shown].some((id) => !sent.has(id))
      : shown.size !== sent.size || [...sent].some((id) => !shown.has(id));
    if (stale) {
      location.reload();
      return;
    }
    message.printers.forEach(update);
  } else if (message.type === "printer") {
    update(message.printer);
  } else if (message.type === "removed") {
    if (paged && !grid?.querySelector(`[data-printer-id="${message.id}"]`)) return;
    location.reload();
  }
}

// ---------------------------------------------------------------------------
// The view choice: search, filters, sort, cards or list — kept in the address
// ---------------------------------------------------------------------------

const filters = document.getElementById("printer-filters");
const noMatch = document.getElementById("no-match");
const shownCount = document.getElementById("printers-shown");
const GLANCE_ORDER = ["printing", "paused", "finished", "error", "certificate_changed", "offline", "idle"];

function choice() {
  if (!filters) return null;
  const data = new FormData(filters);
  const text = (k) => String(data.get(k) ?? "").trim();
  return {
    q: text("q"),
    state: text("state"),
    location: text("location"),
    model: text("model"),
    sort: text("sort") || "name",
    view: text("view") || "cards",
  };
}

function matches(card, c) {
  if (c.state && card.getAttribute("data-glance") !== c.state) return false;
  const loc = card.getAttribute("data-location-id") ?? "";
  if (c.location === "none" && loc !== "") return false;
  if (c.location && c.location !== "none" && loc !== c.location) return false;
  if (c.model && (card.getAttribute("data-model") ?? "").toLowerCase() !== c.model.toLowerCase()) return false;
  if (!c.q) return true;
  const q = c.q.toLowerCase();
  return ["data-name", "data-model", "data-location"].some((a) => (card.getAttribute(a) ?? "").toLowerCase().includes(q));
}

function sortKey(card, sort) {
  const name = (card.getAttribute("data-name") ?? "").toLowerCase();
  switch (sort) {
    case "state":
      return [GLANCE_ORDER.indexOf(card.getAttribute("data-glance")), name];
    case "time": {
      const ends = card.getAttribute("data-ends");
      return ends ? [0, Number(ends), name] : [1, 0, name];
    }
    case "location": {
      const l = (card.getAttribute("data-location") ?? "").toLowerCase();
      return [l === "" ? 1 : 0, l, name];
    }
    case "model":
      return [(card.getAttribute("data-model") ?? "").toLowerCase(), name];
    default:
      return [name];
  }
}

function compare(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

let wallShown = false;

/** Shows, orders and lays out the cards as chosen; `remember` writes the choice into the address. */
function applyChoice(remember) {
  const c = choice();
  if (!c || !grid) return;
  const cards = [...grid.querySelectorAll(":scope > [data-printer-id]")];
  let shown = 0;
  for (const card of cards) {
    const match = matches(card, c);
    card.hidden = !match;
    if (match) shown += 1;
  }
  // An explicit page (?limit=) keeps the API's order.
  if (!paged) {
    const sorted = cards
      .map((card) => ({ card, key: sortKey(card, c.sort) }))
      .sort((x, y) => compare(x.key, y.key))
      .map((x) => x.card);
    if (sorted.some((card, i) => card !== cards[i])) grid.append(...sorted);
  }
  const list = c.view === "list";
  const cameras = c.view === "cameras";
  grid.classList.toggle("printer-grid--list", list);
  grid.classList.toggle("card-grid", !list);
  grid.setAttribute("data-view", list ? "list" : "cards");
  // The camera wall replaces the cards; its tiles follow the viewer's pick, not the filters.
  grid.hidden = cameras;
  if (cameras !== wallShown) {
    wallShown = cameras;
    showCameraWall(cameras);
  }
  if (noMatch) noMatch.hidden = shown > 0 || cameras;
  if (shownCount) {
    const total = cards.length;
    shownCount.textContent = shown === total ? `${total} printer${total === 1 ? "" : "s"}` : `${shown} of ${total} printers`;
  }
  if (remember) {
    const params = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(c)) {
      const fallback = k === "sort" ? "name" : k === "view" ? "cards" : "";
      if (v && v !== fallback) params.set(k, v);
      else params.delete(k);
    }
    const query = params.toString();
    history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
  }
}

filters?.addEventListener("submit", (event) => {
  event.preventDefault();
  applyChoice(true);
});
filters?.addEventListener("change", () => applyChoice(true));
filters?.addEventListener("input", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.type === "search") applyChoice(true);
});

// ---------------------------------------------------------------------------
// Commands, printing, certificate approval
// ---------------------------------------------------------------------------

function cardStatus(card, kind, text) {
  const node = card.querySelector('[data-field="status"]');
  if (node) showStatus(node, kind, text);
}

const SENT = { pause: "Pause sent.", resume: "Resume sent.", stop: "Stop sent." };

grid?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const card = event.target.closest("[data-printer-id]");
  if (!card) return;
  const id = card.getAttribute("data-printer-id");
  const button = event.target.closest("[data-command]");
  if (button) {
    const command = button.getAttribute("data-command");
    const name = card.getAttribute("data-name") ?? "the printer";
    if (command === "stop") {
      const sure = await confirmAction({
        title: `Stop the job on ${name}?`,
        message: "A stopped print cannot be resumed; what is on the plate stays there.",
        confirm: "Stop the job",
      });
      if (!sure) return;
    }
    button.disabled = true;
    const res = await api("POST", `/api/v1/printers/${encodeURIComponent(id)}/commands`, { command });
    button.disabled = false;
    if (!res.ok) cardStatus(card, "error", res.message);
    else if (!res.data?.ok) cardStatus(card, "error", `The printer refused: ${res.data?.reason ?? "no reason given"}`);
    else cardStatus(card, "success", SENT[command] ?? "Sent.");
    return;
  }
  const plate = event.target.closest("[data-plate-cleared]");
  if (plate) {
    plate.disabled = true;
    const res = await api("POST", `/api/v1/printers/${encodeURIComponent(id)}/plate-cleared`);
    plate.disabled = false;
    if (!res.ok) cardStatus(card, "error", res.message);
    else {
      setHidden(card, "plate", true);
      cardStatus(card, "success", "Thanks: the plate is marked clear, the next job may start.");
    }
    return;
  }
  if (event.target.closest("[data-print-file]")) {
    openPrintDialog(card);
    return;
  }
  if (event.target.closest("[data-trust]")) openTrust(id);
  const edit = event.target.closest("[data-edit]");
  if (edit) openEdit(id, edit.hasAttribute("data-can-delete"));
  if (event.target.closest("[data-files]")) openFiles(card, id);
  const camera = event.target.closest("[data-camera]");
  if (camera) toggleCamera(card, id, camera);
});

// The card's camera: A1/P1 as an MJPEG stream in an <img> (the browser sends the session
// cookie, and the stream stops when the image is removed, src cleared); X1/H2/P2S (the figure
// says data-video) as H.264 in a <video> through the camera socket (camera_stream.js), stopped
// when the camera is closed. Either way the printer's one camera connection is freed once
// nobody watches.
const cardCameras = new Map();

function toggleCamera(card, id, button) {
  const figure = card.querySelector('[data-field="camera"]');
  if (!figure) return;
  const open = figure.hidden;
  figure.hidden = !open;
  button.setAttribute("aria-expanded", open ? "true" : "false");
  const note = figure.querySelector("[data-camera-note]");
  if (figure.hasAttribute("data-video")) {
    cardCameras.get(id)?.stop();
    cardCameras.delete(id);
    if (note) note.hidden = true;
    if (!open) return;
    const say = (text) => {
      if (!note) return;
      note.textContent = text;
      note.hidden = text === "";
    };
    say("Connecting to the camera…");
    cardCameras.set(
      id,
      openCamera(id, figure, {
        onPicture: (count) => {
          figure.setAttribute("data-frames", String(count));
          if (count === 1) say("");
        },
        onError: say,
        onClose: (event) => {
          cardCameras.delete(id);
          say(event.code === 4403 || event.code === 4001 ? "You may no longer watch this camera." : "No picture: the camera is not answering.");
        },
      }),
    );
    return;
  }
  const img = figure.querySelector("img");
  if (!img) return;
  if (open) img.setAttribute("src", `/api/v1/printers/${encodeURIComponent(id)}/camera/stream`);
  else img.removeAttribute("src");
}

grid?.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-print")) return;
  event.preventDefault();
  const card = form.closest("[data-printer-id]");
  const id = card?.getAttribute("data-printer-id");
  const file = form.querySelector("input[type=file]")?.files?.[0];
  if (!card || !id || !file) return;
  const bar = form.querySelector("progress");
  const submit = form.querySelector("button[type=submit]");
  // XMLHttpRequest for upload progress (fetch has none); same-origin, so the browser sends
  // our Origin and the session cookie.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/v1/printers/${encodeURIComponent(id)}/print?file=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (e) => {
    if (bar && e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
  });
  xhr.addEventListener("loadend", () => {
    if (bar) bar.hidden = true;
    if (submit) submit.disabled = false;
    let data = null;
    try {
      data = JSON.parse(xhr.responseText);
    } catch {
      data = null;
    }
    if (xhr.status === 401) toLogin();
    else if (xhr.status !== 200) cardStatus(card, "error", data?.error?.message ?? `Upload failed (status ${xhr.status}).`);
    else if (!data?.ok) cardStatus(card, "error", `The printer refused: ${data?.reason ?? "no reason given"}`);
    else cardStatus(card, "success", `${file.name} sent; the printer is starting it.`);
  });
  if (bar) {
    bar.value = 0;
    bar.hidden = false;
  }
  if (submit) submit.disabled = true;
  clearStatus(card.querySelector('[data-field="status"]'));
  xhr.send(file);
});

const trustDialog = document.getElementById("trust-dialog");
const trustForm = document.getElementById("trust-form");
const trustStatus = document.getElementById("trust-status");
let trusting = null;

async function openTrust(id) {
  const res = await api("GET", `/api/v1/printers/${encodeURIComponent(id)}/certificate`);
  if (!res.ok) return;
  trusting = { id, presented: res.data.presented_sha256 };
  fill(trustDialog, { pinned: res.data.pinned_sha256 ?? "none", presented: res.data.presented_sha256 ?? "none" });
  clearStatus(trustStatus);
  trustDialog.showModal();
}

trustForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!trusting?.presented) return;
  const res = await api("POST", `/api/v1/printers/${encodeURIComponent(trusting.id)}/certificate/trust`, {
    sha256: trusting.presented,
  });
  if (res.ok) {
    setFlash("The new certificate is trusted; the printer reconnects.");
    location.reload();
    return;
  }
  showStatus(trustStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Files on a printer
// ---------------------------------------------------------------------------

const filesDialog = document.getElementById("files-dialog");
const filesBody = document.querySelector("#files-table tbody");
const filesEmpty = document.getElementById("files-empty");
const filesStatus = document.getElementById("files-status");

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${bytes} B`;
}

async function openFiles(card, id) {
  const name = card.querySelector('[data-field="name"]')?.textContent ?? "the printer";
  fill(filesDialog, { printer: name });
  clearStatus(filesStatus);
  filesBody.replaceChildren();
  filesEmpty.hidden = true;
  filesDialog.showModal();
  showStatus(filesStatus, "info", "Reading the printer's storage…");
  const res = await api("GET", `/api/v1/printers/${encodeURIComponent(id)}/files`);
  if (!res.ok) {
    showStatus(filesStatus, "error", res.message);
    return;
  }
  clearStatus(filesStatus);
  const base = `/api/v1/printers/${encodeURIComponent(id)}/files/`;
  for (const file of res.data.items) {
    const path = base + encodeURIComponent(file.name);
    filesBody.append(
      el(
        "tr",
        { "data-file": file.name },
        el("td", {}, el("a", { href: path, download: file.name }, file.name)),
        el("td", { class: "tabular" }, size(file.size)),
        el(
          "td",
          { class: "actions" },
          el(
            "button",
            { class: "btn btn--small btn--danger-ghost", type: "button", "data-delete-file": path, "data-name": file.name },
            "Delete",
            el("span", { class: "visually-hidden" }, ` ${file.name}`),
          ),
        ),
      ),
    );
  }
  filesEmpty.hidden = res.data.items.length > 0;
}

filesBody?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("[data-delete-file]");
  if (!button) return;
  const name = button.getAttribute("data-name") ?? "";
  const sure = await confirmAction({
    title: `Delete ${name} from the printer?`,
    message: "The file is removed from the printer's storage.",
    confirm: "Delete file",
  });
  if (!sure) return;
  button.disabled = true;
  const res = await api("DELETE", button.getAttribute("data-delete-file"));
  if (res.ok || res.status === 404) {
    button.closest("tr")?.remove();
    filesEmpty.hidden = filesBody.querySelector("tr") !== null;
    showStatus(filesStatus, "success", `${name} deleted.`);
  } else {
    button.disabled = false;
    showStatus(filesStatus, "error", res.message);
  }
});

// ---------------------------------------------------------------------------
// Edit and remove a printer
// ---------------------------------------------------------------------------

const editDialog = document.getElementById("edit-printer-dialog");
const editForm = document.getElementById("edit-printer-form");
const editStatus = document.getElementById("edit-printer-status");
let editing = null;

async function openEdit(id, canDelete) {
  const res = await api("GET", `/api/v1/printers/${encodeURIComponent(id)}`);
  if (!res.ok || !editForm) return;
  editing = res.data;
  const field = (name) => editForm.elements.namedItem(name);
  field("name").value = editing.name;
  field("host").value = editing.host;
  field("access_code").value = "";
  field("model").value = editing.model ?? "";
  field("location_id").value = editing.location_id == null ? "" : String(editing.location_id);
  field("mqtt_port").value = String(editing.mqtt_port);
  field("ftps_port").value = String(editing.ftps_port);
  field("camera_port").value = String(editing.camera_port);
  clearStatus(editStatus);
  const remove = document.getElementById("delete-printer");
  if (remove) remove.hidden = !canDelete;
  editDialog.showModal();
}

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editing) return;
  const data = new FormData(editForm);
  const text = (k) => String(data.get(k) ?? "").trim();
  const body = {
    name: text("name"),
    host: text("host"),
    model: text("model"),
    location_id: text("location_id") ? Number(text("location_id")) : null,
    mqtt_port: Number(text("mqtt_port")),
    ftps_port: Number(text("ftps_port")),
    camera_port: Number(text("camera_port")),
  };
  // Write-only: sent only when typed, so an untouched field keeps the stored code.
  const code = String(data.get("access_code") ?? "");
  if (code) body.access_code = code;
  const res = await api("PATCH", `/api/v1/printers/${encodeURIComponent(editing.id)}`, body);
  if (res.ok) {
    setFlash(`${body.name} saved.`);
    location.reload();
    return;
  }
  showStatus(editStatus, "error", res.message);
});

document.getElementById("delete-printer")?.addEventListener("click", async () => {
  if (!editing) return;
  const sure = await confirmAction({
    title: `Remove ${editing.name}?`,
    message: "Its settings and pinned certificate are deleted.",
    confirm: "Remove printer",
  });
  if (!sure) return;
  const res = await api("DELETE", `/api/v1/printers/${encodeURIComponent(editing.id)}`);
  if (res.ok || res.status === 404) {
    setFlash(`${editing.name} removed.`);
    location.reload();
    return;
  }
  showStatus(editStatus, "error", res.message);
});

// ---------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------

const locationsStatus = document.getElementById("locations-status");

/** Runs a location request; reloads on success so every list and select shows the change. */
async function locationRequest(method, path, body, done) {
  clearStatus(locationsStatus);
  const res = await api(method, path, body);
  if (res.ok) {
    setFlash(done);
    location.reload();
    return;
  }
  showStatus(locationsStatus, "error", res.message);
}

document.getElementById("add-location-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = String(new FormData(event.currentTarget).get("name") ?? "").trim();
  locationRequest("POST", "/api/v1/locations", { name }, `Location ${name} added.`);
});

document.getElementById("location-list")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const item = event.target.closest("[data-location-id]");
  const form = new FormData(event.target);
  const name = String(form.get("name") ?? "").trim();
  const id = item.getAttribute("data-location-id");
  const body = { name };
  // The waiver box is there only for those who may change it (printers:update everywhere).
  if (event.target.querySelector('[name="waive_plate_clear"]')) {
    body.waive_plate_clear = form.get("waive_plate_clear") === "on";
  }
  locationRequest("PATCH", `/api/v1/locations/${encodeURIComponent(id)}`, body, `Location ${name} saved.`);
});

document.getElementById("location-list")?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("[data-delete-location]");
  if (!button) return;
  const name = button.getAttribute("data-name") ?? "";
  const sure = await confirmAction({
    title: `Delete the location ${name}?`,
    message: "Its printers stay, without a location.",
    confirm: "Delete location",
  });
  if (!sure) return;
  const id = button.closest("[data-location-id]").getAttribute("data-location-id");
  locationRequest("DELETE", `/api/v1/locations/${encodeURIComponent(id)}`, undefined, `Location ${name} deleted.`);
});

// ---------------------------------------------------------------------------
// Printer groups
// ---------------------------------------------------------------------------

const groupsStatus = document.getElementById("printer-groups-status");

/** The form's name and checked printers, as the API takes them. */
function groupBody(form) {
  const data = new FormData(form);
  return {
    name: String(data.get("name") ?? "").trim(),
    printer_ids: data.getAll("printer_ids").map(Number),
  };
}

/** Runs a group request; reloads on success so the lists and the queue dialog show it. */
async function groupRequest(method, path, body, done) {
  clearStatus(groupsStatus);
  const res = await api(method, path, body);
  if (res.ok) {
    setFlash(done);
    location.reload();
    return;
  }
  showStatus(groupsStatus, "error", res.message);
}

document.getElementById("add-printer-group-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = groupBody(event.currentTarget);
  groupRequest("POST", "/api/v1/printer-groups", body, `Printer group ${body.name} added.`);
});

document.getElementById("printer-group-list")?.addEventListener("submit", (event) => {
  event.preventDefault();
  const id = event.target.closest("[data-printer-group-id]").getAttribute("data-printer-group-id");
  const body = groupBody(event.target);
  groupRequest("PATCH", `/api/v1/printer-groups/${encodeURIComponent(id)}`, body, `Printer group ${body.name} saved.`);
});

document.getElementById("printer-group-list")?.addEventListener("click", async (event) => {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("[data-delete-printer-group]");
  if (!button) return;
  const name = button.getAttribute("data-name") ?? "";
  const sure = await confirmAction({
    title: `Delete the printer group ${name}?`,
    message: "Its printers stay; jobs queued for it wait until you choose another target.",
    confirm: "Delete group",
  });
  if (!sure) return;
  const id = button.closest("[data-printer-group-id]").getAttribute("data-printer-group-id");
  groupRequest("DELETE", `/api/v1/printer-groups/${encodeURIComponent(id)}`, undefined, `Printer group ${name} deleted.`);
});

// ---------------------------------------------------------------------------
// Add a printer
// ---------------------------------------------------------------------------

const addForm = document.getElementById("add-printer-form");
const addStatus = document.getElementById("add-printer-status");

function formText(k) {
  return String(new FormData(addForm).get(k) ?? "").trim();
}

// Test connection: one login as the server would make it; the answer names what to fix.
const CHECK_KINDS = {
  ok: "success",
  developer_mode_off: "warning",
  no_report: "warning",
};
document.getElementById("check-printer")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  clearStatus(addStatus);
  button.disabled = true;
  showStatus(addStatus, "info", "Connecting…");
  const res = await api("POST", "/api/v1/printers/check", {
    serial: formText("serial"),
    host: formText("host"),
    access_code: String(new FormData(addForm).get("access_code") ?? ""),
    mqtt_port: Number(formText("mqtt_port") || 8883),
  });
  button.disabled = false;
  if (!res.ok) {
    showStatus(addStatus, "error", res.message);
    return;
  }
  const check = res.data;
  const fingerprint = check.presented_sha256
    ? ` Certificate SHA-256: ${check.presented_sha256}`
    : "";
  showStatus(addStatus, CHECK_KINDS[check.outcome] ?? "error", `${check.message}${fingerprint}`);
  addStatus.dataset.outcome = check.outcome;
});

addForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(addStatus);
  const data = new FormData(addForm);
  const text = formText;
  const body = {
    name: text("name"),
    serial: text("serial"),
    host: text("host"),
    access_code: String(data.get("access_code") ?? ""),
    mqtt_port: Number(text("mqtt_port") || 8883),
    ftps_port: Number(text("ftps_port") || 990),
    camera_port: Number(text("camera_port") || 6000),
  };
  if (text("model")) body.model = text("model");
  if (text("location_id")) body.location_id = Number(text("location_id"));
  const res = await api("POST", "/api/v1/printers", body);
  if (res.ok) {
    setFlash(`${body.name} added; it connects in a moment.`);
    location.reload();
    return;
  }
  showStatus(addStatus, "error", res.message);
});

if (choice()?.view === "cameras") {
  wallShown = true;
  showCameraWall(true);
}
localizeEnds(grid ?? document);
if (grid) followEvents(onEvent, liveState);
