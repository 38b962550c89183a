//! Outbound webhooks (S7, `notifications:*`): a URL, an optional secret that signs every
//! delivery, and an event filter over the audit log's event names and the notification
//! catalogue's (`notify::events`). A webhook's `kind` says how it delivers: `printwarden`
//! (signed JSON), `ntfy` (a push to a topic, the secret its access token) or `discord` (a
//! channel webhook, whose URL is its secret). Deliveries run off the request path through the
//! SSRF guard; the latest outcome is kept on the webhook.
//!
//! Invariants: every request goes through the guard's client (checked scheme, resolved and
//! checked addresses, re-checked redirects, capped time); the secret is sealed at rest and never
//! returned (`has_secret` only); a slow or failing receiver cannot slow requests or grow memory
//! (bounded queue, bounded concurrency, bounded retries).

mod backlog;
mod create;
mod delete;
mod dispatch;
mod list;
mod test_webhook;
mod update;

pub(crate) use backlog::Backlog;
pub use backlog::{BacklogView, DeliveryTotals};
use dispatch::{Attempt, current};
pub(crate) use dispatch::{Dispatcher, Outbound};
pub use test_webhook::TestOutcome;

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
use crate::notify::events::{Notice, NoticeEvent, may_subscribe};
use crate::system::audit::event::AuditEvent;
use crate::system::outbound::{Guard, Refusal, refusal_of};
use crate::{Actor, App, AppError, Clock};

/// Sealing context of a webhook's secret: bound to the row, so a sealed secret copied into
/// another webhook does not open there (threat: a database writer making the server sign for
/// their receiver with someone else's secret).
pub(crate) fn secret_context(id: WebhookId) -> String {
    format!("webhook:{id}:secret")
}
/// Events waiting to be routed to the webhooks' lanes; more are dropped (and counted) rather
/// than buffered without end.
pub(crate) const QUEUE: usize = 1024;
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

/// How a webhook delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// A signed JSON body (`x-printwarden-*` headers); the secret signs it.
    #[default]
    Printwarden,
    /// An ntfy push: `POST` of the event's sentence to a topic URL with `Title`, `Priority`
    /// and `Tags` headers; the secret, when set, is an access token sent as `Bearer`.
    Ntfy,
    /// A Discord channel webhook: `POST` of `{"content": "<sentence>"}` (mentions disabled).
    /// The URL contains the channel's token, so it is write-only: shown masked after saving.
    Discord,
}

impl WebhookKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Printwarden => "printwarden",
            WebhookKind::Ntfy => "ntfy",
            WebhookKind::Discord => "discord",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ntfy" => WebhookKind::Ntfy,
            "discord" => WebhookKind::Discord,
            _ => WebhookKind::Printwarden,
        }
    }
}

/// A webhook as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: WebhookId,
    /// Label.
    pub name: String,
    /// Target URL (for `discord`, masked: its last part is the channel's token).
    pub url: String,
    /// How it delivers.
    pub kind: WebhookKind,
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
    /// Waiting, in flight and dropped deliveries since the server started (absent before its
    /// first event); `note` says in words when events were not delivered.
    pub backlog: Option<BacklogView>,
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
    /// Signing secret (`printwarden`) or access token (`ntfy`); empty or absent = none.
    /// `discord` takes none: its URL is the secret.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<SecretString>,
    /// Event filter.
    pub events: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// How it delivers; default `printwarden`. Cannot be changed later.
    #[serde(default)]
    pub kind: Option<WebhookKind>,
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

/// An audit event or a notice on its way to the webhooks.
#[derive(Debug, Clone)]
pub(crate) struct HookEvent {
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub target: Option<(String, String)>,
    pub success: bool,
    pub details: serde_json::Value,
    /// Set for a notification event (then the other fields are unused but `at` and `event`).
    pub notice: Option<Arc<Notice>>,
}

impl HookEvent {
    /// A notice as a hook event.
    pub(crate) fn notice(notice: Notice) -> Self {
        Self {
            at: notice.at,
            event: notice.event.name().to_owned(),
            actor: String::new(),
            target: None,
            success: true,
            details: serde_json::Value::Null,
            notice: Some(Arc::new(notice)),
        }
    }

    /// The sentence push services show.
    fn text(&self) -> String {
        match &self.notice {
            Some(n) => n.text.clone(),
            None if self.event == TEST_EVENT => "Test delivery from printwarden.".to_owned(),
            None => {
                let summary = AuditEvent::parse(&self.event).map_or("", AuditEvent::summary);
                let outcome = if self.success { "" } else { " (failed)" };
                format!("{} ({}){outcome}: {summary}", self.event, self.actor)
            }
        }
    }

    /// The title line push services show.
    fn title(&self) -> String {
        match &self.notice {
            Some(n) => n.event.title().to_owned(),
            None => format!("printwarden: {}", self.event),
        }
    }

