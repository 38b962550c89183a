//! The file library (issue 15): print files uploaded once, stored by content hash, understood
//! by `pw-printfile`, organised in folders, tagged, searched and downloaded. Every file has an
//! owner (its uploader) or none (the uploader was deleted with `items=keep`).
//!
//! Ownership: reads need `library:read_own` (own files) or `library:read_all` (every file,
//! ownerless ones included), updates `library:update_own|_all`, deletes
//! `library:delete_own|_all`; lists apply the owner filter in SQL, single files go through
//! `authorize(OnOwned)` and answer 404 when the caller may not see them. Folders have no owner:
//! creating one needs `library:upload`, renaming or moving one `library:update_all`, deleting an
//! (empty) one `library:delete_own` or `_all`; a folder that holds anything is refused.
//!
//! Layout: `blobs` (the content store trait and its filesystem implementation), `upload`
//! (stage → parse → commit), `files` (list, get, change, delete, download, thumbnails, purge,
//! usage), `folders`, `meta` (the parsed facts as stored and shown), `print` (a stored file's
//! plate started on a printer, through the printers' one start path), `refs` (the one release
//! path of blobs, shared with the archive: a blob goes only when no row names it), `targets`
//! (the printers the Print… dialog offers).

pub mod blobs;
mod files;
pub(crate) mod folders;
pub(crate) mod meta;
mod print;
mod refs;
mod targets;
pub(crate) mod upload;

use std::path::PathBuf;

use pw_domain::{LibraryFileId, LibraryFolderId, Permission, UserId};
use pw_policy::{Action, Target};
use pw_store::LibraryFileRow;
use serde::Serialize;

use crate::accounts::owned::{ContentKind, ItemFuture};
use crate::{Actor, App, AppError};

pub use blobs::{BlobError, BlobStore, FsBlobs};
pub use files::{
    ByteRange, LibraryDownload, LibraryFileQueryParams, LibraryPurge, LibraryPurged,
    LibraryUsageView, PlateThumbnail, PurgeScope, UpdateLibraryFile,
};
pub use folders::{CreateLibraryFolder, LibraryFolderView, UpdateLibraryFolder};
pub use meta::{FilamentView, PlateView};
pub use print::{ARCHIVE_WAIT, LibraryPrintStarted, PrintLibraryFile};
pub use targets::{PrintTargetView, printer_model_key};
pub use upload::LibraryUpload;

/// Default upload limit (1 GiB).
pub const DEFAULT_MAX_UPLOAD: u64 = 1024 * 1024 * 1024;

/// The library's start-time settings.
#[derive(Debug, Clone)]
pub struct LibraryConfig {
    /// Where blobs live (`<data>/blobs`); `None` = no storage (uploads are refused).
    pub blob_dir: Option<PathBuf>,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
}

impl Default for LibraryConfig {
    fn default() -> Self {
        Self {
            blob_dir: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD,
        }
    }
}

/// Who a file belongs to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryOwner {
    /// The user.
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Their name.
    pub name: String,
}

/// Who uploaded a file, kept after their account is deleted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadedBy {
    /// The user, `null` once the account is deleted.
    #[schema(value_type = Option<i64>)]
    pub id: Option<UserId>,
    /// Their name at upload time.
    pub name: String,
}

/// A library file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryFileView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: LibraryFileId,
    /// Display name (the uploaded file name unless renamed).
    pub name: String,
    /// `gcode.3mf`, `3mf`, `gcode` or `stl` (decided by content).
    pub kind: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Folder; `null` = the top level.
    #[schema(value_type = Option<i64>)]
    pub folder_id: Option<LibraryFolderId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Owner; `null` = ownerless (only `library:*_all` holders act on it).
    pub owner: Option<LibraryOwner>,
    /// Who uploaded it ("Uploaded by"), kept when that account is deleted; `null` when
    /// uploaded with authentication off.
    pub uploaded_by: Option<UploadedBy>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Per plate: model, time, weight, filaments, thumbnail (empty for STL).
    pub plates: Vec<PlateView>,
    /// Project title (3MF), if given.
    pub title: Option<String>,
    /// Object names (3MF) or the solid's name (STL).
    pub objects: Vec<String>,
    /// Whether the caller may rename, move or tag this file (`library:update_own` on their
    /// own file, `_all` on any), so a page offers only what will be accepted.
    pub can_update: bool,
    /// Whether the caller may delete this file (`library:delete_own` / `_all`).
    pub can_delete: bool,
}

/// The content kind of the registry (`USER_LINKS`): a user's library files, counted in the
/// delete dialog and deleted through [`App::delete_library_file`] with the user.
pub static LIBRARY_FILES: ContentKind = ContentKind {
    name: "library_files",
    count: count_owned,
    authorize_delete: authorize_delete_owned,
    delete: delete_owned,
};

fn count_owned(app: &App, user: UserId) -> ItemFuture<'_, i64> {
    Box::pin(async move { Ok(app.store.count_library_files_of(user).await?) })
}

