//! `POST /api/v1/system/backup` (`system:backup`): the same backup as `printwarden backup
//! create`, streamed to the caller as it is written. The passphrase travels in the request body
//! and lives only as long as the backup (threat: a stored passphrase would sit next to the
//! data it protects).
//!
//! Invariant: the download is a complete age file or it is cut short — a backup that fails
//! half-way ends the body with an error, and a cut-off file never verifies (age proves its own
//! end), so a partial download cannot pass for a backup.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use pw_credentials::SecretString;
use pw_domain::Permission;
use pw_policy::{Action, Target};
use serde::Deserialize;

use super::{CreateOptions, check_new_passphrase, create_backup};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// At least 12 characters; needed to open the backup, never stored.
    #[schema(value_type = String, format = Password)]
    pub passphrase: SecretString,
    /// Put the sealing key inside (the backup's cover then says so).
    #[serde(default)]
    pub include_key: bool,
}

/// A backup being written: its file name and its bytes as they come.
#[derive(Debug)]
pub struct BackupDownload {
    /// `printwarden-<time>.pwbk`.
    pub file_name: String,
    /// The encrypted bytes; an `Err` means the backup failed and the file is incomplete.
    pub body: BackupBody,
}

/// The stream of a backup download. While it lives no other backup starts: it holds the
/// one-at-a-time lock until the response has been sent (or dropped), not just written.
#[derive(Debug)]
pub struct BackupBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    _running: tokio::sync::OwnedMutexGuard<()>,
}

impl BackupBody {
    /// The next piece; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        self.rx.recv().await
    }
}

/// Hands written bytes to the response body (on the writer's blocking thread).
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was cancelled")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl App {
    /// Starts a backup for `actor` and returns its stream.
    pub async fn backup_download(
        &self,
        actor: &Actor,
        input: BackupRequest,
    ) -> Result<BackupDownload, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SystemBackup),
            &Target::Global,
        )?;
        check_new_passphrase(input.passphrase.expose())
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let Some(data_dir) = self.config.data_dir.clone() else {
            return Err(AppError::BadRequest(
                "this server has no data directory to back up".to_owned(),
            ));
        };
        let include_key = if input.include_key {
            let Some(key) = self.config.sealing.clone() else {
                return Err(AppError::BadRequest(
                    "there is no sealing key to include: secrets are stored in plaintext"
                        .to_owned(),
                ));
            };
            Some(key)
        } else {
            None
        };
        let Ok(running) = Arc::clone(&self.backup_running).try_lock_owned() else {
            return Err(AppError::Conflict(
                "A backup is being written already; download this one when it has finished."
                    .to_owned(),
            ));
        };
        let now = self.clock.now_ms();
        let options = CreateOptions {
            data_dir,
            include_key,
            app_version: self.config.version.to_owned(),
            created_at_ms: now,
        };
        let stamp = crate::rfc3339(now).replace([':', '-'], "");
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let app = self.clone();
        let actor = actor.clone();
        let include = input.include_key;
        tokio::spawn(async move {
            let writer = Box::new(ChannelWriter(tx.clone()));
            let result = create_backup(&app.store, &options, &input.passphrase, writer).await;
            let details = match &result {
                Ok(_) => serde_json::json!({ "include_key": include }),
                Err(e) => {
                    tracing::warn!(error = %e, "a backup download failed");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    serde_json::json!({ "include_key": include, "reason": e.to_string() })
                }
            };
            app.audit(
                &actor,
                AuditEvent::SystemBackup,
                None,
                result.is_ok(),
                details,
            )
            .await;
        });
        Ok(BackupDownload {
            file_name: format!("printwarden-{stamp}.pwbk"),
            body: BackupBody {
                rx,
                _running: running,
            },
        })
    }
}
