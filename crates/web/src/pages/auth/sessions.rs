//! The first-run setup page and the sign-in page (S2), with its second step (TOTP, emailed or
//! backup code) and, under Advanced Auth via Email, a "Forgot password?" link. Both are public;
//! their forms post to the JSON API from `static/js/setup.js` and `static/js/login.js`.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::HeaderMap;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, query_pairs, query_param, render, see_other};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    setup_required: bool,
    /// Advanced Auth via Email is on: offer "Forgot password?".
    forgot_password: bool,
    /// OpenID Connect providers: one "Sign in with …" link each.
    oidc: Vec<pw_app::OidcProviderButton>,
    /// Back from a provider whose sign-in did not work (`?oidc=failed`).
    oidc_failed: bool,
    /// `?step=mfa` (a provider's sign-in needs the second factor): the methods of the live
    /// challenge, space-separated; `gone` when it expired (login.js says to start again);
    /// `unknown` when this request did not carry the challenge cookie.
    mfa_methods: String,
}

/// `GET /setup`: the form that claims a fresh instance; once set up, it is the sign-in page's.
pub(crate) async fn setup_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
) -> Response {
    match state.app.instance_status().await {
        Ok(status) if !status.setup_required => see_other("/login"),
        Ok(_) => render(
            &SetupPage {
                layout: Layout::new(&state.app, &Viewer::anonymous())
                    .without_sign_in_link()
                    .with_module("js/setup.js"),
            },
            &request_id,
        ),
        Err(e) => failure(e, &state, &Viewer::anonymous(), &request_id, "/setup"),
    }
}

/// `GET /login[?next=/path]`: the sign-in form; a signed-in visitor goes straight on.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = query_pairs(query.as_deref());
    let next = crate::next::sanitize(query_param(&pairs, "next"));
    if actor.user_id.is_some() {
        return see_other(&next);
    }
    let loaded = async {
        let status = state.app.instance_status().await?;
        let forgot = state.app.advanced_auth().await?;
        let oidc = state.app.oidc_buttons().await?;
        Ok::<_, pw_app::AppError>((status, forgot, oidc))
    }
    .await;
    let oidc_failed = query_param(&pairs, "oidc") == Some("failed");
    // The challenge cookie is HttpOnly (threat: a script stealing a half-finished sign-in), so
    // the page asks the server which methods it takes instead of reading it in login.js.
    let mfa_methods = if query_param(&pairs, "step") == Some("mfa") {
        let token = pw_http::cookie(&headers, pw_http::challenge_cookie_name(state.https));
        match token {
            Some(t) => match state.app.challenge_methods(t).await {
                Ok(methods) => methods
                    .iter()
                    .map(|m| match m {
                        pw_app::MfaMethod::Totp => "totp",
                        pw_app::MfaMethod::Email => "email",
                        pw_app::MfaMethod::Backup => "backup",
                        pw_app::MfaMethod::Passkey => "passkey",
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(_) => "gone".to_owned(),
            },
            // The cookie is SameSite=Strict, so a page reached through the provider's
            // cross-site redirect chain does not get it: login.js reloads once, same-site.
            None => "unknown".to_owned(),
        }
    } else {
        String::new()
    };
    match loaded {
        Ok((status, forgot_password, oidc)) => render(
            &LoginPage {
                layout: Layout::new(&state.app, &Viewer::anonymous())
                    .without_sign_in_link()
                    .with_module("js/login.js"),
                next,
                setup_required: status.setup_required,
                forgot_password,
                oidc,
                oidc_failed,
                mfa_methods,
            },
            &request_id,
        ),
        Err(e) => failure(e, &state, &Viewer::anonymous(), &request_id, "/login"),
    }
}
