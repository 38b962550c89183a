//! Page handlers: extract, call a use case, render a template. A page that fails renders the
//! HTML error page with the request id (the cause is logged by the edge, never shown).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::AppError;
use pw_http::{AppState, Mounter, RequestId};

use crate::asset_href;

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/", landing)
}

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub css_href: String,
    pub js_href: String,
    pub icons_href: String,
    pub favicon_href: String,
    pub version: &'static str,
    pub auth_disabled: bool,
}

impl Layout {
    fn new(version: &'static str, auth_enabled: bool) -> Self {
        Self {
            css_href: asset_href("css/app.css"),
            js_href: asset_href("js/app.js"),
            icons_href: asset_href("icons.svg"),
            favicon_href: asset_href("favicon.svg"),
            version,
            auth_disabled: !auth_enabled,
        }
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    layout: Layout,
    setup_required: bool,
    product_version: &'static str,
    local_ca: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: &'static str,
    request_id: String,
}

async fn landing(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
) -> Response {
    match state.app.instance_status().await {
        Ok(status) => render(
            &Landing {
                layout: Layout::new(status.version, status.auth_enabled),
                setup_required: status.setup_required,
                product_version: status.version,
                local_ca: status.local_ca,
            },
            &request_id,
        ),
        Err(e) => error_page(&e, &state, &request_id),
    }
}

fn render(template: &impl Template, request_id: &RequestId) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR, request_id)
        }
    }
}

fn error_page(e: &AppError, state: &AppState, request_id: &RequestId) -> Response {
    let (status, title, message) = match e {
        AppError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The server cannot reach its database right now. Try again in a moment.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not show this page.",
        ),
    };
    tracing::error!(error = %e, cause = ?std::error::Error::source(e), "page failed");
    let page = ErrorPage {
        layout: Layout::new(state.app.version(), state.app.auth_enabled()),
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

fn plain_error(status: StatusCode, request_id: &RequestId) -> Response {
    let body = format!(
        "<!doctype html><title>Error</title><p>Error {status}. Request id {}.</p>",
        request_id.0
    );
    (status, Html(body)).into_response()
}
