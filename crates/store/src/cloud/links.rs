//! A user's link to their Bambu Cloud account: the sealed tokens (sealed by the application,
//! stored as given), their expiry and the link's health.
//!
//! Invariants: one link per user (primary key); a token replacement is conditional on the
//! stored access token still being the one the refresher read, so two refreshers (a request
//! and the background task, or two nodes) never overwrite a newer pair with an older one.

use pw_domain::UserId;
use sqlx::Row;

use crate::{Store, StoreError};

/// A stored link.
#[derive(Clone)]
pub struct CloudLinkRow {
    /// The user.
    pub user_id: UserId,
    /// The Bambu account's email.
    pub email: String,
    /// `global` or `china`.
    pub region: String,
    /// Bambu's user id, when known.
    pub cloud_uid: Option<String>,
    /// The sealed access token.
    pub access_token: String,
    /// The sealed refresh token.
    pub refresh_token: Option<String>,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms.
    pub refresh_expires_at: Option<i64>,
    /// Unix ms.
    pub linked_at: i64,
    /// Unix ms of the last successful refresh.
    pub refreshed_at: Option<i64>,
    /// `linked` or `expired` (Bambu refused the token; the user must sign in again).
    pub state: String,
    /// Why the last refresh failed, in plain words (never a token).
    pub last_error: Option<String>,
}

impl std::fmt::Debug for CloudLinkRow {
    /// Never prints the sealed tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudLinkRow")
            .field("user_id", &self.user_id)
            .field("region", &self.region)
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A link to write (`access_token`/`refresh_token` already sealed for this user's row).
#[derive(Debug)]
pub struct NewCloudLink<'a> {
    /// The user.
    pub user_id: UserId,
    /// Email.
    pub email: &'a str,
    /// Region.
    pub region: &'a str,
    /// Bambu user id.
    pub cloud_uid: Option<&'a str>,
    /// Sealed.
    pub access_token: &'a str,
    /// Sealed.
    pub refresh_token: Option<&'a str>,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms.
    pub refresh_expires_at: Option<i64>,
    /// Unix ms.
    pub now: i64,
}

const COLUMNS: &str = "user_id, email, region, cloud_uid, access_token, refresh_token, \
     expires_at, refresh_expires_at, linked_at, refreshed_at, state, last_error";

fn from_row(row: &sqlx::any::AnyRow) -> Result<CloudLinkRow, StoreError> {
    Ok(CloudLinkRow {
        user_id: UserId::from_db(row.try_get("user_id")?),
        email: row.try_get("email")?,
        region: row.try_get("region")?,
        cloud_uid: row.try_get("cloud_uid")?,
        access_token: row.try_get("access_token")?,
        refresh_token: row.try_get("refresh_token")?,
        expires_at: row.try_get("expires_at")?,
        refresh_expires_at: row.try_get("refresh_expires_at")?,
        linked_at: row.try_get("linked_at")?,
        refreshed_at: row.try_get("refreshed_at")?,
        state: row.try_get("state")?,
        last_error: row.try_get("last_error")?,
    })
}

impl Store {
    /// Creates or replaces the user's link (a new sign-in replaces the old account's tokens).
    pub async fn put_cloud_link(&self, link: &NewCloudLink<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cloud_links (user_id, email, region, cloud_uid, access_token, \
             refresh_token, expires_at, refresh_expires_at, linked_at, refreshed_at, state, \
             last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 'linked', NULL) \
             ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
             region = excluded.region, cloud_uid = excluded.cloud_uid, \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             expires_at = excluded.expires_at, refresh_expires_at = excluded.refresh_expires_at, \
             linked_at = excluded.linked_at, refreshed_at = NULL, state = 'linked', \
             last_error = NULL",
        )
        .bind(link.user_id.get())
        .bind(link.email)
        .bind(link.region)
        .bind(link.cloud_uid)
        .bind(link.access_token)
        .bind(link.refresh_token)
        .bind(link.expires_at)
        .bind(link.refresh_expires_at)
        .bind(link.now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user's link.
    pub async fn cloud_link(&self, user: UserId) -> Result<Option<CloudLinkRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cloud_links WHERE user_id = $1"
        )))
        .bind(user.get())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Deletes the user's link; whether there was one.
    pub async fn delete_cloud_link(&self, user: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM cloud_links WHERE user_id = $1")
            .bind(user.get())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the tokens after a refresh, only if the stored access token is still
    /// `previous` (the one the refresher read); whether it was replaced.
    #[expect(clippy::too_many_arguments, reason = "one row's new token pair")]
    pub async fn replace_cloud_tokens(
        &self,
        user: UserId,
        previous: &str,
        access_token: &str,
        refresh_token: Option<&str>,
        expires_at: i64,
        refresh_expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE cloud_links SET access_token = $1, refresh_token = $2, expires_at = $3, \
             refresh_expires_at = $4, refreshed_at = $5, state = 'linked', last_error = NULL \
             WHERE user_id = $6 AND access_token = $7",
        )
        .bind(access_token)
        .bind(refresh_token)
        .bind(expires_at)
        .bind(refresh_expires_at)
        .bind(now)
        .bind(user.get())
        .bind(previous)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a failed refresh: `expired` when Bambu refused the token, otherwise the link
    /// stays `linked` with the reason (a transient failure).
    pub async fn mark_cloud_link(
        &self,
        user: UserId,
        expired: bool,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cloud_links SET state = CASE WHEN $1 = 1 THEN 'expired' ELSE state END, \
             last_error = $2 WHERE user_id = $3",
        )
        .bind(i64::from(expired))
        .bind(reason)
        .bind(user.get())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every live link, soonest expiry first (the refresher's work list).
    pub async fn cloud_links_live(&self) -> Result<Vec<CloudLinkRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cloud_links WHERE state = 'linked' ORDER BY expires_at, user_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The users who have a cloud link (any state), for the administrators' user list.
    pub async fn cloud_linked_users(
        &self,
    ) -> Result<std::collections::HashSet<UserId>, StoreError> {
        let rows = sqlx::query("SELECT user_id FROM cloud_links")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(UserId::from_db(r.try_get("user_id")?)))
            .collect()
    }
}
