//! The application value every request shares: start-time configuration, the shared state of
//! every feature, and the policy gate (`require`) each use case passes before touching data.
//!
//! Invariant: the only way to act on data is a method on [`App`] that asks policy first; the
//! store handle is exposed for wiring and shutdown only.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pw_credentials::SealingKey;
use pw_policy::{Action, Decision, DenyReason, Target, authorize};
use pw_store::{AdminCheck, Store};
use tokio::sync::{Mutex, Semaphore, broadcast, mpsc};

use crate::core::cache;
use crate::core::tasks::{Task, Tasks};
use crate::farm::{cameras as camera, fleet};
use crate::notify::webhooks::{self, Dispatcher, HookEvent, Outbound};
use crate::system::outbound::{AllowList, Guard, Resolve, SystemResolver};
use crate::system::tls as certificates;
use crate::{Actor, AppError, Clock, Revocation, SecretString, SecuritySettings, SystemClock};

/// Start-time facts the application needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The running version, shown on public pages.
    pub version: &'static str,
    /// False when the operator started the server with `PRINTWARDEN_AUTH=disabled`.
    pub auth_enabled: bool,
    /// True when HTTPS uses the generated local CA (pages explain how to trust it).
    pub local_ca: bool,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_absolute: Duration,
    /// Where the one-time setup code is written; deleted once setup is done.
    pub setup_code_file: Option<PathBuf>,
    /// Seals secrets at rest; `None` only when no key could be stored (logged at start).
    pub sealing: Option<SealingKey>,
    /// Where `sealing` came from (the key status card).
    pub key_source: crate::KeySource,
    /// Resolves the names of outbound targets (tests substitute a scripted one).
    pub resolver: Arc<dyn Resolve>,
    /// Printer CA bundle (`PRINTWARDEN_PRINTER_CA_FILE`): when set, a printer's certificate
    /// must also chain to it, on first contact as afterwards.
    pub printer_ca: Option<Arc<rustls::RootCertStore>>,
    /// The file library's storage and upload limit.
    pub library: crate::farm::library::LibraryConfig,
    /// The data directory, whose `blobs/` and `tls/` a backup copies (`None`: no backups from
    /// this application, as in tools and unit tests).
    pub data_dir: Option<PathBuf>,
    /// The origin of `public_url` (`https://farm.example:3443`): the passkeys' relying party.
    /// `None`: each request's own (screened) origin is used.
    pub public_origin: Option<String>,
    /// How the Bambu Cloud client reaches Bambu (or a stand-in), and its backoff and breaker.
    pub cloud: crate::CloudConfig,
}

impl AppConfig {
    /// Defaults for everything but the version (tests and tools).
    #[must_use]
    pub fn new(version: &'static str) -> Self {
        Self {
            version,
            auth_enabled: true,
            local_ca: false,
            session_idle: Duration::from_secs(7 * 24 * 3600),
            session_absolute: Duration::from_secs(30 * 24 * 3600),
            setup_code_file: None,
            sealing: None,
            key_source: crate::KeySource::None,
            resolver: Arc::new(SystemResolver),
            printer_ca: None,
            library: crate::farm::library::LibraryConfig::default(),
            data_dir: None,
            public_origin: None,
            cloud: crate::CloudConfig::default(),
        }
    }
}

/// The result of a use case that may have replaced the caller's own session token (their own
/// rights changed, S2 "new token on privilege change"): the HTTP layer sets the new cookie.
#[derive(Debug)]
pub struct Done<T> {
    /// The use case's answer.
    pub value: T,
    /// A fresh token for the caller's session, if it was rotated.
    pub new_session_token: Option<SecretString>,
}

