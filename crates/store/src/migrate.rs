//! Forward-only migrations, one SQL file per backend per version. Each applied migration is
//! recorded with the SHA-256 of its SQL; a database whose history differs from what this binary
//! ships (an edited migration, or one from a newer printwarden) is refused instead of being
//! silently "repaired".

use sha2::{Digest, Sha256};
use sqlx::{Acquire, Row};

use crate::{Backend, Store, StoreError};

/// One schema version.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Monotonic version number (the file name prefix).
    pub version: i64,
    /// Short name (the rest of the file name).
    pub name: &'static str,
    /// DDL for SQLite.
    pub sqlite: &'static str,
    /// DDL for PostgreSQL.
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }

    fn checksum(&self, backend: Backend) -> String {
        hex::encode(Sha256::digest(self.sql(backend).as_bytes()))
    }
}

macro_rules! migration {
    ($version:literal, $prefix:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(
                "../migrations/sqlite/",
                $prefix,
                "_",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                "../migrations/postgres/",
                $prefix,
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

/// Every migration this binary ships, in order. File names are `NNNN_name.sql`.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001", "init"),
    migration!(2, "0002", "identity"),
    migration!(3, "0003", "webhooks"),
    migration!(4, "0004", "printers"),
    migration!(5, "0005", "tickets"),
    migration!(6, "0006", "camera_tokens"),
    migration!(7, "0007", "second_factors"),
    migration!(8, "0008", "print_jobs"),
    migration!(9, "0009", "ticket_bounds"),
    migration!(10, "0010", "print_job_names"),
    migration!(11, "0011", "library"),
    migration!(12, "0012", "archives"),
    migration!(13, "0013", "print_job_files"),
    migration!(14, "0014", "archive_media"),
    migration!(15, "0015", "queue"),
    migration!(16, "0016", "dispatch"),
    migration!(17, "0017", "projects"),
    migration!(18, "0018", "archive_search"),
    migration!(20, "0020", "webhook_kinds"),
    migration!(21, "0021", "printer_groups"),
    migration!(22, "0022", "queue_claim"),
    migration!(23, "0023", "oidc"),
    migration!(24, "0024", "passkeys"),
    migration!(25, "0025", "sign_in_rules"),
    migration!(29, "0029", "archive_reach"),
    migration!(30, "0030", "cloud_links"),
];

/// A migration that was applied by [`Store::migrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: &'static str,
}

/// Serialises concurrent migrators on one PostgreSQL database (several nodes starting at once).
const PG_MIGRATION_LOCK: i64 = 0x7077_6d69_6772_6174; // "pwmigrat"

impl Store {
    /// Applies pending migrations; returns the ones applied now. Each runs in a transaction.
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        self.migrate_until(i64::MAX).await
    }

    /// Applies the pending migrations up to and including `last_version` (a restore brings
    /// the schema to the backup's version, inserts its rows, then migrates the rest so that
    /// later migrations transform restored rows as they would have transformed the originals).
    pub async fn migrate_through(
        &self,
        last_version: i64,
    ) -> Result<Vec<AppliedMigration>, StoreError> {
        self.migrate_until(last_version).await
    }

    /// The versions recorded as applied, in order (none for a database never migrated).
    pub async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists = match self.backend() {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
            }
        };
        let n: i64 = sqlx::query(exists)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?)
    }

    async fn migrate_until(&self, last_version: i64) -> Result<Vec<AppliedMigration>, StoreError> {
        let backend = self.backend();
        let mut conn = self.pool.acquire().await?;
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let result = async {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (\
                 version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, \
                 checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
                .fetch_all(&mut *conn)
                .await?;
            let mut applied_versions = Vec::with_capacity(rows.len());
            for row in rows {
                let version: i64 = row.try_get("version")?;
                let checksum: String = row.try_get("checksum")?;
                let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
                    return Err(StoreError::MigrationMismatch(format!(
                        "the database has schema version {version}, which this printwarden does not know; \
                         it was upgraded by a newer release — run that release, or restore a backup"
                    )));
                };
                if known.checksum(backend) != checksum {
                    return Err(StoreError::MigrationMismatch(format!(
                        "migration {version} ({}) differs from the one applied to this database; \
                         migrations are append-only and must never be edited",
                        known.name
                    )));
                }
                applied_versions.push(version);
            }
            let mut applied_now = Vec::new();
            for migration in MIGRATIONS
                .iter()
                .filter(|m| !applied_versions.contains(&m.version) && m.version <= last_version)
            {
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(migration.sql(backend)).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(migration.version)
                .bind(migration.name)
                .bind(migration.checksum(backend))
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                tracing::info!(version = migration.version, name = migration.name, "applied migration");
                applied_now.push(AppliedMigration { version: migration.version, name: migration.name });
            }
            Ok(applied_now)
        }
        .await;
        if backend == Backend::Postgres {
            // Session-level lock: release it even when migrating failed.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *conn)
                .await;
        }
        result
    }

    /// The schema as (table, column) pairs, sorted; used to prove both backends agree.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                // Less the archive search index (0018): SQLite's own FTS5 tables, which
                // PostgreSQL answers with indexes on `archives` instead.
                "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name NOT LIKE 'archives_search%'"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                 WHERE table_schema = current_schema()"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut columns = rows
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("t")?, r.try_get::<String, _>("c")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        columns.sort();
        Ok(columns)
    }
}

/// Wall-clock time in unix milliseconds (the store's time format).
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_for_both_backends() {
        for backend in ["sqlite", "postgres"] {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/");
            let mut files: Vec<String> = std::fs::read_dir(format!("{dir}{backend}"))
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            let listed: Vec<String> = MIGRATIONS
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name))
                .collect();
            assert_eq!(files, listed, "{backend} migrations on disk vs MIGRATIONS");
        }
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
