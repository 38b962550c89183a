//! The last-administrator guard. An administrator is an active member of the system
//! `Administrators` group — the one group that holds every right, so its members can always
//! grant any right back. Holding some rights (say `users:update` + `groups:update`) does not
//! count: under the grant rule such a user cannot hand out what they lack, so counting them
//! let the last real administrator leave with nobody able to restore the rest (audit
//! finding 9). Guarded writes take a lock
//! (PostgreSQL advisory lock; SQLite serialises writers itself), apply their change, count
//! administrators inside the same transaction and roll back when none would be left.
//!
//! Threat: two admins demoting each other concurrently; each transaction alone leaves one
//! admin, together none. The lock makes them run one after the other.

use sqlx::{Any, Row, Transaction};

use crate::{Backend, Store, StoreError};

/// The rule the guard applies: an active member of the system `Administrators` group. A
/// value (rather than a constant) so every guarded write names the check it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminCheck;

/// Serialises guarded writes on PostgreSQL (a no-op on SQLite, where writers are serialised).
const PG_ADMIN_LOCK: i64 = 0x7077_6164_6d69_6e73; // "pwadmins"

pub(crate) async fn lock_admins(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
) -> Result<(), StoreError> {
    match backend {
        Backend::Postgres => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_ADMIN_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        // Take SQLite's write lock now, so the count below sees the latest committed state.
        Backend::Sqlite => {
            sqlx::query("UPDATE settings SET key = key WHERE key = ''")
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

const COUNT_SQL: &str = "SELECT COUNT(*) AS n FROM users u WHERE u.disabled = $1 AND EXISTS (\
     SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id \
     WHERE m.user_id = u.id AND g.is_system = $2 AND g.name_key = 'administrators')";

async fn count_admins<'e, E>(executor: E, _check: &AdminCheck) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row = sqlx::query(COUNT_SQL)
        .bind(false)
        .bind(true)
        .fetch_one(executor)
        .await?;
    Ok(row.try_get("n")?)
}

pub(crate) async fn verify_admins(
    tx: &mut Transaction<'static, Any>,
    check: &AdminCheck,
) -> Result<(), StoreError> {
    if count_admins(&mut **tx, check).await? == 0 {
        return Err(StoreError::LastAdministrator);
    }
    Ok(())
}

impl Store {
    /// How many active administrators exist.
    pub async fn count_administrators(&self, check: &AdminCheck) -> Result<i64, StoreError> {
        count_admins(&self.pool, check).await
    }
}
