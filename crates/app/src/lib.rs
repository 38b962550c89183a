//! Use cases. Every operation takes the caller's [`Actor`], asks [`pw_policy::authorize`]
//! before touching data, and talks to the store; the HTTP and web layers only translate
//! requests into these calls. Errors carry a public kind and a private cause.
//!
//! Invariant: a change to what a user may do (password, groups, group permissions, disable,
//! delete) revokes their sessions in the store transaction that makes it, then drops them from
//! the in-memory principal cache and publishes a [`Revocation`] for live connections.

#[path = "auth/api_keys.rs"]
mod api_keys;
#[path = "system/audit/mod.rs"]
mod audit;
#[path = "system/audit/event.rs"]
pub mod audit_event;
#[path = "auth/sessions/mod.rs"]
mod auth;
#[path = "core/cache.rs"]
mod cache;
#[path = "farm/cameras.rs"]
mod camera;
#[path = "farm/camera_tokens.rs"]
mod camera_tokens;
#[path = "system/tls.rs"]
mod certificates;
#[path = "core/clock.rs"]
mod clock;
#[path = "notify/email/mod.rs"]
mod email;
#[path = "core/error.rs"]
mod error;
#[path = "farm/fleet/mod.rs"]
mod fleet;
#[path = "accounts/groups/mod.rs"]
mod groups;
#[path = "system/instance.rs"]
mod instance;
#[path = "auth/live.rs"]
mod live;
#[path = "farm/locations.rs"]
mod locations;
#[path = "notify/templates.rs"]
mod mail_templates;
#[path = "auth/mfa/mod.rs"]
mod mfa;
#[path = "system/outbound.rs"]
pub mod outbound;
#[path = "accounts/owned.rs"]
pub mod owned;
#[path = "core/page.rs"]
mod page;
#[path = "farm/print_claims.rs"]
mod print_claims;
#[path = "notify/print_mail.rs"]
mod print_mail;
#[path = "farm/printers/mod.rs"]
mod printers;
#[path = "farm/probe.rs"]
mod probe;
#[path = "auth/recovery.rs"]
mod recovery;
#[path = "core/sealed.rs"]
mod sealed;
#[path = "system/settings.rs"]
mod security;
#[path = "system/seed.rs"]
mod seed;
#[path = "auth/tickets.rs"]
mod tickets;
#[path = "accounts/users/mod.rs"]
mod users;
#[path = "notify/webhooks/mod.rs"]
mod webhooks;