/// The application: cheap to clone, shared by every request.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) store: Store,
    pub(crate) config: Arc<AppConfig>,
    pub(crate) setup_code: Arc<Mutex<Option<SecretString>>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache: Arc<cache::PrincipalCache>,
    /// Bounds concurrent password hashing (each argon2id run takes 19 MiB and ~50 ms of CPU).
    /// Threat: a login flood exhausting memory and every blocking thread.
    pub(crate) hashing: Arc<Semaphore>,
    pub(crate) revocations: broadcast::Sender<Revocation>,
    /// The runtime authentication switch (`auth.enabled` setting); the env override wins.
    pub(crate) auth_on: Arc<AtomicBool>,
    pub(crate) security: Arc<std::sync::RwLock<SecuritySettings>>,
    /// The SSRF guard with the admin's allow-list, and its client.
    pub(crate) outbound: Arc<std::sync::RwLock<Arc<Outbound>>>,
    /// Audit events on their way to the webhook dispatcher.
    pub(crate) hooks: mpsc::Sender<HookEvent>,
    /// What waits, flies and was dropped on the way to the webhooks.
    pub(crate) backlog: Arc<webhooks::Backlog>,
    /// The HTTPS listener's certificate manager (absent with TLS off).
    pub(crate) certificates: certificates::CertificateSlot,
    /// The printer connections.
    pub(crate) fleet: Arc<fleet::Fleet>,
    /// Every printer row, for the printer lists (`farm::printers::rows`).
    pub(crate) printer_rows: Arc<crate::farm::printers::PrinterRows>,
    /// Camera feeds, shared by their viewers.
    pub(crate) cameras: Arc<camera::Cameras>,
    /// The long-lived background tasks ([`Task`](crate::Task)).
    pub(crate) tasks: Arc<Tasks>,
    /// The library's content store (absent when no blob directory is configured).
    pub(crate) library_blobs: Option<Arc<dyn crate::farm::library::BlobStore>>,
    /// Held while a blob is committed with its file row, or a file row deleted with its blob:
    /// a short section (never the upload itself), so a blob is never deleted under a file that
    /// was just recorded for it.
    pub(crate) library_refs: Arc<Mutex<()>>,
    /// Held while a backup download is written: one at a time (threat: parallel downloads,
    /// each reading the whole database and every file, exhausting disk and CPU).
    pub(crate) backup_running: Arc<Mutex<()>>,
    /// Wakes the backup scheduler when its schedule changes.
    pub(crate) backup_wake: Arc<tokio::sync::Notify>,
    /// The web restore's state: one upload, check or confirmation at a time, the way to the
    /// process that restarts the server, and the last restore's outcome
    /// (`system::backup::web_restore`).
    pub(crate) web_restore: Arc<crate::system::backup::WebRestore>,
    /// The pepper of one-time code digests (stored sealed, see `system::keys`).
    pub(crate) pepper: [u8; 32],
    /// OpenID providers' discovery documents and key sets, cached (`auth::oidc`).
    pub(crate) oidc: Arc<crate::auth::oidc::OidcCache>,
    /// Bambu Cloud: the budgeted client, its cache, and sign-ins waiting for a code.
    pub(crate) cloud: Arc<crate::cloud::Cloud>,
}

impl App {
    /// Builds the application over a migrated store: seeds the groups on first start and
    /// loads the runtime settings.
    pub async fn start(store: Store, config: AppConfig) -> Result<Self, AppError> {
        Self::start_with_clock(store, config, Arc::new(SystemClock)).await
    }

