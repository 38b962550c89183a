//! `/library` and `/library/files/{id}`: the file library (issue 15). The list is the API's
//! page (owner filter, folder, search and sort in SQL; keyset paging), rendered complete on
//! the server as a grid of plate thumbnails that `static/js/library.js` can show as a list;
//! the same module uploads (button or drag-and-drop, a progress bar per file) and manages
//! folders. The detail page shows each plate's facts and offers rename, move, tags, delete and
//! "Print…" (`static/js/library_file.js`).
//!
//! Invariant: a control renders only for a right the viewer holds — per file from the view's
//! `can_update`/`can_delete` (decided by the policy on that file's owner), per printer from
//! the app's print targets; the template never decides a right.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use pw_app::{
    AppError, LibraryFileQueryParams, LibraryFileView, LibraryFolderView, PlateView,
    PrintTargetView, printer_model_key,
};
use pw_domain::{LibraryFileId, LibraryFolderId, Permission};
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, query_pairs, query_param, render};

/// The sort choices of the page, in the order offered: (API value, label).
const SORTS: &[(&str, &str)] = &[
    ("-date", "Newest first"),
    ("date", "Oldest first"),
    ("name", "Name A–Z"),
    ("-name", "Name Z–A"),
    ("-size", "Largest first"),
    ("size", "Smallest first"),
];

/// Deepest indentation the folder tree draws (deeper folders line up at this depth).
const MAX_DEPTH: usize = 6;

#[derive(Template)]
#[template(path = "library.html")]
struct LibraryPage {
    layout: Layout,
    filters: Filters,
    sorts: Vec<(&'static str, &'static str, bool)>,
    error: Option<String>,
    tree: Vec<TreeRow>,
    /// The folder shown, with its ancestors (breadcrumbs), top first.
    trail: Vec<(String, String)>,
    /// The folder shown, when one is.
    folder: Option<TreeRow>,
    /// Heading of the file list ("All files", "Not in a folder", or the folder's name).
    heading: String,
    items: Vec<Item>,
    next_href: Option<String>,
    first_href: Option<String>,
    /// Folder choices for "Move to" (id, indented name).
    folder_options: Vec<(String, String)>,
    /// Where uploads go: the folder shown, or the top level ("").
    upload_folder: String,
    can_upload: bool,
    can_manage_folders: bool,
    can_delete_folders: bool,
    any_item_update: bool,
    usage: Option<Usage>,
    max_upload: String,
    max_upload_bytes: u64,
}

/// The list's filters as sent, for the form and the paging links.
#[derive(Debug, Clone, Default)]
struct Filters {
    /// `""` (every folder), `root` or a folder id.
    folder: String,
    q: String,
    sort: String,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Clone)]
struct TreeRow {
    id: String,
    name: String,
    parent_id: String,
    depth: usize,
    href: String,
    current: bool,
}

struct Item {
    id: String,
    name: String,
    href: String,
    kind: &'static str,
    size: String,
    uploaded_by: String,
    tags: Vec<String>,
    tags_text: String,
    created_at: String,
    folder_id: String,
    thumbnail: Option<String>,
    plates: usize,
    time: String,
    can_update: bool,
    can_delete: bool,
}

struct Usage {
    files: i64,
    stored: String,
    listed: String,
}

/// Bytes in SI units, as the printers page shows sizes ("195 kB", "1.2 MB").
pub(crate) fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1000.0 {
        return format!("{bytes} bytes");
    }
    let (value, unit) = if b < 1e6 {
        (b / 1e3, "kB")
    } else if b < 1e9 {
        (b / 1e6, "MB")
    } else {
        (b / 1e9, "GB")
    };
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// The upload limit as the server's refusal names it ("1 GiB", "500 MiB").
fn limit_words(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Seconds as an operator reads a print time: "45 min", "1 h 25 min", "2 h".
pub(crate) fn human_duration(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The kind in words.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "gcode.3mf" => "Sliced project",
        "3mf" => "Project (not sliced)",
        "gcode" => "G-code",
        "stl" => "STL model",
        _ => "File",
    }
}

