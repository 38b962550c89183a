//! Outbound webhooks (S7, `notifications:*`): a URL, an optional secret that signs every
//! delivery, and an event filter over the audit log's event names. Deliveries run off the
//! request path through the SSRF guard; the latest outcome is kept on the webhook.
//!
//! Invariants: every request goes through the guard's client (checked scheme, resolved and
//! checked addresses, re-checked redirects, capped time); the secret is sealed at rest and never
//! returned (`has_secret` only); a slow or failing receiver cannot slow requests or grow memory
//! (bounded queue, bounded concurrency, bounded retries).

use std::sync::Arc;
use std::time::Duration;

use pw_credentials::SecretString;
use pw_credentials::signature::webhook_signature;
use pw_domain::{Permission, WebhookId};
use pw_policy::{Action, Principal, Rights, Subject, Target, authorize};
use pw_store::{DeliveryRecord, NewWebhook, Store, WebhookPatch, WebhookRow};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};

use crate::core::clock::{random, rfc3339};
use crate::core::sealed::open_with;
use crate::system::audit::event::AuditEvent;
use crate::system::outbound::{Guard, Refusal, refusal_of};
use crate::{Actor, App, AppError, Clock};

/// Sealing context of a webhook's secret: bound to the row, so a sealed secret copied into
/// another webhook does not open there (threat: a database writer making the server sign for
/// their receiver with someone else's secret).
fn secret_context(id: WebhookId) -> String {
    format!("webhook:{id}:secret")
}
/// Events waiting for delivery; more are dropped (and logged) rather than buffered without end.
pub(crate) const QUEUE: usize = 1024;
/// Deliveries in flight at once.
const CONCURRENT: usize = 8;
/// Pauses before the second and third attempt of a failed delivery.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];
/// The synthetic event the test button sends.
pub const TEST_EVENT: &str = AuditEvent::WebhookTest.name();
const MAX_NAME: usize = 100;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 256;
const MAX_EVENTS: usize = 50;
const MAX_EVENT_LEN: usize = 64;

/// Header with the signature `sha256=<hex>` (only when a secret is set).
pub const SIGNATURE_HEADER: &str = "x-printwarden-signature";
/// Header with the unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-printwarden-timestamp";
/// Header with the event name.
pub const EVENT_HEADER: &str = "x-printwarden-event";
/// Header with a random id per delivery (the same across retries).
pub const DELIVERY_HEADER: &str = "x-printwarden-delivery";

/// A webhook as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: WebhookId,
    /// Label.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// Whether deliveries are signed (the secret itself is write-only).
    pub has_secret: bool,
    /// Event filter: names, prefixes ending in `.`, or `*`.
    pub events: Vec<String>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The latest delivery, if any.
    pub last_delivery: Option<DeliveryView>,
}

