//! Use cases. Every operation takes the caller's [`pw_policy::Principal`], asks
//! [`pw_policy::authorize`] before touching data, and talks to the store; the HTTP and web
//! layers only translate requests into these calls. Errors carry a public kind and a private
//! cause.

mod error;
mod instance;

pub use error::AppError;
pub use instance::{InstanceStatus, Readiness};

use std::sync::Arc;

use pw_credentials::{SETUP_CODE_RANDOM_BYTES, SecretString, setup_code_from};
use pw_policy::Principal;
use pw_store::Store;
use tokio::sync::Mutex;

/// Start-time facts the application needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The running version, shown on public pages.
    pub version: &'static str,
    /// False when the operator started the server with `PRINTWARDEN_AUTH=disabled`.
    pub auth_enabled: bool,
    /// True when HTTPS uses the generated local CA (pages explain how to trust it).
    pub local_ca: bool,
}

/// The application: cheap to clone, shared by every request.
#[derive(Debug, Clone)]
pub struct App {
    store: Store,
    config: AppConfig,
    setup_code: Arc<Mutex<Option<SecretString>>>,
}

/// Credentials presented with a request, already split out by the HTTP layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The session cookie's value, if any.
    pub session: Option<&'a str>,
    /// An API key from `Authorization: Bearer` or `X-API-Key`, if any.
    pub api_key: Option<&'a str>,
}

impl App {
    /// Builds the application over a migrated store.
    #[must_use]
    pub fn new(store: Store, config: AppConfig) -> Self {
        Self {
            store,
            config,
            setup_code: Arc::new(Mutex::new(None)),
        }
    }

    /// While no administrator exists, makes a fresh one-time setup code from `random` and
    /// returns it for the operator (console and 0600 file); returns `None` once set up.
    /// Each start issues a new code, so a code seen in an old log is worthless.
    pub async fn issue_setup_code(
        &self,
        random: [u8; SETUP_CODE_RANDOM_BYTES],
    ) -> Result<Option<SecretString>, AppError> {
        if self.store.active_administrator_exists().await? {
            *self.setup_code.lock().await = None;
            return Ok(None);
        }
        let code = setup_code_from(random);
        *self.setup_code.lock().await = Some(code.clone());
        Ok(Some(code))
    }

    /// The running version.
    #[must_use]
    pub fn version(&self) -> &'static str {
        self.config.version
    }

    /// Whether authentication is on.
    #[must_use]
    pub fn auth_enabled(&self) -> bool {
        self.config.auth_enabled
    }

    /// The store handle (for wiring and shutdown only; handlers never see it).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Turns presented credentials into a principal. Fails closed: anything that cannot be
    /// verified yields [`Principal::Anonymous`].
    pub async fn resolve_principal(&self, presented: Presented<'_>) -> Principal {
        if !self.config.auth_enabled {
            return Principal::AuthDisabled;
        }
        // Sessions and API keys are verified here once the identity layer exists; until then
        // no credential identifies anybody.
        let Presented {
            session: _,
            api_key: _,
        } = presented;
        Principal::Anonymous
    }
}
