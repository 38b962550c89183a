//! Printer cameras (S10): one upstream connection per printer, opened while someone watches
//! and shared by every viewer (printers allow one camera client at a time), closed a few
//! seconds after the last viewer leaves.
//!
//! Invariants: a viewer needs `camera:view` on that printer, checked again through the normal
//! resolver and policy on every revocation event ([`crate::auth::live`]): a watch ends within a
//! second of its session, key, camera token or user being revoked, its rights or scope
//! narrowing, or the printer moving out of reach or being deleted; the upstream uses the
//! printer's pinned certificate, so the access code never goes to a changed one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pw_bambu::camera::Camera;
use pw_bambu::trust::{Fingerprint, PrinterVerifier};
use pw_domain::{Permission, PrinterId};
use tokio::sync::broadcast;

use crate::farm::fleet::access_code_context;
use crate::{Actor, App, AppError, LiveCredential, LiveUpdates, Task};

/// How long the upstream stays open after the last viewer left.
const LINGER: Duration = Duration::from_secs(5);

/// The camera feeds.
#[derive(Default)]
pub(crate) struct Cameras {
    feeds: Mutex<HashMap<PrinterId, broadcast::Sender<Arc<Vec<u8>>>>>,
}

impl Cameras {
    /// A share of the printer's feed when one is open (the archive's end-of-print frame takes
    /// it rather than opening a second camera connection the printer would refuse).
    pub(crate) fn subscribe(&self, id: PrinterId) -> Option<broadcast::Receiver<Arc<Vec<u8>>>> {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .map(broadcast::Sender::subscribe)
    }
}

impl std::fmt::Debug for Cameras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cameras").finish_non_exhaustive()
    }
}

/// One viewer's share of a feed.
#[derive(Debug)]
pub struct CameraWatch {
    frames: broadcast::Receiver<Arc<Vec<u8>>>,
    app: App,
    printer: PrinterId,
    /// What the watch was opened with and for whom, for the re-checks.
    credential: LiveCredential,
    meta: crate::RequestMeta,
    updates: LiveUpdates,
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The viewer's access was revoked.
    Revoked,
    /// The camera stopped.
    Stopped,
}

impl CameraWatch {
    /// The next frame, or why there is none.
    pub async fn next(&mut self) -> Result<Arc<Vec<u8>>, WatchEnd> {
        loop {
            tokio::select! {
                frame = self.frames.recv() => match frame {
                    Ok(f) => return Ok(f),
                    // A slow viewer skips frames rather than delaying the others.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(WatchEnd::Stopped),
                },
                () = self.updates.changed() => {
                    let now = self.app.reauthorize(&self.credential, &self.meta).await;
                    if self
                        .app
                        .printer_for(&now, self.printer, Permission::CameraView)
                        .await
                        .is_err()
                    {
                        return Err(WatchEnd::Revoked);
                    }
                }
            }
        }
    }
}

impl App {
    /// Starts watching a printer's camera (`camera:view` on it; 404 outside the caller's
    /// reach). `credential` is what the caller presented, re-checked on every revocation.
    pub async fn watch_camera(
        &self,
        actor: &Actor,
        credential: LiveCredential,
        id: PrinterId,
    ) -> Result<CameraWatch, AppError> {
        // Subscribed before the check: a revocation between the two is not missed.
        let updates = self.live_updates();
        let row = self.printer_for(actor, id, Permission::CameraView).await?;
        // The model table: X1/P2S/H2 serve RTSPS on 322, not the JPEG stream this reads; a
        // connection there would only fail after sending the access code to the wrong port.
        if !crate::CapabilitiesView::camera_viewable(&row.model) {
            return Err(AppError::Conflict(format!(
                "{} streams its camera over RTSPS, which printwarden does not show yet.",
                row.name
            )));
        }
        let Some(pin) = row.pinned_sha256.as_deref().and_then(Fingerprint::parse) else {
            return Err(AppError::Conflict(format!(
                "{} has not been connected yet; its camera opens once it is trusted.",
                row.name
            )));
        };
        let mut feeds = self
            .cameras
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let frames = match feeds.get(&id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(4);
                feeds.insert(id, tx.clone());
                let app = self.clone();
                let code = self.open(&row.access_code, &access_code_context(id))?;
                self.spawn_task(Task::CameraFeed, async move {
                    app.run_feed(id, &row.host, row.camera_port, &row.serial, &code, pin, &tx)
                        .await;
                    app.cameras
                        .feeds
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                });
                rx
            }
        };
        Ok(CameraWatch {
            frames,
            app: self.clone(),
            printer: id,
            credential,
            meta: actor.meta.clone(),
            updates,
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one connection's facts, passed once"
    )]
    async fn run_feed(
        &self,
        id: PrinterId,
        host: &str,
        port: u16,
        serial: &str,
        code: &pw_credentials::SecretString,
        pin: Fingerprint,
        tx: &broadcast::Sender<Arc<Vec<u8>>>,
    ) {
        let verifier = PrinterVerifier::new(serial, Some(pin), self.printer_roots());
        let mut camera = match Camera::connect(host, port, serial, code, &verifier).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(printer = %id, error = %e, "camera not reachable");
                return;
            }
        };
        let mut idle_since: Option<tokio::time::Instant> = None;
        loop {
            if tx.receiver_count() == 0 {
                let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= LINGER {
                    return;
                }
            } else {
                idle_since = None;
            }
            match camera.next_frame().await {
                Ok(frame) => {
                    let _ = tx.send(Arc::new(frame));
                }
                Err(e) => {
                    tracing::info!(printer = %id, error = %e, "camera stream ended");
                    return;
                }
            }
        }
    }
}
