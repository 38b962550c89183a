//! The guarded web restore (Settings → Backup): upload → verify → confirm → restart.
//!
//! Who: only a principal that already holds every permission ([`Action::Administer`], through
//! `authorize`), from a browser session (the route table keeps API keys and tickets out; this
//! module checks again), who types their password again at the confirmation (the passkey
//! pattern: `confirm_password`), plus the backup's passphrase or identity. Threat: restoring
//! replaces every account, so a restore is a way to make oneself administrator — it must not be
//! open to anyone who is not one already, nor to a stolen session cookie alone.
//!
//! Invariants: the upload is streamed to `<data>/restore/upload.pwbk` (never whole in memory),
//! at most [`RESTORE_MAX_BYTES`], one at a time (a second upload, check or confirmation while
//! one runs is a 409, never a queue); nothing outside `<data>/restore/` is touched before the
//! restart; verification is the command line's (`walk`: manifest, every checksum, entry names,
//! schema not newer); the passphrase lives in memory only, from the confirmation to the restart
//! that applies it (threat: a passphrase on disk beside the archive it opens).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pw_credentials::SecretString;
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::names::EntryName;
use super::read::{decrypt, restorable, walk};
use super::{BackupError, BackupIdentity, Manifest, Opening};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The largest backup the page accepts (64 GiB): far above a farm's database and library, low
/// enough that a runaway upload stops long before the disk is full.
pub const RESTORE_MAX_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// The staging directory under the data directory.
pub const RESTORE_DIR: &str = "restore";
/// The staged upload inside [`RESTORE_DIR`].
pub const UPLOAD_FILE: &str = "upload.pwbk";
/// Sealed values held in memory while a backup is checked against the current key; past this
/// the check is skipped (the tables that hold them are small on any farm).
const SEALED_SCAN_MAX: usize = 16 * 1024 * 1024;

/// A restore the administrator confirmed, on its way to the process that restarts the server.
#[derive(Debug)]
pub struct PendingRestore {
    /// How the backup opens (only in memory).
    pub opening: Opening,
    /// Who confirmed it (for the audit event written after the restart).
    pub requested_by: String,
}

/// What the restart did with a [`PendingRestore`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreOutcome {
    /// Whether the backup is now the server's data.
    pub ok: bool,
    /// Plain words for the page.
    pub message: String,
    /// When the restart applied (or refused) it (RFC 3339).
    pub at: String,
    /// Who confirmed it.
    pub requested_by: String,
    /// Where the previous data is kept (a directory, and a schema on PostgreSQL).
    pub kept: Vec<String>,
    /// Rows restored.
    pub rows: u64,
    /// Files restored.
    pub files: u64,
}

/// The web restore's shared state (one per application).
#[derive(Debug, Default)]
pub struct WebRestore {
    /// Held while an upload, a check or a confirmation runs.
    busy: Arc<tokio::sync::Mutex<()>>,
    /// The way to the process that can restart the server (`printwarden serve`).
    restarter: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<PendingRestore>>>,
    /// The outcome the last restart reported.
    outcome: std::sync::Mutex<Option<RestoreOutcome>>,
}

/// `GET /api/v1/system/restore`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreStatus {
    /// Whether a backup is uploaded and waiting.
    pub staged: bool,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// When it was uploaded (RFC 3339).
    pub uploaded_at: Option<String>,
    /// The largest upload accepted.
    pub max_bytes: u64,
    /// Whether this server can restart itself to apply a restore (it runs as
    /// `printwarden serve`).
    pub can_restart: bool,
    /// The last restore's outcome, reported after the restart that applied it.
    pub last_restore: Option<RestoreOutcome>,
    /// `sqlite` or `postgres`: where a restore writes (PostgreSQL keeps the previous data in
    /// a schema `printwarden_before_restore_…`).
    pub database: String,
}

