// printwarden — /library: uploads (the button or files dropped on the page or on a folder),
// one progress bar per file with the server's refusal in its own words, the grid/list toggle
// (remembered in this browser), folders (create, rename, move, delete) and a file's edit and
// delete. The page is complete without this module; controls exist only for the viewer's rights.

import { api, clearStatus, el, fill, setFlash, showStatus, timeEl, toLogin } from "./lib.js";

const VIEW_KEY = "pw-library-view";
const files = document.getElementById("library-files");
const main = document.getElementById("library-main");

// ---------------------------------------------------------------- grid or list

function setView(view) {
  if (!files) return;
  const list = view === "list";
  files.classList.toggle("library-items--list", list);
  files.classList.toggle("library-items--grid", !list);
  for (const button of document.querySelectorAll("[data-view]")) {
    button.setAttribute("aria-pressed", button.getAttribute("data-view") === view ? "true" : "false");
  }
}

function savedView() {
  try {
    return localStorage.getItem(VIEW_KEY) === "list" ? "list" : "grid";
  } catch {
    return "grid";
  }
}

setView(savedView());
for (const button of document.querySelectorAll("[data-view]")) {
  button.addEventListener("click", () => {
    const view = button.getAttribute("data-view");
    setView(view);
    try {
      localStorage.setItem(VIEW_KEY, view);
    } catch {
      // Storage off: the choice lasts for this page only.
    }
  });
}

// ---------------------------------------------------------------- uploads

const dropZone = document.getElementById("drop-zone");
const uploadInput = document.getElementById("upload-input");
const uploads = document.getElementById("uploads");
const maxBytes = Number(dropZone?.getAttribute("data-max-bytes") ?? "0");
const currentFolder = main?.getAttribute("data-folder") ?? "";
const listedFolder = new URLSearchParams(location.search).get("folder") ?? "";
const searching = (new URLSearchParams(location.search).get("q") ?? "").trim() !== "";
const queue = [];
let running = false;

const KIND = {
  "gcode.3mf": "Sliced project",
  "3mf": "Project (not sliced)",
  gcode: "G-code",
  stl: "STL model",
};

