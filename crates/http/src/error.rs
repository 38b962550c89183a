//! The API error: a status, a stable snake_case code, a safe public message and an optional
//! private cause. Handlers return it; the edge middleware turns it into the envelope
//! `{"error":{"code","message","request_id"}}` and logs the cause with the request id.
//! Threat: leaking internals (SQL, paths, library messages) through error bodies — 5xx
//! messages are always generic.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use pw_app::AppError;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    limit: Option<crate::middleware::limits::Verdict>,
}

/// What the edge needs to render the envelope; carried in response extensions.
#[derive(Debug, Clone)]
pub(crate) struct ErrorParts {
    pub code: &'static str,
    pub message: String,
    pub cause: Option<Arc<str>>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            cause: None,
            limit: None,
        }
    }

    /// 400 with a message that says what to fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required.",
        )
    }

    /// 401 with a specific (still safe) message, e.g. the login form's generic error.
    pub fn unauthenticated_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403.
    #[must_use]
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You are not allowed to do this.",
        )
    }

    /// 403 for a credential that must first set up the second factor its group requires: the
    /// message says what to do (the caller's own state, nothing about anyone else).
    #[must_use]
    pub fn enrol_first(requirement: pw_domain::SignInRequirement) -> Self {
        Self::new(StatusCode::FORBIDDEN, "enrol_first", requirement.explain())
    }

    /// 403 with a specific (still safe) message.
    pub fn forbidden_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 421: the request named a host this server does not answer to.
    #[must_use]
    pub fn misdirected() -> Self {
        Self::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected_request",
            "This server does not answer to that host name; use its configured address.",
        )
    }

    /// 429: too many requests; the caller adds `Retry-After` and the rate-limit headers.
    #[must_use]
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; wait and try again (see Retry-After).",
        )
    }

    /// 429 with a specific (still safe) message.
    pub fn rate_limited_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    /// 404 — also for things that exist but are not the caller's to see.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found.")
    }

    /// 409 with a safe explanation.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 416: the asked byte range lies outside the file.
    pub(crate) fn range_not_satisfiable() -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            "The requested range lies outside the file.",
        )
    }

    /// 413 with a safe explanation (the limit, in words).
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 503: a dependency is down; the cause is logged.
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is temporarily unavailable.",
        )
        .with_cause(cause)
    }

    /// 500: the cause is logged, the client learns nothing about it.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error.",
            )
        }
    }

    /// Attaches rate-limit headers (written on the response).
    #[must_use]
    pub fn with_limit(mut self, verdict: crate::middleware::limits::Verdict) -> Self {
        self.limit = Some(verdict);
        self
    }

    fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// The envelope for a bare error status produced outside our handlers (405, 408, 413…).
    pub(crate) fn for_status(status: StatusCode) -> ErrorParts {
        let (code, message) = match status {
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This method is not allowed on this path.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "Send the body as application/json.",
            ),
            StatusCode::NOT_FOUND => ("not_found", "Not found."),
            StatusCode::UNAUTHORIZED => ("unauthenticated", "Authentication required."),
            StatusCode::FORBIDDEN => ("forbidden", "You are not allowed to do this."),
            StatusCode::TOO_MANY_REQUESTS => (
                "rate_limited",
                "Too many requests; wait and try again (see Retry-After).",
            ),
            s if s.is_server_error() => ("internal", "Internal server error."),
            _ => ("bad_request", "The request is not valid."),
        };
        ErrorParts {
            code,
            message: message.to_owned(),
            cause: None,
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::BadRequest(msg) | AppError::WrongSecret(msg) => ApiError::bad_request(msg),
            AppError::UrlNotAllowed(msg) => {
                ApiError::new(StatusCode::BAD_REQUEST, "url_not_allowed", msg)
            }
            AppError::Unauthenticated => ApiError::unauthenticated(),
            AppError::Forbidden => ApiError::forbidden(),
            AppError::EnrolFirst(r) => ApiError::enrol_first(r),
            AppError::NotFound => ApiError::not_found(),
            AppError::Conflict(msg) => ApiError::conflict(msg),
            AppError::TooLarge(msg) => ApiError::too_large(msg),
            AppError::RateLimited(msg) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg)
            }
            AppError::Unavailable(cause) => ApiError::unavailable(cause),
            AppError::ServiceUnavailable(msg) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            AppError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let cause = self.cause.map(|c| Arc::from(error_chain(c.as_ref())));
        let mut response = self.status.into_response();
        if let Some(v) = self.limit {
            v.write_headers(response.headers_mut());
        }
        response.extensions_mut().insert(ErrorParts {
            code: self.code,
            message: self.message,
            cause,
        });
        response
    }
}

/// `outer: inner: innermost` for the log.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The router fallback: unknown paths. A browser asking for a page (outside `/api/`, with
/// `text/html` in its `Accept`) gets the HTML error page in the normal layout, so a mistyped
/// address is a page with a way back rather than a JSON envelope; API clients and everything
/// under `/api/` keep the JSON error.
pub(crate) async fn not_found(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    uri: http::Uri,
    headers: http::HeaderMap,
) -> Response {
    let wants_page = !uri.path().starts_with("/api/")
        && headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/html"));
    match &state.error_page {
        Some(render) if wants_page => render(StatusCode::NOT_FOUND),
        _ => ApiError::not_found().into_response(),
    }
}
