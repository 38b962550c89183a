//! `/api/v1/auth/passkeys/*` and `/api/v1/auth/mfa/passkey/*`: passkey ceremonies (options
//! out with the ceremony cookie, the browser's response in), the account's list of passkeys
//! their renaming and their removal.
//!
//! Invariants: a ceremony's challenge travels only in its HttpOnly `__Host-pw_passkey`
//! cookie and is cleared with every finish; the password that re-authenticates a change and
//! every sign-in finish go through an [`Attempt`] (reserve before verify), per address and,
//! where the account is known, per account; the origin handed to the use case is the one the
//! shield screened (Host allow-list), never a header the handler reads itself.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{
    AppError, AssertionCredential, PASSKEY_CEREMONY_MS, PasskeyCeremony, RegistrationCredential,
    SecretString,
};
use serde::{Deserialize, Serialize};

use crate::api::auth::mfa::{challenge_gone, own_attempt};
use crate::api::auth::sessions::signed_in;
use crate::middleware::attempt::{Attempt, Judged};
use crate::middleware::cookie::{
    challenge_cookie_name, clear_challenge, clear_passkey, cookie, passkey_cookie_name,
    set_passkey, with_cookie,
};
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/auth/passkeys", list)
        .mount(
            Method::POST,
            "/api/v1/auth/passkeys/register/options",
            register_options,
        )
        .mount(Method::POST, "/api/v1/auth/passkeys/register", register)
        .mount(Method::DELETE, "/api/v1/auth/passkeys/{id}", delete)
        .mount(Method::PATCH, "/api/v1/auth/passkeys/{id}", rename)
        .mount(
            Method::POST,
            "/api/v1/auth/passkeys/login/options",
            login_options,
        )
        .mount(Method::POST, "/api/v1/auth/passkeys/login", login)
        .mount(
            Method::POST,
            "/api/v1/auth/mfa/passkey/options",
            mfa_options,
        )
        .mount(Method::POST, "/api/v1/auth/mfa/passkey/verify", mfa_verify)
}

/// The origin the client reached us by, as the shield resolved it.
fn origin_of(client: &Client) -> Option<String> {
    client
        .host
        .as_deref()
        .map(|h| format!("{}://{}", client.scheme, h.to_ascii_lowercase()))
}

/// WebAuthn options for the browser, as `navigator.credentials.create` / `get` take them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeyOptions {
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, binary fields in base64url.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

fn ceremony(state: &AppState, c: PasskeyCeremony) -> Response {
    let lifetime = Duration::from_millis(u64::try_from(PASSKEY_CEREMONY_MS).unwrap_or(300_000));
    let body = Json(PasskeyOptions {
        public_key: c.options,
    });
    with_cookie(body, set_passkey(state.https, &c.token, lifetime))
}

/// `POST /api/v1/auth/passkeys/register/options` and `DELETE /api/v1/auth/passkeys/{id}`:
/// the account's password again.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeyPassword {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// `POST /api/v1/auth/passkeys/register`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterPasskey {
    /// A name to tell it apart ("Phone", "YubiKey"); "Passkey" when empty.
    #[serde(default)]
    name: Option<String>,
    /// What `navigator.credentials.create` returned.
    credential: RegistrationCredential,
}

/// `PATCH /api/v1/auth/passkeys/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenamePasskey {
    /// The new name (at most 64 characters, no control characters); "Passkey" when empty.
    name: Option<String>,
}

async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.app.passkeys(&actor).await?).into_response())
}

async fn register_options(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<PasskeyPassword>,
) -> Result<Response, ApiError> {
    let attempt = own_attempt(&state, &client, &actor).await?;
    let origin = origin_of(&client);
    let result = state
        .app
        .passkey_register_options(&actor, &req.password, origin.as_deref())
        .await;
    attempt.answer(result, |c| ceremony(&state, c)).await
}