function humanSize(bytes) {
  if (bytes < 1000) return `${bytes} bytes`;
  const [value, unit] = bytes < 1e6 ? [bytes / 1e3, "kB"] : bytes < 1e9 ? [bytes / 1e6, "MB"] : [bytes / 1e9, "GB"];
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

function humanDuration(seconds) {
  const minutes = Math.ceil(seconds / 60);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** A new file's card, the same shape the server renders. */
function itemFor(f) {
  const href = `/library/files/${f.id}`;
  const thumb = f.plates?.find((p) => p.thumbnail_url)?.thumbnail_url;
  const sprite = document.querySelector("svg.icon use")?.getAttribute("href")?.split("#")[0] ?? "";
  const thumbLink = el("a", { class: "library-item__thumb", href, tabindex: "-1", "aria-hidden": "true" });
  if (thumb) {
    thumbLink.append(el("img", { src: thumb, alt: "", width: "256", height: "256" }));
  } else {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon icon--xl");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `${sprite}#printer`);
    svg.append(use);
    thumbLink.append(svg);
  }
  const total = (f.plates ?? []).reduce((s, p) => s + (p.predicted_seconds ?? 0), 0);
  const fact = (label, value, cls) => el("div", {}, el("dt", {}, label), el("dd", cls ? { class: cls } : {}, value));
  const plates = f.plates?.length > 1 ? ` · ${f.plates.length} plates` : "";
  const facts = el(
    "dl",
    { class: "library-item__facts" },
    fact("Kind", `${KIND[f.kind] ?? "File"}${plates}`),
    total > 0 ? fact("Print time", humanDuration(total), "tabular") : null,
    fact("Size", humanSize(f.size), "tabular"),
    fact("Uploaded by", f.uploaded_by?.name ?? "Nobody signed in"),
    fact("Added", timeEl(f.created_at)),
  );
  const actions = el("div", { class: "cluster cluster--tight library-item__actions" });
  if (f.can_update) {
    actions.append(el("button", { class: "btn btn--small", type: "button", "data-edit-file": true }, "Edit", el("span", { class: "visually-hidden" }, ` ${f.name}`)));
  }
  if (f.can_delete) {
    actions.append(el("button", { class: "btn btn--small btn--danger-ghost", type: "button", "data-delete-file": true }, "Delete", el("span", { class: "visually-hidden" }, ` ${f.name}`)));
  }
  return el(
    "li",
    {
      class: "card library-item",
      "data-file-id": f.id,
      "data-name": f.name,
      "data-folder-id": f.folder_id ?? "",
      "data-tags": (f.tags ?? []).join(", "),
    },
    thumbLink,
    el("div", { class: "library-item__body" }, el("h3", { class: "library-item__name" }, el("a", { href }, f.name)), facts),
    f.can_update || f.can_delete ? actions : null,
  );
}

/** Whether the list on screen would show a file uploaded into `folder` ("" = top level). */
function listedHere(folder) {
  if (searching) return false;
  if (listedFolder === "") return true;
  if (listedFolder === "root") return folder === "";
  return listedFolder === folder;
}

function addUploaded(f, folder) {
  if (!files || !listedHere(folder)) return false;
  document.getElementById("no-files")?.remove();
  files.prepend(itemFor(f));
  return true;
}

function uploadRow(file) {
  const bar = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
  const percent = el("span", { class: "tabular upload__percent" }, "0 %");
  const status = el("p", { class: "upload__status muted" }, "Waiting…");
  const cancel = el("button", { class: "btn btn--small btn--ghost", type: "button" }, "Cancel", el("span", { class: "visually-hidden" }, ` upload of ${file.name}`));
  const row = el(
    "li",
    { class: "upload", "data-upload": file.name },
    el("div", { class: "upload__head" }, el("span", { class: "upload__name" }, file.name), el("span", { class: "muted tabular" }, humanSize(file.size)), percent, cancel),
    bar,
    status,
  );
  uploads?.append(row);
  return { row, bar, percent, status, cancel };
}

function setRow(ui, kind, text) {
  ui.row.setAttribute("data-state", kind);
  ui.status.className = `upload__status upload__status--${kind}`;
  ui.status.textContent = text;
}

function send(item) {
  return new Promise((resolve) => {
    const { file, folder, ui } = item;
    if (maxBytes > 0 && file.size > maxBytes) {
      setRow(ui, "error", `Not sent: the file is larger than the library's limit of ${humanSize(maxBytes)}.`);
      ui.cancel.remove();
      resolve();
      return;
    }
    const form = new FormData();
    if (folder) form.append("folder_id", folder);
    form.append("file", file, file.name);
    // XMLHttpRequest for upload progress (fetch has none); same-origin, so the browser sends
    // our Origin and the session cookie.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/library/files");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const p = Math.min(100, Math.round((e.loaded / e.total) * 100));
      ui.bar.value = p;
      ui.percent.textContent = `${p} %`;
    });
    ui.cancel.addEventListener("click", () => xhr.abort());
    xhr.addEventListener("abort", () => setRow(ui, "cancelled", "Cancelled; nothing was stored."));
    xhr.addEventListener("error", () => setRow(ui, "error", "The server could not be reached. Check the connection and try again."));
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 401) {
        toLogin();
        return;
      }
      if (xhr.status === 201 && data) {
        ui.bar.value = 100;
        ui.percent.textContent = "100 %";
        const shown = addUploaded(data, folder);
        setRow(ui, "done", shown ? "Added to the library." : "Added to the library: ");
        if (!shown) ui.status.append(el("a", { href: `/library/files/${data.id}` }, `open ${data.name}`));
      } else {
        setRow(ui, "error", data?.error?.message ?? `The server refused the file (status ${xhr.status}).`);
      }
    });
    xhr.addEventListener("loadend", () => {
      ui.cancel.remove();
      resolve();
    });
    setRow(ui, "sending", "Uploading…");
    xhr.send(form);
  });
}

async function drain() {
  if (running) return;
  running = true;
  while (queue.length > 0) {
    await send(queue.shift());
  }
  running = false;
}

function enqueue(list, folder) {
  for (const file of list) {
    const ui = uploadRow(file);
    const item = { file, folder, ui };
    ui.cancel.addEventListener("click", () => {
      const i = queue.indexOf(item);
      if (i >= 0) {
        queue.splice(i, 1);
        setRow(ui, "cancelled", "Cancelled; nothing was sent.");
        ui.cancel.remove();
      }
    });
    queue.push(item);
  }
  drain();
}

uploadInput?.addEventListener("change", () => {
  const chosen = [...(uploadInput.files ?? [])];
  uploadInput.value = "";
  if (chosen.length > 0) enqueue(chosen, currentFolder);
});

function hasFiles(event) {
  return [...(event.dataTransfer?.types ?? [])].includes("Files");
}

if (dropZone) {
  // Anywhere on the page takes dropped files (into the folder shown); a folder in the tree
  // takes them into that folder.
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    dropZone.classList.add("drop-zone--active");
  });
  document.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) dropZone.classList.remove("drop-zone--active");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    for (const f of document.querySelectorAll(".folder-tree__item--target")) f.classList.remove("folder-tree__item--target");
    const folder = event.target instanceof Element ? event.target.closest("[data-drop-folder]") : null;
    folder?.classList.add("folder-tree__item--target");
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    dropZone.classList.remove("drop-zone--active");
    for (const f of document.querySelectorAll(".folder-tree__item--target")) f.classList.remove("folder-tree__item--target");
    const target = event.target instanceof Element ? event.target.closest("[data-drop-folder]") : null;
    const folder = target ? target.getAttribute("data-drop-folder") : currentFolder;
    const dropped = [...(event.dataTransfer?.files ?? [])];
    if (dropped.length > 0) enqueue(dropped, folder ?? "");
  });
}

