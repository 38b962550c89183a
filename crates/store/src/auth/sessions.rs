//! Browser sessions: only the SHA-256 of the token is stored (a database dump yields no usable
//! cookie). A session ends by deletion — logout, revoke, expiry, or any change to what its user
//! may do — so "revoked" can never be confused with "still valid".

use pw_domain::{SessionId, SignInStrength, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Key.
    pub id: SessionId,
    /// Whose.
    pub user_id: UserId,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms, written at most once a minute.
    pub last_seen_at: i64,
    /// Absolute expiry, unix ms.
    pub expires_at: i64,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// Client user agent at sign-in.
    pub user_agent: Option<String>,
    /// What the sign-in proved (a group may require more).
    pub strength: SignInStrength,
}

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// Whose.
    pub user_id: UserId,
    /// Hex SHA-256 of the token.
    pub token_digest: &'a str,
    /// Unix ms.
    pub now: i64,
    /// Absolute expiry, unix ms.
    pub expires_at: i64,
    /// Client address.
    pub ip: Option<&'a str>,
    /// Client user agent (truncated by the caller).
    pub user_agent: Option<&'a str>,
    /// What the sign-in proved.
    pub strength: SignInStrength,
}

const COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, strength";

fn from_row(row: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: SessionId::from_db(row.try_get("id")?),
        user_id: UserId::from_db(row.try_get("user_id")?),
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        strength: SignInStrength::from_db(&row.try_get::<String, _>("strength")?),
    })
}

/// Bumps the security stamp of `users` without touching their sessions: what the principal
/// cache holds about them (name, email, group names) changed, their rights did not. Other
/// processes notice at their next revalidation and reload.
pub(crate) async fn touch_stamps(
    tx: &mut Transaction<'static, Any>,
    users: &[UserId],
) -> Result<(), StoreError> {
    for user in users {
        sqlx::query("UPDATE users SET security_stamp = security_stamp + 1 WHERE id = $1")
            .bind(user.get())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Bumps the security stamp of `users` and deletes their sessions (except `keep`), inside the
/// caller's transaction: the change and the revocation commit together or not at all.
pub(crate) async fn invalidate_users(
    tx: &mut Transaction<'static, Any>,
    users: &[UserId],
    keep: Option<SessionId>,
) -> Result<(), StoreError> {
    touch_stamps(tx, users).await?;
    for user in users {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user.get())
            .bind(keep.map_or(0, SessionId::get))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Creates a session.
    pub async fn insert_session(&self, new: &NewSession<'_>) -> Result<SessionId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO sessions (user_id, token_digest, created_at, last_seen_at, expires_at, \
             ip, user_agent, strength) VALUES ($1, $2, $3, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.user_id.get())
        .bind(new.token_digest)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.ip)
        .bind(new.user_agent)
        .bind(new.strength.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(SessionId::from_db(row.try_get("id")?))
    }

    /// The session with this token digest, with its user's current security stamp.
    pub async fn session_by_digest(
        &self,
        digest: &str,
    ) -> Result<Option<(SessionRow, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, \
             s.user_agent, s.strength, u.security_stamp FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((from_row(&row)?, row.try_get("security_stamp")?)))
    }

    /// Whether a session still exists, with its user's current stamp (cache revalidation).
    pub async fn session_stamp(&self, id: SessionId) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT u.security_stamp FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("security_stamp")).transpose()?)
    }

    /// Records activity (callers throttle this to once a minute per session).
    pub async fn touch_session(&self, id: SessionId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that a session's user proved a stronger factor within it (they set one up
    /// with a current code or a new passkey); never lowers it. False when the session is gone.
    pub async fn raise_session_strength(
        &self,
        id: SessionId,
        strength: SignInStrength,
    ) -> Result<bool, StoreError> {
        // The stored forms sort like the strengths do not, so the current one is read first.
        let Some(row) = sqlx::query("SELECT strength FROM sessions WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(false);
        };
        let current = SignInStrength::from_db(&row.try_get::<String, _>("strength")?);
        if current >= strength {
            return Ok(true);
        }
        let n = sqlx::query("UPDATE sessions SET strength = $1 WHERE id = $2 AND strength = $3")
            .bind(strength.as_str())
            .bind(id.get())
            .bind(current.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Replaces a session's token (rotation on privilege change); the old cookie stops working.
    pub async fn rotate_session(
        &self,
        id: SessionId,
        new_digest: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n =
            sqlx::query("UPDATE sessions SET token_digest = $1, last_seen_at = $2 WHERE id = $3")
                .bind(new_digest)
                .bind(now)
                .bind(id.get())
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(n > 0)
    }

    /// A user's sessions that have not expired, newest first.
    pub async fn list_sessions(
        &self,
        user: UserId,
        idle_cutoff: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 \
             AND last_seen_at > $3 ORDER BY created_at DESC, id DESC"
        )))
        .bind(user.get())
        .bind(now)
        .bind(idle_cutoff)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes one of a user's sessions; false when it is not theirs or does not exist.
    pub async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id.get())
            .bind(user.get())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Deletes all of a user's sessions except `keep`; returns how many.
    pub async fn delete_sessions_of(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                .bind(user.get())
                .bind(keep.map_or(0, SessionId::get))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Removes sessions past their absolute expiry or idle too long; returns how many.
    pub async fn delete_expired_sessions(
        &self,
        idle_cutoff: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(idle_cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Bumps stamps and deletes sessions of these users (outside any other change: an admin
    /// "sign out everywhere", a 2FA reset).
    pub async fn invalidate_users(
        &self,
        users: &[UserId],
        keep: Option<SessionId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        invalidate_users(&mut tx, users, keep).await?;
        tx.commit().await?;
        Ok(())
    }
}
