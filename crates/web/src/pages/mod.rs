//! Page handlers: extract, call a use case, render a template. A page that fails renders the
//! HTML error page with the request id (the cause is logged by the edge, never shown).
//! This module mounts every page row and holds what they share (rendering, error pages, the
//! landing page, which is the home page with the farm at a glance once signed in); each feature's pages live in `pages/<group>/<feature>.rs`, with the feature
//! names of `pw-app` and `pw-http`.

mod accounts;
mod auth;
mod cloud;
mod farm;
mod notify;
mod system;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{Method, StatusCode};
use pw_app::AppError;
use pw_http::{AppState, Caller, Mounter, RequestId};

use crate::layout::{Layout, Viewer};

use accounts::{account, groups, users};
use auth::{recovery, sessions};
use farm::{archive, library, printers, projects, queue};
use notify::{email, webhooks};
use system::{audit, backup, settings};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/", landing)
        .mount(Method::GET, "/setup", sessions::setup_page)
        .mount(Method::GET, "/login", sessions::login_page)
        .mount(Method::GET, "/account", account::account_page)
        .mount(Method::GET, "/account/cloud", cloud::cloud_page)
        .mount(Method::GET, "/users", users::users_page)
        .mount(Method::GET, "/groups", groups::groups_page)
        .mount(Method::GET, "/groups/{id}", groups::group_page)
        .mount(Method::GET, "/audit", audit::audit_page)
        .mount(Method::GET, "/webhooks", webhooks::webhooks_page)
        .mount(Method::GET, "/printers", printers::printers_page)
        .mount(Method::GET, "/library", library::library_page)
        .mount(
            Method::GET,
            "/library/files/{id}",
            library::library_file_page,
        )
        .mount(Method::GET, "/queue", queue::queue_page)
        .mount(Method::GET, "/archive", archive::archive_page)
        .mount(Method::GET, "/archive/{id}", archive::archive_entry_page)
        .mount(Method::GET, "/projects", projects::projects_page)
        .mount(Method::GET, "/projects/{id}", projects::project_page)
        .mount(Method::GET, "/settings", settings::settings_page)
        .mount(Method::GET, "/settings/email", email::email_settings_page)
        .mount(Method::GET, "/settings/backup", backup::backup_page)
        .mount(
            Method::GET,
            "/forgot-password",
            recovery::forgot_password_page,
        )
        .mount(
            Method::GET,
            "/reset-password",
            recovery::reset_password_page,
        )
        .mount(Method::GET, "/set-password", recovery::set_password_page)
}

/// A link on the landing page to a page the viewer may open.
#[derive(Debug, Clone)]
struct PageLink {
    href: &'static str,
    icon: &'static str,
    title: &'static str,
    text: &'static str,
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    layout: Layout,
    setup_required: bool,
    product_version: &'static str,
    local_ca: bool,
    username: Option<String>,
    links: Vec<PageLink>,
    /// The farm at a glance, for a viewer who may read printers.
    farm: Option<farm::home::Farm>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: String,
    request_id: String,
}

async fn landing(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    let viewer = match Viewer::load(&state.app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/"),
    };
    if viewer.enrolling() {
        // Signed in, but the group requires a factor this session has not shown: where a
        // sign-in lands, send it to set it up (every other page would refuse it anyway).
        return Redirect::to("/account?enrol=required").into_response();
    }
    let farm = if viewer.may_open_page("/printers") {
        match farm::home::Farm::load(&state.app, &actor).await {
            Ok(f) => f,
            Err(e) => return failure(e, &state, &viewer, &request_id, "/"),
        }
    } else {
        None
    };
    let mut layout = Layout::new(&state.app, &viewer);
    if farm.is_some() {
        layout = layout.with_module("js/home.js");
    }
    match state.app.instance_status().await {
        Ok(status) => render(
            &Landing {
                farm,
                layout,
                setup_required: status.setup_required,
                product_version: status.version,
                local_ca: status.local_ca,
                username: viewer.username().map(str::to_owned),
                links: landing_links(&viewer),
            },
            &request_id,
        ),
        Err(e) => failure(e, &state, &viewer, &request_id, "/"),
    }
}

