//! `/api/v1/queue`: the print queue — list, add from the library, one item, change, cancel or
//! delete, reorder, pause and resume (the whole queue or a printer's lane), an AMS mapping
//! proposal — and `POST /api/v1/archives/{id}/reprint`, which queues an archive entry's file.
//! Extract, call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{
    AmsProposalInput, CreateQueueItem, PauseInput, QueueListQuery, ReorderQueue, ReprintInput,
    UpdateQueueItem,
};

use crate::api::{parse_id, query};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

/// A JSON body that may be left out (an empty body is the default input).
fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The body is not valid: {e}.")))
}

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/queue", list)
        .mount(Method::POST, "/api/v1/queue", create)
        .mount(Method::POST, "/api/v1/queue/reorder", reorder)
        .mount(Method::GET, "/api/v1/queue/pause", pause_state)
        .mount(Method::POST, "/api/v1/queue/pause", pause)
        .mount(Method::POST, "/api/v1/queue/resume", resume)
        .mount(Method::POST, "/api/v1/queue/ams-mapping", propose)
        .mount(Method::GET, "/api/v1/queue/{id}", get)
        .mount(Method::PATCH, "/api/v1/queue/{id}", update)
        .mount(Method::DELETE, "/api/v1/queue/{id}", delete)
        .mount(Method::POST, "/api/v1/archives/{id}/reprint", reprint)
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<QueueListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_queue(&actor, &q).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateQueueItem>,
) -> Result<Response, ApiError> {
    let item = state.app.create_queue_item(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn reorder(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<ReorderQueue>,
) -> Result<Response, ApiError> {
    state.app.reorder_queue(&actor, input).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn pause_state(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.queue_pause_state(&actor).await?).into_response())
}

async fn pause(
    State(state): State<AppState>,
    Caller(actor): Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let input: PauseInput = optional_json(&body)?;
    Ok(Json(state.app.pause_queue(&actor, input).await?).into_response())
}

async fn resume(
    State(state): State<AppState>,
    Caller(actor): Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let input: PauseInput = optional_json(&body)?;
    Ok(Json(state.app.resume_queue(&actor, input).await?).into_response())
}

async fn propose(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<AmsProposalInput>,
) -> Result<Response, ApiError> {
    let items = state.app.propose_ams_mapping(&actor, input).await?;
    Ok(crate::api::page(items))
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.queue_item(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateQueueItem>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.update_queue_item(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.delete_queue_item(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reprint(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    let input: ReprintInput = optional_json(&body)?;
    let item = state.app.reprint_archive(&actor, id, input).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}