pub use api_keys::{ApiKeyView, CreateApiKey, CreatedApiKey};
pub use audit::{AuditPage, AuditQuery, AuditView};
pub use audit_event::AuditEvent;
pub use auth::{LoginOutcome, MeView, SessionView, SetupRequest};
pub use camera::{CameraWatch, WatchEnd};
pub use camera_tokens::{
    CameraTokenView, CreateCameraToken, CreatedCameraToken, MAX_CAMERA_TOKEN_DAYS,
};
pub use certificates::{CertificateError, Certificates, TlsSource, TlsStatus, UploadCertificate};
pub use clock::{Clock, ManualClock, SystemClock, parse_rfc3339, rfc3339};
pub use email::{
    EmailSettingsInput, EmailSettingsView, MailSecurity, TemplateView, TestEmail, TestEmailOutcome,
};
pub use error::AppError;
pub use fleet::{Connection, PrinterEvent};
pub use groups::{GroupInput, GroupPatchInput, GroupView, PermissionCategoryView};
pub use instance::{InstanceStatus, Readiness};
pub use live::{LiveCredential, LiveUpdates, RECHECK_EVERY};
pub use locations::{LocationInput, LocationView};
pub use mail_templates::{RenderedMail, Template, TemplateName};
pub use mfa::{
    BackupCodesView, CHALLENGE_LIFETIME_MS, ChallengeIssued, MfaMethod, OpenChallenge, SignIn,
    TotpSetupView,
};
pub use owned::OwnedItems;
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams};
pub use print_mail::{MailPreferences, PRINT_EVENTS};
pub use printers::{
    CertificateView, CommandInput, CommandOutcome, CreatePrinter, MAX_PRINT_FILE, PrintUpload,
    PrinterDownload, PrinterFile, PrinterView, StatusView, TemperatureView, TrayView,
    TrustCertificate, UpdatePrinter,
};
pub use probe::{CheckOutcome, CheckPrinter, PrinterCheck};
pub use pw_credentials::SecretString;
pub use pw_credentials::token::{API_KEY_PREFIX, CAMERA_TOKEN_PREFIX};
pub use security::{OutboundSettings, SecuritySettings};
pub use tickets::{IssuedTicket, TICKET_LIFETIME, TicketRequest};
pub use users::{CreateUser, DeletePreview, UpdateUser, UserView};
pub use webhooks::{
    CreateWebhook, DELIVERY_HEADER, DeliveryView, EVENT_HEADER, SIGNATURE_HEADER, TEST_EVENT,
    TIMESTAMP_HEADER, TestOutcome, UpdateWebhook, WebhookView,
};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pw_credentials::{SETUP_CODE_RANDOM_BYTES, SealingKey, setup_code_from};
use pw_domain::{SessionId, UserId};
use pw_policy::{Action, Decision, DenyReason, Principal, Target, authorize};
use pw_store::{AdminCheck, Store};
use tokio::sync::{Mutex, Semaphore, broadcast, mpsc};

use crate::outbound::{AllowList, Guard, Resolve, SystemResolver};
use crate::webhooks::{Dispatcher, HookEvent, Outbound};

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
    /// Resolves the names of outbound targets (tests substitute a scripted one).
    pub resolver: Arc<dyn Resolve>,
    /// Printer CA bundle (`PRINTWARDEN_PRINTER_CA_FILE`): when set, a printer's certificate
    /// must also chain to it, on first contact as afterwards.
    pub printer_ca: Option<Arc<rustls::RootCertStore>>,
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
            resolver: Arc::new(SystemResolver),
            printer_ca: None,
        }
    }
}

/// Access was taken away somewhere: live sockets and streams re-check their credential
/// ([`LiveUpdates`]) and end when it no longer grants what they show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Everything of this user (password, rights, disable, delete).
    User(UserId),
    /// One session.
    Session(SessionId),
    /// Anything else that may narrow access: an API key or camera token revoked, a printer
    /// moved to another location or deleted.
    Access,
}

/// Facts about the request an action came in with, for the audit log and session records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client address (after trusted-proxy handling).
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id, to match audit rows with log lines.
    pub request_id: Option<String>,
}

/// Who is acting: the principal policy judges, plus who they are for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// What policy sees.
    pub principal: Principal,
    /// The signed-in user, if known (also while authentication is switched off).
    pub user_id: Option<UserId>,
    /// Name for the audit log: the username, or `anonymous` / `auth-disabled` / `system`.
    pub name: Arc<str>,
    /// The browser session this request came with.
    pub session: Option<SessionId>,
    /// The API key (or camera token) this request came with: what it mints (tickets) is
    /// bound to it.
    pub api_key: Option<pw_domain::ApiKeyId>,
    /// Request facts.
    pub meta: RequestMeta,
}

