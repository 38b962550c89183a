//! `/projects` and `/projects/{id}`: projects with their due dates and progress bars, and one
//! project with its notes and members (thumbnails, state, planned copies). `static/js/projects.js`
//! creates, changes and deletes projects and adds members picked from the library, the archive
//! and the queue through the API.
//!
//! Invariant: every member and number shown comes from the use cases, which read each member
//! through the viewer's own rights; the page adds nothing and decides no right beyond showing
//! controls for the `projects:*` rights the viewer holds (the API checks them again).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use pw_app::{AppError, ProjectListQuery, ProjectMembersView, ProjectView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use super::archive::duration_words;
use crate::layout::{Layout, Viewer};
use crate::pages::{PageQuery, Pager, failure, paged, paged_start, render};

/// A project as a row of the list or the head of its page.
struct Card {
    id: i64,
    name: String,
    due: String,
    notes: String,
    done: i64,
    total: i64,
    percent: i64,
    progress_text: String,
    filament: String,
    print_time: String,
    members_text: String,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn card(p: ProjectView) -> Card {
    let pr = &p.progress;
    let percent = if pr.total > 0 {
        (pr.done.saturating_mul(100) / pr.total).clamp(0, 100)
    } else {
        0
    };
    Card {
        id: p.id,
        due: p.due.unwrap_or_default(),
        notes: p.notes,
        done: pr.done,
        total: pr.total,
        percent,
        progress_text: if pr.total == 0 {
            "Nothing planned yet".to_owned()
        } else {
            format!("{} of {} printed", pr.done, pr.total)
        },
        filament: format!("{:.1} g", pr.filament_grams),
        print_time: duration_words(pr.print_time_s),
        members_text: [
            plural(pr.files, "file", "files"),
            plural(pr.queue_items, "queue item", "queue items"),
            plural(pr.archives, "archive entry", "archive entries"),
        ]
        .join(" · "),
        name: p.name,
    }
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    layout: Layout,
    projects: Vec<Card>,
    can_create: bool,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    project: Card,
    members: ProjectMembersView,
    can_update: bool,
    can_delete: bool,
    may_read_library: bool,
    may_read_queue: bool,
    may_read_archive: bool,
}

/// `GET /projects`.
pub(crate) async fn projects_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    q: PageQuery,
) -> Response {
    let app = &state.app;
    let (viewer, params) = match paged_start(&state, &actor, &request_id, "/projects", q).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let query = ProjectListQuery {
        limit: params.limit.clone(),
        cursor: params.cursor.clone(),
    };
    let page = app.list_projects(&actor, &query).await;
    let (projects, pager) = match paged(page, &params, "/projects", (&state, &viewer, &request_id))
    {
        Ok(p) => p,
        Err(page) => return page,
    };
    let page = ProjectsPage {
        projects: projects.into_iter().map(card).collect(),
        can_create: viewer.can(Permission::ProjectsCreate),
        pager,
        layout: Layout::new(app, &viewer).with_module("js/projects.js"),
    };
    render(&page, &request_id)
}

/// `GET /projects/{id}`.
pub(crate) async fn project_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    Path(raw_id): Path<String>,
) -> Response {
    let app = &state.app;
    let path = format!("/projects/{raw_id}");
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, &path),
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return failure(AppError::NotFound, &state, &viewer, &request_id, &path);
    };
    let project = match app.project(&actor, id).await {
        Ok(p) => p,
        Err(e) => return failure(e, &state, &viewer, &request_id, &path),
    };
    let members = match app.project_members_view(&actor, id).await {
        Ok(m) => m,
        Err(e) => return failure(e, &state, &viewer, &request_id, &path),
    };
    let page = ProjectPage {
        project: card(project),
        members,
        can_update: viewer.can(Permission::ProjectsUpdate),
        can_delete: viewer.can(Permission::ProjectsDelete),
        may_read_library: viewer.can(Permission::LibraryReadOwn)
            || viewer.can(Permission::LibraryReadAll),
        may_read_queue: viewer.can(Permission::QueueReadOwn)
            || viewer.can(Permission::QueueReadAll),
        may_read_archive: viewer.can(Permission::ArchivesReadOwn)
            || viewer.can(Permission::ArchivesReadAll),
        layout: Layout::new(app, &viewer).with_module("js/projects.js"),
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(done: i64, total: i64) -> ProjectView {
        ProjectView {
            id: 1,
            name: "Order".into(),
            due: None,
            notes: String::new(),
            progress: pw_app::ProjectProgress {
                done,
                total,
                ..pw_app::ProjectProgress::default()
            },
            created_by: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn progress_reads_as_a_share_and_words() {
        let c = card(project(12, 40));
        assert_eq!(c.percent, 30);
        assert_eq!(c.progress_text, "12 of 40 printed");
        assert_eq!(card(project(0, 0)).progress_text, "Nothing planned yet");
        assert_eq!(card(project(0, 0)).percent, 0);
    }
}
