//! Projects (issue 16, item 4): a named set of library files, queue items and archive entries
//! — an order of 40 parts, a customer's job — with notes, a due date and progress. This module
//! owns the project itself (list, create, get, change, delete); [`members`] owns adding,
//! removing and listing members and computing progress.
//!
//! Ownership: projects are shared team objects with no owner, guarded by `projects:read`,
//! `projects:create`, `projects:update` and `projects:delete` (instance-wide rights: a group's
//! printer scope does not narrow them). A project never widens what its viewer can read: every
//! member is read through the viewer's own rights on its kind, in SQL (library files and queue
//! items by the owner filter, archive entries by the archive visibility), so a member — and its
//! share of the progress — the viewer cannot read is simply not there for them (threat: a
//! project as a side door into someone else's files, queue items or prints). Every change is
//! audited with who.
//!
//! Progress, per viewer (only members they can read count):
//! - `total` = the copies planned: each member queue item's `copies` (a cancelled item only
//!   the copies it printed), plus each member library file's planned `copies` (a file added
//!   without a count is a reference and plans nothing); never less than `done`.
//! - `done` = each member queue item's printed copies (`copies_done`), plus each member archive
//!   entry that finished — unless it is the latest run of a member queue item, already counted.
//! - `filament_grams` and `print_time_s` = summed over the member archive entries that finished
//!   (grams from the printed file's plate, time from the entry's duration).

mod members;

pub use members::{
    ProjectArchiveMember, ProjectFileInput, ProjectFileMember, ProjectMembersInput,
    ProjectMembersView, ProjectQueueMember, RemovedMember,
};

use pw_domain::{Permission, UserId};
use pw_policy::{Action, Target};
use pw_store::{NewProject, ProjectPatch, ProjectRow};
use serde::{Deserialize, Serialize};

use crate::core::clock::rfc3339;
use crate::core::page::{Listing, PageParams, PageRequest};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Page};

/// Longest project name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest notes, in characters.
pub const NOTES_MAX: usize = 10_000;

/// `GET /api/v1/projects` query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectListQuery {
    /// Page size (1–500, default 50).
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1–200 characters.
    pub name: String,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due: Option<String>,
    /// Up to 10,000 characters.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `PATCH /api/v1/projects/{id}`: absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// 1–200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Up to 10,000 characters.
    #[serde(default)]
    pub notes: Option<String>,
    /// `YYYY-MM-DD`; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub due: Option<Option<String>>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Who created a project (the name stays when the account goes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProjectCreator {
    /// The account, null once deleted.
    pub id: Option<i64>,
    /// Their name when they created it.
    pub name: String,
}

/// How far a project is, counted over the members the viewer can read (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProjectProgress {
    /// Copies printed.
    pub done: i64,
    /// Copies planned (never less than `done`).
    pub total: i64,
    /// Filament used by the finished member archive entries, in grams.
    pub filament_grams: f64,
    /// Print time of the finished member archive entries, in seconds.
    pub print_time_s: i64,
    /// Member library files the viewer can read.
    pub files: i64,
    /// Member queue items the viewer can read.
    pub queue_items: i64,
    /// Member archive entries the viewer can read.
    pub archives: i64,
}

/// One project.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Due date (`YYYY-MM-DD`).
    pub due: Option<String>,
    /// Notes.
    pub notes: String,
    /// Progress, as the viewer sees it.
    pub progress: ProjectProgress,
    /// Who created it.
    pub created_by: Option<ProjectCreator>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

fn view(row: ProjectRow, progress: ProjectProgress) -> ProjectView {
    ProjectView {
        id: row.id,
        name: row.name,
        due: row.due,
        notes: row.notes,
        progress,
        created_by: row.created_by_name.map(|name| ProjectCreator {
            id: row.created_by.map(UserId::get),
            name,
        }),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// A name as typed: trimmed, 1–200 characters, no control or invisible characters.
fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(AppError::BadRequest(format!(
            "A project name must be 1 to {NAME_MAX} characters."
        )));
    }
    if name.chars().any(pw_domain::is_hidden_char) {
        return Err(AppError::BadRequest(
            "A project name cannot contain control or invisible characters.".into(),
        ));
    }
    Ok(name.to_owned())
}

fn check_notes(notes: &str) -> Result<(), AppError> {
    if notes.chars().count() > NOTES_MAX {
        return Err(AppError::BadRequest(format!(
            "Notes can be at most {NOTES_MAX} characters."
        )));
    }
    Ok(())
}

/// A due date: a real calendar date written `YYYY-MM-DD`; empty = none.
fn check_due(due: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(due) = due.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(due, &format)
        .map(|d| Some(d.to_string()))
        .map_err(|_| AppError::BadRequest("The due date must be a date written YYYY-MM-DD.".into()))
}

