//! Library files after upload: the list (keyset pages in SQL with the owner filter, folder,
//! free text and sort in the same query), one file, renaming/moving/tagging, deleting,
//! downloading (whole or one byte range), plate thumbnails, storage use and purge.
//!
//! Invariants: every read and write names `_own`/`_all` and answers 404 for a file the caller
//! may not see; a blob is deleted only when no row names it any more (a library file, an
//! archive entry or photo, an open print job — `App::release_blobs`), decided under
//! `App::library_refs` so an upload of the same content cannot slip in between.

use pw_domain::{LibraryFileId, LibraryFolderId, Permission};
use pw_policy::{Action, Target};
use pw_store::{LibraryAfter, LibraryFilePatch, LibraryFileQuery, LibraryFileRow, LibrarySort};
use serde::{Deserialize, Serialize};

use super::LibraryFileView;
use super::blobs::{BlobError, BlobReader};
use super::meta::StoredMeta;
use crate::core::page::{Listing, PageRequest, owner_filter};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Page, PageParams};

const TAG_MAX: usize = 40;
const TAGS_MAX: usize = 20;

/// `GET /api/v1/library/files?folder_id=&q=&sort=&limit=&cursor=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryFileQueryParams {
    /// A folder id, `root` for the top level, absent for every folder.
    #[serde(default)]
    pub folder_id: Option<String>,
    /// Free text found in names and tags (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// `name`, `-name`, `date`, `-date` (default: newest first), `size`, `-size`.
    #[serde(default)]
    pub sort: Option<String>,
    /// Rows per page (1–500, default 50).
    #[serde(default)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `PATCH /api/v1/library/files/{id}`: absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLibraryFile {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Move to this folder; `null` = the top level.
    #[serde(default, deserialize_with = "super::folders::present")]
    #[schema(value_type = Option<i64>)]
    pub folder_id: Option<Option<LibraryFolderId>>,
    /// Replace the tags (at most 20, each 1–40 characters).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// `POST /api/v1/library/purge`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LibraryPurge {
    /// `ownerless`: files whose uploader was deleted (kept with `items=keep`) or that were
    /// uploaded with authentication off; `all`: every file.
    pub scope: PurgeScope,
}

/// What a purge removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PurgeScope {
    /// Files without an owner.
    Ownerless,
    /// Every file.
    All,
}

/// The answer to a purge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryPurged {
    /// Files removed.
    pub deleted: u64,
}

/// `GET /api/v1/library/usage`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryUsageView {
    /// Files listed.
    pub files: i64,
    /// Distinct contents stored (a file uploaded twice is stored once).
    pub blobs: i64,
    /// Bytes on disk for those contents.
    pub bytes: i64,
    /// Bytes of every file as listed (what it would take without deduplication).
    pub listed_bytes: i64,
    /// The upload limit in bytes.
    pub max_upload_bytes: u64,
}

