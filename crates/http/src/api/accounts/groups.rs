//! Groups and the permission catalogue they grant from, as JSON: CRUD, clone, membership.
//! Each handler: parse the path/body once, call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{GroupInput, GroupPatchInput};
use pw_domain::{GroupId, UserId};
use serde::Deserialize;

use crate::api::auth::sessions::done;
use crate::api::page;
use crate::api::parse_id;
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/permissions", permissions)
        .mount(Method::GET, "/api/v1/groups", list_groups)
        .mount(Method::POST, "/api/v1/groups", create_group)
        .mount(Method::GET, "/api/v1/groups/{id}", get_group)
        .mount(Method::PATCH, "/api/v1/groups/{id}", update_group)
        .mount(Method::DELETE, "/api/v1/groups/{id}", delete_group)
        .mount(Method::POST, "/api/v1/groups/{id}/clone", clone_group)
        .mount(
            Method::PUT,
            "/api/v1/groups/{id}/members/{user_id}",
            add_member,
        )
        .mount(
            Method::DELETE,
            "/api/v1/groups/{id}/members/{user_id}",
            remove_member,
        )
}

async fn permissions(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.list_permissions(&actor)?).into_response())
}

async fn list_groups(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(page(state.app.list_groups(&actor).await?))
}

async fn create_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<GroupInput>,
) -> Result<Response, ApiError> {
    let group = state.app.create_group(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

async fn get_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: GroupId = parse_id(&id)?;
    Ok(Json(state.app.get_group(&actor, id).await?).into_response())
}

async fn update_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<GroupPatchInput>,
) -> Result<Response, ApiError> {
    let id: GroupId = parse_id(&id)?;
    let d = state.app.update_group(&actor, id, input).await?;
    Ok(done(&state, d, |g| Json(g).into_response()))
}

async fn delete_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: GroupId = parse_id(&id)?;
    let d = state.app.delete_group(&actor, id).await?;
    Ok(done(&state, d, |()| StatusCode::NO_CONTENT.into_response()))
}

/// `POST /api/v1/groups/{id}/clone` (the body is optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloneRequest {
    #[serde(default)]
    name: Option<String>,
}

async fn clone_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id: GroupId = parse_id(&id)?;
    // The body is optional: no body clones under "<name> (copy)".
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<CloneRequest>(&body)
            .map_err(|e| ApiError::bad_request(format!("The body is not valid: {e}.")))?
            .name
    };
    let group = state.app.clone_group(&actor, id, name).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

async fn membership(
    state: &AppState,
    actor: &pw_app::Actor,
    ids: &(String, String),
    member: bool,
) -> Result<Response, ApiError> {
    let group: GroupId = parse_id(&ids.0)?;
    let user: UserId = parse_id(&ids.1)?;
    let d = state
        .app
        .set_group_member(actor, group, user, member)
        .await?;
    Ok(done(state, d, |()| StatusCode::NO_CONTENT.into_response()))
}

async fn add_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    membership(&state, &actor, &ids, true).await
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(ids): Path<(String, String)>,
) -> Result<Response, ApiError> {
    membership(&state, &actor, &ids, false).await
}
