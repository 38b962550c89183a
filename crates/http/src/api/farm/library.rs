//! `/api/v1/library/*`: extract, call the use case, map the answer. The upload reads the
//! multipart body as a stream (the `file` field's chunks go straight to the staging file; the
//! body limit of other routes does not apply, the library's own limit does), and downloads
//! stream from the blob with `Range` support. Ownership and the 404 for others' files are
//! decided in the application.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, RANGE,
};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{
    ByteRange, CreateLibraryFolder, LibraryFileQueryParams, LibraryPurge, PrintLibraryFile,
    UpdateLibraryFile, UpdateLibraryFolder,
};
use pw_domain::{LibraryFileId, LibraryFolderId};

use crate::api::{page, parse_id, query};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

/// Bytes a multipart body may carry beyond the file itself (boundaries, headers, `folder_id`).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/library/files", list)
        .mount(Method::POST, "/api/v1/library/files", upload)
        .mount(Method::GET, "/api/v1/library/files/{id}", get)
        .mount(Method::PATCH, "/api/v1/library/files/{id}", update)
        .mount(Method::DELETE, "/api/v1/library/files/{id}", delete)
        .mount(Method::GET, "/api/v1/library/files/{id}/download", download)
        .mount(Method::POST, "/api/v1/library/files/{id}/print", print)
        .mount(
            Method::GET,
            "/api/v1/library/files/{id}/plates/{plate}/thumbnail",
            thumbnail,
        )
        .mount(Method::GET, "/api/v1/library/folders", folders)
        .mount(Method::POST, "/api/v1/library/folders", create_folder)
        .mount(Method::PATCH, "/api/v1/library/folders/{id}", update_folder)
        .mount(
            Method::DELETE,
            "/api/v1/library/folders/{id}",
            delete_folder,
        )
        .mount(Method::GET, "/api/v1/library/usage", usage)
        .mount(Method::POST, "/api/v1/library/purge", purge)
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<LibraryFileQueryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(q)?;
    Ok(Json(state.app.library_files_page(&actor, &params).await?).into_response())
}

/// Reads the multipart body field by field: `folder_id` (small text) and `file` (streamed to
/// the staging area, never buffered whole). The whole body is capped at the library's limit
/// plus a little for the multipart framing.
async fn upload(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let boundary = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            ApiError::bad_request("Send the file as multipart/form-data with a field named file.")
        })?;
    let limit = state.app.library_max_upload();
    if let Some(length) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit.saturating_add(MULTIPART_OVERHEAD)
    {
        return Err(too_large(limit));
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit.saturating_add(MULTIPART_OVERHEAD))
            .for_field("folder_id", 64),
    );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut folder: Option<LibraryFolderId> = None;
    let mut staged = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e, limit)),
        };
        match field.name() {
            Some("folder_id") => {
                let text = field.text().await.map_err(|e| multipart_error(&e, limit))?;
                let text = text.trim();
                if !text.is_empty() && text != "root" {
                    folder =
                        Some(text.parse().map_err(|_| {
                            ApiError::bad_request("folder_id must be a folder id.")
                        })?);
                }
            }
            Some("file") => {
                if staged.is_some() {
                    return Err(ApiError::bad_request("Send one file per upload."));
                }
                let name = field.file_name().unwrap_or_default().to_owned();
                let mut reader = tokio_util::io::StreamReader::new(
                    field.map_err(|e| std::io::Error::other(e.to_string())),
                );
                let upload = state.app.stage_library_upload(&actor, &mut reader).await?;
                staged = Some((upload, name));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "Unknown form field; send file and, optionally, folder_id.",
                ));
            }
        }
    }
    let (upload, name) =
        staged.ok_or_else(|| ApiError::bad_request("The form has no field named file."))?;
    let view = state
        .app
        .finish_library_upload(&actor, upload, &name, folder)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!(
        "The file is larger than the library's limit of {}.",
        human(limit)
    ))
}

