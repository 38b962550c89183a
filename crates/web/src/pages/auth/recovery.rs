//! The pages of Advanced Auth via Email (S5): `/forgot-password` asks for a reset link, and
//! `/reset-password` and `/set-password` are where the mailed links lead. All three are public
//! and post to the JSON API from `static/js/forgot.js` and `static/js/password_link.js`.
//!
//! Invariant: the link's token never passes through the server's HTML. The handlers do not
//! read the query string; the page's module reads the token from `location` and sends it in
//! the body of `POST /api/v1/auth/reset-password`. The link pages also carry
//! `<meta name="referrer" content="no-referrer">`, so the URL with the token is not sent as
//! `Referer` with their asset requests, API calls or a followed link (the server's own
//! `strict-origin-when-cross-origin` would send the full URL to this origin).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    layout: Layout,
    /// Advanced Auth via Email is on: reset links can be mailed.
    available: bool,
}

#[derive(Template)]
#[template(path = "password_link.html")]
struct PasswordLinkPage {
    layout: Layout,
    /// A new account's first password (else a reset).
    set: bool,
    /// Offer "ask for a new link" (Advanced Auth is on).
    forgot_link: bool,
}

/// The viewer (for the header) and whether Advanced Auth via Email is on.
async fn load(state: &AppState, actor: &pw_app::Actor) -> Result<(Viewer, bool), pw_app::AppError> {
    let viewer = Viewer::load(&state.app, actor).await?;
    let on = state.app.advanced_auth().await?;
    Ok((viewer, on))
}

/// `GET /forgot-password`.
pub(crate) async fn forgot_password_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    match load(&state, &actor).await {
        Ok((viewer, available)) => render(
            &ForgotPage {
                layout: Layout::new(&state.app, &viewer).with_module("js/forgot.js"),
                available,
            },
            &request_id,
        ),
        Err(e) => failure(
            e,
            &state,
            &Viewer::anonymous(),
            &request_id,
            "/forgot-password",
        ),
    }
}

async fn link_page(
    state: &AppState,
    actor: &pw_app::Actor,
    request_id: &RequestId,
    set: bool,
) -> Response {
    let path = if set {
        "/set-password"
    } else {
        "/reset-password"
    };
    match load(state, actor).await {
        Ok((viewer, on)) => render(
            &PasswordLinkPage {
                layout: Layout::new(&state.app, &viewer).with_module("js/password_link.js"),
                set,
                forgot_link: on,
            },
            request_id,
        ),
        Err(e) => failure(e, state, &Viewer::anonymous(), request_id, path),
    }
}

/// `GET /reset-password?token=…` (the token is for the page's module, not for this handler).
pub(crate) async fn reset_password_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    link_page(&state, &actor, &request_id, false).await
}

/// `GET /set-password?token=…`.
pub(crate) async fn set_password_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    link_page(&state, &actor, &request_id, true).await
}
