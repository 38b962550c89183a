//! Extractors with uniform rejections: a malformed body or a missing principal answers with
//! the error envelope, never with a framework's plain-text message. Also the one
//! percent-encoder for values the server writes into URLs and headers.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use pw_app::Actor;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Who is calling, as the enforcement layer resolved it.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Set by `enforce` for every routed request; absent only if the layer is missing,
        // which must fail closed.
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::internal("principal missing: enforcement layer not installed"))
    }
}

/// The credential a live route (socket, stream) re-checks on every revocation, kept by
/// `enforce` for routes that take tickets or camera credentials.
#[derive(Debug, Clone)]
pub struct Live(pub pw_app::LiveCredential);

impl<S: Send + Sync> FromRequestParts<S> for Live {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Absent only on a route the table does not mark live: fail closed.
        parts
            .extensions
            .get::<pw_app::LiveCredential>()
            .cloned()
            .map(Live)
            .ok_or_else(|| ApiError::internal("live credential missing on a live route"))
    }
}

/// A JSON body; a rejection becomes a 400/413/415 envelope with a message that says what is
/// wrong (serde's message names the field and the expected type, never server internals).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::bad_request("The body is not valid JSON."))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::bad_request("Send the body as application/json."))
            }
            Err(e) if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::bad_request("The request body is too large."))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set (`A–Z a–z 0–9 - . _ ~`), like
/// JavaScript's `encodeURIComponent`: safe in a query value and in RFC 5987 `filename*`.
#[must_use]
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