/// How the uploaded backup opens: its passphrase, or the age identity file for a backup sealed
/// to a public key. Exactly one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreOpen {
    /// The backup's passphrase.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub passphrase: Option<SecretString>,
    /// The text of an age identity file (`AGE-SECRET-KEY-1…` lines), for a backup sealed to a
    /// public key. Used for this restore only, never stored.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub identity: Option<SecretString>,
}

/// `POST /api/v1/system/restore/confirm`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreConfirm {
    /// The backup's passphrase.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub passphrase: Option<SecretString>,
    /// The age identity file's text, for a backup sealed to a public key.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub identity: Option<SecretString>,
    /// Your own password again (re-authentication; an account without a password needs a
    /// sign-in from the last five minutes instead).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<SecretString>,
}

/// `202` from the confirmation: the server restarts now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreAccepted {
    /// What happens next, in plain words.
    pub message: String,
}

/// What a verified backup says about itself, for the page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreCover {
    /// When the backup was taken (RFC 3339).
    pub created_at: String,
    /// The printwarden version that wrote it.
    pub app_version: String,
    /// Its database schema version.
    pub schema_version: i64,
    /// `sqlite` or `postgres`: where it came from.
    pub backend: String,
    /// Tables.
    pub tables: u64,
    /// Rows in all tables.
    pub rows: u64,
    /// Library, archive and TLS files.
    pub files: u64,
    /// Row counts of the tables people recognise.
    pub counts: Vec<(String, u64)>,
    /// Whether the sealing key is inside (it then replaces this server's `secret.key`).
    pub includes_sealing_key: bool,
    /// Sealed secrets (printer access codes, webhook secrets …) in the backup.
    pub sealed_values: u64,
    /// How many of them this server's current key opens (`null`: not checked — no key, or
    /// too many to hold).
    pub sealed_values_open: Option<u64>,
    /// Whether this printwarden can restore it.
    pub restorable: bool,
    /// Why not, in plain words.
    pub refused: Option<String>,
}

/// The tables whose counts the page shows.
const COUNTED: &[&str] = &[
    "users",
    "groups",
    "printers",
    "archives",
    "library_files",
    "queue_items",
    "webhooks",
];

fn opening(
    passphrase: Option<SecretString>,
    identity: Option<SecretString>,
) -> Result<Opening, AppError> {
    let passphrase = passphrase.filter(|p| !p.expose().is_empty());
    let identity = identity.filter(|i| !i.expose().trim().is_empty());
    match (passphrase, identity) {
        (Some(p), None) => Ok(Opening::Passphrase(p)),
        (None, Some(i)) => BackupIdentity::parse_file(i.expose())
            .map(Opening::Identities)
            .map_err(|e| AppError::BadRequest(e.to_string())),
        (Some(_), Some(_)) => Err(AppError::BadRequest(
            "give the passphrase or the identity file, not both".to_owned(),
        )),
        (None, None) => Err(AppError::BadRequest(
            "type the backup's passphrase (or paste the identity file of a backup sealed to a \
             public key)"
                .to_owned(),
        )),
    }
}

/// A backup error as the page shows it: refusals are the caller's (400), the rest ours.
fn public(e: BackupError) -> AppError {
    match e {
        BackupError::Passphrase(m) | BackupError::Refused(m) | BackupError::Target(m) => {
            AppError::BadRequest(m)
        }
        other => AppError::Internal(Box::new(other)),
    }
}

fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl App {
    fn restore_dir(&self) -> Result<PathBuf, AppError> {
        match &self.config.data_dir {
            Some(dir) => Ok(dir.join(RESTORE_DIR)),
            None => Err(AppError::BadRequest(
                "this server has no data directory to restore into".to_owned(),
            )),
        }
    }

    /// The door of every web-restore step: every permission, from a browser session.
    fn require_restorer(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(actor, Action::Administer, &Target::Global)?;
        // The route table admits sessions only; kept here too so a loosened row cannot open it.
        if actor.session.is_none() || actor.api_key.is_some() {
            return Err(AppError::Forbidden);
        }
        Ok(())
    }

    fn restore_busy(&self) -> Result<tokio::sync::OwnedMutexGuard<()>, AppError> {
        Arc::clone(&self.web_restore.busy)
            .try_lock_owned()
            .map_err(|_| {
                AppError::Conflict(
                    "Another backup is being uploaded, checked or confirmed right now; wait for it \
                     to finish (or cancel it)."
                        .to_owned(),
                )
            })
    }

    /// Called once by `printwarden serve`: the receiver gets each confirmed restore; the server
    /// then stops, applies it with the store closed, and starts again.
    pub fn attach_restarter(&self) -> tokio::sync::mpsc::Receiver<PendingRestore> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        if let Ok(mut slot) = self.web_restore.restarter.lock() {
            *slot = Some(tx);
        }
        rx
    }

    /// `GET /api/v1/system/restore`.
    pub async fn restore_status(&self, actor: &Actor) -> Result<RestoreStatus, AppError> {
        self.require_restorer(actor)?;
        let file = self.restore_dir()?.join(UPLOAD_FILE);
        let meta = std::fs::metadata(&file)
            .ok()
            .filter(std::fs::Metadata::is_file);
        let uploaded_at = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| crate::rfc3339(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        Ok(RestoreStatus {
            staged: meta.is_some(),
            size: meta.as_ref().map(std::fs::Metadata::len),
            uploaded_at,
            max_bytes: RESTORE_MAX_BYTES,
            can_restart: self
                .web_restore
                .restarter
                .lock()
                .map(|s| s.is_some())
                .unwrap_or(false),
            last_restore: self.web_restore.outcome.lock().ok().and_then(|o| o.clone()),
            database: self.store.backend().name().to_owned(),
        })
    }

    /// `PUT /api/v1/system/restore/upload`: streams the body to the staging file.
    pub async fn restore_upload(
        &self,
        actor: &Actor,
        length: Option<u64>,
        mut content: impl AsyncRead + Unpin + Send,
    ) -> Result<RestoreStatus, AppError> {
        self.require_restorer(actor)?;
        let dir = self.restore_dir()?;
        let refuse = |reason: &str| serde_json::json!({ "reason": reason, "size": length });
        if length.is_some_and(|n| n > RESTORE_MAX_BYTES) {
            self.audit(
                actor,
                AuditEvent::SystemRestoreUpload,
                None,
                false,
                refuse("too large"),
            )
            .await;
            return Err(AppError::TooLarge(format!(
                "The backup is larger than the {} GiB this page accepts; restore it with \
                 `printwarden backup restore` instead.",
                RESTORE_MAX_BYTES >> 30
            )));
        }
        let busy = match self.restore_busy() {
            Ok(busy) => busy,
            Err(e) => {
                self.audit(
                    actor,
                    AuditEvent::SystemRestoreUpload,
                    None,
                    false,
                    refuse("another upload was running"),
                )
                .await;
                return Err(e);
            }
        };
        let file = dir.join(UPLOAD_FILE);
        if file.exists() {
            drop(busy);
            self.audit(
                actor,
                AuditEvent::SystemRestoreUpload,
                None,
                false,
                refuse("a backup was already uploaded"),
            )
            .await;
            return Err(AppError::Conflict(
                "A backup is already uploaded: restore it or cancel it first.".to_owned(),
            ));
        }
        let part = dir.join(format!("{UPLOAD_FILE}.part"));
        let written = async {
            private_dir(&dir)?;
            let mut out = {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&part)?;
                tokio::fs::File::from_std(f)
            };
            let mut total = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = content.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > RESTORE_MAX_BYTES {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::FileTooLarge,
                        "too large",
                    ));
                }
                out.write_all(buf.get(..n).unwrap_or_default()).await?;
            }
            out.sync_all().await?;
            Ok::<u64, std::io::Error>(total)
        }
        .await;
        let total = match written {
            Ok(0) => Err(AppError::BadRequest(
                "The upload was empty: choose a backup file (.pwbk).".to_owned(),
            )),
            Ok(n) => std::fs::rename(&part, &file)
                .map(|()| n)
                .map_err(|e| AppError::Internal(Box::new(e))),
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                Err(AppError::TooLarge(format!(
                    "The backup is larger than the {} GiB this page accepts; restore it with \
                     `printwarden backup restore` instead.",
                    RESTORE_MAX_BYTES >> 30
                )))
            }
            Err(e) => {
                tracing::warn!(error = %e, "a backup upload for a restore failed");
                Err(AppError::BadRequest(
                    "The upload stopped before the end (connection lost or disk full); nothing \
                     was kept. Try again."
                        .to_owned(),
                ))
            }
        };
        let total = match total {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                drop(busy);
                self.audit(
                    actor,
                    AuditEvent::SystemRestoreUpload,
                    None,
                    false,
                    refuse(&e.to_string()),
                )
                .await;
                return Err(e);
            }
        };
        drop(busy);
        self.audit(
            actor,
            AuditEvent::SystemRestoreUpload,
            None,
            true,
            serde_json::json!({ "size": total }),
        )
        .await;
        self.restore_status(actor).await
    }

    /// `DELETE /api/v1/system/restore`: discards the uploaded backup.
    pub async fn restore_cancel(&self, actor: &Actor) -> Result<(), AppError> {
        self.require_restorer(actor)?;
        let dir = self.restore_dir()?;
        let _busy = self.restore_busy()?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::NotFound),
            Err(e) => return Err(AppError::Internal(Box::new(e))),
        }
        self.audit(
            actor,
            AuditEvent::SystemRestoreCancel,
            None,
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    fn staged_file(&self) -> Result<PathBuf, AppError> {
        let file = self.restore_dir()?.join(UPLOAD_FILE);
        if file.is_file() {
            Ok(file)
        } else {
            Err(AppError::Conflict(
                "No backup is uploaded: upload one first.".to_owned(),
            ))
        }
    }

    /// `POST /api/v1/system/restore/verify`: the command line's verification of the whole
    /// uploaded backup, and its cover. Writes nothing.
    pub async fn restore_verify(
        &self,
        actor: &Actor,
        input: RestoreOpen,
    ) -> Result<RestoreCover, AppError> {
        self.require_restorer(actor)?;
        let opening = opening(input.passphrase, input.identity)?;
        let _busy = self.restore_busy()?;
        let file = self.staged_file()?;
        let key = self.config.sealing.clone();
        let checked = tokio::task::spawn_blocking(move || inspect(&file, &opening, key.as_ref()))
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?
            .and_then(|cover| match cover.refused.clone() {
                Some(why) => Err(BackupError::Target(why)),
                None => Ok(cover),
            });
        match checked {
            Ok(cover) => {
                self.audit(
                    actor,
                    AuditEvent::SystemRestoreVerify,
                    None,
                    true,
                    serde_json::json!({
                        "created_at": cover.created_at,
                        "app_version": cover.app_version,
                        "backend": cover.backend,
                    }),
                )
                .await;
                Ok(cover)
            }
            Err(e) => {
                let e = public(e);
                self.audit(
                    actor,
                    AuditEvent::SystemRestoreVerify,
                    None,
                    false,
                    serde_json::json!({ "reason": e.to_string() }),
                )
                .await;
                Err(e)
            }
        }
    }

    /// `POST /api/v1/system/restore/confirm`: your password again, the backup's passphrase (it
    /// must open the backup, which must be restorable), then the server restarts to apply it.
    pub async fn restore_confirm(
        &self,
        actor: &Actor,
        input: RestoreConfirm,
    ) -> Result<RestoreAccepted, AppError> {
        self.require_restorer(actor)?;
        let password = input
            .current_password
            .unwrap_or_else(|| SecretString::new(String::new()));
        self.confirm_password(actor, &password, AuditEvent::SystemRestoreConfirm)
            .await?;
        let opening = opening(input.passphrase, input.identity)?;
        let busy = self.restore_busy()?;
        let file = self.staged_file()?;
        // The whole backup is checked again: it may have been uploaded with another
        // passphrase in mind, or changed on disk since it was verified.
        let key = self.config.sealing.clone();
        let check = opening.clone();
        let checked = tokio::task::spawn_blocking(move || inspect(&file, &check, key.as_ref()))
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?
            .map_err(public)
            .and_then(|cover| match cover.refused.clone() {
                Some(why) => Err(AppError::BadRequest(why)),
                None => Ok(cover),
            });
        let cover = match checked {
            Ok(c) => c,
            Err(e) => {
                self.audit(
                    actor,
                    AuditEvent::SystemRestoreConfirm,
                    None,
                    false,
                    serde_json::json!({ "reason": e.to_string() }),
                )
                .await;
                return Err(e);
            }
        };
        let restarter = self
            .web_restore
            .restarter
            .lock()
            .ok()
            .and_then(|s| s.clone());
        let Some(restarter) = restarter else {
            return Err(AppError::ServiceUnavailable(
                "This server cannot restart itself (it does not run as `printwarden serve`): stop \
                 it and use `printwarden backup restore`."
                    .to_owned(),
            ));
        };
        if restarter
            .try_send(PendingRestore {
                opening,
                requested_by: actor.name.to_string(),
            })
            .is_err()
        {
            return Err(AppError::Conflict(
                "A restore is already being applied; the server is restarting.".to_owned(),
            ));
        }
        drop(busy);
        self.audit(
            actor,
            AuditEvent::SystemRestoreConfirm,
            None,
            true,
            serde_json::json!({ "created_at": cover.created_at }),
        )
        .await;
        Ok(RestoreAccepted {
            message: format!(
                "Restoring the backup of {}: the server stops, replaces its data and starts \
                 again. Sign in again when it is back (with an account of the backup).",
                cover.created_at
            ),
        })
    }

    /// Called by `printwarden serve` after the restart: remembers the outcome for the page and
    /// writes its audit event (into the restored database, or the unchanged one).
    pub async fn record_restore_outcome(&self, outcome: RestoreOutcome) {
        self.audit(
            &Actor::system(),
            AuditEvent::SystemRestoreApplied,
            None,
            outcome.ok,
            if outcome.ok {
                serde_json::json!({
                    "requested_by": outcome.requested_by,
                    "kept": outcome.kept,
                    "rows": outcome.rows,
                    "files": outcome.files,
                })
            } else {
                serde_json::json!({
                    "requested_by": outcome.requested_by,
                    "reason": outcome.message,
                })
            },
        )
        .await;
        if let Ok(mut slot) = self.web_restore.outcome.lock() {
            *slot = Some(outcome);
        }
    }
}