fn uploaded_by(f: &LibraryFileView) -> String {
    match (&f.uploaded_by, &f.owner) {
        (Some(u), Some(_)) => u.name.clone(),
        (Some(u), None) => format!("{} (account deleted)", u.name),
        (None, _) => "Nobody signed in".to_owned(),
    }
}

fn item(f: LibraryFileView) -> Item {
    let first = f.plates.iter().find(|p| p.thumbnail_url.is_some());
    let total: u64 = f.plates.iter().filter_map(|p| p.predicted_seconds).sum();
    Item {
        id: f.id.to_string(),
        href: format!("/library/files/{}", f.id),
        kind: kind_label(&f.kind),
        size: human_size(f.size),
        uploaded_by: uploaded_by(&f),
        tags_text: f.tags.join(", "),
        created_at: f.created_at.clone(),
        folder_id: f.folder_id.map(|i| i.to_string()).unwrap_or_default(),
        thumbnail: first.and_then(|p| p.thumbnail_url.clone()),
        plates: f.plates.len(),
        time: if total > 0 {
            human_duration(total)
        } else {
            String::new()
        },
        can_update: f.can_update,
        can_delete: f.can_delete,
        tags: f.tags,
        name: f.name,
    }
}

/// The folders as a depth-first tree (children by name under their parent).
fn tree(folders: &[LibraryFolderView], current: Option<LibraryFolderId>) -> Vec<TreeRow> {
    fn walk(
        folders: &[LibraryFolderView],
        parent: Option<LibraryFolderId>,
        depth: usize,
        current: Option<LibraryFolderId>,
        out: &mut Vec<TreeRow>,
    ) {
        let mut children: Vec<&LibraryFolderView> =
            folders.iter().filter(|f| f.parent_id == parent).collect();
        children.sort_by_key(|f| f.name.to_lowercase());
        for f in children {
            // A cycle cannot be stored; the depth bound keeps a damaged row from looping.
            if out.len() > folders.len() {
                return;
            }
            out.push(TreeRow {
                id: f.id.to_string(),
                name: f.name.clone(),
                parent_id: f.parent_id.map(|p| p.to_string()).unwrap_or_default(),
                depth: depth.min(MAX_DEPTH),
                href: format!("/library?folder={}", f.id),
                current: current == Some(f.id),
            });
            walk(folders, Some(f.id), depth + 1, current, out);
        }
    }
    let mut out = Vec::new();
    walk(folders, None, 0, current, &mut out);
    out
}

/// The "Move to" choices: the top level, then the tree with its depth shown by dashes.
fn folder_options(tree: &[TreeRow]) -> Vec<(String, String)> {
    tree.iter()
        .map(|r| (r.id.clone(), format!("{}{}", "— ".repeat(r.depth), r.name)))
        .collect()
}

fn parse_filters(pairs: &[(String, String)]) -> Filters {
    let text = |name: &str| query_param(pairs, name).unwrap_or("").trim().to_owned();
    let given = |name: &str| Some(text(name)).filter(|v| !v.is_empty());
    Filters {
        folder: text("folder"),
        q: text("q"),
        sort: text("sort"),
        limit: given("limit"),
        cursor: given("cursor"),
    }
}

/// A link to the list with the same filters, at `cursor` (or the first page).
fn page_href(f: &Filters, cursor: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("folder", &f.folder), ("q", &f.q), ("sort", &f.sort)] {
        if !value.is_empty() {
            q.append_pair(name, value);
        }
    }
    if let Some(limit) = &f.limit {
        q.append_pair("limit", limit);
    }
    if let Some(cursor) = cursor {
        q.append_pair("cursor", cursor);
    }
    let query = q.finish();
    if query.is_empty() {
        "/library".to_owned()
    } else {
        format!("/library?{query}")
    }
}

