//! Scheduled backups: every `interval_hours` a backup is written into a directory the operator
//! chose, sealed with a stored passphrase or to an age public key, and the oldest beyond `keep`
//! are deleted. The schedule lives in the `backup.schedule` setting; its passphrase is sealed
//! under the sealing key (`pw_store::sealed::BACKUP_PASSPHRASE`), so rotation re-seals it and
//! the status card checks it.
//!
//! Invariants: the directory is absolute, an existing directory, writable, and outside the data
//! directory (threat: a restore replaces the data directory, and a disk that dies takes its
//! backups with it); retention deletes only files named like the schedule's own
//! (`printwarden-<UTC stamp>.pwbk`), never an operator's file; a file appears under that name
//! only once it is complete (written as a hidden temporary file, then renamed); a scheduled
//! backup and a download never run at once (the one backup lock); every run is audited and its
//! outcome is kept in words for the page.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pw_credentials::SecretString;
use pw_domain::Permission;
use pw_policy::{Action, Target};
use pw_store::sealed::BACKUP_PASSPHRASE;
use serde::{Deserialize, Serialize};

use super::download::sealing;
use super::{BackupError, BackupRecipient, CreateOptions, Opening, Sealing, create_backup};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The setting holding the schedule.
pub const SCHEDULE_SETTING: &str = "backup.schedule";
/// The setting holding the last run's outcome.
const LAST_RUN_SETTING: &str = "backup.schedule.last";
/// The longest interval (30 days) and the most backups kept.
const MAX_INTERVAL_HOURS: u32 = 24 * 30;
const MAX_KEEP: u32 = 365;
/// How often the task looks at the schedule when nothing wakes it.
const POLL: Duration = Duration::from_secs(60);
/// After a run that could not start (another backup was being written), try again this soon.
const BUSY_RETRY_MS: i64 = 60_000;

/// The stored schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Stored {
    enabled: bool,
    dir: String,
    interval_hours: u32,
    keep: u32,
    #[serde(default)]
    passphrase_sealed: Option<String>,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    include_key: bool,
}

/// The outcome of the last scheduled run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScheduledRun {
    /// When it ended (RFC 3339).
    pub at: String,
    /// Unix ms of the same (for the next due time).
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub at_ms: i64,
    /// Whether a backup was written.
    pub ok: bool,
    /// The file written, when `ok`.
    pub file: Option<String>,
    /// What happened, in words.
    pub message: String,
}

/// The schedule as the page and the API show it (never the passphrase).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupScheduleView {
    /// Whether scheduled backups run.
    pub enabled: bool,
    /// The directory they go to.
    pub dir: String,
    /// Hours between backups.
    pub interval_hours: u32,
    /// How many are kept.
    pub keep: u32,
    /// `passphrase`, `public key age1…`, or empty when not set.
    pub sealed_with: String,
    /// The public key, when sealed to one.
    pub recipient: Option<String>,
    /// Whether the sealing key goes inside.
    pub include_key: bool,
    /// The last run.
    pub last: Option<ScheduledRun>,
    /// When the next one is due (RFC 3339), when enabled.
    pub next_at: Option<String>,
    /// The schedule's backups in the directory, newest first.
    pub backups: Vec<ScheduledBackup>,
    /// Why the directory cannot be listed, in words (empty when it can).
    pub dir_problem: String,
}

/// One backup file the schedule wrote.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduledBackup {
    /// File name (`printwarden-<stamp>.pwbk`).
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// The body of `PUT /api/v1/system/backup/schedule`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupScheduleInput {
    /// Run scheduled backups.
    pub enabled: bool,
    /// An absolute path to an existing, writable directory outside the data directory.
    pub dir: String,
    /// Hours between backups (1 to 720).
    pub interval_hours: u32,
    /// How many backups to keep (1 to 365); older ones the schedule wrote are deleted.
    pub keep: u32,
    /// A new passphrase (at least 12 characters), sealed before it is stored. Leave out (with
    /// `recipient`) to keep the current one.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub passphrase: Option<SecretString>,
    /// An age public key to seal to instead of a passphrase.
    #[serde(default)]
    pub recipient: Option<String>,
    /// Put the sealing key inside every scheduled backup (their covers say so).
    #[serde(default)]
    pub include_key: bool,
}

