//! Imports from other farm tools (issue 22 item 4): reading a foreign SQLite file read-only,
//! and writing one planned import in ONE transaction.
//!
//! Invariants: the foreign file is opened read-only and never written; a batch is committed
//! whole or not at all — every natural key (username, group name, printer serial, archive
//! entry) is checked again inside the transaction, and anything already present refuses the
//! whole batch ([`StoreError::Conflict`]) instead of being overwritten. The store stays free
//! of cryptography: access codes are sealed by the caller's closure once the printer's row id
//! exists (the sealing context names the row).

use std::path::Path;

use pw_domain::{Email, GroupId, GroupName, PrinterId, UserId, Username};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::accounts::users::add_member;
use crate::{Store, StoreError};

/// A foreign tool's SQLite database, opened read-only.
#[derive(Debug)]
pub struct SourceDb {
    pool: sqlx::SqlitePool,
}

/// Quotes an SQL identifier (names come from our own readers, checked against the file's
/// catalogue first; quoting keeps an odd name from ever becoming SQL).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SourceDb {
    /// Opens `path` read-only. A missing file or one that is not SQLite is an error.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        // Reading the catalogue proves the file is a database at all.
        sqlx::query("SELECT name FROM sqlite_master LIMIT 1")
            .fetch_all(&pool)
            .await?;
        Ok(Self { pool })
    }

    /// The names of its tables.
    pub async fn tables(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name").map_err(StoreError::from))
            .collect()
    }

    /// The column names of `table` (empty when the table does not exist).
    pub async fn columns(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM pragma_table_info($1)")
            .bind(table)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name").map_err(StoreError::from))
            .collect()
    }

    /// Every row of `table`, the given columns as text (NULL as `None`), in rowid order. A
    /// column the table lacks reads as NULL, so callers check the columns they require first.
    pub async fn rows(
        &self,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let present = self.columns(table).await?;
        let select: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if present.iter().any(|p| p == c) {
                    format!("CAST({} AS TEXT) AS c{i}", ident(c))
                } else {
                    format!("NULL AS c{i}")
                }
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY rowid",
            select.join(", "),
            ident(table)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                (0..columns.len())
                    .map(|i| r.try_get::<Option<String>, _>(i).map_err(StoreError::from))
                    .collect()
            })
            .collect()
    }

    /// Closes the file.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Which group a new user joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportGroupRef {
    /// A group that exists here already (a system group, or one imported before whose rights
    /// the caller checked).
    Existing(GroupId),
    /// The n-th group of [`ImportBatch::groups`].
    New(usize),
}

/// A printer a scoped group reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPrinterRef {
    /// A printer that exists here already.
    Existing(PrinterId),
    /// The n-th printer of [`ImportBatch::printers`].
    New(usize),
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct ImportGroup {
    /// Name (must be free).
    pub name: GroupName,
    /// Free text.
    pub description: String,
    /// Its permission strings.
    pub permissions: Vec<&'static str>,
    /// `Some`: its printer-bound rights reach only these printers (never empty: an empty
    /// scope is refused, as "everywhere" is written as no scope).
    pub scope: Option<Vec<ImportPrinterRef>>,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct ImportUser {
    /// Login name (must be free).
    pub username: Username,
    /// Address (must be free, else left out by the caller).
    pub email: Option<Email>,
    /// The foreign hash as the source stored it (verified and rehashed at first sign-in).
    pub password_hash: String,
    /// Disabled in the source.
    pub disabled: bool,
    /// Groups.
    pub groups: Vec<ImportGroupRef>,
}

/// A printer to create.
#[derive(Debug, Clone)]
pub struct ImportPrinter {
    /// Name.
    pub name: String,
    /// Serial (must be free).
    pub serial: String,
    /// Host.
    pub host: String,
    /// Model.
    pub model: String,
    /// Ports.
    pub ports: (u16, u16, u16),
}

/// A finished print to record in the archive, on a printer of the same batch.
#[derive(Debug, Clone)]
pub struct ImportArchive {
    /// Index into [`ImportBatch::printers`].
    pub printer: usize,
    /// File name.
    pub file_name: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub ended_at: i64,
    /// `finished`, `failed` or `cancelled`.
    pub outcome: &'static str,
    /// Index into [`ImportBatch::users`] of who started it, if imported in this batch.
    pub started_by: Option<usize>,
    /// The starter's name as the source knew it.
    pub started_by_name: String,
    /// Free text.
    pub notes: String,
}

/// Everything one import writes.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Groups.
    pub groups: Vec<ImportGroup>,
    /// Users.
    pub users: Vec<ImportUser>,
    /// Printers.
    pub printers: Vec<ImportPrinter>,
    /// Archive entries.
    pub archives: Vec<ImportArchive>,
}

/// The ids the batch got.
#[derive(Debug, Clone, Default)]
pub struct ImportedIds {
    /// Per group of the batch.
    pub groups: Vec<GroupId>,
    /// Per user.
    pub users: Vec<UserId>,
    /// Per printer.
    pub printers: Vec<PrinterId>,
    /// Archive entries written.
    pub archives: usize,
}