/// `GET /library?folder=&q=&sort=&limit=&cursor=`.
pub(crate) async fn library_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/library"),
    };
    let filters = parse_filters(&query_pairs(query.as_deref()));
    // The folder tree first: it is the read-right check for the page (403 without one).
    let folders = match app.library_folders(&actor).await {
        Ok(f) => f,
        Err(e) => return failure(e, &state, &viewer, &request_id, "/library"),
    };
    let current: Option<LibraryFolderId> = filters.folder.parse().ok();
    let mut error = None;
    if !filters.folder.is_empty()
        && filters.folder != "root"
        && current.is_none_or(|id| !folders.iter().any(|f| f.id == id))
    {
        error = Some("That folder does not exist (any more). Choose one from the list.".into());
    }
    let rows = tree(&folders, current);
    let mut trail = Vec::new();
    let mut at = current.and_then(|id| folders.iter().find(|f| f.id == id));
    while let Some(f) = at {
        if trail.len() > folders.len() {
            break;
        }
        trail.push((f.name.clone(), format!("/library?folder={}", f.id)));
        at = f.parent_id.and_then(|p| folders.iter().find(|g| g.id == p));
    }
    trail.reverse();
    let folder = rows.iter().find(|r| r.current).cloned();
    let heading = match (&folder, filters.folder.as_str()) {
        (Some(f), _) => f.name.clone(),
        (None, "root") => "Not in a folder".to_owned(),
        _ => "All files".to_owned(),
    };
    let mut items = Vec::new();
    let mut next_href = None;
    if error.is_none() {
        let params = LibraryFileQueryParams {
            folder_id: Some(filters.folder.clone()).filter(|f| !f.is_empty()),
            q: Some(filters.q.clone()).filter(|q| !q.is_empty()),
            sort: Some(filters.sort.clone()).filter(|s| !s.is_empty()),
            limit: filters.limit.clone(),
            cursor: filters.cursor.clone(),
        };
        match app.library_files_page(&actor, &params).await {
            Ok(page) => {
                next_href = page.next.as_deref().map(|n| page_href(&filters, Some(n)));
                items = page.items.into_iter().map(item).collect();
            }
            Err(AppError::BadRequest(m)) => error = Some(m),
            Err(e) => return failure(e, &state, &viewer, &request_id, "/library"),
        }
    }
    let can_purge = viewer.can(Permission::LibraryPurge);
    let usage = if can_purge {
        match app.library_usage(&actor).await {
            Ok(u) => Some(Usage {
                files: u.files,
                stored: human_size(u.bytes),
                listed: human_size(u.listed_bytes),
            }),
            Err(AppError::Forbidden) => None,
            Err(e) => return failure(e, &state, &viewer, &request_id, "/library"),
        }
    } else {
        None
    };
    let sort = if filters.sort.is_empty() {
        "-date"
    } else {
        filters.sort.as_str()
    };
    let max = app.library_max_upload();
    let page = LibraryPage {
        sorts: SORTS.iter().map(|(v, l)| (*v, *l, *v == sort)).collect(),
        first_href: filters.cursor.is_some().then(|| page_href(&filters, None)),
        folder_options: folder_options(&rows),
        upload_folder: folder.as_ref().map(|f| f.id.clone()).unwrap_or_default(),
        can_upload: viewer.can(Permission::LibraryUpload),
        can_manage_folders: viewer.can(Permission::LibraryUpdateAll),
        can_delete_folders: viewer.can(Permission::LibraryDeleteOwn)
            || viewer.can(Permission::LibraryDeleteAll),
        any_item_update: items.iter().any(|i| i.can_update),
        max_upload: limit_words(max),
        max_upload_bytes: max,
        layout: Layout::new(app, &viewer).with_module("js/library.js"),
        filters,
        error,
        tree: rows,
        trail,
        folder,
        heading,
        items,
        next_href,
        usage,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, render(&page, &request_id)).into_response()
}

