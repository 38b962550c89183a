//! The queue's dispatcher: one background task ([`Task::QueueDispatcher`]) that gives free
//! printers their next queued item and follows every run to its end.
//!
//! Each pass (on printer events, at most every [`MIN_PASS`], and every [`TICK`]):
//! 1. **Reconcile** the items printers work on with the printers' own reports (the printer is
//!    the truth): a `dispatching` item whose job the printer names — running, or already ended
//!    while no server watched (its report keeps the task id) — or whose archive entry exists
//!    becomes `printing`; one whose start was never sent goes back to `queued` without
//!    counting the attempt; a `printing` item whose archive entry ended counts the copy and is
//!    queued again while copies remain, else `done` (or `failed` with the reason in words).
//!    The first pass runs before anything is dispatched, so a restart picks up where it was.
//! 2. **Dispatch**: for each online printer that is idle, not being started, has no open
//!    archive entry (the watcher has seen its last end) and whose plate is clear (or waived,
//!    by the printer or its location; a group target reaches every member),
//!    claim the best item (`Store::claim_next_queue_item`) and start it through the one start
//!    path, beside the pass (one printer's upload never holds another printer's start). The
//!    free printers are found in the fleet (memory), not by reading every printer row; only
//!    they are checked against the database (row, plate, open archive entry), so a pass over
//!    a 1,000-printer farm costs the database one read per free printer and its claim.
//!
//! Invariants — never one item started twice:
//! - a claim is atomic in the database (see `store::farm::queue`), so two dispatchers (two
//!   processes on one database) never claim one item twice or give one printer two items;
//! - a start is *fenced*: the print job is written onto the item (`Store::fence_queue_start`,
//!   a compare-and-set on the claim's `claimed_at`) before the start command, and nothing is
//!   sent when that fails; taking a claim back (`Store::unclaim_queue_item`) is the opposite
//!   compare-and-set and only succeeds while no job was fenced. So either the start command
//!   goes out for this claim, or the claim goes back to the queue — never both;
//! - a claim whose start was fenced is only ever decided by the printer's report or archive
//!   entry (printing), or, after [`START_WINDOW`] counted from the fence (not the claim: the
//!   upload between them may take minutes, and another dispatcher must not take a start back
//!   that is just being sent) without any sign of it on an online printer, treated as never
//!   received; a `printing` item whose printer names its job is never failed for want of an
//!   archive entry (the watcher archives a run it did not see, see `archive::watch`);
//! - an active item whose printer was removed is parked as failed with the reason in words
//!   (whether it printed is unknown), never started elsewhere;
//! - a claim without a fenced start is taken back at start-up (this process had no start in
//!   flight) and otherwise only after [`UNFENCED_LEASE`] (another process may be uploading it).
//!
//! Nothing here blocks the MQTT path (it reads the fleet's published state and the bus), and
//! nothing panics: a database error is logged and the next pass tries again. Every state
//! change goes through [`App::queue_transition`], audited with `dispatcher` as the actor.

use std::collections::HashSet;
use std::io::{Seek, SeekFrom};
use std::time::Duration;

use pw_domain::PrinterId;
use pw_store::{PrinterRow, QueueItemRow, QueueState, QueueStep};
use tokio::task::JoinSet;

use super::PrintOptions;
use super::ams::{self, AmsAssignment, EXTERNAL_TRAY};
use super::items::needs_of;
use crate::farm::fleet::{Connection, PrinterEvent};
use crate::farm::library::meta::StoredMeta;
use crate::farm::printers::{Printable, StartPrint, StartSettings, printer_file_name};
use crate::{Actor, App, AppError, Task};

/// The longest wait between two passes.
const TICK: Duration = Duration::from_secs(1);
/// The shortest wait between two passes (printers report every second each: a farm's events
/// must not turn into a pass per report).
const MIN_PASS: Duration = Duration::from_millis(200);
/// Start attempts before an item is parked as failed.
pub(crate) const MAX_ATTEMPTS: i64 = 5;
/// The first retry's delay; each further attempt doubles it, up to [`BACKOFF_MAX_MS`].
const BACKOFF_BASE_MS: i64 = 15_000;
/// The longest retry delay.
const BACKOFF_MAX_MS: i64 = 30 * 60_000;
/// A fenced start the printer shows no sign of after this long was never received.
const START_WINDOW: i64 = 60_000;
/// A claim without a fenced start older than this is taken back even while the server runs
/// (another process that claimed it died mid-upload).
const UNFENCED_LEASE: i64 = 10 * 60_000;

