//! The HTTP layer: the route table, the middleware that enforces it, the error envelope and the
//! JSON API handlers. It depends on `pw-app` and never on the store: a handler extracts, calls
//! a use case and maps the result.
//!
//! Request path: edge (request id, timeout, error envelope, security headers, log, metrics)
//! → shield (client IP via trusted proxies, Host allow-list, CSRF/Origin, API rate limit)
//! → body limit → route-table enforcement (principal, auth mode, permission) → handler.
//!
//! Layout: `table` (THE route table) at the top; `middleware/` for the layers above;
//! `api/<group>/<feature>.rs` for the handlers, with the feature names of `pw-app`;
//! `openapi` and `docs` build the generated documentation from the table.

mod api;
pub mod docs;
mod error;
mod middleware;
pub mod openapi;
pub mod table;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use pw_app::App;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};

pub use api::system::metrics::Metrics;
pub use error::ApiError;
pub use middleware::cookie::{challenge_cookie_name, cookie, session_cookie_name};
pub use middleware::edge::{CONTENT_SECURITY_POLICY, RequestId};
pub use middleware::enforce::{SESSION_COOKIE, SESSION_COOKIE_PLAIN};
pub use middleware::extract::{ApiJson, Caller, Live, percent_encode};
pub use middleware::shield::{Client, Shield, ShieldSettings};
pub use middleware::{limits, shield};
pub use pw_policy::{Access, Requirement};
pub use table::{Kind, Mounter, NavEntry, ROUTES, RouteSpec, RouteTableError, navigation};

/// Largest request body the API accepts (uploads get their own, larger limit on their routes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The application (use cases).
    pub app: App,
    /// Request counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// When the process started serving.
    pub started: Instant,
    /// Whether clients reach this server over HTTPS (directly or through a TLS-terminating
    /// proxy). Decides HSTS and `upgrade-insecure-requests`, which would break a deliberate
    /// plain-HTTP deployment. Also decides the session cookie's name and `Secure` flag.
    pub https: bool,
    /// Renders an HTML error page (installed by the web crate) for page routes.
    pub error_page: Option<Arc<dyn Fn(http::StatusCode) -> axum::response::Response + Send + Sync>>,
    /// Host allow-list, trusted proxies, CSRF and rate limits.
    pub shield: Arc<Shield>,
    /// Camera sockets still waiting for their first-message credentials (capped).
    pub pending_cameras: Arc<api::farm::cameras::PendingSockets>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over an application, with the given shield.
    #[must_use]
    pub fn new(app: App, https: bool, shield: Shield) -> Self {
        Self {
            app,
            metrics: Arc::new(Metrics::default()),
            started: Instant::now(),
            https,
            error_page: None,
            shield: Arc::new(shield),
            pending_cameras: Arc::default(),
        }
    }

    /// Installs the HTML error page renderer for page routes.
    #[must_use]
    pub fn with_error_page(
        mut self,
        render: impl Fn(http::StatusCode) -> axum::response::Response + Send + Sync + 'static,
    ) -> Self {
        self.error_page = Some(Arc::new(render));
        self
    }
}

/// Mounts the JSON API and probe handlers for their rows of the route table.
#[must_use]
pub fn mount_api(mounter: Mounter) -> Mounter {
    api::mount(mounter)
}

/// Builds the complete router from a mounter that has every row mounted: adds the fallback,
/// the enforcement layer, the body limit and the edge. Fails if a row of [`ROUTES`] has no
/// handler, so an incomplete table can never start serving.
pub fn finish(mounter: Mounter, state: AppState) -> Result<Router, RouteTableError> {
    let router = mounter.into_router()?;
    Ok(router
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::enforce::enforce,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::shield::shield,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::edge::edge,
        ))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .compress_when(DefaultPredicate::new().and(cacheable)),
        )
        .with_state(state))
}

/// Only publicly cacheable responses (static assets) are compressed. Threat: BREACH — a
/// compressed response that holds a secret next to attacker-influenced text leaks the secret
/// through its length; private responses (`no-store`) are therefore never compressed.
fn cacheable(
    _: http::StatusCode,
    _: http::Version,
    headers: &http::HeaderMap,
    _: &http::Extensions,
) -> bool {
    headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("public"))
}
