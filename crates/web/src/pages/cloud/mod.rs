//! `/account/cloud` (Account → Bambu Cloud, `cloud:auth`, S12): link one's own Bambu account
//! (email and password, then the code Bambu asks for), see the link's state, unlink, and list
//! the linked account's printers. Actions go to the JSON API from `static/js/cloud.js`.
//!
//! Invariant: the page never holds a token: the server renders the link's state only, and
//! the password and code fields are sent to the API once and cleared.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

#[derive(Template)]
#[template(path = "cloud.html")]
struct CloudPage {
    layout: Layout,
    /// `none`, `code_required`, `linked` or `expired`.
    state: &'static str,
    /// `email` or `totp` while a code is asked for.
    method: &'static str,
    email: String,
    region: &'static str,
    linked_at: String,
    expires_at: String,
    refreshed_at: String,
    last_error: String,
    paused: bool,
}

pub(crate) async fn cloud_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    const PATH: &str = "/account/cloud";
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, PATH),
    };
    let link = match app.cloud_link_status(&actor).await {
        Ok(l) => l,
        Err(e) => return failure(e, &state, &viewer, &request_id, PATH),
    };
    let page = CloudPage {
        layout: Layout::new(app, &viewer).with_module("js/cloud.js"),
        state: link.state,
        method: link.method.unwrap_or(""),
        email: link.email.unwrap_or_default(),
        region: link.region.unwrap_or("global"),
        linked_at: link.linked_at.unwrap_or_default(),
        expires_at: link.expires_at.unwrap_or_default(),
        refreshed_at: link.refreshed_at.unwrap_or_default(),
        last_error: link.last_error.unwrap_or_default(),
        paused: link.service == "paused",
    };
    render(&page, &request_id)
}