/// The landing page's cards (their own texts and order); who sees a card is decided by the
/// route table row of the page it links to, like the navigation.
fn landing_links(viewer: &Viewer) -> Vec<PageLink> {
    let mut links = Vec::new();
    if viewer.may_open_page("/printers") {
        links.push(PageLink {
            href: "/printers",
            icon: "printer",
            title: "Printers",
            text: "Every printer at a glance: state, progress, time left, problems.",
        });
    }
    if viewer.may_open_page("/library") {
        links.push(PageLink {
            href: "/library",
            icon: "folder",
            title: "Library",
            text: "Print files with their plates, filaments and times; upload and print.",
        });
    }
    if viewer.may_open_page("/queue") {
        links.push(PageLink {
            href: "/queue",
            icon: "queue",
            title: "Queue",
            text: "Jobs waiting for a printer, in the order they will start, and why they wait.",
        });
    }
    if viewer.may_open_page("/archive") {
        links.push(PageLink {
            href: "/archive",
            icon: "archive",
            title: "Archive",
            text: "Every print: how it ended, how long it took, who started it.",
        });
    }
    if viewer.may_open_page("/account") {
        links.push(PageLink {
            href: "/account",
            icon: "user",
            title: "Your account",
            text: "Password, active sessions and API keys.",
        });
    }
    if viewer.may_open_page("/users") {
        links.push(PageLink {
            href: "/users",
            icon: "users",
            title: "Users",
            text: "Accounts, their groups, and who is disabled.",
        });
    }
    if viewer.may_open_page("/groups") {
        links.push(PageLink {
            href: "/groups",
            icon: "shield",
            title: "Groups",
            text: "What each group may do, and on which printers.",
        });
    }
    if viewer.may_open_page("/webhooks") {
        links.push(PageLink {
            href: "/webhooks",
            icon: "external",
            title: "Webhooks",
            text: "Send farm events to chat, home automation or your scripts.",
        });
    }
    if viewer.may_open_page("/settings") {
        links.push(PageLink {
            href: "/settings",
            icon: "settings",
            title: "Settings",
            text: "HTTPS certificate, outbound allow-list, password and key limits.",
        });
    } else if viewer.may_open_page("/settings/email") {
        links.push(PageLink {
            href: "/settings/email",
            icon: "settings",
            title: "Email settings",
            text: "Outgoing mail, mail templates and password links by email.",
        });
    }
    if viewer.may_open_page("/audit") {
        links.push(PageLink {
            href: "/audit",
            icon: "key",
            title: "Audit log",
            text: "Who did what, when, and from where.",
        });
    }
    links
}

pub(crate) fn render(template: &impl Template, request_id: &RequestId) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR, request_id)
        }
    }
}

/// A 303 to a same-site path (after a page decides the visitor belongs elsewhere).
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Maps a use-case failure to a page: sign in again (the session ended between the door and
/// the handler), the 403 or 404 page, a 400 page with the safe message, or the error page.
pub(crate) fn failure(
    e: AppError,
    state: &AppState,
    viewer: &Viewer,
    request_id: &RequestId,
    path: &str,
) -> Response {
    let (status, title, message) = match &e {
        AppError::Unauthenticated => {
            return see_other(&format!("/login?next={}", crate::next::encode(path)));
        }
        // The group requires a factor this session has not shown: set it up first.
        AppError::EnrolFirst(_) => return see_other("/account?enrol=required"),
        AppError::Forbidden => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            FORBIDDEN_MESSAGE.to_owned(),
        ),
        AppError::NotFound => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here. It may have been deleted, or the link is wrong.".to_owned(),
        ),
        AppError::BadRequest(m)
        | AppError::WrongSecret(m)
        | AppError::Conflict(m)
        | AppError::TooLarge(m)
        | AppError::UrlNotAllowed(m) => {
            (StatusCode::BAD_REQUEST, "Cannot show this page", m.clone())
        }
        AppError::RateLimited(m) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            m.clone(),
        ),
        AppError::ServiceUnavailable(m) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            m.clone(),
        ),
        AppError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The server cannot reach its database right now. Try again in a moment.".to_owned(),
        ),
        AppError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not show this page.".to_owned(),
        ),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "page failed");
    }
    let page = ErrorPage {
        layout: Layout::new(&state.app, viewer),
        status: status.as_u16(),
        title,
        message,
        request_id: request_id.0.clone(),
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => plain_error(status, request_id),
    }
}

const FORBIDDEN_MESSAGE: &str = "Your account does not have the permission this page needs. Ask an administrator if you need it.";

const NOT_FOUND_MESSAGE: &str =
    "There is no page at this address. Check the link, or start again from the start page.";

