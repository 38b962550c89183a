//! `/groups` and the group editor `/groups/{id}` (S2): the permission grid over the whole
//! catalogue, the printer scope and the members. Saving goes to the JSON API from
//! `static/js/groups.js` and `static/js/group.js`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use pw_app::{AppError, GroupView};
use pw_domain::{GroupId, Permission, PrinterScope};
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    groups: Vec<GroupRow>,
    total_permissions: usize,
    can_create: bool,
    can_delete: bool,
}

struct GroupRow {
    id: String,
    name: String,
    description: String,
    is_system: bool,
    members: usize,
    permissions: usize,
    scoped: bool,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    id: String,
    name: String,
    description: String,
    is_system: bool,
    /// Name, description, permissions and scope can be changed (not a system group, and the
    /// viewer holds `groups:update`).
    editable: bool,
    /// Members can be added and removed (`groups:update`; system groups too).
    can_manage_members: bool,
    can_clone: bool,
    categories: Vec<CategoryBlock>,
    granted: usize,
    total_permissions: usize,
    scoped: bool,
    scope_locations: String,
    scope_printers: String,
    members: Vec<MemberRow>,
    /// The group's sign-in requirement (`none`, `two_factor`, `passkey`); changeable with
    /// `groups:update`, system groups too.
    sign_in_requirement: &'static str,
    /// Users not yet in the group, for the add-member select; `None` if the viewer may not
    /// list users.
    candidates: Option<Vec<MemberRow>>,
    updated_at: String,
}

struct CategoryBlock {
    key: &'static str,
    label: &'static str,
    permissions: Vec<PermissionOption>,
    checked: usize,
}

struct PermissionOption {
    name: &'static str,
    label: &'static str,
    checked: bool,
}

struct MemberRow {
    id: String,
    username: String,
}

/// `1, 2, 3`: how the scope editor shows a set of ids.
fn id_list<T: std::fmt::Display>(ids: impl IntoIterator<Item = T>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /groups`.
pub(crate) async fn groups_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/groups"),
    };
    let groups = match app.list_groups(&actor).await {
        Ok(g) => g,
        Err(e) => return failure(e, &state, &viewer, &request_id, "/groups"),
    };
    let page = GroupsPage {
        groups: groups
            .into_iter()
            .map(|g| GroupRow {
                id: g.id.to_string(),
                members: g.members.len(),
                permissions: g.permissions.len(),
                scoped: g.scope.is_some(),
                name: g.name,
                description: g.description,
                is_system: g.is_system,
            })
            .collect(),
        total_permissions: Permission::ALL.len(),
        can_create: viewer.can(Permission::GroupsCreate),
        can_delete: viewer.can(Permission::GroupsDelete),
        layout: Layout::new(app, &viewer).with_module("js/groups.js"),
    };
    render(&page, &request_id)
}

/// `GET /groups/{id}`: the editor (read-only for system groups and for viewers without
/// `groups:update`). An id that is not a number is as unknown as a deleted group: 404.
pub(crate) async fn group_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    Path(raw_id): Path<String>,
) -> Response {
    let app = &state.app;
    let path = format!("/groups/{raw_id}");
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, &path),
    };
    let loaded = async {
        let id: GroupId = raw_id.parse().map_err(|_| AppError::NotFound)?;
        let group = app.get_group(&actor, id).await?;
        let catalogue = app.list_permissions(&actor)?;
        // The add-member select needs the user list; without `users:read` the editor still
        // shows the members it already knows.
        let users = match app.list_users(&actor).await {
            Ok(u) => Some(u),
            Err(AppError::Forbidden) => None,
            Err(e) => return Err(e),
        };
        Ok((group, catalogue, users))
    }
    .await;
    let (group, catalogue, users) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &viewer, &request_id, &path),
    };
    let layout = Layout::new(app, &viewer).with_module("js/group.js");
    render(
        &editor(layout, &viewer, group, &catalogue, users),
        &request_id,
    )
}

fn editor(
    layout: Layout,
    viewer: &Viewer,
    group: GroupView,
    catalogue: &[pw_app::PermissionCategoryView],
    users: Option<Vec<pw_app::UserView>>,
) -> GroupPage {
    let categories: Vec<CategoryBlock> = catalogue
        .iter()
        .map(|c| {
            let permissions: Vec<PermissionOption> = c
                .permissions
                .iter()
                .map(|p| PermissionOption {
                    name: p.name,
                    label: p.label,
                    checked: group.permissions.iter().any(|g| g.as_str() == p.name),
                })
                .collect();
            CategoryBlock {
                key: c.key,
                label: c.category,
                checked: permissions.iter().filter(|p| p.checked).count(),
                permissions,
            }
        })
        .collect();
    let can_update = viewer.can(Permission::GroupsUpdate);
    let members: Vec<MemberRow> = group
        .members
        .iter()
        .map(|m| MemberRow {
            id: m.id.to_string(),
            username: m.username.clone(),
        })
        .collect();
    let candidates = users.map(|all| {
        all.into_iter()
            .filter(|u| !group.members.iter().any(|m| m.id == u.id))
            .map(|u| MemberRow {
                id: u.id.to_string(),
                username: u.username,
            })
            .collect()
    });
    let (scope_locations, scope_printers) = match &group.scope {
        Some(PrinterScope {
            locations,
            printers,
        }) => (id_list(locations), id_list(printers)),
        None => (String::new(), String::new()),
    };
    GroupPage {
        layout,
        id: group.id.to_string(),
        editable: can_update && !group.is_system,
        can_manage_members: can_update,
        can_clone: viewer.can(Permission::GroupsCreate),
        granted: categories.iter().map(|c| c.checked).sum(),
        total_permissions: categories.iter().map(|c| c.permissions.len()).sum(),
        categories,
        scoped: group.scope.is_some(),
        scope_locations,
        scope_printers,
        members,
        candidates,
        sign_in_requirement: group.sign_in_requirement.as_str(),
        name: group.name,
        description: group.description,
        is_system: group.is_system,
        updated_at: group.updated_at,
    }
}
