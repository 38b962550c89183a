//! A project's members: adding library files, queue items and archive entries, taking one out,
//! listing them and the progress they add up to (defined in the parent module's docs).
//!
//! Invariants: a member is added only when the caller may read it — checked per item with the
//! same `pw_policy` decision its own read route makes — and a member they may not read is
//! refused with the very words of one that does not exist (never revealing it); a request is
//! bounded ([`PER_REQUEST_MAX`] members) and so is a project ([`MEMBERS_MAX`]), checked before
//! any lookup so a hostile list costs nothing; listing and progress read each kind through
//! the caller's visibility in SQL.

use std::collections::{HashMap, HashSet};

use pw_domain::{LibraryFileId, Permission};
use pw_policy::{Action, Target, owned_visibility};
use pw_store::{ArchiveRow, ProjectMember, QueueState};
use serde::{Deserialize, Serialize};

use super::ProjectProgress;
use crate::core::clock::rfc3339;
use crate::core::page::owner_filter;
use crate::farm::archive::filaments_of;
use crate::farm::library::meta::StoredMeta;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// Most members one request may add.
pub const PER_REQUEST_MAX: usize = 100;
/// Most members a project may hold (of every kind together).
pub const MEMBERS_MAX: i64 = 1000;
/// Most copies a project may plan of one file.
pub const COPIES_MAX: i64 = 10_000;

/// A library file to add, with the copies the project plans of it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectFileInput {
    /// The file.
    pub id: i64,
    /// Copies planned (1–10,000); absent = a reference that plans nothing.
    #[serde(default)]
    pub copies: Option<i64>,
}

/// `POST /api/v1/projects/{id}/members`: members to add (at most 100 in all); ones already
/// in the project stay (a file's planned copies are replaced).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectMembersInput {
    /// Library files.
    #[serde(default)]
    pub files: Vec<ProjectFileInput>,
    /// Queue item ids.
    #[serde(default)]
    pub queue_items: Vec<i64>,
    /// Archive entry ids.
    #[serde(default)]
    pub archives: Vec<i64>,
}

/// A member library file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectFileMember {
    /// The file's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `gcode.3mf`, `3mf`, `gcode` or `stl`.
    pub kind: String,
    /// Copies the project plans of it (null: a reference, not counted).
    pub copies: Option<i64>,
    /// The first plate's image, when the file has one.
    pub thumbnail_url: Option<String>,
    /// RFC 3339: when it was added to the project.
    pub added_at: String,
}

/// A member queue item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectQueueMember {
    /// The item's id.
    pub id: i64,
    /// The file's name when queued.
    pub file_name: String,
    /// The plate.
    pub plate: i64,
    /// `queued`, `dispatching`, `printing`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Copies to print.
    pub copies: i64,
    /// Copies printed.
    pub copies_done: i64,
    /// The plate's image, when its library file is also a member the viewer can read.
    pub thumbnail_url: Option<String>,
}

/// A member archive entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectArchiveMember {
    /// The entry's id.
    pub id: i64,
    /// The file printed.
    pub file_name: String,
    /// The printer's name when it printed.
    pub printer_name: String,
    /// `printing`, `finished`, `failed` or `cancelled`.
    pub outcome: String,
    /// RFC 3339.
    pub started_at: String,
    /// Seconds, once ended.
    pub duration_s: Option<i64>,
    /// Filament used, in grams, when known.
    pub filament_grams: Option<f64>,
    /// The plate's image, when kept.
    pub thumbnail_url: Option<String>,
}

/// `GET /api/v1/projects/{id}/members`: the members the caller can read.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProjectMembersView {
    /// Library files, by name.
    pub files: Vec<ProjectFileMember>,
    /// Queue items, in dispatch order.
    pub queue_items: Vec<ProjectQueueMember>,
    /// Archive entries, newest first.
    pub archives: Vec<ProjectArchiveMember>,
}

/// `DELETE /api/v1/projects/{id}/members/{kind}/{member_id}`: which member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedMember {
    /// A library file.
    File(i64),
    /// A queue item.
    QueueItem(i64),
    /// An archive entry.
    Archive(i64),
}

impl RemovedMember {
    /// Parses the path's kind (`files`, `queue_items` or `archives`) and id.
    ///
    /// # Errors
    /// A kind or id that is not one, in words.
    pub fn parse(kind: &str, id: &str) -> Result<Self, AppError> {
        let id = id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
            AppError::BadRequest("The member id must be a positive number.".into())
        })?;
        match kind {
            "files" => Ok(Self::File(id)),
            "queue_items" => Ok(Self::QueueItem(id)),
            "archives" => Ok(Self::Archive(id)),
            _ => Err(AppError::BadRequest(
                "The member kind must be files, queue_items or archives.".into(),
            )),
        }
    }
}

