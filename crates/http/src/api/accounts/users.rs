//! Users as JSON: list (paged), create, read (with what the user owns), update, delete
//! (keeping or deleting what they own). Each handler: parse the path/body once, call the use
//! case, map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{CreateUser, OwnedItems, UpdateUser};
use pw_domain::UserId;
use serde::Deserialize;

use crate::api::auth::sessions::done;
use crate::api::parse_id;
use crate::api::query;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/users", list_users)
        .mount(Method::POST, "/api/v1/users", create_user)
        .mount(Method::GET, "/api/v1/users/{id}", get_user)
        .mount(Method::PATCH, "/api/v1/users/{id}", update_user)
        .mount(Method::DELETE, "/api/v1/users/{id}", delete_user)
}

async fn list_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<pw_app::PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.users_page(&actor, &query(q)?).await?).into_response())
}

async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    let user = state.app.create_user(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn get_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: UserId = parse_id(&id)?;
    let preview = state.app.get_user(&actor, id).await?;
    let mut value = serde_json::to_value(&preview.user).map_err(ApiError::internal)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "items".into(),
            serde_json::to_value(&preview.items).map_err(ApiError::internal)?,
        );
    }
    Ok(Json(value).into_response())
}

async fn update_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateUser>,
) -> Result<Response, ApiError> {
    let id: UserId = parse_id(&id)?;
    let d = state.app.update_user(&actor, id, input).await?;
    Ok(done(&state, d, |u| Json(u).into_response()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteUserQuery {
    #[serde(default)]
    items: Option<String>,
}

async fn delete_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    q: Result<Query<DeleteUserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id: UserId = parse_id(&id)?;
    let items = match query(q)?.items.as_deref() {
        None | Some("keep") => OwnedItems::Keep,
        Some("delete") => OwnedItems::Delete,
        Some(_) => return Err(ApiError::bad_request("items must be keep or delete.")),
    };
    state.app.delete_user(&actor, id, items).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
