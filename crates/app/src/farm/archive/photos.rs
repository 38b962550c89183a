//! An archive entry's pictures: the photos users add (upload, read, delete) and the images the
//! archive keeps itself (the plate image, the end-of-print camera frame), served from the blob
//! store.
//!
//! Invariants: adding or deleting a photo needs `archives:update_own|_all` on the entry,
//! reading any picture a read right (an entry the caller may not read is a 404, one they may
//! read but not change a 403); a photo is at most [`PHOTO_MAX`] bytes (streamed to the staging
//! area, refused the moment it passes) and its type is decided by its first bytes — JPEG, PNG
//! or WebP, nothing else is stored (threat: an HTML or SVG file uploaded as a "photo" and then
//! served from the app's origin would run script there; the type is never taken from the
//! client, and the served answer names the sniffed type with `nosniff` and a policy that allows
//! nothing); an entry holds at most [`PHOTOS_MAX`] photos, counted under the reference lock
//! with the insert; a deleted photo's blob goes only when nothing else names it.

use pw_domain::Permission;
use pw_store::NewArchivePhoto;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::farm::library::blobs::{BlobError, BlobReader, Staged};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

use super::ArchiveView;

/// Largest photo accepted (10 MiB).
pub const PHOTO_MAX: u64 = 10 * 1024 * 1024;
/// Most photos on one entry.
pub const PHOTOS_MAX: i64 = 20;

/// The picture types served, decided by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `FF D8 FF`.
    Jpeg,
    /// The PNG signature.
    Png,
    /// `RIFF....WEBP`.
    Webp,
}

impl ImageKind {
    /// The kind of an image from its first bytes; `None` for anything else.
    #[must_use]
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP")
        {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// As stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    /// The `Content-Type` it is served with.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            _ => None,
        }
    }
}

/// Which picture of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchivePicture {
    /// The plate image from the printed file.
    Thumbnail,
    /// The camera frame taken at the end.
    Snapshot,
    /// A photo a user added.
    Photo(i64),
}

/// A picture about to be streamed.
pub struct ArchiveImage {
    /// Its type (from its content).
    pub kind: ImageKind,
    /// Hex SHA-256 of the bytes (the `ETag`, and what `?v=` must match).
    pub sha256: String,
    /// The bytes.
    pub body: BlobReader,
}

impl std::fmt::Debug for ArchiveImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveImage")
            .field("kind", &self.kind)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// A photo streamed to the staging area, not yet accepted.
#[derive(Debug)]
pub struct ArchivePhotoUpload {
    archive: i64,
    staged: Staged,
}

fn update_rights() -> Option<(Permission, Permission)> {
    Some((Permission::ArchivesUpdateOwn, Permission::ArchivesUpdateAll))
}

impl App {
    /// Before the body of `POST /api/v1/archives/{id}/photos` is read: whether the caller may
    /// add photos to the entry (404 when they may not read it, 403 when they may not change
    /// it), so a refused caller learns nothing from how their body was parsed.
    pub async fn may_add_archive_photo(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        self.archive_for(actor, id, update_rights()).await.map(drop)
    }

