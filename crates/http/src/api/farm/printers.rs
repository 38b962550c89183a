//! `/api/v1/printers` (with files, commands, printing, the plate-cleared confirmation and certificate trust): extract, call the use case, map the answer.
//! Printer scope, per-command permissions and the 404 for printers outside the caller's reach
//! are decided in the application.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use pw_app::{
    CheckPrinter, CommandInput, CreatePrinter, PageParams, PrintUpload, TrustCertificate,
    UpdatePrinter,
};
use pw_domain::PrinterId;

use crate::api::{page, parse_id};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/printers", list)
        .mount(Method::POST, "/api/v1/printers", create)
        .mount(Method::POST, "/api/v1/printers/check", check)
        .mount(Method::GET, "/api/v1/printers/{id}", get)
        .mount(Method::PATCH, "/api/v1/printers/{id}", update)
        .mount(Method::DELETE, "/api/v1/printers/{id}", delete)
        .mount(Method::POST, "/api/v1/printers/{id}/commands", command)
        .mount(Method::POST, "/api/v1/printers/{id}/print", print)
        .mount(
            Method::GET,
            "/api/v1/printers/{id}/certificate",
            certificate,
        )
        .mount(
            Method::POST,
            "/api/v1/printers/{id}/certificate/trust",
            trust,
        )
        .mount(
            Method::POST,
            "/api/v1/printers/{id}/plate-cleared",
            plate_cleared,
        )
        .mount(Method::GET, "/api/v1/printers/{id}/files", files)
        .mount(Method::GET, "/api/v1/printers/{id}/files/{name}", download)
        .mount(
            Method::DELETE,
            "/api/v1/printers/{id}/files/{name}",
            delete_file,
        )
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let params = q
        .map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(state.app.printers_page(&actor, &params).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreatePrinter>,
) -> Result<Response, ApiError> {
    let printer = state.app.create_printer(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(printer)).into_response())
}

async fn check(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CheckPrinter>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.check_printer(&actor, input).await?).into_response())
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(Json(state.app.get_printer(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdatePrinter>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(Json(state.app.update_printer(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    state.app.delete_printer(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn command(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CommandInput>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(Json(state.app.printer_command(&actor, id, input).await?).into_response())
}

/// Streams the body to the printer: nothing is buffered whole, whatever its size.
async fn print(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    q: Result<Query<PrintUpload>, axum::extract::rejection::QueryRejection>,
    headers: http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use futures_util::TryStreamExt;
    let id: PrinterId = parse_id(&id)?;
    let input = q
        .map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    Ok(Json(
        state
            .app
            .upload_and_print(&actor, id, input, length, reader)
            .await?,
    )
    .into_response())
}

async fn files(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(page(state.app.printer_files(&actor, id).await?))
}

/// Streams the printer's file to the client: chunks are read from FTPS only as the client
/// takes them (backpressure), so memory per download is one chunk, not the file.
async fn download(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    let download = state.app.download_printer_file(&actor, id, &name).await?;
    let size = download.size();
    let chunks = futures_util::stream::try_unfold(download, |mut d| async move {
        match d.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, d))),
            Ok(None) => Ok(None),
            // Headers are gone already: ending the body early (short of Content-Length) is
            // how the client learns; the cause is logged by the use case.
            Err(_) => Err(std::io::Error::other("the printer's file store failed")),
        }
    });
    // The name is the printer's, so it is only ever sent percent-encoded (RFC 6266/5987):
    // a quote or semicolon in it cannot break out of the header.
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        crate::percent_encode(&name)
    );
    Ok((
        [
            (
                http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (http::header::CONTENT_DISPOSITION, disposition),
            (http::header::CONTENT_LENGTH, size.to_string()),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

async fn delete_file(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    state.app.delete_printer_file(&actor, id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn certificate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(Json(state.app.printer_certificate(&actor, id).await?).into_response())
}

async fn trust(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TrustCertificate>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    Ok(Json(
        state
            .app
            .trust_printer_certificate(&actor, id, input)
            .await?,
    )
    .into_response())
}

async fn plate_cleared(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    state.app.printer_plate_cleared(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
