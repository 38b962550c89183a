//! The web restore's journal: what an applied restore is about to do, written (and synced)
//! before it does it, so that a crash, a power cut or a `kill -9` in the middle is finished or
//! undone at the next start — before anything opens the data directory or the database.
//!
//! Two phases:
//! - `database`: the backup is being written into `<data>/restore/new` (and, on PostgreSQL,
//!   into a fresh schema while the previous one is kept under a dated name). Nothing the
//!   server reads has changed yet except, on PostgreSQL, the schema swap. Recovery **rolls
//!   back**: the kept schema gets its live name again, `new/` is removed.
//! - `swap`: the restored data is complete and synced to disk; the journal lists every move
//!   (the data directory's entries into `before-restore-<stamp>/`, then the restored entries
//!   into the data directory). Recovery **rolls forward**: each move is a single `rename`, so
//!   it has either happened or not, and which one is told by where the entry is — a move out
//!   is done once the kept directory holds the name (the kept directory is new, only the swap
//!   puts things there), a move in is done once `new/` no longer holds it. Every move out
//!   comes before every move in, so a finished move in never gets moved out again.
//!
//! Invariants: no move happens before the journal naming it is on disk; the journal is removed
//! only after the last move is synced; a journal that names anything but plain entry names of
//! the data directory (no separators, no `..`) is refused, not followed — the journal lives in
//! the data directory, which only the server's account may write, but a damaged file must not
//! move things elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};

use pw_credentials::SecretString;
use pw_store::{Backend, Store};
use serde::{Deserialize, Serialize};

use super::BackupError;
use super::web_restore::RESTORE_DIR;

/// The journal's file name inside `<data>/restore/`.
pub const JOURNAL_FILE: &str = "journal.json";
/// Where the restored data is built inside `<data>/restore/`.
pub const NEW_DIR: &str = "new";
/// The prefix of the directory the previous entries are kept in.
pub const KEPT_PREFIX: &str = "before-restore-";

/// Which part of the restore the journal covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Writing the restored data beside the live data: recovery rolls back.
    Database,
    /// Moving entries: recovery rolls forward.
    Swap,
}

/// The journal of one applied restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The journal's format.
    pub version: u32,
    /// The phase it covers.
    pub phase: Phase,
    /// Who confirmed the restore (for the outcome recorded after recovery).
    pub requested_by: String,
    /// The name of the kept directory inside the data directory (`before-restore-<stamp>`).
    pub kept_dir: String,
    /// On PostgreSQL, the name the previous schema is kept under.
    pub kept_schema: Option<String>,
    /// Entries of the data directory moved into the kept directory (swap phase).
    pub out: Vec<String>,
    /// Entries of `new/` moved into the data directory (swap phase).
    pub into: Vec<String>,
    /// Rows restored (swap phase).
    pub rows: u64,
    /// Files restored (swap phase).
    pub files: u64,
}

/// The journal format this build writes and reads.
const VERSION: u32 = 1;

impl Journal {
    /// A journal for the database phase.
    pub fn database(requested_by: &str, kept_dir: String, kept_schema: Option<String>) -> Self {
        Self {
            version: VERSION,
            phase: Phase::Database,
            requested_by: requested_by.to_owned(),
            kept_dir,
            kept_schema,
            out: Vec::new(),
            into: Vec::new(),
            rows: 0,
            files: 0,
        }
    }

