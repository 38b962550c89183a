//! The print archive: every print as an entry (recorded automatically by [`watch`], or by hand
//! with `archives:create`), listed newest first with filters and pages in SQL, read, annotated
//! (notes, tags, rating), deleted, purged and exported as CSV. Beside the watcher, [`link`]
//! links an entry to its printed file (plate image, filament use) and `snapshot` takes its
//! end-of-print camera frame; `photos` keeps users' photos and serves every picture.
//!
//! Invariants: an entry's owner is who started the print (`started_by`); `_own`/`_all` rights
//! are decided by `pw_policy` — in the list's SQL (the printer sets the caller's `*_all` and
//! `*_own` rights reach, the owner column) and per entry with `authorize(OnOwned)` — so a list
//! never shows an entry a read would refuse; archive rights are printer-bound, so a principal
//! scoped to some printers (group scope, an API key's printer list) sees those printers'
//! entries only; an entry whose printer was removed needs the right everywhere; ownerless
//! entries (started elsewhere, or the starter deleted with `items=keep`) need `*_all`; an entry
//! the caller may not read is a 404, never a 403; CSV cells never start a formula; deleting or
//! purging entries releases the blobs they named (file, plate image, frame, photos) through the
//! one release path, so content goes only when no library file, entry, photo or open print job
//! names it.

pub(crate) mod link;
mod photos;
mod rights;
mod snapshot;
pub(crate) mod watch;

pub use photos::{
    ArchiveImage, ArchivePhotoUpload, ArchivePicture, ImageKind, PHOTO_MAX, PHOTOS_MAX,
};
pub use rights::ArchiveRights;
pub(crate) use watch::JobView;

use pw_domain::{LocationId, Permission, UserId};
use pw_policy::{Action, Decision, PrinterRef, Target, Visibility, authorize, printer_visibility};
use pw_store::{
    ArchiveFilter, ArchivePatch, ArchivePhotoRow, ArchiveRow, ManualArchive, StarterMatch,
};
use serde::{Deserialize, Serialize};

use crate::accounts::owned::{ContentKind, ItemFuture};
use crate::core::clock::{parse_rfc3339, rfc3339};
use crate::core::page::{Listing, PageParams, PageRequest, printer_filter};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The outcomes an entry can have.
pub const OUTCOMES: [&str; 4] = ["printing", "finished", "failed", "cancelled"];

/// Longest notes, in characters.
const NOTES_MAX: usize = 10_000;
/// Most tags on an entry, and the longest tag.
const TAGS_MAX: usize = 32;
const TAG_MAX: usize = 64;

/// One filament used by a print.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilamentUsed {
    /// Where it was loaded: `AMS 1 tray 2`, `external`.
    pub slot: String,
    /// Material, when known.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `RRGGBBAA`, when known.
    pub color: Option<String>,
    /// Grams used, when known (from the printed file's plate).
    pub grams: Option<f64>,
    /// Metres used, when known (from the printed file's plate).
    #[serde(default)]
    pub meters: Option<f64>,
}

/// Who started a print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StartedBy {
    /// The account (null once it was deleted).
    pub id: Option<i64>,
    /// Their name when they started it.
    pub name: String,
}

/// How a print was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveSource {
    /// Through printwarden (upload-and-print, later the library and the queue).
    Printwarden,
    /// Outside printwarden: slicer, SD card, cloud, the printer's screen, or recorded by hand.
    Elsewhere,
}

/// How a print ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveOutcome {
    /// Still running.
    Printing,
    /// Done.
    Finished,
    /// Failed (see `error`).
    Failed,
    /// Stopped by a user.
    Cancelled,
}

