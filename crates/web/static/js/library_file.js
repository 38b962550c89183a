// printwarden — /library/files/{id}: rename, move and tag the file, delete it (after a
// confirmation naming it), and "Print…": choose one of the printers the viewer may print on
// (busy ones are disabled with the reason), choose the plate, see a warning when the plate was
// sliced for another model than the chosen printer, then start it and follow the link to the
// archive; "Add to queue…" (below). Controls exist only for the viewer's rights; the server
// checks again.

import { api, clearStatus, el, setFlash, showStatus } from "./lib.js";

const root = document.getElementById("library-file");
const id = root?.getAttribute("data-file-id");
const name = root?.getAttribute("data-name") ?? "";
const path = `/api/v1/library/files/${encodeURIComponent(id ?? "")}`;

// ---------------------------------------------------------------- edit

const editDialog = document.getElementById("edit-file-dialog");
const editForm = document.getElementById("edit-file-form");
const editStatus = document.getElementById("edit-file-status");

document.getElementById("edit-file")?.addEventListener("click", () => {
  editForm.elements.name.value = name;
  editForm.elements.folder_id.value = root.getAttribute("data-folder-id") ?? "";
  editForm.elements.tags.value = root.getAttribute("data-tags") ?? "";
  clearStatus(editStatus);
  editDialog.showModal();
});

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const folder = editForm.elements.folder_id.value;
  const res = await api("PATCH", path, {
    name: editForm.elements.name.value,
    folder_id: folder === "" ? null : Number(folder),
    tags: editForm.elements.tags.value
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== ""),
  });
  if (!res.ok) {
    showStatus(editStatus, "error", res.message);
    return;
  }
  setFlash(`“${res.data.name}” was saved.`);
  location.reload();
});

// ---------------------------------------------------------------- delete

const confirmDialog = document.getElementById("confirm-dialog");
const confirmForm = document.getElementById("confirm-form");

document.getElementById("delete-file")?.addEventListener("click", () => {
  clearStatus(document.getElementById("confirm-status"));
  confirmDialog.showModal();
});

confirmForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const res = await api("DELETE", path);
  if (!res.ok) {
    showStatus(document.getElementById("confirm-status"), "error", res.message);
    return;
  }
  const folder = root.getAttribute("data-folder-id");
  setFlash(`“${name}” was deleted.`);
  location.assign(folder ? `/library?folder=${encodeURIComponent(folder)}` : "/library");
});

// ---------------------------------------------------------------- print

const printDialog = document.getElementById("print-dialog");
const printForm = document.getElementById("print-form");
const printStatus = document.getElementById("print-status");
const modelWarning = document.getElementById("print-model-warning");
const warningList = document.getElementById("print-warnings");
const archive = document.getElementById("print-archive");
const archiveLink = document.getElementById("print-archive-link");
const submit = document.getElementById("print-submit");

function chosenPrinter() {
  return printForm?.querySelector("input[name=printer_id]:checked") ?? null;
}

function chosenPlate() {
  const field = printForm?.querySelector("#print-plate");
  return field ? Number(field.value) : 1;
}

/** "a P1S", "an A1", "an X1C": the article as the model name is spoken. */
function withArticle(model) {
  return `${/^[AEFHILMNORSX]/i.test(model) ? "an" : "a"} ${model}`;
}

/** The plate's and the printer's model keys differ (both known): say so before starting. */
function checkModel() {
  const printer = chosenPrinter();
  const plate = document.querySelector(`#plates [data-plate="${chosenPlate()}"]`);
  const sliced = plate?.getAttribute("data-model-key") ?? "";
  const target = printer?.getAttribute("data-model-key") ?? "";
  if (printer && sliced && target && sliced !== target) {
    showStatus(
      modelWarning,
      "warning",
      `Plate ${chosenPlate()} was sliced for ${withArticle(plate.getAttribute("data-model"))}, but ${printer.getAttribute("data-name")} is ${withArticle(printer.getAttribute("data-model"))}. ` +
        "The print may fail or damage the printer; slice it for this model if you can.",
    );
  } else {
    clearStatus(modelWarning);
  }
}

document.getElementById("open-print")?.addEventListener("click", () => {
  clearStatus(printStatus);
  warningList.hidden = true;
  warningList.replaceChildren();
  archive.hidden = true;
  submit.disabled = false;
  const first = printForm.querySelector("input[name=printer_id]:not(:disabled)");
  if (first && !chosenPrinter()) first.checked = true;
  checkModel();
  printDialog.showModal();
});