/// The body of `POST /api/v1/system/backup/schedule/verify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyScheduledInput {
    /// The file name, as listed.
    pub name: String,
}

/// What a verification found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyScheduledOutcome {
    /// Whether every checksum matched.
    pub ok: bool,
    /// In words.
    pub message: String,
}

/// Whether `name` is one of the schedule's own file names (`printwarden-` + digits and `T`/`Z`
/// + `.pwbk`): the only names retention deletes and verify opens (threat: `../` or a path).
#[must_use]
pub fn is_schedule_file(name: &str) -> bool {
    name.strip_prefix("printwarden-")
        .and_then(|rest| rest.strip_suffix(".pwbk"))
        .is_some_and(|stamp| {
            !stamp.is_empty()
                && stamp.len() <= 32
                && stamp
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z' || b == b'-')
        })
}

/// Checks a backup directory: absolute, an existing directory (links resolved), writable, and
/// not inside `data_dir`. Returns the resolved path.
pub fn check_backup_dir(dir: &str, data_dir: Option<&Path>) -> Result<PathBuf, String> {
    let path = Path::new(dir.trim());
    if !path.is_absolute() {
        return Err("the backup directory must be an absolute path (starting with /)".to_owned());
    }
    let resolved = std::fs::canonicalize(path).map_err(|_| {
        "the backup directory does not exist (create it first, owned by the printwarden user)"
            .to_owned()
    })?;
    if !resolved.is_dir() {
        return Err("the backup directory is not a directory".to_owned());
    }
    if let Some(data) = data_dir.and_then(|d| std::fs::canonicalize(d).ok())
        && (resolved.starts_with(&data) || data.starts_with(&resolved))
    {
        return Err(
            "the backup directory must be outside the data directory: a restore replaces the data \
             directory, and a backup on the same disk dies with it"
                .to_owned(),
        );
    }
    tempfile::Builder::new()
        .prefix(".printwarden-probe-")
        .tempfile_in(&resolved)
        .map_err(|_| "printwarden cannot write into the backup directory".to_owned())?;
    Ok(resolved)
}

/// The schedule's own files in `dir` with their sizes, newest first (stamps sort by time).
fn list_files(dir: &Path) -> std::io::Result<Vec<ScheduledBackup>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_schedule_file(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        out.push(ScheduledBackup {
            name,
            size: entry.metadata()?.len(),
        });
    }
    out.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(out)
}

/// Plain words for a failed run: the operating system's error stays in the log.
fn public_words(e: &BackupError) -> String {
    match e {
        BackupError::Io { what, .. } => format!("{what} (details in the server log)"),
        BackupError::Store(_) => {
            "the database could not be read (details in the server log)".to_owned()
        }
        other => other.to_string(),
    }
}