    /// Step 1 of `POST /api/v1/archives/{id}/photos`: checks the rights on the entry, then
    /// streams the photo to the staging area (over [`PHOTO_MAX`] → 413, nothing kept).
    pub async fn stage_archive_photo(
        &self,
        actor: &Actor,
        id: i64,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<ArchivePhotoUpload, AppError> {
        let row = self.archive_for(actor, id, update_rights()).await?;
        match self.blobs()?.stage(body, PHOTO_MAX).await {
            Ok(staged) => Ok(ArchivePhotoUpload {
                archive: row.id,
                staged,
            }),
            Err(BlobError::TooLarge { .. }) => Err(AppError::TooLarge(
                "A photo can be at most 10 MiB; nothing was stored.".into(),
            )),
            Err(BlobError::Aborted(e)) => {
                tracing::info!(error = %e, "photo upload ended early");
                Err(AppError::BadRequest(
                    "The upload was cut short; nothing was stored. Try again.".into(),
                ))
            }
            Err(e) => Err(AppError::Internal(Box::new(e))),
        }
    }

    /// Step 2: keeps the staged photo when it is a JPEG, PNG or WebP image and the entry has
    /// room; answers the entry.
    pub async fn finish_archive_photo(
        &self,
        actor: &Actor,
        upload: ArchivePhotoUpload,
    ) -> Result<ArchiveView, AppError> {
        let id = upload.archive;
        // Checked again: the rights may have changed while the bytes arrived.
        self.archive_for(actor, id, update_rights()).await?;
        let staged = upload.staged;
        let mut head = [0u8; 16];
        let n = {
            let mut file = tokio::fs::File::open(staged.path())
                .await
                .map_err(|e| AppError::Internal(Box::new(e)))?;
            let mut n = 0;
            while n < head.len() {
                let got = file
                    .read(head.get_mut(n..).unwrap_or_default())
                    .await
                    .map_err(|e| AppError::Internal(Box::new(e)))?;
                if got == 0 {
                    break;
                }
                n += got;
            }
            n
        };
        let kind = ImageKind::sniff(head.get(..n).unwrap_or_default()).ok_or_else(|| {
            AppError::BadRequest(
                "A photo must be a JPEG, PNG or WebP image; nothing was stored.".into(),
            )
        })?;
        let size = i64::try_from(staged.size).unwrap_or(i64::MAX);
        let mut photo = None;
        let mut full = false;
        let kept = self
            .keep_blob(staged, async |sha: &str| {
                if self.store.count_archive_photos(id).await? >= PHOTOS_MAX {
                    full = true;
                    return Ok(false);
                }
                photo = self
                    .store
                    .insert_archive_photo(&NewArchivePhoto {
                        archive_id: id,
                        sha256: sha,
                        kind: kind.as_str(),
                        size,
                        added_by: actor.user_id,
                        added_by_name: actor.user_id.map(|_| &*actor.name),
                        added_at: self.now(),
                    })
                    .await?;
                Ok(photo.is_some())
            })
            .await?;
        if full {
            return Err(AppError::Conflict(format!(
                "An entry can have at most {PHOTOS_MAX} photos; delete one first."
            )));
        }
        let (Some(sha), Some(photo)) = (kept, photo) else {
            return Err(AppError::NotFound);
        };
        self.audit(
            actor,
            AuditEvent::ArchivePhotoAdd,
            Some(("archive", id.to_string())),
            true,
            serde_json::json!({"photo": photo, "type": kind.as_str(), "size": size, "sha256": sha}),
        )
        .await;
        self.archive_entry(actor, id).await
    }

    /// `DELETE /api/v1/archives/{id}/photos/{photo_id}`.
    pub async fn delete_archive_photo(
        &self,
        actor: &Actor,
        id: i64,
        photo: i64,
    ) -> Result<(), AppError> {
        self.archive_for(actor, id, update_rights()).await?;
        let row = self
            .store
            .archive_photo(id, photo)
            .await?
            .ok_or(AppError::NotFound)?;
        let blob_deleted = {
            let held = self.blob_refs().await;
            if !self.store.delete_archive_photo(id, photo).await? {
                return Err(AppError::NotFound);
            }
            !self
                .release_blobs(&held, std::slice::from_ref(&row.sha256))
                .await?
                .is_empty()
        };
        self.audit(
            actor,
            AuditEvent::ArchivePhotoDelete,
            Some(("archive", id.to_string())),
            true,
            serde_json::json!({"photo": photo, "sha256": row.sha256, "blob_deleted": blob_deleted}),
        )
        .await;
        Ok(())
    }

    /// `GET /api/v1/archives/{id}/thumbnail`, `/snapshot` and `/photos/{photo_id}`: the
    /// picture, if the caller may read the entry and it has one (404 otherwise).
    pub async fn archive_picture(
        &self,
        actor: &Actor,
        id: i64,
        which: ArchivePicture,
    ) -> Result<ArchiveImage, AppError> {
        let row = self.archive_for(actor, id, None).await?;
        let (sha256, kind) = match which {
            ArchivePicture::Thumbnail => (row.thumbnail_sha256, Some(ImageKind::Png)),
            ArchivePicture::Snapshot => (row.snapshot_sha256, Some(ImageKind::Jpeg)),
            ArchivePicture::Photo(photo) => match self.store.archive_photo(id, photo).await? {
                Some(p) => (Some(p.sha256), ImageKind::parse(&p.kind)),
                None => (None, None),
            },
        };
        let (Some(sha256), Some(kind)) = (sha256, kind) else {
            return Err(AppError::NotFound);
        };
        let body = match self.blobs()?.open(&sha256, None).await {
            Ok(body) => body,
            Err(BlobError::NotFound) => {
                tracing::error!(archive = id, sha256 = %sha256, "archive picture blob missing");
                return Err(AppError::NotFound);
            }
            Err(e) => return Err(AppError::Internal(Box::new(e))),
        };
        Ok(ArchiveImage { kind, sha256, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_known_by_their_first_bytes() {
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        for other in [
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\">"[..],
            b"<html><script>",
            b"GIF89a",
            b"RIFF\x10\0\0\0WAVEfmt ",
            b"",
            &[0xFF, 0xD8],
        ] {
            assert_eq!(ImageKind::sniff(other), None);
        }
    }
}
