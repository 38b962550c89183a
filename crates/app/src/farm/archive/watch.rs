//! Automatic archiving: follows every printer's reports (the fleet's event bus) and turns each
//! print into one archive entry — opened when the printer goes into a job (PREPARE, SLICING,
//! RUNNING or PAUSE with a job identity it has no open entry for), ended on FINISH (finished),
//! FAILED (failed with the error in words, or cancelled when the printer echoes a stop) or IDLE
//! while an entry is open (the job vanished: aborted on the printer, or the printer restarted).
//! A FINISH or FAILED without an open entry whose job id is the task id of a print job
//! printwarden started (and never archived) is a run nobody watched — the server was down or
//! disconnected for the whole print: it is archived then, opened and ended at once, so the
//! queue learns its item ran and never starts it again.
//!
//! Invariants: the open entry lives in the database, not in memory (one open entry per printer,
//! enforced by a unique index), so a reconnect, repeated reports, a printer restarted mid-print
//! or a server restarted mid-print find it again by the printer and its job identity instead of
//! opening a second one, and the end is recorded whenever the printer next reports it; the
//! watcher runs in its own task and only reads the fleet's published state, so it never blocks
//! the MQTT path, and nothing here panics — a database error is logged and the next report
//! retries.
//!
//! Job identity: the printer's job id (`task_id`, or `subtask_id` when the task is `"0"` —
//! [`Status::job_key`]) when the report carries one, so two runs of the same file back to back
//! are two entries even when the FINISH between them was not seen; otherwise (a plain local
//! print, or a reconnect's first delta that lacks the ids) the `gcode_file` and `subtask_name`,
//! compared part by part. An entry that opened without the id gets it from the next report
//! that has it.
//!
//! What happens beside the reports (never in this task, so a slow printer or disk cannot hold
//! the watcher): an opened entry is linked to its file ([`super::link`]: the print job's blob,
//! or the file fetched from the printer), and an ended one gets its camera frame
//! ([`super::snapshot`]).

use std::collections::HashMap;

use pw_bambu::report::{GcodeState, Status};
use pw_domain::PrinterId;
use pw_store::{ArchiveEnd, ArchiveRow, NewArchive};

use super::FilamentUsed;
use crate::farm::fleet::next_printer_event;
use crate::{App, AppError, Task};

/// `print_error` values a printer reports for a job stopped by a user (status echoes, not
/// faults; bambu-protocol.md §print_error).
const CANCEL_CODES: [u32; 2] = [0x0300_400C, 0x0500_400E];

/// Known `print_error` codes in plain words (the rest are shown by their code). Only codes
/// whose meaning is documented (bambu-protocol.md, the simulator's injected AMS fault) are
/// listed; a wrong sentence would be worse than the code.
const ERROR_WORDS: &[(u32, &str)] = &[
    (0x0500_4004, "The printer was busy and refused the job."),
    (
        0x0700_8001,
        "The AMS failed to cut the filament; check the cutter.",
    ),
    (
        0x0700_8012,
        "The filament mapping does not match the printer's trays.",
    ),
];

/// `MMMM_EEEE`, as Bambu's wiki writes print errors.
#[must_use]
pub(crate) fn error_code(code: u32) -> String {
    format!("{:04X}_{:04X}", code >> 16, code & 0xFFFF)
}

/// A print error in words, or its code when it is not a known one.
#[must_use]
pub(crate) fn error_words(code: u32) -> String {
    ERROR_WORDS.iter().find(|(c, _)| *c == code).map_or_else(
        || format!("The printer reported error {}.", error_code(code)),
        |(_, w)| (*w).to_owned(),
    )
}

/// What the archive reads of one printer's report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobView {
    /// The printer's name now.
    pub printer_name: String,
    /// `gcode_state`.
    pub state: GcodeState,
    /// `gcode_file`.
    pub gcode_file: Option<String>,
    /// `subtask_name`.
    pub subtask_name: Option<String>,
    /// The printer's job id (`task_id`, or `subtask_id`), when it names one.
    pub job_id: Option<String>,
    /// `print_error` (0 = none).
    pub print_error: Option<u32>,
    /// HMS ids.
    pub hms: Vec<String>,
    /// The tray loaded now.
    pub tray: Option<FilamentUsed>,
}

