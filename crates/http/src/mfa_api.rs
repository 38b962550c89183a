//! `/api/v1/auth/mfa/*` and the admin reset: the second-factor step of sign-in (challenge
//! cookie in, session cookie out) and the account's own TOTP management.
//!
//! Invariants: every code check — at sign-in and on the account page — is throttled per
//! client IP and per user (SPEC S7: 5 failures / 15 min), counted before the answer leaves;
//! the challenge travels only in its HttpOnly cookie and is cleared once used.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{AppError, ChallengeIssued, MfaMethod, SecretString};
use pw_domain::UserId;
use serde::{Deserialize, Serialize};

use crate::auth_api::{parse_id, signed_in};
use crate::cookie::{challenge_cookie_name, clear_challenge, cookie, set_challenge, with_cookie};
use crate::limits::{Verdict, client_key};
use crate::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/auth/mfa/verify", verify)
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

/// The second-factor throttle around one check: refuses up front when the client IP or the
/// user has used up their failures, counts a failure afterwards on both.
pub(crate) struct CodeGate<'a> {
    state: &'a AppState,
    ip: std::net::IpAddr,
    user: String,
    verdict: Option<Verdict>,
}

impl<'a> CodeGate<'a> {
    fn open(state: &'a AppState, client: &Client, user: UserId) -> Result<Self, ApiError> {
        let limits = &state.shield.limits;
        let now = Instant::now();
        let ip = client_key(client.ip);
        let user = user.to_string();
        let by_ip = limits.mfa_ip.peek(&ip, now);
        let by_user = limits.mfa_user.peek(&user, now);
        if let Some(v) = by_ip
            .filter(|v| v.limited)
            .or(by_user.filter(|v| v.limited))
        {
            tracing::info!(client = %client.ip, "rate limit reached: second-factor checks");
            return Err(ApiError::rate_limited().with_limit(v));
        }
        Ok(Self {
            state,
            ip,
            user,
            verdict: by_ip,
        })
    }

    fn answer(&self, mut response: Response) -> Response {
        if let Some(v) = self.verdict {
            v.write_headers(response.headers_mut());
        }
        response
    }

    fn failed(self, error: ApiError) -> ApiError {
        let limits = &self.state.shield.limits;
        let now = Instant::now();
        let by_ip = limits.mfa_ip.hit(&self.ip, now);
        let by_user = limits.mfa_user.hit(&self.user, now);
        match by_ip.or(by_user) {
            Some(v) => error.with_limit(v),
            None => error,
        }
    }

    /// Maps a use case's answer: a wrong code counts as a failure.
    pub(crate) fn finish<T>(
        self,
        result: Result<T, AppError>,
        ok: impl FnOnce(T) -> Response,
    ) -> Result<Response, ApiError> {
        match result {
            Ok(value) => Ok(self.answer(ok(value))),
            Err(e @ AppError::BadRequest(_)) => Err(self.failed(e.into())),
            Err(e) => Err(e.into()),
        }
    }
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
    let gate = CodeGate::open(&state, &client, challenge.user)?;
    let result = state
        .app
        .complete_challenge(&challenge, req.method, req.code.expose(), actor.meta)
        .await;
    match result {
        Ok(outcome) => {
            let response = signed_in(&state, StatusCode::OK, outcome);
            Ok(gate.answer(with_cookie(response, clear_challenge(state.https))))
        }
        Err(AppError::BadRequest(message)) => {
            Err(gate.failed(ApiError::unauthenticated_with(message)))
        }
        Err(AppError::Unauthenticated) => Err(challenge_gone()),
        Err(e) => Err(e.into()),
    }
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

pub(crate) fn own_gate<'a>(
    state: &'a AppState,
    client: &Client,
    actor: &pw_app::Actor,
) -> Result<CodeGate<'a>, ApiError> {
    let user = actor.user_id.ok_or_else(ApiError::unauthenticated)?;
    CodeGate::open(state, client, user)
}

async fn totp_setup(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<TotpSetupRequest>,
) -> Result<Response, ApiError> {
    let gate = own_gate(&state, &client, &actor)?;
    let code = req.code.as_ref().map(SecretString::expose);
    let result = state.app.setup_totp(&actor, code).await;
    gate.finish(result, |v| Json(v).into_response())
}

async fn totp_enable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let gate = own_gate(&state, &client, &actor)?;
    let result = state.app.enable_totp(&actor, req.code.expose()).await;
    gate.finish(result, |v| Json(v).into_response())
}

async fn totp_disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let gate = own_gate(&state, &client, &actor)?;
    let result = state.app.disable_totp(&actor, req.code.expose()).await;
    gate.finish(result, |()| StatusCode::NO_CONTENT.into_response())
}

async fn regenerate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let gate = own_gate(&state, &client, &actor)?;
    let result = state
        .app
        .regenerate_backup_codes(&actor, req.code.expose())
        .await;
    gate.finish(result, |v| Json(v).into_response())
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
