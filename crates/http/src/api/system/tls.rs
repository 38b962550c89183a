//! The HTTPS certificate: `/api/v1/settings/tls` (`settings:security`) and the public
//! `/ca.crt` download of the local CA, so users can trust it without shell access.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::UploadCertificate;

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/settings/tls", status)
        .mount(Method::POST, "/api/v1/settings/tls/certificate", upload)
        .mount(Method::DELETE, "/api/v1/settings/tls/certificate", remove)
        .mount(Method::GET, "/ca.crt", ca_certificate)
}

async fn status(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.tls_status(&actor).await?).into_response())
}

async fn upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<UploadCertificate>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.upload_certificate(&actor, input).await?).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.remove_certificate(&actor).await?).into_response())
}

async fn ca_certificate(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pem = state.app.local_ca_pem().ok_or_else(ApiError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"printwarden-ca.crt\"",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        pem,
    )
        .into_response())
}
