//! `/api/v1/settings/security` and the authentication switch (`/api/v1/auth/disable`,
//! `/api/v1/auth/enable`): extract, call the use case, map the answer.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::SecuritySettings;

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/auth/disable", disable)
        .mount(Method::POST, "/api/v1/auth/enable", enable)
        .mount(Method::GET, "/api/v1/settings/security", get_security)
        .mount(Method::PUT, "/api/v1/settings/security", put_security)
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