#[derive(Template)]
#[template(path = "library_file.html")]
struct FilePage {
    layout: Layout,
    file: FileFacts,
    plates: Vec<Plate>,
    folder_options: Vec<(String, String)>,
    /// The folder it is in: (name, link), none at the top level.
    folder: Option<(String, String)>,
    targets: Vec<Target>,
    printable: bool,
    /// "Add to queue…": the viewer holds `queue:create` and the file is printable.
    can_queue: bool,
    queue: QueueChoices,
}

/// The add-to-queue dialog's targets: printers the viewer may queue on (by name), their
/// models, the locations the viewer may read, and the printer groups (with `printers:read`).
#[derive(Default)]
struct QueueChoices {
    printers: Vec<(String, String, String)>,
    models: Vec<String>,
    locations: Vec<(String, String)>,
    groups: Vec<(String, String)>,
}

struct FileFacts {
    id: String,
    name: String,
    title: String,
    kind: &'static str,
    size: String,
    uploaded_by: String,
    created_at: String,
    tags: Vec<String>,
    tags_text: String,
    folder_id: String,
    objects: Vec<String>,
    download_href: String,
    can_update: bool,
    can_delete: bool,
}

struct Plate {
    index: u32,
    label: String,
    thumbnail: Option<String>,
    time: String,
    weight: String,
    model: String,
    model_key: String,
    nozzle: String,
    filaments: Vec<Swatch>,
}

struct Swatch {
    slot: u32,
    color: String,
    label: String,
    material: String,
    grams: String,
}

struct Target {
    id: String,
    name: String,
    model: String,
    model_key: String,
    state: String,
    available: bool,
    reason: String,
}

fn plate(p: &PlateView) -> Plate {
    let model = p
        .printer_model
        .clone()
        .or_else(|| p.printer_model_id.clone())
        .unwrap_or_default();
    let key_source = p
        .printer_model_id
        .as_deref()
        .or(p.printer_model.as_deref())
        .unwrap_or("");
    Plate {
        index: p.index,
        label: match &p.name {
            Some(n) if !n.trim().is_empty() => format!("Plate {}: {}", p.index, n.trim()),
            _ => format!("Plate {}", p.index),
        },
        thumbnail: p.thumbnail_url.clone(),
        time: p.predicted_seconds.map(human_duration).unwrap_or_default(),
        weight: p.weight_g.map(|g| format!("{g:.1} g")).unwrap_or_default(),
        model_key: printer_model_key(key_source),
        model: model.trim_start_matches("Bambu Lab ").to_owned(),
        nozzle: p
            .nozzle_diameter
            .map(|n| format!("{n} mm nozzle"))
            .unwrap_or_default(),
        filaments: p
            .filaments
            .iter()
            .map(|f| {
                let color = if f.color.len() >= 7 && f.color.starts_with('#') {
                    f.color.get(..7).unwrap_or("#000000").to_owned()
                } else {
                    String::new()
                };
                let material = if f.material.is_empty() {
                    "Filament".to_owned()
                } else {
                    f.material.clone()
                };
                let grams = f.grams.map(|g| format!("{g:.1} g")).unwrap_or_default();
                let mut label = format!("Slot {}: {material}", f.slot);
                if !color.is_empty() {
                    label.push_str(&format!(", colour {color}"));
                }
                if !grams.is_empty() {
                    label.push_str(&format!(", {grams}"));
                }
                Swatch {
                    slot: f.slot,
                    color,
                    label,
                    material,
                    grams,
                }
            })
            .collect(),
    }
}

fn target(t: PrintTargetView) -> Target {
    Target {
        id: t.id.to_string(),
        name: t.name,
        model: t.model,
        model_key: t.model_key,
        state: t.state,
        available: t.available,
        reason: t.reason.unwrap_or_default(),
    }
}