impl App {
    async fn stored_schedule(&self) -> Result<Option<Stored>, AppError> {
        let Some(text) = self.store.setting(SCHEDULE_SETTING).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| AppError::Internal(Box::new(e)))
    }

    async fn last_run(&self) -> Option<ScheduledRun> {
        let text = self.store.setting(LAST_RUN_SETTING).await.ok()??;
        #[derive(Deserialize)]
        struct Raw {
            at_ms: i64,
            ok: bool,
            file: Option<String>,
            message: String,
        }
        let raw: Raw = serde_json::from_str(&text).ok()?;
        Some(ScheduledRun {
            at: crate::rfc3339(raw.at_ms),
            at_ms: raw.at_ms,
            ok: raw.ok,
            file: raw.file,
            message: raw.message,
        })
    }

    async fn record_run(&self, run: &ScheduledRun) {
        let json = serde_json::json!({
            "at_ms": run.at_ms, "ok": run.ok, "file": run.file, "message": run.message,
        });
        if let Err(e) = self
            .store
            .set_setting(LAST_RUN_SETTING, &json.to_string(), run.at_ms)
            .await
        {
            tracing::warn!(error = %e, "the scheduled backup's outcome could not be stored");
        }
    }

    /// The schedule, its last run and the backups written so far (`system:backup`).
    pub async fn backup_schedule(&self, actor: &Actor) -> Result<BackupScheduleView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SystemBackup),
            &Target::Global,
        )?;
        let stored = self.stored_schedule().await?.unwrap_or(Stored {
            interval_hours: 24,
            keep: 7,
            ..Stored::default()
        });
        let last = self.last_run().await;
        let next_at = stored
            .enabled
            .then(|| crate::rfc3339(next_due(&stored, last.as_ref(), self.clock.now_ms())));
        let (backups, dir_problem) = if stored.dir.is_empty() {
            (Vec::new(), String::new())
        } else {
            let dir = PathBuf::from(&stored.dir);
            match tokio::task::spawn_blocking(move || list_files(&dir)).await {
                Ok(Ok(list)) => (list, String::new()),
                _ => (
                    Vec::new(),
                    "the backup directory cannot be read: check that it exists and belongs to \
                     the printwarden user"
                        .to_owned(),
                ),
            }
        };
        let sealed_with = match (&stored.passphrase_sealed, &stored.recipient) {
            (_, Some(r)) => format!("public key {r}"),
            (Some(_), None) => "passphrase".to_owned(),
            (None, None) => String::new(),
        };
        Ok(BackupScheduleView {
            enabled: stored.enabled,
            dir: stored.dir,
            interval_hours: stored.interval_hours,
            keep: stored.keep,
            sealed_with,
            recipient: stored.recipient,
            include_key: stored.include_key,
            last,
            next_at,
            backups,
            dir_problem,
        })
    }

    /// Stores the schedule (`system:backup`) after checking the directory and the sealing, and
    /// wakes the scheduler.
    pub async fn set_backup_schedule(
        &self,
        actor: &Actor,
        input: BackupScheduleInput,
    ) -> Result<BackupScheduleView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SystemBackup),
            &Target::Global,
        )?;
        if !(1..=MAX_INTERVAL_HOURS).contains(&input.interval_hours) {
            return Err(AppError::BadRequest(format!(
                "the interval must be between 1 and {MAX_INTERVAL_HOURS} hours"
            )));
        }
        if !(1..=MAX_KEEP).contains(&input.keep) {
            return Err(AppError::BadRequest(format!(
                "keep between 1 and {MAX_KEEP} backups"
            )));
        }
        let dir = input.dir.trim().to_owned();
        let data_dir = self.config.data_dir.clone();
        let checked = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || check_backup_dir(&dir, data_dir.as_deref()))
                .await
                .map_err(|e| AppError::Internal(Box::new(e)))?
        };
        let resolved = checked.map_err(AppError::BadRequest)?;
        if input.include_key && self.config.sealing.is_none() {
            return Err(AppError::BadRequest(
                "there is no sealing key to include: secrets are stored in plaintext".to_owned(),
            ));
        }
        let previous = self.stored_schedule().await?;
        let wants_new = input
            .passphrase
            .as_ref()
            .is_some_and(|p| !p.expose().is_empty())
            || input
                .recipient
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty());
        let (passphrase_sealed, recipient) = if wants_new {
            match sealing(input.passphrase, input.recipient.as_deref())? {
                Sealing::Passphrase(p) => (
                    Some(self.seal(p.expose(), &BACKUP_PASSPHRASE.context(0))?),
                    None,
                ),
                Sealing::Recipient(r) => (None, Some(r.to_string())),
            }
        } else {
            match previous {
                Some(Stored {
                    passphrase_sealed,
                    recipient,
                    ..
                }) if passphrase_sealed.is_some() || recipient.is_some() => {
                    (passphrase_sealed, recipient)
                }
                _ => {
                    return Err(AppError::BadRequest(
                        "give a passphrase (at least 12 characters) or an age public key to seal \
                         the scheduled backups"
                            .to_owned(),
                    ));
                }
            }
        };
        let stored = Stored {
            enabled: input.enabled,
            dir: resolved.to_string_lossy().into_owned(),
            interval_hours: input.interval_hours,
            keep: input.keep,
            passphrase_sealed,
            recipient,
            include_key: input.include_key,
        };
        let json = serde_json::to_string(&stored).map_err(|e| AppError::Internal(Box::new(e)))?;
        self.store
            .set_setting(SCHEDULE_SETTING, &json, self.clock.now_ms())
            .await?;
        self.audit(
            actor,
            AuditEvent::SystemBackupSchedule,
            None,
            true,
            serde_json::json!({
                "enabled": stored.enabled,
                "dir": stored.dir,
                "interval_hours": stored.interval_hours,
                "keep": stored.keep,
                "sealed_with": if stored.recipient.is_some() { "public key" } else { "passphrase" },
                "include_key": stored.include_key,
            }),
        )
        .await;
        self.backup_wake.notify_one();
        self.backup_schedule(actor).await
    }

    /// Writes one scheduled backup now (`system:backup`), as the schedule would.
    pub async fn run_scheduled_backup(&self, actor: &Actor) -> Result<ScheduledRun, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SystemBackup),
            &Target::Global,
        )?;
        let Some(stored) = self.stored_schedule().await? else {
            return Err(AppError::Conflict(
                "there is no backup schedule yet: choose a directory and a passphrase first"
                    .to_owned(),
            ));
        };
        match self.write_scheduled(actor, &stored).await {
            Some(run) => Ok(run),
            None => Err(AppError::Conflict(
                "A backup is being written already; try again when it has finished.".to_owned(),
            )),
        }
    }

    /// Verifies one of the schedule's backups with the stored passphrase (`system:backup`).
    pub async fn verify_scheduled_backup(
        &self,
        actor: &Actor,
        input: VerifyScheduledInput,
    ) -> Result<VerifyScheduledOutcome, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SystemBackup),
            &Target::Global,
        )?;
        if !is_schedule_file(&input.name) {
            return Err(AppError::NotFound);
        }
        let Some(stored) = self.stored_schedule().await? else {
            return Err(AppError::NotFound);
        };
        let Some(sealed) = &stored.passphrase_sealed else {
            return Err(AppError::Conflict(
                "these backups are sealed to a public key: the server cannot open them (by \
                 design). Verify one where its identity file is: printwarden backup verify \
                 --identity FILE BACKUP"
                    .to_owned(),
            ));
        };
        let passphrase = self.open(sealed, &BACKUP_PASSPHRASE.context(0))?;
        let path = Path::new(&stored.dir).join(&input.name);
        let Ok(running) = std::sync::Arc::clone(&self.backup_running).try_lock_owned() else {
            return Err(AppError::Conflict(
                "A backup is being written; verify when it has finished.".to_owned(),
            ));
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let _running = running;
            let file = std::fs::File::open(&path).map_err(|_| None)?;
            super::verify_backup(file, Opening::Passphrase(passphrase)).map_err(Some)
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(match outcome {
            Ok(v) => VerifyScheduledOutcome {
                ok: true,
                message: format!(
                    "Good: every checksum matches ({} tables, {} rows, {} entries; taken {}).",
                    v.manifest.tables.len(),
                    v.manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
                    v.manifest.entries.len() + 1,
                    v.manifest.created_at
                ),
            },
            Err(None) => return Err(AppError::NotFound),
            Err(Some(e)) => VerifyScheduledOutcome {
                ok: false,
                message: format!("This backup is not good: {}", public_words(&e)),
            },
        })
    }

    /// One scheduled run: `None` when another backup holds the lock.
    async fn write_scheduled(&self, actor: &Actor, stored: &Stored) -> Option<ScheduledRun> {
        let running = std::sync::Arc::clone(&self.backup_running)
            .try_lock_owned()
            .ok()?;
        let result = self.write_scheduled_locked(stored).await;
        drop(running);
        let now = self.clock.now_ms();
        let run = match &result {
            Ok((file, deleted)) => ScheduledRun {
                at: crate::rfc3339(now),
                at_ms: now,
                ok: true,
                file: Some(file.clone()),
                message: if *deleted == 0 {
                    format!("{file} written.")
                } else {
                    format!(
                        "{file} written; {deleted} older backups deleted (keeping {}).",
                        stored.keep
                    )
                },
            },
            Err(message) => ScheduledRun {
                at: crate::rfc3339(now),
                at_ms: now,
                ok: false,
                file: None,
                message: format!("The scheduled backup failed: {message}"),
            },
        };
        self.record_run(&run).await;
        self.audit(
            actor,
            AuditEvent::SystemBackup,
            None,
            run.ok,
            serde_json::json!({
                "scheduled": true,
                "file": run.file,
                "include_key": stored.include_key,
                "reason": (!run.ok).then(|| run.message.clone()),
            }),
        )
        .await;
        Some(run)
    }

    /// Writes the backup and applies retention; `Err` holds plain words.
    async fn write_scheduled_locked(&self, stored: &Stored) -> Result<(String, usize), String> {
        let data_dir = self
            .config
            .data_dir
            .clone()
            .ok_or_else(|| "this server has no data directory to back up".to_owned())?;
        let dir = {
            let dir = stored.dir.clone();
            let data = data_dir.clone();
            tokio::task::spawn_blocking(move || check_backup_dir(&dir, Some(&data)))
                .await
                .map_err(|_| "the directory check stopped".to_owned())??
        };
        let sealing = match (&stored.recipient, &stored.passphrase_sealed) {
            (Some(r), _) => {
                Sealing::Recipient(r.parse::<BackupRecipient>().map_err(|e| e.to_string())?)
            }
            (None, Some(sealed)) => Sealing::Passphrase(
                self.open(sealed, &BACKUP_PASSPHRASE.context(0))
                    .map_err(|_| {
                        "the stored passphrase does not open with the sealing key; set it again"
                            .to_owned()
                    })?,
            ),
            (None, None) => return Err("no passphrase or public key is set".to_owned()),
        };
        let include_key = if stored.include_key {
            Some(
                self.config
                    .sealing
                    .clone()
                    .ok_or_else(|| "there is no sealing key to include".to_owned())?,
            )
        } else {
            None
        };
        let now = self.clock.now_ms();
        let name = schedule_file_name(now);
        let final_path = dir.join(&name);
        let temp = tempfile::Builder::new()
            .prefix(".printwarden-backup-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(|_| "printwarden cannot write into the backup directory".to_owned())?;
        let writer = temp
            .reopen()
            .map_err(|_| "printwarden cannot write into the backup directory".to_owned())?;
        let options = CreateOptions {
            data_dir,
            include_key,
            app_version: self.config.version.to_owned(),
            created_at_ms: now,
        };
        create_backup(&self.store, &options, &sealing, Box::new(writer))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "a scheduled backup failed");
                public_words(&e)
            })?;
        let keep = usize::try_from(stored.keep).unwrap_or(usize::MAX);
        let name_done = name.clone();
        tokio::task::spawn_blocking(move || {
            temp.as_file()
                .sync_all()
                .map_err(|_| "the backup could not be flushed to disk".to_owned())?;
            temp.persist_noclobber(&final_path)
                .map_err(|_| format!("{name_done} exists already; the new backup was discarded"))?;
            let files = list_files(&dir).map_err(|_| "the backup directory cannot be listed".to_owned())?;
            let mut deleted = 0;
            for old in files.iter().skip(keep) {
                match std::fs::remove_file(dir.join(&old.name)) {
                    Ok(()) => deleted += 1,
                    Err(e) => tracing::warn!(file = %old.name, error = %e, "an old backup could not be deleted"),
                }
            }
            Ok::<_, String>(deleted)
        })
        .await
        .map_err(|_| "finishing the backup stopped".to_owned())?
        .map(|deleted| (name, deleted))
    }

    /// The [`Task::BackupSchedule`](crate::Task::BackupSchedule) loop: writes a backup whenever
    /// one is due, checking every minute and whenever the schedule changes.
    pub(crate) async fn run_backup_schedule(self) {
        loop {
            let wait = match self.stored_schedule().await {
                Ok(Some(stored)) if stored.enabled => {
                    let last = self.last_run().await;
                    let now = self.clock.now_ms();
                    let due = next_due(&stored, last.as_ref(), now);
                    if due <= now {
                        if self
                            .write_scheduled(&Actor::system(), &stored)
                            .await
                            .is_none()
                        {
                            // A download holds the lock: try again soon, not a whole interval later.
                            Duration::from_millis(u64::try_from(BUSY_RETRY_MS).unwrap_or(60_000))
                        } else {
                            Duration::ZERO
                        }
                    } else {
                        Duration::from_millis(u64::try_from(due - now).unwrap_or(0)).min(POLL)
                    }
                }
                Ok(_) => POLL,
                Err(e) => {
                    tracing::warn!(error = %e, "the backup schedule could not be read");
                    POLL
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.backup_wake.notified() => {}
            }
        }
    }
}

