//! Passkeys (WebAuthn credentials): the per-user handle, the registered credentials with
//! their counters and backup flags, and the ceremony challenges.
//!
//! Invariants: a challenge is used once — the `DELETE … RETURNING` that reads it also removes
//! it, so two requests with one challenge cannot both go on; a counter is only written over
//! the value it was checked against (compare and swap), so two assertions racing past the same
//! stored counter cannot both be accepted; a credential id is unique across all users.

use pw_domain::{SessionId, UserId};
use sqlx::Row;

use crate::{Store, StoreError};

/// A registered passkey.
#[derive(Debug, Clone)]
pub struct PasskeyRow {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: UserId,
    /// Credential id, base64url.
    pub credential_id: String,
    /// COSE public key, base64url.
    pub public_key: String,
    /// COSE algorithm.
    pub algorithm: i64,
    /// The owner's name for it.
    pub name: String,
    /// Last accepted signature counter.
    pub sign_count: i64,
    /// May be synced (fixed at registration).
    pub backup_eligible: bool,
    /// Was backed up at its last use.
    pub backup_state: bool,
    /// Authenticator model, hex.
    pub aaguid: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last sign-in with it.
    pub last_used_at: Option<i64>,
}

/// A passkey to store.
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    /// Owner.
    pub user_id: UserId,
    /// Credential id, base64url.
    pub credential_id: &'a str,
    /// COSE public key, base64url.
    pub public_key: &'a str,
    /// COSE algorithm.
    pub algorithm: i64,
    /// Display name.
    pub name: &'a str,
    /// Initial counter.
    pub sign_count: i64,
    /// Backup eligible.
    pub backup_eligible: bool,
    /// Backed up.
    pub backup_state: bool,
    /// AAGUID, hex.
    pub aaguid: &'a str,
    /// Unix ms.
    pub now: i64,
}

/// A ceremony challenge taken from the store.
#[derive(Debug, Clone)]
pub struct PasskeyChallengeRow {
    /// The challenge bytes, base64url.
    pub challenge: String,
    /// The user it was issued for (registration and second factor).
    pub user_id: Option<UserId>,
    /// The session it was issued in (registration).
    pub session_id: Option<SessionId>,
}

macro_rules! columns {
    () => {
        "id, user_id, credential_id, public_key, algorithm, name, sign_count, \
         CASE WHEN backup_eligible THEN 1 ELSE 0 END AS backup_eligible, \
         CASE WHEN backup_state THEN 1 ELSE 0 END AS backup_state, aaguid, created_at, \
         last_used_at"
    };
}

fn passkey(row: &sqlx::any::AnyRow) -> Result<PasskeyRow, sqlx::Error> {
    Ok(PasskeyRow {
        id: row.try_get("id")?,
        user_id: UserId::from_db(row.try_get("user_id")?),
        credential_id: row.try_get("credential_id")?,
        public_key: row.try_get("public_key")?,
        algorithm: row.try_get("algorithm")?,
        name: row.try_get("name")?,
        sign_count: row.try_get("sign_count")?,
        backup_eligible: crate::flag(row, "backup_eligible")?,
        backup_state: crate::flag(row, "backup_state")?,
        aaguid: row.try_get("aaguid")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    /// The user's WebAuthn handle, made from `fresh` on first use (the first writer wins).
    pub async fn passkey_handle(&self, user: UserId, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO passkey_users (user_id, handle) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.get())
        .bind(fresh)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        let row = sqlx::query("SELECT handle FROM passkey_users WHERE user_id = $1")
            .bind(user.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("handle")?)
    }

    /// The user a handle belongs to.
    pub async fn user_by_passkey_handle(&self, handle: &str) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query("SELECT user_id FROM passkey_users WHERE handle = $1")
            .bind(handle)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("user_id").map(UserId::from_db))
            .transpose()?)
    }

    /// Stores a passkey; `Conflict` when its credential id is registered already.
    pub async fn insert_passkey(&self, new: &NewPasskey<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO passkeys (user_id, credential_id, public_key, algorithm, name, \
             sign_count, backup_eligible, backup_state, aaguid, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(new.user_id.get())
        .bind(new.credential_id)
        .bind(new.public_key)
        .bind(new.algorithm)
        .bind(new.name)
        .bind(new.sign_count)
        .bind(new.backup_eligible)
        .bind(new.backup_state)
        .bind(new.aaguid)
        .bind(new.now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(row.try_get("id")?)
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys_of(&self, user: UserId) -> Result<Vec<PasskeyRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(passkey)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// How many passkeys the user has.
    pub async fn passkey_count(&self, user: UserId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM passkeys WHERE user_id = $1")
            .bind(user.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The passkey with this credential id, whoever owns it.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(passkey).transpose()?)
    }

    /// Records a sign-in with a passkey: the new counter is written only over `checked`, the
    /// counter the assertion was verified against. False when another sign-in moved it first.
    pub async fn use_passkey(
        &self,
        id: i64,
        checked: i64,
        sign_count: i64,
        backup_state: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE passkeys SET sign_count = $1, backup_state = $2, last_used_at = $3 \
             WHERE id = $4 AND sign_count = $5",
        )
        .bind(sign_count)
        .bind(backup_state)
        .bind(now)
        .bind(id)
        .bind(checked)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Removes one of the user's passkeys: false when it is not theirs or already gone.
    pub async fn delete_passkey(&self, user: UserId, id: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.get())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Renames one of the user's passkeys: false when it is not theirs or gone (the owner is
    /// in the statement, so another user's id changes nothing).
    pub async fn rename_passkey(
        &self,
        user: UserId,
        id: i64,
        name: &str,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user.get())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Stores a ceremony challenge under the digest of its cookie value (dropping expired
    /// ones).
    #[expect(clippy::too_many_arguments, reason = "one bound value per column")]
    pub async fn insert_passkey_challenge(
        &self,
        digest: &str,
        purpose: &str,
        user: Option<UserId>,
        session: Option<SessionId>,
        challenge: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM passkey_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO passkey_challenges (digest, purpose, user_id, session_id, challenge, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(digest)
        .bind(purpose)
        .bind(user.map(UserId::get))
        .bind(session.map(SessionId::get))
        .bind(challenge)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Takes (reads and deletes, in one statement) a live challenge of `purpose`: `None` when
    /// it is unknown, expired, of another purpose, or already taken.
    pub async fn take_passkey_challenge(
        &self,
        digest: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallengeRow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM passkey_challenges WHERE digest = $1 AND purpose = $2 \
             AND expires_at > $3 RETURNING challenge, user_id, session_id",
        )
        .bind(digest)
        .bind(purpose)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<PasskeyChallengeRow, sqlx::Error> {
                Ok(PasskeyChallengeRow {
                    challenge: r.try_get("challenge")?,
                    user_id: r.try_get::<Option<i64>, _>("user_id")?.map(UserId::from_db),
                    session_id: r
                        .try_get::<Option<i64>, _>("session_id")?
                        .map(SessionId::from_db),
                })
            })
            .transpose()?)
    }
}
