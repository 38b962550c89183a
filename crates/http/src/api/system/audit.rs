//! The audit log as JSON: newest first, filtered and paged by the use case.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::Method;
use pw_app::AuditQuery;

use crate::api::query;
use crate::{ApiError, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/audit", audit)
}

async fn audit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_audit(&actor, q).await?).into_response())
}
