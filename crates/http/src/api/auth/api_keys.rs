//! API keys as JSON: list (own, or everyone's with `all`), create (the secret is in this one
//! answer only), revoke.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::CreateApiKey;
use pw_domain::ApiKeyId;
use serde::Deserialize;

use crate::api::parse_id;
use crate::api::query;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/api-keys", list_keys)
        .mount(Method::POST, "/api/v1/api-keys", create_key)
        .mount(Method::DELETE, "/api/v1/api-keys/{id}", revoke_key)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysQuery {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list_keys(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<KeysQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let KeysQuery { all, limit, cursor } = query(q)?;
    let params = pw_app::PageParams { limit, cursor };
    Ok(Json(state.app.api_keys_page(&actor, all, &params).await?).into_response())
}

async fn create_key(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateApiKey>,
) -> Result<Response, ApiError> {
    let created = state.app.create_api_key(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke_key(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: ApiKeyId = parse_id(&id)?;
    state.app.revoke_api_key(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
