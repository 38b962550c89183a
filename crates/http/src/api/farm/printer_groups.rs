//! `/api/v1/printer-groups`: named sets of printers a queue item can target — list, read,
//! create, rename or change members, delete. Extract, call the use case, map the answer.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::PrinterGroupInput;
use pw_domain::PrinterGroupId;

use crate::api::{page, parse_id};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/printer-groups", list_printer_groups)
        .mount(Method::POST, "/api/v1/printer-groups", create_printer_group)
        .mount(
            Method::GET,
            "/api/v1/printer-groups/{id}",
            get_printer_group,
        )
        .mount(
            Method::PATCH,
            "/api/v1/printer-groups/{id}",
            update_printer_group,
        )
        .mount(
            Method::DELETE,
            "/api/v1/printer-groups/{id}",
            delete_printer_group,
        )
}

async fn list_printer_groups(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(page(state.app.list_printer_groups(&actor).await?))
}

async fn create_printer_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<PrinterGroupInput>,
) -> Result<Response, ApiError> {
    let group = state.app.create_printer_group(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

async fn get_printer_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterGroupId = parse_id(&id)?;
    Ok(Json(state.app.get_printer_group(&actor, id).await?).into_response())
}

async fn update_printer_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PrinterGroupInput>,
) -> Result<Response, ApiError> {
    let id: PrinterGroupId = parse_id(&id)?;
    Ok(Json(state.app.update_printer_group(&actor, id, input).await?).into_response())
}

async fn delete_printer_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterGroupId = parse_id(&id)?;
    state.app.delete_printer_group(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
