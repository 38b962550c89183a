//! Files on the printer's storage over FTPS: list, download (streamed in chunks, capped),
//! delete, and upload-and-print (staged and checked, then started through the one start path
//! of `start.rs`).

use pw_printfile::PrintFile;

use super::start::{Printable, StartPrint, StartSettings, plate_warnings};
use super::*;
use crate::farm::library::blobs::Staged;
use crate::farm::library::{BlobError, BlobStore};

/// A printer file being downloaded (threat, audit finding 13: buffering whole files, up to
/// 256 MiB per request, let a few parallel downloads exhaust the server's memory). The HTTP
/// layer pulls [`PrinterDownload::next_chunk`] only as fast as the client takes the bytes, so
/// at most one chunk per download is in memory.
#[derive(Debug)]
pub struct PrinterDownload {
    printer: PrinterId,
    printer_name: String,
    size: u64,
    download: Option<pw_bambu::ftps::Download>,
}

/// Bytes read from the printer per chunk.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

impl PrinterDownload {
    /// The file's size, as the printer announced it (the response's `Content-Length`).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk, `None` after the last one (once the printer confirmed the transfer).
    /// An error mid-way means the client gets fewer bytes than `size` and can tell.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, AppError> {
        let Some(download) = self.download.as_mut() else {
            return Ok(None);
        };
        let mut chunk = vec![0u8; DOWNLOAD_CHUNK];
        let result = match download.read(&mut chunk).await {
            Ok(0) => match self.download.take() {
                Some(d) => d.finish().await.map(|()| None),
                None => Ok(None),
            },
            Ok(n) => {
                chunk.truncate(n);
                Ok(Some(bytes::Bytes::from(chunk)))
            }
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            self.download = None;
            tracing::warn!(printer = %self.printer, error = %e, "download failed");
            AppError::Conflict(format!("{}'s file store: {e}", self.printer_name))
        })
    }
}

/// A file on a printer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrinterFile {
    /// Name in the printer's root.
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// Largest file served by a download.
pub const MAX_DOWNLOAD: u64 = 256 * 1024 * 1024;

/// A name as printers store them: no directories, no control characters.
fn parse_stored_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 255
        || n.contains(['/', '\\'])
        || n == "."
        || n == ".."
        || n.chars().any(char::is_control)
    {
        return Err(AppError::BadRequest(
            "name must be a file name without directories or control characters.".into(),
        ));
    }
    Ok(n.to_owned())
}

/// Largest file accepted for upload-and-print.
pub const MAX_PRINT_FILE: u64 = 512 * 1024 * 1024;

/// `POST /api/v1/printers/{id}/print?file=…&plate=…` (the body is the file).
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PrintUpload {
    /// File name on the printer, ending in `.3mf` (e.g. `benchy.gcode.3mf`).
    pub file: String,
    /// Plate to print (default: the file's first sliced plate).
    #[serde(default)]
    pub plate: Option<u32>,
}

fn parse_file_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    let ok = (5..=100).contains(&n.len())
        && n.to_ascii_lowercase().ends_with(".3mf")
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '));
    if !ok {
        return Err(AppError::BadRequest(
            "file must be a .3mf name of 5–100 letters, digits, spaces, dots, dashes or underscores."
                .into(),
        ));
    }
    Ok(n.to_owned())
}