/// The delay before retry number `attempts` (1-based).
fn backoff_ms(attempts: i64) -> i64 {
    let shift = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    BACKOFF_BASE_MS
        .saturating_mul(1_i64 << shift)
        .min(BACKOFF_MAX_MS)
}

/// The printer's current job id, when it reports one and is on a job.
fn running_job(app: &App, printer: PrinterId) -> (bool, bool, Option<String>) {
    let live = app.fleet.live(printer);
    let online = live.connection == Connection::Online;
    let Some(status) = live.status.as_ref() else {
        return (online, false, None);
    };
    (
        online,
        status.gcode_state.is_busy(),
        status.job_key().map(str::to_owned),
    )
}

/// The `ams_mapping` a start command carries: one tray per filament slot, `-1` for the
/// external spool or an unused slot.
fn mapping_vector(mapping: &[AmsAssignment]) -> Vec<i32> {
    let slots = mapping.iter().map(|a| a.slot).max().unwrap_or(0);
    let mut out = vec![-1; usize::try_from(slots).unwrap_or(0)];
    for a in mapping {
        let Some(i) = usize::try_from(a.slot).ok().and_then(|s| s.checked_sub(1)) else {
            continue;
        };
        if let Some(cell) = out.get_mut(i) {
            *cell = if a.tray == EXTERNAL_TRAY {
                -1
            } else {
                i32::try_from(a.tray).unwrap_or(-1)
            };
        }
    }
    if out.is_empty() {
        out.push(-1);
    }
    out
}

/// An error as the item's reason: the safe message of a refusal, or plain words for an
/// internal failure (its cause goes to the log only).
fn words_of(e: &AppError) -> String {
    match e {
        AppError::BadRequest(m) | AppError::Conflict(m) | AppError::TooLarge(m) => m.clone(),
        AppError::Unavailable(_) => "The database was unavailable.".to_owned(),
        other => {
            tracing::warn!(error = %other, "queue: start failed");
            "The start failed on the server; see its log.".to_owned()
        }
    }
}

/// Whether a free printer may take an item.
enum Ready {
    Yes,
    /// Its plate waits for clearing.
    Plate,
    /// The archive watcher has not seen its last print end yet.
    Archive,
}

/// Whether the printer's plate lets the queue start a job there (cleared, or waived by the
/// printer or its location), and the archive watcher has seen its last print end.
fn readiness(printer: &PrinterRow, plate: pw_store::PlateRow, open_archive: bool) -> Ready {
    if plate.needs_clearing && !plate.waived && !printer.location_waives_plate_clear {
        Ready::Plate
    } else if open_archive {
        Ready::Archive
    } else {
        Ready::Yes
    }
}

/// What a finished start attempt means for its item.
enum Attempt {
    /// The printer accepted the start.
    Started(i64),
    /// Not started, for this reason in words.
    Failed(String),
    /// The claim was taken back or the printer was claimed by another start: not an attempt.
    NotMine,
}

