//! Linking an archive entry to the file it printed, and reading what the file says: one path
//! ([`App::link_archive_file`]) for both origins — the blob a print started through printwarden
//! named (its print job's `file_sha256`), or the file fetched from the printer over FTPS for a
//! print started elsewhere (slicer, SD card, cloud). From the blob and the plate it records
//! the entry's `file_sha256`, the plate image as its own small blob (`thumbnail_sha256`) and
//! the plate's filament use (grams, metres).
//!
//! Invariants: it runs as its own task ([`crate::Task::ArchiveMedia`]), never in the watcher,
//! so a slow or hostile printer cannot hold the archive; a fetched file is streamed into the
//! blob store's staging area (never whole in memory), capped at the library's upload limit
//! (checked against the announced size before anything is read, and again while reading), and
//! kept only if `pw-printfile` reads it as a print file (ZIP limits, zip bombs, traversal names
//! — the parser's checks); a printer path is built only from the report's names with every
//! part checked (no `..`, no control characters), and tried in the places printers keep jobs
//! (the root, `/cache`, `/model`; bambu-protocol.md §1.7). A blob is committed with the row
//! that names it under the reference lock and released again when that row could not be
//! written (the entry was deleted meanwhile). Any failure is logged and leaves the entry as it
//! is, without a file.

use pw_bambu::ftps::{Download, FtpsError};
use pw_domain::{LibraryFileId, PrinterId};
use pw_printfile::{Limits, PrintFile};
use tokio::io::AsyncWriteExt;

use super::FilamentUsed;
use super::watch::JobView;
use crate::farm::library::blobs::{BlobError, Staged};
use crate::farm::library::meta::StoredMeta;
use crate::{App, AppError, Task};

/// Where an entry's file comes from.
#[derive(Debug, Clone)]
pub(crate) enum FileOrigin {
    /// A blob printwarden keeps already (the print job of a start through printwarden names
    /// it, which keeps it until the job ends).
    Blob {
        /// Its hash.
        sha256: String,
        /// The library file it was printed from.
        library_file: Option<LibraryFileId>,
        /// The plate started.
        plate: Option<i64>,
    },
    /// The printer's storage: the first of `paths` that exists.
    Printer {
        /// The printer.
        printer: PrinterId,
        /// Candidate paths, most likely first.
        paths: Vec<String>,
        /// The plate, when the report named it.
        plate: Option<i64>,
    },
}

/// Most candidate paths tried on a printer (each is one `SIZE` on the control connection).
const MAX_CANDIDATES: usize = 9;

/// One part of a printer path: a plain name.
fn safe_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 255
        && part != "."
        && part != ".."
        && !part.contains('\\')
        && !part
            .chars()
            .any(|c| c.is_control() || pw_domain::is_hidden_char(c))
}

/// The paths where the printer may keep the job's file, most likely first: `gcode_file` when it
/// names a 3MF (as reported: a name in the root, or an absolute path), then the file and job
/// names with the sliced/unsliced endings in the root, `/cache` and `/model`. Names that are
/// not plain names are left out.
pub(crate) fn printer_paths(view: &JobView) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |p: String| {
        if out.len() < MAX_CANDIDATES && !out.contains(&p) {
            out.push(p);
        }
    };
    let mut names: Vec<String> = Vec::new();
    if let Some(file) = view.gcode_file.as_deref().map(str::trim)
        && file.to_ascii_lowercase().ends_with(".3mf")
    {
        let parts: Vec<&str> = file.trim_start_matches('/').split('/').collect();
        if parts.iter().all(|p| safe_part(p)) {
            push(if file.starts_with('/') {
                format!("/{}", parts.join("/"))
            } else {
                parts.join("/")
            });
            if let Some(last) = parts.last() {
                names.push((*last).to_owned());
            }
        }
    }
    if let Some(job) = view.subtask_name.as_deref().map(str::trim)
        && safe_part(job)
        && !job.contains('/')
    {
        names.push(format!("{job}.gcode.3mf"));
        names.push(format!("{job}.3mf"));
    }
    for dir in ["", "/cache/", "/model/"] {
        for name in &names {
            push(format!("{dir}{name}"));
        }
    }
    out
}

/// Streams a download into `writer` (one half of a pipe whose other half is staged), then waits
/// for the printer's `226`. The writer closing early (the stage refused: over the cap) ends it.
async fn pump(mut download: Download, mut writer: tokio::io::DuplexStream) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = download.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        writer
            .write_all(chunk)
            .await
            .map_err(|_| "the staging stopped reading".to_owned())?;
    }
    writer
        .shutdown()
        .await
        .map_err(|_| "the staging stopped reading".to_owned())?;
    drop(writer);
    download
        .finish()
        .await
        .map_err(|e: FtpsError| e.to_string())
}

/// The plate a print used: the one named, else the only plate, else plate 1.
fn plate_of(meta: &StoredMeta, plate: Option<i64>) -> Option<u32> {
    if let Some(p) = plate.and_then(|p| u32::try_from(p).ok())
        && meta.plate(p).is_some()
    {
        return Some(p);
    }
    match meta.plates.as_slice() {
        [only] => Some(only.index),
        _ => meta.plate(1).map(|p| p.index),
    }
}

