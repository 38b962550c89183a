//! `POST /api/v1/system/backup` (`system:backup`): an encrypted backup streamed as a download
//! (format and checks in `pw_app::backup`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::backup::BackupRequest;

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::POST, "/api/v1/system/backup", create)
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
