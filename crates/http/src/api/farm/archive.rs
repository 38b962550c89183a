//! `/api/v1/archives`: the print archive — list with filters, one entry, notes/tags/rating,
//! delete, purge, a hand-recorded entry, the CSV export (streamed page by page), and the
//! entry's pictures (plate image, end-of-print frame, photos: upload streamed, answers streamed
//! from the blob store with the sniffed type and the media policy). Extract, call the use case,
//! map the answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{HeaderMap, Method, StatusCode};
use pw_app::{
    ArchivePatchInput, ArchivePicture, ArchiveQuery, CreateArchive, PHOTO_MAX, PurgeArchives,
};

use crate::middleware::edge::MediaPolicy;

use crate::api::{parse_id, query};
use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/archives", list)
        .mount(Method::POST, "/api/v1/archives", create)
        .mount(Method::GET, "/api/v1/archives/export.csv", export)
        .mount(Method::POST, "/api/v1/archives/purge", purge)
        .mount(Method::GET, "/api/v1/archives/{id}", get)
        .mount(Method::PATCH, "/api/v1/archives/{id}", update)
        .mount(Method::DELETE, "/api/v1/archives/{id}", delete)
        .mount(Method::GET, "/api/v1/archives/{id}/thumbnail", thumbnail)
        .mount(Method::GET, "/api/v1/archives/{id}/snapshot", snapshot)
        .mount(Method::POST, "/api/v1/archives/{id}/photos", add_photo)
        .mount(
            Method::GET,
            "/api/v1/archives/{id}/photos/{photo_id}",
            photo,
        )
        .mount(
            Method::DELETE,
            "/api/v1/archives/{id}/photos/{photo_id}",
            delete_photo,
        )
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<ArchiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(state.app.list_archives(&actor, &q).await?).into_response())
}

async fn export(
    State(state): State<AppState>,
    Caller(actor): Caller,
    q: Result<Query<ArchiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let export = state.app.export_archives(&actor, &q)?;
    let chunks = futures_util::stream::try_unfold(export, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, e))),
            Ok(None) => Ok(None),
            // Headers are gone already: ending the body early is how the client learns.
            Err(err) => {
                tracing::warn!(error = %err, "archive export ended early");
                Err(std::io::Error::other("the archive could not be read"))
            }
        }
    });
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"archive.csv\"",
            ),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateArchive>,
) -> Result<Response, ApiError> {
    let entry = state.app.create_archive(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

async fn purge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<PurgeArchives>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.purge_archives(&actor, input).await?).into_response())
}

async fn get(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.archive_entry(&actor, id).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ArchivePatchInput>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    Ok(Json(state.app.update_archive(&actor, id, input).await?).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.delete_archive(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Bytes a photo upload may carry beyond the photo (boundaries, headers).
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

fn photo_too_large() -> ApiError {
    ApiError::too_large("A photo can be at most 10 MiB; nothing was stored.")
}

/// `POST /api/v1/archives/{id}/photos`: a multipart body with one `file` field, streamed to
/// the staging area (the rights on the entry are checked before a byte is kept).
async fn add_photo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    state.app.may_add_archive_photo(&actor, id).await?;
    let boundary = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            ApiError::bad_request("Send the photo as multipart/form-data with a field named file.")
        })?;
    let limit = PHOTO_MAX.saturating_add(MULTIPART_OVERHEAD);
    if headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|length| length > limit)
    {
        return Err(photo_too_large());
    }
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit));
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut staged = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e)),
        };
        if field.name() != Some("file") {
            return Err(ApiError::bad_request(
                "Unknown form field; send the photo as file.",
            ));
        }
        if staged.is_some() {
            return Err(ApiError::bad_request("Send one photo per upload."));
        }
        let mut reader = tokio_util::io::StreamReader::new(
            field.map_err(|e| std::io::Error::other(e.to_string())),
        );
        staged = Some(
            state
                .app
                .stage_archive_photo(&actor, id, &mut reader)
                .await?,
        );
    }
    let upload =
        staged.ok_or_else(|| ApiError::bad_request("The form has no field named file."))?;
    let entry = state.app.finish_archive_photo(&actor, upload).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

fn multipart_error(e: &multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            photo_too_large()
        }
        _ => ApiError::bad_request(
            "The upload is not valid multipart/form-data (or was cut short); nothing was stored.",
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PictureQuery {
    /// The content hash the URL was made for.
    #[serde(default)]
    v: Option<String>,
}

/// A stored picture: the type it was sniffed as, `nosniff` (the edge's), a policy that lets
/// nothing load or run, and — addressed by its hash (`?v=`) — cached as immutable; a `v` that
/// is not the current content is a 404.
async fn picture(
    state: &AppState,
    actor: &pw_app::Actor,
    id: &str,
    which: ArchivePicture,
    q: Result<Query<PictureQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(id)?;
    let q = query(q)?;
    let image = state.app.archive_picture(actor, id, which).await?;
    let cache = match q.v.as_deref() {
        Some(v) if v == image.sha256 => "private, max-age=31536000, immutable",
        Some(_) => return Err(ApiError::not_found()),
        None => "private, no-cache",
    };
    let mut response = (
        [
            (CONTENT_TYPE, image.kind.content_type().to_owned()),
            (CACHE_CONTROL, cache.to_owned()),
            (ETAG, format!("\"{}\"", image.sha256)),
            (CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(image.body)),
    )
        .into_response();
    response.extensions_mut().insert(MediaPolicy);
    Ok(response)
}

async fn thumbnail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    q: Result<Query<PictureQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    picture(&state, &actor, &id, ArchivePicture::Thumbnail, q).await
}

async fn snapshot(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    q: Result<Query<PictureQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    picture(&state, &actor, &id, ArchivePicture::Snapshot, q).await
}

async fn photo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, photo)): Path<(String, String)>,
    q: Result<Query<PictureQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let photo: i64 = parse_id(&photo)?;
    picture(&state, &actor, &id, ArchivePicture::Photo(photo), q).await
}

async fn delete_photo(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, photo)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id)?;
    let photo: i64 = parse_id(&photo)?;
    state.app.delete_archive_photo(&actor, id, photo).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
