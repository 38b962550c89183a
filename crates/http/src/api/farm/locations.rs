//! `/api/v1/locations`: the places printers stand — list, create, rename, delete. Extract,
//! call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::LocationInput;
use pw_domain::LocationId;

use crate::api::{page, parse_id};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/locations", list_locations)
        .mount(Method::POST, "/api/v1/locations", create_location)
        .mount(Method::PATCH, "/api/v1/locations/{id}", update_location)
        .mount(Method::DELETE, "/api/v1/locations/{id}", delete_location)
}

async fn list_locations(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(page(state.app.list_locations(&actor).await?))
}

async fn create_location(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<LocationInput>,
) -> Result<Response, ApiError> {
    let location = state.app.create_location(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(location)).into_response())
}

async fn update_location(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<LocationInput>,
) -> Result<Response, ApiError> {
    let id: LocationId = parse_id(&id)?;
    Ok(Json(state.app.update_location(&actor, id, input).await?).into_response())
}

async fn delete_location(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: LocationId = parse_id(&id)?;
    state.app.delete_location(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