    /// The path of the journal of `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(RESTORE_DIR).join(JOURNAL_FILE)
    }

    /// Writes the journal durably: a temporary file, synced, renamed over the journal, and
    /// the directory synced — a crash leaves the previous journal or this one, never a torn
    /// file.
    pub fn write(&self, data_dir: &Path) -> Result<(), BackupError> {
        let dir = data_dir.join(RESTORE_DIR);
        let path = dir.join(JOURNAL_FILE);
        let part = dir.join(format!("{JOURNAL_FILE}.part"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| BackupError::Io {
            what: "cannot write the restore journal".to_owned(),
            source: std::io::Error::other(e),
        })?;
        let io = BackupError::io;
        let mut file =
            std::fs::File::create(&part).map_err(io("cannot write the restore journal"))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(io("cannot write the restore journal"))?;
        std::fs::rename(&part, &path).map_err(io("cannot write the restore journal"))?;
        sync_dir(&dir)
    }

    /// Reads the journal of `data_dir`, if there is one.
    pub fn read(data_dir: &Path) -> Result<Option<Self>, BackupError> {
        let path = Self::path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(BackupError::Io {
                    what: format!("cannot read the restore journal {}", path.display()),
                    source: e,
                });
            }
        };
        let journal: Self = serde_json::from_slice(&bytes).map_err(|e| {
            BackupError::Target(format!(
                "the restore journal {} is damaged ({e}); compare the data directory with the \
                 kept before-restore directory by hand, then delete the journal",
                path.display()
            ))
        })?;
        journal.check(&path)?;
        Ok(Some(journal))
    }

    /// Refuses a journal from another format or one whose names leave the data directory.
    fn check(&self, path: &Path) -> Result<(), BackupError> {
        let refuse = |why: &str| {
            Err(BackupError::Target(format!(
                "the restore journal {} {why}; compare the data directory with the kept \
                 before-restore directory by hand, then delete the journal",
                path.display()
            )))
        };
        if self.version != VERSION {
            return refuse("was written by another version of printwarden");
        }
        if !self.kept_dir.starts_with(KEPT_PREFIX) || !plain_name(&self.kept_dir) {
            return refuse("names an unexpected kept directory");
        }
        if !self.out.iter().chain(&self.into).all(|n| plain_name(n)) {
            return refuse("names something outside the data directory");
        }
        Ok(())
    }

    /// Removes the journal and syncs its directory: the restore is finished (or undone).
    pub fn remove(data_dir: &Path) -> Result<(), BackupError> {
        let dir = data_dir.join(RESTORE_DIR);
        match std::fs::remove_file(dir.join(JOURNAL_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BackupError::Io {
                    what: "cannot remove the restore journal".to_owned(),
                    source: e,
                });
            }
        }
        sync_dir(&dir)
    }
}

/// One entry name: not empty, no separator, not `.` or `..`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Syncs a directory, so renames and removals inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io(format!("cannot sync {}", dir.display())))
}

/// Syncs every file and directory under `root` (the restored data, before the swap makes it
/// the server's: a power cut after the swap must not find half-written files).
pub fn sync_tree(root: &Path) -> Result<(), BackupError> {
    let meta = std::fs::symlink_metadata(root)
        .map_err(BackupError::io(format!("cannot read {}", root.display())))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(root)
            .map_err(BackupError::io(format!("cannot read {}", root.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(BackupError::io(format!("cannot read {}", root.display())))?;
            sync_tree(&entry.path())?;
        }
        sync_dir(root)
    } else if meta.is_file() {
        std::fs::File::open(root)
            .and_then(|f| f.sync_all())
            .map_err(BackupError::io(format!("cannot sync {}", root.display())))
    } else {
        Ok(())
    }
}

/// Whether a restore was cut off in `data_dir` and awaits the next start to be finished or
/// undone (commands that open the data directory refuse to run until then).
#[must_use]
pub fn restore_interrupted(data_dir: &Path) -> bool {
    std::fs::symlink_metadata(Journal::path(data_dir)).is_ok()
}

/// What recovery did with an interrupted restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// It was cut off while writing the restored data: the previous data is back in place.
    RolledBack {
        /// Who confirmed it.
        requested_by: String,
    },
    /// It was cut off while swapping: the swap is finished, the backup is the server's data.
    Finished {
        /// Who confirmed it.
        requested_by: String,
        /// Rows restored.
        rows: u64,
        /// Files restored.
        files: u64,
        /// Where the previous data is kept.
        kept: Vec<String>,
    },
}