impl JobView {
    pub(crate) fn of(printer_name: &str, status: &Status) -> Self {
        Self {
            printer_name: printer_name.to_owned(),
            state: status.gcode_state.clone(),
            gcode_file: status.gcode_file.clone(),
            subtask_name: status.subtask_name.clone(),
            job_id: status.job_key().map(str::to_owned),
            print_error: status.print_error,
            hms: status
                .hms
                .iter()
                .filter(|h| !h.is_verify_failed())
                .map(pw_bambu::report::Hms::id)
                .collect(),
            tray: loaded_tray(status),
        }
    }

    /// The job identity: file and job name.
    fn key(&self) -> Option<String> {
        match (&self.gcode_file, &self.subtask_name) {
            (None, None) => None,
            (f, s) => Some(format!(
                "{}\n{}",
                f.as_deref().unwrap_or_default(),
                s.as_deref().unwrap_or_default()
            )),
        }
    }

    /// The file name to show: the last part of `gcode_file`, unless that is only a plate's
    /// G-code inside a project (then the job name).
    pub(crate) fn file_name(&self) -> String {
        let file = self
            .gcode_file
            .as_deref()
            .map(|f| f.rsplit('/').next().unwrap_or(f).to_owned())
            .filter(|f| !f.is_empty());
        match (file, &self.subtask_name) {
            (Some(f), Some(s)) if f.starts_with("plate_") => s.clone(),
            (Some(f), _) => f,
            (None, Some(s)) => s.clone(),
            (None, None) => "unknown file".to_owned(),
        }
    }

    /// The plate, when `gcode_file` names one (`…/plate_N.gcode`).
    pub(crate) fn plate(&self) -> Option<i64> {
        let file = self.gcode_file.as_deref()?;
        let name = file.rsplit('/').next()?;
        let n = name.strip_prefix("plate_")?.strip_suffix(".gcode")?;
        n.parse().ok()
    }

    /// The error in words, with the health messages the printer shows.
    fn error(&self) -> (Option<String>, Option<String>) {
        let code = self.print_error.filter(|c| *c != 0);
        let mut words = code.map(error_words);
        if !self.hms.is_empty() {
            let hms = format!("Health messages: {}.", self.hms.join(", "));
            words = Some(match words {
                Some(w) => format!("{w} {hms}"),
                None => hms,
            });
        }
        (code.map(error_code), words)
    }
}

/// The tray in use: `tray_now` (global id, `254` the external spool, `255` none).
fn loaded_tray(status: &Status) -> Option<FilamentUsed> {
    let now: u32 = status.tray_now.as_deref()?.trim().parse().ok()?;
    if now == 254 {
        return Some(FilamentUsed {
            slot: "external".to_owned(),
            kind: None,
            color: None,
            grams: None,
            meters: None,
        });
    }
    if now >= 128 {
        return None;
    }
    let (unit, tray) = ((now / 4).to_string(), (now % 4).to_string());
    let t = status
        .ams
        .iter()
        .find(|u| u.id == unit)?
        .trays
        .iter()
        .find(|t| t.id == tray)?;
    Some(FilamentUsed {
        slot: format!("AMS {} tray {}", now / 4 + 1, now % 4 + 1),
        kind: Some(t.material.clone()).filter(|m| !m.is_empty()),
        color: Some(t.color.clone()).filter(|c| !c.is_empty()),
        grams: None,
        meters: None,
    })
}

/// What the watcher remembers of a printer between reports: only to skip reports that change
/// nothing it follows; the open entry itself is in the database.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    state: GcodeState,
    key: Option<String>,
    job_id: Option<String>,
    tray: Option<FilamentUsed>,
}

