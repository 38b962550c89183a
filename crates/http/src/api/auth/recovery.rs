//! The password links of Advanced Auth via Email: `forgot-password` (ask for a reset link),
//! `reset-password` (use one) and the administrator's "send reset link".
//!
//! Invariant: `forgot-password` answers 202 with the same body whatever the address, and is
//! limited per client IP and per address before anything else happens (threat: mail bombing
//! a user, probing which addresses have accounts).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{Method, StatusCode};
use pw_app::SecretString;
use pw_domain::UserId;
use serde::Deserialize;

use crate::api::parse_id;
use crate::middleware::limits::client_key;
use crate::middleware::shield::Client;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/auth/forgot-password", forgot)
        .mount(Method::POST, "/api/v1/auth/reset-password", reset_password)
        .mount(
            Method::POST,
            "/api/v1/users/{id}/password-reset",
            reset_link,
        )
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