impl App {
    /// Starts the dispatcher task (once per server).
    pub(crate) fn start_dispatcher(&self) {
        let app = self.clone();
        let mut events = self.printer_events();
        self.spawn_task(Task::QueueDispatcher, async move {
            let mut starts: JoinSet<()> = JoinSet::new();
            // Item ids and printers this process is starting now.
            let inflight: std::sync::Arc<std::sync::Mutex<(HashSet<i64>, HashSet<PrinterId>)>> =
                std::sync::Arc::default();
            // Printers whose plate wait was announced (once per wait).
            let plate_waits = super::notices::PlateWaits::default();
            // Reconcile before dispatching anything (a restart finds claims of the process
            // before it: none of them is in flight here).
            app.queue_reconcile(true, &HashSet::new()).await;
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    event = events.recv() => {
                        match event {
                            Ok(PrinterEvent { .. }) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        }
                    }
                    () = tokio::time::sleep(TICK) => {}
                    Some(_) = starts.join_next(), if !starts.is_empty() => {}
                }
                let since = last.elapsed();
                if since < MIN_PASS {
                    tokio::time::sleep(MIN_PASS.saturating_sub(since)).await;
                }
                last = tokio::time::Instant::now();
                let busy_items = {
                    let guard = inflight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    guard.0.clone()
                };
                app.queue_reconcile(false, &busy_items).await;
                for (item, printer) in app.queue_claims(&inflight, &plate_waits).await {
                    let app = app.clone();
                    let inflight = std::sync::Arc::clone(&inflight);
                    starts.spawn(async move {
                        let (id, pid) = (item.id, printer.id);
                        app.dispatch_item(item, printer).await;
                        let mut guard = inflight
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        guard.0.remove(&id);
                        guard.1.remove(&pid);
                    });
                }
            }
        });
    }

    /// Claims the next item for every free printer; the claims are recorded as in flight.
    ///
    /// The printers come from the fleet (in memory: who is online and idle, with the row and
    /// plate as this process last wrote them), so the database is only asked about printers
    /// that are free right now. The cache only ever rules a printer *out* (its plate waits to
    /// be cleared); a printer it lets through is decided on the database's own row, plate and
    /// open archive entry, as before — another process on the same database may have moved
    /// the printer or changed its plate, and a start must never rest on a stale copy.
    pub(crate) async fn queue_claims(
        &self,
        inflight: &std::sync::Mutex<(HashSet<i64>, HashSet<PrinterId>)>,
        plate_waits: &super::notices::PlateWaits,
    ) -> Vec<(QueueItemRow, PrinterRow)> {
        let mut out = Vec::new();
        for (cached, plate) in self.fleet.idle_printers() {
            let starting = inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .1
                .contains(&cached.id);
            if starting {
                continue;
            }
            // Known to wait for its plate here: every writer of the plate in this process
            // updates the fleet right after the store, so no database read can say otherwise
            // (a clearing by another process is seen by that process's dispatcher).
            // Still announced once per wait (`queue.waiting_for_plate`): after the first pass
            // of a wait this is a set lookup, no database read.
            if plate.needs_clearing && !plate.waived && !cached.location_waives_plate_clear {
                self.plate_wait(&cached, plate_waits).await;
                continue;
            }
            // The row, plate and open archive entry in one read.
            let (printer, plate, open_archive) =
                match self.store.printer_dispatch_state(cached.id).await {
                    Ok(Some(state)) => state,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(printer = %cached.id, error = %e, "queue: printer not read");
                        continue;
                    }
                };
            match readiness(&printer, plate, open_archive) {
                Ready::Yes => self.plate_wait_over(printer.id, plate_waits),
                Ready::Plate => {
                    self.plate_wait(&printer, plate_waits).await;
                    continue;
                }
                Ready::Archive => continue,
            }
            let claimed = self
                .store
                .claim_next_queue_item(printer.id, &printer.model, printer.location_id, self.now())
                .await;
            match claimed {
                Ok(Some(item)) => {
                    {
                        let mut guard = inflight
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        guard.0.insert(item.id);
                        guard.1.insert(printer.id);
                    }
                    // The claim's audit line is written by its start, first thing
                    // ([`App::dispatch_item`]): a commit of its own, which the next free
                    // printer's claim need not wait for.
                    out.push((item, printer));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(printer = %printer.id, error = %e, "queue: claim failed");
                }
            }
        }
        out
    }

    /// Uploads and starts one claimed item, then moves it on: `printing`, or back to `queued`
    /// with the reason and a retry time, or `failed` after [`MAX_ATTEMPTS`].
    /// The claim's own audit line (`queued` → `dispatching`) comes first, before anything is
    /// uploaded, so the item's audit trail keeps its order.
    async fn dispatch_item(&self, item: QueueItemRow, printer: PrinterRow) {
        let actor = Actor::dispatcher();
        let row = QueueItemRow {
            printer_id: Some(printer.id),
            ..item.clone()
        };
        self.audit_queue_state(
            &actor,
            &row,
            QueueState::Queued,
            QueueState::Dispatching,
            None,
        )
        .await;
        let attempt = self.start_item(&actor, &item, &printer).await;
        let result = match attempt {
            Attempt::Started(job) => {
                let moved = self
                    .queue_transition(
                        &actor,
                        &row,
                        QueueState::Dispatching,
                        QueueState::Printing,
                        &QueueStep {
                            reason: Some(None),
                            next_attempt_at: Some(None),
                            print_job_id: Some(job),
                            ..QueueStep::default()
                        },
                    )
                    .await;
                match moved {
                    // Cancelled between the fence and the printer's answer: the printer took
                    // a job nobody wants any more, so stop it now.
                    Ok(false) => self.stop_cancelled_start(&printer, item.id).await,
                    other => other.map(|_| ()),
                }
            }
            Attempt::NotMine => {
                match self
                    .store
                    .unclaim_queue_item(item.id, item.claimed_at.unwrap_or_default(), self.now())
                    .await
                {
                    Ok(true) => {
                        self.audit_queue_state(
                            &actor,
                            &row,
                            QueueState::Dispatching,
                            QueueState::Queued,
                            Some("The printer was taken by another start; it waits for its turn again."),
                        )
                        .await;
                        Ok(())
                    }
                    Ok(false) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Attempt::Failed(reason) => {
                self.start_failed(&actor, &row, QueueState::Dispatching, &reason)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(item = item.id, error = %e, "queue: item not moved on after its start");
        }
    }

    /// Stops the job just started for an item that was cancelled meanwhile.
    async fn stop_cancelled_start(&self, printer: &PrinterRow, item: i64) -> Result<(), AppError> {
        let cancelled = self
            .store
            .queue_item(item)
            .await?
            .is_some_and(|r| r.state == QueueState::Cancelled);
        if cancelled {
            let outcome = self
                .send_command(printer, pw_bambu::command::Command::Stop)
                .await?;
            self.audit(
                &Actor::dispatcher(),
                crate::system::audit::event::AuditEvent::PrinterCommand,
                Some(("printer", printer.id.to_string())),
                outcome.ok,
                serde_json::json!({ "command": "print.stop", "reason": outcome.reason }),
            )
            .await;
        }
        Ok(())
    }

    /// A start that did not happen: queued again with the reason and a retry time, or parked
    /// as failed after [`MAX_ATTEMPTS`].
    async fn start_failed(
        &self,
        actor: &Actor,
        row: &QueueItemRow,
        from: QueueState,
        reason: &str,
    ) -> Result<(), AppError> {
        if row.attempts >= MAX_ATTEMPTS {
            let words = format!(
                "Not started after {} attempts. The last one: {reason}",
                row.attempts
            );
            self.queue_transition(
                actor,
                row,
                from,
                QueueState::Failed,
                &QueueStep {
                    reason: Some(Some(&words)),
                    next_attempt_at: Some(None),
                    ..QueueStep::default()
                },
            )
            .await?;
        } else {
            let at = self.now().saturating_add(backoff_ms(row.attempts));
            self.queue_transition(
                actor,
                row,
                from,
                QueueState::Queued,
                &QueueStep {
                    reason: Some(Some(reason)),
                    next_attempt_at: Some(Some(at)),
                    ..QueueStep::default()
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Prepares and sends one start: the stored file, the plate, the options and the AMS
    /// mapping (the stored one checked against the printer's live trays, or one proposed from
    /// them), through the one start path with the queue's fence.
    async fn start_item(
        &self,
        actor: &Actor,
        item: &QueueItemRow,
        printer: &PrinterRow,
    ) -> Attempt {
        let claim = match self.claim_start(printer) {
            Ok(c) => c,
            Err(_) => return Attempt::NotMine,
        };
        let Some(claimed_at) = item.claimed_at else {
            return Attempt::NotMine;
        };
        let Ok(plate) = u32::try_from(item.plate) else {
            return Attempt::Failed(format!("There is no plate {}.", item.plate));
        };
        let blobs = match self.blobs() {
            Ok(b) => b,
            Err(e) => return Attempt::Failed(e.to_string()),
        };
        // Length and plates from the stored content (it is checked in full at upload).
        let reader = match blobs.open_blocking(&item.file_sha256) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(item = item.id, error = %e, "queue: content not opened");
                return Attempt::Failed(
                    "The file's content is no longer stored; queue it again from the library."
                        .to_owned(),
                );
            }
        };
        let hint = item.file_name.clone();
        let inspected = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let length = reader.seek(SeekFrom::End(0))?;
            reader.seek(SeekFrom::Start(0))?;
            let limits = pw_printfile::Limits {
                verify_all_entries: false,
                ..pw_printfile::Limits::default()
            };
            let parsed = pw_printfile::inspect(reader, Some(&hint), &limits)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok::<_, std::io::Error>((length, parsed))
        })
        .await;
        let (length, parsed) = match inspected {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(item = item.id, error = %e, "queue: content not read");
                return Attempt::Failed("The file could not be read.".to_owned());
            }
            Err(e) => {
                tracing::warn!(item = item.id, error = %e, "queue: content not read");
                return Attempt::Failed("The file could not be read.".to_owned());
            }
        };
        let plate = match Printable::of(&parsed, &item.file_name)
            .and_then(|p| p.plate(Some(plate)).map(|p| p.index))
        {
            Ok(p) => p,
            Err(e) => return Attempt::Failed(words_of(&e)),
        };
        let options: PrintOptions = serde_json::from_str(&item.options).unwrap_or_default();
        let ams_mapping = match self.item_mapping(item, printer, options).await {
            Ok(m) => m,
            Err(words) => return Attempt::Failed(words),
        };
        let content = match blobs.open(&item.file_sha256, None).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(item = item.id, error = %e, "queue: content not opened");
                return Attempt::Failed("The file could not be read.".to_owned());
            }
        };
        let started = self
            .start_claimed(
                claim,
                StartPrint {
                    printer,
                    actor,
                    file_name: printer_file_name(&item.file_name, &format!("queue-{}", item.id)),
                    plate,
                    content,
                    length,
                    library_file_id: item.library_file_id,
                    sha256: Some(item.file_sha256.clone()),
                    warnings: Vec::new(),
                    settings: StartSettings {
                        ams_mapping,
                        timelapse: options.timelapse,
                        bed_leveling: options.bed_levelling,
                        flow_cali: options.flow_calibration,
                    },
                    queue_claim: Some((item.id, claimed_at)),
                },
            )
            .await;
        match started {
            Ok(s) => match s.print_job_id {
                Some(job) => Attempt::Started(job),
                None => Attempt::Failed(format!(
                    "{} refused the start{}",
                    printer.name,
                    s.outcome
                        .reason
                        .map_or_else(|| ".".to_owned(), |r| format!(": {r}."))
                )),
            },
            Err(e) => {
                // The fence failed: the claim was taken back (or the item cancelled).
                match self.store.queue_item(item.id).await {
                    Ok(Some(now))
                        if now.state != QueueState::Dispatching
                            || now.claimed_at != Some(claimed_at) =>
                    {
                        Attempt::NotMine
                    }
                    _ => Attempt::Failed(words_of(&e)),
                }
            }
        }
    }

    /// The mapping to send: none when the item prints from the external spool; the stored
    /// one checked against the printer's live trays; or one proposed from those trays. The
    /// error says in words why the item cannot start on this printer.
    async fn item_mapping(
        &self,
        item: &QueueItemRow,
        printer: &PrinterRow,
        options: PrintOptions,
    ) -> Result<Vec<i32>, String> {
        if !options.use_ams {
            return Ok(vec![-1]);
        }
        let needs = match item.library_file_id {
            Some(f) => match self.store.library_file(f).await {
                Ok(Some(file)) => needs_of(&StoredMeta::parse(&file.metadata), item.plate),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let trays = self
            .fleet
            .live(printer.id)
            .status
            .as_ref()
            .map(ams::trays_of)
            .unwrap_or_default();
        let stored: Option<Vec<AmsAssignment>> = item
            .ams_mapping
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        if let Some(mapping) = stored {
            let live = (!trays.is_empty()).then_some(trays.as_slice());
            ams::validate(&needs, live, &mapping)
                .map_err(|w| format!("The AMS mapping does not fit {}: {w}", printer.name))?;
            return Ok(mapping_vector(&mapping));
        }
        if needs.is_empty() {
            return Ok(vec![-1]);
        }
        if trays.is_empty() {
            // No AMS reported: a one-filament plate prints from the external spool.
            if needs.len() == 1 {
                return Ok(vec![-1]);
            }
            return Err(format!(
                "{} reports no AMS trays, and the plate needs {} filaments.",
                printer.name,
                needs.len()
            ));
        }
        let proposal = ams::propose(&needs, &trays);
        let mut mapping = Vec::with_capacity(proposal.len());
        for p in proposal {
            match p.tray {
                Some(tray) => mapping.push(AmsAssignment { slot: p.slot, tray }),
                None => {
                    return Err(format!(
                        "No tray of {} fits filament {}: {}",
                        printer.name, p.slot, p.reason
                    ));
                }
            }
        }
        Ok(mapping_vector(&mapping))
    }

    /// Reconciles every item a printer works on with the printer's report and the archive
    /// (see the module). `startup`: no start of this process is in flight, so unfenced claims
    /// are taken back at once. Items in `inflight` are being started here and are left alone.
    pub(crate) async fn queue_reconcile(&self, startup: bool, inflight: &HashSet<i64>) {
        let items = match self.store.active_queue_items().await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "queue: active items not read");
                return;
            }
        };
        for item in items {
            if inflight.contains(&item.id) {
                continue;
            }
            if let Err(e) = self.reconcile_item(startup, &item).await {
                tracing::warn!(item = item.id, error = %e, "queue: item not reconciled");
            }
        }
    }

    /// An active item whose printer was removed from printwarden (the row's link, and the
    /// print job the start was fenced with, went with it). Whether the printer got the job is
    /// unknown now, and the printer may still print it: the item is parked as failed with the
    /// reason, never started on another printer behind the user's back.
    async fn printer_removed_under(&self, item: &QueueItemRow) -> Result<(), AppError> {
        if !matches!(item.state, QueueState::Dispatching | QueueState::Printing) {
            return Ok(());
        }
        self.queue_transition(
            &Actor::dispatcher(),
            item,
            item.state,
            QueueState::Failed,
            &QueueStep {
                reason: Some(Some(
                    "Its printer was removed from printwarden while the job was being sent \
                     or printed, so whether it printed is unknown. Check the printer, and \
                     queue it again if it did not print.",
                )),
                next_attempt_at: Some(None),
                ..QueueStep::default()
            },
        )
        .await?;
        Ok(())
    }

    async fn reconcile_item(&self, startup: bool, item: &QueueItemRow) -> Result<(), AppError> {
        let actor = Actor::dispatcher();
        let now = self.now();
        let Some(printer) = item.printer_id else {
            return self.printer_removed_under(item).await;
        };
        let (online, busy, job_key) = running_job(self, printer);
        let reporting = online && self.fleet.live(printer).status.is_some();
        let task = match item.print_job_id {
            Some(job) => self.store.print_job_task_id(job).await?,
            None => None,
        };
        // The printer names our job (running, or ended while nobody watched): it took it.
        let took_ours = task.is_some() && job_key == task;
        let entry = match item.print_job_id {
            Some(job) => match self.store.archive_for_print_job(job).await? {
                Some((id, _)) => self.store.archive(id).await?,
                None => None,
            },
            None => None,
        };
        match item.state {
            QueueState::Dispatching => {
                let Some(claimed_at) = item.claimed_at else {
                    return Ok(());
                };
                if item.print_job_id.is_none() {
                    // Never fenced: no start command went out for this claim.
                    if (startup || now - claimed_at > UNFENCED_LEASE)
                        && self
                            .store
                            .unclaim_queue_item(item.id, claimed_at, now)
                            .await?
                    {
                        self.audit_queue_state(
                            &actor,
                            item,
                            QueueState::Dispatching,
                            QueueState::Queued,
                            Some("Its start was interrupted before the printer got it; it waits for its turn again."),
                        )
                        .await;
                    }
                    return Ok(());
                }
                if entry.is_some() || took_ours {
                    self.queue_transition(
                        &actor,
                        item,
                        QueueState::Dispatching,
                        QueueState::Printing,
                        &QueueStep {
                            reason: Some(None),
                            next_attempt_at: Some(None),
                            run_archive_id: entry.as_ref().map(|e| e.id),
                            ..QueueStep::default()
                        },
                    )
                    .await?;
                } else if reporting && !busy && now - item.updated_at > START_WINDOW {
                    // (`updated_at` is the fence's time: the upload before it may take long.)
                    // Sent, but the printer never showed the job: it did not get it.
                    self.queue_transition(
                        &actor,
                        item,
                        QueueState::Dispatching,
                        QueueState::Queued,
                        &QueueStep {
                            reason: Some(Some(
                                "The printer did not take the job; it waits for its turn again.",
                            )),
                            uncount_attempt: true,
                            ..QueueStep::default()
                        },
                    )
                    .await?;
                }
            }
            QueueState::Printing => {
                let Some(entry) = entry else {
                    // No entry yet: the watcher opens it on the printer's first report of the
                    // job. A printer that shows no sign of it for a while never ran it.
                    if reporting && !took_ours && !busy && now - item.updated_at > START_WINDOW {
                        self.start_failed(
                            &actor,
                            item,
                            QueueState::Printing,
                            "The printer accepted the job but never ran it.",
                        )
                        .await?;
                    }
                    return Ok(());
                };
                if item.run_archive_id != Some(entry.id) {
                    // Linking the run is not a state change: no audit line.
                    self.store
                        .set_queue_item_state(
                            item.id,
                            QueueState::Printing,
                            QueueState::Printing,
                            &QueueStep {
                                run_archive_id: Some(entry.id),
                                ..QueueStep::default()
                            },
                            now,
                        )
                        .await?;
                }
                match entry.outcome.as_str() {
                    "finished" => {
                        let last = item.copies_done + 1 >= item.copies;
                        self.queue_transition(
                            &actor,
                            item,
                            QueueState::Printing,
                            if last {
                                QueueState::Done
                            } else {
                                QueueState::Queued
                            },
                            &QueueStep {
                                reason: Some(None),
                                next_attempt_at: Some(None),
                                run_archive_id: Some(entry.id),
                                copy_done: true,
                                ..QueueStep::default()
                            },
                        )
                        .await?;
                    }
                    "failed" | "cancelled" => {
                        let name = self
                            .store
                            .printer(printer)
                            .await?
                            .map_or_else(|| entry.printer_name.clone(), |p| p.name);
                        let words = if entry.outcome == "cancelled" {
                            format!("The print was stopped on {name}.")
                        } else {
                            format!(
                                "The print failed on {name}: {}",
                                entry
                                    .error
                                    .clone()
                                    .unwrap_or_else(|| "no reason given.".to_owned())
                            )
                        };
                        self.queue_transition(
                            &actor,
                            item,
                            QueueState::Printing,
                            QueueState::Failed,
                            &QueueStep {
                                reason: Some(Some(&words)),
                                next_attempt_at: Some(None),
                                run_archive_id: Some(entry.id),
                                ..QueueStep::default()
                            },
                        )
                        .await?;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        assert_eq!(backoff_ms(1), 15_000);
        assert_eq!(backoff_ms(2), 30_000);
        assert_eq!(backoff_ms(3), 60_000);
        assert_eq!(backoff_ms(40), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(0), 15_000);
    }

    #[test]
    fn mappings_become_one_tray_per_slot() {
        let a = |slot, tray| AmsAssignment { slot, tray };
        assert_eq!(mapping_vector(&[a(1, 2), a(3, 254)]), vec![2, -1, -1]);
        assert_eq!(mapping_vector(&[]), vec![-1]);
        assert_eq!(mapping_vector(&[a(2, 5), a(1, 0)]), vec![0, 5]);
    }
}