/// `printwarden-20261207T163000-123Z.pwbk`: UTC with milliseconds, so names sort by time and
/// two runs in one second do not collide.
fn schedule_file_name(now_ms: i64) -> String {
    let compact = crate::rfc3339(now_ms).replace([':', '-'], "");
    let base = compact.strip_suffix('Z').unwrap_or(&compact);
    format!("printwarden-{base}-{:03}Z.pwbk", now_ms.rem_euclid(1000))
}

/// When the next scheduled backup is due: an interval after the last run (successful or not,
/// so a failing schedule does not spin), or now when it never ran.
fn next_due(stored: &Stored, last: Option<&ScheduledRun>, now: i64) -> i64 {
    let interval = i64::from(stored.interval_hours) * 3_600_000;
    last.map_or(now, |run| run.at_ms.saturating_add(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_schedules_own_names_are_touched() {
        let name = schedule_file_name(1_796_661_000_123);
        assert_eq!(name, "printwarden-20261207T163000-123Z.pwbk");
        assert!(is_schedule_file(&name));
        assert!(schedule_file_name(1_796_661_000_999) > schedule_file_name(1_796_661_000_123));
        assert!(!is_schedule_file("printwarden-20261207T163000.123Z.pwbk"));
        for bad in [
            "printwarden-.pwbk",
            "../printwarden-1.pwbk",
            "printwarden-1/../../x.pwbk",
            "mine.pwbk",
            "printwarden-1.pwbk.tmp",
            ".printwarden-backup-abc",
        ] {
            assert!(!is_schedule_file(bad), "{bad}");
        }
    }

    #[test]
    fn the_directory_must_be_absolute_existing_writable_and_outside_the_data_dir() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let backups = root.path().join("backups");
        std::fs::create_dir_all(data.join("blobs")).unwrap();
        std::fs::create_dir_all(&backups).unwrap();
        assert!(
            check_backup_dir("backups", Some(&data))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            check_backup_dir(&root.path().join("nope").to_string_lossy(), Some(&data))
                .unwrap_err()
                .contains("does not exist")
        );
        for inside in [data.clone(), data.join("blobs"), root.path().to_owned()] {
            assert!(
                check_backup_dir(&inside.to_string_lossy(), Some(&data))
                    .unwrap_err()
                    .contains("outside the data directory"),
                "{}",
                inside.display()
            );
        }
        // A link into the data directory is resolved first.
        let link = root.path().join("sneaky");
        std::os::unix::fs::symlink(data.join("blobs"), &link).unwrap();
        assert!(check_backup_dir(&link.to_string_lossy(), Some(&data)).is_err());
        assert_eq!(
            check_backup_dir(&backups.to_string_lossy(), Some(&data)).unwrap(),
            std::fs::canonicalize(&backups).unwrap()
        );
    }
}