    /// [`App::start`] with a chosen clock (tests).
    pub async fn start_with_clock(
        store: Store,
        config: AppConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let hashers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let (revocations, _) = broadcast::channel(256);
        let outbound = Arc::new(std::sync::RwLock::new(Arc::new(Outbound::new(
            Guard::new(Arc::clone(&config.resolver), AllowList::default()),
            Vec::new(),
        )?)));
        let (hooks, hook_events) = mpsc::channel(webhooks::QUEUE);
        let backlog = Arc::new(webhooks::Backlog::default());
        let dispatcher = Dispatcher {
            backlog: Arc::clone(&backlog),
            store: store.clone(),
            outbound: Arc::clone(&outbound),
            sealing: config.sealing.clone(),
            clock: Arc::clone(&clock),
        };
        let tasks = Arc::new(Tasks::default());
        tasks.spawn(Task::WebhookDispatcher, dispatcher.run(hook_events));
        let library_blobs = match &config.library.blob_dir {
            Some(dir) => Some(Arc::new(
                crate::farm::library::FsBlobs::new(dir)
                    .map_err(|e| AppError::Internal(Box::new(e)))?,
            ) as Arc<dyn crate::farm::library::BlobStore>),
            None => None,
        };
        let pepper =
            crate::system::keys::resolve_pepper(&store, config.sealing.as_ref(), clock.now_ms())
                .await;
        let cloud = Arc::new(crate::cloud::Cloud::new(
            crate::cloud::client::Upstream::new(
                config.cloud.clone(),
                Arc::clone(&config.resolver),
                config.version,
            )?,
        ));
        let app = Self {
            cloud,
            pepper,
            store,
            config: Arc::new(config),
            setup_code: Arc::new(Mutex::new(None)),
            clock,
            cache: Arc::new(cache::PrincipalCache::default()),
            printer_rows: Arc::default(),
            hashing: Arc::new(Semaphore::new(hashers)),
            revocations,
            auth_on: Arc::new(AtomicBool::new(true)),
            security: Arc::new(std::sync::RwLock::new(SecuritySettings::default())),
            outbound,
            hooks,
            backlog,
            certificates: Arc::default(),
            fleet: Arc::new(fleet::Fleet::new()),
            cameras: Arc::default(),
            tasks,
            library_blobs,
            library_refs: Arc::default(),
            backup_running: Arc::default(),
            oidc: Arc::default(),
            backup_wake: Arc::default(),
            web_restore: Arc::default(),
        };
        app.seed_groups().await?;
        app.seal_legacy_values().await?;
        app.load_security_settings().await?;
        Ok(app)
    }

    /// The running version.
    #[must_use]
    pub fn version(&self) -> &'static str {
        self.config.version
    }

    /// The configured printer CA bundle, for every printer connection's verifier.
    pub(crate) fn printer_roots(&self) -> Option<Arc<rustls::RootCertStore>> {
        self.config.printer_ca.clone()
    }

    /// Whether authentication is on (neither the env override nor the admin switch is off).
    #[must_use]
    pub fn auth_enabled(&self) -> bool {
        self.config.auth_enabled && self.auth_on.load(Ordering::SeqCst)
    }

    /// The store handle (for wiring and shutdown only; handlers never see it).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How long a session cookie may live (its `Max-Age`).
    #[must_use]
    pub fn session_lifetime(&self) -> Duration {
        self.config.session_absolute
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The last-administrator rule: an active member of the system `Administrators` group
    /// (the only principal who can grant every right back).
    pub(crate) fn admin_check() -> AdminCheck {
        AdminCheck
    }

    /// Asks policy; maps a denial to the public error (`NotOwner` hides the row: 404).
    pub(crate) fn require(
        &self,
        actor: &Actor,
        action: Action,
        target: &Target,
    ) -> Result<(), AppError> {
        match authorize(&actor.principal, action, target) {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => {
                tracing::info!(?reason, ?action, "denied by policy");
                Err(match reason {
                    DenyReason::Unauthenticated
                    | DenyReason::CredentialNotAccepted
                    | DenyReason::Expired => AppError::Unauthenticated,
                    DenyReason::NotOwner => AppError::NotFound,
                    DenyReason::EnrolFirst(r) => AppError::EnrolFirst(r),
                    DenyReason::Disabled
                    | DenyReason::MissingPermission(_)
                    | DenyReason::OutOfScope(_) => AppError::Forbidden,
                })
            }
        }
    }
}
