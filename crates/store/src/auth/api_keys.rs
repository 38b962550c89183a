//! API keys: the id is public (it is in the key), only the SHA-256 of the secret is stored.
//! Keys belong to a user and go with them (`ON DELETE CASCADE`).

use pw_domain::{ApiKeyId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::page::{Clause, OwnerFilter, PageAfter, Value};
use crate::{Store, StoreError};

/// A stored key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Key id.
    pub id: ApiKeyId,
    /// Owner.
    pub user_id: UserId,
    /// Owner's username (for admin lists).
    pub username: String,
    /// Label.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub secret_digest: String,
    /// Scopes as a JSON array of permission strings.
    pub scopes: String,
    /// Printer restriction as a JSON array of ids, `None` = all printers.
    pub printer_ids: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: Option<i64>,
    /// Unix ms, written at most once a minute.
    pub last_used_at: Option<i64>,
    /// `api` or `camera`.
    pub kind: String,
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// Owner.
    pub user_id: UserId,
    /// Label.
    pub name: &'a str,
    /// Scopes JSON.
    pub scopes: &'a str,
    /// Printer restriction JSON.
    pub printer_ids: Option<&'a str>,
    /// Unix ms.
    pub now: i64,
    /// Unix ms.
    pub expires_at: Option<i64>,
    /// `api` or `camera`.
    pub kind: &'a str,
}

const SELECT: &str = "SELECT k.id, k.user_id, u.username, k.name, k.secret_digest, k.scopes, \
     k.printer_ids, k.created_at, k.expires_at, k.last_used_at, k.kind \
     FROM api_keys k JOIN users u ON u.id = k.user_id";

fn from_row(row: &AnyRow) -> Result<ApiKeyRow, sqlx::Error> {
    Ok(ApiKeyRow {
        id: ApiKeyId::from_db(row.try_get("id")?),
        user_id: UserId::from_db(row.try_get("user_id")?),
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        secret_digest: row.try_get("secret_digest")?,
        scopes: row.try_get("scopes")?,
        printer_ids: row.try_get("printer_ids")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        kind: row.try_get("kind")?,
    })
}

impl Store {
    /// Reserves an id for a new key. The secret's digest is written by [`Store::seal_api_key`]
    /// once the caller has built the key string (which contains the id).
    pub async fn insert_api_key(&self, new: &NewApiKey<'_>) -> Result<ApiKeyId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_keys (user_id, name, secret_digest, scopes, printer_ids, \
             created_at, expires_at, kind) VALUES ($1, $2, '', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.user_id.get())
        .bind(new.name)
        .bind(new.scopes)
        .bind(new.printer_ids)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.kind)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(ApiKeyId::from_db(row.try_get("id")?))
    }

    /// Sets the digest of a key reserved by [`Store::insert_api_key`]. Until then the key's
    /// digest is empty, which no presented secret can match.
    pub async fn seal_api_key(&self, id: ApiKeyId, digest: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET secret_digest = $1 WHERE id = $2 AND secret_digest = ''")
            .bind(digest)
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One key.
    pub async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!("{SELECT} WHERE k.id = $1");
        self.fetch_one_by(sql, id.get(), from_row).await
    }

    /// One page of the keys of one `kind` that `owner` lets through, newest first (by id).
    pub async fn api_keys_page(
        &self,
        kind: &str,
        owner: OwnerFilter,
        page: &PageAfter,
    ) -> Result<Vec<ApiKeyRow>, StoreError> {
        let mut c = Clause::default();
        let kind_mark = c.bind(Value::Text(kind.to_owned()));
        c.and(&format!("k.kind = {kind_mark}"));
        c.owner(owner, "k.user_id");
        c.before_id(page, "k.id");
        let limit = c.bind(Value::Int(page.fetch));
        let sql = format!("{SELECT}{} ORDER BY k.id DESC LIMIT {limit}", c.where_sql());
        c.fetch_all(&self.pool, sql, from_row).await
    }

    /// Deletes a key; false when it does not exist.
    pub async fn delete_api_key(&self, id: ApiKeyId) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Records use (callers throttle this to once a minute per key).
    pub async fn touch_api_key(&self, id: ApiKeyId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