// ---------------------------------------------------------------- confirm dialog

const confirmDialog = document.getElementById("confirm-dialog");
const confirmForm = document.getElementById("confirm-form");
const confirmStatus = document.getElementById("confirm-status");
let confirming = null;

function askToConfirm(values, action) {
  fill(confirmDialog, values);
  clearStatus(confirmStatus);
  confirming = action;
  confirmDialog.showModal();
}

confirmForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!confirming) return;
  const button = confirmForm.querySelector("button[type=submit]");
  button.disabled = true;
  const error = await confirming();
  button.disabled = false;
  if (error) showStatus(confirmStatus, "error", error);
  else confirmDialog.close();
});

// ---------------------------------------------------------------- files

const editDialog = document.getElementById("edit-file-dialog");
const editForm = document.getElementById("edit-file-form");
const editStatus = document.getElementById("edit-file-status");
let editing = null;

function parseTags(text) {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

files?.addEventListener("click", (event) => {
  if (!(event.target instanceof Element)) return;
  const item = event.target.closest("[data-file-id]");
  if (!item) return;
  const id = item.getAttribute("data-file-id");
  const name = item.getAttribute("data-name") ?? "";
  if (event.target.closest("[data-edit-file]") && editDialog) {
    editing = id;
    editForm.elements.name.value = name;
    editForm.elements.folder_id.value = item.getAttribute("data-folder-id") ?? "";
    editForm.elements.tags.value = item.getAttribute("data-tags") ?? "";
    clearStatus(editStatus);
    editDialog.showModal();
  } else if (event.target.closest("[data-delete-file]")) {
    askToConfirm(
      { title: `Delete “${name}”?`, text: "The file leaves the library for everyone who can see it. This cannot be undone.", action: "Delete the file" },
      async () => {
        const res = await api("DELETE", `/api/v1/library/files/${encodeURIComponent(id)}`);
        if (!res.ok) return res.message;
        item.remove();
        showStatus(document.getElementById("flash"), "success", `“${name}” was deleted.`);
        return null;
      },
    );
  }
});

editForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editing) return;
  const folder = editForm.elements.folder_id.value;
  const res = await api("PATCH", `/api/v1/library/files/${encodeURIComponent(editing)}`, {
    name: editForm.elements.name.value,
    folder_id: folder === "" ? null : Number(folder),
    tags: parseTags(editForm.elements.tags.value),
  });
  if (!res.ok) {
    showStatus(editStatus, "error", res.message);
    return;
  }
  setFlash(`“${res.data.name}” was saved.`);
  location.reload();
});

// ---------------------------------------------------------------- folders

const newFolderForm = document.getElementById("new-folder-form");
newFolderForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("new-folder-status");
  const parent = newFolderForm.getAttribute("data-parent");
  const res = await api("POST", "/api/v1/library/folders", {
    name: newFolderForm.elements.name.value,
    parent_id: parent ? Number(parent) : null,
  });
  if (!res.ok) {
    showStatus(status, "error", res.message);
    return;
  }
  setFlash(`Folder “${res.data.name}” was created.`);
  location.assign(`/library?folder=${encodeURIComponent(res.data.id)}`);
});

const folderActions = document.getElementById("folder-actions");
const folderId = folderActions?.getAttribute("data-folder-id");
const folderName = folderActions?.getAttribute("data-folder-name") ?? "";
const folderParent = folderActions?.getAttribute("data-parent-id") ?? "";
const folderDialog = document.getElementById("edit-folder-dialog");
const folderForm = document.getElementById("edit-folder-form");

document.getElementById("edit-folder")?.addEventListener("click", () => {
  folderForm.elements.name.value = folderName;
  folderForm.elements.parent_id.value = folderParent;
  clearStatus(document.getElementById("edit-folder-status"));
  folderDialog.showModal();
});

folderForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const parent = folderForm.elements.parent_id.value;
  const res = await api("PATCH", `/api/v1/library/folders/${encodeURIComponent(folderId)}`, {
    name: folderForm.elements.name.value,
    parent_id: parent === "" ? null : Number(parent),
  });
  if (!res.ok) {
    showStatus(document.getElementById("edit-folder-status"), "error", res.message);
    return;
  }
  setFlash(`Folder “${res.data.name}” was saved.`);
  location.reload();
});

document.getElementById("delete-folder")?.addEventListener("click", () => {
  askToConfirm(
    { title: `Delete the folder “${folderName}”?`, text: "Only an empty folder can be deleted: move or delete its files and folders first.", action: "Delete the folder" },
    async () => {
      const res = await api("DELETE", `/api/v1/library/folders/${encodeURIComponent(folderId)}`);
      if (!res.ok) return res.message;
      setFlash(`Folder “${folderName}” was deleted.`);
      location.assign(folderParent ? `/library?folder=${encodeURIComponent(folderParent)}` : "/library");
      return null;
    },
  );
});