/// One archive entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchiveView {
    /// Id.
    pub id: i64,
    /// The printer (null once it was removed).
    pub printer_id: Option<i64>,
    /// The printer's name when it printed.
    pub printer_name: String,
    /// The file printed.
    pub file_name: String,
    /// The plate, when known.
    pub plate: Option<i64>,
    /// When it started (RFC 3339): when printwarden saw the printer start the job.
    pub started_at: String,
    /// When it ended (RFC 3339), null while printing.
    pub ended_at: Option<String>,
    /// Seconds from start to end, null while printing.
    pub duration_s: Option<i64>,
    /// How it ended.
    pub outcome: ArchiveOutcome,
    /// Who started it; null = outside printwarden.
    pub started_by: Option<StartedBy>,
    /// How it was started.
    pub source: ArchiveSource,
    /// The filaments seen in use.
    pub filaments: Vec<FilamentUsed>,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// The printer's error code (`MMMM_EEEE`), when it reported one.
    pub error_code: Option<String>,
    /// Notes.
    pub notes: String,
    /// Tags.
    pub tags: Vec<String>,
    /// 1–5, null when not rated.
    pub rating: Option<i64>,
    /// SHA-256 of the printed file, once printwarden keeps it (from the library, or fetched
    /// from the printer for a print started elsewhere); null without.
    pub file_sha256: Option<String>,
    /// The plate image (PNG, cached immutable: the URL carries its hash); null without.
    pub thumbnail_url: Option<String>,
    /// The camera frame taken when the print ended (JPEG, cached immutable); null without.
    pub snapshot_url: Option<String>,
    /// Photos users added, oldest first.
    pub photos: Vec<ArchivePhotoView>,
    /// The library file it was printed from; null when unknown (started elsewhere with a file
    /// the library does not have, or the library file was deleted).
    pub library_file_id: Option<i64>,
}

/// A photo of an archive entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchivePhotoView {
    /// Id.
    pub id: i64,
    /// Where the image is (`/api/v1/archives/{id}/photos/{photo_id}`).
    pub url: String,
    /// Who added it (the id is null once the account was deleted).
    pub added_by: Option<StartedBy>,
    /// When (RFC 3339).
    pub added_at: String,
}

/// `GET /api/v1/archives` and `/api/v1/archives/export.csv` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    /// Only this printer.
    #[serde(default)]
    pub printer_id: Option<String>,
    /// Only this outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Only prints started by this user: an id, or a name.
    #[serde(default)]
    pub user: Option<String>,
    /// A piece of the file name, printer name or notes.
    #[serde(default)]
    pub q: Option<String>,
    /// RFC 3339: started at or after.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339: started before.
    #[serde(default)]
    pub until: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `PATCH /api/v1/archives/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivePatchInput {
    /// Notes (up to 10,000 characters).
    #[serde(default)]
    pub notes: Option<String>,
    /// Tags (up to 32, each 1–64 characters); replaces the list.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// 1–5; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub rating: Option<Option<i64>>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/v1/archives`: a print done outside printwarden, recorded by hand (it was not
/// seen: printwarden was down, or the printer was not connected).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArchive {
    /// The printer it ran on.
    pub printer_id: i64,
    /// The file printed.
    pub file_name: String,
    /// The plate.
    #[serde(default)]
    pub plate: Option<i64>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, not before `started_at`.
    pub ended_at: String,
    /// `finished`, `failed` or `cancelled`.
    pub outcome: String,
    /// Why it failed, in words.
    #[serde(default)]
    pub error: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// 1–5.
    #[serde(default)]
    pub rating: Option<i64>,
}

/// `POST /api/v1/archives/purge`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeArchives {
    /// RFC 3339: every ended entry that started before this goes.
    pub before: String,
}

/// What a purge did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PurgeOutcome {
    /// Entries deleted.
    pub deleted: u64,
}

fn parse_time(name: &str, value: &str) -> Result<i64, AppError> {
    parse_rfc3339(value.trim()).ok_or_else(|| {
        AppError::BadRequest(format!(
            "{name} must be an RFC 3339 time, e.g. 2026-11-23T00:00:00Z."
        ))
    })
}

fn optional_time(name: &str, value: Option<&str>) -> Result<Option<i64>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => parse_time(name, v).map(Some),
    }
}

fn check_rating(rating: Option<i64>) -> Result<(), AppError> {
    if rating.is_some_and(|r| !(1..=5).contains(&r)) {
        return Err(AppError::BadRequest("The rating must be 1 to 5.".into()));
    }
    Ok(())
}

fn check_notes(notes: &str) -> Result<(), AppError> {
    if notes.chars().count() > NOTES_MAX {
        return Err(AppError::BadRequest(format!(
            "Notes can be at most {NOTES_MAX} characters."
        )));
    }
    Ok(())
}

