//! OpenID Connect (S6): the providers in settings, the authorize redirect (rate-limited per
//! address), the callback, and linking/unlinking from Account. Extract, call the use case, map
//! the answer; the binding cookie (`__Host-pw_oidc`) is set and cleared here.
//!
//! Invariant: the callback never shows why a sign-in failed (the audit log has the reason);
//! it sends the browser to the sign-in page with one generic flag.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::header::{HOST, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};
use pw_app::{OidcCallback, OidcDone, OidcProviderInput, OidcReauth, SignIn};
use serde::Serialize;

use crate::api::auth::sessions::signed_in;
use crate::api::parse_id;
use crate::middleware::attempt::Attempt;
use crate::middleware::cookie::{
    clear_oidc, cookie, oidc_cookie_name, set_challenge, set_oidc, with_cookie,
};
use crate::middleware::limits::client_key;
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

/// Where the provider sends the browser back.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/oidc/providers", list)
        .mount(Method::POST, "/api/v1/settings/oidc/providers", create)
        .mount(Method::PUT, "/api/v1/settings/oidc/providers/{id}", update)
        .mount(
            Method::DELETE,
            "/api/v1/settings/oidc/providers/{id}",
            delete,
        )
        .mount(
            Method::GET,
            "/api/v1/auth/oidc/{provider_id}/authorize",
            authorize,
        )
        .mount(Method::GET, "/api/v1/auth/oidc/links", links)
        .mount(Method::POST, "/api/v1/auth/oidc/{provider_id}/link", link)
        .mount(
            Method::POST,
            "/api/v1/auth/oidc/{provider_id}/unlink",
            unlink,
        )
        .mount(Method::GET, CALLBACK_PATH, callback)
}

async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.app.oidc_providers(&actor).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<OidcProviderInput>,
) -> Result<Response, ApiError> {
    let view = state.app.create_oidc_provider(&actor, req).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OidcProviderInput>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.update_oidc_provider(&actor, id, req).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.delete_oidc_provider(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Our callback as this browser reaches us: the request's own origin (its Host already passed
/// the shield's allow-list).
fn redirect_uri(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<String, ApiError> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .ok_or_else(ApiError::not_found)?;
    let scheme = if state.https { "https" } else { "http" };
    Ok(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

fn lifetime() -> Duration {
    Duration::from_millis(u64::try_from(pw_app::OIDC_STATE_TTL_MS).unwrap_or(600_000))
}

async fn authorize(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    if let Some(v) = state
        .shield
        .limits
        .oidc_ip
        .hit(&client_key(client.ip), Instant::now())
        .filter(|v| v.limited)
    {
        return Err(ApiError::rate_limited().with_limit(v));
    }
    let id: i64 = parse_id(&id)?;
    let redirect = redirect_uri(&state, &headers, &uri)?;
    let start = state.app.oidc_authorize(id, &redirect, &actor.meta).await?;
    let cookie = set_oidc(state.https, &start.browser_token, lifetime());
    Ok(with_cookie(
        (StatusCode::FOUND, [(LOCATION, start.redirect)]),
        cookie,
    ))
}

/// The provider's URL for a link started from Account (the page navigates there).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LinkStarted {
    /// Where to send the browser.
    redirect: String,
}

async fn link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(req): ApiJson<OidcReauth>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    let user = actor.user_id.ok_or_else(ApiError::unauthenticated)?;
    let redirect = redirect_uri(&state, &headers, &uri)?;
    // The password is a secret check like any other: throttled per address and per user.
    let attempt = Attempt::code(&state, &client, user).await?;
    let result = state.app.oidc_link_start(&actor, id, &redirect, &req).await;
    let https = state.https;
    attempt
        .answer(result, |start| {
            let cookie = set_oidc(https, &start.browser_token, lifetime());
            with_cookie(
                Json(LinkStarted {
                    redirect: start.redirect,
                }),
                cookie,
            )
        })
        .await
}

async fn unlink(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OidcReauth>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    let user = actor.user_id.ok_or_else(ApiError::unauthenticated)?;
    let attempt = Attempt::code(&state, &client, user).await?;
    let result = state.app.oidc_unlink(&actor, id, &req).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

async fn links(State(state): State<AppState>, Caller(actor): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.app.oidc_links(&actor).await?).into_response())
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

async fn callback(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Query(q): Query<OidcCallback>,
) -> Result<Response, ApiError> {
    let https = state.https;
    let browser = cookie(&headers, oidc_cookie_name(https)).map(str::to_owned);
    let previous = crate::middleware::enforce::presented(&headers, https)
        .session
        .map(str::to_owned);
    let outcome = state
        .app
        .oidc_callback(&q, browser.as_deref(), previous.as_deref(), actor.meta)
        .await;
    // The binding cookie is single-use like its state: cleared whatever happened.
    let mut response = match outcome {
        Ok(OidcDone::SignedIn(SignIn::Session(outcome))) => {
            let mut r = signed_in(&state, StatusCode::OK, outcome);
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut()
                .insert(LOCATION, http::HeaderValue::from_static("/"));
            r
        }
        Ok(OidcDone::SignedIn(SignIn::Challenge(challenge))) => {
            let lifetime = Duration::from_millis(
                u64::try_from(pw_app::CHALLENGE_LIFETIME_MS).unwrap_or(300_000),
            );
            with_cookie(
                see_other("/login?step=mfa"),
                set_challenge(https, &challenge.token, lifetime),
            )
        }
        Ok(OidcDone::Linked) => see_other("/account?oidc=linked"),
        Err(pw_app::AppError::Conflict(_)) => see_other("/account?oidc=taken"),
        Err(pw_app::AppError::Unauthenticated) => see_other("/login?oidc=failed"),
        Err(e) => {
            tracing::warn!(error = %e, "OIDC callback failed");
            see_other("/login?oidc=failed")
        }
    };
    if let Some(c) = clear_oidc(https) {
        response.headers_mut().append(http::header::SET_COOKIE, c);
    }
    Ok(response)
}
