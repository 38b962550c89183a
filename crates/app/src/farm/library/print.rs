//! Printing from the library: a stored sliced file, one plate, on one printer — streamed from
//! the blob store through the one start path (`farm/printers/start.rs`), so the print job names
//! the library file, its SHA-256, the plate and the task id before the start command.
//!
//! Rights: reading the file (`library:read_own` on one's own, `library:read_all` on any) and
//! `printers:control` on the printer; a file or printer the caller may not see is a 404.
//! Only sliced plates start: an unsliced project, an STL, plain G-code or a plate the file does
//! not have is a 400 in words and nothing reaches the printer. Another model or nozzle than
//! the plate was sliced for is a warning, not a refusal (the operator may know better).
//!
//! `archive_id`: the archive watcher opens the entry on the printer's first report of the job;
//! the answer waits for it on the fleet event bus at most [`ARCHIVE_WAIT`] and says `null` when
//! it has not appeared by then (the entry still comes; the archive lists it).

use std::time::Duration;

use pw_domain::{LibraryFileId, Permission, PrinterId};
use pw_policy::{Action, Decision, PrinterRef, Target, authorize};
use serde::{Deserialize, Serialize};

use crate::farm::fleet::PrinterEvent;
use crate::farm::printers::{
    Printable, StartPrint, StartSettings, plain_gcode, plate_warnings, printer_file_name,
};
use crate::{Actor, App, AppError};

/// How long the answer waits for the archive entry of the started job.
pub const ARCHIVE_WAIT: Duration = Duration::from_secs(3);

/// `POST /api/v1/library/files/{id}/print`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrintLibraryFile {
    /// The printer to print on.
    #[schema(value_type = i64)]
    pub printer_id: PrinterId,
    /// The plate (default: the file's first sliced plate).
    #[serde(default)]
    pub plate: Option<u32>,
}

/// The answer to a print from the library (202).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryPrintStarted {
    /// The archive entry of this print, once the printer reported the job (waited for at most
    /// 3 seconds); `null` when it has not appeared yet or the caller may not read archives.
    pub archive_id: Option<i64>,
    /// The print job printwarden recorded for this start.
    pub print_job_id: i64,
    /// The plate started.
    pub plate: u32,
    /// Things to know that did not stop the print (another printer model or nozzle than the
    /// plate was sliced for).
    pub warnings: Vec<String>,
}

impl App {
    /// `POST /api/v1/library/files/{id}/print`: starts one plate of a stored sliced file.
    pub async fn print_library_file(
        &self,
        actor: &Actor,
        id: LibraryFileId,
        input: PrintLibraryFile,
    ) -> Result<LibraryPrintStarted, AppError> {
        let file = self
            .library_file_for(
                actor,
                id,
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await?;
        let printer = self
            .printer_for(actor, input.printer_id, Permission::PrintersControl)
            .await?;
        if input.plate.is_some_and(|p| !(1..=64).contains(&p)) {
            return Err(AppError::BadRequest("plate must be 1 to 64.".into()));
        }
        match file.kind.as_str() {
            "gcode.3mf" => {}
            "gcode" => return Err(plain_gcode(&file.name)),
            // The stored kind was decided by content; the parse below says the rest in words.
            _ => {}
        }
        let blobs = self.blobs()?;
        let reader = blobs
            .open_blocking(&file.sha256)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let hint = file.name.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            // Checked in full at upload; a start needs the plates, not another CRC pass.
            let limits = pw_printfile::Limits {
                verify_all_entries: false,
                ..pw_printfile::Limits::default()
            };
            pw_printfile::inspect(reader, Some(&hint), &limits)
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        let printable = Printable::of(&parsed, &file.name)?;
        let plate = printable.plate(input.plate)?;
        let warnings = plate_warnings(plate, &printer, self.printer_nozzle(printer.id));
        let plate = plate.index;
        let length = u64::try_from(file.size).unwrap_or(0);
        let content = blobs
            .open(&file.sha256, None)
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        // Listen before the start, so the job's first report cannot slip by.
        let mut events = self.printer_events();
        let started = self
            .start_print(StartPrint {
                printer: &printer,
                actor,
                file_name: printer_file_name(&file.name, &format!("library-{id}")),
                plate,
                content,
                length,
                library_file_id: Some(file.id),
                sha256: Some(file.sha256.clone()),
                warnings: warnings.clone(),
                settings: StartSettings::default(),
                queue_claim: None,
            })
            .await?;
        let Some(print_job_id) = started.print_job_id else {
            return Err(AppError::Conflict(format!(
                "{} refused the start{}",
                printer.name,
                started
                    .outcome
                    .reason
                    .map_or_else(|| ".".to_owned(), |r| format!(": {r}"))
            )));
        };
        let target = PrinterRef {
            printer: printer.id,
            location: printer.location_id,
        };
        let archive_id = self
            .wait_archive_entry(actor, &mut events, target, print_job_id)
            .await;
        Ok(LibraryPrintStarted {
            archive_id,
            print_job_id,
            plate,
            warnings,
        })
    }

    /// Waits (at most [`ARCHIVE_WAIT`]) for the archive watcher to open the entry of a started
    /// job, looking after each event of its printer (and once more when the time is up); the
    /// entry's id when it appeared and the actor may read it.
    async fn wait_archive_entry(
        &self,
        actor: &Actor,
        events: &mut tokio::sync::broadcast::Receiver<PrinterEvent>,
        printer: PrinterRef,
        print_job: i64,
    ) -> Option<i64> {
        use tokio::sync::broadcast::error::RecvError;
        let deadline = tokio::time::Instant::now() + ARCHIVE_WAIT;
        loop {
            if let Some(found) = self.archive_entry_of(actor, printer, print_job).await {
                return found;
            }
            let next = tokio::time::timeout_at(deadline, async {
                loop {
                    match events.recv().await {
                        Ok(event) if event.printer == printer.printer => return true,
                        Ok(_) => {}
                        // Missed events may have been this printer's: look again.
                        Err(RecvError::Lagged(_)) => return true,
                        Err(RecvError::Closed) => return false,
                    }
                }
            })
            .await;
            if next != Ok(true) {
                // Time is up (or the bus closed): one last look, the watcher may just have
                // written it.
                return self
                    .archive_entry_of(actor, printer, print_job)
                    .await
                    .flatten();
            }
        }
    }

    /// `None`: no entry yet; `Some(id)`: the entry, `id` only when the actor may read it.
    async fn archive_entry_of(
        &self,
        actor: &Actor,
        printer: PrinterRef,
        print_job: i64,
    ) -> Option<Option<i64>> {
        match self.store.archive_for_print_job(print_job).await {
            Ok(Some((id, owner))) => {
                let readable = matches!(
                    authorize(
                        &actor.principal,
                        Action::OnOwned {
                            own: Some(Permission::ArchivesReadOwn),
                            all: Permission::ArchivesReadAll,
                        },
                        &Target::Owned {
                            owner,
                            printer: Some(printer),
                        },
                    ),
                    Decision::Allow
                );
                Some(readable.then_some(id))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "archive entry of a started print not looked up");
                Some(None)
            }
        }
    }
}