/// The add-to-queue targets for the viewer: the printers they may queue on (the app decides
/// per printer), the models of those printers, and the locations they may read.
async fn queue_choices(app: &pw_app::App, actor: &pw_app::Actor) -> Result<QueueChoices, AppError> {
    let printers = app.queue_printer_targets(actor).await?;
    let mut models: Vec<String> = printers
        .iter()
        .map(|p| p.model.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    models.sort();
    models.dedup();
    let locations = match app.list_locations(actor).await {
        Ok(l) => l.into_iter().map(|l| (l.id.to_string(), l.name)).collect(),
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return Err(e),
    };
    let groups = match app.list_printer_groups(actor).await {
        Ok(g) => g.into_iter().map(|g| (g.id.to_string(), g.name)).collect(),
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(QueueChoices {
        printers: printers
            .into_iter()
            .map(|p| (p.id.to_string(), p.name, p.model))
            .collect(),
        models,
        locations,
        groups,
    })
}

/// `GET /library/files/{id}`: one file; 404 for a file the viewer may not see (as the API).
pub(crate) async fn library_file_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    Path(raw_id): Path<String>,
) -> Response {
    let app = &state.app;
    let path = format!("/library/files/{raw_id}");
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, &path),
    };
    let loaded = async {
        let id: LibraryFileId = raw_id.parse().map_err(|_| AppError::NotFound)?;
        let file = app.get_library_file(&actor, id).await?;
        let folders = app.library_folders(&actor).await?;
        let printable = matches!(file.kind.as_str(), "gcode.3mf" | "gcode");
        let targets = if printable {
            app.library_print_targets(&actor).await?
        } else {
            Vec::new()
        };
        let can_queue = printable && viewer.can(Permission::QueueCreate);
        let queue = if can_queue {
            queue_choices(app, &actor).await?
        } else {
            QueueChoices::default()
        };
        Ok::<_, AppError>((file, folders, targets, printable, can_queue, queue))
    }
    .await;
    let (file, folders, targets, printable, can_queue, queue) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &viewer, &request_id, &path),
    };
    let rows = tree(&folders, file.folder_id);
    let folder = file
        .folder_id
        .and_then(|id| folders.iter().find(|f| f.id == id))
        .map(|f| (f.name.clone(), format!("/library?folder={}", f.id)));
    let page = FilePage {
        layout: Layout::new(app, &viewer).with_module("js/library_file.js"),
        plates: file.plates.iter().map(plate).collect(),
        folder_options: folder_options(&rows),
        folder,
        targets: targets.into_iter().map(target).collect(),
        printable,
        can_queue,
        queue,
        file: FileFacts {
            id: file.id.to_string(),
            title: file.title.clone().unwrap_or_default(),
            kind: kind_label(&file.kind),
            size: human_size(file.size),
            uploaded_by: uploaded_by(&file),
            created_at: file.created_at.clone(),
            tags_text: file.tags.join(", "),
            folder_id: file.folder_id.map(|i| i.to_string()).unwrap_or_default(),
            download_href: format!("/api/v1/library/files/{}/download", file.id),
            can_update: file.can_update,
            can_delete: file.can_delete,
            tags: file.tags,
            objects: file.objects,
            name: file.name,
        },
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_as_an_operator_says_them() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(200_000), "200 kB");
        assert_eq!(human_size(1_234_567), "1.2 MB");
        assert_eq!(human_duration(5100), "1 h 25 min");
        assert_eq!(human_duration(3600), "1 h");
        assert_eq!(human_duration(59), "1 min");
        assert_eq!(human_duration(2700), "45 min");
        assert_eq!(limit_words(1024 * 1024 * 1024), "1 GiB");
        assert_eq!(limit_words(500 * 1024 * 1024), "500 MiB");
    }
}