/// Verifies the whole backup (the command line's `walk`) and reads its cover; on the way,
/// keeps the few tables that hold sealed secrets to try the current key on them.
fn inspect(
    file: &Path,
    opening: &Opening,
    key: Option<&pw_credentials::SealingKey>,
) -> Result<RestoreCover, BackupError> {
    // Only the header first: a wrong passphrase is said at once, not after reading it all.
    let header = std::fs::File::open(file).map_err(BackupError::io("cannot open the upload"))?;
    drop(decrypt(header, opening)?);
    let input = std::fs::File::open(file).map_err(BackupError::io("cannot open the upload"))?;
    let sealed_tables: Vec<&str> = pw_store::sealed::SEALED
        .iter()
        .map(|k| match k.at {
            pw_store::sealed::SealedAt::Column { table, .. } => table,
            _ => "settings",
        })
        .collect();
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut kept_bytes = 0usize;
    let mut overflow = false;
    let (cover, manifest) = walk(input, opening, None, &mut |entry, _, content| {
        if let EntryName::Rows { table } = entry
            && sealed_tables.contains(&table.as_str())
            && !overflow
        {
            let mut line = String::new();
            while content
                .read_line(&mut line)
                .map_err(BackupError::io("cannot read the upload"))?
                > 0
            {
                kept_bytes += line.len();
                if kept_bytes > SEALED_SCAN_MAX {
                    overflow = true;
                    kept.clear();
                    break;
                }
                kept.push((table.clone(), std::mem::take(&mut line)));
            }
        }
        Ok(())
    })?;
    let refused = restorable(&manifest.schema_versions).err();
    let (sealed_values, open) = check_sealed(&manifest, &kept, key);
    Ok(RestoreCover {
        created_at: cover.created_at,
        app_version: cover.app_version,
        schema_version: cover.schema_versions.last().copied().unwrap_or(0),
        backend: cover.backend,
        tables: manifest.tables.len() as u64,
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        files: manifest
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    EntryName::parse(&e.name),
                    Ok(EntryName::Blob { .. } | EntryName::Tls { .. })
                )
            })
            .count() as u64,
        counts: COUNTED
            .iter()
            .filter_map(|name| {
                manifest
                    .tables
                    .iter()
                    .find(|t| t.name == *name)
                    .map(|t| (t.name.clone(), t.rows))
            })
            .collect(),
        includes_sealing_key: cover.includes_sealing_key,
        sealed_values,
        sealed_values_open: if overflow || key.is_none() {
            None
        } else {
            Some(open)
        },
        restorable: refused.is_none(),
        refused,
    })
}