/// Whether an open entry is the printer's current job. Two job ids decide alone (the same
/// file started twice has two). Otherwise unknown parts match: a printer that does not report
/// an identity keeps its entry until it reports an end, and after a reconnect the first P1/A1
/// delta may carry the file without the job name (or the other way round), or no ids, until
/// the full report arrives — that is still the same job, not a new one.
fn same_job(entry: &ArchiveRow, key: Option<&str>, job_id: Option<&str>) -> bool {
    if let (Some(a), Some(b)) = (entry.job_id.as_deref(), job_id) {
        return a == b;
    }
    match (entry.job_key.as_deref(), key) {
        (Some(a), Some(b)) => same_identity(a, b),
        _ => true,
    }
}

/// Compares two job keys (`file\njob name`) part by part; an empty part matches anything.
fn same_identity(a: &str, b: &str) -> bool {
    let (a_file, a_job) = a.split_once('\n').unwrap_or((a, ""));
    let (b_file, b_job) = b.split_once('\n').unwrap_or((b, ""));
    let part = |x: &str, y: &str| x.is_empty() || y.is_empty() || x == y;
    part(a_file, b_file) && part(a_job, b_job)
}

impl App {
    /// Follows every printer's reports and archives each print. Runs for the life of the
    /// server.
    pub(crate) fn start_archive_watch(&self) {
        let app = self.clone();
        let mut events = self.printer_events();
        self.spawn_task(Task::ArchiveWatch, async move {
            let mut seen: HashMap<PrinterId, Seen> = HashMap::new();
            loop {
                let Some(event) = next_printer_event(&mut events).await else {
                    return;
                };
                if event.removed {
                    seen.remove(&event.printer);
                    if let Err(e) = app.archive_printer_removed(event.printer).await {
                        tracing::warn!(printer = %event.printer, error = %e, "archive entry of a removed printer not ended");
                    }
                    continue;
                }
                let Some(view) = app.fleet.archive_view(event.printer) else {
                    continue;
                };
                let now = Seen {
                    state: view.state.clone(),
                    key: view.key(),
                    job_id: view.job_id.clone(),
                    tray: view.tray.clone(),
                };
                let before = seen.get(&event.printer);
                if before == Some(&now) {
                    continue;
                }
                let done = match app.archive_report(event.printer, before, &view).await {
                    // The printer card's link to its running job follows the entry.
                    Ok(()) => app.sync_open_archive(event.printer).await,
                    Err(e) => Err(e),
                };
                match done {
                    Ok(()) => {
                        seen.insert(event.printer, now);
                    }
                    Err(e) => {
                        // Forget what was seen: the next report tries again from the database.
                        seen.remove(&event.printer);
                        tracing::warn!(printer = %event.printer, error = %e, "archive not updated");
                    }
                }
            }
        });
    }

