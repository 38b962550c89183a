//! Mail routes: `/api/v1/settings/email*` (SMTP, test mail, templates), the account's emailed
//! second factor, and the password links of Advanced Auth via Email (forgot, reset, the
//! administrator's "send reset link").
//!
//! Invariant: `forgot-password` answers 202 with the same body whatever the address, and is
//! limited per client IP and per address before anything else happens (threat: mail bombing
//! a user, probing which addresses have accounts).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{
    AppError, EmailSettingsInput, MailPreferences, SecretString, Template, TemplateName, TestEmail,
};
use pw_domain::UserId;
use serde::Deserialize;

use crate::api::parse_id;
use crate::middleware::cookie::{challenge_cookie_name, cookie};
use crate::middleware::limits::client_key;
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/email", get_settings)
        .mount(Method::PUT, "/api/v1/settings/email", put_settings)
        .mount(Method::POST, "/api/v1/settings/email/test", test)
        .mount(Method::GET, "/api/v1/settings/email/templates", templates)
        .mount(
            Method::PUT,
            "/api/v1/settings/email/templates/{name}",
            put_template,
        )
        .mount(
            Method::DELETE,
            "/api/v1/settings/email/templates/{name}",
            reset_template,
        )
        .mount(
            Method::POST,
            "/api/v1/settings/email/templates/{name}/preview",
            preview,
        )
        .mount(Method::POST, "/api/v1/auth/mfa/email/setup", email_setup)
        .mount(Method::POST, "/api/v1/auth/mfa/email/enable", email_enable)
        .mount(
            Method::POST,
            "/api/v1/auth/mfa/email/disable",
            email_disable,
        )
        .mount(Method::POST, "/api/v1/auth/mfa/email/send", email_send)
        .mount(Method::POST, "/api/v1/auth/forgot-password", forgot)
        .mount(Method::POST, "/api/v1/auth/reset-password", reset_password)
        .mount(
            Method::POST,
            "/api/v1/users/{id}/password-reset",
            reset_link,
        )
        .mount(
            Method::GET,
            "/api/v1/auth/mail-preferences",
            get_preferences,
        )
        .mount(
            Method::PUT,
            "/api/v1/auth/mail-preferences",
            put_preferences,
        )
}

async fn get_preferences(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.mail_preferences(&actor).await?).into_response())
}

async fn put_preferences(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<MailPreferences>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.set_mail_preferences(&actor, req).await?).into_response())
}

async fn get_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.get_email_settings(&actor).await?).into_response())
}

async fn put_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<EmailSettingsInput>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_email_settings(&actor, req).await?).into_response())
}

async fn test(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<TestEmail>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.test_email(&actor, req).await?).into_response())
}

async fn templates(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.list_templates(&actor).await?).into_response())
}

fn template_name(raw: &str) -> Result<TemplateName, ApiError> {
    TemplateName::parse(raw).ok_or_else(ApiError::not_found)
}

async fn put_template(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Template>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    Ok(Json(state.app.update_template(&actor, name, req).await?).into_response())
}

async fn reset_template(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    state.app.reset_template(&actor, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn preview(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Template>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    Ok(Json(state.app.preview_template(&actor, name, req).await?).into_response())
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
    let attempt = crate::api::auth::mfa::own_attempt(&state, &client, &actor).await?;
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
    let attempt = crate::api::auth::mfa::own_attempt(&state, &client, &actor).await?;
    let result = state.app.disable_email_otp(&actor, &req.password).await;
    attempt
        .answer(result, |()| StatusCode::NO_CONTENT.into_response())
        .await
}

async fn email_send(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = cookie(&headers, challenge_cookie_name(state.https))
        .ok_or_else(crate::api::auth::mfa::challenge_gone)?;
    let challenge = match state.app.open_challenge(token).await {
        Ok(c) => c,
        Err(AppError::Unauthenticated) => return Err(crate::api::auth::mfa::challenge_gone()),
        Err(e) => return Err(e.into()),
    };
    state.app.send_challenge_code(&challenge).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/auth/forgot-password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotRequest {
    email: String,
}

/// The one answer `forgot-password` gives.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    /// What happens next, the same for every address.
    message: &'static str,
}

async fn forgot(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(client): Extension<Client>,
    ApiJson(req): ApiJson<ForgotRequest>,
) -> Result<Response, ApiError> {
    let limits = &state.shield.limits;
    let now = Instant::now();
    let by_ip = limits.reset_mail_ip.hit(&client_key(client.ip), now);
    let by_email = limits
        .reset_mail_email
        .hit(&req.email.trim().to_lowercase(), now);
    if let Some(v) = by_ip
        .filter(|v| v.limited)
        .or(by_email.filter(|v| v.limited))
    {
        return Err(ApiError::rate_limited().with_limit(v));
    }
    state.app.forgot_password(&req.email, actor.meta)?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: "If an account has this address, a reset link is on its way.",
        }),
    )
        .into_response();
    if let Some(v) = by_ip {
        v.write_headers(response.headers_mut());
    }
    Ok(response)
}

/// `POST /api/v1/auth/reset-password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    /// The token from the mailed link.
    #[schema(value_type = String, format = Password)]
    token: SecretString,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

async fn reset_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<Response, ApiError> {
    state
        .app
        .reset_password(req.token.expose(), &req.new_password, actor.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset_link(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: UserId = parse_id(&id)?;
    state.app.send_reset_link(&actor, id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