fn tags_json(tags: &[String]) -> Result<String, AppError> {
    if tags.len() > TAGS_MAX {
        return Err(AppError::BadRequest(format!(
            "An entry can have at most {TAGS_MAX} tags."
        )));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = t.trim();
        if t.is_empty() || t.chars().count() > TAG_MAX || pw_domain::has_hidden_chars(t) {
            return Err(AppError::BadRequest(format!(
                "Each tag must be 1–{TAG_MAX} characters without control or invisible formatting characters."
            )));
        }
        if !clean.iter().any(|c| c == t) {
            clean.push(t.to_owned());
        }
    }
    serde_json::to_string(&clean).map_err(|e| AppError::Internal(Box::new(e)))
}

fn outcome_of(s: &str) -> ArchiveOutcome {
    match s {
        "finished" => ArchiveOutcome::Finished,
        "failed" => ArchiveOutcome::Failed,
        "cancelled" => ArchiveOutcome::Cancelled,
        _ => ArchiveOutcome::Printing,
    }
}

/// The filaments to show: the trays seen in use, with the use the printed file's plate gives
/// (grams, metres) joined to the tray of the same material and colour, and the file's other
/// filaments after them.
pub(crate) fn filaments_of(row: &ArchiveRow) -> Vec<FilamentUsed> {
    let seen: Vec<FilamentUsed> = serde_json::from_str(&row.filaments).unwrap_or_default();
    let from_file: Vec<FilamentUsed> = row
        .file_filaments
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default();
    join_filaments(seen, from_file)
}

/// Joins the file's filaments to the trays seen in use: first by material and colour; then,
/// when exactly one tray and one of the file's filaments are left, those two — a plate's
/// filament goes to whichever tray the start mapped it to, whose colour the slicer's often
/// does not match exactly (the same print must not read as two filaments, one without its
/// grams). A joined tray keeps what the printer said was loaded and takes the file's use.
fn join_filaments(mut seen: Vec<FilamentUsed>, from_file: Vec<FilamentUsed>) -> Vec<FilamentUsed> {
    let colour = |c: &Option<String>| {
        c.as_deref()
            .map(|c| c.trim_start_matches('#').to_ascii_uppercase())
            .map(|c| c.chars().take(6).collect::<String>())
    };
    let mut extra = Vec::new();
    for f in from_file {
        let same = seen.iter_mut().find(|s| {
            s.grams.is_none()
                && s.kind.is_some()
                && s.kind.as_deref().map(str::to_lowercase)
                    == f.kind.as_deref().map(str::to_lowercase)
                && colour(&s.color) == colour(&f.color)
        });
        match same {
            Some(s) => {
                s.grams = f.grams;
                s.meters = f.meters;
            }
            None => extra.push(f),
        }
    }
    let mut open = seen.iter_mut().filter(|s| s.grams.is_none());
    if let ([f], Some(tray), None) = (extra.as_slice(), open.next(), open.next()) {
        if tray.kind.is_none() {
            tray.kind.clone_from(&f.kind);
        }
        if tray.color.is_none() {
            tray.color.clone_from(&f.color);
        }
        tray.grams = f.grams;
        tray.meters = f.meters;
        extra.clear();
    }
    seen.extend(extra);
    seen
}

/// The view of a row with its photos.
fn view(row: ArchiveRow, photos: &[ArchivePhotoRow]) -> ArchiveView {
    let source = if row.source == "printwarden" {
        ArchiveSource::Printwarden
    } else {
        ArchiveSource::Elsewhere
    };
    let started_by = match (row.started_by, &row.started_by_name) {
        (None, None) => None,
        (id, name) => Some(StartedBy {
            id: id.map(UserId::get),
            name: name.clone().unwrap_or_default(),
        }),
    };
    let id = row.id;
    let media = |kind: &str, sha: &Option<String>| {
        sha.as_ref()
            .map(|sha| format!("/api/v1/archives/{id}/{kind}?v={sha}"))
    };
    ArchiveView {
        id,
        printer_id: row.printer_id.map(pw_domain::PrinterId::get),
        filaments: filaments_of(&row),
        thumbnail_url: media("thumbnail", &row.thumbnail_sha256),
        snapshot_url: media("snapshot", &row.snapshot_sha256),
        photos: photos
            .iter()
            .filter(|p| p.archive_id == id)
            .map(|p| ArchivePhotoView {
                id: p.id,
                url: format!("/api/v1/archives/{id}/photos/{}", p.id),
                added_by: match (p.added_by, &p.added_by_name) {
                    (None, None) => None,
                    (user, name) => Some(StartedBy {
                        id: user.map(UserId::get),
                        name: name.clone().unwrap_or_default(),
                    }),
                },
                added_at: rfc3339(p.added_at),
            })
            .collect(),
        library_file_id: row.library_file_id.map(pw_domain::LibraryFileId::get),
        printer_name: row.printer_name,
        file_name: row.file_name,
        plate: row.plate,
        started_at: rfc3339(row.started_at),
        ended_at: row.ended_at.map(rfc3339),
        duration_s: row.duration_s,
        outcome: outcome_of(&row.outcome),
        started_by,
        source,
        error: row.error,
        error_code: row.error_code,
        notes: row.notes,
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        rating: row.rating,
        file_sha256: row.file_sha256,
    }
}

