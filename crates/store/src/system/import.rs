//! Imports from other farm tools (issue 22 item 4): reading a foreign SQLite file read-only,
//! and writing one planned import in ONE transaction.
//!
//! Invariants: the foreign file is opened read-only and never written; a batch is committed
//! whole or not at all — every natural key (username, group name, printer serial, archive
//! entry by printer, file and start, library file by folder, name and content, queue item by
//! content, name, creation time and creator) is checked again inside the transaction, and
//! anything already present refuses the whole batch ([`StoreError::Conflict`]) instead of
//! being overwritten or written twice. The store stays free
//! of cryptography: access codes are sealed by the caller's closure once the printer's row id
//! exists (the sealing context names the row).

use std::path::Path;

use pw_domain::{
    Email, GroupId, GroupName, LibraryFileId, LibraryFolderId, PrinterId, UserId, Username,
};
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

/// A row that exists here already, or the n-th of its kind in this batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRef<T> {
    /// It exists here already.
    Existing(T),
    /// The n-th of the batch's list of that kind.
    New(usize),
}

/// A finished print to record in the archive.
#[derive(Debug, Clone)]
pub struct ImportArchive {
    /// Its printer here (`None`: the printer is not here; the name is kept).
    pub printer: Option<ImportPrinterRef>,
    /// The printer's name (used when `printer` is `None`).
    pub printer_name: String,
    /// File name.
    pub file_name: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub ended_at: i64,
    /// `finished`, `failed` or `cancelled`.
    pub outcome: &'static str,
    /// Who started it here (`None`: outside printwarden).
    pub started_by: Option<ImportRef<UserId>>,
    /// The starter's name as the source knew it.
    pub started_by_name: String,
    /// Free text.
    pub notes: String,
    /// JSON array of tags.
    pub tags: String,
    /// JSON array of the filaments used.
    pub filaments: String,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// The printed file's content, when it was copied.
    pub file_sha256: Option<String>,
    /// The plate image's content (PNG), when it was copied.
    pub thumbnail_sha256: Option<String>,
}

/// A library folder to create.
#[derive(Debug, Clone)]
pub struct ImportFolder {
    /// Its parent (`None`: the top level).
    pub parent: Option<ImportRef<LibraryFolderId>>,
    /// Name (free under the parent: the caller reuses a folder of the same name).
    pub name: String,
}

/// A library file to record; its content is in the blob store already.
#[derive(Debug, Clone)]
pub struct ImportLibraryFile {
    /// Folder (`None`: the top level).
    pub folder: Option<ImportRef<LibraryFolderId>>,
    /// Name.
    pub name: String,
    /// `gcode.3mf`, `3mf`, `gcode` or `stl`.
    pub kind: &'static str,
    /// Bytes.
    pub size: i64,
    /// Content.
    pub sha256: String,
    /// Uploader here (`None`: ownerless).
    pub owner: Option<ImportRef<UserId>>,
    /// Uploader's name.
    pub owner_name: Option<String>,
    /// JSON array of tags.
    pub tags: String,
    /// Tags lower-cased, one a line (search).
    pub tags_key: String,
    /// Parsed facts (JSON).
    pub metadata: String,
    /// Unix ms (as in the source).
    pub created_at: i64,
}

/// Where an imported queue item may print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportQueueTarget {
    /// This printer.
    Printer(ImportPrinterRef),
    /// Any printer of this model (upper case, as the queue stores it).
    Model(String),
}

