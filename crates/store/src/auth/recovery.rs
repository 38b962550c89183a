//! Password links (S5): set-password and reset tokens, stored as their SHA-256.
//!
//! Invariants: only the newest link of a user for one purpose works (inserting one deletes the
//! earlier ones in the same transaction); redeeming deletes the row in the statement that
//! reads it, so a link works once even when two requests race for it.

use pw_domain::UserId;
use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Stores a set-password or reset token; earlier tokens of the user for the same purpose
    /// die (only the newest link works).
    pub async fn insert_password_token(
        &self,
        digest: &str,
        user: UserId,
        purpose: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM password_tokens WHERE expires_at <= $1 OR (user_id = $2 AND purpose = $3)",
        )
        .bind(now)
        .bind(user.get())
        .bind(purpose)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_tokens (digest, user_id, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest)
        .bind(user.get())
        .bind(purpose)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(())
    }

    /// The user and purpose of a live password token, without using it.
    pub async fn password_token(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<(UserId, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, purpose FROM password_tokens WHERE digest = $1 AND expires_at > $2",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_owner).transpose()?)
    }

    /// Redeems a password token: returns `(user, purpose)` and deletes it, if it is live.
    pub async fn redeem_password_token(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<(UserId, String)>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM password_tokens WHERE digest = $1 AND expires_at > $2 \
             RETURNING user_id, purpose",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_owner).transpose()?)
    }
}

/// `(user, purpose)` of a password token row.
fn token_owner(r: &sqlx::any::AnyRow) -> Result<(UserId, String), sqlx::Error> {
    Ok((
        UserId::from_db(r.try_get("user_id")?),
        r.try_get("purpose")?,
    ))
}
