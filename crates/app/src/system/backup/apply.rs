//! Applying a confirmed web restore while the server is stopped (called by `printwarden serve`
//! between stopping and starting again). The command line's [`restore_backup`] does the work —
//! it verifies the whole archive first and builds the new data in a fresh directory — into
//! `<data>/restore/new`; then what the backup holds is swapped into the data directory.
//!
//! Why not the command line's directory swap: the data directory itself cannot be renamed
//! where the server usually runs — it is a volume's mount point in the container and a
//! `StateDirectory=` under a read-only `/var/lib` in the systemd unit. So the swap is of its
//! entries: the database file, `blobs/`, `tls/` (and `secret.key` when the backup carries
//! one) move to `<data>/before-restore-<time>/` and the restored ones take their places; the
//! configuration, `.lock` and anything else stay. On PostgreSQL the live schema is set aside
//! under `printwarden_before_restore_<ms>` and the backup restored into a fresh one.
//!
//! Invariants: the previous data is kept until the restore has succeeded, and every failure
//! puts it back (the schema renamed back, moved entries moved back); a sealing key the backup
//! does not carry stays (sealed values restored from a backup of this server open with it);
//! the staged upload is removed only after success.

use std::path::{Path, PathBuf};

use pw_credentials::SecretString;
use pw_store::{Backend, SetAside, Store};

use super::web_restore::{RESTORE_DIR, UPLOAD_FILE};
use super::{BackupError, Opening, RestoreDatabase, RestoreTarget, restore_backup};

/// What an applied restore did.
#[derive(Debug, Clone)]
pub struct AppliedRestore {
    /// Rows restored.
    pub rows: u64,
    /// Files restored.
    pub files: u64,
    /// Where the previous entries of the data directory are kept.
    pub kept_dir: PathBuf,
    /// The PostgreSQL schema holding the previous data.
    pub kept_schema: Option<String>,
}

/// The SQLite files of the default database in the data directory.
const SQLITE_FILES: &[&str] = &[
    "printwarden.db",
    "printwarden.db-wal",
    "printwarden.db-shm",
    "printwarden.db-journal",
];

fn moved(what: &str) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        what: format!("cannot move {what} during the restore"),
        source,
    }
}

/// Renames each `(from, to)`; on the first failure renames back what was moved.
fn move_all(pairs: &[(PathBuf, PathBuf)]) -> Result<(), BackupError> {
    for (i, (from, to)) in pairs.iter().enumerate() {
        if let Err(e) = std::fs::rename(from, to) {
            undo(pairs.get(..i).unwrap_or_default());
            return Err(moved(&from.display().to_string())(e));
        }
    }
    Ok(())
}

fn undo(pairs: &[(PathBuf, PathBuf)]) {
    for (from, to) in pairs.iter().rev() {
        if let Err(e) = std::fs::rename(to, from) {
            tracing::error!(from = %to.display(), to = %from.display(), error = %e, "could not move an entry back after a failed restore");
        }
    }
}

/// Applies the upload staged in `<data_dir>/restore/` into the data directory and the
/// configured database. The server must be stopped (the caller holds the data directory's
/// lock).
pub async fn apply_staged_restore(
    data_dir: &Path,
    database_url: &SecretString,
    opening: &Opening,
    now_ms: i64,
) -> Result<AppliedRestore, BackupError> {
    let staging = data_dir.join(RESTORE_DIR);
    let upload = staging.join(UPLOAD_FILE);
    if !upload.is_file() {
        return Err(BackupError::Target(
            "the uploaded backup is gone (cancelled, or restored already)".to_owned(),
        ));
    }
    let default_url = format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("printwarden.db").display()
    );
    let in_data_dir = database_url.expose() == default_url;
    let backend = Backend::from_url(database_url.expose())?;
    let mut aside: Option<SetAside> = None;
    let database = if in_data_dir {
        RestoreDatabase::InDataDir
    } else if backend == Backend::Postgres {
        let store = Store::connect(database_url.expose()).await?;
        let set = store.set_aside_for_restore(now_ms).await;
        store.close().await;
        aside = set?;
        RestoreDatabase::Url(SecretString::new(database_url.expose().to_owned()))
    } else {
        return Err(BackupError::Target(
            "the database is a SQLite file outside the data directory: restore it with \
             `printwarden backup restore` while the server is stopped"
                .to_owned(),
        ));
    };
    let put_back = |aside: Option<SetAside>| async move {
        if let Some(aside) = aside {
            match Store::connect(database_url.expose()).await {
                Ok(store) => {
                    if let Err(e) = store.put_back_after_restore(&aside).await {
                        tracing::error!(error = %e, kept = %aside.kept, "could not put the previous database schema back; rename it by hand");
                    }
                    store.close().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, kept = %aside.kept, "could not put the previous database schema back; rename it by hand");
                }
            }
        }
    };
    let new = staging.join("new");
    let _ = std::fs::remove_dir_all(&new);
    let target = RestoreTarget {
        data_dir: new.clone(),
        database,
        now_ms,
    };
    let summary = match restore_backup(&upload, opening, &target).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            put_back(aside).await;
            return Err(e);
        }
    };
    match swap(data_dir, &new, in_data_dir, now_ms) {
        Ok(kept_dir) => {
            if let Err(e) = std::fs::remove_dir_all(&staging) {
                tracing::warn!(error = %e, dir = %staging.display(), "the restore worked but its upload could not be removed");
            }
            Ok(AppliedRestore {
                rows: summary.tables.iter().map(|(_, n)| n).sum(),
                files: summary.files,
                kept_dir,
                kept_schema: aside.map(|a| a.kept),
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            put_back(aside).await;
            Err(e)
        }
    }
}

/// Moves what the backup replaces out of `data_dir` into `before-restore-<stamp>/` and the
/// entries of `new` in. Returns the kept directory.
fn swap(
    data_dir: &Path,
    new: &Path,
    in_data_dir: bool,
    now_ms: i64,
) -> Result<PathBuf, BackupError> {
    let stamp = crate::rfc3339(now_ms).replace([':', '-'], "");
    let kept = data_dir.join(format!("before-restore-{stamp}"));
    std::fs::create_dir(&kept)
        .map_err(BackupError::io(format!("cannot create {}", kept.display())))?;
    let incoming: Vec<std::ffi::OsString> = std::fs::read_dir(new)
        .map_err(BackupError::io(format!("cannot read {}", new.display())))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    let mut outgoing: Vec<std::ffi::OsString> = vec!["blobs".into(), "tls".into()];
    if in_data_dir {
        outgoing.extend(SQLITE_FILES.iter().map(Into::into));
    }
    outgoing.extend(incoming.iter().cloned());
    outgoing.sort();
    outgoing.dedup();
    let out: Vec<(PathBuf, PathBuf)> = outgoing
        .iter()
        .filter(|name| std::fs::symlink_metadata(data_dir.join(name)).is_ok())
        .map(|name| (data_dir.join(name), kept.join(name)))
        .collect();
    move_all(&out)?;
    let into: Vec<(PathBuf, PathBuf)> = incoming
        .iter()
        .map(|name| (new.join(name), data_dir.join(name)))
        .collect();
    if let Err(e) = move_all(&into) {
        undo(&out);
        let _ = std::fs::remove_dir(&kept);
        return Err(e);
    }
    // A backup without the sealing key leaves this server's `secret.key` where it is (it is
    // not in `outgoing`): it sealed what a backup of this server holds.
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(kept)
}
