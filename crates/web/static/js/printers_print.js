// printwarden — /printers: "Print a file…" on a printer card. Find a sliced file in the
// library, choose the plate (picture, time, filament), see a warning when the plate was sliced
// for another model than this printer, and start it (`POST /api/v1/library/files/{id}/print`,
// the one print-from-library path: the server checks `printers:control` on the printer and the
// right to read the file again). A file dropped on a card, or chosen with "Upload from this
// computer…", goes to the library first (with a progress bar that can be followed), then the
// dialog opens with it chosen.
//
// Invariants: the button and the drop exist only where the server rendered them (the viewer
// may control that printer and read the library; the drop also needs `library:upload`); a
// file is never sent to the printer without the viewer pressing "Start the print".

import { api, clearStatus, el, fill, showStatus, toLogin } from "./lib.js";
import { minutesWords } from "./farm.js";

const dialog = document.getElementById("print-file-dialog");
const form = document.getElementById("print-file-form");
const search = document.getElementById("print-file-search");
const fileList = document.getElementById("print-file-files");
const none = document.getElementById("print-file-none");
const platesSet = document.getElementById("print-file-plates-set");
const plateList = document.getElementById("print-file-plates");
const warning = document.getElementById("print-file-warning");
const status = document.getElementById("print-file-status");
const archive = document.getElementById("print-file-archive");
const archiveLink = document.getElementById("print-file-archive-link");
const submit = document.getElementById("print-file-submit");
const upload = document.getElementById("print-file-upload");
const uploadBar = document.getElementById("print-file-progress");

const SVG = "http://www.w3.org/2000/svg";
/** Library files shown at once; the search finds the rest. */
const LISTED = 50;

/** The printer the dialog prints on: { id, name, modelKey, model }. */
let target = null;
/** Library files by id, as listed or uploaded. */
const files = new Map();
let searchTimer = 0;
let searchSeq = 0;

function printerOf(card) {
  return {
    id: card.getAttribute("data-printer-id"),
    name: card.getAttribute("data-name") ?? "the printer",
    model: card.getAttribute("data-model") ?? "",
    modelKey: card.getAttribute("data-model-key") ?? "",
  };
}

function duration(seconds) {
  if (!seconds) return "";
  return minutesWords(Math.max(1, Math.round(seconds / 60)));
}

function withArticle(model) {
  return `${/^[AEFHILMNORSX]/i.test(model) ? "an" : "a"} ${model}`;
}

function sliced(file) {
  return file.kind === "gcode.3mf" && Array.isArray(file.plates) && file.plates.length > 0;
}

function fileSummary(file) {
  const plates = file.plates?.length ?? 0;
  const time = duration(file.plates?.[0]?.predicted_seconds);
  return [plates === 1 ? "1 plate" : `${plates} plates`, time && plates === 1 ? time : ""].filter(Boolean).join(" · ");
}

function fileItem(file, checked) {
  const id = `print-file-${file.id}`;
  return el(
    "li",
    { class: "print-file__file" },
    el(
      "label",
      { class: "check", for: id },
      el("input", { type: "radio", name: "file_id", id, value: String(file.id), checked }),
      el("span", { class: "print-file__name", title: file.name }, file.name),
      el("span", { class: "muted" }, fileSummary(file)),
    ),
  );
}

function chosenFile() {
  const input = fileList?.querySelector("input[name=file_id]:checked");
  return input ? files.get(input.value) : null;
}

function chosenPlate() {
  const input = plateList?.querySelector("input[name=plate]:checked");
  return input ? Number(input.value) : null;
}

function swatch(colour) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const dot = document.createElementNS(SVG, "circle");
  dot.setAttribute("cx", "8");
  dot.setAttribute("cy", "8");
  dot.setAttribute("r", "7");
  dot.setAttribute("fill", /^#[0-9a-f]{6}/i.test(colour ?? "") ? colour.slice(0, 7) : "#808080");
  svg.append(dot);
  return svg;
}

