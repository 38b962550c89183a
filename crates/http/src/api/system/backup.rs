//! `POST /api/v1/system/backup` (`system:backup`): an encrypted backup streamed as a download
//! (format and checks in `pw_app::backup`); `…/backup/schedule` (GET, PUT) and its `run` and
//! `verify` actions for scheduled backups into a directory.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::backup::{BackupRequest, BackupScheduleInput, VerifyScheduledInput};

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/system/backup", create)
        .mount(Method::GET, "/api/v1/system/backup/schedule", schedule)
        .mount(Method::PUT, "/api/v1/system/backup/schedule", set_schedule)
        .mount(Method::POST, "/api/v1/system/backup/schedule/run", run_now)
        .mount(
            Method::POST,
            "/api/v1/system/backup/schedule/verify",
            verify,
        )
}

async fn schedule(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.backup_schedule(&actor).await?).into_response())
}

async fn set_schedule(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<BackupScheduleInput>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.set_backup_schedule(&actor, input).await?).into_response())
}

async fn run_now(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.run_scheduled_backup(&actor).await?).into_response())
}

async fn verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<VerifyScheduledInput>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.verify_scheduled_backup(&actor, input).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<BackupRequest>,
) -> Result<Response, ApiError> {
    let download = state.app.backup_download(&actor, input).await?;
    let stream = futures_util::stream::unfold(download.body, |mut body| async move {
        body.next().await.map(|item| (item, body))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", download.file_name),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
