//! `/api/v1/auth/*`, `/api/v1/settings/security` and `/api/v1/settings/outbound`: extract, call the use case, map the
//! answer; cookies are set here and nowhere else.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{
    Done, LoginOutcome, OutboundSettings, SecretString, SecuritySettings, SetupRequest, SignIn,
};
use pw_domain::SessionId;
use serde::{Deserialize, Serialize};

use crate::cookie::{clear_session, set_session, with_cookie};
use crate::limits::{Verdict, client_key, slowdown};
use crate::shield::Client;
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
        .mount(Method::GET, "/api/v1/settings/outbound", get_outbound)
        .mount(Method::PUT, "/api/v1/settings/outbound", put_outbound)
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
    oidc_providers: Vec<String>,
    /// Sign-in by email link.
    advanced_auth: bool,
    /// Passkey sign-in.
    passkeys: bool,
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let s = state.app.instance_status().await?;
    let advanced_auth = state.app.advanced_auth().await?;
    Ok(Json(AuthStatus {
        auth_enabled: s.auth_enabled,
        setup_required: s.setup_required,
        local_login: true,
        ldap: false,
        oidc_providers: Vec::new(),
        advanced_auth,
        passkeys: false,
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
    // A wrong setup code counts as a failed sign-in: the code is short enough that guessing
    // must be throttled like passwords.
    let gate = SignInGate::open(&state, &client)?;
    match state.app.setup(req, actor.meta).await {
        Ok(outcome) => Ok(gate.answer(signed_in(&state, StatusCode::CREATED, outcome))),
        Err(e @ pw_app::AppError::Forbidden) => Err(gate.failed(None, e.into()).await),
        Err(e) => Err(e.into()),
    }
}

/// The sign-in throttle around one attempt: refuses up front when the client IP has used up
/// its failures, counts a failure afterwards (slowing further failures on the same account)
/// and puts the IP's limit headers on the answer.
pub(crate) struct SignInGate<'a> {
    state: &'a AppState,
    ip: std::net::IpAddr,
    verdict: Option<Verdict>,
}

impl<'a> SignInGate<'a> {
    fn open(state: &'a AppState, client: &Client) -> Result<Self, ApiError> {
        let ip = client_key(client.ip);
        let verdict = state.shield.limits.login_ip.peek(&ip, Instant::now());
        if let Some(v) = verdict.filter(|v| v.limited) {
            tracing::info!(client = %client.ip, "rate limit reached: failed sign-ins");
            return Err(ApiError::rate_limited().with_limit(v));
        }
        Ok(Self { state, ip, verdict })
    }

    fn answer(&self, mut response: Response) -> Response {
        if let Some(v) = self.verdict {
            v.write_headers(response.headers_mut());
        }
        response
    }

    async fn failed(self, account: Option<&str>, error: ApiError) -> ApiError {
        let limits = &self.state.shield.limits;
        let now = Instant::now();
        let verdict = limits.login_ip.hit(&self.ip, now);
        if let Some(account) = account {
            let failures = limits
                .login_account
                .count_up(&account.trim().to_lowercase(), now);
            let wait = slowdown(failures, limits.login_account.limit().max);
            if !wait.is_zero() {
                tracing::info!(
                    failures,
                    wait_ms = wait.as_millis(),
                    "slowing failed sign-ins on one account"
                );
                tokio::time::sleep(wait).await;
            }
        }
        match verdict {
            Some(v) => error.with_limit(v),
            None => error,
        }
    }
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
    let gate = SignInGate::open(&state, &client)?;
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
        .await;
    match outcome {
        Ok(SignIn::Session(outcome)) => Ok(gate.answer(signed_in(&state, StatusCode::OK, outcome))),
        Ok(SignIn::Challenge(challenge)) => {
            Ok(gate.answer(crate::mfa_api::challenged(&state, challenge)))
        }
        Err(pw_app::AppError::Unauthenticated) => {
            let error = ApiError::unauthenticated_with("Wrong username or password.");
            Err(gate.failed(Some(&req.username), error).await)
        }
        Err(other) => Err(other.into()),
    }
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

async fn get_outbound(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.get_outbound_settings(&actor)?).into_response())
}

async fn put_outbound(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<OutboundSettings>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_outbound_settings(&actor, req).await?).into_response())
}
