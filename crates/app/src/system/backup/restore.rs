//! Restoring a backup into a fresh data directory and an empty database (server stopped).
//!
//! Order: verify the whole archive (nothing written yet) → refuse a newer schema → build the
//! new data directory as a hidden sibling → migrate the database to the backup's schema,
//! insert every row in one transaction, migrate the rest → move the sibling into place (the
//! previous directory, if any, is kept beside it under a dated name). Any failure removes the
//! sibling and rolls the rows back, so there is never a half-restored directory or database.
//!
//! Threat: the archive is read twice (verify, then restore); it could be swapped in between.
//! The same open file is read both times, and the second pass compares every entry with the
//! verified manifest as it ends, before anything is committed or moved into place.

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};

use base64::Engine;
use pw_credentials::SecretString;
use pw_store::{Cell, ColumnType, Store};

use super::names::EntryName;
use super::read::{restorable, walk};
use super::seal::Opening;
use super::{BackupError, Manifest};

/// Rows per INSERT batch handed from the reader thread to the database.
const BATCH_ROWS: usize = 500;

/// Which database a restore writes.
#[derive(Debug)]
pub enum RestoreDatabase {
    /// SQLite `printwarden.db` inside the new data directory (the default configuration).
    InDataDir,
    /// This database (SQLite or PostgreSQL), which must be empty.
    Url(SecretString),
}

/// Where a restore goes.
#[derive(Debug)]
pub struct RestoreTarget {
    /// The data directory to create or replace.
    pub data_dir: PathBuf,
    /// The database.
    pub database: RestoreDatabase,
    /// The time (unix ms), for the name of the kept previous directory.
    pub now_ms: i64,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Rows restored per table.
    pub tables: Vec<(String, u64)>,
    /// Files written into the data directory.
    pub files: u64,
    /// The engine the backup came from.
    pub from_backend: String,
    /// The engine restored into.
    pub to_backend: String,
    /// Whether the sealing key came with the backup.
    pub includes_sealing_key: bool,
    /// Where the replaced data directory was kept.
    pub previous_data_dir: Option<PathBuf>,
}

