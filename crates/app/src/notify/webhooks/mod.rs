//! Outbound webhooks (S7, `notifications:*`): a URL, an optional secret that signs every
//! delivery, and an event filter over the audit log's event names. Deliveries run off the
//! request path through the SSRF guard; the latest outcome is kept on the webhook.
//!
//! Invariants: every request goes through the guard's client (checked scheme, resolved and
//! checked addresses, re-checked redirects, capped time); the secret is sealed at rest and never
//! returned (`has_secret` only); a slow or failing receiver cannot slow requests or grow memory
//! (bounded queue, bounded concurrency, bounded retries).

mod create;
mod delete;
mod dispatch;
mod list;
mod test_webhook;
mod update;

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
