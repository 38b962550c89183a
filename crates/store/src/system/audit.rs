//! The audit log: append-only. This module has no update or delete statement for it, and the
//! application never passes a secret into `details` (it receives typed event data only).

use pw_domain::{AuditEventId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    /// Unix ms.
    pub at: i64,
    /// The acting user, if any.
    pub actor_id: Option<UserId>,
    /// The acting user's name at the time (or `system`, `anonymous`, `auth-disabled`).
    pub actor_name: &'a str,
    /// Dotted event name, e.g. `auth.login`.
    pub event: &'a str,
    /// What it was done to, e.g. `user`.
    pub target_type: Option<&'a str>,
    /// Its id or name.
    pub target_id: Option<&'a str>,
    /// Whether it succeeded.
    pub success: bool,
    /// Client address.
    pub ip: Option<&'a str>,
    /// Request id, to find the log lines.
    pub request_id: Option<&'a str>,
    /// Extra facts as a JSON object (never a secret).
    pub details: &'a str,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Key (also the paging cursor).
    pub id: AuditEventId,
    /// Unix ms.
    pub at: i64,
    /// Acting user id (may no longer exist).
    pub actor_id: Option<UserId>,
    /// Acting user's name at the time.
    pub actor_name: String,
    /// Event name.
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
    /// JSON object.
    pub details: String,
}

/// Filters for reading the log; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actor name, case-insensitive exact match.
    pub actor: Option<String>,
    /// Event name, exact, or a prefix when it ends with `.` (e.g. `auth.`).
    pub event: Option<String>,
    /// Only events at or after (unix ms).
    pub since: Option<i64>,
    /// Only events before (unix ms).
    pub until: Option<i64>,
    /// Paging (newest first, a keyset page by id): only events with a smaller id than the
    /// previous page's last.
    pub before_id: Option<AuditEventId>,
    /// At most this many.
    pub limit: i64,
}

fn from_row(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: AuditEventId::from_db(row.try_get("id")?),
        at: row.try_get("at")?,
        actor_id: row
            .try_get::<Option<i64>, _>("actor_id")?
            .map(UserId::from_db),
        actor_name: row.try_get("actor_name")?,
        event: row.try_get("event")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        success: crate::flag(row, "success")?,
        ip: row.try_get("ip")?,
        request_id: row.try_get("request_id")?,
        details: row.try_get("details")?,
    })
}

impl Store {
    /// Appends one event.
    pub async fn insert_audit_event(&self, e: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (at, actor_id, actor_name, event, target_type, target_id, \
             success, ip, request_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.at)
        .bind(e.actor_id.map(UserId::get))
        .bind(e.actor_name)
        .bind(e.event)
        .bind(e.target_type)
        .bind(e.target_id)
        .bind(e.success)
        .bind(e.ip)
        .bind(e.request_id)
        .bind(e.details)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reads events, newest first.
    pub async fn list_audit_events(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        // Every filter is bound; absent ones are neutralised with an always-true comparison,
        // so the statement text never depends on user input. A prefix is compared with
        // `substr`, not `LIKE`: no wildcard in it means anything (`api_key.` must not match
        // `apiXkey.`), and the comparison is case-sensitive on both backends (SQLite's `LIKE`
        // ignores ASCII case, PostgreSQL's does not).
        let (event_exact, event_prefix) = match &f.event {
            Some(e) if e.ends_with('.') => (None, Some(e.clone())),
            Some(e) => (Some(e.clone()), None),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT id, at, actor_id, actor_name, event, target_type, target_id, \
             CASE WHEN success THEN 1 ELSE 0 END AS success, ip, request_id, details \
             FROM audit_events WHERE \
             ($1 = '' OR LOWER(actor_name) = LOWER($1)) AND \
             ($2 = '' OR event = $2) AND ($3 = '' OR substr(event, 1, length($3)) = $3) AND \
             at >= $4 AND at < $5 AND id < $6 ORDER BY id DESC LIMIT $7",
        )
        .bind(f.actor.clone().unwrap_or_default())
        .bind(event_exact.unwrap_or_default())
        .bind(event_prefix.unwrap_or_default())
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.until.unwrap_or(i64::MAX))
        .bind(f.before_id.map_or(i64::MAX, AuditEventId::get))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
