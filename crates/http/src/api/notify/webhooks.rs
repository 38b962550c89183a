//! `/api/v1/webhooks`: outbound webhooks as JSON (`notifications:*`). Extract, call the use
//! case, map the answer; a target the SSRF guard refuses is a 400 `url_not_allowed`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{CreateWebhook, UpdateWebhook};
use pw_domain::WebhookId;

use crate::api::parse_id;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/webhooks", list)
        .mount(Method::POST, "/api/v1/webhooks", create)
        .mount(Method::PATCH, "/api/v1/webhooks/{id}", update)
        .mount(Method::DELETE, "/api/v1/webhooks/{id}", delete)
        .mount(Method::POST, "/api/v1/webhooks/{id}/test", test)
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<axum::extract::Query<pw_app::PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(params) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(state.app.webhooks_page(&actor, &params).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateWebhook>,
) -> Result<Response, ApiError> {
    let hook = state.app.create_webhook(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(hook)).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateWebhook>,
) -> Result<Response, ApiError> {
    let id: WebhookId = parse_id(&id)?;
    Ok(Json(state.app.update_webhook(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: WebhookId = parse_id(&id)?;
    state.app.delete_webhook(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn test(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: WebhookId = parse_id(&id)?;
    Ok(Json(state.app.test_webhook(&actor, id).await?).into_response())
}