async fn register(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterPasskey>,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, passkey_cookie_name(state.https));
    let origin = origin_of(&client);
    let view = state
        .app
        .passkey_register(
            &actor,
            token,
            req.name.as_deref(),
            &req.credential,
            origin.as_deref(),
        )
        .await;
    // The challenge is spent whatever the outcome: the cookie goes too.
    let clear = clear_passkey(state.https);
    match view {
        Ok(v) => Ok(with_cookie((StatusCode::CREATED, Json(v)), clear)),
        Err(e) => Ok(with_cookie(ApiError::from(e), clear)),
    }
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PasskeyPassword>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::from(AppError::NotFound))?;
    let attempt = own_attempt(&state, &client, &actor).await?;
    let result = state.app.delete_passkey(&actor, id, &req.password).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

async fn rename(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenamePasskey>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::from(AppError::NotFound))?;
    let view = state
        .app
        .rename_passkey(&actor, id, req.name.as_deref())
        .await?;
    Ok(Json(view).into_response())
}

async fn login_options(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
) -> Result<Response, ApiError> {
    let origin = origin_of(&client);
    let c = state.app.passkey_login_options(origin.as_deref()).await?;
    Ok(ceremony(&state, c))
}

async fn login(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiJson(credential): ApiJson<AssertionCredential>,
) -> Result<Response, ApiError> {
    let attempt = Attempt::sign_in(&state, &client, None).await?;
    let token = cookie(&headers, passkey_cookie_name(state.https)).map(str::to_owned);
    let previous = crate::middleware::enforce::presented(&headers, state.https)
        .session
        .map(str::to_owned);
    let origin = origin_of(&client);
    let outcome = state
        .app
        .passkey_login(
            token.as_deref(),
            &credential,
            previous.as_deref(),
            actor.meta,
            origin.as_deref(),
        )
        .await;
    let https = state.https;
    attempt
        .finish(
            outcome,
            |_| Judged::Charge,
            |o| with_cookie(signed_in(&state, StatusCode::OK, o), clear_passkey(https)),
            |e| match e {
                AppError::Unauthenticated => {
                    ApiError::unauthenticated_with("That passkey could not sign you in.")
                }
                other => other.into(),
            },
        )
        .await
}

async fn mfa_options(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, challenge_cookie_name(state.https)).ok_or_else(challenge_gone)?;
    let challenge = match state.app.open_challenge(token).await {
        Ok(c) => c,
        Err(AppError::Unauthenticated) => return Err(challenge_gone()),
        Err(e) => return Err(e.into()),
    };
    let origin = origin_of(&client);
    let c = state
        .app
        .passkey_mfa_options(&challenge, origin.as_deref())
        .await?;
    Ok(ceremony(&state, c))
}

async fn mfa_verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiJson(credential): ApiJson<AssertionCredential>,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, challenge_cookie_name(state.https)).ok_or_else(challenge_gone)?;
    let challenge = match state.app.open_challenge(token).await {
        Ok(c) => c,
        Err(AppError::Unauthenticated) => return Err(challenge_gone()),
        Err(e) => return Err(e.into()),
    };
    let attempt = Attempt::code(&state, &client, challenge.user).await?;
    let passkey = cookie(&headers, passkey_cookie_name(state.https)).map(str::to_owned);
    let origin = origin_of(&client);
    let result = state
        .app
        .complete_challenge_with_passkey(
            &challenge,
            passkey.as_deref(),
            &credential,
            actor.meta,
            origin.as_deref(),
        )
        .await;
    let https = state.https;
    attempt
        .finish(
            result,
            Judged::of,
            |outcome| {
                let response = with_cookie(
                    signed_in(&state, StatusCode::OK, outcome),
                    clear_challenge(https),
                );
                with_cookie(response, clear_passkey(https))
            },
            |e| match e {
                AppError::Unauthenticated => {
                    ApiError::unauthenticated_with("That passkey could not finish the sign-in.")
                }
                other => other.into(),
            },
        )
        .await
}
