//! The sealing key's status: `GET /api/v1/system/keys` (`settings:security`, also for API keys
//! with that scope) and `POST /api/v1/system/keys/backup-confirmed` (a signed-in
//! administrator's "I have a copy of the key", audited). Only counts and the key's
//! fingerprint leave the server, never a secret or the key.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;

use crate::{ApiError, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/system/keys", status).mount(
        Method::POST,
        "/api/v1/system/keys/backup-confirmed",
        confirm_backup,
    )
}

async fn status(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.keys_status(&actor).await?).into_response())
}

async fn confirm_backup(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.confirm_key_backup(&actor).await?).into_response())
}