impl Store {
    /// Writes `batch` in one transaction. `seal(printer id, index)` returns the sealed access
    /// code of the batch's printer `index` for the new row. Any natural key already present
    /// (checked inside the transaction, so a concurrent writer cannot slip one in) refuses the
    /// whole batch with [`StoreError::Conflict`]: nothing is overwritten and nothing half
    /// written.
    pub async fn apply_import<F>(
        &self,
        batch: &ImportBatch,
        mut seal: F,
        now: i64,
    ) -> Result<ImportedIds, StoreError>
    where
        F: FnMut(PrinterId, usize) -> Result<String, StoreError>,
    {
        let mut tx = self.pool.begin().await?;
        let mut ids = ImportedIds::default();
        for g in &batch.groups {
            let row = sqlx::query(
                "INSERT INTO groups (name, name_key, description, is_system, scope, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $5) RETURNING id",
            )
            .bind(g.name.as_str())
            .bind(g.name.key())
            .bind(g.description.as_str())
            .bind(false)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            let id = GroupId::from_db(row.try_get("id")?);
            for p in &g.permissions {
                sqlx::query(
                    "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2) \
                     ON CONFLICT (group_id, permission) DO NOTHING",
                )
                .bind(id.get())
                .bind(*p)
                .execute(&mut *tx)
                .await?;
            }
            ids.groups.push(id);
        }
        for u in &batch.users {
            let row = sqlx::query(
                "INSERT INTO users (username, username_key, email, email_key, password_hash, \
                 auth_source, disabled, security_stamp, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'local', $6, 0, $7, $7) RETURNING id",
            )
            .bind(u.username.as_str())
            .bind(u.username.key())
            .bind(u.email.as_ref().map(Email::as_str))
            .bind(u.email.as_ref().map(Email::key))
            .bind(u.password_hash.as_str())
            .bind(u.disabled)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            let id = UserId::from_db(row.try_get("id")?);
            for g in &u.groups {
                let group = match g {
                    ImportGroupRef::Existing(id) => *id,
                    ImportGroupRef::New(i) => *ids.groups.get(*i).ok_or(StoreError::Conflict)?,
                };
                add_member(&mut tx, group, id).await?;
            }
            ids.users.push(id);
        }
        for (i, p) in batch.printers.iter().enumerate() {
            let row = sqlx::query(
                "INSERT INTO printers (name, serial, host, mqtt_port, ftps_port, camera_port, \
                 model, location_id, access_code, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', NULL, $8, $8) RETURNING id",
            )
            .bind(p.name.as_str())
            .bind(p.serial.as_str())
            .bind(p.host.as_str())
            .bind(i64::from(p.ports.0))
            .bind(i64::from(p.ports.1))
            .bind(i64::from(p.ports.2))
            .bind(p.model.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            let id = PrinterId::from_db(row.try_get("id")?);
            let sealed = seal(id, i)?;
            sqlx::query("UPDATE printers SET access_code = $2 WHERE id = $1")
                .bind(id.get())
                .bind(sealed)
                .execute(&mut *tx)
                .await?;
            ids.printers.push(id);
        }
        // Scopes last: they name printers of this batch by their new ids.
        for (g, id) in batch.groups.iter().zip(&ids.groups) {
            let Some(refs) = &g.scope else {
                continue;
            };
            let mut printers = Vec::new();
            for r in refs {
                printers.push(match r {
                    ImportPrinterRef::Existing(p) => p.get(),
                    ImportPrinterRef::New(i) => {
                        ids.printers.get(*i).ok_or(StoreError::Conflict)?.get()
                    }
                });
            }
            printers.sort_unstable();
            printers.dedup();
            if printers.is_empty() {
                return Err(StoreError::Conflict);
            }
            let list: Vec<String> = printers.iter().map(i64::to_string).collect();
            sqlx::query("UPDATE groups SET scope = $2 WHERE id = $1")
                .bind(id.get())
                .bind(format!(
                    "{{\"locations\":[],\"printers\":[{}]}}",
                    list.join(",")
                ))
                .execute(&mut *tx)
                .await?;
        }
        for a in &batch.archives {
            let printer = *ids.printers.get(a.printer).ok_or(StoreError::Conflict)?;
            let printer_name = batch
                .printers
                .get(a.printer)
                .map(|p| p.name.as_str())
                .unwrap_or_default();
            let started_by = match a.started_by {
                Some(i) => Some(*ids.users.get(i).ok_or(StoreError::Conflict)?),
                None => None,
            };
            sqlx::query(
                "INSERT INTO archives (printer_id, printer_name, file_name, plate, source, \
                 started_by, started_by_name, started_at, ended_at, duration_s, outcome, error, \
                 notes, tags, rating, created_at) VALUES ($1, $2, $3, NULL, 'elsewhere', $4, $5, \
                 $6, $7, $8, $9, NULL, $10, '[]', NULL, $11)",
            )
            .bind(printer.get())
            .bind(printer_name)
            .bind(a.file_name.as_str())
            .bind(started_by.map(UserId::get))
            .bind(a.started_by_name.as_str())
            .bind(a.started_at)
            .bind(a.ended_at)
            .bind((a.ended_at - a.started_at).max(0) / 1000)
            .bind(a.outcome)
            .bind(a.notes.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            ids.archives += 1;
        }
        tx.commit().await?;
        Ok(ids)
    }
}
