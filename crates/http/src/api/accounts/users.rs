//! Users, groups, the permission catalogue, API keys and the audit log as JSON. Each handler:
//! parse the path/body once, call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{
    AuditQuery, CreateApiKey, CreateCameraToken, CreateUser, GroupInput, GroupPatchInput,
    OwnedItems, UpdateUser,
};
use pw_domain::{ApiKeyId, GroupId, UserId};
use serde::Deserialize;

use crate::api::auth::sessions::{done, parse_id};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/permissions", permissions)
        .mount(Method::GET, "/api/v1/users", list_users)
        .mount(Method::POST, "/api/v1/users", create_user)
        .mount(Method::GET, "/api/v1/users/{id}", get_user)
        .mount(Method::PATCH, "/api/v1/users/{id}", update_user)
        .mount(Method::DELETE, "/api/v1/users/{id}", delete_user)
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
        .mount(Method::GET, "/api/v1/api-keys", list_keys)
        .mount(Method::POST, "/api/v1/api-keys", create_key)
        .mount(Method::DELETE, "/api/v1/api-keys/{id}", revoke_key)
        .mount(Method::GET, "/api/v1/camera-tokens", list_camera_tokens)
        .mount(Method::POST, "/api/v1/camera-tokens", create_camera_token)
        .mount(
            Method::DELETE,
            "/api/v1/camera-tokens/{id}",
            revoke_camera_token,
        )
        .mount(Method::GET, "/api/v1/audit", audit)
}

/// Wraps a list in the `{items, next}` page shape.
fn page<T: serde::Serialize>(items: Vec<T>) -> Response {
    Json(serde_json::json!({ "items": items, "next": null })).into_response()
}

/// Query strings are parsed strictly: an unknown or malformed parameter is a 400 that names it.
fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn permissions(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.list_permissions(&actor)?).into_response())
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysQuery {
    #[serde(default)]
    all: bool,
}

async fn list_keys(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<KeysQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let all = query(q)?.all;
    Ok(page(state.app.list_api_keys(&actor, all).await?))
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

async fn list_camera_tokens(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(page(state.app.list_camera_tokens(&actor).await?))
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

async fn audit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_audit(&actor, q).await?).into_response())
}
