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
//! puts it back (the schema renamed back, moved entries moved back); a crash, a power cut or a
//! `kill -9` at any point is finished or undone at the next start by the journal written
//! before each phase ([`super::journal`]); a sealing key the backup does not carry stays
//! (sealed values restored from a backup of this server open with it); the staged upload is
//! removed only after success.

use std::path::{Path, PathBuf};

use pw_credentials::SecretString;
use pw_store::{Backend, SetAside, Store};

use super::journal::{Journal, KEPT_PREFIX, NEW_DIR, Phase, sync_dir, sync_tree};
use super::web_restore::{RESTORE_DIR, UPLOAD_FILE};
use super::{BackupError, Opening, RestoreDatabase, RestoreTarget, restore_backup};

/// A step of an applied restore, for [`apply_staged_restore`]'s observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStep {
    /// The backup is written beside the live data (and the journal says "swap" next).
    Restored,
    /// The swap's `n`-th move (from 1) is done.
    Moved(usize),
}

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

/// Renames each `(from, to)`, telling `step` the running count (from `done + 1`); on the
/// first failure renames back what was moved.
fn move_all(
    pairs: &[(PathBuf, PathBuf)],
    done: usize,
    step: &(dyn Fn(RestoreStep) + Sync),
) -> Result<(), BackupError> {
    for (i, (from, to)) in pairs.iter().enumerate() {
        if let Err(e) = std::fs::rename(from, to) {
            undo(pairs.get(..i).unwrap_or_default());
            return Err(moved(&from.display().to_string())(e));
        }
        step(RestoreStep::Moved(done + i + 1));
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
/// lock). `step` is told of each step once it is done (the crash tests stop the process
/// there; the server passes a no-op otherwise).
pub async fn apply_staged_restore(
    data_dir: &Path,
    database_url: &SecretString,
    opening: &Opening,
    requested_by: &str,
    now_ms: i64,
    step: &(dyn Fn(RestoreStep) + Sync),
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
    let stamp = crate::rfc3339(now_ms).replace([':', '-'], "");
    let kept_dir = format!("{KEPT_PREFIX}{stamp}");
    let mut aside: Option<SetAside> = None;
    let database = if in_data_dir {
        Journal::database(requested_by, kept_dir.clone(), None).write(data_dir)?;
        RestoreDatabase::InDataDir
    } else if backend == Backend::Postgres {
        // Named in the journal before the schema moves: a crash from here on is undone at the
        // next start, so the server never starts on an empty or half-restored schema.
        Journal::database(
            requested_by,
            kept_dir.clone(),
            Some(SetAside::kept_name(now_ms)),
        )
        .write(data_dir)?;
        let set = match Store::connect(database_url.expose()).await {
            Ok(store) => {
                let set = store.set_aside_for_restore(now_ms).await;
                store.close().await;
                set
            }
            Err(e) => Err(e),
        };
        aside = match set {
            Ok(a) => a,
            Err(e) => {
                let _ = Journal::remove(data_dir);
                return Err(e.into());
            }
        };
        RestoreDatabase::Url(SecretString::new(database_url.expose().to_owned()))
    } else {
        return Err(BackupError::Target(
            "the database is a SQLite file outside the data directory: restore it with \
             `printwarden backup restore` while the server is stopped"
                .to_owned(),
        ));
    };
    // Whether the previous schema is back (or there was none); when not, the journal stays
    // and the next start tries again before it opens the database — a server must never
    // start on the empty schema and offer a fresh setup.
    let put_back = |aside: Option<SetAside>| async move {
        let Some(aside) = aside else {
            return true;
        };
        let result = match Store::connect(database_url.expose()).await {
            Ok(store) => {
                let r = store.put_back_after_restore(&aside).await;
                store.close().await;
                r
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, kept = %aside.kept, "could not put the previous database schema back; the next start tries again");
        }
        result.is_ok()
    };
    let new = staging.join(NEW_DIR);
    let _ = std::fs::remove_dir_all(&new);
    let target = RestoreTarget {
        data_dir: new.clone(),
        database,
        now_ms,
    };
    let restored = match restore_backup(&upload, opening, &target).await {
        // Durable before the journal says "swap": after a power cut, the swap is finished
        // with what is in `new/`, so it must all be on disk.
        Ok(s) => sync_tree(&new).map(|()| s),
        Err(e) => Err(e),
    };
    let summary = match restored {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            if put_back(aside).await {
                let _ = Journal::remove(data_dir);
            }
            return Err(e);
        }
    };
    // The journal as it was before the swap: a failed swap has moved everything back, so what
    // is left to undo (the schema) is the database phase's.
    let rolling_back = Journal::database(
        requested_by,
        kept_dir.clone(),
        aside.as_ref().map(|a| a.kept.clone()),
    );
    let plan = Plan {
        data_dir,
        new: &new,
        in_data_dir,
        kept_dir,
        journal: Journal {
            rows: summary.tables.iter().map(|(_, n)| n).sum(),
            files: summary.files,
            ..Journal::database(
                requested_by,
                String::new(),
                aside.as_ref().map(|a| a.kept.clone()),
            )
        },
    };
    step(RestoreStep::Restored);
    match swap(plan, step) {
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
            let _ = rolling_back.write(data_dir);
            let _ = std::fs::remove_dir_all(&new);
            if put_back(aside).await {
                let _ = Journal::remove(data_dir);
            }
            Err(e)
        }
    }
}