    fn payload(&self) -> Vec<u8> {
        if let Some(n) = &self.notice {
            return n.json().to_string().into_bytes();
        }
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

/// What receiving the audit events a filter selects amounts to: any audit event hands the
/// receiver `audit:read`. The grant rule then refuses a filter its creator may not read
/// (threat: a `notifications:create` holder without `audit:read` subscribing `*` and receiving
/// every audit event). A filter selecting only notification events needs no `audit:read`.
fn filter_rights(filter: &[String]) -> Rights {
    let audit = AuditEvent::ALL
        .iter()
        .any(|e| selects(filter, e.name()))
        // An unknown name may become an audit event later: it counts as one.
        || filter.iter().any(|f| {
            f != "*"
                && !f.ends_with('.')
                && AuditEvent::parse(f).is_none()
                && NoticeEvent::parse(f).is_none()
        });
    if audit {
        Rights::everywhere([Permission::AuditRead])
    } else {
        Rights::none()
    }
}

/// The notification events a filter selects that `principal` may not receive anywhere, in
/// words (a 400: the creator can fix the filter).
fn unreadable_notices(principal: &Principal, filter: &[String]) -> Result<(), AppError> {
    let refused: Vec<NoticeEvent> = NoticeEvent::ALL
        .iter()
        .copied()
        .filter(|e| selects(filter, e.name()) && !may_subscribe(principal, *e))
        .collect();
    match refused.first() {
        None => Ok(()),
        Some(first) => {
            let names: Vec<&str> = refused.iter().map(|e| e.name()).collect();
            Err(AppError::BadRequest(format!(
                "You may not receive {}: {} events need {}. Leave them out of the events.",
                names.join(", "),
                first.group().label().to_lowercase(),
                first.group().needs(),
            )))
        }
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

fn parse_secret(
    secret: Option<SecretString>,
    kind: WebhookKind,
) -> Result<Option<SecretString>, AppError> {
    match secret {
        Some(s) if s.expose().len() > MAX_SECRET => Err(AppError::BadRequest(format!(
            "secret must be at most {MAX_SECRET} bytes."
        ))),
        Some(s) if s.is_empty() => Ok(None),
        Some(_) if kind == WebhookKind::Discord => Err(AppError::BadRequest(
            "A Discord webhook has no separate secret: its URL is the secret. Leave the secret \
             empty."
                .into(),
        )),
        // Sent as a header value: a control character would break the request.
        Some(s)
            if kind == WebhookKind::Ntfy && !s.expose().chars().all(|c| c.is_ascii_graphic()) =>
        {
            Err(AppError::BadRequest(
                "An ntfy access token is letters, digits and punctuation without spaces.".into(),
            ))
        }
        other => Ok(other),
    }
}

/// A Discord URL to show: the last path segment (the channel's token) and any query replaced
/// by `…` (threat: the token in a list answer, a log line or a screenshot posts as the hook).
fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = u.path().trim_end_matches('/');
            let kept = path.rsplit_once('/').map_or("", |(head, _)| head);
            format!("{}://{host}{port}{kept}/…", u.scheme())
        }
        Err(_) => "…".to_owned(),
    }
}

fn events_of(row: &WebhookRow) -> Vec<String> {
    serde_json::from_str(&row.events).unwrap_or_default()
}

fn view(row: WebhookRow, backlog: &Backlog, now: i64) -> WebhookView {
    let kind = WebhookKind::parse(&row.kind);
    WebhookView {
        backlog: backlog.view(row.id, now),
        id: row.id,
        kind,
        // A Discord URL is sealed in `secret`: there is no secret of its own to report.
        has_secret: row.secret.is_some() && kind != WebhookKind::Discord,
        events: events_of(&row),
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
            self.backlog
                .intake_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(event = %e.event, "webhook queue full; event not delivered");
        }
    }

    /// The delivery counters for `/metrics` (totals only: no webhook ids).
    #[must_use]
    pub fn webhook_delivery_totals(&self) -> DeliveryTotals {
        self.backlog
            .totals(QUEUE.saturating_sub(self.hooks.capacity()))
    }

    /// Hands a notification to the webhook dispatcher without waiting.
    pub(crate) fn queue_notice(&self, notice: Notice) {
        self.queue_hook_event(HookEvent::notice(notice));
    }

    /// The filter rules: audit events need `audit:read` (the grant rule: 403), notification
    /// events the rights of their group somewhere (400 in words).
    async fn check_filter(&self, actor: &Actor, events: &[String]) -> Result<(), AppError> {
        self.check_may_grant(actor, &filter_rights(events)).await?;
        unreadable_notices(&actor.principal, events)
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
    fn filters_need_audit_read_only_for_audit_events() {
        let f = |v: &[&str]| filter_rights(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert!(f(&["print."]).permissions().next().is_none());
        assert!(
            f(&["print.finished", "queue.failed"])
                .permissions()
                .next()
                .is_none()
        );
        assert!(
            f(&["queue."]).holds(Permission::AuditRead),
            "queue.create is audited"
        );
        assert!(f(&["printer."]).holds(Permission::AuditRead));
        assert!(f(&["*"]).holds(Permission::AuditRead));
        assert!(f(&["auth.login"]).holds(Permission::AuditRead));
        assert!(f(&["future.event"]).holds(Permission::AuditRead));
    }

    #[test]
    fn discord_urls_are_masked() {
        assert_eq!(
            masked("https://discord.com/api/webhooks/123/s3cr3t-token?wait=true"),
            "https://discord.com/api/webhooks/123/…"
        );
        assert_eq!(
            masked("http://lan-hook.test:8080/api/webhooks/9/tok/"),
            "http://lan-hook.test:8080/api/webhooks/9/…"
        );
        assert!(!masked("https://x.test/tok").contains("tok"));
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
