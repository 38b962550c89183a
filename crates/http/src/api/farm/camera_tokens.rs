//! Camera tokens as JSON: the view-only keys a kiosk or frame uses to show cameras — list,
//! create (the secret is in this one answer only), revoke.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::CreateCameraToken;
use pw_domain::ApiKeyId;

use crate::api::parse_id;
use crate::api::query;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/camera-tokens", list_camera_tokens)
        .mount(Method::POST, "/api/v1/camera-tokens", create_camera_token)
        .mount(
            Method::DELETE,
            "/api/v1/camera-tokens/{id}",
            revoke_camera_token,
        )
}

async fn list_camera_tokens(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<pw_app::PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.camera_tokens_page(&actor, &query(q)?).await?).into_response())
}

async fn create_camera_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateCameraToken>,
) -> Result<Response, ApiError> {
    let created = state.app.create_camera_token(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke_camera_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: ApiKeyId = parse_id(&id)?;
    state.app.revoke_camera_token(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
