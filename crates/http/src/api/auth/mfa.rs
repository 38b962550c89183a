//! `/api/v1/auth/mfa/*` and the admin reset: the second-factor step of sign-in (challenge
//! cookie in, session cookie out), the account's own TOTP management and its emailed codes
//! (`/api/v1/auth/mfa/email/*`, and sending a code to a pending challenge).
//!
//! Invariants: every code check — at sign-in and on the account page — is throttled per
//! client IP and per user (SPEC S7: 5 failures / 15 min) through an [`Attempt`] that reserves
//! its slots before the code is looked at (reserve before verify, refund on success);
//! the challenge travels only in its HttpOnly cookie and is cleared once used.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{AppError, ChallengeIssued, MfaMethod, SecretString};
use pw_domain::UserId;
use serde::{Deserialize, Serialize};

use crate::api::auth::sessions::signed_in;
use crate::api::parse_id;
use crate::middleware::attempt::{Attempt, Judged};
use crate::middleware::cookie::{
    challenge_cookie_name, clear_challenge, cookie, set_challenge, with_cookie,
};
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/auth/mfa/email/setup", email_setup)
        .mount(Method::POST, "/api/v1/auth/mfa/email/enable", email_enable)
        .mount(
            Method::POST,
            "/api/v1/auth/mfa/email/disable",
            email_disable,
        )
        .mount(Method::POST, "/api/v1/auth/mfa/email/send", email_send)
        .mount(Method::POST, "/api/v1/auth/mfa/verify", verify)
        .mount(Method::POST, "/api/v1/auth/mfa/totp/setup", totp_setup)
        .mount(Method::POST, "/api/v1/auth/mfa/totp/enable", totp_enable)
        .mount(Method::POST, "/api/v1/auth/mfa/totp/disable", totp_disable)
        .mount(
            Method::POST,
            "/api/v1/auth/mfa/backup-codes/regenerate",
            regenerate,
        )
        .mount(Method::POST, "/api/v1/users/{id}/mfa/reset", reset)
}

/// The answer to a correct password when a second factor is needed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MfaRequired {
    /// Always true.
    mfa_required: bool,
    /// The methods this account can finish with.
    methods: Vec<MfaMethod>,
}

/// `{mfa_required: true, methods}` with the challenge cookie.
pub(crate) fn challenged(state: &AppState, challenge: ChallengeIssued) -> Response {
    let lifetime =
        Duration::from_millis(u64::try_from(pw_app::CHALLENGE_LIFETIME_MS).unwrap_or(300_000));
    let cookie = set_challenge(state.https, &challenge.token, lifetime);
    with_cookie(
        Json(MfaRequired {
            mfa_required: true,
            methods: challenge.methods,
        }),
        cookie,
    )
}

pub(crate) fn challenge_gone() -> ApiError {
    ApiError::unauthenticated_with(
        "The sign-in step has expired or was started in another browser. Sign in again.",
    )
}

/// `POST /api/v1/auth/mfa/verify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    method: MfaMethod,
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

async fn verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, challenge_cookie_name(state.https)).ok_or_else(challenge_gone)?;
    let challenge = match state.app.open_challenge(token).await {
        Ok(c) => c,
        Err(AppError::Unauthenticated) => return Err(challenge_gone()),
        Err(e) => return Err(e.into()),
    };
    let attempt = Attempt::code(&state, &client, challenge.user).await?;
    let result = state
        .app
        .complete_challenge(&challenge, req.method, req.code.expose(), actor.meta)
        .await;
    attempt
        .finish(
            result,
            Judged::of,
            |outcome| {
                let response = signed_in(&state, StatusCode::OK, outcome);
                with_cookie(response, clear_challenge(state.https))
            },
            |e| match e {
                AppError::WrongSecret(message) => ApiError::unauthenticated_with(message),
                AppError::Unauthenticated => challenge_gone(),
                other => other.into(),
            },
        )
        .await
}

/// `POST /api/v1/auth/mfa/totp/setup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpSetupRequest {
    /// A current code of the active TOTP, needed only to replace it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    code: Option<SecretString>,
}

/// A code: TOTP, or (to disable TOTP) a backup code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeRequest {
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

/// The attempt for a check on the signed-in user's own account (their code or password).
pub(crate) async fn own_attempt<'a>(
    state: &'a AppState,
    client: &Client,
    actor: &pw_app::Actor,
) -> Result<Attempt<'a>, ApiError> {
    let user = actor.user_id.ok_or_else(ApiError::unauthenticated)?;
    Attempt::code(state, client, user).await
}

async fn totp_setup(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<TotpSetupRequest>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let code = req.code.as_ref().map(SecretString::expose);
    let result = state.app.setup_totp(&actor, code).await;
    attempt.answer(result, |v| Json(v).into_response()).await
}

async fn totp_enable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state.app.enable_totp(&actor, req.code.expose()).await;
    attempt.answer(result, |v| Json(v).into_response()).await
}

async fn totp_disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state.app.disable_totp(&actor, req.code.expose()).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

async fn regenerate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state
        .app
        .regenerate_backup_codes(&actor, req.code.expose())
        .await;
    attempt.answer(result, |v| Json(v).into_response()).await
}

async fn reset(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: UserId = parse_id(&id)?;
    state.app.reset_mfa(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn email_setup(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.setup_email_otp(&actor).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/auth/mfa/email/enable`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailCodeRequest {
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

async fn email_enable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<EmailCodeRequest>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state.app.enable_email_otp(&actor, req.code.expose()).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

/// `POST /api/v1/auth/mfa/email/disable`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordConfirmation {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

async fn email_disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<PasswordConfirmation>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state.app.disable_email_otp(&actor, &req.password).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

async fn email_send(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, challenge_cookie_name(state.https)).ok_or_else(challenge_gone)?;
    let challenge = match state.app.open_challenge(token).await {
        Ok(c) => c,
        Err(AppError::Unauthenticated) => return Err(challenge_gone()),
        Err(e) => return Err(e.into()),
    };
    state.app.send_challenge_code(&challenge).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
