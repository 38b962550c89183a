//! `/api/v1/auth/mail-preferences`: which mails about one's own prints the signed-in user
//! receives.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;
use pw_app::MailPreferences;

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(
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