impl Actor {
    /// Nobody (public routes).
    #[must_use]
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            principal: Principal::Anonymous,
            user_id: None,
            name: Arc::from("anonymous"),
            session: None,
            api_key: None,
            meta,
        }
    }

    /// The process itself (CLI commands).
    #[must_use]
    pub fn system() -> Self {
        Self {
            principal: Principal::System,
            user_id: None,
            name: Arc::from("system"),
            session: None,
            api_key: None,
            meta: RequestMeta::default(),
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
    store: Store,
    config: Arc<AppConfig>,
    setup_code: Arc<Mutex<Option<SecretString>>>,
    clock: Arc<dyn Clock>,
    cache: Arc<cache::PrincipalCache>,
    /// Bounds concurrent password hashing (each argon2id run takes 19 MiB and ~50 ms of CPU).
    /// Threat: a login flood exhausting memory and every blocking thread.
    hashing: Arc<Semaphore>,
    revocations: broadcast::Sender<Revocation>,
    /// The runtime authentication switch (`auth.enabled` setting); the env override wins.
    auth_on: Arc<AtomicBool>,
    security: Arc<std::sync::RwLock<SecuritySettings>>,
    /// The SSRF guard with the admin's allow-list, and its client.
    outbound: Arc<std::sync::RwLock<Arc<Outbound>>>,
    /// Audit events on their way to the webhook dispatcher.
    hooks: mpsc::Sender<HookEvent>,
    /// The HTTPS listener's certificate manager (absent with TLS off).
    certificates: certificates::CertificateSlot,
    /// The printer connections.
    fleet: Arc<fleet::Fleet>,
    /// Camera feeds, shared by their viewers.
    cameras: Arc<camera::Cameras>,
}

/// Credentials presented with a request, already split out by the HTTP layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The session cookie's value, if any.
    pub session: Option<&'a str>,
    /// An API key from `Authorization: Bearer` or `X-API-Key`, if any.
    pub api_key: Option<&'a str>,
    /// A ticket from `?ticket=` (upgrade routes only), if any.
    pub ticket: Option<&'a str>,
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
        let dispatcher = Dispatcher {
            store: store.clone(),
            outbound: Arc::clone(&outbound),
            sealing: config.sealing.clone(),
            clock: Arc::clone(&clock),
        };
        tokio::spawn(dispatcher.run(hook_events));
        let app = Self {
            store,
            config: Arc::new(config),
            setup_code: Arc::new(Mutex::new(None)),
            clock,
            cache: Arc::new(cache::PrincipalCache::default()),
            hashing: Arc::new(Semaphore::new(hashers)),
            revocations,
            auth_on: Arc::new(AtomicBool::new(true)),
            security: Arc::new(std::sync::RwLock::new(SecuritySettings::default())),
            outbound,
            hooks,
            certificates: Arc::default(),
            fleet: Arc::new(fleet::Fleet::new()),
            cameras: Arc::default(),
        };
        app.seed_groups().await?;
        app.load_security_settings().await?;
        Ok(app)
    }

    /// While no administrator exists, makes a fresh one-time setup code from `random` and
    /// returns it for the operator (console and 0600 file); returns `None` once set up.
    /// Each start issues a new code, so a code seen in an old log is worthless.
    pub async fn issue_setup_code(
        &self,
        random: [u8; SETUP_CODE_RANDOM_BYTES],
    ) -> Result<Option<SecretString>, AppError> {
        if self.administrator_exists().await? {
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

    /// Live connections subscribe here and close when their user or session is revoked.
    #[must_use]
    pub fn subscribe_revocations(&self) -> broadcast::Receiver<Revocation> {
        self.revocations.subscribe()
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

    pub(crate) async fn administrator_exists(&self) -> Result<bool, AppError> {
        Ok(self
            .store
            .count_administrators(&Self::admin_check())
            .await?
            > 0)
    }

    /// Drops cached principals of these users and tells live connections to close.
    pub(crate) fn revoke_users(&self, users: &[UserId]) {
        for user in users {
            self.cache.forget_user(*user);
            // No receiver is fine: nothing live to close.
            let _ = self.revocations.send(Revocation::User(*user));
        }
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
                    DenyReason::Disabled
                    | DenyReason::MissingPermission(_)
                    | DenyReason::OutOfScope(_) => AppError::Forbidden,
                })
            }
        }
    }

    pub(crate) fn revoke_session(&self, session: SessionId) {
        self.cache.forget_session(session);
        let _ = self.revocations.send(Revocation::Session(session));
    }
}