printForm?.addEventListener("change", checkModel);

printForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const printer = chosenPrinter();
  if (!printer) {
    showStatus(printStatus, "error", "Choose a printer that is ready.");
    return;
  }
  submit.disabled = true;
  showStatus(printStatus, "info", `Sending to ${printer.getAttribute("data-name")}…`);
  const res = await api("POST", `${path}/print`, { printer_id: Number(printer.value), plate: chosenPlate() });
  if (!res.ok) {
    submit.disabled = false;
    showStatus(printStatus, "error", res.message);
    return;
  }
  showStatus(printStatus, "success", `${printer.getAttribute("data-name")} is starting plate ${chosenPlate()} of ${name}.`);
  const warnings = Array.isArray(res.data?.warnings) ? res.data.warnings : [];
  warningList.replaceChildren(
    ...warnings.map((w) => el("li", { class: "banner banner--warning" }, typeof w === "string" ? w : (w?.message ?? String(w)))),
  );
  warningList.hidden = warnings.length === 0;
  const entry = res.data?.archive_id;
  archiveLink.setAttribute("href", entry ? `/archive/${encodeURIComponent(entry)}` : "/archive");
  archive.hidden = false;
});

// ---------------------------------------------------------------- add to queue
//
// "Add to queue…": plate, target (one printer, any printer of a model, any printer in a
// location, any printer of a printer group), copies, priority, not before, options, and — for one printer — the AMS mapping
// drawn with the tray colours: the server proposes a tray per filament from the printer's
// live trays; each can be changed; a refusal is shown in words. No mapping is sent for a model,
// location or group target (it is matched when the job starts).

const queueDialog = document.getElementById("queue-dialog");
const queueForm = document.getElementById("queue-form");
const queueStatus = document.getElementById("queue-form-status");
const queueSubmit = document.getElementById("queue-submit");
const amsHint = document.getElementById("queue-ams-hint");
const EXTERNAL_TRAY = 254;
let amsRequest = 0;
/** The chosen printer's tray colours by tray number (as the selects' values). */
const trayColours = new Map();

function queuePlate() {
  return Number(queueForm.querySelector("input[name=plate]:checked")?.value ?? 1);
}

function queueTarget() {
  const [kind, value] = (queueForm.elements.target.value ?? "").split(/:(.*)/s);
  return { kind, value };
}

function mapOf(plate) {
  return queueForm.querySelector(`.ams-map[data-plate="${plate}"]`);
}

/** A tray's number as the printer counts it: AMS unit × 4 + tray. */
function trayNumber(t) {
  return Number(t.ams) * 4 + Number(t.tray);
}

function trayLabel(t) {
  const material = t.material || "empty";
  return `AMS ${Number(t.ams) + 1} tray ${Number(t.tray) + 1}: ${material}`;
}

function paintSwatch(svg, color) {
  const circle = svg?.querySelector("circle");
  if (!circle) return;
  if (/^#?[0-9a-f]{6}/i.test(color ?? "")) {
    circle.setAttribute("fill", `#${color.replace(/^#/, "").slice(0, 6)}`);
    circle.removeAttribute("class");
  } else {
    circle.removeAttribute("fill");
    circle.setAttribute("class", "swatch__unknown");
  }
}

function resetMapping(text) {
  for (const list of queueForm.querySelectorAll(".ams-map")) list.hidden = true;
  amsHint.textContent = text;
}

