//! `POST /api/v1/system/backup` (`system:backup`): an encrypted backup streamed as a download
//! (format and checks in `pw_app::backup`); `…/backup/schedule` (GET, PUT) and its `run` and
//! `verify` actions for scheduled backups into a directory; `/api/v1/system/restore…`, the
//! guarded web restore (upload, verify, confirm, cancel: `pw_app::backup::web_restore`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::backup::{
    BackupRequest, BackupScheduleInput, RestoreConfirm, RestoreOpen, VerifyScheduledInput,
};

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
        .mount(Method::GET, "/api/v1/system/restore", restore_status)
        .mount(Method::PUT, "/api/v1/system/restore/upload", restore_upload)
        .mount(
            Method::POST,
            "/api/v1/system/restore/verify",
            restore_verify,
        )
        .mount(
            Method::POST,
            "/api/v1/system/restore/confirm",
            restore_confirm,
        )
        .mount(Method::DELETE, "/api/v1/system/restore", restore_cancel)
}

async fn restore_status(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.restore_status(&actor).await?).into_response())
}

/// The body is the backup itself, streamed to the staging file: never buffered whole.
async fn restore_upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use futures_util::TryStreamExt;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    Ok(Json(state.app.restore_upload(&actor, length, reader).await?).into_response())
}

async fn restore_verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<RestoreOpen>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.restore_verify(&actor, input).await?).into_response())
}

async fn restore_confirm(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<RestoreConfirm>,
) -> Result<Response, ApiError> {
    let accepted = state.app.restore_confirm(&actor, input).await?;
    Ok((http::StatusCode::ACCEPTED, Json(accepted)).into_response())
}

async fn restore_cancel(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state.app.restore_cancel(&actor).await?;
    Ok(http::StatusCode::NO_CONTENT.into_response())
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
