//! `/api/v1/auth/*` and `/api/v1/settings/security`: extract, call the use case, map the
//! answer; cookies are set here and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{Done, LoginOutcome, SecretString, SecuritySettings, SetupRequest};
use pw_domain::SessionId;
use serde::Deserialize;

use crate::cookie::{clear_session, set_session, with_cookie};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/auth/status", status)
        .mount(Method::POST, "/api/v1/auth/setup", setup)
        .mount(Method::POST, "/api/v1/auth/login", login)
        .mount(Method::POST, "/api/v1/auth/logout", logout)
        .mount(Method::GET, "/api/v1/auth/me", me)
        .mount(Method::POST, "/api/v1/auth/password", change_password)
        .mount(Method::GET, "/api/v1/auth/sessions", sessions)
        .mount(Method::DELETE, "/api/v1/auth/sessions/{id}", revoke_session)
        .mount(
            Method::POST,
            "/api/v1/auth/sessions/revoke-others",
            revoke_others,
        )
        .mount(Method::POST, "/api/v1/auth/disable", disable)
        .mount(Method::POST, "/api/v1/auth/enable", enable)
        .mount(Method::GET, "/api/v1/settings/security", get_security)
        .mount(Method::PUT, "/api/v1/settings/security", put_security)
}

/// Parses a path id once, at the edge.
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// A response that may carry a rotated session cookie.
pub(crate) fn done<T>(state: &AppState, done: Done<T>, ok: impl FnOnce(T) -> Response) -> Response {
    let cookie = done
        .new_session_token
        .as_ref()
        .and_then(|t| set_session(state.https, t, state.app.session_lifetime()));
    with_cookie(ok(done.value), cookie)
}

fn signed_in(state: &AppState, status: StatusCode, outcome: LoginOutcome) -> Response {
    let cookie = set_session(state.https, &outcome.token, state.app.session_lifetime());
    with_cookie(
        (status, Json(serde_json::json!({ "user": outcome.user }))),
        cookie,
    )
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let s = state.app.instance_status().await?;
    Ok(Json(serde_json::json!({
        "auth_enabled": s.auth_enabled,
        "setup_required": s.setup_required,
        "local_login": true,
        "ldap": false,
        "oidc_providers": [],
        "advanced_auth": false,
        "passkeys": false,
    }))
    .into_response())
}

async fn setup(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    let outcome = state.app.setup(req, actor.meta).await?;
    Ok(signed_in(&state, StatusCode::CREATED, outcome))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: SecretString,
}

async fn login(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let previous = crate::enforce::presented(&headers, state.https)
        .session
        .map(str::to_owned);
    let outcome = state
        .app
        .login(
            &req.username,
            &req.password,
            previous.as_deref(),
            actor.meta,
        )
        .await
        .map_err(|e| match e {
            pw_app::AppError::Unauthenticated => {
                ApiError::unauthenticated_with("Wrong username or password.")
            }
            other => other.into(),
        })?;
    Ok(signed_in(&state, StatusCode::OK, outcome))
}

async fn logout(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.logout(&actor).await?;
    Ok(with_cookie(
        StatusCode::NO_CONTENT,
        clear_session(state.https),
    ))
}

async fn me(State(state): State<AppState>, Caller(actor): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.app.me(&actor).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    #[serde(default)]
    current_password: Option<SecretString>,
    new_password: SecretString,
}

async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<Response, ApiError> {
    let d = state
        .app
        .change_password(&actor, req.current_password.as_ref(), &req.new_password)
        .await?;
    Ok(done(&state, d, |()| StatusCode::NO_CONTENT.into_response()))
}

async fn sessions(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.list_sessions(&actor).await?).into_response())
}

async fn revoke_session(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: SessionId = parse_id(&id)?;
    state.app.revoke_own_session(&actor, id).await?;
    let cookie = (actor.session == Some(id))
        .then(|| clear_session(state.https))
        .flatten();
    Ok(with_cookie(StatusCode::NO_CONTENT, cookie))
}

async fn revoke_others(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.revoke_other_sessions(&actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.set_auth_enabled(&actor, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enable(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.set_auth_enabled(&actor, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_security(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.get_security_settings(&actor)?).into_response())
}

async fn put_security(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<SecuritySettings>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_security_settings(&actor, req).await?).into_response())
}
