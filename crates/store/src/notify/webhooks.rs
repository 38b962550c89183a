//! Outbound webhooks: the target, its sealed secret (stored as given by the application, which
//! seals it), the event filter and the outcome of the latest delivery.

use pw_domain::{UserId, WebhookId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::page::{Clause, PageAfter, Value};
use crate::{Store, StoreError, flag};

/// A stored webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// Id.
    pub id: WebhookId,
    /// Label.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// The sealed secret, if one is set.
    pub secret: Option<String>,
    /// Event filter as a JSON array.
    pub events: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// The latest delivery, if any.
    pub last: Option<DeliveryRecord>,
    /// How it delivers: `printwarden`, `ntfy` or `discord`.
    pub kind: String,
}

/// The outcome of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Unix ms.
    pub at: i64,
    /// The event delivered.
    pub event: String,
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// What went wrong, safe to show.
    pub error: Option<String>,
}

/// Fields of a new webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// Label.
    pub name: &'a str,
    /// Target URL.
    pub url: &'a str,
    /// Sealed secret.
    pub secret: Option<&'a str>,
    /// Event filter JSON.
    pub events: &'a str,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Creator.
    pub created_by: Option<UserId>,
    /// How it delivers: `printwarden`, `ntfy` or `discord`.
    pub kind: &'a str,
}

/// A change to a webhook; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch<'a> {
    /// Label.
    pub name: Option<&'a str>,
    /// Target URL.
    pub url: Option<&'a str>,
    /// `Some(None)` removes the secret, `Some(Some(s))` replaces it.
    pub secret: Option<Option<&'a str>>,
    /// Event filter JSON.
    pub events: Option<&'a str>,
    /// Whether events are delivered.
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT id, name, url, secret, events, \
     CASE WHEN enabled THEN 1 ELSE 0 END AS enabled, created_by, created_at, updated_at, \
     last_delivery_at, last_event, CASE WHEN last_ok THEN 1 ELSE 0 END AS last_ok, \
     last_status, last_error, kind FROM webhooks";

fn from_row(row: &AnyRow) -> Result<WebhookRow, sqlx::Error> {
    let last_at: Option<i64> = row.try_get("last_delivery_at")?;
    let last = match last_at {
        None => None,
        Some(at) => Some(DeliveryRecord {
            at,
            event: row
                .try_get::<Option<String>, _>("last_event")?
                .unwrap_or_default(),
            ok: flag(row, "last_ok")?,
            status: row
                .try_get::<Option<i64>, _>("last_status")?
                .and_then(|s| u16::try_from(s).ok()),
            error: row.try_get("last_error")?,
        }),
    };
    Ok(WebhookRow {
        id: WebhookId::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        events: row.try_get("events")?,
        enabled: flag(row, "enabled")?,
        created_by: row
            .try_get::<Option<i64>, _>("created_by")?
            .map(UserId::from_db),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last,
        kind: row.try_get("kind")?,
    })
}

impl Store {
    /// Every webhook, oldest first.
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// One page of webhooks, oldest first (by id).
    pub async fn webhooks_page(&self, page: &PageAfter) -> Result<Vec<WebhookRow>, StoreError> {
        let mut c = Clause::default();
        c.after_id(page, "id");
        let limit = c.bind(Value::Int(page.fetch));
        let sql = format!("{SELECT}{} ORDER BY id LIMIT {limit}", c.where_sql());
        c.fetch_all(&self.pool, sql, from_row).await
    }

    /// The enabled webhooks (what the dispatcher reads per event).
    pub async fn enabled_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE enabled ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// One webhook.
    pub async fn webhook(&self, id: WebhookId) -> Result<Option<WebhookRow>, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        self.fetch_one_by(sql, id.get(), from_row).await
    }

    /// Creates a webhook.
    pub async fn insert_webhook(
        &self,
        new: &NewWebhook<'_>,
        now: i64,
    ) -> Result<WebhookId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO webhooks (name, url, secret, events, enabled, created_by, created_at, \
             updated_at, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
        )
        .bind(new.name)
        .bind(new.url)
        .bind(new.secret)
        .bind(new.events)
        .bind(new.enabled)
        .bind(new.created_by.map(UserId::get))
        .bind(now)
        .bind(new.kind)
        .fetch_one(&self.pool)
        .await?;
        Ok(WebhookId::from_db(row.try_get("id")?))
    }

    /// Applies a change; false when the webhook does not exist.
    pub async fn update_webhook(
        &self,
        id: WebhookId,
        patch: &WebhookPatch<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        // COALESCE keeps a field the patch leaves out; the secret needs a separate flag
        // because "remove" is a NULL of its own.
        let done = sqlx::query(
            "UPDATE webhooks SET name = COALESCE($2, name), url = COALESCE($3, url), \
             secret = CASE WHEN $4 = 1 THEN $5 ELSE secret END, \
             events = COALESCE($6, events), enabled = COALESCE($7, enabled), updated_at = $8 \
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(patch.name)
        .bind(patch.url)
        .bind(i64::from(patch.secret.is_some()))
        .bind(patch.secret.flatten())
        .bind(patch.events)
        .bind(patch.enabled)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a webhook; false when it did not exist.
    pub async fn delete_webhook(&self, id: WebhookId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the outcome of a delivery.
    pub async fn record_delivery(
        &self,
        id: WebhookId,
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhooks SET last_delivery_at = $2, last_event = $3, last_ok = $4, \
             last_status = $5, last_error = $6 WHERE id = $1",
        )
        .bind(id.get())
        .bind(record.at)
        .bind(record.event.as_str())
        .bind(record.ok)
        .bind(record.status.map(i64::from))
        .bind(record.error.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