function plateItem(file, plate, checked) {
  const id = `print-plate-${plate.index}`;
  const label = plate.name?.trim() ? `Plate ${plate.index}: ${plate.name.trim()}` : `Plate ${plate.index}`;
  const facts = [duration(plate.predicted_seconds), plate.weight_g ? `${plate.weight_g.toFixed(1)} g` : ""].filter(Boolean).join(" · ");
  const filaments = (plate.filaments ?? []).map((f) => {
    const words = `${f.type || "Filament"}${f.grams ? ` ${f.grams.toFixed(1)} g` : ""}`;
    return el("li", { class: "tray", title: `Slot ${f.slot}: ${words}` }, swatch(f.color), el("span", { class: "tray__material" }, words));
  });
  return el(
    "li",
    { class: "print-file__plate" },
    el(
      "label",
      { for: id },
      el("input", { type: "radio", name: "plate", id, value: String(plate.index), checked, "data-model-key": plate.printer_model_key ?? "", "data-model": plate.printer_model_key || plate.printer_model || "" }),
      plate.thumbnail_url
        ? el("img", { src: plate.thumbnail_url, alt: `${label} of ${file.name}`, width: "96", height: "96" })
        : el("span", { class: "print-file__nopicture muted" }, "No picture in the file"),
      el("span", { class: "print-file__plate-text" }, el("strong", {}, label), el("span", { class: "muted" }, facts)),
      filaments.length ? el("ul", { class: "trays", role: "list", "aria-label": "Filament" }, ...filaments) : null,
    ),
  );
}

function showPlates() {
  const file = chosenFile();
  clearStatus(warning);
  if (!file) {
    platesSet.hidden = true;
    plateList.replaceChildren();
    return;
  }
  plateList.replaceChildren(...file.plates.map((p, i) => plateItem(file, p, i === 0)));
  platesSet.hidden = false;
  checkModel();
}

/** The plate was sliced for another model than this printer (both known): say so first. */
function checkModel() {
  const plate = plateList?.querySelector("input[name=plate]:checked");
  const sliced = plate?.getAttribute("data-model-key") ?? "";
  if (target && sliced && target.modelKey && sliced !== target.modelKey) {
    showStatus(
      warning,
      "warning",
      `Plate ${plate.value} was sliced for ${withArticle(plate.getAttribute("data-model") || sliced)}, but ${target.name} is ${withArticle(target.model || target.modelKey)}. ` +
        "The print may fail or damage the printer; slice it for this model if you can.",
    );
  } else {
    clearStatus(warning);
  }
}

/** Lists the sliced files matching the search; `prefer` (a file) comes first, chosen. */
async function list(prefer) {
  const seq = ++searchSeq;
  const q = search?.value.trim() ?? "";
  const params = new URLSearchParams({ limit: String(LISTED), sort: "-date" });
  if (q) params.set("q", q);
  const res = await api("GET", `/api/v1/library/files?${params}`);
  if (seq !== searchSeq) return;
  if (!res.ok) {
    showStatus(status, "error", res.message);
    return;
  }
  const keep = prefer?.id ?? chosenFile()?.id;
  const found = (res.data?.items ?? []).filter(sliced);
  if (prefer && sliced(prefer) && !found.some((f) => f.id === prefer.id)) found.unshift(prefer);
  for (const f of found) files.set(String(f.id), f);
  const chosen = found.some((f) => f.id === keep) ? keep : found[0]?.id;
  fileList.replaceChildren(...found.map((f) => fileItem(f, f.id === chosen)));
  none.hidden = found.length > 0;
  submit.disabled = found.length === 0;
  showPlates();
}

/** Opens the dialog for the card's printer, with `file` (a library file view) chosen. */
export function openPrintDialog(card, file) {
  if (!dialog) return;
  target = printerOf(card);
  fill(dialog, { printer: target.name });
  clearStatus(status);
  clearStatus(warning);
  archive.hidden = true;
  submit.disabled = false;
  if (search) search.value = "";
  fileList.replaceChildren();
  plateList.replaceChildren();
  platesSet.hidden = true;
  none.hidden = true;
  if (uploadBar) uploadBar.hidden = true;
  if (!dialog.open) dialog.showModal();
  list(file);
}

/**
 * Uploads a file to the library with progress on `bar`; resolves to the stored file's view,
 * or rejects with a message in words.
 */
export function uploadToLibrary(file, bar) {
  return new Promise((resolve, reject) => {
    const body = new FormData();
    body.append("file", file, file.name);
    // XMLHttpRequest for upload progress (fetch has none); same-origin, so the browser sends
    // our Origin and the session cookie.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/library/files");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (bar && e.lengthComputable) bar.value = Math.min(100, Math.round((e.loaded / e.total) * 100));
    });
    xhr.addEventListener("error", () => reject(new Error("The server could not be reached. Check the connection and try again.")));
    xhr.addEventListener("abort", () => reject(new Error("Cancelled; nothing was stored.")));
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 401) {
        toLogin();
        reject(new Error("Sign in again to upload."));
      } else if (xhr.status === 201 && data) resolve(data);
      else reject(new Error(data?.error?.message ?? `The server refused the file (status ${xhr.status}).`));
    });
    if (bar) {
      bar.value = 0;
      bar.hidden = false;
    }
    xhr.send(body);
  });
}

function notSliced(file) {
  return `${file.name} is in the library, but it holds no sliced plate, so it cannot be printed as it is: slice it and upload the .gcode.3mf.`;
}