/// A batch of rows for one table.
struct Batch {
    table: String,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// Removes the staging directory unless the restore succeeded.
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

fn cell(kind: ColumnType, value: serde_json::Value) -> Option<Cell> {
    use serde_json::Value;
    Some(match (kind, value) {
        (_, Value::Null) => Cell::Null,
        (ColumnType::Int, Value::Number(n)) => Cell::Int(n.as_i64()?),
        (ColumnType::Bool, Value::Bool(b)) => Cell::Bool(b),
        (ColumnType::Text, Value::String(s)) => Cell::Text(s),
        (ColumnType::Float, Value::Number(n)) => Cell::Float(n.as_f64()?),
        (ColumnType::Bytes, Value::String(s)) => {
            Cell::Bytes(base64::engine::general_purpose::STANDARD.decode(s).ok()?)
        }
        _ => return None,
    })
}

/// Reads one chunk of rows and hands it on in batches.
fn read_rows(
    manifest: &Manifest,
    table: &str,
    input: &mut dyn BufRead,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> Result<(), BackupError> {
    let Some(shape) = manifest.tables.iter().find(|t| t.name == table) else {
        return Err(BackupError::Refused(format!(
            "the archive has rows of table {table}, which its manifest does not list"
        )));
    };
    let columns: Vec<String> = shape.columns.iter().map(|(n, _)| n.clone()).collect();
    let kinds: Vec<ColumnType> = shape
        .columns
        .iter()
        .map(|(_, k)| ColumnType::from_name(k).unwrap_or(ColumnType::Text))
        .collect();
    let bad =
        |why: String| BackupError::Refused(format!("a row of table {table} cannot be read: {why}"));
    let mut rows = Vec::with_capacity(BATCH_ROWS);
    let mut line = String::new();
    loop {
        line.clear();
        let n = input.read_line(&mut line).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        let values: Vec<serde_json::Value> =
            serde_json::from_str(line.trim_end()).map_err(|e| bad(e.to_string()))?;
        if values.len() != kinds.len() {
            return Err(bad(format!(
                "{} values for {} columns",
                values.len(),
                kinds.len()
            )));
        }
        let mut cells = Vec::with_capacity(kinds.len());
        for ((kind, value), (column, _)) in kinds.iter().zip(values).zip(&shape.columns) {
            cells.push(
                cell(*kind, value)
                    .ok_or_else(|| bad(format!("{column} is not of the kind {}", kind.name())))?,
            );
        }
        rows.push(cells);
        if rows.len() >= BATCH_ROWS {
            send(tx, table, &columns, std::mem::take(&mut rows))?;
        }
    }
    if !rows.is_empty() {
        send(tx, table, &columns, rows)?;
    }
    Ok(())
}

fn send(
    tx: &tokio::sync::mpsc::Sender<Batch>,
    table: &str,
    columns: &[String],
    rows: Vec<Vec<Cell>>,
) -> Result<(), BackupError> {
    tx.blocking_send(Batch {
        table: table.to_owned(),
        columns: columns.to_vec(),
        rows,
    })
    .map_err(|_| BackupError::Refused("the database stopped taking rows".to_owned()))
}

/// Writes one file entry under the staging directory (new file, 0600, synced).
fn write_file(path: &Path, input: &mut dyn BufRead) -> Result<(), BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        private_dir(parent).map_err(BackupError::io(format!(
            "cannot create {}",
            parent.display()
        )))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(BackupError::io(format!("cannot create {}", path.display())))?;
    std::io::copy(input, &mut file)
        .map_err(BackupError::io(format!("cannot write {}", path.display())))?;
    file.sync_all()
        .map_err(BackupError::io(format!("cannot write {}", path.display())))?;
    Ok(())
}

/// Restores the backup at `path`. Verifies it completely first; see the module comment.
pub async fn restore_backup(
    path: &Path,
    opening: impl Into<Opening>,
    target: &RestoreTarget,
) -> Result<RestoreSummary, BackupError> {
    let file = std::fs::File::open(path)
        .map_err(BackupError::io(format!("cannot open {}", path.display())))?;
    // 1. Verify everything; nothing is written before this succeeds.
    let opening: Opening = opening.into();
    let pass = opening.clone();
    let (file, manifest) = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let verified = super::verify_backup(&mut file, &pass)?;
        Ok::<_, BackupError>((file, verified.manifest))
    })
    .await
    .map_err(|e| BackupError::Refused(format!("verification stopped: {e}")))??;
    restorable(&manifest.schema_versions).map_err(BackupError::Target)?;
    let last_version = manifest.schema_versions.last().copied().unwrap_or(0);

    // 2. The new data directory, beside the old one.
    let data_dir = &target.data_dir;
    let (Some(parent), Some(dir_name)) = (data_dir.parent(), data_dir.file_name()) else {
        return Err(BackupError::Target(format!(
            "{} cannot be a data directory (give a directory path)",
            data_dir.display()
        )));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let existing = match std::fs::symlink_metadata(data_dir) {
        Ok(meta) if meta.is_dir() => {
            let empty = std::fs::read_dir(data_dir)
                .map_err(BackupError::io(format!(
                    "cannot read {}",
                    data_dir.display()
                )))?
                .next()
                .is_none();
            Some(empty)
        }
        Ok(_) => {
            return Err(BackupError::Target(format!(
                "{} exists and is not a directory",
                data_dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(BackupError::io(format!(
                "cannot read {}",
                data_dir.display()
            ))(e));
        }
    };
    private_dir(parent).map_err(BackupError::io(format!(
        "cannot create {}",
        parent.display()
    )))?;
    let name = dir_name.to_string_lossy();
    let staging = Staging {
        path: parent.join(format!(".{name}.restoring-{}", target.now_ms)),
        keep: false,
    };
    std::fs::DirBuilder::new()
        .mode_0700()
        .create(&staging.path)
        .map_err(BackupError::io(format!(
            "cannot create {}",
            staging.path.display()
        )))?;

    // 3. The database: the backup's schema, then its rows in one transaction.
    let url = match &target.database {
        RestoreDatabase::InDataDir => SecretString::new(format!(
            "sqlite://{}?mode=rwc",
            staging.path.join("printwarden.db").display()
        )),
        RestoreDatabase::Url(url) => SecretString::new(url.expose().to_owned()),
    };
    let store = Store::connect(url.expose()).await?;
    let outcome = restore_rows(
        &store,
        file,
        &opening,
        manifest,
        last_version,
        &staging.path,
    )
    .await;
    store.close().await;
    let (manifest, files) = outcome?;

    // 4. Into place.
    let mut previous = None;
    match existing {
        Some(true) => std::fs::remove_dir(data_dir).map_err(BackupError::io(format!(
            "cannot replace {}",
            data_dir.display()
        )))?,
        Some(false) => {
            let kept = parent.join(format!("{name}.before-restore-{}", target.now_ms));
            std::fs::rename(data_dir, &kept).map_err(BackupError::io(format!(
                "cannot move {} aside",
                data_dir.display()
            )))?;
            previous = Some(kept);
        }
        None => {}
    }
    if let Err(e) = std::fs::rename(&staging.path, data_dir) {
        if let Some(kept) = &previous {
            let _ = std::fs::rename(kept, data_dir);
        }
        return Err(BackupError::io(format!(
            "cannot move the restored directory to {}",
            data_dir.display()
        ))(e));
    }
    let mut staging = staging;
    staging.keep = true;
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(RestoreSummary {
        tables: manifest
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.rows))
            .collect(),
        files,
        from_backend: manifest.backend.clone(),
        to_backend: store.backend().name().to_owned(),
        includes_sealing_key: manifest.includes_sealing_key,
        previous_data_dir: previous,
    })
}

trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

/// Migrates to the backup's schema, reads the archive again (checking it against the verified
/// manifest) while inserting its rows and writing its files, commits, and migrates the rest.
async fn restore_rows(
    store: &Store,
    mut file: std::fs::File,
    opening: &Opening,
    manifest: Manifest,
    last_version: i64,
    staging: &Path,
) -> Result<(Manifest, u64), BackupError> {
    let applied = store.applied_versions().await?;
    if !manifest.schema_versions.starts_with(&applied) {
        return Err(BackupError::Target(format!(
            "the target database already has schema version {}, newer than the backup's ({last_version}); \
             restore into an empty database",
            applied.last().copied().unwrap_or(0)
        )));
    }
    store.migrate_through(last_version).await?;
    let mut restore = store.begin_restore().await?;
    file.rewind()
        .map_err(BackupError::io("cannot read the backup again"))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
    let pass = opening.clone();
    let staging_dir = staging.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut files = 0u64;
        let expected = manifest.clone();
        walk(
            &mut file,
            &pass,
            Some(&expected),
            &mut |entry, _name, input| match entry {
                EntryName::Rows { table } => read_rows(&expected, table, input, &tx),
                other => match other.path_under(&staging_dir) {
                    Some(path) => {
                        files += 1;
                        write_file(&path, input)
                    }
                    None => Ok(()),
                },
            },
        )?;
        drop(tx);
        Ok::<_, BackupError>((manifest, files))
    });
    let mut insert_error = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = restore
            .insert(&batch.table, &batch.columns, &batch.rows)
            .await
        {
            insert_error = Some(e);
            break;
        }
    }
    drop(rx);
    let read = reader
        .await
        .map_err(|e| BackupError::Refused(format!("reading the backup stopped: {e}")))?;
    if let Some(e) = insert_error {
        return Err(e.into());
    }
    let (manifest, files) = read?;
    restore.finish(&manifest.sequences).await?;
    store.migrate().await?;
    Ok((manifest, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_column_kind() {
        use serde_json::json;
        assert_eq!(cell(ColumnType::Int, json!(5)), Some(Cell::Int(5)));
        assert_eq!(cell(ColumnType::Bool, json!(true)), Some(Cell::Bool(true)));
        assert_eq!(cell(ColumnType::Text, json!(null)), Some(Cell::Null));
        assert_eq!(
            cell(ColumnType::Bytes, json!("AAE=")),
            Some(Cell::Bytes(vec![0, 1]))
        );
        assert_eq!(cell(ColumnType::Int, json!("5")), None);
        assert_eq!(cell(ColumnType::Text, json!(5)), None);
    }
}
