//! Second factors (S4): TOTP state, backup codes, emailed codes and sign-in challenges.
//!
//! Invariants: every "use once" is one conditional statement whose affected-row count decides
//! (a TOTP step moves only forward, a backup code or challenge row is deleted by the request
//! that uses it), so two concurrent requests with the same code cannot both succeed; only
//! digests of codes and challenges are stored; resetting a user's second factors also ends
//! their sessions in the same transaction.

use pw_domain::UserId;
use sqlx::Row;

use crate::auth::sessions::invalidate_users;
use crate::{Store, StoreError};

/// A user's second-factor state.
#[derive(Debug, Clone, Default)]
pub struct MfaRow {
    /// Sealed TOTP secret of the enabled factor.
    pub totp_secret: Option<String>,
    /// Sealed TOTP secret of an enrolment not yet confirmed.
    pub totp_pending: Option<String>,
    /// Last accepted time step.
    pub totp_last_step: Option<i64>,
    /// Emailed codes are enabled.
    pub email_enabled: bool,
    /// Registered passkeys.
    pub passkeys: i64,
}

impl MfaRow {
    /// Whether sign-in needs a second factor.
    #[must_use]
    pub fn any_enabled(&self) -> bool {
        self.totp_secret.is_some() || self.email_enabled || self.passkeys > 0
    }
}

/// A stored emailed code.
#[derive(Debug, Clone)]
pub struct EmailCodeRow {
    /// Hex digest of the code.
    pub digest: String,
    /// Unix ms.
    pub expires_at: i64,
    /// Wrong tries so far.
    pub attempts: i64,
}

/// What to do with an emailed code after a wrong try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tries {
    /// Tries left.
    Left,
    /// The code is void now.
    Exhausted,
}

impl Store {
    /// The user's second-factor state (default when they have none).
    pub async fn user_mfa(&self, user: UserId) -> Result<MfaRow, StoreError> {
        let row = sqlx::query(
            "SELECT totp_secret, totp_pending, totp_last_step, \
             CASE WHEN email_enabled THEN 1 ELSE 0 END AS email_enabled \
             FROM user_mfa WHERE user_id = $1",
        )
        .bind(user.get())
        .fetch_optional(&self.pool)
        .await?;
        let passkeys = self.passkey_count(user).await?;
        let Some(row) = row else {
            return Ok(MfaRow {
                passkeys,
                ..MfaRow::default()
            });
        };
        Ok(MfaRow {
            passkeys,
            totp_secret: row.try_get("totp_secret")?,
            totp_pending: row.try_get("totp_pending")?,
            totp_last_step: row.try_get("totp_last_step")?,
            email_enabled: crate::flag(&row, "email_enabled")?,
        })
    }

