//! `/api/v1/settings/outbound`: the allow-list of the SSRF guard for outbound requests
//! (webhooks, printer probes); extract, call the use case, map the answer.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Method;
use pw_app::OutboundSettings;

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/outbound", get_outbound)
        .mount(Method::PUT, "/api/v1/settings/outbound", put_outbound)
}

async fn get_outbound(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.get_outbound_settings(&actor)?).into_response())
}

async fn put_outbound(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<OutboundSettings>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.update_outbound_settings(&actor, req).await?).into_response())
}