/// A waiting queue item to record.
#[derive(Debug, Clone)]
pub struct ImportQueueItem {
    /// The library file it prints.
    pub library_file: Option<ImportRef<LibraryFileId>>,
    /// The archive entry it reprints.
    pub archive: Option<ImportRef<i64>>,
    /// Content.
    pub file_sha256: String,
    /// File name.
    pub file_name: String,
    /// Plate.
    pub plate: i64,
    /// Target.
    pub target: ImportQueueTarget,
    /// Not before (unix ms).
    pub not_before: Option<i64>,
    /// Options JSON.
    pub options: String,
    /// Owner here.
    pub created_by: Option<ImportRef<UserId>>,
    /// Owner's name.
    pub created_by_name: Option<String>,
    /// Unix ms (as in the source; part of the natural key).
    pub created_at: i64,
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
    /// Library folders (parents before children).
    pub folders: Vec<ImportFolder>,
    /// Library files.
    pub library: Vec<ImportLibraryFile>,
    /// Queue items, in queue order.
    pub queue: Vec<ImportQueueItem>,
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
    /// Library folders written.
    pub folders: usize,
    /// Library files written.
    pub library: usize,
    /// Queue items written.
    pub queue: usize,
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
        let user_id = |r: &ImportRef<UserId>| -> Result<UserId, StoreError> {
            match r {
                ImportRef::Existing(id) => Ok(*id),
                ImportRef::New(i) => ids.users.get(*i).copied().ok_or(StoreError::Conflict),
            }
        };
        let printer_id = |r: &ImportPrinterRef| -> Result<PrinterId, StoreError> {
            match r {
                ImportPrinterRef::Existing(id) => Ok(*id),
                ImportPrinterRef::New(i) => {
                    ids.printers.get(*i).copied().ok_or(StoreError::Conflict)
                }
            }
        };
        let mut archive_ids = Vec::with_capacity(batch.archives.len());
        for a in &batch.archives {
            let printer = a.printer.as_ref().map(&printer_id).transpose()?;
            let printer_name = match a.printer {
                Some(ImportPrinterRef::New(i)) => batch
                    .printers
                    .get(i)
                    .map_or(a.printer_name.as_str(), |p| p.name.as_str()),
                _ => a.printer_name.as_str(),
            };
            if archive_exists(&mut *tx, printer, printer_name, &a.file_name, a.started_at).await? {
                return Err(StoreError::Conflict);
            }
            let started_by = a.started_by.as_ref().map(&user_id).transpose()?;
            let row = sqlx::query(
                "INSERT INTO archives (printer_id, printer_name, file_name, plate, source, \
                 started_by, started_by_name, started_at, ended_at, duration_s, outcome, error, \
                 filaments, notes, tags, rating, file_sha256, thumbnail_sha256, created_at) \
                 VALUES ($1, $2, $3, NULL, 'elsewhere', $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, NULL, $14, $15, $16) RETURNING id",
            )
            .bind(printer.map(PrinterId::get))
            .bind(printer_name)
            .bind(a.file_name.as_str())
            .bind(started_by.map(UserId::get))
            // No name at all: started outside printwarden by nobody the source knew.
            .bind(Some(a.started_by_name.as_str()).filter(|n| !n.is_empty()))
            .bind(a.started_at)
            .bind(a.ended_at)
            .bind((a.ended_at - a.started_at).max(0) / 1000)
            .bind(a.outcome)
            .bind(a.error.as_deref())
            .bind(a.filaments.as_str())
            .bind(a.notes.as_str())
            .bind(a.tags.as_str())
            .bind(a.file_sha256.as_deref())
            .bind(a.thumbnail_sha256.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            archive_ids.push(row.try_get::<i64, _>("id")?);
            ids.archives += 1;
        }
        let mut folder_ids: Vec<LibraryFolderId> = Vec::with_capacity(batch.folders.len());
        for f in &batch.folders {
            let parent = match f.parent {
                None => None,
                Some(ImportRef::Existing(id)) => Some(id),
                Some(ImportRef::New(i)) => Some(*folder_ids.get(i).ok_or(StoreError::Conflict)?),
            };
            let row = sqlx::query(
                "INSERT INTO library_folders (parent_id, name, name_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(parent.map(LibraryFolderId::get))
            .bind(f.name.as_str())
            .bind(f.name.to_lowercase())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            folder_ids.push(LibraryFolderId::from_db(row.try_get("id")?));
            ids.folders += 1;
        }
        let mut file_ids: Vec<LibraryFileId> = Vec::with_capacity(batch.library.len());
        for f in &batch.library {
            let folder = match f.folder {
                None => None,
                Some(ImportRef::Existing(id)) => Some(id),
                Some(ImportRef::New(i)) => Some(*folder_ids.get(i).ok_or(StoreError::Conflict)?),
            };
            if library_file_exists(&mut *tx, folder, &f.name, &f.sha256).await? {
                return Err(StoreError::Conflict);
            }
            let owner = f.owner.as_ref().map(&user_id).transpose()?;
            let row = sqlx::query(
                "INSERT INTO library_files (folder_id, name, name_key, kind, size, sha256, \
                 owner_id, owner_name, tags, tags_key, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            )
            .bind(folder.map(LibraryFolderId::get))
            .bind(f.name.as_str())
            .bind(f.name.to_lowercase())
            .bind(f.kind)
            .bind(f.size)
            .bind(f.sha256.as_str())
            .bind(owner.map(UserId::get))
            .bind(f.owner_name.as_deref())
            .bind(f.tags.as_str())
            .bind(f.tags_key.as_str())
            .bind(f.metadata.as_str())
            .bind(f.created_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            file_ids.push(LibraryFileId::from_db(row.try_get("id")?));
            ids.library += 1;
        }
        for q in &batch.queue {
            if queue_item_exists(
                &mut *tx,
                &q.file_sha256,
                &q.file_name,
                q.created_at,
                q.created_by_name.as_deref(),
            )
            .await?
            {
                return Err(StoreError::Conflict);
            }
            let file = match q.library_file {
                None => None,
                Some(ImportRef::Existing(id)) => Some(id),
                Some(ImportRef::New(i)) => Some(*file_ids.get(i).ok_or(StoreError::Conflict)?),
            };
            let archive = match q.archive {
                None => None,
                Some(ImportRef::Existing(id)) => Some(id),
                Some(ImportRef::New(i)) => Some(*archive_ids.get(i).ok_or(StoreError::Conflict)?),
            };
            let (kind, printer, model) = match &q.target {
                ImportQueueTarget::Printer(p) => ("printer", Some(printer_id(p)?.get()), None),
                ImportQueueTarget::Model(m) => ("model", None, Some(m.as_str())),
            };
            let created_by = q.created_by.as_ref().map(&user_id).transpose()?;
            sqlx::query(
                "INSERT INTO queue_items (library_file_id, archive_id, file_sha256, file_name, \
                 plate, target_kind, target_printer_id, target_model, copies, priority, position, \
                 not_before, options, ams_mapping, state, created_by, created_by_name, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, \
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM queue_items), $9, $10, NULL, \
                 'queued', $11, $12, $13, $14)",
            )
            .bind(file.map(LibraryFileId::get))
            .bind(archive)
            .bind(q.file_sha256.as_str())
            .bind(q.file_name.as_str())
            .bind(q.plate)
            .bind(kind)
            .bind(printer)
            .bind(model)
            .bind(q.not_before)
            .bind(q.options.as_str())
            .bind(created_by.map(UserId::get))
            .bind(q.created_by_name.as_deref())
            .bind(q.created_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            ids.queue += 1;
        }
        let done = tx.commit().await;
        self.printers_changed();
        done?;
        Ok(ids)
    }
}

/// An archive entry of this printer (or, for one that is not here, this printer name), file and
/// start exists already: the natural key of an imported finished print.
async fn archive_exists<'c, E>(
    conn: E,
    printer: Option<PrinterId>,
    printer_name: &str,
    file_name: &str,
    started_at: i64,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = match printer {
        Some(p) => {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM archives WHERE printer_id = $1 AND file_name = $2 \
                 AND started_at = $3",
            )
            .bind(p.get())
            .bind(file_name)
            .bind(started_at)
            .fetch_one(conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM archives WHERE printer_id IS NULL \
                 AND printer_name = $1 AND file_name = $2 AND started_at = $3",
            )
            .bind(printer_name)
            .bind(file_name)
            .bind(started_at)
            .fetch_one(conn)
            .await?
        }
    };
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// A library file of this folder, name (without case) and content exists already.
async fn library_file_exists<'c, E>(
    conn: E,
    folder: Option<LibraryFolderId>,
    name: &str,
    sha256: &str,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row =
        match folder {
            Some(f) => sqlx::query(
                "SELECT COUNT(*) AS n FROM library_files WHERE folder_id = $1 AND name_key = $2 \
                 AND sha256 = $3",
            )
            .bind(f.get())
            .bind(name.to_lowercase())
            .bind(sha256)
            .fetch_one(conn)
            .await?,
            None => {
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM library_files WHERE folder_id IS NULL \
                 AND name_key = $1 AND sha256 = $2",
                )
                .bind(name.to_lowercase())
                .bind(sha256)
                .fetch_one(conn)
                .await?
            }
        };
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// A queue item of this content, name, creation time and creator exists already (in any
/// state: an imported item that has printed since is not queued again).
async fn queue_item_exists<'c, E>(
    conn: E,
    sha256: &str,
    file_name: &str,
    created_at: i64,
    created_by_name: Option<&str>,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM queue_items WHERE file_sha256 = $1 AND file_name = $2 \
         AND created_at = $3 AND COALESCE(created_by_name, '') = $4",
    )
    .bind(sha256)
    .bind(file_name)
    .bind(created_at)
    .bind(created_by_name.unwrap_or_default())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

impl Store {
    /// The id of the folder `name` (without case) under `parent` (`None`: the top level).
    pub async fn library_folder_named(
        &self,
        parent: Option<LibraryFolderId>,
        name: &str,
    ) -> Result<Option<LibraryFolderId>, StoreError> {
        let row = match parent {
            Some(p) => {
                sqlx::query(
                    "SELECT MIN(id) AS id FROM library_folders WHERE parent_id = $1 \
                     AND name_key = $2",
                )
                .bind(p.get())
                .bind(name.to_lowercase())
                .fetch_one(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT MIN(id) AS id FROM library_folders WHERE parent_id IS NULL \
                     AND name_key = $1",
                )
                .bind(name.to_lowercase())
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(row
            .try_get::<Option<i64>, _>("id")?
            .map(LibraryFolderId::from_db))
    }

    /// Whether an imported archive entry is here already (see [`ImportArchive`]'s key).
    pub async fn imported_archive_exists(
        &self,
        printer: Option<PrinterId>,
        printer_name: &str,
        file_name: &str,
        started_at: i64,
    ) -> Result<bool, StoreError> {
        archive_exists(&self.pool, printer, printer_name, file_name, started_at).await
    }

    /// The library file of this folder, name and content, when it is here already.
    pub async fn imported_library_file(
        &self,
        folder: Option<LibraryFolderId>,
        name: &str,
        sha256: &str,
    ) -> Result<Option<LibraryFileId>, StoreError> {
        let row = match folder {
            Some(f) => {
                sqlx::query(
                    "SELECT MIN(id) AS id FROM library_files WHERE folder_id = $1 \
                     AND name_key = $2 AND sha256 = $3",
                )
                .bind(f.get())
                .bind(name.to_lowercase())
                .bind(sha256)
                .fetch_one(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT MIN(id) AS id FROM library_files WHERE folder_id IS NULL \
                     AND name_key = $1 AND sha256 = $2",
                )
                .bind(name.to_lowercase())
                .bind(sha256)
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(row
            .try_get::<Option<i64>, _>("id")?
            .map(LibraryFileId::from_db))
    }

    /// Whether an imported queue item is here already (see [`ImportQueueItem`]'s key).
    pub async fn imported_queue_item_exists(
        &self,
        sha256: &str,
        file_name: &str,
        created_at: i64,
        created_by_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        queue_item_exists(&self.pool, sha256, file_name, created_at, created_by_name).await
    }
}
