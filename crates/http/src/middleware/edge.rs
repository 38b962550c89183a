//! The edge: the outermost middleware every response passes through. It assigns the request
//! id, bounds the time to produce a response, renders error envelopes (and logs their private
//! causes), sets the security headers of SPEC S7 and writes one structured log line.
//!
//! Invariants: every response carries `X-Request-Id` and the S7 headers; no error body is
//! rendered anywhere else; the logged path never contains the query string (threat: tokens
//! and tickets passed as `?token=` would otherwise land in log files).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use tracing::Instrument;

use crate::error::ErrorParts;
use crate::{ApiError, AppState};

/// How long a handler may take to produce response headers.
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a library upload may take (receiving up to the library's limit, then checking the
/// file). A stalled upload ends sooner: the library gives up after a minute without data.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The routes whose handler reads a large request body and so gets [`UPLOAD_TIMEOUT`].
fn handler_timeout(method: &http::Method, path: &str) -> Duration {
    if method == http::Method::POST && path == "/api/v1/library/files" {
        UPLOAD_TIMEOUT
    } else {
        HANDLER_TIMEOUT
    }
}

/// The Content-Security-Policy of SPEC S7: no inline script or style anywhere. `media-src`
/// adds `blob:` for the X1/H2 camera only: a `<video>` plays a `MediaSource` through a blob URL
/// the page's own script made from the authenticated camera socket (nothing else loads as
/// media; scripts are not relaxed).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
form-action 'self'; object-src 'none'; upgrade-insecure-requests";

/// The same policy for a deliberate plain-HTTP deployment: without
/// `upgrade-insecure-requests`, which would rewrite every asset URL to an https:// that does
/// not exist there.
const CONTENT_SECURITY_POLICY_PLAIN: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
form-action 'self'; object-src 'none'";

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Set by a handler whose page needs one known inline style (a third-party bundle that injects
/// a fixed `<style>`): the edge adds exactly this hash (`sha256-…`) to `style-src`. Scripts are
/// never relaxed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StyleHash(pub &'static str);

/// Set by a handler that serves stored user content (an archive photo, a camera frame): the
/// edge answers with [`MEDIA_POLICY`] instead of the page policy, so the bytes — even if a
/// browser were talked into rendering them as a document — may load and run nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MediaPolicy;

/// The policy of stored pictures: nothing loads, nothing runs, no framing, a sandbox.
pub const MEDIA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// The request id, available to handlers and inner middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A new request id: 24 hex digits, unique in this process and unguessable without its key.
/// The first 16 digits are a keyed hash (SipHash, key drawn from the OS once per process by
/// `RandomState`) of a process-wide counter; the last 8 are the counter itself masked by a
/// random word, so ids cannot repeat within 2^32 requests. No system call per request (the
/// OS random number generator was one for every request).
fn new_request_id() -> String {
    use std::hash::BuildHasher;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEY: OnceLock<(std::collections::hash_map::RandomState, u32)> = OnceLock::new();
    let (state, mask) = KEY.get_or_init(|| {
        let state = std::collections::hash_map::RandomState::new();
        let mask = state.hash_one(u64::MAX).to_be_bytes();
        (
            state,
            u32::from_be_bytes([mask[0], mask[1], mask[2], mask[3]]),
        )
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hash = state.hash_one(n);
    let low = n.to_be_bytes();
    let low = u32::from_be_bytes([low[4], low[5], low[6], low[7]]) ^ mask;
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&hash.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    hex::encode(bytes)
}

pub(crate) async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    state.metrics.request_started();
    let http1_with_body = matches!(
        req.version(),
        http::Version::HTTP_10 | http::Version::HTTP_11
    ) && (req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0"));

    let span = tracing::info_span!("request", request_id = %id);
    let outcome = tokio::time::timeout(
        handler_timeout(&method, &path),
        next.run(req).instrument(span.clone()),
    )
    .await;
    let mut response = match outcome {
        Ok(response) => response,
        Err(_) => {
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            r.extensions_mut().insert(ErrorParts {
                code: "timeout",
                message: "The request took too long.".to_owned(),
                cause: Some("handler timed out".into()),
            });
            r
        }
    };

    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        render_envelope(&mut response, &id, &span);
        if http1_with_body {
            // An error is often answered before the request body is read (a 401 from the
            // route table, a bad path or content type), and hyper then closes the connection
            // after the answer because it cannot skip the unread body. Said here, the client
            // knows it and does not send its next request on a connection that is closing:
            // without it, pooled clients (urllib3/requests) raced the close and reported
            // "SSL EOF occurred in violation of protocol" or "connection closed without
            // response" (the schemathesis stage's flaky failures).
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    set_security_headers(response.headers_mut(), &id, state.https);
    if response.extensions().get::<MediaPolicy>().is_some() {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(MEDIA_POLICY),
        );
    }
    if let Some(StyleHash(hash)) = response.extensions().get::<StyleHash>().copied() {
        // One vetted inline style, by its hash; everything else stays as strict as ever.
        let policy = if state.https {
            CONTENT_SECURITY_POLICY
        } else {
            CONTENT_SECURITY_POLICY_PLAIN
        }
        .replacen("style-src 'self'", &format!("style-src 'self' '{hash}'"), 1);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }

    let latency = started.elapsed();
    state.metrics.request_finished(status, latency);
    let _entered = span.enter();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if path == "/healthz" || path == "/readyz" {
        tracing::debug!(%method, %path, status = status.as_u16(), latency_ms, "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), latency_ms, "request");
    }
    response
}

/// Replaces the body of an error response with the JSON envelope.
fn render_envelope(response: &mut Response, request_id: &str, span: &tracing::Span) {
    let parts = match response.extensions_mut().remove::<ErrorParts>() {
        Some(parts) => parts,
        // A bare status from the framework (405, 413…) or a plain-text error: envelope it too,
        // but leave bodies a handler rendered deliberately (HTML error pages, JSON) alone.
        None => {
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if content_type.is_some_and(|ct| !ct.starts_with("text/plain")) {
                return;
            }
            ApiError::for_status(response.status())
        }
    };
    if let Some(cause) = &parts.cause {
        let _entered = span.enter();
        if response.status().is_server_error() {
            tracing::error!(code = parts.code, cause = %cause, "request failed");
        } else {
            tracing::info!(code = parts.code, cause = %cause, "request refused");
        }
    }
    let body = serde_json::json!({
        "error": { "code": parts.code, "message": parts.message, "request_id": request_id }
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(bytes);
}

// The S7 headers, checked once at compile time (`from_static` is a `const fn`) instead of on
// every response.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");
const CSP: HeaderValue = HeaderValue::from_static(CONTENT_SECURITY_POLICY);
const CSP_PLAIN: HeaderValue = HeaderValue::from_static(CONTENT_SECURITY_POLICY_PLAIN);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const REFERRER: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const COOP_NAME: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

fn set_security_headers(headers: &mut http::HeaderMap, request_id: &str, https: bool) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, v);
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
        headers.insert(header::CONTENT_SECURITY_POLICY, CSP);
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, CSP_PLAIN);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    headers.insert(header::REFERRER_POLICY, REFERRER);
    headers.insert(header::X_FRAME_OPTIONS, DENY);
    headers.insert(COOP_NAME, SAME_ORIGIN);
    // Private by default: only responses that opted into caching (content-hashed assets) may
    // be stored by browsers or proxies.
    headers.entry(header::CACHE_CONTROL).or_insert(NO_STORE);
}