impl App {
    /// Links an entry to its file in a task of its own (the watcher goes on at once).
    pub(crate) fn spawn_archive_link(&self, entry: i64, origin: FileOrigin) {
        if self.library_blobs.is_none() {
            return;
        }
        let app = self.clone();
        self.spawn_task(Task::ArchiveMedia, async move {
            if let Err(e) = app.link_archive_file(entry, origin).await {
                tracing::warn!(archive = entry, error = %e, "archive entry not linked to its file");
            }
        });
    }

    /// Links an entry to its file and records what the file says (see the module docs).
    /// `Ok` also when there was no file to link (logged).
    pub(crate) async fn link_archive_file(
        &self,
        entry: i64,
        origin: FileOrigin,
    ) -> Result<(), AppError> {
        let (sha256, plate, parsed) = match origin {
            FileOrigin::Blob {
                sha256,
                library_file,
                plate,
            } => {
                let parsed = self.parse_blob(&sha256).await?;
                let linked = {
                    let _held = self.blob_refs().await;
                    // Still there: the job that named it kept it until now.
                    match self.blobs()?.open(&sha256, Some((0, 0))).await {
                        Ok(_) => {
                            self.store
                                .set_archive_file(entry, &sha256, library_file)
                                .await?
                        }
                        Err(BlobError::NotFound) => false,
                        Err(e) => return Err(AppError::Internal(Box::new(e))),
                    }
                };
                if !linked {
                    tracing::info!(
                        archive = entry,
                        "archive entry gone or its file released before linking"
                    );
                    return Ok(());
                }
                (sha256, plate, parsed)
            }
            FileOrigin::Printer {
                printer,
                paths,
                plate,
            } => {
                let Some((staged, path)) = self.fetch_printer_file(printer, &paths).await? else {
                    return Ok(());
                };
                let parsed = match parse_staged(&staged, &path).await? {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        tracing::warn!(archive = entry, printer = %printer, path = %path, cause = ?e.cause(), "the printer's file is not a print file; the entry stays without it");
                        return Ok(());
                    }
                };
                let sha = staged.sha256.clone();
                let library_file = self.store.library_file_with_content(&sha).await?;
                let kept = self
                    .keep_blob(staged, async |sha: &str| {
                        Ok(self
                            .store
                            .set_archive_file(entry, sha, library_file)
                            .await?)
                    })
                    .await?;
                if kept.is_none() {
                    tracing::info!(
                        archive = entry,
                        "archive entry gone or linked before its file arrived"
                    );
                    return Ok(());
                }
                (sha, plate, parsed)
            }
        };
        self.describe_archive_file(entry, &sha256, plate, &parsed)
            .await
    }

    /// Records the plate, its filament use and its image from the parsed file.
    async fn describe_archive_file(
        &self,
        entry: i64,
        sha256: &str,
        plate: Option<i64>,
        parsed: &PrintFile,
    ) -> Result<(), AppError> {
        let meta = StoredMeta::from_file(parsed);
        let Some(index) = plate_of(&meta, plate) else {
            return Ok(());
        };
        let Some(facts) = meta.plate(index) else {
            return Ok(());
        };
        let filaments: Vec<FilamentUsed> = facts
            .filaments
            .iter()
            .map(|f| FilamentUsed {
                slot: format!("filament {}", f.slot),
                kind: Some(f.material.clone()).filter(|m| !m.is_empty()),
                color: Some(f.color.trim_start_matches('#').to_ascii_uppercase())
                    .filter(|c| !c.is_empty()),
                grams: f.grams,
                meters: f.meters,
            })
            .collect();
        let json = serde_json::to_string(&filaments).unwrap_or_else(|_| "[]".to_owned());
        self.store
            .set_archive_file_facts(entry, Some(i64::from(index)), &json)
            .await?;
        let Some((member, size)) = facts.thumbnail.clone() else {
            return Ok(());
        };
        let reader = self
            .blobs()?
            .open_blocking(sha256)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let thumbnail = pw_printfile::Thumbnail {
            entry: member,
            size,
        };
        let png = tokio::task::spawn_blocking(move || {
            pw_printfile::read_thumbnail(reader, &thumbnail, &Limits::default())
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        let png = match png {
            Ok(png) => png,
            Err(e) => {
                tracing::info!(archive = entry, cause = ?e.cause(), "plate image not read");
                return Ok(());
            }
        };
        let staged = self.stage_bytes(&png).await?;
        self.keep_blob(staged, async |sha: &str| {
            Ok(self.store.set_archive_thumbnail(entry, sha).await?)
        })
        .await?;
        Ok(())
    }

    /// Stages a small piece of content (a plate image, a camera frame).
    pub(crate) async fn stage_bytes(&self, bytes: &[u8]) -> Result<Staged, AppError> {
        let mut body: &[u8] = bytes;
        self.blobs()?
            .stage(&mut body, bytes.len() as u64)
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))
    }

    /// Reads a kept blob with the print file parser.
    async fn parse_blob(&self, sha256: &str) -> Result<PrintFile, AppError> {
        let reader = self
            .blobs()?
            .open_blocking(sha256)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        tokio::task::spawn_blocking(move || pw_printfile::inspect(reader, None, &Limits::default()))
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?
            .map_err(|e| AppError::Internal(Box::new(e)))
    }

    /// The first of `paths` the printer has, streamed into the staging area; `None` (logged)
    /// when none is there, it is empty or larger than the library's limit, or the transfer
    /// failed.
    async fn fetch_printer_file(
        &self,
        printer: PrinterId,
        paths: &[String],
    ) -> Result<Option<(Staged, String)>, AppError> {
        let Some(row) = self.store.printer(printer).await? else {
            return Ok(None);
        };
        let cap = self.library_max_upload();
        let mut ftps = match self.ftps(&row).await {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(printer = %printer, error = %e, "printer file store not reachable; the archive entry stays without its file");
                return Ok(None);
            }
        };
        let mut found = None;
        for path in paths {
            match ftps.size(path).await {
                Ok(Some(size)) => {
                    found = Some((path.clone(), size));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::info!(printer = %printer, path = %path, error = %e, "printer file not looked up");
                }
            }
        }
        let Some((path, size)) = found else {
            ftps.quit().await;
            tracing::info!(printer = %printer, tried = ?paths, "the printed file is not on the printer; the archive entry stays without it");
            return Ok(None);
        };
        if size == 0 || size > cap {
            ftps.quit().await;
            tracing::warn!(printer = %printer, path = %path, size, cap, "the printer's file is empty or larger than the library's limit; not fetched");
            return Ok(None);
        }
        let download = match ftps.open_download(&path, size).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(printer = %printer, path = %path, error = %e, "printer file not fetched");
                return Ok(None);
            }
        };
        let (writer, mut reader) = tokio::io::duplex(64 * 1024);
        let blobs = self.blobs()?;
        let (staged, pumped) = tokio::join!(blobs.stage(&mut reader, cap), pump(download, writer));
        match (staged, pumped) {
            (Ok(staged), Ok(())) if staged.size == size => Ok(Some((staged, path))),
            (Ok(staged), Ok(())) => {
                tracing::warn!(printer = %printer, path = %path, got = staged.size, size, "printer file arrived with another size; not kept");
                Ok(None)
            }
            (Err(BlobError::TooLarge { limit }), _) => {
                tracing::warn!(printer = %printer, path = %path, limit, "printer file larger than the library's limit; not kept");
                Ok(None)
            }
            (Err(e), _) => {
                tracing::warn!(printer = %printer, path = %path, error = %e, "printer file not staged");
                Ok(None)
            }
            (_, Err(e)) => {
                tracing::warn!(printer = %printer, path = %path, error = %e, "printer file transfer failed; not kept");
                Ok(None)
            }
        }
    }
}