/// A cell of the CSV export: quoted, and never read as a formula by a spreadsheet (a cell
/// starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`).
#[must_use]
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// The CSV export's header line.
const CSV_HEADER: &str = "id,printer_id,printer,file,plate,started_at,ended_at,duration_s,outcome,started_by,source,error,filaments,notes,tags,rating,filament_g,file_sha256\r\n";

fn csv_line(v: &ArchiveView) -> String {
    let opt = |o: Option<i64>| o.map(|n| n.to_string()).unwrap_or_default();
    let outcome = match v.outcome {
        ArchiveOutcome::Printing => "printing",
        ArchiveOutcome::Finished => "finished",
        ArchiveOutcome::Failed => "failed",
        ArchiveOutcome::Cancelled => "cancelled",
    };
    let source = match v.source {
        ArchiveSource::Printwarden => "printwarden",
        ArchiveSource::Elsewhere => "elsewhere",
    };
    let filaments = v
        .filaments
        .iter()
        .map(|f| {
            [Some(f.slot.as_str()), f.kind.as_deref(), f.color.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let grams = {
        let known: Vec<f64> = v.filaments.iter().filter_map(|f| f.grams).collect();
        if known.is_empty() {
            String::new()
        } else {
            format!("{:.2}", known.iter().sum::<f64>())
        }
    };
    let cells = [
        v.id.to_string(),
        opt(v.printer_id),
        csv_cell(&v.printer_name),
        csv_cell(&v.file_name),
        opt(v.plate),
        v.started_at.clone(),
        v.ended_at.clone().unwrap_or_default(),
        opt(v.duration_s),
        outcome.to_owned(),
        csv_cell(v.started_by.as_ref().map_or("", |s| s.name.as_str())),
        source.to_owned(),
        csv_cell(v.error.as_deref().unwrap_or_default()),
        csv_cell(&filaments),
        csv_cell(&v.notes),
        csv_cell(&v.tags.join(", ")),
        opt(v.rating),
        grams,
        v.file_sha256.clone().unwrap_or_default(),
    ];
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

/// `GET /api/v1/archives`: the API's page (`{"items", "next"}`) and how far a short search
/// looked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchiveListPage {
    /// The entries of this page, newest first.
    pub items: Vec<ArchiveView>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next: Option<String>,
    /// Set when a search for 1–2 characters stopped before filling the page (it reads at most
    /// 5,000 entries a page): the start time of the oldest entry it looked at (RFC 3339).
    /// Every match since then is on this page or an earlier one; `next` searches older
    /// entries. Null when the page is full or nothing older is left.
    pub searched_until: Option<String>,
}

/// The CSV export, read page by page (never the whole archive in memory).
#[derive(Debug)]
pub struct ArchiveExport {
    app: App,
    filter: ArchiveFilter,
    after: Option<(i64, i64)>,
    started: bool,
    done: bool,
}

/// Rows per chunk of the export.
const EXPORT_CHUNK: i64 = 500;

impl ArchiveExport {
    /// The next piece of the CSV; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, AppError> {
        if self.done {
            return Ok(None);
        }
        let mut out = String::new();
        if !self.started {
            self.started = true;
            out.push_str(CSV_HEADER);
        }
        let rows = self
            .app
            .store
            .archives_page(&self.filter, self.after, EXPORT_CHUNK)
            .await?;
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) < EXPORT_CHUNK {
            self.done = true;
        }
        self.after = rows.last().map(|r| (r.started_at, r.id));
        for row in rows {
            out.push_str(&csv_line(&view(row, &[])));
        }
        if out.is_empty() {
            return Ok(None);
        }
        Ok(Some(bytes::Bytes::from(out)))
    }
}

impl App {
    /// Whether `permission_own`/`permission_all` let the actor act on the entry: `authorize`
    /// with the entry's owner and printer; an entry whose printer was removed needs the right
    /// on every printer.
    fn archive_allows(
        &self,
        actor: &Actor,
        row: &ArchiveRow,
        own: Permission,
        all: Permission,
    ) -> bool {
        match row.printer_id {
            Some(printer) => matches!(
                authorize(
                    &actor.principal,
                    Action::OnOwned {
                        own: Some(own),
                        all,
                    },
                    &Target::Owned {
                        owner: row.started_by,
                        printer: Some(PrinterRef {
                            printer,
                            location: row.location_id.map(LocationId::from_db),
                        }),
                    },
                ),
                Decision::Allow
            ),
            None => {
                let everywhere = |p| printer_visibility(&actor.principal, p) == Visibility::All;
                everywhere(all)
                    || (row.started_by.is_some()
                        && row.started_by == actor.user_id
                        && everywhere(own))
            }
        }
    }

    /// The entry, if the actor may read it (404 otherwise) and act on it with `own`/`all`
    /// (403 when they may read but not act).
    pub(crate) async fn archive_for(
        &self,
        actor: &Actor,
        id: i64,
        act: Option<(Permission, Permission)>,
    ) -> Result<ArchiveRow, AppError> {
        let row = self.store.archive(id).await?.ok_or(AppError::NotFound)?;
        if !self.archive_allows(
            actor,
            &row,
            Permission::ArchivesReadOwn,
            Permission::ArchivesReadAll,
        ) {
            return Err(AppError::NotFound);
        }
        if let Some((own, all)) = act
            && !self.archive_allows(actor, &row, own, all)
        {
            return Err(AppError::Forbidden);
        }
        Ok(row)
    }

    /// The entries the actor may read, as a store filter without other conditions (the list,
    /// and a project's member entries, run it in SQL).
    pub(crate) fn archive_visibility(actor: &Actor) -> ArchiveFilter {
        let mut filter = ArchiveFilter::nothing();
        filter.all = printer_filter(printer_visibility(
            &actor.principal,
            Permission::ArchivesReadAll,
        ));
        filter.own = actor.user_id.map(|me| {
            (
                me.get(),
                printer_filter(printer_visibility(
                    &actor.principal,
                    Permission::ArchivesReadOwn,
                )),
            )
        });
        filter
    }

    /// The list's filter: the caller's visibility and the asked-for filters, validated.
    fn archive_filter(&self, actor: &Actor, q: &ArchiveQuery) -> Result<ArchiveFilter, AppError> {
        // The door: some archive read right (owners need `read_own`).
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::ArchivesReadOwn),
                all: Permission::ArchivesReadAll,
            },
            &Target::Global,
        )?;
        let mut filter = Self::archive_visibility(actor);
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(p) = text(&q.printer_id) {
            filter.printer = Some(p.parse::<i64>().map_err(|_| {
                AppError::BadRequest("printer_id must be a printer's id (a number).".into())
            })?);
        }
        if let Some(o) = text(&q.outcome) {
            if !OUTCOMES.contains(&o.as_str()) {
                return Err(AppError::BadRequest(
                    "outcome must be printing, finished, failed or cancelled.".into(),
                ));
            }
            filter.outcome = Some(o);
        }
        filter.user = text(&q.user).map(|u| match u.parse::<i64>() {
            Ok(id) => StarterMatch::Id(id),
            Err(_) => StarterMatch::Name(u),
        });
        if let Some(search) = text(&q.q) {
            if search.chars().count() > 200 {
                return Err(AppError::BadRequest(
                    "The search text can be at most 200 characters.".into(),
                ));
            }
            filter.q = Some(search);
        }
        filter.since = optional_time("since", q.since.as_deref())?;
        filter.until = optional_time("until", q.until.as_deref())?;
        Ok(filter)
    }

    /// `GET /api/v1/archives`: one page of entries the caller may read, newest first. A search
    /// for 1–2 characters reads at most a window of entries (no index answers it): when that
    /// ends before the page is full, the page holds the matches found, `searched_until` says
    /// how far back it looked, and `next` continues from there.
    pub async fn list_archives(
        &self,
        actor: &Actor,
        q: &ArchiveQuery,
    ) -> Result<ArchiveListPage, AppError> {
        let filter = self.archive_filter(actor, q)?;
        let page = PageRequest::parse(
            Listing::Archives,
            &PageParams {
                limit: q.limit.clone(),
                cursor: q.cursor.clone(),
            },
        )?;
        let after = match &page.after {
            None => None,
            Some((key, id)) => Some((
                key.parse::<i64>().map_err(|_| {
                    AppError::BadRequest(
                        "The page cursor is not valid; start again from the first page.".into(),
                    )
                })?,
                *id,
            )),
        };
        let found = self
            .store
            .archives_list(&filter, after, page.store().fetch)
            .await?;
        let (rows, next) = page.finish(Listing::Archives, found.rows, |r| {
            (r.started_at.to_string(), r.id)
        });
        // A window that ended before the page filled: continue after its last entry (one the
        // caller may see — the window counts only those — so the cursor betrays nothing).
        let (next, searched_until) = match found.searched_to {
            Some((at, id)) if next.is_none() => (
                Some(PageRequest::cursor(
                    Listing::Archives,
                    &(at.to_string(), id),
                )),
                Some(rfc3339(at)),
            ),
            _ => (next, None),
        };
        let photos = self
            .store
            .archive_photos(&rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .await?;
        Ok(ArchiveListPage {
            items: rows.into_iter().map(|r| view(r, &photos)).collect(),
            next,
            searched_until,
        })
    }

    /// `GET /api/v1/archives/export.csv`: the same filters, every matching entry.
    pub fn export_archives(
        &self,
        actor: &Actor,
        q: &ArchiveQuery,
    ) -> Result<ArchiveExport, AppError> {
        let filter = self.archive_filter(actor, q)?;
        Ok(ArchiveExport {
            app: self.clone(),
            filter,
            after: None,
            started: false,
            done: false,
        })
    }

    /// `GET /api/v1/archives/{id}`.
    pub async fn archive_entry(&self, actor: &Actor, id: i64) -> Result<ArchiveView, AppError> {
        let row = self.archive_for(actor, id, None).await?;
        self.archive_view(row).await
    }

    /// The view of one entry, with its photos.
    pub(super) async fn archive_view(&self, row: ArchiveRow) -> Result<ArchiveView, AppError> {
        let photos = self.store.archive_photos(&[row.id]).await?;
        Ok(view(row, &photos))
    }

    /// `PATCH /api/v1/archives/{id}`: notes, tags, rating.
    pub async fn update_archive(
        &self,
        actor: &Actor,
        id: i64,
        input: ArchivePatchInput,
    ) -> Result<ArchiveView, AppError> {
        let row = self
            .archive_for(
                actor,
                id,
                Some((Permission::ArchivesUpdateOwn, Permission::ArchivesUpdateAll)),
            )
            .await?;
        if let Some(n) = &input.notes {
            check_notes(n)?;
        }
        if let Some(Some(r)) = input.rating {
            check_rating(Some(r))?;
        }
        let tags = input.tags.as_deref().map(tags_json).transpose()?;
        let mut fields = Vec::new();
        if input.notes.is_some() {
            fields.push("notes");
        }
        if tags.is_some() {
            fields.push("tags");
        }
        if input.rating.is_some() {
            fields.push("rating");
        }
        if !self
            .store
            .update_archive(
                row.id,
                &ArchivePatch {
                    notes: input.notes.as_deref(),
                    tags: tags.as_deref(),
                    rating: input.rating,
                },
            )
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::ArchiveUpdate,
            Some(("archive", row.id.to_string())),
            true,
            serde_json::json!({ "fields": fields }),
        )
        .await;
        self.archive_entry(actor, id).await
    }

    /// `DELETE /api/v1/archives/{id}`.
    pub async fn delete_archive(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let row = self
            .archive_for(
                actor,
                id,
                Some((Permission::ArchivesDeleteOwn, Permission::ArchivesDeleteAll)),
            )
            .await?;
        self.delete_archive_row(actor, &row).await
    }

    async fn delete_archive_row(&self, actor: &Actor, row: &ArchiveRow) -> Result<(), AppError> {
        {
            // The entry's file, images and photos go when nothing else names them (the
            // library may still hold the file; another entry the same content).
            let held = self.blob_refs().await;
            let blobs = self.store.archive_blobs(row.id).await?;
            if !self.store.delete_archive(row.id).await? {
                return Err(AppError::NotFound);
            }
            if !blobs.is_empty() {
                self.release_blobs(&held, &blobs).await?;
            }
        }
        if let Some(printer) = row.printer_id {
            // A printer card must not link an entry deleted mid-print.
            self.fleet.forget_archive(printer, row.id);
        }
        self.audit(
            actor,
            AuditEvent::ArchiveDelete,
            Some(("archive", row.id.to_string())),
            true,
            serde_json::json!({
                "printer": row.printer_name,
                "file": row.file_name,
                "started_by": row.started_by_name,
            }),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/archives/purge`: deletes every ended entry that started before `before`
    /// (entries still printing stay).
    pub async fn purge_archives(
        &self,
        actor: &Actor,
        input: PurgeArchives,
    ) -> Result<PurgeOutcome, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ArchivesPurge),
            &Target::Global,
        )?;
        let before = parse_time("before", &input.before)?;
        let deleted = {
            let held = self.blob_refs().await;
            let (deleted, blobs) = self.store.purge_archives(before).await?;
            if !blobs.is_empty() {
                self.release_blobs(&held, &blobs).await?;
            }
            deleted
        };
        self.audit(
            actor,
            AuditEvent::ArchivePurge,
            None,
            true,
            serde_json::json!({ "before": rfc3339(before), "deleted": deleted }),
        )
        .await;
        Ok(PurgeOutcome { deleted })
    }

    /// `POST /api/v1/archives`: records a print done outside printwarden by hand; the caller
    /// owns the entry.
    pub async fn create_archive(
        &self,
        actor: &Actor,
        input: CreateArchive,
    ) -> Result<ArchiveView, AppError> {
        let printer = self
            .store
            .printer(pw_domain::PrinterId::from_db(input.printer_id))
            .await?
            .filter(|row| self.may(actor, Permission::PrintersRead, row))
            .ok_or_else(|| {
                AppError::BadRequest(format!("printer {} does not exist.", input.printer_id))
            })?;
        self.require(
            actor,
            Action::Perform(Permission::ArchivesCreate),
            &Target::Printer(PrinterRef {
                printer: printer.id,
                location: printer.location_id,
            }),
        )?;
        let file = input.file_name.trim();
        if file.is_empty() || file.chars().count() > 255 || pw_domain::has_hidden_chars(file) {
            return Err(AppError::BadRequest(
                "The file name must be 1–255 characters without control or invisible formatting characters.".into(),
            ));
        }
        if input.plate.is_some_and(|p| !(1..=64).contains(&p)) {
            return Err(AppError::BadRequest("plate must be 1 to 64.".into()));
        }
        let started = parse_time("started_at", &input.started_at)?;
        let ended = parse_time("ended_at", &input.ended_at)?;
        if ended < started {
            return Err(AppError::BadRequest(
                "The print cannot end before it started.".into(),
            ));
        }
        if ended > self.now() {
            return Err(AppError::BadRequest(
                "Record prints that have ended; the end is in the future.".into(),
            ));
        }
        let outcome = input.outcome.trim();
        if !["finished", "failed", "cancelled"].contains(&outcome) {
            return Err(AppError::BadRequest(
                "outcome must be finished, failed or cancelled.".into(),
            ));
        }
        let error = input
            .error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        if let Some(e) = error {
            check_notes(e)?;
        }
        let notes = input.notes.unwrap_or_default();
        check_notes(&notes)?;
        check_rating(input.rating)?;
        let tags = tags_json(&input.tags.unwrap_or_default())?;
        let id = self
            .store
            .insert_manual_archive(&ManualArchive {
                printer_id: printer.id,
                printer_name: &printer.name,
                file_name: file,
                plate: input.plate,
                started_by: actor.user_id,
                started_by_name: &actor.name,
                started_at: started,
                ended_at: ended,
                outcome,
                error,
                notes: &notes,
                tags: &tags,
                rating: input.rating,
                now: self.now(),
            })
            .await?;
        self.audit(
            actor,
            AuditEvent::ArchiveCreate,
            Some(("archive", id.to_string())),
            true,
            serde_json::json!({ "printer": printer.name, "file": file, "outcome": outcome }),
        )
        .await;
        let row = self.store.archive(id).await?.ok_or(AppError::NotFound)?;
        self.archive_view(row).await
    }
}

/// The archive as a kind of a user's own content (user deletion's counts and `items=delete`).
pub(crate) static ARCHIVES: ContentKind = ContentKind {
    name: "archives",
    count: count_of,
    authorize_delete: authorize_delete_of,
    delete: delete_of,
};

fn count_of(app: &App, user: UserId) -> ItemFuture<'_, i64> {
    Box::pin(async move { Ok(app.store.count_archives_of(user).await?) })
}

fn authorize_delete_of<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, ()> {
    Box::pin(async move {
        for row in app.store.archives_of(user).await? {
            if !app.archive_allows(
                actor,
                &row,
                Permission::ArchivesDeleteOwn,
                Permission::ArchivesDeleteAll,
            ) {
                return Err(AppError::Forbidden);
            }
        }
        Ok(())
    })
}

fn delete_of<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, u64> {
    Box::pin(async move {
        let mut deleted = 0;
        for row in app.store.archives_of(user).await? {
            match app.delete_archive_row(actor, &row).await {
                Ok(()) => deleted += 1,
                Err(AppError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filament(
        slot: &str,
        kind: Option<&str>,
        color: Option<&str>,
        grams: Option<f64>,
    ) -> FilamentUsed {
        FilamentUsed {
            slot: slot.to_owned(),
            kind: kind.map(str::to_owned),
            color: color.map(str::to_owned),
            grams,
            meters: None,
        }
    }

    #[test]
    fn a_one_filament_plate_on_one_tray_is_one_filament_with_its_grams() {
        // The tray holds red PLA, the slicer said orange PLA: still the one filament printed.
        let joined = join_filaments(
            vec![filament(
                "AMS 1 tray 1",
                Some("PLA"),
                Some("F72323FF"),
                None,
            )],
            vec![filament(
                "filament 1",
                Some("PLA"),
                Some("#FF8000"),
                Some(3.1),
            )],
        );
        assert_eq!(
            joined,
            [filament(
                "AMS 1 tray 1",
                Some("PLA"),
                Some("F72323FF"),
                Some(3.1)
            )]
        );
        // A tray the printer said nothing more about takes the file's material and colour.
        let joined = join_filaments(
            vec![filament("external", None, None, None)],
            vec![filament(
                "filament 1",
                Some("PETG"),
                Some("#1F6FEB"),
                Some(2.0),
            )],
        );
        assert_eq!(
            joined,
            [filament(
                "external",
                Some("PETG"),
                Some("#1F6FEB"),
                Some(2.0)
            )]
        );
    }

    #[test]
    fn filaments_join_by_material_and_colour_and_the_rest_stay_apart() {
        let trays = vec![
            filament("AMS 1 tray 1", Some("PLA"), Some("FF8000FF"), None),
            filament("AMS 1 tray 2", Some("PETG"), Some("000000FF"), None),
        ];
        let file = vec![
            filament("filament 1", Some("PLA"), Some("#FF8000"), Some(9.5)),
            filament("filament 4", Some("PETG"), Some("#00000080"), Some(2.84)),
        ];
        let joined = join_filaments(trays.clone(), file);
        assert_eq!(
            joined,
            [
                filament("AMS 1 tray 1", Some("PLA"), Some("FF8000FF"), Some(9.5)),
                filament("AMS 1 tray 2", Some("PETG"), Some("000000FF"), Some(2.84)),
            ]
        );
        // Two of the file's filaments and one tray that matches neither: nothing is guessed.
        let file = vec![
            filament("filament 1", Some("PLA"), Some("#FF8000"), Some(9.5)),
            filament("filament 4", Some("PETG"), Some("#1F6FEB"), Some(2.84)),
        ];
        let one = vec![filament(
            "AMS 1 tray 3",
            Some("ABS"),
            Some("FFFFFFFF"),
            None,
        )];
        let joined = join_filaments(one.clone(), file.clone());
        assert_eq!(joined.len(), 3);
        assert_eq!(joined[0], one[0]);
        // Nothing seen in use: the file's filaments as they are.
        assert_eq!(join_filaments(Vec::new(), file.clone()), file);
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_cell("+x"), "\"'+x\"");
        assert_eq!(csv_cell("-x"), "\"'-x\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\tx"), "\"'\tx\"");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("benchy"), "\"benchy\"");
    }
}
