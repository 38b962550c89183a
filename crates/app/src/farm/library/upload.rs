//! Uploading to the library: stream to a staging file (hashed, counted, limited), parse it
//! with `pw-printfile` on a blocking thread from that file, then — only if it is a print file
//! the library takes — keep the blob and record the row together.
//!
//! Invariants: nothing is stored for a refused upload (over the limit, not a print file, a zip
//! bomb, unsafe names, malformed XML, an unknown folder): the staging file goes with its
//! [`Staged`] and no row is written. The upload and the parse hold no lock; only the commit of
//! the blob with its row does (`App::library_refs`), so a concurrent delete of the last other
//! row naming the same content cannot remove the blob under the new row.

use pw_domain::{LibraryFolderId, Permission};
use pw_policy::{Action, Target};
use pw_printfile::{ErrorKind, FileKind, Limits};
use pw_store::NewLibraryFile;
use tokio::io::AsyncRead;

use super::LibraryFileView;
use super::blobs::{BlobError, Staged};
use super::meta::StoredMeta;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// Longest file name kept (characters).
const NAME_MAX: usize = 255;

/// An upload streamed to the staging area, not yet accepted.
#[derive(Debug)]
pub struct LibraryUpload {
    staged: Staged,
}

impl LibraryUpload {
    /// Bytes received.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.staged.size
    }
}

/// A file name made safe to keep and show: the last path component, control and invisible
/// formatting characters dropped, trimmed, at most [`NAME_MAX`] characters.
pub(crate) fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !pw_domain::is_hidden_char(*c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    Some(cleaned.chars().take(NAME_MAX).collect())
}

fn kind_name(kind: FileKind) -> &'static str {
    kind.extension()
}

impl App {
    /// Step 1 of `POST /api/v1/library/files`: checks `library:upload`, then streams the
    /// file's bytes to the staging area. Over the limit → `413` in words, nothing kept.
    pub async fn stage_library_upload(
        &self,
        actor: &Actor,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<LibraryUpload, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryUpload),
            &Target::Global,
        )?;
        let limit = self.config.library.max_upload_bytes;
        match self.blobs()?.stage(body, limit).await {
            Ok(staged) => Ok(LibraryUpload { staged }),
            Err(BlobError::TooLarge { limit }) => Err(AppError::TooLarge(format!(
                "The file is larger than the library's limit of {}.",
                human_size(limit)
            ))),
            Err(BlobError::Aborted(e)) => {
                tracing::info!(error = %e, "library upload ended early");
                Err(AppError::BadRequest(
                    "The upload was cut short; nothing was stored. Try again.".into(),
                ))
            }
            Err(e) => Err(AppError::Internal(Box::new(e))),
        }
    }

    /// Step 2: parses the staged file, and keeps it when it is a print file the library takes.
    /// `name` is the uploaded file name (cleaned; it only names the file, it is never a path).
    pub async fn finish_library_upload(
        &self,
        actor: &Actor,
        upload: LibraryUpload,
        name: &str,
        folder: Option<LibraryFolderId>,
    ) -> Result<LibraryFileView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryUpload),
            &Target::Global,
        )?;
        let staged = upload.staged;
        let name = clean_name(name).ok_or_else(|| {
            AppError::BadRequest("The file needs a name, e.g. benchy.gcode.3mf.".into())
        })?;
        if staged.size == 0 {
            return Err(AppError::BadRequest("The file is empty.".into()));
        }
        if let Some(folder) = folder
            && self.store.library_folder(folder).await?.is_none()
        {
            return Err(AppError::BadRequest(
                "That folder does not exist (any more); choose another.".into(),
            ));
        }
        let path = staged.path().to_path_buf();
        let hint = name.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path)?;
            Ok::<_, std::io::Error>(pw_printfile::inspect(
                std::io::BufReader::new(file),
                Some(&hint),
                &Limits::default(),
            ))
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        let file = match parsed {
            Ok(file) => file,
            Err(e) => {
                tracing::info!(cause = ?e.cause(), "library upload refused");
                self.audit(
                    actor,
                    AuditEvent::LibraryUpload,
                    None,
                    false,
                    serde_json::json!({"name": name, "reason": e.to_string()}),
                )
                .await;
                return Err(match e.kind() {
                    ErrorKind::Io => AppError::Internal(Box::new(e)),
                    _ => AppError::BadRequest(format!("{e}. Nothing was stored.")),
                });
            }
        };
        let kind = kind_name(file.kind());
        let metadata = StoredMeta::from_file(&file).to_json();
        let sha256 = staged.sha256.clone();
        let size = i64::try_from(staged.size).unwrap_or(i64::MAX);
        let owner_name = actor.user_id.map(|_| actor.name.to_string());
        let (id, new_blob) = {
            let held = self.blob_refs().await;
            let new_blob = self
                .blobs()?
                .commit(staged)
                .await
                .map_err(|e| AppError::Internal(Box::new(e)))?;
            let inserted = self
                .store
                .insert_library_file(&NewLibraryFile {
                    folder_id: folder,
                    name: &name,
                    kind,
                    size,
                    sha256: &sha256,
                    owner_id: actor.user_id,
                    owner_name: owner_name.as_deref(),
                    metadata: &metadata,
                    now: self.now(),
                })
                .await;
            match inserted {
                Ok(id) => (id, new_blob),
                Err(e) => {
                    // Keep nothing for a refused row: the blob goes again if nothing else
                    // names it.
                    self.release_blobs(&held, std::slice::from_ref(&sha256))
                        .await?;
                    return Err(match e {
                        pw_store::StoreError::Conflict => AppError::BadRequest(
                            "That folder does not exist (any more); choose another.".into(),
                        ),
                        other => other.into(),
                    });
                }
            }
        };
        self.audit(
            actor,
            AuditEvent::LibraryUpload,
            Some(("library_file", id.to_string())),
            true,
            serde_json::json!({
                "name": name, "kind": kind, "size": size, "sha256": sha256,
                "stored": new_blob,
            }),
        )
        .await;
        let row = self
            .store
            .library_file(id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(self.library_file_view_for(actor, row))
    }
}

/// Bytes in words (`1 GiB`, `300 MiB`, `512 KiB`, `100 bytes`).
pub(crate) fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(
            clean_name("../../etc/pass\u{0}wd").as_deref(),
            Some("passwd")
        );
        assert_eq!(clean_name("C:\\x\\a.3mf").as_deref(), Some("a.3mf"));
        assert_eq!(
            clean_name(" \u{202e}gcode.exe ").as_deref(),
            Some("gcode.exe")
        );
        assert_eq!(clean_name(".."), None);
        assert_eq!(clean_name("  "), None);
    }

    #[test]
    fn sizes_read_in_words() {
        assert_eq!(human_size(1024 * 1024 * 1024), "1 GiB");
        assert_eq!(human_size(300 * 1024 * 1024), "300 MiB");
        assert_eq!(human_size(100), "100 bytes");
    }
}
