//! The audit log (S1): every security event is appended with who, what, on what, whether it
//! worked, from where and the request id; `audit:read` reads it with filters, newest first.
//!
//! Invariants: callers pass typed facts only — no use case hands a password, token, key or code
//! to [`App::audit`] (reviewed per call site; a test greps the log of a full flow for secrets);
//! failing to write an event is logged loudly but does not undo the action it records.

pub mod event;

use pw_domain::{AuditEventId, Permission, UserId};
use pw_policy::{Action, Target};
use pw_store::{AuditFilter, NewAuditEvent};
use serde::Serialize;

use crate::core::clock::{parse_rfc3339, rfc3339};
use crate::notify::webhooks::HookEvent;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, RequestMeta};

/// One event as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// Id.
    pub id: AuditEventId,
    /// RFC 3339.
    pub at: String,
    /// Acting user id (may no longer exist).
    pub actor_id: Option<UserId>,
    /// Acting user's name at the time.
    pub actor: String,
    /// Event name, e.g. `auth.login`.
    pub event: String,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Outcome.
    pub success: bool,
    /// Client address.
    pub ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Extra facts.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actor name.
    #[serde(default)]
    pub actor: Option<String>,
    /// Event name, or a prefix ending in `.`.
    #[serde(default)]
    pub event: Option<String>,
    /// RFC 3339 lower bound.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// Page size (1–500, default 50).
    #[serde(default)]
    pub limit: Option<String>,
    /// The `next` of the previous page (an opaque cursor).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A page of events, newest first; `next` is the opaque cursor of the next (older) page.
pub type AuditPage = crate::Page<AuditView>;

fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_rfc3339(s).map(Some).ok_or_else(|| {
            AppError::BadRequest(format!(
                "{name} must be an RFC 3339 time, e.g. 2026-11-23T00:00:00Z."
            ))
        }),
    }
}

impl App {
    /// Appends an event for `actor`.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        event: AuditEvent,
        target: Option<(&str, String)>,
        success: bool,
        details: serde_json::Value,
    ) {
        self.write_audit(
            actor.user_id,
            &actor.name,
            &actor.meta,
            event,
            target,
            success,
            details,
        )
        .await;
    }

    /// Appends an event with no known actor (failed logins, wrong setup codes).
    pub(crate) async fn audit_anonymous(
        &self,
        meta: &RequestMeta,
        event: AuditEvent,
        success: bool,
        details: serde_json::Value,
    ) {
        self.write_audit(None, "anonymous", meta, event, None, success, details)
            .await;
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one flat record; a builder would only hide the fields"
    )]
    async fn write_audit(
        &self,
        actor_id: Option<UserId>,
        actor_name: &str,
        meta: &RequestMeta,
        event: AuditEvent,
        target: Option<(&str, String)>,
        success: bool,
        details: serde_json::Value,
    ) {
        // The catalogue is the documented shape (docs/AUDIT-EVENTS.md, webhook receivers rely
        // on it); a call site that strays from it is a bug to fix, not a reason to lose the
        // event, so it is logged loudly and the event is still written.
        let target_declared = target
            .as_ref()
            .is_none_or(|(kind, _)| event.targets().contains(kind));
        if !target_declared || !event.declares(&details) {
            tracing::error!(
                event = event.name(),
                "audit event does not match its declaration in the catalogue"
            );
        }
        let event = event.name();
        let details_text = details.to_string();
        let (target_type, target_id) = match &target {
            Some((t, id)) => (Some(*t), Some(id.as_str())),
            None => (None, None),
        };
        let record = NewAuditEvent {
            at: self.now(),
            actor_id,
            actor_name,
            event,
            target_type,
            target_id,
            success,
            ip: meta.ip.as_deref(),
            request_id: meta.request_id.as_deref(),
            details: &details_text,
        };
        let at = record.at;
        if let Err(e) = self.store.insert_audit_event(&record).await {
            tracing::error!(error = %e, event, "could not write the audit event");
            return;
        }
        self.queue_hook_event(HookEvent {
            at,
            event: event.to_owned(),
            actor: actor_name.to_owned(),
            target: target.map(|(kind, id)| (kind.to_owned(), id)),
            success,
            details,
            notice: None,
        });
    }

    /// `GET /api/v1/audit?actor=&event=&since=&until=&limit=&cursor=`: one keyset page (by id,
    /// newest first) of the events matching the filters; the cursor only names a position.
    pub async fn list_audit(&self, actor: &Actor, q: AuditQuery) -> Result<AuditPage, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::AuditRead),
            &Target::Global,
        )?;
        let page = crate::core::page::PageRequest::parse(
            crate::core::page::Listing::Audit,
            &crate::PageParams {
                limit: q.limit,
                cursor: q.cursor,
            },
        )?;
        let filter = AuditFilter {
            actor: q
                .actor
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            event: q
                .event
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            since: time_param("since", q.since.as_deref())?,
            until: time_param("until", q.until.as_deref())?,
            before_id: page
                .after
                .as_ref()
                .map(|(_, id)| AuditEventId::from_db(*id)),
            limit: page.store().fetch,
        };
        let rows = self.store.list_audit_events(&filter).await?;
        let (rows, next) = page.finish(crate::core::page::Listing::Audit, rows, |r| {
            (String::new(), r.id.get())
        });
        Ok(AuditPage {
            items: rows
                .into_iter()
                .map(|r| AuditView {
                    id: r.id,
                    at: rfc3339(r.at),
                    actor_id: r.actor_id,
                    actor: r.actor_name,
                    event: r.event,
                    target_type: r.target_type,
                    target_id: r.target_id,
                    success: r.success,
                    ip: r.ip,
                    request_id: r.request_id,
                    details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
            next,
        })
    }
}