impl App {
    /// Uploads a sliced file and starts it: `queue:create` and `printers:control` on the
    /// printer; refused while it is busy (a printer busy with a job may cancel it on a second
    /// start). With a blob store, the body is first staged there, hashed and checked with the
    /// print-file parser (a zip bomb, a file that is not a ZIP or not sliced, a plate the file
    /// does not have: 400 before anything reaches the printer), then kept and uploaded from
    /// the store, so the print job names its content and the archive can link it.
    pub async fn upload_and_print(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: PrintUpload,
        length: Option<u64>,
        content: impl tokio::io::AsyncRead + Unpin + Send,
    ) -> Result<CommandOutcome, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersControl)
            .await?;
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Printer(printer_ref(&row)),
        )?;
        let file = parse_file_name(&input.file)?;
        if input.plate.is_some_and(|p| !(1..=64).contains(&p)) {
            return Err(AppError::BadRequest("plate must be 1 to 64.".into()));
        }
        let length = match length {
            Some(l) if (1..=MAX_PRINT_FILE).contains(&l) => l,
            Some(0) | None => {
                return Err(AppError::BadRequest(
                    "Send the file as the request body with a Content-Length.".into(),
                ));
            }
            Some(_) => {
                return Err(AppError::BadRequest(format!(
                    "The file is larger than {} MiB.",
                    MAX_PRINT_FILE / 1024 / 1024
                )));
            }
        };
        let claim = self.claim_start(&row)?;
        let Some(blobs) = self.library_blobs.clone() else {
            // No content store: the body goes straight to the printer, as it comes.
            let started = self
                .start_claimed(
                    claim,
                    StartPrint {
                        printer: &row,
                        actor,
                        file_name: file,
                        plate: input.plate.unwrap_or(1),
                        content: Box::pin(content),
                        length,
                        library_file_id: None,
                        sha256: None,
                        warnings: Vec::new(),
                        settings: StartSettings::default(),
                        queue_claim: None,
                    },
                )
                .await?;
            return Ok(started.outcome);
        };
        let staged = self.stage_print_body(&*blobs, content, length).await?;
        let parsed = self.inspect_staged(&staged, &file).await?;
        let printable = Printable::of(&parsed, &file)?;
        let plate = printable.plate(input.plate)?;
        let warnings = plate_warnings(plate, &row, self.printer_nozzle(row.id));
        let plate = plate.index;
        let sha256 = staged.sha256.clone();
        let size = staged.size;
        let new_blob = {
            let _refs = self.library_refs.lock().await;
            blobs
                .commit(staged)
                .await
                .map_err(|e| AppError::Internal(Box::new(e)))?
        };
        let started = match blobs.open(&sha256, None).await {
            Ok(reader) => {
                self.start_claimed(
                    claim,
                    StartPrint {
                        printer: &row,
                        actor,
                        file_name: file,
                        plate,
                        content: reader,
                        length: size,
                        library_file_id: None,
                        sha256: Some(sha256.clone()),
                        warnings,
                        settings: StartSettings::default(),
                        queue_claim: None,
                    },
                )
                .await
            }
            Err(e) => Err(AppError::Internal(Box::new(e))),
        };
        if new_blob && !started.as_ref().is_ok_and(|s| s.outcome.ok) {
            // Nothing started: content kept only for this start goes again.
            self.drop_unnamed_blob(&sha256).await;
        }
        Ok(started?.outcome)
    }

    /// Streams an upload-and-print body to the blob store's staging area (hashed, counted).
    async fn stage_print_body(
        &self,
        blobs: &dyn BlobStore,
        mut content: impl tokio::io::AsyncRead + Unpin + Send,
        length: u64,
    ) -> Result<Staged, AppError> {
        let staged = match blobs.stage(&mut content, length).await {
            Ok(staged) => staged,
            Err(BlobError::TooLarge { .. }) => {
                return Err(AppError::BadRequest(format!(
                    "The body is longer than its Content-Length of {length} bytes."
                )));
            }
            Err(BlobError::Aborted(e)) => {
                tracing::info!(error = %e, "print upload ended early");
                return Err(AppError::BadRequest(
                    "The upload was cut short; nothing was sent to the printer. Try again.".into(),
                ));
            }
            Err(e) => return Err(AppError::Internal(Box::new(e))),
        };
        if staged.size != length {
            return Err(AppError::BadRequest(format!(
                "The body ended after {} of {length} bytes.",
                staged.size
            )));
        }
        Ok(staged)
    }

    /// Parses a staged upload with the print-file parser's full limits (every entry inflated
    /// once and checked: zip bombs, lying sizes, unsafe names), on a blocking thread.
    async fn inspect_staged(&self, staged: &Staged, name: &str) -> Result<PrintFile, AppError> {
        let path = staged.path().to_path_buf();
        let hint = name.to_owned();
        let parsed = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path)?;
            Ok::<_, std::io::Error>(pw_printfile::inspect(
                std::io::BufReader::new(file),
                Some(&hint),
                &pw_printfile::Limits::default(),
            ))
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        parsed.map_err(|e| {
            tracing::info!(cause = ?e.cause(), "print upload refused");
            match e.kind() {
                pw_printfile::ErrorKind::Io => AppError::Internal(Box::new(e)),
                _ => AppError::BadRequest(format!("{e}. Nothing was sent to the printer.")),
            }
        })
    }

    /// A logged-in FTPS session with the printer's pinned certificate.
    pub(crate) async fn ftps(&self, row: &PrinterRow) -> Result<Ftps, AppError> {
        let Some(pin) = row.pinned_sha256.as_deref().and_then(Fingerprint::parse) else {
            return Err(AppError::Conflict(format!(
                "{} is not trusted yet.",
                row.name
            )));
        };
        let code = self.open(&row.access_code, &access_code_context(row.id))?;
        let verifier = PrinterVerifier::new(&row.serial, Some(pin), self.printer_roots());
        Ftps::connect(&row.host, row.ftps_port, &row.serial, &code, &verifier)
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))
    }

    /// `GET /api/v1/printers/{id}/files`: the files in the printer's root.
    pub async fn printer_files(
        &self,
        actor: &Actor,
        id: PrinterId,
    ) -> Result<Vec<PrinterFile>, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let mut ftps = self.ftps(&row).await?;
        let files = ftps
            .list()
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))?;
        ftps.quit().await;
        Ok(files
            .into_iter()
            .map(|(name, size)| PrinterFile { name, size })
            .collect())
    }

    /// `GET /api/v1/printers/{id}/files/{name}`: opens one file (at most [`MAX_DOWNLOAD`]
    /// bytes) for streaming; the caller pulls it chunk by chunk.
    pub async fn download_printer_file(
        &self,
        actor: &Actor,
        id: PrinterId,
        name: &str,
    ) -> Result<PrinterDownload, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let name = parse_stored_name(name)?;
        let mut ftps = self.ftps(&row).await?;
        let store_error = |e: pw_bambu::ftps::FtpsError| {
            AppError::Conflict(format!("{}'s file store: {e}", row.name))
        };
        let Some(size) = ftps.size(&name).await.map_err(store_error)? else {
            return Err(AppError::NotFound);
        };
        if size > MAX_DOWNLOAD {
            return Err(AppError::Conflict(format!(
                "{name} is larger than {} MiB.",
                MAX_DOWNLOAD / 1024 / 1024
            )));
        }
        let download = ftps.open_download(&name, size).await.map_err(store_error)?;
        Ok(PrinterDownload {
            printer: id,
            printer_name: row.name,
            size,
            download: Some(download),
        })
    }

    /// `DELETE /api/v1/printers/{id}/files/{name}`.
    pub async fn delete_printer_file(
        &self,
        actor: &Actor,
        id: PrinterId,
        name: &str,
    ) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let name = parse_stored_name(name)?;
        if self.printing_file(&row, &name).await? {
            // Threat to the job, not to security: a deleted file under a running print makes
            // the printer fail it mid-way, wasting hours and filament.
            return Err(AppError::Conflict(format!(
                "{} is printing {name}; stop the print before deleting its file.",
                row.name
            )));
        }
        let mut ftps = self.ftps(&row).await?;
        let deleted = ftps
            .delete(&name)
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))?;
        ftps.quit().await;
        if !deleted {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::PrinterFileDelete,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "file": name }),
        )
        .await;
        Ok(())
    }

    /// Whether the printer is busy with `name`: its report names the file, or the job
    /// printwarden started there is that file.
    async fn printing_file(&self, row: &PrinterRow, name: &str) -> Result<bool, AppError> {
        let live = self.fleet.live(row.id);
        let Some(status) = live.status.as_ref().filter(|s| s.gcode_state.is_busy()) else {
            return Ok(false);
        };
        let reported = status
            .gcode_file
            .as_deref()
            .and_then(|f| f.rsplit('/').next())
            .is_some_and(|f| f == name);
        if reported {
            return Ok(true);
        }
        Ok(self
            .store
            .open_print_job(row.id)
            .await?
            .is_some_and(|job| job.file_name == name))
    }
}