    /// One report that changed the job state, identity or tray.
    async fn archive_report(
        &self,
        printer: PrinterId,
        before: Option<&Seen>,
        view: &JobView,
    ) -> Result<(), AppError> {
        let key = view.key();
        let job_id = view.job_id.as_deref();
        let open = self.store.open_archive_of(printer).await?;
        match &view.state {
            s if s.is_busy() => match open {
                Some(entry) if same_job(&entry, key.as_deref(), job_id) => {
                    if let (None, Some(id)) = (&entry.job_id, job_id) {
                        self.store.set_archive_job_id(entry.id, id).await?;
                    }
                    self.note_filament(&entry, view).await?;
                }
                Some(entry) => {
                    // Another job runs: the open one ended while printwarden did not see it.
                    self.end_entry(
                        &entry,
                        "failed",
                        None,
                        Some("printwarden did not see this print end: the printer was already on another job when it reported again."),
                        view,
                    )
                    .await?;
                    self.open_entry(printer, view).await?;
                }
                None => {
                    // Seen running before and its entry is gone: a user deleted it mid-print.
                    let deleted = before.is_some_and(|b| {
                        b.state.is_busy()
                            && b.key == key
                            && (b.job_id.is_none()
                                || job_id.is_none()
                                || b.job_id.as_deref() == job_id)
                    });
                    if !deleted {
                        self.open_entry(printer, view).await?;
                    }
                }
            },
            GcodeState::Finish | GcodeState::Failed => {
                let entry = match open {
                    Some(entry) => entry,
                    // printwarden did not see this job run (it was down, or not connected,
                    // for the whole print), but the printer names a job printwarden started:
                    // the print happened, so it is archived now — the queue decides from the
                    // entry that its item ran, and starts it nowhere else again.
                    None => match self.open_unseen_run(printer, view).await? {
                        Some(entry) => entry,
                        None => return Ok(()),
                    },
                };
                if !same_job(&entry, key.as_deref(), job_id) {
                    return self
                        .end_entry(
                            &entry,
                            "failed",
                            None,
                            Some("printwarden did not see this print end: the printer reported the end of another job."),
                            view,
                        )
                        .await;
                }
                let code = view.print_error.filter(|c| *c != 0);
                if view.state == GcodeState::Finish {
                    self.end_entry(&entry, "finished", None, None, view).await?;
                } else if code.is_some_and(|c| CANCEL_CODES.contains(&c)) {
                    self.end_entry(&entry, "cancelled", None, None, view)
                        .await?;
                } else {
                    let (code, words) = view.error();
                    let words = words.unwrap_or_else(|| {
                        "The printer reported the print as failed without an error code.".to_owned()
                    });
                    self.end_entry(&entry, "failed", code.as_deref(), Some(&words), view)
                        .await?;
                }
            }
            GcodeState::Idle => {
                if let Some(entry) = open {
                    let code = view.print_error.filter(|c| *c != 0);
                    if code.is_some_and(|c| CANCEL_CODES.contains(&c)) {
                        self.end_entry(&entry, "cancelled", None, None, view)
                            .await?;
                    } else {
                        self.end_entry(
                            &entry,
                            "failed",
                            None,
                            Some("The printer went idle before the print finished (it was restarted, or the job was aborted on the printer)."),
                            view,
                        )
                        .await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The entry of a run printwarden started but never saw (the printer reports it ended
    /// with the task id of a print job that has no entry yet), opened now; `None` when the
    /// report names no such job.
    async fn open_unseen_run(
        &self,
        printer: PrinterId,
        view: &JobView,
    ) -> Result<Option<ArchiveRow>, AppError> {
        let Some(task) = view.job_id.as_deref() else {
            return Ok(None);
        };
        let Some(job) = self.store.print_job_with_task(printer, task).await? else {
            return Ok(None);
        };
        if self.store.print_job_archived(job.id).await? {
            return Ok(None);
        }
        self.open_entry_for(printer, view, Some(job)).await?;
        Ok(self.store.open_archive_of(printer).await?)
    }

    /// Opens the entry of a job that just started: linked to the print job (and its starter)
    /// when printwarden started it, "outside printwarden" otherwise.
    async fn open_entry(&self, printer: PrinterId, view: &JobView) -> Result<(), AppError> {
        self.open_entry_for(printer, view, None).await
    }

    /// [`Self::open_entry`], with the print job already known (`known`) or looked up.
    async fn open_entry_for(
        &self,
        printer: PrinterId,
        view: &JobView,
        known: Option<pw_store::PrintJobRow>,
    ) -> Result<(), AppError> {
        let key = view.key();
        let shown = view.file_name();
        let found = match known {
            Some(job) => Some(job),
            None => self.store.open_print_job(printer).await?,
        };
        let job = match found {
            Some(job)
                if (job.task_id.is_some() && job.task_id == view.job_id
                    || view.gcode_file.as_deref().is_some_and(|f| {
                        f == job.file_name || f.rsplit('/').next() == Some(job.file_name.as_str())
                    })
                    || view.subtask_name.as_deref().is_some_and(|s| {
                        s == job
                            .file_name
                            .trim_end_matches(".3mf")
                            .trim_end_matches(".gcode")
                    }))
                    && !self.store.print_job_archived(job.id).await? =>
            {
                Some(job)
            }
            _ => None,
        };
        let filaments = serde_json::to_string(&view.tray.iter().collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".to_owned());
        let new = NewArchive {
            printer_id: printer,
            printer_name: &view.printer_name,
            file_name: job
                .as_ref()
                .map_or(shown.as_str(), |j| j.file_name.as_str()),
            plate: view.plate().or(job.as_ref().and_then(|j| j.plate)),
            job_key: key.as_deref(),
            job_id: view.job_id.as_deref(),
            source: if job.is_some() {
                "printwarden"
            } else {
                "elsewhere"
            },
            started_by: job.as_ref().and_then(|j| j.started_by),
            started_by_name: job.as_ref().and_then(|j| j.started_by_name.as_deref()),
            print_job_id: job.as_ref().map(|j| j.id),
            started_at: self.now(),
            filaments: &filaments,
        };
        let mut opened = self.store.open_archive(&new).await?;
        if opened.is_none() {
            if self.store.open_archive_of(printer).await?.is_some() {
                tracing::debug!(printer = %printer, "archive entry already open");
                return Ok(());
            }
            // Refused without an open entry: the starter's account was deleted a moment ago
            // (its id no longer exists). The print is still archived, with the name kept.
            let unlinked = NewArchive {
                started_by: None,
                ..new
            };
            opened = self.store.open_archive(&unlinked).await?;
            if opened.is_none() {
                tracing::warn!(printer = %printer, "archive entry not opened");
            }
        }
        if let Some(entry) = opened {
            // The file, beside the watcher: the print job's blob when printwarden kept it, or
            // the file on the printer.
            let origin = match job.and_then(|j| j.file_sha256.clone().map(|sha| (sha, j))) {
                Some((sha256, j)) => super::link::FileOrigin::Blob {
                    sha256,
                    library_file: j.library_file_id,
                    plate: j.plate,
                },
                None => super::link::FileOrigin::Printer {
                    printer,
                    paths: super::link::printer_paths(view),
                    plate: view.plate(),
                },
            };
            self.spawn_archive_link(entry, origin);
        }
        Ok(())
    }

    /// Adds the tray in use to an open entry's filaments when it is new.
    async fn note_filament(&self, entry: &ArchiveRow, view: &JobView) -> Result<(), AppError> {
        let Some(tray) = &view.tray else {
            return Ok(());
        };
        let mut list: Vec<FilamentUsed> =
            serde_json::from_str(&entry.filaments).unwrap_or_default();
        if list.iter().any(|f| f.slot == tray.slot) {
            return Ok(());
        }
        list.push(tray.clone());
        let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned());
        self.store.set_archive_filaments(entry.id, &text).await?;
        Ok(())
    }

    async fn end_entry(
        &self,
        entry: &ArchiveRow,
        outcome: &str,
        code: Option<&str>,
        error: Option<&str>,
        view: &JobView,
    ) -> Result<(), AppError> {
        let mut list: Vec<FilamentUsed> =
            serde_json::from_str(&entry.filaments).unwrap_or_default();
        if let Some(tray) = &view.tray
            && !list.iter().any(|f| f.slot == tray.slot)
        {
            list.push(tray.clone());
        }
        let filaments = serde_json::to_string(&list).ok();
        if let Some(printer) = entry.printer_id {
            // The plate now holds a print (or its remains): the queue starts nothing there
            // until someone confirms it clear. Written before the end, so whoever sees the
            // entry ended (the queue's dispatcher) also sees the plate to clear.
            self.store
                .set_plate_needs_clearing(printer, true, self.now())
                .await?;
            self.fleet
                .update_plate(printer, |p| p.needs_clearing = true);
        }
        let ended = self
            .store
            .end_archive(
                entry.id,
                &ArchiveEnd {
                    outcome,
                    ended_at: self.now(),
                    error_code: code,
                    error,
                    filaments: filaments.as_deref(),
                },
            )
            .await?;
        if ended && let Some(printer) = entry.printer_id {
            // The end-of-print frame, beside the watcher (bounded, failure only logged).
            self.spawn_archive_snapshot(entry.id, printer);
        }
        Ok(())
    }

    /// A printer was removed: its open entry ends (by its id while the row still exists, or as
    /// an orphan once the removal cleared the link).
    async fn archive_printer_removed(&self, printer: PrinterId) -> Result<(), AppError> {
        const WHY: &str = "The printer was removed from printwarden during the print.";
        if let Some(entry) = self.store.open_archive_of(printer).await? {
            self.store
                .end_archive(
                    entry.id,
                    &ArchiveEnd {
                        outcome: "failed",
                        ended_at: self.now(),
                        error_code: None,
                        error: Some(WHY),
                        filaments: None,
                    },
                )
                .await?;
        }
        self.store.end_orphaned_archives(self.now(), WHY).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_words_or_codes() {
        assert_eq!(error_code(0x0300_400C), "0300_400C");
        assert!(error_words(0x0700_8001).contains("cut the filament"));
        assert_eq!(
            error_words(0x1234_5678),
            "The printer reported error 1234_5678."
        );
    }

    #[test]
    fn file_names_plates_and_identities_come_from_the_report() {
        let view = |file: Option<&str>, job: Option<&str>| JobView {
            printer_name: "P".into(),
            state: GcodeState::Running,
            gcode_file: file.map(str::to_owned),
            subtask_name: job.map(str::to_owned),
            job_id: None,
            print_error: None,
            hms: Vec::new(),
            tray: None,
        };
        let v = view(Some("/data/Metadata/plate_2.gcode"), Some("benchy"));
        assert_eq!((v.file_name(), v.plate()), ("benchy".to_owned(), Some(2)));
        let v = view(Some("cube.gcode.3mf"), Some("cube"));
        assert_eq!(
            (v.file_name(), v.plate()),
            ("cube.gcode.3mf".to_owned(), None)
        );
        assert_eq!(v.key().as_deref(), Some("cube.gcode.3mf\ncube"));
        assert_eq!(view(None, None).key(), None);
        // A reconnect's first delta may carry half the identity: still the same job.
        let full = "cube.gcode.3mf\ncube";
        for partial in [view(Some("cube.gcode.3mf"), None), view(None, Some("cube"))] {
            assert!(same_identity(full, &partial.key().unwrap_or_default()));
        }
        assert!(!same_identity(full, "cube.gcode.3mf\nother"));
        assert!(!same_identity(full, "other.gcode.3mf\ncube"));
        assert!(!same_identity(full, "other.gcode.3mf\n"));
        assert_eq!(view(None, None).file_name(), "unknown file");
    }

    #[test]
    fn job_ids_tell_two_runs_of_one_file_apart_and_partial_reports_still_match() {
        let entry = |job_id: Option<&str>| ArchiveRow {
            id: 1,
            printer_id: None,
            location_id: None,
            printer_name: "P".into(),
            file_name: "cube.gcode.3mf".into(),
            plate: None,
            job_key: Some("cube.gcode.3mf\ncube".into()),
            source: "elsewhere".into(),
            started_by: None,
            started_by_name: None,
            print_job_id: None,
            started_at: 0,
            ended_at: None,
            duration_s: None,
            outcome: "printing".into(),
            error_code: None,
            error: None,
            filaments: "[]".into(),
            notes: String::new(),
            tags: "[]".into(),
            rating: None,
            file_sha256: None,
            thumbnail_sha256: None,
            created_at: 0,
            job_id: job_id.map(str::to_owned),
            library_file_id: None,
            snapshot_sha256: None,
            file_filaments: None,
        };
        let key = Some("cube.gcode.3mf\ncube");
        // Same file, another run: a new job.
        assert!(!same_job(&entry(Some("101")), key, Some("102")));
        assert!(same_job(&entry(Some("101")), key, Some("101")));
        // A reconnect's delta without the ids, or an entry opened without them: the names decide.
        assert!(same_job(&entry(Some("101")), key, None));
        assert!(same_job(&entry(None), key, Some("102")));
        assert!(!same_job(
            &entry(None),
            Some("other.gcode.3mf\nother"),
            Some("102")
        ));
    }
}
