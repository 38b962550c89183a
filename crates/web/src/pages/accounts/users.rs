//! `/users`: the user accounts table with create, edit and delete (S2), resetting a user's
//! second factors (S4) and, under Advanced Auth via Email, mailing a reset link (S5). The
//! table is rendered here; the forms and dialogs act through the JSON API from
//! `static/js/users.js`.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::{AppError, UserView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::Layout;
use crate::pages::{PageQuery, Pager, failure, paged, paged_start, render};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    groups: Vec<GroupOption>,
    /// The group list came from the users' memberships only (viewer lacks `groups:read`).
    groups_partial: bool,
    can_create: bool,
    can_update: bool,
    can_delete: bool,
    /// Advanced Auth via Email is on: users without a password get a set-password link, and
    /// reset links can be sent.
    advanced_auth: bool,
    pager: Pager,
}

struct UserRow {
    id: String,
    username: String,
    /// Empty when the user has none.
    display_name: String,
    email: String,
    groups: Vec<String>,
    group_ids: String,
    is_admin: bool,
    disabled: bool,
    password_set: bool,
    /// A second factor is on (the reset button concerns only them).
    two_factor: bool,
    /// The password is kept here (not a directory or SSO account), so a link can reset it.
    local: bool,
    is_you: bool,
    created_at: String,
}

struct GroupOption {
    id: String,
    name: String,
}

fn row(u: UserView, you: Option<pw_domain::UserId>) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        is_you: you == Some(u.id),
        email: u.email.unwrap_or_default(),
        group_ids: u
            .groups
            .iter()
            .map(|g| g.id.to_string())
            .collect::<Vec<_>>()
            .join(","),
        groups: u.groups.into_iter().map(|g| g.name).collect(),
        username: u.username,
        display_name: u.display_name.unwrap_or_default(),
        is_admin: u.is_admin,
        disabled: u.disabled,
        password_set: u.password_set,
        two_factor: u.two_factor,
        local: u.auth_source == "local",
        created_at: u.created_at,
    }
}

/// `GET /users`.
pub(crate) async fn users_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    q: PageQuery,
) -> Response {
    let app = &state.app;
    let (viewer, params) = match paged_start(&state, &actor, &request_id, "/users", q).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let page = app.users_page(&actor, &params).await;
    let (users, pager) = match paged(page, &params, "/users", (&state, &viewer, &request_id)) {
        Ok(p) => p,
        Err(page) => return page,
    };
    // Every group for the checkboxes; without `groups:read` only the ones the table already
    // shows (the viewer may see those names on the users anyway).
    let (groups, groups_partial) = match app.list_groups(&actor).await {
        Ok(all) => (
            all.into_iter()
                .map(|g| GroupOption {
                    id: g.id.to_string(),
                    name: g.name,
                })
                .collect(),
            false,
        ),
        Err(AppError::Forbidden) => {
            let mut seen = BTreeMap::new();
            for g in users.iter().flat_map(|u| u.groups.iter()) {
                seen.entry(g.id).or_insert_with(|| g.name.clone());
            }
            (
                seen.into_iter()
                    .map(|(id, name)| GroupOption {
                        id: id.to_string(),
                        name,
                    })
                    .collect(),
                true,
            )
        }
        Err(e) => return failure(e, &state, &viewer, &request_id, "/users"),
    };
    let advanced_auth = match app.advanced_auth().await {
        Ok(on) => on,
        Err(e) => return failure(e, &state, &viewer, &request_id, "/users"),
    };
    let you = viewer.user_id();
    let page = UsersPage {
        users: users.into_iter().map(|u| row(u, you)).collect(),
        groups,
        groups_partial,
        can_create: viewer.can(Permission::UsersCreate),
        can_update: viewer.can(Permission::UsersUpdate),
        can_delete: viewer.can(Permission::UsersDelete),
        advanced_auth,
        pager,
        layout: Layout::new(app, &viewer).with_module("js/users.js"),
    };
    render(&page, &request_id)
}