/// Counts the sealed values among the kept rows and how many `key` opens.
fn check_sealed(
    manifest: &Manifest,
    rows: &[(String, String)],
    key: Option<&pw_credentials::SealingKey>,
) -> (u64, u64) {
    let column = |table: &str, name: &str| {
        manifest
            .tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.columns.iter().position(|(c, _)| c == name))
    };
    let (mut total, mut open) = (0u64, 0u64);
    let mut try_open = |value: &str, context: String| {
        if !pw_credentials::seal::is_sealed(value) {
            return;
        }
        total += 1;
        if key.is_some_and(|k| k.open(value, &context).is_ok()) {
            open += 1;
        }
    };
    for kind in pw_store::sealed::SEALED {
        let (table, want_key) = match kind.at {
            pw_store::sealed::SealedAt::Column { table, .. } => (table, None),
            pw_store::sealed::SealedAt::Setting { key }
            | pw_store::sealed::SealedAt::SettingField { key, .. } => ("settings", Some(key)),
        };
        let (Some(id_at), Some(value_at)) = (
            match kind.at {
                pw_store::sealed::SealedAt::Column { id, .. } => column(table, id),
                _ => column(table, "key"),
            },
            match kind.at {
                pw_store::sealed::SealedAt::Column { column: c, .. } => column(table, c),
                _ => column(table, "value"),
            },
        ) else {
            continue;
        };
        for (t, line) in rows.iter().filter(|(t, _)| t == table) {
            let _ = t;
            let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(line.trim_end()) else {
                continue;
            };
            let (Some(id), Some(value)) = (values.get(id_at), values.get(value_at)) else {
                continue;
            };
            match (kind.at, want_key) {
                (pw_store::sealed::SealedAt::Column { .. }, _) => {
                    if let (Some(id), Some(v)) = (id.as_i64(), value.as_str()) {
                        try_open(v, kind.context(id));
                    }
                }
                (pw_store::sealed::SealedAt::Setting { .. }, Some(k)) if id.as_str() == Some(k) => {
                    if let Some(v) = value.as_str() {
                        try_open(v, kind.context(0));
                    }
                }
                (pw_store::sealed::SealedAt::SettingField { field, .. }, Some(k))
                    if id.as_str() == Some(k) =>
                {
                    if let Some(v) = value
                        .as_str()
                        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                        .and_then(|doc| doc.get(field).and_then(|f| f.as_str()).map(str::to_owned))
                    {
                        try_open(&v, kind.context(0));
                    }
                }
                _ => {}
            }
        }
    }
    (total, open)
}