search?.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => list(), 250);
});
// Enter in the search box searches; it never starts a print.
search?.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    clearTimeout(searchTimer);
    list();
  }
});

form?.addEventListener("change", (event) => {
  if (!(event.target instanceof HTMLInputElement)) return;
  if (event.target.name === "file_id") showPlates();
  else if (event.target.name === "plate") checkModel();
});

upload?.addEventListener("change", async () => {
  const file = upload.files?.[0];
  if (!file) return;
  clearStatus(status);
  showStatus(status, "info", `Uploading ${file.name} to the library…`);
  try {
    const stored = await uploadToLibrary(file, uploadBar);
    upload.value = "";
    if (uploadBar) uploadBar.hidden = true;
    if (!sliced(stored)) {
      showStatus(status, "error", notSliced(stored));
      return;
    }
    showStatus(status, "success", `${stored.name} is in the library and chosen.`);
    await list(stored);
  } catch (e) {
    upload.value = "";
    if (uploadBar) uploadBar.hidden = true;
    showStatus(status, "error", e.message);
  }
});

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = chosenFile();
  const plate = chosenPlate();
  if (!target || !file || !plate) {
    showStatus(status, "error", "Choose a file and a plate first.");
    return;
  }
  submit.disabled = true;
  showStatus(status, "info", `Sending plate ${plate} of ${file.name} to ${target.name}…`);
  const res = await api("POST", `/api/v1/library/files/${encodeURIComponent(file.id)}/print`, {
    printer_id: Number(target.id),
    plate,
  });
  if (!res.ok) {
    submit.disabled = false;
    showStatus(status, "error", res.message);
    return;
  }
  const warnings = Array.isArray(res.data?.warnings) ? res.data.warnings : [];
  showStatus(
    status,
    "success",
    `${target.name} is starting plate ${plate} of ${file.name}.${warnings.length ? ` Note: ${warnings.join(" ")}` : ""}`,
  );
  const entry = res.data?.archive_id;
  archiveLink.setAttribute("href", entry ? `/archive/${encodeURIComponent(entry)}` : "/archive");
  archive.hidden = false;
});

// ---------------------------------------------------------------------------
// Drop a file on a card
// ---------------------------------------------------------------------------

const grid = document.getElementById("printers");

function dropCard(event) {
  if (!(event.target instanceof Element)) return null;
  const card = event.target.closest("[data-printer-id][data-drop]");
  if (!card || !event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return null;
  return card;
}

function setDropping(card, on) {
  card.classList.toggle("printer-card--drop", on);
  const zone = card.querySelector('[data-field="drop"]');
  if (zone && !card.hasAttribute("data-uploading")) zone.hidden = !on;
}

grid?.addEventListener("dragover", (event) => {
  const card = dropCard(event);
  if (!card) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  setDropping(card, true);
});

grid?.addEventListener("dragleave", (event) => {
  if (!(event.target instanceof Element)) return;
  const card = event.target.closest("[data-printer-id][data-drop]");
  // Moving between the card's own children is not leaving it.
  if (!card || (event.relatedTarget instanceof Node && card.contains(event.relatedTarget))) return;
  setDropping(card, false);
});

grid?.addEventListener("drop", async (event) => {
  const card = dropCard(event);
  if (!card) return;
  event.preventDefault();
  const file = event.dataTransfer.files?.[0];
  const zone = card.querySelector('[data-field="drop"]');
  const text = card.querySelector('[data-field="drop-text"]');
  const bar = card.querySelector('[data-field="drop-progress"]');
  const say = (words) => {
    if (text) text.textContent = words;
  };
  const original = text?.textContent ?? "";
  if (!file) {
    setDropping(card, false);
    return;
  }
  if (!/\.3mf$/i.test(file.name)) {
    card.setAttribute("data-uploading", "");
    say(`${file.name} is not a sliced .3mf file; slice it first, then drop the .gcode.3mf.`);
    setTimeout(() => {
      card.removeAttribute("data-uploading");
      say(original);
      setDropping(card, false);
    }, 4000);
    return;
  }
  card.setAttribute("data-uploading", "");
  if (zone) zone.hidden = false;
  say(`Uploading ${file.name} to the library…`);
  try {
    const stored = await uploadToLibrary(file, bar);
    if (!sliced(stored)) throw new Error(notSliced(stored));
    card.removeAttribute("data-uploading");
    if (bar) bar.hidden = true;
    say(original);
    setDropping(card, false);
    openPrintDialog(card, stored);
  } catch (e) {
    if (bar) bar.hidden = true;
    say(e.message);
    setTimeout(() => {
      card.removeAttribute("data-uploading");
      say(original);
      setDropping(card, false);
    }, 6000);
  }
});
