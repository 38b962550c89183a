//! The printer connections: one supervisor task per printer that keeps its MQTT session up
//! (jittered exponential backoff, keep-alive pings that tell a quiet printer from a dead link, a
//! count of dropped connections), merges its reports into a live status, carries commands to it
//! and matches their replies, and enforces certificate trust (seed 000): the first certificate is pinned, a different one stops the
//! supervisor — no reconnect attempt, so the access code is never offered to it — until a user
//! with `printers:trust` approves the new fingerprint.
//!
//! Invariants: the access code is opened from its sealed form only inside the supervisor, right
//! before connecting, and never logged; a supervisor ends when its printer is deleted; live
//! changes are published on the fleet's event bus (the events WebSocket filters them per
//! principal).

mod supervisor;

use supervisor::Supervisor;
#[cfg(feature = "bench")]
pub(crate) use supervisor::apply_report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use pw_bambu::command::Command;
use pw_bambu::report::{Frame, Reply, Report, Status};
use pw_bambu::session::{Endpoint, Inbound, Session, SessionError};
use pw_bambu::trust::{Fingerprint, PrinterVerifier, Refused};
use pw_domain::PrinterId;
use pw_store::PrinterRow;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use crate::core::clock::random;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, Task};

/// How long a command waits for the printer's reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection as users see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Trying to connect.
    Connecting,
    /// Connected and receiving reports.
    Online,
    /// Not reachable right now; retrying.
    Offline,
    /// The printer presented a different certificate; waiting for approval.
    CertificateChanged,
    /// The certificate is not for this printer's serial or not signed by the configured CA.
    CertificateRefused,
    /// The printer refused the access code.
    BadAccessCode,
}

/// A printer's live state.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub connection: Connection,
    /// Why it is not online, in words.
    pub problem: Option<String>,
    pub status: Option<Status>,
    /// Control commands are refused as printers with Developer Mode off do.
    pub developer_mode_off: bool,
    /// When the last status report arrived (unix ms).
    pub last_report_ms: Option<i64>,
    /// When established sessions were lost (unix ms), within about the last hour: flapping
    /// shows on the printer card instead of only in the log.
    pub drops: Vec<i64>,
}

impl Live {
    /// Connections lost within the hour before `now` (unix ms).
    pub(crate) fn drops_last_hour(&self, now: i64) -> u32 {
        let n = self
            .drops
            .iter()
            .filter(|at| now - **at < supervisor::DROPS_WINDOW_MS)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Default for Live {
    fn default() -> Self {
        Self {
            connection: Connection::Connecting,
            problem: None,
            status: None,
            developer_mode_off: false,
            last_report_ms: None,
            drops: Vec::new(),
        }
    }
}

/// Something changed on a printer (the events WebSocket sends the new state to those who
/// may read it).
#[derive(Debug, Clone)]
pub struct PrinterEvent {
    /// Which printer.
    pub printer: PrinterId,
    /// It was removed.
    pub removed: bool,
    /// The printer as of this event, rendered once by the first listener that needs it and
    /// shared by all (50 dashboards must not each rebuild and serialise the same view).
    pub(crate) rendered: Arc<OnceLock<Option<Rendered>>>,
}

/// A printer's events-socket message serialised once, with what authorization needs to know.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub target: pw_policy::PrinterRef,
    /// `{"type":"printer","printer":<PrinterView>}`; clones share the buffer.
    pub message: bytes::Bytes,
    /// The printer's open archive entry and the same message with its `archive_id`, sent
    /// only to a principal who may read that entry (the plain message has `null`).
    pub archive: Option<(OpenArchive, bytes::Bytes)>,
}

/// See [`Fleet::render_parts`].
pub(crate) struct RenderParts {
    pub row: PrinterRow,
    pub live: watch::Receiver<Live>,
    pub plate: pw_store::PlateRow,
    pub archive: Option<OpenArchive>,
}

/// A printer's open archive entry as the archive watcher last saw it: what a printer card
/// needs to link its running job, and who may follow that link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenArchive {
    /// The entry.
    pub id: i64,
    /// Its owner (who started the print; `None` = outside printwarden or the starter deleted).
    pub owner: Option<pw_domain::UserId>,
}

/// A command for a supervisor, with where to send the reply.
pub(crate) struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Result<Option<Reply>, String>>,
}

/// One supervised printer.
struct Link {
    /// The printer as stored (names, location), kept current by the use cases.
    row: PrinterRow,
    live: watch::Receiver<Live>,
    commands: mpsc::Sender<Request>,
    /// Wakes the supervisor: settings changed or a certificate was approved.
    wake: Arc<Notify>,
    task: AbortHandle,
    /// The open archive entry of the running job, kept current by the archive watcher.
    archive: Option<OpenArchive>,
    /// The plate as the store has it (`printer_plates`), kept current by every writer of it,
    /// so printer views show the queue's plate gate without a database read per report.
    plate: pw_store::PlateRow,
}