/** Fills the chosen plate's rows with the printer's trays and the server's proposal. */
async function proposeMapping() {
  const request = ++amsRequest;
  const target = queueTarget();
  const list = mapOf(queuePlate());
  if (!queueForm.elements.use_ams.checked) {
    resetMapping("The AMS is not used: the printer feeds from the external spool.");
    return;
  }
  if (target.kind !== "printer") {
    resetMapping("For a model, location or group the trays are matched when the job starts.");
    return;
  }
  if (!list || list.children.length === 0) {
    resetMapping("The file does not say which filaments this plate uses; the trays are matched when the job starts.");
    return;
  }
  amsHint.textContent = "Reading the printer's trays…";
  const [printer, proposal] = await Promise.all([
    api("GET", `/api/v1/printers/${encodeURIComponent(target.value)}`),
    api("POST", "/api/v1/queue/ams-mapping", { file_id: Number(id), plate: queuePlate(), printer_id: Number(target.value) }),
  ]);
  if (request !== amsRequest) return;
  for (const other of queueForm.querySelectorAll(".ams-map")) other.hidden = other !== list;
  const trays = printer.ok && Array.isArray(printer.data?.status?.trays) ? printer.data.status.trays : [];
  trayColours.clear();
  for (const t of trays) trayColours.set(String(trayNumber(t)), t.color);
  // The proposal comes as a list page ({items}).
  const lines = proposal.ok ? (proposal.data?.items ?? proposal.data) : [];
  const proposed = new Map(Array.isArray(lines) ? lines.map((p) => [p.slot, p]) : []);
  for (const row of list.querySelectorAll(".ams-row")) {
    const slot = Number(row.getAttribute("data-slot"));
    const select = row.querySelector("select");
    select.replaceChildren(
      el("option", { value: "" }, "Match when the job starts"),
      ...trays.map((t) => el("option", { value: trayNumber(t), disabled: !t.material }, trayLabel(t))),
      el("option", { value: EXTERNAL_TRAY }, "External spool"),
    );
    const p = proposed.get(slot);
    select.value = p && p.tray !== null && p.tray !== undefined ? String(p.tray) : "";
    const reason = row.querySelector("[data-reason]");
    reason.textContent = p?.reason ?? "";
    reason.classList.toggle("ams-row__reason--refused", Boolean(p) && (p.tray === null || p.tray === undefined));
    paintSwatch(row.querySelector("[data-tray-swatch]"), trayColours.get(select.value));
  }
  list.hidden = false;
  amsHint.textContent = proposal.ok
    ? "Proposed from the printer's trays (same material, nearest colour). Change a tray if needed."
    : `${proposal.message} The trays will be matched when the job starts.`;
}

queueForm?.addEventListener("change", (event) => {
  const select = event.target instanceof HTMLSelectElement ? event.target : null;
  if (select?.hasAttribute("data-ams-slot")) {
    // A changed tray: its swatch follows, and the server checks the whole mapping on submit.
    const row = select.closest(".ams-row");
    const reason = row.querySelector("[data-reason]");
    reason.textContent = "";
    reason.classList.remove("ams-row__reason--refused");
    paintSwatch(row.querySelector("[data-tray-swatch]"), trayColours.get(select.value));
    return;
  }
  proposeMapping();
});


document.getElementById("open-queue")?.addEventListener("click", () => {
  clearStatus(queueStatus);
  document.getElementById("queue-done").hidden = true;
  queueSubmit.disabled = false;
  queueDialog.showModal();
  proposeMapping();
});

queueForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const target = queueTarget();
  const body = {
    file_id: Number(id),
    plate: queuePlate(),
    target:
      target.kind === "printer"
        ? { printer_id: Number(target.value) }
        : target.kind === "model"
          ? { model: target.value }
          : target.kind === "group"
            ? { group_id: Number(target.value) }
            : { location_id: Number(target.value) },
    copies: Number(queueForm.elements.copies.value),
    priority: Number(queueForm.elements.priority.value),
    options: {
      bed_levelling: queueForm.elements.bed_levelling.checked,
      flow_calibration: queueForm.elements.flow_calibration.checked,
      timelapse: queueForm.elements.timelapse.checked,
      use_ams: queueForm.elements.use_ams.checked,
    },
  };
  const when = queueForm.elements.not_before.value;
  if (when) {
    const at = new Date(when);
    if (Number.isNaN(at.getTime())) {
      showStatus(queueStatus, "error", "Not before must be a date and time, or empty.");
      return;
    }
    body.not_before = at.toISOString();
  }
  const list = mapOf(queuePlate());
  if (target.kind === "printer" && body.options.use_ams && list && !list.hidden) {
    const selects = [...list.querySelectorAll("select[data-ams-slot]")];
    const chosen = selects.filter((s) => s.value !== "");
    if (chosen.length > 0 && chosen.length < selects.length) {
      showStatus(queueStatus, "error", "Choose a tray for every filament, or set all of them to “Match when the job starts”.");
      selects.find((s) => s.value === "")?.focus();
      return;
    }
    if (chosen.length > 0) {
      body.ams_mapping = chosen.map((s) => ({ slot: Number(s.getAttribute("data-ams-slot")), tray: Number(s.value) }));
    }
  }
  queueSubmit.disabled = true;
  const res = await api("POST", "/api/v1/queue", body);
  queueSubmit.disabled = false;
  if (!res.ok) {
    showStatus(queueStatus, "error", res.message);
    return;
  }
  showStatus(queueStatus, "success", `Plate ${body.plate} of ${name} is in the queue${res.data?.waiting_for ? `: ${res.data.waiting_for}` : "."}`);
  document.getElementById("queue-done").hidden = false;
});
