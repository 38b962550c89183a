//! The one start path. Every print printwarden starts — upload-and-print, print from the
//! library, later the queue's dispatcher — goes through [`App::claim_start`] then
//! [`App::start_claimed`] (or [`App::start_print`], both in one), so the same rules hold for
//! all of them:
//!
//! - one start per printer at a time: the busy check and the claim are one step (threat,
//!   audit finding 13: two starts both passed the busy check and the second start command
//!   cancelled the first job mid-print); a busy or claimed printer is a 409 in words and is
//!   sent nothing;
//! - the file is streamed to the printer over FTPS (a reader and its length, never the whole
//!   file in memory);
//! - the print job is recorded with what it prints (library file, SHA-256, plate, task id)
//!   BEFORE the start command, so the printer's first report finds who started it and the
//!   archive can link the file; a start that fails or is refused forgets the job again;
//! - every start is audited as `printer.print`.
//!
//! The start path trusts its input: callers check the rights and refuse unprintable files.
//! [`Printable`] reads what a sliced file offers (plates with G-code, the model and nozzle it
//! was sliced for), so they can refuse in words — and warn about another model or nozzle —
//! before anything reaches the printer.

use std::pin::Pin;

use pw_bambu::model::Model;
use pw_domain::LibraryFileId;
use pw_printfile::PrintFile;
use pw_store::PrintJobFile;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::*;
use crate::farm::print_claims::StartClaim;

/// One start, as every caller describes it.
pub(crate) struct StartPrint<'a> {
    /// The printer (the caller checked `printers:control` on it).
    pub printer: &'a PrinterRow,
    /// Who starts it (recorded on the print job and in the audit log).
    pub actor: &'a Actor,
    /// The file's name on the printer (a checked `.3mf` name).
    pub file_name: String,
    /// The plate to start (one that has G-code in the file).
    pub plate: u32,
    /// The file's bytes, streamed.
    pub content: Pin<Box<dyn AsyncRead + Send + 'a>>,
    /// How many bytes `content` holds.
    pub length: u64,
    /// The library file it comes from.
    pub library_file_id: Option<LibraryFileId>,
    /// The content's SHA-256, when the blob store keeps it.
    pub sha256: Option<String>,
    /// Warnings the caller gave (recorded in the audit line).
    pub warnings: Vec<String>,
    /// How to print it (the default: the external spool, bed levelling, no timelapse).
    pub settings: StartSettings,
    /// The queue's claim this start belongs to (item id, `claimed_at`): the print job is
    /// fenced on it before the start command (see `Store::fence_queue_start`), so a claim
    /// taken back meanwhile sends nothing.
    pub queue_claim: Option<(i64, i64)>,
}

/// The print settings of one start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartSettings {
    /// One tray per filament of the plate (`-1`: the external spool or unmapped).
    pub ams_mapping: Vec<i32>,
    /// Record a timelapse.
    pub timelapse: bool,
    /// Level the bed first.
    pub bed_leveling: bool,
    /// Calibrate the flow first.
    pub flow_cali: bool,
}

impl Default for StartSettings {
    fn default() -> Self {
        Self {
            // The external spool: direct starts do not map AMS trays.
            ams_mapping: vec![-1],
            timelapse: false,
            bed_leveling: true,
            flow_cali: false,
        }
    }
}

/// What a start did.
#[derive(Debug)]
pub(crate) struct Started {
    /// The print job, when the printer accepted the start.
    pub print_job_id: Option<i64>,
    /// The printer's answer.
    pub outcome: CommandOutcome,
}

/// A plate that can be started: it has G-code.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrintablePlate {
    /// 1-based.
    pub index: u32,
    /// The model it was sliced for, when the file says and the name is known.
    pub model: Option<Model>,
    /// The nozzle diameter it was sliced for (mm).
    pub nozzle: Option<f64>,
}

/// What a sliced file offers to print.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Printable {
    /// The plates with G-code, by ascending index.
    pub plates: Vec<PrintablePlate>,
}

impl Printable {
    /// The plates of a parsed file, or why it cannot be started, in words (`name` is how the
    /// user knows the file).
    pub(crate) fn of(file: &PrintFile, name: &str) -> Result<Self, AppError> {
        let project = match file {
            PrintFile::SlicedProject(p) => p,
            PrintFile::Project(_) => {
                return Err(AppError::BadRequest(format!(
                    "{name} is a project that has not been sliced: slice it first (in Bambu \
                     Studio or OrcaSlicer) and print the .gcode.3mf it exports."
                )));
            }
            PrintFile::Stl(_) => {
                return Err(AppError::BadRequest(format!(
                    "{name} is a 3D model, not a print file: slice it first (in Bambu Studio or \
                     OrcaSlicer) and print the .gcode.3mf it exports."
                )));
            }
            // The LAN protocol as printwarden speaks it (pw-bambu) starts 3MF plates only.
            PrintFile::Gcode(_) => return Err(plain_gcode(name)),
        };
        let model_name = project
            .settings
            .as_ref()
            .and_then(|s| s.printer_model.as_deref())
            .and_then(Model::parse);
        let plates: Vec<PrintablePlate> = project
            .plates
            .iter()
            .filter(|p| p.gcode.is_some())
            .map(|p| PrintablePlate {
                index: p.index,
                model: p
                    .printer_model_id
                    .as_deref()
                    .and_then(Model::parse)
                    .or(model_name),
                nozzle: p.nozzle_diameter,
            })
            .collect();
        if plates.is_empty() {
            return Err(AppError::BadRequest(format!(
                "{name} has no sliced plate: slice it first and print the .gcode.3mf it exports."
            )));
        }
        Ok(Self { plates })
    }