/// Finishes or undoes a restore that a crash interrupted (see the module's documentation).
/// Call it with the data directory's lock held, before anything opens the data directory's
/// files or the database. `None`: there was nothing to recover.
pub async fn recover_interrupted_restore(
    data_dir: &Path,
    database_url: &SecretString,
) -> Result<Option<Recovered>, BackupError> {
    let Some(journal) = Journal::read(data_dir)? else {
        return Ok(None);
    };
    let staging = data_dir.join(RESTORE_DIR);
    match journal.phase {
        Phase::Database => {
            tracing::warn!(
                "a restore was interrupted while it wrote the data: putting the previous data back"
            );
            if let Some(kept) = &journal.kept_schema
                && Backend::from_url(database_url.expose())? == Backend::Postgres
            {
                let store = Store::connect(database_url.expose()).await?;
                let result = match store.set_aside_named(kept).await {
                    Ok(Some(aside)) => store.put_back_after_restore(&aside).await,
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                store.close().await;
                result?;
            }
            remove_new(&staging)?;
            let kept_dir = data_dir.join(&journal.kept_dir);
            // Created by the swap only; an empty one may be left by a crash right after.
            let _ = std::fs::remove_dir(&kept_dir);
            Journal::remove(data_dir)?;
            Ok(Some(Recovered::RolledBack {
                requested_by: journal.requested_by,
            }))
        }
        Phase::Swap => {
            tracing::warn!("a restore was interrupted while it swapped the data: finishing it");
            roll_forward(data_dir, &journal)?;
            Journal::remove(data_dir)?;
            if let Err(e) = std::fs::remove_dir_all(&staging) {
                tracing::warn!(error = %e, dir = %staging.display(), "the restore is finished but its upload could not be removed");
            }
            let mut kept = vec![data_dir.join(&journal.kept_dir).display().to_string()];
            kept.extend(
                journal
                    .kept_schema
                    .iter()
                    .map(|s| format!("PostgreSQL schema {s}")),
            );
            Ok(Some(Recovered::Finished {
                requested_by: journal.requested_by,
                rows: journal.rows,
                files: journal.files,
                kept,
            }))
        }
    }
}

fn remove_new(staging: &Path) -> Result<(), BackupError> {
    match std::fs::remove_dir_all(staging.join(NEW_DIR)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::Io {
            what: "cannot remove the half-written restore".to_owned(),
            source: e,
        }),
    }
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn rename(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::rename(from, to).map_err(BackupError::io(format!(
        "cannot move {} to {} while finishing an interrupted restore",
        from.display(),
        to.display()
    )))
}

/// Does every move of the swap journal that has not happened yet, in the journal's order.
fn roll_forward(data_dir: &Path, journal: &Journal) -> Result<(), BackupError> {
    let kept = data_dir.join(&journal.kept_dir);
    let new = data_dir.join(RESTORE_DIR).join(NEW_DIR);
    if !kept.is_dir() {
        std::fs::create_dir(&kept)
            .map_err(BackupError::io(format!("cannot create {}", kept.display())))?;
    }
    for name in &journal.out {
        let (from, to) = (data_dir.join(name), kept.join(name));
        if !exists(&to) && exists(&from) {
            rename(&from, &to)?;
        }
    }
    for name in &journal.into {
        let (from, to) = (new.join(name), data_dir.join(name));
        if exists(&from) {
            if exists(&to) {
                // Only a move out that was planned but found nothing leaves a name here; the
                // journal lists every name the restore replaces, so this is not the swap's.
                return Err(BackupError::Target(format!(
                    "cannot finish an interrupted restore: {} is in the way; move it aside and \
                     start again",
                    to.display()
                )));
            }
            rename(&from, &to)?;
        }
    }
    sync_dir(&kept)?;
    sync_dir(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_naming_anything_outside_the_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(RESTORE_DIR)).unwrap();
        let good = Journal {
            phase: Phase::Swap,
            out: vec!["blobs".into()],
            into: vec!["blobs".into()],
            ..Journal::database("admin", "before-restore-1".into(), None)
        };
        good.write(dir.path()).unwrap();
        assert_eq!(Journal::read(dir.path()).unwrap(), Some(good.clone()));
        for bad in [
            Journal {
                into: vec!["../etc".into()],
                ..good.clone()
            },
            Journal {
                out: vec!["a/b".into()],
                ..good.clone()
            },
            Journal {
                kept_dir: "..".into(),
                ..good.clone()
            },
            Journal {
                kept_dir: "before-restore-1/../../x".into(),
                ..good.clone()
            },
            Journal {
                version: 99,
                ..good.clone()
            },
        ] {
            bad.write(dir.path()).unwrap();
            assert!(
                matches!(Journal::read(dir.path()), Err(BackupError::Target(_))),
                "{bad:?}"
            );
        }
        std::fs::write(Journal::path(dir.path()), b"{\"version\":1,").unwrap();
        assert!(matches!(
            Journal::read(dir.path()),
            Err(BackupError::Target(_))
        ));
        Journal::remove(dir.path()).unwrap();
        assert_eq!(Journal::read(dir.path()).unwrap(), None);
    }
}