/// A file id as typed (ids are positive).
fn file_id(id: i64) -> Option<LibraryFileId> {
    (id > 0).then(|| LibraryFileId::from_db(id))
}

/// Grams of filament an entry used, when the file told.
fn grams_of(row: &ArchiveRow) -> Option<f64> {
    let known: Vec<f64> = filaments_of(row).iter().filter_map(|f| f.grams).collect();
    (!known.is_empty()).then(|| known.iter().sum())
}

/// The words for a member that does not exist or that the caller may not read: the same for
/// both, so the answer never tells one from the other.
fn unknown(kind: &str, id: i64) -> AppError {
    AppError::BadRequest(format!("There is no {kind} {id} that you can see."))
}

/// Maps "not yours" (404 or a missing read right) to the unknown-member answer.
fn as_unknown<T>(r: Result<T, AppError>, kind: &str, id: i64) -> Result<T, AppError> {
    match r {
        Err(AppError::NotFound | AppError::Forbidden) => Err(unknown(kind, id)),
        other => other,
    }
}

impl App {
    /// The members `actor` can read and the progress they add up to. The caller checked the
    /// project right; a missing project simply has no members.
    pub(super) async fn project_members(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(ProjectMembersView, ProjectProgress), AppError> {
        let files = owner_filter(&owned_visibility(
            &actor.principal,
            Some(Permission::LibraryReadOwn),
            Permission::LibraryReadAll,
        ));
        let queue = owner_filter(&owned_visibility(
            &actor.principal,
            Some(Permission::QueueReadOwn),
            Permission::QueueReadAll,
        ));
        let archives = Self::archive_visibility(actor);
        let files = self.store.project_files(id, files).await?;
        let queue = self.store.project_queue_items(id, queue).await?;
        let archives = self.store.project_archives(id, &archives).await?;

        let mut progress = ProjectProgress {
            files: i64::try_from(files.len()).unwrap_or(i64::MAX),
            queue_items: i64::try_from(queue.len()).unwrap_or(i64::MAX),
            archives: i64::try_from(archives.len()).unwrap_or(i64::MAX),
            ..ProjectProgress::default()
        };
        let mut planned: i64 = 0;
        let mut thumbnails: HashMap<(i64, i64), String> = HashMap::new();
        let mut out = ProjectMembersView::default();
        for f in files {
            planned = planned.saturating_add(f.copies.unwrap_or(0));
            let plates = StoredMeta::parse(&f.file.metadata).plate_views(f.file.id, &f.file.sha256);
            for p in &plates {
                if let Some(url) = &p.thumbnail_url {
                    thumbnails.insert((f.file.id.get(), i64::from(p.index)), url.clone());
                }
            }
            out.files.push(ProjectFileMember {
                id: f.file.id.get(),
                name: f.file.name,
                kind: f.file.kind,
                copies: f.copies,
                thumbnail_url: plates.into_iter().find_map(|p| p.thumbnail_url),
                added_at: rfc3339(f.added_at),
            });
        }
        let mut runs = HashSet::new();
        for q in queue {
            progress.done = progress.done.saturating_add(q.copies_done);
            planned = planned.saturating_add(if q.state == QueueState::Cancelled {
                q.copies_done
            } else {
                q.copies
            });
            if let Some(run) = q.run_archive_id {
                runs.insert(run);
            }
            out.queue_items.push(ProjectQueueMember {
                id: q.id,
                thumbnail_url: q
                    .library_file_id
                    .and_then(|f| thumbnails.get(&(f.get(), q.plate)).cloned()),
                file_name: q.file_name,
                plate: q.plate,
                state: q.state.as_str().to_owned(),
                copies: q.copies,
                copies_done: q.copies_done,
            });
        }
        let mut grams = 0.0;
        for a in archives {
            let used = grams_of(&a);
            if a.outcome == "finished" {
                if !runs.contains(&a.id) {
                    progress.done = progress.done.saturating_add(1);
                }
                grams += used.unwrap_or(0.0);
                progress.print_time_s = progress
                    .print_time_s
                    .saturating_add(a.duration_s.unwrap_or(0).max(0));
            }
            out.archives.push(ProjectArchiveMember {
                id: a.id,
                thumbnail_url: a
                    .thumbnail_sha256
                    .as_ref()
                    .map(|sha| format!("/api/v1/archives/{}/thumbnail?v={sha}", a.id)),
                file_name: a.file_name,
                printer_name: a.printer_name,
                outcome: a.outcome,
                started_at: rfc3339(a.started_at),
                duration_s: a.duration_s,
                filament_grams: used,
            });
        }
        progress.filament_grams = (grams * 100.0).round() / 100.0;
        progress.total = planned.max(progress.done);
        Ok((out, progress))
    }

    /// `GET /api/v1/projects/{id}/members`.
    pub async fn project_members_view(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<ProjectMembersView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsRead),
            &Target::Global,
        )?;
        self.project_row(id).await?;
        Ok(self.project_members(actor, id).await?.0)
    }

    /// `POST /api/v1/projects/{id}/members`: adds members the caller can read; the whole
    /// request is refused (nothing added) when one is unknown to them.
    pub async fn add_project_members(
        &self,
        actor: &Actor,
        id: i64,
        input: ProjectMembersInput,
    ) -> Result<ProjectMembersView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsUpdate),
            &Target::Global,
        )?;
        self.project_row(id).await?;
        let asked = input.files.len() + input.queue_items.len() + input.archives.len();
        if asked == 0 {
            return Err(AppError::BadRequest(
                "Name at least one library file, queue item or archive entry to add.".into(),
            ));
        }
        if asked > PER_REQUEST_MAX {
            return Err(AppError::BadRequest(format!(
                "At most {PER_REQUEST_MAX} members can be added at once; this request has {asked}."
            )));
        }
        let held = self.store.count_project_members(id).await?;
        if held.saturating_add(i64::try_from(asked).unwrap_or(i64::MAX)) > MEMBERS_MAX {
            return Err(AppError::BadRequest(format!(
                "A project can hold at most {MEMBERS_MAX} members; it has {held}."
            )));
        }
        let mut members = Vec::with_capacity(asked);
        for f in &input.files {
            if f.copies.is_some_and(|c| !(1..=COPIES_MAX).contains(&c)) {
                return Err(AppError::BadRequest(format!(
                    "The copies planned of a file must be 1 to {COPIES_MAX}."
                )));
            }
            let file = file_id(f.id).ok_or_else(|| unknown("library file", f.id))?;
            as_unknown(
                self.library_file_for(
                    actor,
                    file,
                    Permission::LibraryReadOwn,
                    Permission::LibraryReadAll,
                )
                .await,
                "library file",
                f.id,
            )?;
            members.push(ProjectMember::File(file, f.copies));
        }
        for &q in &input.queue_items {
            as_unknown(self.queue_item_for(actor, q, None).await, "queue item", q)?;
            members.push(ProjectMember::QueueItem(q));
        }
        for &a in &input.archives {
            as_unknown(self.archive_for(actor, a, None).await, "archive entry", a)?;
            members.push(ProjectMember::Archive(a));
        }
        let added = self
            .store
            .add_project_members(id, &members, self.now())
            .await?;
        self.audit(
            actor,
            AuditEvent::ProjectMembersAdd,
            Some(("project", id.to_string())),
            true,
            serde_json::json!({
                "files": input.files.iter().map(|f| f.id).collect::<Vec<_>>(),
                "queue_items": input.queue_items,
                "archives": input.archives,
                "added": added,
            }),
        )
        .await;
        Ok(self.project_members(actor, id).await?.0)
    }

    /// `DELETE /api/v1/projects/{id}/members/{kind}/{member_id}`: takes a member the caller
    /// can read out of the project (404 when it is not one, or they cannot read it).
    pub async fn remove_project_member(
        &self,
        actor: &Actor,
        id: i64,
        member: RemovedMember,
    ) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsUpdate),
            &Target::Global,
        )?;
        self.project_row(id).await?;
        let not_found = |r: Result<(), AppError>| match r {
            Err(AppError::Forbidden) => Err(AppError::NotFound),
            other => other,
        };
        let (stored, kind, member_id) = match member {
            RemovedMember::File(f) => {
                let file = file_id(f).ok_or(AppError::NotFound)?;
                not_found(
                    self.library_file_for(
                        actor,
                        file,
                        Permission::LibraryReadOwn,
                        Permission::LibraryReadAll,
                    )
                    .await
                    .map(drop),
                )?;
                (ProjectMember::File(file, None), "file", f)
            }
            RemovedMember::QueueItem(q) => {
                not_found(self.queue_item_for(actor, q, None).await.map(drop))?;
                (ProjectMember::QueueItem(q), "queue_item", q)
            }
            RemovedMember::Archive(a) => {
                not_found(self.archive_for(actor, a, None).await.map(drop))?;
                (ProjectMember::Archive(a), "archive", a)
            }
        };
        if !self
            .store
            .remove_project_member(id, stored, self.now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::ProjectMemberRemove,
            Some(("project", id.to_string())),
            true,
            serde_json::json!({ "kind": kind, "id": member_id }),
        )
        .await;
        Ok(())
    }
}
