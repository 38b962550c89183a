//! The web restore's PostgreSQL half: the live schema is set aside under a dated name and an
//! empty one takes its place, so a restore writes into an empty database (as the command line
//! demands) while the previous data is kept, whole, until the restore has succeeded — and put
//! back if it fails.
//!
//! Invariants: setting aside and putting back each run in one transaction (PostgreSQL's DDL is
//! transactional: there is never a moment with neither schema in place); relocatable extensions
//! (`pg_trgm`, whose operator class the archive search indexes name) move with the live name,
//! not with the kept copy, so dropping the kept copy later never drops an index of the
//! restored data.

use sqlx::Row;

use crate::{Backend, Store, StoreError};

/// A PostgreSQL schema set aside for a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The live schema's name (`public` usually).
    pub live: String,
    /// The name the previous data is kept under.
    pub kept: String,
}

impl SetAside {
    /// The name the live schema is kept under by a set-aside stamped `stamp` (known before
    /// the set-aside runs, so a journal can name it first).
    #[must_use]
    pub fn kept_name(stamp: i64) -> String {
        format!("printwarden_before_restore_{stamp}")
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn move_extensions(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT e.extname::text AS name FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE n.nspname = $1 AND e.extrelocatable",
    )
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let name: String = row.try_get("name")?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER EXTENSION {} SET SCHEMA {}",
            ident(&name),
            ident(to)
        )))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// PostgreSQL only: renames the live schema to `printwarden_before_restore_<stamp>` and
    /// creates an empty one under the live name. SQLite answers `None` (its file is set aside
    /// with the data directory instead).
    pub async fn set_aside_for_restore(&self, stamp: i64) -> Result<Option<SetAside>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        let live: String = sqlx::query("SELECT current_schema()::text AS s")
            .fetch_one(&mut *tx)
            .await?
            .try_get("s")?;
        let kept = SetAside::kept_name(stamp);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            ident(&live),
            ident(&kept)
        )))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StoreError::Backup(format!(
                "the database account cannot rename the schema {live} to keep the current data \
                 during the restore ({e}); restore with `printwarden backup restore` into an \
                 empty database instead"
            ))
        })?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA {}",
            ident(&live)
        )))
        .execute(&mut *tx)
        .await?;
        move_extensions(&mut tx, &kept, &live).await?;
        tx.commit().await?;
        Ok(Some(SetAside { live, kept }))
    }

    /// PostgreSQL only: the schema set aside under `kept` by [`Store::set_aside_for_restore`],
    /// if it is there — for undoing a restore that a crash cut off (the live name is the
    /// connection's current schema, which the set-aside re-created in the same transaction).
    pub async fn set_aside_named(&self, kept: &str) -> Result<Option<SetAside>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let found = sqlx::query("SELECT 1 AS one FROM pg_namespace WHERE nspname = $1")
            .bind(kept)
            .fetch_optional(&self.pool)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let live: String = sqlx::query("SELECT current_schema()::text AS s")
            .fetch_one(&self.pool)
            .await?
            .try_get("s")?;
        Ok(Some(SetAside {
            live,
            kept: kept.to_owned(),
        }))
    }

    /// Undoes [`Store::set_aside_for_restore`] after a failed restore: drops what the restore
    /// wrote and gives the kept schema its live name back.
    pub async fn put_back_after_restore(&self, aside: &SetAside) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        move_extensions(&mut tx, &aside.live, &aside.kept).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            ident(&aside.live)
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            ident(&aside.kept),
            ident(&aside.live)
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