fn authorize_delete_owned<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, ()> {
    Box::pin(async move {
        if app.store.count_library_files_of(user).await? == 0 {
            return Ok(());
        }
        app.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::LibraryDeleteOwn),
                all: Permission::LibraryDeleteAll,
            },
            &Target::Owned {
                owner: Some(user),
                printer: None,
            },
        )
        .map_err(|e| match e {
            // The dialog asked for everything of someone else: say "not allowed", not "gone".
            AppError::NotFound => AppError::Forbidden,
            other => other,
        })
    })
}

fn delete_owned<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, u64> {
    Box::pin(async move {
        let mut deleted = 0;
        for id in app.store.library_file_ids_of(Some(user)).await? {
            match app.delete_library_file(actor, id).await {
                Ok(()) => deleted += 1,
                // Deleted by someone else meanwhile.
                Err(AppError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    })
}

impl App {
    /// The content store, or a plain refusal when none is configured.
    pub(crate) fn blobs(&self) -> Result<&dyn BlobStore, AppError> {
        self.library_blobs.as_deref().ok_or_else(|| {
            AppError::Conflict("The library has no storage configured on this server.".into())
        })
    }

    /// Removes a blob when no row names it: content kept for a print start that did not
    /// happen. Goes through the one release path ([`refs`]).
    pub(crate) async fn drop_unnamed_blob(&self, sha256: &str) {
        let held = self.blob_refs().await;
        if let Err(e) = self.release_blobs(&held, &[sha256.to_owned()]).await {
            // A leftover blob only costs disk; it is logged.
            tracing::warn!(error = %e, sha256, "unused blob not deleted");
        }
    }

    /// Where the filesystem content store keeps its blobs (`<data>/blobs`; uploads in progress
    /// are staged in its `tmp/`), if one is configured.
    #[must_use]
    pub fn library_blob_dir(&self) -> Option<PathBuf> {
        self.config.library.blob_dir.clone()
    }

    /// The largest upload the library takes.
    #[must_use]
    pub fn library_max_upload(&self) -> u64 {
        self.config.library.max_upload_bytes
    }

    /// Loads a file and checks `own`/`all` on it: 404 when it does not exist or the caller
    /// may not act on it (never a 403 that would reveal it).
    pub(crate) async fn library_file_for(
        &self,
        actor: &Actor,
        id: LibraryFileId,
        own: Permission,
        all: Permission,
    ) -> Result<LibraryFileRow, AppError> {
        let action = Action::OnOwned {
            own: Some(own),
            all,
        };
        // The door: a caller with neither right learns nothing about the row.
        self.require(actor, action, &Target::Global)?;
        let row = self
            .store
            .library_file(id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.require(
            actor,
            action,
            &Target::Owned {
                owner: row.owner_id,
                printer: None,
            },
        )?;
        Ok(row)
    }

    /// The answer for one stored file as `actor` sees it: with what they may do to it,
    /// decided by the policy on this file's owner (never by a page template).
    pub(crate) fn library_file_view_for(
        &self,
        actor: &Actor,
        row: LibraryFileRow,
    ) -> LibraryFileView {
        let on_file = |own, all| {
            matches!(
                pw_policy::authorize(
                    &actor.principal,
                    Action::OnOwned {
                        own: Some(own),
                        all,
                    },
                    &Target::Owned {
                        owner: row.owner_id,
                        printer: None,
                    },
                ),
                pw_policy::Decision::Allow
            )
        };
        let can_update = on_file(Permission::LibraryUpdateOwn, Permission::LibraryUpdateAll);
        let can_delete = on_file(Permission::LibraryDeleteOwn, Permission::LibraryDeleteAll);
        LibraryFileView {
            can_update,
            can_delete,
            ..self.library_file_view(row)
        }
    }

    /// The answer for one stored file, without a caller's rights (`can_*` false): for
    /// answers that name a file to someone other than a viewer of the library.
    pub(crate) fn library_file_view(&self, row: LibraryFileRow) -> LibraryFileView {
        let stored = meta::StoredMeta::parse(&row.metadata);
        let plates = stored.plate_views(row.id, &row.sha256);
        LibraryFileView {
            id: row.id,
            name: row.name,
            kind: row.kind,
            size: row.size,
            folder_id: row.folder_id,
            tags: serde_json::from_str(&row.tags).unwrap_or_default(),
            owner: match (row.owner_id, &row.owner_name) {
                (Some(id), name) => Some(LibraryOwner {
                    id,
                    name: name.clone().unwrap_or_default(),
                }),
                (None, _) => None,
            },
            uploaded_by: row.owner_name.map(|name| UploadedBy {
                id: row.owner_id,
                name,
            }),
            created_at: crate::rfc3339(row.created_at),
            updated_at: crate::rfc3339(row.updated_at),
            plates,
            title: stored.title,
            objects: stored.objects,
            sha256: row.sha256,
            can_update: false,
            can_delete: false,
        }
    }
}