/// A plate image, ready to send.
#[derive(Debug, Clone)]
pub struct PlateThumbnail {
    /// The image bytes.
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`.
    pub media_type: &'static str,
    /// Hex SHA-256 of the file it belongs to.
    pub sha256: String,
}

/// Where a plate image comes from.
enum ThumbnailSource {
    /// A PNG member of the 3MF.
    Png(pw_printfile::Thumbnail),
    /// Embedded in G-code: a 3MF's plate G-code member, or the plain `.gcode` file (`None`).
    Gcode(Option<String>),
}

/// A download about to be streamed.
pub struct LibraryDownload {
    /// The file's name (for `Content-Disposition`).
    pub name: String,
    /// Its full size.
    pub size: u64,
    /// Hex SHA-256 (an `ETag`).
    pub sha256: String,
    /// The byte range served (`start..end`), `None` = all of it.
    pub range: Option<(u64, u64)>,
    /// The bytes; `None` when the asked range lies outside the file (416).
    pub body: Option<BlobReader>,
}

impl std::fmt::Debug for LibraryDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibraryDownload")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One `Range: bytes=` spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `a-b` (inclusive).
    Bounded(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header with one `bytes=` range; `None` for anything else (several
    /// ranges, other units, junk), which is then ignored and the whole file served.
    #[must_use]
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        let num = |s: &str| {
            (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        match (a.is_empty(), b.is_empty()) {
            (true, false) => num(b).map(ByteRange::Suffix),
            (false, true) => num(a).map(ByteRange::From),
            (false, false) => {
                let (a, b) = (num(a)?, num(b)?);
                (a <= b).then_some(ByteRange::Bounded(a, b))
            }
            (true, true) => None,
        }
    }

    /// `start..end` within a file of `size` bytes; `None` = not satisfiable (416).
    #[must_use]
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::Bounded(a, b) if a < size => Some((a, b.saturating_add(1).min(size))),
            ByteRange::From(a) if a < size => Some((a, size)),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Some((size.saturating_sub(n), size)),
            _ => None,
        }
    }
}

fn sort_of(raw: Option<&str>) -> Result<(LibrarySort, &'static str), AppError> {
    Ok(match raw.map(str::trim).unwrap_or("") {
        "" | "-date" => (LibrarySort::Date(true), "-date"),
        "date" => (LibrarySort::Date(false), "date"),
        "name" => (LibrarySort::Name(false), "name"),
        "-name" => (LibrarySort::Name(true), "-name"),
        "size" => (LibrarySort::Size(false), "size"),
        "-size" => (LibrarySort::Size(true), "-size"),
        _ => {
            return Err(AppError::BadRequest(
                "sort must be name, -name, date, -date, size or -size.".into(),
            ));
        }
    })
}

fn cursor_key(sort: LibrarySort, label: &str, row: &LibraryFileRow) -> String {
    match sort {
        LibrarySort::Name(_) => format!("{label}|{}", row.name.to_lowercase()),
        LibrarySort::Date(_) => format!("{label}|{}", row.created_at),
        LibrarySort::Size(_) => format!("{label}|{}", row.size),
    }
}

fn bad_cursor() -> AppError {
    AppError::BadRequest("The page cursor is not valid; start again from the first page.".into())
}

fn after_of(
    sort: LibrarySort,
    label: &str,
    after: Option<(String, i64)>,
) -> Result<Option<LibraryAfter>, AppError> {
    let Some((key, id)) = after else {
        return Ok(None);
    };
    let (l, value) = key.split_once('|').ok_or_else(bad_cursor)?;
    if l != label {
        return Err(bad_cursor());
    }
    Ok(Some(match sort {
        LibrarySort::Name(_) => LibraryAfter::Text(value.to_owned(), id),
        LibrarySort::Date(_) | LibrarySort::Size(_) => {
            LibraryAfter::Number(value.parse().map_err(|_| bad_cursor())?, id)
        }
    }))
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim();
        if t.is_empty() || t.chars().count() > TAG_MAX || pw_domain::has_hidden_chars(t) {
            return Err(AppError::BadRequest(format!(
                "Each tag must be 1–{TAG_MAX} characters without control or invisible formatting characters."
            )));
        }
        if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_owned());
        }
    }
    if out.len() > TAGS_MAX {
        return Err(AppError::BadRequest(format!(
            "A file can have at most {TAGS_MAX} tags."
        )));
    }
    Ok(out)
}

fn read_rights() -> Action {
    Action::OnOwned {
        own: Some(Permission::LibraryReadOwn),
        all: Permission::LibraryReadAll,
    }
}

impl App {
    /// `GET /api/v1/library/files`: one page of the files the caller may see.
    pub async fn library_files_page(
        &self,
        actor: &Actor,
        params: &LibraryFileQueryParams,
    ) -> Result<Page<LibraryFileView>, AppError> {
        self.require(actor, read_rights(), &Target::Global)?;
        let seen = pw_policy::owned_visibility(
            &actor.principal,
            Some(Permission::LibraryReadOwn),
            Permission::LibraryReadAll,
        );
        let (sort, label) = sort_of(params.sort.as_deref())?;
        let page = PageRequest::parse(
            Listing::LibraryFiles,
            &PageParams {
                limit: params.limit.clone(),
                cursor: params.cursor.clone(),
            },
        )?;
        let folder = match params.folder_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("root") => Some(None),
            Some(id) => Some(Some(id.parse::<LibraryFolderId>().map_err(|_| {
                AppError::BadRequest("folder_id must be a folder id or root.".into())
            })?)),
        };
        let text = params
            .q
            .as_deref()
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(AppError::BadRequest(
                "The search text must be at most 200 characters.".into(),
            ));
        }
        let query = LibraryFileQuery {
            owner: owner_filter(&seen),
            folder,
            text,
            sort,
            after: after_of(sort, label, page.after.clone())?,
            fetch: page.store().fetch,
        };
        let rows = self.store.library_files_page(&query).await?;
        let (rows, next) = page.finish(Listing::LibraryFiles, rows, |r| {
            (cursor_key(sort, label, r), r.id.get())
        });
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| self.library_file_view_for(actor, r))
                .collect(),
            next,
        })
    }

    /// `GET /api/v1/library/files/{id}`.
    pub async fn get_library_file(
        &self,
        actor: &Actor,
        id: LibraryFileId,
    ) -> Result<LibraryFileView, AppError> {
        let row = self
            .library_file_for(
                actor,
                id,
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await?;
        Ok(self.library_file_view_for(actor, row))
    }

    /// `PATCH /api/v1/library/files/{id}`: rename, move, re-tag.
    pub async fn update_library_file(
        &self,
        actor: &Actor,
        id: LibraryFileId,
        input: UpdateLibraryFile,
    ) -> Result<LibraryFileView, AppError> {
        self.library_file_for(
            actor,
            id,
            Permission::LibraryUpdateOwn,
            Permission::LibraryUpdateAll,
        )
        .await?;
        let name = match input.name.as_deref() {
            None => None,
            Some(raw) => Some(super::upload::clean_name(raw).ok_or_else(|| {
                AppError::BadRequest(
                    "name must be 1–255 characters, without slashes or control characters.".into(),
                )
            })?),
        };
        if let Some(Some(folder)) = input.folder_id
            && self.store.library_folder(folder).await?.is_none()
        {
            return Err(AppError::BadRequest("That folder does not exist.".into()));
        }
        let tags = input.tags.as_deref().map(clean_tags).transpose()?;
        let tags_json = tags
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let tags_key = tags.as_ref().map(|t| {
            t.iter()
                .map(|t| t.to_lowercase())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let patch = LibraryFilePatch {
            name: name.as_deref(),
            folder_id: input.folder_id,
            tags: tags_json.as_deref().zip(tags_key.as_deref()),
        };
        match self.store.update_library_file(id, &patch, self.now()).await {
            Ok(true) => {}
            Ok(false) => return Err(AppError::NotFound),
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::BadRequest("That folder does not exist.".into()));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            actor,
            AuditEvent::LibraryUpdate,
            Some(("library_file", id.to_string())),
            true,
            serde_json::json!({"name": name, "folder_id": input.folder_id, "tags": tags}),
        )
        .await;
        let row = self
            .store
            .library_file(id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(self.library_file_view_for(actor, row))
    }

    /// `DELETE /api/v1/library/files/{id}` (also used by user deletion with `items=delete`).
    pub async fn delete_library_file(
        &self,
        actor: &Actor,
        id: LibraryFileId,
    ) -> Result<(), AppError> {
        let row = self
            .library_file_for(
                actor,
                id,
                Permission::LibraryDeleteOwn,
                Permission::LibraryDeleteAll,
            )
            .await?;
        self.remove_library_file(actor, row, false).await
    }

    /// Deletes a file row and, when no other row names its content, the blob; audited.
    async fn remove_library_file(
        &self,
        actor: &Actor,
        row: LibraryFileRow,
        purge: bool,
    ) -> Result<(), AppError> {
        let blob_deleted = {
            let held = self.blob_refs().await;
            if !self.store.delete_library_file(row.id).await? {
                return Err(AppError::NotFound);
            }
            // An archive entry of a print of this file, or an open print job, may still name
            // the content: then it stays.
            !self
                .release_blobs(&held, std::slice::from_ref(&row.sha256))
                .await?
                .is_empty()
        };
        self.audit(
            actor,
            AuditEvent::LibraryDelete,
            Some(("library_file", row.id.to_string())),
            true,
            serde_json::json!({
                "name": row.name, "owner": row.owner_name, "sha256": row.sha256,
                "blob_deleted": blob_deleted, "purge": purge,
            }),
        )
        .await;
        Ok(())
    }

    /// `GET /api/v1/library/files/{id}/download`: the bytes, whole or one range.
    pub async fn download_library_file(
        &self,
        actor: &Actor,
        id: LibraryFileId,
        range: Option<ByteRange>,
    ) -> Result<LibraryDownload, AppError> {
        let row = self
            .library_file_for(
                actor,
                id,
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await?;
        let size = u64::try_from(row.size).unwrap_or(0);
        let resolved = match range {
            None => None,
            Some(r) => match r.resolve(size) {
                Some(r) => Some(r),
                None => {
                    return Ok(LibraryDownload {
                        name: row.name,
                        size,
                        sha256: row.sha256,
                        range: None,
                        body: None,
                    });
                }
            },
        };
        let body = match self.blobs()?.open(&row.sha256, resolved).await {
            Ok(body) => body,
            Err(BlobError::NotFound) => {
                tracing::error!(file = %id, sha256 = %row.sha256, "library blob missing");
                return Err(AppError::Internal(Box::new(BlobError::NotFound)));
            }
            Err(e) => return Err(AppError::Internal(Box::new(e))),
        };
        Ok(LibraryDownload {
            name: row.name,
            size,
            sha256: row.sha256,
            range: resolved,
            body: Some(body),
        })
    }

    /// `GET /api/v1/library/files/{id}/plates/{n}/thumbnail`: the plate image (PNG, or the
    /// PNG/JPEG embedded in the G-code), its media type and the content hash it belongs to.
    pub async fn library_plate_thumbnail(
        &self,
        actor: &Actor,
        id: LibraryFileId,
        plate: u32,
    ) -> Result<PlateThumbnail, AppError> {
        let row = self
            .library_file_for(
                actor,
                id,
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await?;
        let stored = StoredMeta::parse(&row.metadata);
        let plate = stored.plate(plate).ok_or(AppError::NotFound)?;
        let source = match (&plate.thumbnail, &plate.gcode_thumbnail) {
            (Some((entry, size)), _) => ThumbnailSource::Png(pw_printfile::Thumbnail {
                entry: entry.clone(),
                size: *size,
            }),
            (None, Some(g)) => ThumbnailSource::Gcode(g.entry.clone()),
            (None, None) => return Err(AppError::NotFound),
        };
        let reader = self
            .blobs()?
            .open_blocking(&row.sha256)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let found = tokio::task::spawn_blocking(move || {
            let limits = pw_printfile::Limits::default();
            match source {
                ThumbnailSource::Png(t) => pw_printfile::read_thumbnail(reader, &t, &limits)
                    .map(|bytes| Some((bytes, pw_printfile::ImageFormat::Png))),
                ThumbnailSource::Gcode(entry) => {
                    let found = match entry {
                        Some(entry) => {
                            pw_printfile::read_plate_gcode_thumbnail(reader, &entry, &limits)
                        }
                        None => pw_printfile::read_gcode_thumbnail(reader, &limits),
                    };
                    found.map(|t| t.map(|t| (t.data, t.format)))
                }
            }
        })
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(|e| AppError::Internal(Box::new(e)))?;
        // The upload saw an image; a stored file that no longer yields one is damaged.
        let (bytes, format) = found.ok_or_else(|| {
            AppError::Internal(Box::new(std::io::Error::other(
                "embedded G-code thumbnail seen at upload is gone",
            )))
        })?;
        Ok(PlateThumbnail {
            bytes,
            media_type: format.media_type(),
            sha256: row.sha256,
        })
    }

    /// `GET /api/v1/library/usage` (`library:purge`): what the library holds on disk.
    pub async fn library_usage(&self, actor: &Actor) -> Result<LibraryUsageView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryPurge),
            &Target::Global,
        )?;
        let usage = self.store.library_usage().await?;
        Ok(LibraryUsageView {
            files: usage.files,
            blobs: usage.blobs,
            bytes: usage.stored_bytes,
            listed_bytes: usage.listed_bytes,
            max_upload_bytes: self.config.library.max_upload_bytes,
        })
    }

    /// `POST /api/v1/library/purge` (`library:purge`): deletes the ownerless files, or every
    /// file, each through the same removal as a single delete (blob when unreferenced, one
    /// audit line each), then one `library.purge` line.
    pub async fn purge_library(
        &self,
        actor: &Actor,
        input: LibraryPurge,
    ) -> Result<LibraryPurged, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryPurge),
            &Target::Global,
        )?;
        let ids = match input.scope {
            PurgeScope::Ownerless => self.store.library_file_ids_of(None).await?,
            PurgeScope::All => self.store.library_file_ids().await?,
        };
        let mut deleted = 0;
        for id in ids {
            let Some(row) = self.store.library_file(id).await? else {
                continue;
            };
            if input.scope == PurgeScope::Ownerless && row.owner_id.is_some() {
                continue;
            }
            match self.remove_library_file(actor, row, true).await {
                Ok(()) => deleted += 1,
                Err(AppError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        self.audit(
            actor,
            AuditEvent::LibraryPurge,
            None,
            true,
            serde_json::json!({"scope": input.scope, "deleted": deleted}),
        )
        .await;
        Ok(LibraryPurged { deleted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange::Bounded(0, 99))
        );
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(ByteRange::parse("bytes=-10"), Some(ByteRange::Suffix(10)));
        for junk in [
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=9-3",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
        ] {
            assert_eq!(ByteRange::parse(junk), None, "{junk}");
        }
        assert_eq!(ByteRange::Bounded(0, 99).resolve(50), Some((0, 50)));
        assert_eq!(ByteRange::Bounded(50, 60).resolve(50), None);
        assert_eq!(ByteRange::From(10).resolve(50), Some((10, 50)));
        assert_eq!(ByteRange::Suffix(100).resolve(50), Some((0, 50)));
        assert_eq!(ByteRange::Suffix(0).resolve(50), None);
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let t = clean_tags(&[" PLA ".into(), "pla".into(), "fast".into()]).unwrap_or_default();
        assert_eq!(t, vec!["PLA".to_owned(), "fast".to_owned()]);
        assert!(clean_tags(&["".into()]).is_err());
        assert!(clean_tags(&(0..21).map(|i| i.to_string()).collect::<Vec<_>>()).is_err());
    }
}