/// What the swap moves, and the journal to write before it moves anything.
struct Plan<'a> {
    data_dir: &'a Path,
    new: &'a Path,
    in_data_dir: bool,
    kept_dir: String,
    /// The journal with everything but the phase, the kept directory and the moves.
    journal: Journal,
}

/// Moves what the backup replaces out of `data_dir` into `before-restore-<stamp>/` and the
/// entries of `new` in, after writing the journal that lists every move. Returns the kept
/// directory.
fn swap(plan: Plan<'_>, step: &(dyn Fn(RestoreStep) + Sync)) -> Result<PathBuf, BackupError> {
    let Plan {
        data_dir,
        new,
        in_data_dir,
        kept_dir,
        journal,
    } = plan;
    let kept = data_dir.join(&kept_dir);
    let incoming: Vec<String> = std::fs::read_dir(new)
        .map_err(BackupError::io(format!("cannot read {}", new.display())))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    let mut outgoing: Vec<String> = vec!["blobs".into(), "tls".into()];
    if in_data_dir {
        outgoing.extend(SQLITE_FILES.iter().map(|&n| n.to_owned()));
    }
    outgoing.extend(incoming.iter().cloned());
    outgoing.sort();
    outgoing.dedup();
    outgoing.retain(|name| std::fs::symlink_metadata(data_dir.join(name)).is_ok());
    let journal = Journal {
        phase: Phase::Swap,
        kept_dir,
        out: outgoing.clone(),
        into: incoming.clone(),
        ..journal
    };
    journal.write(data_dir)?;
    let abandon = |e: BackupError| {
        let _ = std::fs::remove_dir(&kept);
        e
    };
    std::fs::create_dir(&kept)
        .map_err(BackupError::io(format!("cannot create {}", kept.display())))
        .map_err(abandon)?;
    let out: Vec<(PathBuf, PathBuf)> = outgoing
        .iter()
        .map(|name| (data_dir.join(name), kept.join(name)))
        .collect();
    move_all(&out, 0, step).map_err(abandon)?;
    let into: Vec<(PathBuf, PathBuf)> = incoming
        .iter()
        .map(|name| (new.join(name), data_dir.join(name)))
        .collect();
    if let Err(e) = move_all(&into, out.len(), step) {
        undo(&out);
        return Err(abandon(e));
    }
    // A backup without the sealing key leaves this server's `secret.key` where it is (it is
    // not in `outgoing`): it sealed what a backup of this server holds.
    // Every move is done: nothing below may undo them. A failure here leaves the journal, and
    // the next start finds every move done and only removes it.
    let durable = sync_dir(&kept)
        .and_then(|()| sync_dir(data_dir))
        // The commit point: the next start finds no journal and nothing to redo.
        .and_then(|()| Journal::remove(data_dir));
    if let Err(e) = durable {
        tracing::warn!(error = %e, "the restore's moves are done but could not be synced to disk");
    }
    Ok(kept)
}