    /// The plate asked for (default: the first sliced plate), or a 400 naming the plates the
    /// file has.
    pub(crate) fn plate(&self, wanted: Option<u32>) -> Result<&PrintablePlate, AppError> {
        let found = match wanted {
            None => self.plates.first(),
            Some(n) => self.plates.iter().find(|p| p.index == n),
        };
        found.ok_or_else(|| {
            AppError::BadRequest(format!(
                "There is no sliced plate {}. This file has {}.",
                wanted.unwrap_or(1),
                plate_list(&self.plates.iter().map(|p| p.index).collect::<Vec<_>>())
            ))
        })
    }
}

/// The refusal of a plain G-code file.
pub(crate) fn plain_gcode(name: &str) -> AppError {
    AppError::BadRequest(format!(
        "{name} is plain G-code; printwarden starts sliced .gcode.3mf files only. Export the \
         plate as a .gcode.3mf from the slicer and print that."
    ))
}

/// "plates 1–3", "only plate 2", "plates 1, 3 and 5".
fn plate_list(plates: &[u32]) -> String {
    match plates {
        [] => "no sliced plate".to_owned(),
        [one] => format!("only plate {one}"),
        [first, .., last] if plates.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("plates {first}–{last}")
        }
        [rest @ .., last] => format!(
            "plates {} and {last}",
            rest.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Warnings (not refusals) for starting `plate` on the printer: another model than the one
/// it was sliced for, another nozzle diameter than the printer reports. Unknown on either side
/// = no warning: a guess would cry wolf.
pub(crate) fn plate_warnings(
    plate: &PrintablePlate,
    row: &PrinterRow,
    printer_nozzle: Option<f64>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if let (Some(sliced), Some(printer)) = (plate.model, Model::parse(&row.model))
        && sliced != printer
    {
        warnings.push(format!(
            "Plate {} was sliced for a {sliced}, but {} is a {printer}: it may print badly or \
             damage the printer. Slice it for the {printer} to be sure.",
            plate.index, row.name
        ));
    }
    if let (Some(sliced), Some(printer)) = (plate.nozzle, printer_nozzle)
        && (sliced - printer).abs() > 0.001
    {
        warnings.push(format!(
            "Plate {} was sliced for a {sliced} mm nozzle, but {} has a {printer} mm nozzle.",
            plate.index, row.name
        ));
    }
    warnings
}

/// A name the printer's file store takes (letters, digits, spaces, dots, dashes, underscores;
/// 5–100 characters, ending in `.gcode.3mf`), made from a library file's name.
pub(crate) fn printer_file_name(name: &str, fallback: &str) -> String {
    const SUFFIX: &str = ".gcode.3mf";
    let lower = name.to_ascii_lowercase();
    let stem = [".gcode.3mf", ".3mf"]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map_or(name, |ext| {
            name.get(..name.len() - ext.len()).unwrap_or(name)
        });
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(100 - SUFFIX.len())
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '_') {
        return format!("{fallback}{SUFFIX}");
    }
    format!("{cleaned}{SUFFIX}")
}

impl App {
    /// Claims the printer for one start: it must be connected, not busy, and not claimed by
    /// another start (409 in words otherwise). Dropping the claim frees the printer.
    pub(crate) fn claim_start(&self, row: &PrinterRow) -> Result<StartClaim, AppError> {
        let live = self.fleet.live(row.id);
        if live.connection != Connection::Online {
            return Err(AppError::Conflict(format!(
                "{} is not connected.",
                row.name
            )));
        }
        let busy = live
            .status
            .as_ref()
            .is_some_and(|s| s.gcode_state.is_busy());
        // Check and claim in one step: a second start in parallel finds the claim (409), so
        // it can neither upload over the first nor cancel its job with a second start.
        self.fleet.claims.claim(row.id, busy).ok_or_else(|| {
            AppError::Conflict(format!(
                "{} is busy with a job; wait until it finishes.",
                row.name
            ))
        })
    }

    /// The nozzle diameter the printer reports, when it does.
    pub(crate) fn printer_nozzle(&self, printer: PrinterId) -> Option<f64> {
        self.fleet
            .live(printer)
            .status
            .as_ref()
            .and_then(|s| s.nozzle_diameter)
    }

    /// Claims the printer ([`App::claim_start`]) and starts the print ([`App::start_claimed`]).
    pub(crate) async fn start_print(&self, start: StartPrint<'_>) -> Result<Started, AppError> {
        let claim = self.claim_start(start.printer)?;
        self.start_claimed(claim, start).await
    }

    /// Uploads the file over FTPS, records the print job with what it prints, sends the start
    /// command for the plate, and audits. The claim is kept after an accepted start until the
    /// printer reports the job; any failure frees it and forgets the job.
    pub(crate) async fn start_claimed(
        &self,
        claim: StartClaim,
        start: StartPrint<'_>,
    ) -> Result<Started, AppError> {
        let StartPrint {
            printer: row,
            actor,
            file_name,
            plate,
            content,
            length,
            library_file_id,
            sha256,
            warnings,
            settings,
            queue_claim,
        } = start;
        let mut ftps = self.ftps(row).await?;
        let upload = async {
            let sent = ftps
                .upload(&file_name, content.take(length), |_| {})
                .await?;
            ftps.quit().await;
            Ok::<u64, pw_bambu::ftps::FtpsError>(sent)
        };
        let sent = upload.await.map_err(|e| {
            tracing::warn!(printer = %row.id, error = %e, "upload failed");
            AppError::Conflict(format!("Upload to {} failed: {e}", row.name))
        })?;
        if sent != length {
            return Err(AppError::BadRequest(format!(
                "The body ended after {sent} of {length} bytes."
            )));
        }
        // A fresh non-zero id below 2^31 per start: a repeated one makes a P1S resume the last
        // failed job and stay idle (pw-bambu's command invariant).
        let task_id =
            crate::core::clock::random::<4>().map(|b| u32::from_le_bytes(b) % 0x7FFF_FFFE + 1)?;
        let command = Command::ProjectFile(pw_bambu::command::ProjectFile {
            file: file_name.clone(),
            plate,
            subtask_name: file_name
                .trim_end_matches(".3mf")
                .trim_end_matches(".gcode")
                .to_owned(),
            task_id,
            ams_mapping: settings.ams_mapping,
            timelapse: settings.timelapse,
            bed_leveling: settings.bed_leveling,
            flow_cali: settings.flow_cali,
            vibration_cali: false,
            layer_inspect: false,
        });
        let job = self.record_print_job(row.id, actor, &file_name).await?;
        let task = task_id.to_string();
        let recorded = self
            .store
            .set_print_job_file(
                job,
                &PrintJobFile {
                    library_file_id,
                    file_sha256: sha256.as_deref(),
                    plate: Some(i64::from(plate)),
                    task_id: Some(&task),
                },
            )
            .await;
        if let Err(e) = recorded {
            self.forget_print_job(job).await;
            return Err(e.into());
        }
        if let Some((item, claimed_at)) = queue_claim {
            // The queue's fence: the last step before the command. A claim reconciled away
            // (or cancelled) meanwhile must not start — never one item twice.
            match self
                .store
                .fence_queue_start(item, claimed_at, job, self.now())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.forget_print_job(job).await;
                    return Err(AppError::Conflict(
                        "The queue item was taken back before its start.".into(),
                    ));
                }
                Err(e) => {
                    self.forget_print_job(job).await;
                    return Err(e.into());
                }
            }
        }
        let outcome = match self.send_command(row, command).await {
            Ok(o) => o,
            Err(e) => {
                self.forget_print_job(job).await;
                return Err(e);
            }
        };
        if outcome.ok {
            claim.started();
        } else {
            self.forget_print_job(job).await;
        }
        self.audit(
            actor,
            AuditEvent::PrinterPrint,
            Some(("printer", row.id.to_string())),
            outcome.ok,
            serde_json::json!({
                "file": file_name, "bytes": sent, "plate": plate, "reason": outcome.reason,
                "library_file_id": library_file_id, "sha256": sha256,
                "print_job_id": outcome.ok.then_some(job), "warnings": warnings,
            }),
        )
        .await;
        Ok(Started {
            print_job_id: outcome.ok.then_some(job),
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_are_named_in_words() {
        assert_eq!(plate_list(&[1, 2, 3]), "plates 1–3");
        assert_eq!(plate_list(&[2]), "only plate 2");
        assert_eq!(plate_list(&[1, 3, 5]), "plates 1, 3 and 5");
        assert_eq!(plate_list(&[1, 2, 4]), "plates 1, 2 and 4");
    }

    #[test]
    fn library_names_become_printer_names() {
        assert_eq!(
            printer_file_name("Benchy (v2).gcode.3mf", "print-1"),
            "Benchy _v2_.gcode.3mf"
        );
        assert_eq!(printer_file_name("cube.3MF", "print-1"), "cube.gcode.3mf");
        assert_eq!(
            printer_file_name("ÄÖÜ.gcode.3mf", "print-7"),
            "print-7.gcode.3mf"
        );
        assert_eq!(printer_file_name("..x", "print-1"), "x.gcode.3mf");
        let long = printer_file_name(&"a".repeat(300), "p");
        assert_eq!(long.len(), 100);
        assert!(long.ends_with(".gcode.3mf"));
    }
}
