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

use super::{BackupRecipient, CreateOptions, Sealing, create_backup};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// At least 12 characters; needed to open the backup, never stored. Give this or
    /// `recipient`, not both.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub passphrase: Option<SecretString>,
    /// An age public key (`age1…` from `age-keygen`, or `age1pq1…`): the backup opens only with
    /// its identity file, which never comes near the server. Give this or `passphrase`.
    #[serde(default)]
    pub recipient: Option<String>,
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
        let sealing = sealing(input.passphrase, input.recipient.as_deref())?;
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
            let result = create_backup(&app.store, &options, &sealing, writer).await;
            let sealed_with = sealing_words(&sealing);
            let details = match &result {
                Ok(_) => serde_json::json!({ "include_key": include, "sealed_with": sealed_with }),
                Err(e) => {
                    tracing::warn!(error = %e, "a backup download failed");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    serde_json::json!({
                        "include_key": include,
                        "sealed_with": sealed_with,
                        "reason": e.to_string(),
                    })
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

/// The sealing a request asks for: exactly one of a passphrase and a public key (empty
/// fields count as absent, as a form sends them).
pub(crate) fn sealing(
    passphrase: Option<SecretString>,
    recipient: Option<&str>,
) -> Result<Sealing, AppError> {
    let bad = |e: super::BackupError| AppError::BadRequest(e.to_string());
    let passphrase = passphrase.filter(|p| !p.expose().is_empty());
    let recipient = recipient.map(str::trim).filter(|r| !r.is_empty());
    match (passphrase, recipient) {
        (Some(p), None) => Sealing::passphrase(p).map_err(bad),
        (None, Some(r)) => r
            .parse::<BackupRecipient>()
            .map(Sealing::Recipient)
            .map_err(bad),
        (Some(_), Some(_)) => Err(AppError::BadRequest(
            "give a passphrase or a public key, not both".to_owned(),
        )),
        (None, None) => Err(AppError::BadRequest(
            "give a passphrase (at least 12 characters) or an age public key to seal the backup"
                .to_owned(),
        )),
    }
}

/// For the audit trail: how a backup was sealed (a public key is not secret; a passphrase is
/// never written).
pub(crate) fn sealing_words(sealing: &Sealing) -> String {
    match sealing {
        Sealing::Passphrase(_) => "passphrase".to_owned(),
        Sealing::Recipient(r) => format!("public key {r}"),
    }
}
