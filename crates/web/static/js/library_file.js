// printwarden — /library/files/{id}: rename, move and tag the file, delete it (after a
// confirmation naming it), and "Print…": choose one of the printers the viewer may print on
// (busy ones are disabled with the reason), choose the plate, see a warning when the plate was
// sliced for another model than the chosen printer, then start it and follow the link to the
// archive. Controls exist only for the viewer's rights; the server checks again.

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
