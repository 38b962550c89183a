//! `/api/v1/auth/*` sessions: status, setup, sign-in, sign-out, me, password change and the
//! session list. Extract, call the use case, map the answer; session cookies are set here (and
//! by [`done`] for answers that rotate the session) and nowhere else.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{Done, LoginOutcome, SecretString, SetupRequest, SignIn};
use pw_domain::SessionId;
use serde::{Deserialize, Serialize};

use crate::api::parse_id;
use crate::middleware::attempt::{Attempt, Judged};
use crate::middleware::cookie::{clear_session, set_session, with_cookie};
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/auth/status", status)
        .mount(Method::POST, "/api/v1/auth/setup", setup)
        .mount(Method::POST, "/api/v1/auth/login", login)
        .mount(Method::POST, "/api/v1/auth/logout", logout)
        .mount(Method::GET, "/api/v1/auth/me", me)
        .mount(Method::PATCH, "/api/v1/auth/me", update_me)
        .mount(Method::POST, "/api/v1/auth/password", change_password)
        .mount(Method::GET, "/api/v1/auth/sessions", sessions)
        .mount(Method::DELETE, "/api/v1/auth/sessions/{id}", revoke_session)
        .mount(
            Method::POST,
            "/api/v1/auth/sessions/revoke-others",
            revoke_others,
        )
}

/// A response that may carry a rotated session cookie.
pub(crate) fn done<T>(state: &AppState, done: Done<T>, ok: impl FnOnce(T) -> Response) -> Response {
    let cookie = done
        .new_session_token
        .as_ref()
        .and_then(|t| set_session(state.https, t, state.app.session_lifetime()));
    with_cookie(ok(done.value), cookie)
}

pub(crate) fn signed_in(state: &AppState, status: StatusCode, outcome: LoginOutcome) -> Response {
    let cookie = set_session(state.https, &outcome.token, state.app.session_lifetime());
    with_cookie((status, Json(SignedIn { user: outcome.user })), cookie)
}

/// `GET /api/v1/auth/status`: what the sign-in page offers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuthStatus {
    /// False while authentication is switched off.
    auth_enabled: bool,
    /// True until the first administrator exists.
    setup_required: bool,
    /// Username and password sign-in.
    local_login: bool,
    /// Directory sign-in.
    ldap: bool,
    /// OpenID Connect providers offered on the sign-in page.
    oidc_providers: Vec<pw_app::OidcProviderButton>,
    /// Sign-in by email link.
    advanced_auth: bool,
    /// Passkey sign-in.
    passkeys: bool,
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let s = state.app.instance_status().await?;
    let advanced_auth = state.app.advanced_auth().await?;
    let ldap = state.app.ldap_enabled().await?;
    Ok(Json(AuthStatus {
        auth_enabled: s.auth_enabled,
        setup_required: s.setup_required,
        local_login: true,
        ldap,
        oidc_providers: state.app.oidc_buttons().await?,
        advanced_auth,
        passkeys: true,
    })
    .into_response())
}

/// The answer to a successful setup or sign-in (the session cookie comes with it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SignedIn {
    /// Who is signed in now.
    user: pw_app::MeView,
}

async fn setup(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    // The setup code is short enough that guessing must be throttled like passwords: its
    // check takes a sign-in slot of the address first.
    let attempt = Attempt::sign_in(&state, &client, None).await?;
    let result = state.app.setup(req, actor.meta).await;
    attempt
        .answer(result, |outcome| {
            signed_in(&state, StatusCode::CREATED, outcome)
        })
        .await
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

async fn login(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let attempt = Attempt::sign_in(&state, &client, Some(&req.username)).await?;
    let previous = crate::middleware::enforce::presented(&headers, state.https)
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
        .await;
    attempt
        .finish(
            outcome,
            // Every failure of a sign-in counts: it says nothing about why.
            |_| Judged::Charge,
            |signed| match signed {
                SignIn::Session(outcome) => signed_in(&state, StatusCode::OK, outcome),
                SignIn::Challenge(challenge) => {
                    crate::api::auth::mfa::challenged(&state, challenge)
                }
            },
            |e| match e {
                pw_app::AppError::Unauthenticated => {
                    ApiError::unauthenticated_with("Wrong username or password.")
                }
                other => other.into(),
            },
        )
        .await
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

async fn update_me(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(patch): ApiJson<pw_app::ProfilePatch>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_profile(&actor, &patch).await?).into_response())
}

/// `POST /api/v1/auth/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordRequest {
    /// Needed unless the account has no password yet.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    current_password: Option<SecretString>,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<Response, ApiError> {
    // The current password is a secret check like any other: a stolen session must not be
    // able to guess it at will.
    let user = actor.user_id.ok_or_else(ApiError::unauthenticated)?;
    let attempt = Attempt::code(&state, &client, user).await?;
    let result = state
        .app
        .change_password(&actor, req.current_password.as_ref(), &req.new_password)
        .await;
    attempt
        .answer(result, |d| {
            done(&state, d, |()| StatusCode::NO_CONTENT.into_response())
        })
        .await
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
