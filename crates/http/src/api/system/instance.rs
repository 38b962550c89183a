//! Probes: `/healthz` (liveness, says nothing else), `/readyz` (database reachable) and
//! `/metrics` (Prometheus text; guarded by `system:read` in the route table).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use pw_app::Readiness;
use serde_json::json;

use crate::{AppState, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/healthz", healthz)
        .mount(Method::GET, "/readyz", readyz)
        .mount(Method::GET, "/metrics", metrics)
}

async fn healthz() -> Response {
    // A constant body: no allocation, no serialisation on the hottest probe.
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.readiness().await {
        Readiness::Ready => Json(json!({"status": "ready"})).into_response(),
        Readiness::NotReady => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable"})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let ready = state.app.readiness().await == Readiness::Ready;
    let mut text = state
        .metrics
        .render(state.app.version(), state.started.elapsed(), ready);
    super::metrics::render_deliveries(&mut text, &state.app.webhook_delivery_totals());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
