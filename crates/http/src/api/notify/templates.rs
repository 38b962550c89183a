//! `/api/v1/settings/email/templates*`: the mail templates — list, change, reset to the
//! default, preview.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{Template, TemplateName};

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/email/templates", templates)
        .mount(
            Method::PUT,
            "/api/v1/settings/email/templates/{name}",
            put_template,
        )
        .mount(
            Method::DELETE,
            "/api/v1/settings/email/templates/{name}",
            reset_template,
        )
        .mount(
            Method::POST,
            "/api/v1/settings/email/templates/{name}/preview",
            preview,
        )
}

async fn templates(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.list_templates(&actor).await?).into_response())
}

fn template_name(raw: &str) -> Result<TemplateName, ApiError> {
    TemplateName::parse(raw).ok_or_else(ApiError::not_found)
}

async fn put_template(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Template>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    Ok(Json(state.app.update_template(&actor, name, req).await?).into_response())
}

async fn reset_template(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    state.app.reset_template(&actor, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn preview(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<Template>,
) -> Result<Response, ApiError> {
    let name = template_name(&name)?;
    Ok(Json(state.app.preview_template(&actor, name, req).await?).into_response())
}