/// Parses a staged file (`Ok(Err)`: not a print file).
async fn parse_staged(
    staged: &Staged,
    name: &str,
) -> Result<Result<PrintFile, pw_printfile::Error>, AppError> {
    let path = staged.path().to_path_buf();
    let hint = name.rsplit('/').next().unwrap_or(name).to_owned();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(path)?;
        Ok::<_, std::io::Error>(pw_printfile::inspect(
            std::io::BufReader::new(file),
            Some(&hint),
            &Limits::default(),
        ))
    })
    .await
    .map_err(|e| AppError::Internal(Box::new(e)))?
    .map_err(|e| AppError::Internal(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pw_bambu::report::GcodeState;

    fn view(file: Option<&str>, job: Option<&str>) -> JobView {
        JobView {
            printer_name: "P".into(),
            state: GcodeState::Running,
            gcode_file: file.map(str::to_owned),
            subtask_name: job.map(str::to_owned),
            job_id: None,
            print_error: None,
            hms: Vec::new(),
            tray: None,
        }
    }

    #[test]
    fn printer_paths_come_from_the_report_names_only() {
        assert_eq!(
            printer_paths(&view(Some("/cache/cube.gcode.3mf"), Some("cube"))),
            [
                "/cache/cube.gcode.3mf",
                "cube.gcode.3mf",
                "cube.3mf",
                "/cache/cube.3mf",
                "/model/cube.gcode.3mf",
                "/model/cube.3mf",
            ]
        );
        let plate = printer_paths(&view(Some("/data/Metadata/plate_1.gcode"), Some("benchy")));
        assert_eq!(plate.first().map(String::as_str), Some("benchy.gcode.3mf"));
        assert!(printer_paths(&view(Some("../../etc/x.3mf"), Some("../x"))).is_empty());
        assert!(printer_paths(&view(Some("/cache/a\u{0}.3mf"), None)).is_empty());
        assert!(printer_paths(&view(None, None)).is_empty());
    }
}
