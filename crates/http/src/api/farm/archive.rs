//! `/api/v1/archives`: the print archive — list with filters, one entry, notes/tags/rating,
//! delete, purge, a hand-recorded entry and the CSV export (streamed page by page). Extract,
//! call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{ArchivePatchInput, ArchiveQuery, CreateArchive, PurgeArchives};

use crate::api::{parse_id, query};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/archives", list)
        .mount(Method::POST, "/api/v1/archives", create)
        .mount(Method::GET, "/api/v1/archives/export.csv", export)
        .mount(Method::POST, "/api/v1/archives/purge", purge)
        .mount(Method::GET, "/api/v1/archives/{id}", get)
        .mount(Method::PATCH, "/api/v1/archives/{id}", update)
        .mount(Method::DELETE, "/api/v1/archives/{id}", delete)
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<ArchiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_archives(&actor, &q).await?).into_response())
}

async fn export(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<ArchiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let export = state.app.export_archives(&actor, &q)?;
    let chunks = futures_util::stream::try_unfold(export, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, e))),
            Ok(None) => Ok(None),
            // Headers are gone already: ending the body early is how the client learns.
            Err(err) => {
                tracing::warn!(error = %err, "archive export ended early");
                Err(std::io::Error::other("the archive could not be read"))
            }
        }
    });
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"archive.csv\"",
            ),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateArchive>,
) -> Result<Response, ApiError> {
    let entry = state.app.create_archive(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

async fn purge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<PurgeArchives>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.purge_archives(&actor, input).await?).into_response())
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.archive_entry(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ArchivePatchInput>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.update_archive(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.delete_archive(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