/// The outcome of a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// RFC 3339.
    pub at: String,
    /// Event delivered.
    pub event: String,
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// The receiver's status.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Label.
    pub name: String,
    /// Target URL (`http` or `https`).
    pub url: String,
    /// Signing secret; empty or absent = unsigned.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<SecretString>,
    /// Event filter.
    pub events: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/webhooks/{id}`: absent fields stay; an empty `secret` keeps the stored one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// Label.
    #[serde(default)]
    pub name: Option<String>,
    /// Target URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New signing secret; empty keeps the stored one. Required (or `remove_secret`) when a
    /// signed webhook gets a new `url`: a secret never follows a webhook to a new receiver.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<SecretString>,
    /// Removes the secret (deliveries become unsigned).
    #[serde(default)]
    pub remove_secret: bool,
    /// Event filter.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Whether events are delivered.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestOutcome {
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Its status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An audit event on its way to the webhooks.
#[derive(Debug, Clone)]
pub(crate) struct HookEvent {
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub target: Option<(String, String)>,
    pub success: bool,
    pub details: serde_json::Value,
}

impl HookEvent {
    fn payload(&self) -> Vec<u8> {
        let target = self
            .target
            .as_ref()
            .map(|(kind, id)| serde_json::json!({ "type": kind, "id": id }));
        serde_json::json!({
            "event": self.event,
            "at": rfc3339(self.at),
            "actor": self.actor,
            "target": target,
            "success": self.success,
            "details": self.details,
        })
        .to_string()
        .into_bytes()
    }
}

/// Validates the event filter: 1–50 entries, each `*`, an event name, or a prefix ending in `.`.
fn parse_events(events: Vec<String>) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let e = e.trim().to_ascii_lowercase();
        let valid = e == "*"
            || (!e.is_empty()
                && e.len() <= MAX_EVENT_LEN
                && e.starts_with(|c: char| c.is_ascii_lowercase())
                && !e.contains("..")
                && e.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'));
        if !valid {
            return Err(AppError::BadRequest(format!(
                "events: `{e}` is not an event name (e.g. auth.login), a prefix ending in `.` \
                 (e.g. auth.) or `*`."
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() || out.len() > MAX_EVENTS {
        return Err(AppError::BadRequest(format!(
            "events must list between 1 and {MAX_EVENTS} event names or prefixes (`*` for all)."
        )));
    }
    Ok(out)
}

/// What receiving the events a filter selects amounts to: every delivered event is an audit
/// event, so any filter (a name, a prefix or `*`) hands the receiver `audit:read`. The grant
/// rule then refuses a filter its creator may not read (threat: a `notifications:create`
/// holder without `audit:read` subscribing `*` and receiving every audit event).
fn filter_rights(filter: &[String]) -> Rights {
    if filter.is_empty() {
        Rights::none()
    } else {
        Rights::everywhere([Permission::AuditRead])
    }
}

/// Whether a filter entry selects an event.
fn selects(filter: &[String], event: &str) -> bool {
    filter
        .iter()
        .any(|f| f == "*" || f == event || (f.ends_with('.') && event.starts_with(f.as_str())))
}

fn parse_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || pw_domain::has_hidden_chars(name) {
        return Err(AppError::BadRequest(format!(
            "name must be 1–{MAX_NAME} characters without control or invisible formatting characters."
        )));
    }
    Ok(name.to_owned())
}

fn parse_secret(secret: Option<SecretString>) -> Result<Option<SecretString>, AppError> {
    match secret {
        Some(s) if s.expose().len() > MAX_SECRET => Err(AppError::BadRequest(format!(
            "secret must be at most {MAX_SECRET} bytes."
        ))),
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn events_of(row: &WebhookRow) -> Vec<String> {
    serde_json::from_str(&row.events).unwrap_or_default()
}

fn view(row: WebhookRow) -> WebhookView {
    WebhookView {
        id: row.id,
        events: events_of(&row),
        has_secret: row.secret.is_some(),
        name: row.name,
        url: row.url,
        enabled: row.enabled,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        last_delivery: row.last.map(|d| DeliveryView {
            at: rfc3339(d.at),
            event: d.event,
            ok: d.ok,
            status: d.status,
            error: d.error,
        }),
    }
}

/// How one attempt ended.
#[derive(Debug)]
enum Attempt {
    /// The guard refused the target before anything was sent.
    Refused(Refusal),
    /// The receiver answered.
    Answered(u16),
    /// No answer (connection, TLS, timeout).
    Failed(String),
}

impl Attempt {
    fn retry(&self) -> bool {
        match self {
            Attempt::Refused(_) => false,
            Attempt::Answered(s) => *s == 429 || *s >= 500,
            Attempt::Failed(_) => true,
        }
    }

    fn record(&self, at: i64, event: &str) -> DeliveryRecord {
        let (ok, status, error) = match self {
            Attempt::Refused(r) => (false, None, Some(format!("refused: {r}"))),
            Attempt::Answered(s) => (
                (200..300).contains(s),
                Some(*s),
                (!(200..300).contains(s)).then(|| format!("the receiver answered HTTP {s}")),
            ),
            Attempt::Failed(e) => (false, None, Some(e.clone())),
        };
        DeliveryRecord {
            at,
            event: event.to_owned(),
            ok,
            status,
            error,
        }
    }
}

/// The SSRF guard and a client built on it; replaced as a whole when the allow-list changes.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub guard: Guard,
    /// The allow-list as the administrator wrote it.
    pub allowed: Vec<String>,
    client: reqwest::Client,
}

impl Outbound {
    pub(crate) fn new(guard: Guard, allowed: Vec<String>) -> Result<Self, AppError> {
        let client = guard
            .client()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(Self {
            guard,
            allowed,
            client,
        })
    }

    /// One signed POST of `body` to `url`.
    async fn post(
        &self,
        url: &str,
        secret: Option<&SecretString>,
        event: &str,
        delivery: &str,
        now_ms: i64,
        body: Vec<u8>,
    ) -> Attempt {
        let url = match self.guard.check_url(url) {
            Ok(u) => u,
            Err(r) => return Attempt::Refused(r),
        };
        let timestamp = now_ms.div_euclid(1000);
        let mut request = self
            .client
            .post(url)
            .header(http_header::CONTENT_TYPE, "application/json")
            .header(
                http_header::USER_AGENT,
                concat!("printwarden/", env!("CARGO_PKG_VERSION")),
            )
            .header(EVENT_HEADER, event)
            .header(DELIVERY_HEADER, delivery)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = secret {
            request = request.header(
                SIGNATURE_HEADER,
                webhook_signature(secret.expose().as_bytes(), timestamp, &body),
            );
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read (capped) and drop the answer so the connection can be reused.
                let _ = crate::system::outbound::read_capped(response).await;
                Attempt::Answered(status)
            }
            Err(e) => match refusal_of(&e) {
                // What the name server said (no such name, a private answer) reads like any
                // other failure to reach (threat: the test button mapping internal names).
                Some(r) if r.is_from_dns() => {
                    tracing::warn!(refusal = ?r, "webhook receiver not reached");
                    Attempt::Failed(r.to_string())
                }
                Some(r) => Attempt::Refused(r.clone()),
                None => {
                    tracing::warn!(error = ?e, "webhook receiver not reached");
                    Attempt::Failed(describe(&e))
                }
            },
        }
    }
}

/// A transport failure in words a user can act on (never the URL's query string). Refused,
/// silent and broken connections read the same (threat: the test button as a port scanner:
/// "refused" marks a closed port, "timed out" a filtered one); the log has the cause.
fn describe(e: &reqwest::Error) -> String {
    if e.is_redirect() {
        "too many redirects".to_owned()
    } else {
        crate::system::outbound::unreachable(
            e.url()
                .and_then(url::Url::host_str)
                .unwrap_or("the receiver"),
        )
    }
}

/// reqwest re-exports `http`'s header names.
mod http_header {
    pub use reqwest::header::{CONTENT_TYPE, USER_AGENT};
}

/// What the background dispatcher needs (not the whole `App`: it must not keep itself alive).
pub(crate) struct Dispatcher {
    pub store: Store,
    pub outbound: Arc<std::sync::RwLock<Arc<Outbound>>>,
    pub sealing: Option<pw_credentials::SealingKey>,
    pub clock: Arc<dyn Clock>,
}

impl Dispatcher {
    /// Delivers queued audit events to every enabled webhook whose filter selects them.
    pub(crate) async fn run(self, mut events: mpsc::Receiver<HookEvent>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        while let Some(event) = events.recv().await {
            let hooks = match this.store.enabled_webhooks().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, event = %event.event, "webhooks not read; event not delivered");
                    continue;
                }
            };
            let event = Arc::new(event);
            for hook in hooks {
                if !selects(&events_of(&hook), &event.event) {
                    continue;
                }
                if !this.creator_may_receive(&hook, &event.event).await {
                    tracing::info!(webhook = %hook.id, event = %event.event, "not delivered: the webhook's creator may no longer read this event");
                    continue;
                }
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (this, event) = (Arc::clone(&this), Arc::clone(&event));
                tokio::spawn(async move {
                    this.deliver(&hook, &event).await;
                    drop(slot);
                });
            }
        }
    }

    /// Whether the webhook's creator may read this event *now*, asked of policy with their
    /// current rights (deliveries stop when the creator loses `audit:read`, is disabled or is
    /// deleted). A webhook without a creator was made by the process or while authentication
    /// was off, by the operator.
    async fn creator_may_receive(&self, hook: &WebhookRow, event: &str) -> bool {
        let Some(creator) = hook.created_by else {
            return true;
        };
        let Ok(Some(user)) = self.store.user(creator).await else {
            return false;
        };
        let Ok(groups) = self.store.groups_of_user(creator).await else {
            return false;
        };
        let subject = Subject {
            disabled: user.disabled,
            ..Subject::session(creator, crate::auth::sessions::rights_of(&groups))
        };
        let wanted = filter_rights(&[event.to_owned()]);
        wanted.permissions().all(|p| {
            authorize(
                &Principal::User(subject.clone()),
                Action::Perform(p),
                &Target::Global,
            )
            .is_allowed()
        })
    }

    async fn deliver(&self, hook: &WebhookRow, event: &HookEvent) {
        let opened = hook
            .secret
            .as_deref()
            .map(|s| open_with(self.sealing.as_ref(), s, &secret_context(hook.id)))
            .transpose();
        let secret = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(webhook = %hook.id, error = %e, "webhook secret cannot be opened; not delivered");
                return;
            }
        };
        let Ok(delivery) = random::<16>().map(hex::encode) else {
            return;
        };
        let body = event.payload();
        let mut attempt = None;
        for pause in std::iter::once(Duration::ZERO).chain(RETRY_AFTER) {
            tokio::time::sleep(pause).await;
            let outbound = current(&self.outbound);
            let now = self.clock.now_ms();
            let a = outbound
                .post(
                    &hook.url,
                    secret.as_ref(),
                    &event.event,
                    &delivery,
                    now,
                    body.clone(),
                )
                .await;
            let retry = a.retry();
            attempt = Some(a);
            if !retry {
                break;
            }
        }
        if let Some(a) = attempt {
            if let Attempt::Refused(r) = &a {
                tracing::warn!(webhook = %hook.id, refusal = %r, "webhook delivery refused by the SSRF guard");
            }
            let record = a.record(self.clock.now_ms(), &event.event);
            if let Err(e) = self.store.record_delivery(hook.id, &record).await {
                tracing::warn!(webhook = %hook.id, error = %e, "delivery outcome not recorded");
            }
        }
    }
}

fn current(outbound: &std::sync::RwLock<Arc<Outbound>>) -> Arc<Outbound> {
    Arc::clone(
        &outbound
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

impl App {
    /// The guard's current state (allow-list changes replace it).
    pub(crate) fn outbound(&self) -> Arc<Outbound> {
        current(&self.outbound)
    }

    /// Hands an audit event to the webhook dispatcher without waiting.
    pub(crate) fn queue_hook_event(&self, event: HookEvent) {
        if event.event == TEST_EVENT {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(e)) = self.hooks.try_send(event) {
            tracing::warn!(event = %e.event, "webhook queue full; event not delivered");
        }
    }

    /// Refuses a URL the guard refuses without DNS (scheme, credentials, blocked literals).
    fn check_hook_url(&self, url: &str) -> Result<String, AppError> {
        let url = url.trim();
        if url.len() > MAX_URL {
            return Err(AppError::BadRequest(format!(
                "url must be at most {MAX_URL} characters."
            )));
        }
        self.outbound()
            .guard
            .check_url(url)
            .map_err(|r| AppError::UrlNotAllowed(r.to_string()))?;
        Ok(url.to_owned())
    }

    async fn webhook_row(&self, id: WebhookId) -> Result<WebhookRow, AppError> {
        self.store.webhook(id).await?.ok_or(AppError::NotFound)
    }

    /// `GET /api/v1/webhooks`.
    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<WebhookView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsRead),
            &Target::Global,
        )?;
        Ok(self
            .store
            .list_webhooks()
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// `GET /api/v1/webhooks?limit=&cursor=`: one page of webhooks, oldest first.
    pub async fn webhooks_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<WebhookView>, AppError> {
        use crate::core::page::{Listing, PageRequest};
        self.require(
            actor,
            Action::Perform(Permission::NotificationsRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(Listing::Webhooks, params)?;
        let rows = self.store.webhooks_page(&page.store()).await?;
        let (rows, next) = page.finish(Listing::Webhooks, rows, |r| (String::new(), r.id.get()));
        Ok(crate::Page {
            items: rows.into_iter().map(view).collect(),
            next,
        })
    }

    /// `POST /api/v1/webhooks`.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        input: CreateWebhook,
    ) -> Result<WebhookView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsCreate),
            &Target::Global,
        )?;
        let name = parse_name(&input.name)?;
        let url = self.check_hook_url(&input.url)?;
        let events = parse_events(input.events)?;
        self.check_may_grant(actor, &filter_rights(&events)).await?;
        let secret = parse_secret(input.secret)?;
        let enabled = input.enabled.unwrap_or(true);
        let events_json =
            serde_json::to_string(&events).map_err(|e| AppError::Internal(Box::new(e)))?;
        // The sealing context names the row, so the secret is written once the id exists; the
        // row stays disabled until then, so no delivery goes out unsigned.
        let id = self
            .store
            .insert_webhook(
                &NewWebhook {
                    name: &name,
                    url: &url,
                    secret: None,
                    events: &events_json,
                    enabled: enabled && secret.is_none(),
                    created_by: actor.user_id,
                },
                self.now(),
            )
            .await?;
        if let Some(s) = &secret {
            let sealed = self.seal(s.expose(), &secret_context(id))?;
            let patch = WebhookPatch {
                secret: Some(Some(&sealed)),
                enabled: Some(enabled),
                ..WebhookPatch::default()
            };
            self.store.update_webhook(id, &patch, self.now()).await?;
        }
        self.audit(
            actor,
            AuditEvent::WebhookCreate,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({ "name": name, "events": events, "signed": secret.is_some() }),
        )
        .await;
        Ok(view(self.webhook_row(id).await?))
    }

    /// `PATCH /api/v1/webhooks/{id}`.
    pub async fn update_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
        input: UpdateWebhook,
    ) -> Result<WebhookView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsUpdate),
            &Target::Global,
        )?;
        let current = self.webhook_row(id).await?;
        let name = input.name.as_deref().map(parse_name).transpose()?;
        let url = input
            .url
            .as_deref()
            .map(|u| self.check_hook_url(u))
            .transpose()?;
        let events = input.events.map(parse_events).transpose()?;
        // Whoever changes what a webhook selects, where it delivers, or switches it on decides
        // who receives those events: they must be able to read them too.
        if events.is_some() || input.url.is_some() || input.enabled == Some(true) {
            let resulting = events.clone().unwrap_or_else(|| events_of(&current));
            self.check_may_grant(actor, &filter_rights(&resulting))
                .await?;
        }
        let events_json = events
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let new_secret = parse_secret(input.secret)?
            .map(|s| self.seal(s.expose(), &secret_context(id)))
            .transpose()?;
        if input.remove_secret && new_secret.is_some() {
            return Err(AppError::BadRequest(
                "Send either a new secret or remove_secret, not both.".into(),
            ));
        }
        // Threat (audit finding 15): retargeting a signed webhook at the editor's receiver
        // would hand it deliveries signed with the old secret, which the old receiver trusts.
        let retargeted = url.as_deref().is_some_and(|u| u != current.url);
        if retargeted && current.secret.is_some() && new_secret.is_none() && !input.remove_secret {
            return Err(AppError::BadRequest(
                "This webhook signs its deliveries. A new URL needs a new signing secret (the old \
                 one is never used for a new receiver): enter one, or remove the secret."
                    .into(),
            ));
        }
        let secret = match (&new_secret, input.remove_secret) {
            (Some(s), _) => Some(Some(s.as_str())),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let patch = WebhookPatch {
            name: name.as_deref(),
            url: url.as_deref(),
            secret,
            events: events_json.as_deref(),
            enabled: input.enabled,
        };
        if !self.store.update_webhook(id, &patch, self.now()).await? {
            return Err(AppError::NotFound);
        }
        let mut changed = Vec::new();
        for (field, set) in [
            ("name", name.is_some()),
            ("url", url.is_some()),
            ("secret", secret.is_some()),
            ("events", events.is_some()),
            ("enabled", input.enabled.is_some()),
        ] {
            if set {
                changed.push(field);
            }
        }
        self.audit(
            actor,
            AuditEvent::WebhookUpdate,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({ "changed": changed }),
        )
        .await;
        Ok(view(self.webhook_row(id).await?))
    }

    /// `DELETE /api/v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, actor: &Actor, id: WebhookId) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsDelete),
            &Target::Global,
        )?;
        let row = self.webhook_row(id).await?;
        if !self.store.delete_webhook(id).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::WebhookDelete,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({ "name": row.name }),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/webhooks/{id}/test`: sends a `webhook.test` event now and reports the
    /// answer. A target the guard refuses is a 400 `url_not_allowed` with the reason.
    pub async fn test_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
    ) -> Result<TestOutcome, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsUpdate),
            &Target::Global,
        )?;
        let row = self.webhook_row(id).await?;
        let secret = match &row.secret {
            Some(s) => Some(self.open(s, &secret_context(id))?),
            None => None,
        };
        let event = HookEvent {
            at: self.now(),
            event: TEST_EVENT.to_owned(),
            actor: actor.name.to_string(),
            target: Some(("webhook".to_owned(), id.to_string())),
            success: true,
            details: serde_json::json!({ "message": "Test delivery from printwarden." }),
        };
        let delivery = hex::encode(random::<16>()?);
        let attempt = self
            .outbound()
            .post(
                &row.url,
                secret.as_ref(),
                TEST_EVENT,
                &delivery,
                event.at,
                event.payload(),
            )
            .await;
        let record = attempt.record(self.now(), TEST_EVENT);
        self.store.record_delivery(id, &record).await?;
        self.audit(
            actor,
            AuditEvent::WebhookTest,
            Some(("webhook", id.to_string())),
            record.ok,
            serde_json::json!({ "status": record.status, "error": record.error }),
        )
        .await;
        match attempt {
            Attempt::Refused(r) => Err(AppError::UrlNotAllowed(r.to_string())),
            _ => Ok(TestOutcome {
                ok: record.ok,
                status: record.status,
                error: record.error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_names_prefixes_and_star() {
        let f = parse_events(vec![
            "auth.login".into(),
            " Users. ".into(),
            "auth.login".into(),
        ])
        .unwrap();
        assert_eq!(f, vec!["auth.login", "users."]);
        assert!(selects(&f, "auth.login"));
        assert!(selects(&f, "users.create"));
        assert!(!selects(&f, "auth.logout"));
        assert!(!selects(&f, "usersx"));
        assert!(selects(&["*".to_owned()], "anything.at_all"));
        for bad in [
            "",
            ".",
            "a..b",
            "Auth login",
            "1abc",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(parse_events(vec![bad.to_owned()]).is_err(), "{bad:?}");
        }
        assert!(parse_events(Vec::new()).is_err());
        assert!(parse_events((0..51).map(|i| format!("e{i}")).collect()).is_err());
    }

    #[test]
    fn outcomes_decide_retries_and_records() {
        assert!(Attempt::Failed("x".into()).retry());
        assert!(Attempt::Answered(503).retry());
        assert!(Attempt::Answered(429).retry());
        assert!(!Attempt::Answered(404).retry());
        assert!(!Attempt::Answered(204).retry());
        assert!(!Attempt::Refused(Refusal::NoHost).retry());
        let r = Attempt::Answered(204).record(5, "e");
        assert!(r.ok && r.error.is_none() && r.status == Some(204));
        let r = Attempt::Answered(500).record(5, "e");
        assert!(!r.ok && r.error.as_deref() == Some("the receiver answered HTTP 500"));
    }
}
