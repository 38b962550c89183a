//! The last-administrator guard. An administrator is an active user who is a member of the
//! system `Administrators` group or holds every "core" permission (the rights that let one
//! grant any other right back: the application passes them in). Guarded writes take a lock
//! (PostgreSQL advisory lock; SQLite serialises writers itself), apply their change, count
//! administrators inside the same transaction and roll back when none would be left.
//!
//! Threat: two admins demoting each other concurrently; each transaction alone leaves one
//! admin, together none. The lock makes them run one after the other.

use sqlx::{Any, Row, Transaction};

use crate::{Backend, Store, StoreError};

/// The permissions that make a user an administrator (besides `Administrators` membership).
#[derive(Debug, Clone)]
pub struct AdminCheck {
    /// `resource:action` strings; a user must hold all of them.
    pub core_permissions: Vec<&'static str>,
}

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

fn count_sql(check: &AdminCheck) -> String {
    let mut sql = String::from(
        "SELECT COUNT(*) AS n FROM users u WHERE u.disabled = $1 AND (EXISTS (\
         SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id \
         WHERE m.user_id = u.id AND g.is_system = $2 AND g.name_key = 'administrators')",
    );
    if !check.core_permissions.is_empty() {
        sql.push_str(" OR (");
        for i in 0..check.core_permissions.len() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            sql.push_str(&format!(
                "EXISTS (SELECT 1 FROM group_members m JOIN group_permissions p \
                 ON p.group_id = m.group_id WHERE m.user_id = u.id AND p.permission = ${})",
                i + 3
            ));
        }
        sql.push(')');
    }
    sql.push(')');
    sql
}

async fn count_admins<'e, E>(executor: E, check: &AdminCheck) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let sql = count_sql(check);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(false).bind(true);
    for p in &check.core_permissions {
        query = query.bind(*p);
    }
    let row = query.fetch_one(executor).await?;
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
