//! The end-of-print camera frame: when an entry ends (finished, failed, cancelled), one JPEG
//! from the printer's chamber camera (the A1/P1 stream on its camera port) is kept as a blob
//! and named by the entry's `snapshot_sha256`.
//!
//! Invariants: it runs in a task of its own, never in the watcher, and gives up after
//! [`SNAPSHOT_TIMEOUT`]; a failure (no JPEG camera — X1/H2/P2S send H.264 over RTSPS, asked
//! for nothing here —, an unreachable or untrusted printer, a frame that is not a JPEG) is logged and the
//! entry stays as it is. Printers take one camera client at a time, so a frame is taken from
//! the feed viewers already share when one is open, and a connection of its own is opened only
//! otherwise. The camera connection uses the printer's pinned certificate, as every other.

use std::time::Duration;

use pw_bambu::camera::Camera;
use pw_bambu::trust::{Fingerprint, PrinterVerifier};
use pw_domain::PrinterId;

use crate::farm::fleet::access_code_context;
use crate::{App, AppError, Task};

/// The longest an end-of-print frame is waited for.
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

impl App {
    /// Takes the entry's end-of-print frame in a task of its own.
    pub(crate) fn spawn_archive_snapshot(&self, entry: i64, printer: PrinterId) {
        if self.library_blobs.is_none() {
            return;
        }
        let app = self.clone();
        self.spawn_task(Task::ArchiveMedia, async move {
            match tokio::time::timeout(SNAPSHOT_TIMEOUT, app.archive_frame(printer)).await {
                Ok(Ok(jpeg)) => {
                    if let Err(e) = app.keep_archive_snapshot(entry, &jpeg).await {
                        tracing::warn!(archive = entry, error = %e, "end-of-print frame not kept");
                    }
                }
                Ok(Err(e)) => {
                    tracing::info!(archive = entry, printer = %printer, error = %e, "no end-of-print frame");
                }
                Err(_) => {
                    tracing::info!(archive = entry, printer = %printer, "no end-of-print frame within 10 s");
                }
            }
        });
    }

    async fn keep_archive_snapshot(&self, entry: i64, jpeg: &[u8]) -> Result<(), AppError> {
        let staged = self.stage_bytes(jpeg).await?;
        self.keep_blob(staged, async |sha: &str| {
            Ok(self.store.set_archive_snapshot(entry, sha).await?)
        })
        .await?;
        Ok(())
    }

    /// One frame of the printer's camera: from the shared feed when someone watches, else
    /// from a connection of its own.
    async fn archive_frame(&self, printer: PrinterId) -> Result<Vec<u8>, AppError> {
        if let Some(mut frames) = self.cameras.subscribe(printer) {
            loop {
                match frames.recv().await {
                    Ok(frame) => return Ok(frame.as_ref().clone()),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        let row = self
            .store
            .printer(printer)
            .await?
            .ok_or(AppError::NotFound)?;
        // X1/H2/P2S send H.264 over RTSPS: a JPEG connection would only fail there (and the
        // picture would need a decoder, which the server does not carry).
        if crate::CapabilitiesView::of_model(&row.model).is_some_and(|c| c.camera == "rtsps") {
            return Err(AppError::Conflict(format!(
                "{}'s camera sends video; no end-of-print picture is kept for it.",
                row.name
            )));
        }
        let Some(pin) = row.pinned_sha256.as_deref().and_then(Fingerprint::parse) else {
            return Err(AppError::Conflict(format!(
                "{} is not trusted yet.",
                row.name
            )));
        };
        let code = self.open(&row.access_code, &access_code_context(row.id))?;
        let verifier = PrinterVerifier::new(&row.serial, Some(pin), self.printer_roots());
        let unreachable = |e: pw_bambu::session::SessionError| {
            AppError::Conflict(format!("{}'s camera: {e}", row.name))
        };
        let mut camera = Camera::connect(&row.host, row.camera_port, &row.serial, &code, &verifier)
            .await
            .map_err(unreachable)?;
        camera.next_frame().await.map_err(unreachable)
    }
}