/// The HTML page for a refused page request (installed into the route-table enforcement), and
/// for an unknown address a browser asked for (the router's fallback).
pub(crate) fn denied_page(state: &AppState, status: StatusCode) -> Response {
    let (title, message) = match status {
        StatusCode::FORBIDDEN => ("Not allowed", FORBIDDEN_MESSAGE),
        StatusCode::NOT_FOUND => ("Page not found", NOT_FOUND_MESSAGE),
        _ => (
            "Something went wrong",
            "The server could not show this page.",
        ),
    };
    // The enforcement hook does not pass the caller, so this page shows no personal nav;
    // the brand link leads back home.
    let mut layout = Layout::new(&state.app, &Viewer::anonymous());
    layout.nav.sign_in_link = false;
    let page = ErrorPage {
        layout,
        status: status.as_u16(),
        title,
        message: message.to_owned(),
        request_id: String::new(),
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => (
            status,
            Html("<!doctype html><title>Error</title><p>Not allowed.</p>".to_owned()),
        )
            .into_response(),
    }
}

fn plain_error(status: StatusCode, request_id: &RequestId) -> Response {
    let body = format!(
        "<!doctype html><title>Error</title><p>Error {status}. Request id {}.</p>",
        request_id.0
    );
    (status, Html(body)).into_response()
}

/// The query string as name/value pairs; undecodable bytes become U+FFFD rather than a
/// framework rejection, so a mangled link still shows the page (with its own error, if any).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// The first value of a query parameter.
pub(crate) fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The links under a paged list: back to the first page (when not on it) and to the next one.
/// The page itself is the API's keyset page, so what a page shows is what the API would.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pager {
    /// Back to the first page, when this is a later one.
    pub(crate) first_href: Option<String>,
    /// The next page, when there is one.
    pub(crate) next_href: Option<String>,
}

impl Pager {
    /// Links for `path` given the request's cursor and the page's `next`.
    pub(crate) fn new(path: &str, params: &pw_app::PageParams, next: Option<&str>) -> Self {
        let limit = params
            .limit
            .as_deref()
            .filter(|l| !l.is_empty())
            .map(|l| format!("limit={}&", crate::next::encode(l)))
            .unwrap_or_default();
        let first_query = limit.trim_end_matches('&');
        let on_later_page = params.cursor.as_deref().is_some_and(|c| !c.is_empty());
        Self {
            first_href: on_later_page.then(|| {
                if first_query.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}?{first_query}")
                }
            }),
            next_href: next.map(|n| format!("{path}?{limit}cursor={}", crate::next::encode(n))),
        }
    }

    /// Whether the list spans more than one page.
    pub(crate) fn paged(&self) -> bool {
        self.first_href.is_some() || self.next_href.is_some()
    }
}

/// The query of a paged page, as axum hands it over.
pub(crate) type PageQuery =
    Result<axum::extract::Query<pw_app::PageParams>, axum::extract::rejection::QueryRejection>;

/// The first steps of every paged list page: who is looking and which page they asked for.
/// A failure is already the page to answer with.
pub(crate) async fn paged_start(
    state: &AppState,
    actor: &pw_app::Actor,
    request_id: &RequestId,
    path: &str,
    q: PageQuery,
) -> Result<(Viewer, pw_app::PageParams), Response> {
    let viewer = Viewer::load(&state.app, actor)
        .await
        .map_err(|e| failure(e, state, &Viewer::anonymous(), request_id, path))?;
    let params = page_params(q).map_err(|e| failure(e, state, &viewer, request_id, path))?;
    Ok((viewer, params))
}

/// One page of a list at `path` and the links under it; a failure is already the page.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response the handler returns at once, never carried further"
)]
pub(crate) fn paged<T>(
    page: Result<pw_app::Page<T>, AppError>,
    params: &pw_app::PageParams,
    path: &str,
    (state, viewer, request_id): (&AppState, &Viewer, &RequestId),
) -> Result<(Vec<T>, Pager), Response> {
    let page = page.map_err(|e| failure(e, state, viewer, request_id, path))?;
    let pager = Pager::new(path, params, page.next.as_deref());
    Ok((page.items, pager))
}

/// `?limit=&cursor=` of a paged page; a malformed query is a 400 page in plain words.
pub(crate) fn page_params(q: PageQuery) -> Result<pw_app::PageParams, AppError> {
    q.map(|axum::extract::Query(p)| p).map_err(|_| {
        AppError::BadRequest("This page takes only “limit” and “cursor” in its address.".into())
    })
}
