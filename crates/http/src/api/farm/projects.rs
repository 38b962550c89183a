//! `/api/v1/projects`: projects (list, create, one, change, delete) and their members (list,
//! add, remove). Extract, call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{CreateProject, ProjectListQuery, ProjectMembersInput, RemovedMember, UpdateProject};

use crate::api::{parse_id, query};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/projects", list)
        .mount(Method::POST, "/api/v1/projects", create)
        .mount(Method::GET, "/api/v1/projects/{id}", get)
        .mount(Method::PATCH, "/api/v1/projects/{id}", update)
        .mount(Method::DELETE, "/api/v1/projects/{id}", delete)
        .mount(Method::GET, "/api/v1/projects/{id}/members", members)
        .mount(Method::POST, "/api/v1/projects/{id}/members", add_members)
        .mount(
            Method::DELETE,
            "/api/v1/projects/{id}/members/{kind}/{member_id}",
            remove_member,
        )
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<ProjectListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_projects(&actor, &q).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateProject>,
) -> Result<Response, ApiError> {
    let project = state.app.create_project(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(project)).into_response())
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.project(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateProject>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.update_project(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.delete_project(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn members(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.project_members_view(&actor, id).await?).into_response())
}

async fn add_members(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ProjectMembersInput>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.add_project_members(&actor, id, input).await?).into_response())
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, kind, member_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    let member = RemovedMember::parse(&kind, &member_id)?;
    state.app.remove_project_member(&actor, id, member).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