impl App {
    /// The project, 404 when there is none (the door already checked the right).
    async fn project_row(&self, id: i64) -> Result<ProjectRow, AppError> {
        self.store.project(id).await?.ok_or(AppError::NotFound)
    }

    /// `GET /api/v1/projects`: one page, newest first, each with its progress as the caller
    /// sees it.
    pub async fn list_projects(
        &self,
        actor: &Actor,
        q: &ProjectListQuery,
    ) -> Result<Page<ProjectView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(
            Listing::Projects,
            &PageParams {
                limit: q.limit.clone(),
                cursor: q.cursor.clone(),
            },
        )?;
        let rows = self.store.projects_page(&page.store()).await?;
        let (rows, next) = page.finish(Listing::Projects, rows, |r| (String::new(), r.id));
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let progress = self.project_members(actor, row.id).await?.1;
            items.push(view(row, progress));
        }
        Ok(Page { items, next })
    }

    /// `GET /api/v1/projects/{id}`.
    pub async fn project(&self, actor: &Actor, id: i64) -> Result<ProjectView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsRead),
            &Target::Global,
        )?;
        let row = self.project_row(id).await?;
        let progress = self.project_members(actor, id).await?.1;
        Ok(view(row, progress))
    }

    /// `POST /api/v1/projects`.
    pub async fn create_project(
        &self,
        actor: &Actor,
        input: CreateProject,
    ) -> Result<ProjectView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsCreate),
            &Target::Global,
        )?;
        let name = check_name(&input.name)?;
        let notes = input.notes.unwrap_or_default();
        check_notes(&notes)?;
        let due = check_due(input.due.as_deref())?;
        let id = self
            .store
            .insert_project(&NewProject {
                name: &name,
                notes: &notes,
                due: due.as_deref(),
                created_by: actor.user_id,
                created_by_name: actor.user_id.map(|_| &*actor.name),
                now: self.now(),
            })
            .await?;
        self.audit(
            actor,
            AuditEvent::ProjectCreate,
            Some(("project", id.to_string())),
            true,
            serde_json::json!({ "name": name, "due": due }),
        )
        .await;
        let row = self.project_row(id).await?;
        Ok(view(row, ProjectProgress::default()))
    }

    /// `PATCH /api/v1/projects/{id}`.
    pub async fn update_project(
        &self,
        actor: &Actor,
        id: i64,
        input: UpdateProject,
    ) -> Result<ProjectView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsUpdate),
            &Target::Global,
        )?;
        self.project_row(id).await?;
        let name = input.name.as_deref().map(check_name).transpose()?;
        if let Some(notes) = &input.notes {
            check_notes(notes)?;
        }
        let due = input
            .due
            .as_ref()
            .map(|d| check_due(d.as_deref()))
            .transpose()?;
        let mut fields = Vec::new();
        if name.is_some() {
            fields.push("name");
        }
        if input.notes.is_some() {
            fields.push("notes");
        }
        if due.is_some() {
            fields.push("due");
        }
        if fields.is_empty() {
            return Err(AppError::BadRequest(
                "Nothing to change: give a name, notes or a due date.".into(),
            ));
        }
        let patch = ProjectPatch {
            name: name.as_deref(),
            notes: input.notes.as_deref(),
            due: due.as_ref().map(Option::as_deref),
        };
        if !self.store.update_project(id, &patch, self.now()).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::ProjectUpdate,
            Some(("project", id.to_string())),
            true,
            serde_json::json!({ "fields": fields }),
        )
        .await;
        self.project(actor, id).await
    }

    /// `DELETE /api/v1/projects/{id}`: the project and its member rows; the files, queue items
    /// and archive entries themselves stay.
    pub async fn delete_project(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::ProjectsDelete),
            &Target::Global,
        )?;
        let row = self.project_row(id).await?;
        let members = self.store.count_project_members(id).await?;
        if !self.store.delete_project(id).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::ProjectDelete,
            Some(("project", id.to_string())),
            true,
            serde_json::json!({ "name": row.name, "members": members }),
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_are_real_calendar_dates() {
        assert_eq!(
            check_due(Some("2026-02-28")).unwrap().as_deref(),
            Some("2026-02-28")
        );
        assert_eq!(check_due(Some(" ")).unwrap(), None);
        for bad in ["2026-02-30", "28.02.2026", "2026-2-3x", "tomorrow"] {
            assert!(check_due(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_bounded_and_visible() {
        assert_eq!(check_name("  Order 42 ").unwrap(), "Order 42");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(check_name("a\u{202e}b").is_err());
        assert!(check_notes(&"n".repeat(NOTES_MAX + 1)).is_err());
    }
}