/// Every supervised printer.
pub(crate) struct Fleet {
    links: Mutex<HashMap<PrinterId, Link>>,
    events: Option<broadcast::Sender<PrinterEvent>>,
    /// Upload-and-print claims (one start per printer at a time).
    pub(crate) claims: crate::farm::print_claims::PrintClaims,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").finish_non_exhaustive()
    }
}

impl Fleet {
    pub(crate) fn new() -> Self {
        // Room for about four seconds of a 1,000-printer farm's reports: a socket that falls
        // further behind is sent a fresh snapshot instead. Each slot holds its event's
        // rendered view until overwritten, so the capacity is also memory (~1.5 KiB a slot).
        let (events, _) = broadcast::channel(4_096);
        Self {
            links: Mutex::new(HashMap::new()),
            events: Some(events),
            claims: crate::farm::print_claims::PrintClaims::default(),
        }
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<PrinterId, Link>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What rendering a printer's event needs, under one lock: its row, a handle on its live
    /// state (read in place by the caller, not copied), its plate and open archive entry.
    pub(crate) fn render_parts(&self, id: PrinterId) -> Option<RenderParts> {
        self.links().get(&id).map(|l| RenderParts {
            row: l.row.clone(),
            live: l.live.clone(),
            plate: l.plate,
            archive: l.archive,
        })
    }

    /// Records a changed row (name, location…) and tells listeners.
    pub(crate) fn set_row(&self, row: PrinterRow) {
        let id = row.id;
        if let Some(l) = self.links().get_mut(&id) {
            l.row = row;
        }
        self.announce(id, false);
    }

    fn announce(&self, printer: PrinterId, removed: bool) {
        if let Some(events) = &self.events {
            let _ = events.send(PrinterEvent {
                printer,
                removed,
                rendered: Arc::default(),
            });
        }
    }

    /// What the archive follows of a printer's job (name, state, file, job name, error, the
    /// loaded tray), without copying its whole status; `None` before its first report.
    pub(crate) fn archive_view(&self, id: PrinterId) -> Option<crate::farm::archive::JobView> {
        let links = self.links();
        let link = links.get(&id)?;
        let live = link.live.borrow();
        let status = live.status.as_ref()?;
        Some(crate::farm::archive::JobView::of(&link.row.name, status))
    }

    pub(crate) fn live(&self, id: PrinterId) -> Live {
        self.links()
            .get(&id)
            .map(|l| l.live.borrow().clone())
            .unwrap_or_default()
    }

    /// The printers that are online, have reported and are not on a job, each with its row and
    /// plate as cached here, in the order `(name, id)` (the order the dispatcher always gave
    /// free printers their turn in). One walk over the fleet under one lock: a dispatch pass
    /// over a 1,000-printer farm no longer reads every printer row from the database to find
    /// the few that are free; only those are cloned.
    pub(crate) fn idle_printers(&self) -> Vec<(PrinterRow, pw_store::PlateRow)> {
        let mut idle: Vec<_> = self
            .links()
            .values()
            .filter(|l| {
                let live = l.live.borrow();
                live.connection == Connection::Online
                    && live
                        .status
                        .as_ref()
                        .is_some_and(|s| !s.gcode_state.is_busy())
            })
            .map(|l| (l.row.clone(), l.plate))
            .collect();
        idle.sort_by(|(a, _), (b, _)| (&a.name, a.id).cmp(&(&b.name, b.id)));
        idle
    }

    /// The printer's open archive entry, as the archive watcher last recorded it.
    pub(crate) fn open_archive(&self, id: PrinterId) -> Option<OpenArchive> {
        self.links().get(&id).and_then(|l| l.archive)
    }

    /// Records the printer's open archive entry (or none) and tells listeners when it changed,
    /// so cards link the running job as soon as its entry exists.
    pub(crate) fn set_open_archive(&self, id: PrinterId, archive: Option<OpenArchive>) {
        let changed = match self.links().get_mut(&id) {
            Some(l) if l.archive != archive => {
                l.archive = archive;
                true
            }
            _ => false,
        };
        if changed {
            self.announce(id, false);
        }
    }

    /// The printer's plate (clear and not waived for an unknown printer).
    pub(crate) fn plate(&self, id: PrinterId) -> pw_store::PlateRow {
        self.links().get(&id).map(|l| l.plate).unwrap_or_default()
    }

    /// Records a change of the printer's plate (call right after the store write) and tells
    /// listeners when it changed, so the "Plate cleared" button follows it.
    pub(crate) fn update_plate(&self, id: PrinterId, change: impl FnOnce(&mut pw_store::PlateRow)) {
        let changed = match self.links().get_mut(&id) {
            Some(l) => {
                let before = l.plate;
                change(&mut l.plate);
                l.plate != before
            }
            None => false,
        };
        if changed {
            self.announce(id, false);
        }
    }

    /// Forgets an entry that was deleted while its print still runs (its link would lead to a
    /// 404).
    pub(crate) fn forget_archive(&self, id: PrinterId, entry: i64) {
        let open = self.open_archive(id);
        if open.is_some_and(|a| a.id == entry) {
            self.set_open_archive(id, None);
        }
    }

    pub(crate) fn commands(&self, id: PrinterId) -> Option<mpsc::Sender<Request>> {
        self.links().get(&id).map(|l| l.commands.clone())
    }

    pub(crate) fn wake(&self, id: PrinterId) {
        if let Some(l) = self.links().get(&id) {
            l.wake.notify_one();
        }
    }

    pub(crate) fn stop(&self, id: PrinterId) {
        let removed = self.links().remove(&id);
        if let Some(l) = removed {
            l.task.abort();
            self.announce(id, true);
        }
    }

    /// Bench only (feature `bench`, never in the server): a printer without a connection
    /// whose live state the caller sets through the returned sender, so the dispatch benchmark
    /// runs the dispatcher's own pass over a farm of 1,000 printers without 1,000 MQTT
    /// sessions.
    #[cfg(feature = "bench")]
    pub(crate) fn insert_unconnected(&self, row: PrinterRow) -> watch::Sender<Live> {
        let (live_tx, live_rx) = watch::channel(Live::default());
        let (cmd_tx, _) = mpsc::channel(1);
        let id = row.id;
        let link = Link {
            row,
            live: live_rx,
            commands: cmd_tx,
            wake: Arc::new(Notify::new()),
            task: tokio::spawn(std::future::pending::<()>()).abort_handle(),
            archive: None,
            plate: pw_store::PlateRow::default(),
        };
        if let Some(old) = self.links().insert(id, link) {
            old.task.abort();
        }
        live_tx
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<PrinterEvent> {
        match &self.events {
            Some(e) => e.subscribe(),
            None => broadcast::channel(1).1,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (_, l) in self.links().drain() {
            l.task.abort();
        }
    }
}

/// Sealing context of a printer's access code.
pub(crate) fn access_code_context(id: PrinterId) -> String {
    format!("printer:{id}:access_code")
}

impl App {
    /// The printer a notification is about, as the fleet has it now (name, location).
    pub(crate) fn notice_printer(
        &self,
        id: PrinterId,
    ) -> Option<crate::notify::events::NoticePrinter> {
        let links = self.fleet.links();
        let row = &links.get(&id)?.row;
        Some(crate::notify::events::NoticePrinter {
            id,
            name: row.name.clone(),
            location: row.location_id,
        })
    }

    /// Live printer changes (the events WebSocket filters them per principal).
    #[must_use]
    pub fn printer_events(&self) -> broadcast::Receiver<PrinterEvent> {
        self.fleet.subscribe()
    }
}

/// The next event for a long-lived follower of the printer bus (archive, print mails): a lag is
/// skipped, because the next report of each printer carries its whole state again; `None` once
/// the bus is closed.
pub(crate) async fn next_printer_event(
    events: &mut broadcast::Receiver<PrinterEvent>,
) -> Option<PrinterEvent> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

impl App {
    /// Starts (or restarts) the supervisor of one printer.
    pub(crate) fn supervise(&self, row: PrinterRow) {
        let id = row.id;
        // A restarted supervisor (changed settings) keeps the printer's open archive entry:
        // the watcher records it again only when the job changes. Its plate too.
        let mut archive = None;
        let mut plate = pw_store::PlateRow::default();
        if let Some(old) = self.fleet.links().remove(&id) {
            old.task.abort();
            archive = old.archive;
            plate = old.plate;
        }
        let (live_tx, live_rx) = watch::channel(Live::default());
        let (cmd_tx, cmd_rx) = mpsc::channel(32);
        let wake = Arc::new(Notify::new());
        let app = self.clone();
        let task = self.spawn_task(Task::PrinterSupervisor, {
            let wake = Arc::clone(&wake);
            async move {
                Supervisor {
                    app,
                    id,
                    live: live_tx,
                    wake,
                    was_online: std::sync::atomic::AtomicBool::new(false),
                    announced_offline: std::sync::atomic::AtomicBool::new(false),
                }
                .run(cmd_rx)
                .await;
            }
        });
        self.fleet.links().insert(
            id,
            Link {
                row,
                live: live_rx,
                commands: cmd_tx,
                wake,
                task,
                archive,
                plate,
            },
        );
    }
}
