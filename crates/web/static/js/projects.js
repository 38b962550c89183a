// printwarden — /projects and /projects/{id}.
//
// List: the "New project" form. Detail: name, due date and notes saved through
// the API, members taken out, members found in the library, the archive or the
// queue (through their own list APIs, so only what the reader may see) and
// added, and the delete dialog. Every change reloads the page: the server
// renders progress and members from one source.

import { api, clearStatus, el, setBusy, setFlash, showStatus } from "./lib.js";

// ---------------------------------------------------------------------------
// List: create
// ---------------------------------------------------------------------------

const newForm = document.getElementById("new-project-form");
const newStatus = document.getElementById("new-project-status");

newForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(newStatus);
  const data = new FormData(newForm);
  const body = { name: String(data.get("name") ?? "") };
  const due = String(data.get("due") ?? "");
  const notes = String(data.get("notes") ?? "");
  if (due) body.due = due;
  if (notes) body.notes = notes;
  setBusy(newForm, true);
  const res = await api("POST", "/api/v1/projects", body);
  setBusy(newForm, false);
  if (!res.ok) {
    showStatus(newStatus, "error", res.message);
    return;
  }
  setFlash(`Project “${res.data.name}” created.`);
  location.assign(`/projects/${encodeURIComponent(res.data.id)}`);
});

// ---------------------------------------------------------------------------
// Detail
// ---------------------------------------------------------------------------

const project = document.getElementById("project");
const projectId = project?.getAttribute("data-project-id");
const projectPath = projectId ? `/api/v1/projects/${encodeURIComponent(projectId)}` : null;

const form = document.getElementById("project-form");
const formStatus = document.getElementById("project-status");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!projectPath) return;
  clearStatus(formStatus);
  const data = new FormData(form);
  const due = String(data.get("due") ?? "");
  const body = {
    name: String(data.get("name") ?? ""),
    notes: String(data.get("notes") ?? ""),
    due: due === "" ? null : due,
  };
  setBusy(form, true);
  const res = await api("PATCH", projectPath, body);
  setBusy(form, false);
  if (!res.ok) {
    showStatus(formStatus, "error", res.message);
    return;
  }
  setFlash("Project saved.");
  location.reload();
});

// Remove one member.
for (const button of document.querySelectorAll("[data-remove-member]")) {
  button.addEventListener("click", async () => {
    const item = button.closest("[data-member-id]");
    const kind = item?.getAttribute("data-kind");
    const id = item?.getAttribute("data-member-id");
    if (!projectPath || !kind || !id) return;
    button.disabled = true;
    const res = await api(
      "DELETE",
      `${projectPath}/members/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`,
    );
    if (!res.ok) {
      button.disabled = false;
      setFlash(res.message, "error");
      location.reload();
      return;
    }
    setFlash("Taken out of the project.");
    location.reload();
  });
}

// Find members in the library, the archive or the queue.
const searchForm = document.getElementById("member-search-form");
const addForm = document.getElementById("member-add-form");
const picks = document.getElementById("member-picks");
const memberStatus = document.getElementById("member-status");

function candidates(source, res) {
  const items = Array.isArray(res.data?.items) ? res.data.items : [];
  if (source === "files") return items.map((f) => ({ id: f.id, label: f.name }));
  if (source === "archives") {
    return items.map((a) => ({ id: a.id, label: `${a.file_name} · ${a.outcome} on ${a.printer_name}` }));
  }
  return items.map((q) => ({ id: q.id, label: `${q.file_name}, plate ${q.plate} · ${q.state} · ${q.copies} cop${q.copies === 1 ? "y" : "ies"}` }));
}

searchForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearStatus(memberStatus);
  const data = new FormData(searchForm);
  const source = String(data.get("source") ?? "files");
  const q = String(data.get("q") ?? "").trim();
  const params = new URLSearchParams({ limit: "100" });
  if (q && source !== "queue_items") params.set("q", q);
  const path =
    source === "files" ? "/api/v1/library/files" : source === "archives" ? "/api/v1/archives" : "/api/v1/queue";
  setBusy(searchForm, true);
  const res = await api("GET", `${path}?${params}`);
  setBusy(searchForm, false);
  if (!res.ok) {
    showStatus(memberStatus, "error", res.message);
    return;
  }
  const found = candidates(source, res);
  picks.replaceChildren(
    ...found.map((c) =>
      el(
        "li",
        {},
        el(
          "label",
          { class: "check" },
          el("input", { type: "checkbox", name: "pick", value: String(c.id), "data-source": source }),
          ` ${c.label}`,
        ),
      ),
    ),
  );
  addForm.hidden = found.length === 0;
  if (found.length === 0) showStatus(memberStatus, "info", "Nothing found.");
});

addForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!projectPath) return;
  clearStatus(memberStatus);
  const chosen = [...addForm.querySelectorAll("input[name=pick]:checked")];
  if (chosen.length === 0) {
    showStatus(memberStatus, "error", "Pick at least one.");
    return;
  }
  const copiesText = String(new FormData(searchForm).get("copies") ?? "").trim();
  const copies = copiesText === "" ? undefined : Number(copiesText);
  const body = { files: [], queue_items: [], archives: [] };
  for (const box of chosen) {
    const id = Number(box.value);
    const source = box.getAttribute("data-source");
    if (source === "files") body.files.push(copies === undefined ? { id } : { id, copies });
    else if (source === "archives") body.archives.push(id);
    else body.queue_items.push(id);
  }
  setBusy(addForm, true);
  const res = await api("POST", `${projectPath}/members`, body);
  setBusy(addForm, false);
  if (!res.ok) {
    showStatus(memberStatus, "error", res.message);
    return;
  }
  setFlash(`${chosen.length} added to the project.`);
  location.reload();
});

// Delete.
const deleteDialog = document.getElementById("delete-project-dialog");
const deleteForm = document.getElementById("delete-project-form");
const deleteStatus = document.getElementById("delete-project-status");
document.getElementById("project-delete")?.addEventListener("click", () => {
  clearStatus(deleteStatus);
  deleteDialog?.showModal();
});
deleteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!projectPath) return;
  setBusy(deleteForm, true);
  const res = await api("DELETE", projectPath);
  setBusy(deleteForm, false);
  if (!res.ok) {
    showStatus(deleteStatus, "error", res.message);
    return;
  }
  setFlash("Project deleted.");
  location.assign("/projects");
});