    async fn ensure_mfa_row(&self, user: UserId, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_mfa (user_id, updated_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.get())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Every user with a second factor on (for the users list).
    pub async fn users_with_second_factor(&self) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id FROM user_mfa WHERE totp_secret IS NOT NULL OR email_enabled \
             UNION SELECT DISTINCT user_id FROM passkeys",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>("user_id").map(UserId::from_db))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores a new, unconfirmed TOTP secret (replacing any earlier unconfirmed one).
    pub async fn set_totp_pending(
        &self,
        user: UserId,
        sealed: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.ensure_mfa_row(user, now).await?;
        sqlx::query("UPDATE user_mfa SET totp_pending = $1, updated_at = $2 WHERE user_id = $3")
            .bind(sealed)
            .bind(now)
            .bind(user.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes the pending secret the active one and replaces the backup codes, if the pending
    /// secret is still `pending` and `step` is later than the last accepted one. False when
    /// another request got there first (a new enrolment, or the same code used twice).
    pub async fn enable_totp(
        &self,
        user: UserId,
        pending: &str,
        step: i64,
        backup_digests: &[String],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE user_mfa SET totp_secret = totp_pending, totp_pending = NULL, \
             totp_last_step = $1, updated_at = $2 \
             WHERE user_id = $3 AND totp_pending = $4 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(now)
        .bind(user.get())
        .bind(pending)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(false);
        }
        replace_backup_codes(&mut tx, user, backup_digests).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records `step` as used if it is later than the last accepted one: false means the code
    /// was already used (threat: replaying an observed code within its validity window).
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE user_mfa SET totp_last_step = $1 \
             WHERE user_id = $2 AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(user.get())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Removes TOTP (active and pending) and the backup codes; keeps the last step, so an old
    /// code stays spent if TOTP is enrolled again with the same secret.
    pub async fn disable_totp(&self, user: UserId, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE user_mfa SET totp_secret = NULL, totp_pending = NULL, updated_at = $1 \
             WHERE user_id = $2",
        )
        .bind(now)
        .bind(user.get())
        .execute(&mut *tx)
        .await?;
        replace_backup_codes(&mut tx, user, &[]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the user's backup codes (the old set dies in the same transaction).
    pub async fn replace_backup_codes(
        &self,
        user: UserId,
        digests: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        replace_backup_codes(&mut tx, user, digests).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's unused backup codes as `(row id, hex digest)`.
    pub async fn backup_codes(&self, user: UserId) -> Result<Vec<(i64, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT id, digest FROM backup_codes WHERE user_id = $1 ORDER BY id")
                .bind(user.get())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("digest")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Spends one backup code: false if it was spent already (by a concurrent request).
    pub async fn use_backup_code(&self, user: UserId, id: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query("DELETE FROM backup_codes WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.get())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Switches emailed codes on or off.
    pub async fn set_email_mfa(
        &self,
        user: UserId,
        enabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.ensure_mfa_row(user, now).await?;
        sqlx::query("UPDATE user_mfa SET email_enabled = $1, updated_at = $2 WHERE user_id = $3")
            .bind(enabled)
            .bind(now)
            .bind(user.get())
            .execute(&self.pool)
            .await?;
        if !enabled {
            sqlx::query("DELETE FROM email_codes WHERE user_id = $1")
                .bind(user.get())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Removes every second factor of the user and ends their sessions (admin reset).
    pub async fn reset_mfa(&self, user: UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in [
            "DELETE FROM user_mfa WHERE user_id = $1",
            "DELETE FROM backup_codes WHERE user_id = $1",
            "DELETE FROM email_codes WHERE user_id = $1",
            "DELETE FROM mfa_challenges WHERE user_id = $1",
            // A lost device is a lost passkey too: the reset removes them (issue 19).
            "DELETE FROM passkeys WHERE user_id = $1",
            "DELETE FROM passkey_challenges WHERE user_id = $1",
        ] {
            sqlx::query(table)
                .bind(user.get())
                .execute(&mut *tx)
                .await?;
        }
        invalidate_users(&mut tx, &[user], None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many codes were mailed to the user since `since` (unix ms).
    pub async fn email_code_sends(&self, user: UserId, since: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM email_code_sends WHERE user_id = $1 AND sent_at > $2",
        )
        .bind(user.get())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Stores a new emailed code for `purpose` (voiding the previous one) and records the send;
    /// send records older than `forget_before` are dropped.
    pub async fn store_email_code(
        &self,
        user: UserId,
        purpose: &str,
        digest: &str,
        expires_at: i64,
        now: i64,
        forget_before: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2")
            .bind(user.get())
            .bind(purpose)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_codes (user_id, purpose, digest, expires_at, attempts) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(user.get())
        .bind(purpose)
        .bind(digest)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        sqlx::query("DELETE FROM email_code_sends WHERE user_id = $1 AND sent_at <= $2")
            .bind(user.get())
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO email_code_sends (user_id, sent_at) VALUES ($1, $2)")
            .bind(user.get())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live emailed code for `purpose`, if any.
    pub async fn email_code(
        &self,
        user: UserId,
        purpose: &str,
        now: i64,
    ) -> Result<Option<EmailCodeRow>, StoreError> {
        let row = sqlx::query(
            "SELECT digest, expires_at, attempts FROM email_codes \
             WHERE user_id = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(user.get())
        .bind(purpose)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<EmailCodeRow, sqlx::Error> {
                Ok(EmailCodeRow {
                    digest: r.try_get("digest")?,
                    expires_at: r.try_get("expires_at")?,
                    attempts: r.try_get::<i64, _>("attempts")?,
                })
            })
            .transpose()?)
    }

    /// Counts a wrong try; the code is deleted once `max` wrong tries are reached.
    pub async fn fail_email_code(
        &self,
        user: UserId,
        purpose: &str,
        max: i64,
    ) -> Result<Tries, StoreError> {
        sqlx::query(
            "UPDATE email_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2",
        )
        .bind(user.get())
        .bind(purpose)
        .execute(&self.pool)
        .await?;
        let voided = sqlx::query(
            "DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2 AND attempts >= $3",
        )
        .bind(user.get())
        .bind(purpose)
        .bind(max)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if voided > 0 {
            Tries::Exhausted
        } else {
            Tries::Left
        })
    }

    /// Spends the emailed code with this digest: false if it is gone (used, voided, replaced).
    pub async fn use_email_code(
        &self,
        user: UserId,
        purpose: &str,
        digest: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "DELETE FROM email_codes WHERE user_id = $1 AND purpose = $2 AND digest = $3 \
             AND expires_at > $4",
        )
        .bind(user.get())
        .bind(purpose)
        .bind(digest)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Stores a sign-in challenge (and drops expired ones).
    pub async fn insert_challenge(
        &self,
        digest: &str,
        user: UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_challenges (digest, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(user.get())
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// The user a live challenge belongs to (it stays usable).
    pub async fn challenge_user(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<UserId>, StoreError> {
        let row =
            sqlx::query("SELECT user_id FROM mfa_challenges WHERE digest = $1 AND expires_at > $2")
                .bind(digest)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("user_id").map(UserId::from_db))
            .transpose()?)
    }

    /// Consumes a live challenge: true for exactly one caller.
    pub async fn consume_challenge(&self, digest: &str, now: i64) -> Result<bool, StoreError> {
        let changed =
            sqlx::query("DELETE FROM mfa_challenges WHERE digest = $1 AND expires_at > $2")
                .bind(digest)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed == 1)
    }
}

async fn replace_backup_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    digests: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user.get())
        .execute(&mut **tx)
        .await?;
    for digest in digests {
        sqlx::query("INSERT INTO backup_codes (user_id, digest) VALUES ($1, $2)")
            .bind(user.get())
            .bind(digest.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