fn human(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = MIB * 1024;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn multipart_error(e: &multer::Error, limit: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => too_large(limit),
        multer::Error::FieldSizeExceeded { .. } => {
            ApiError::bad_request("folder_id must be a folder id.")
        }
        _ => ApiError::bad_request(
            "The upload is not valid multipart/form-data (or was cut short); nothing was stored.",
        ),
    }
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    Ok(Json(state.app.get_library_file(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateLibraryFile>,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    Ok(Json(state.app.update_library_file(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    state.app.delete_library_file(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts a plate of the file on a printer: 202 once the printer accepted the start.
async fn print(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PrintLibraryFile>,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    let started = state.app.print_library_file(&actor, id, input).await?;
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

/// `attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// the stand-in keeps only safe printable ASCII, so no quote, backslash, semicolon or control
/// character of a hostile name can break out of the header.
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        crate::percent_encode(name)
    )
}

/// Streams the stored bytes: all of them, or the one range asked with `Range: bytes=`
/// (206 with `Content-Range`; 416 when it lies outside the file). Several ranges or another
/// unit are ignored (the whole file, 200), as RFC 9110 allows.
async fn download(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse);
    let d = state.app.download_library_file(&actor, id, range).await?;
    let etag = format!("\"{}\"", d.sha256);
    let Some(body) = d.body else {
        let mut response = ApiError::range_not_satisfiable().into_response();
        if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{}", d.size)) {
            response.headers_mut().insert(CONTENT_RANGE, v);
        }
        response
            .headers_mut()
            .insert(ACCEPT_RANGES, http::HeaderValue::from_static("bytes"));
        return Ok(response);
    };
    let stream =
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(body, 64 * 1024));
    let mut out = vec![
        (CONTENT_TYPE, "application/octet-stream".to_owned()),
        (CONTENT_DISPOSITION, disposition(&d.name)),
        (ACCEPT_RANGES, "bytes".to_owned()),
        (ETAG, etag),
        (CACHE_CONTROL, "private, no-cache".to_owned()),
    ];
    let status = match d.range {
        Some((start, end)) => {
            out.push((CONTENT_LENGTH, (end - start).to_string()));
            out.push((
                CONTENT_RANGE,
                format!("bytes {start}-{}/{}", end.saturating_sub(1), d.size),
            ));
            StatusCode::PARTIAL_CONTENT
        }
        None => {
            out.push((CONTENT_LENGTH, d.size.to_string()));
            StatusCode::OK
        }
    };
    let mut response = (status, stream).into_response();
    for (name, value) in out {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThumbnailQuery {
    /// The content version the URL was made for (the first 16 hex digits of the SHA-256).
    #[serde(default)]
    v: Option<String>,
}

/// A plate image (PNG, or the PNG/JPEG a G-code file embeds). The URL carries the content hash
/// (`?v=`), so the answer never changes for it and is cached as `immutable`; a stale `v` is a 404
/// (the listing gives the current URL); without `v` the image is served but revalidated.
async fn thumbnail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, plate)): Path<(String, String)>,
    q: Result<Query<ThumbnailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id: LibraryFileId = parse_id(&id)?;
    let plate: u32 = plate
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(ApiError::not_found)?;
    let q = query(q)?;
    let t = state.app.library_plate_thumbnail(&actor, id, plate).await?;
    let sha256 = t.sha256;
    if let Some(v) = q.v.as_deref()
        && !sha256.starts_with(v)
    {
        return Err(ApiError::not_found());
    }
    // Only a URL bound to the content (`?v=`) may be cached for good; a bare URL answers for
    // whatever the file holds now, so the browser must ask again.
    let cache = if q.v.as_deref().is_some_and(|v| !v.is_empty()) {
        "private, max-age=31536000, immutable"
    } else {
        "private, no-cache"
    };
    Ok((
        [
            (CONTENT_TYPE, t.media_type.to_owned()),
            (CACHE_CONTROL, cache.to_owned()),
            (ETAG, format!("\"{sha256}-{plate}\"")),
        ],
        t.bytes,
    )
        .into_response())
}

async fn folders(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    Ok(page(state.app.library_folders(&actor).await?))
}

async fn create_folder(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateLibraryFolder>,
) -> Result<Response, ApiError> {
    let folder = state.app.create_library_folder(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(folder)).into_response())
}

async fn update_folder(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateLibraryFolder>,
) -> Result<Response, ApiError> {
    let id: LibraryFolderId = parse_id(&id)?;
    Ok(Json(state.app.update_library_folder(&actor, id, input).await?).into_response())
}

async fn delete_folder(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: LibraryFolderId = parse_id(&id)?;
    state.app.delete_library_folder(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn usage(State(state): State<AppState>, Caller(actor): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.app.library_usage(&actor).await?).into_response())
}

async fn purge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<LibraryPurge>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.purge_library(&actor, input).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_cannot_break_the_disposition_header() {
        let d = disposition("a\"; filename=evil.exe;\r\n\\x é.3mf");
        assert!(d.starts_with("attachment; filename=\"a__ filename_evil.exe____x _.3mf\""));
        assert!(
            d.contains("filename*=UTF-8''a%22%3B%20filename%3Devil.exe%3B%0D%0A%5Cx%20%C3%A9.3mf")
        );
        assert!(http::HeaderValue::from_str(&d).is_ok());
    }
}
