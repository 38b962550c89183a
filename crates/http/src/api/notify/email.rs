//! `/api/v1/settings/email`: the mail server settings and the test mail.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;
use pw_app::{EmailSettingsInput, TestEmail};

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/email", get_settings)
        .mount(Method::PUT, "/api/v1/settings/email", put_settings)
        .mount(Method::POST, "/api/v1/settings/email/test", test)
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
