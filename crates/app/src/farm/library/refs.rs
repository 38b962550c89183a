//! The one way a content blob is released: every row that names a blob (library files,
//! archive entries' file, thumbnail and snapshot, archive photos, open print jobs) is counted by
//! `Store::blob_references`, and a blob is deleted only when that count is 0 — decided under
//! `App::library_refs`, the same lock every commit of a blob with its row takes.
//!
//! Invariant: a blob is never deleted while a row names it, and a blob committed for a row that
//! could not be written is released again. Library file deletion, archive entry deletion,
//! photo deletion, printer deletion (its open print jobs' content) and both purges go through
//! [`App::release_blobs`]; nothing else deletes a blob.

use tokio::sync::MutexGuard;

use crate::{App, AppError};

use super::blobs::Staged;

impl App {
    /// Takes the reference lock (short sections only: a commit with its row, a delete with its
    /// release; never an upload or a download).
    pub(crate) async fn blob_refs(&self) -> MutexGuard<'_, ()> {
        self.library_refs.lock().await
    }

    /// With the reference lock held (`_held`), deletes each blob that no row names any more.
    /// Returns the ones deleted. A blob that cannot be removed from the disk is logged (it only
    /// costs space); a database error stops and is returned.
    pub(crate) async fn release_blobs(
        &self,
        _held: &MutexGuard<'_, ()>,
        blobs: &[String],
    ) -> Result<Vec<String>, AppError> {
        let mut deleted = Vec::new();
        // Without a content store no row can name a blob.
        let Some(store) = self.library_blobs.as_deref() else {
            return Ok(deleted);
        };
        let mut seen: Vec<&str> = Vec::new();
        for sha in blobs {
            if seen.contains(&sha.as_str()) {
                continue;
            }
            seen.push(sha);
            if self.store.blob_references(sha).await? > 0 {
                continue;
            }
            match store.delete(sha).await {
                Ok(()) => deleted.push(sha.clone()),
                Err(e) => tracing::warn!(error = %e, sha256 = %sha, "blob not deleted"),
            }
        }
        Ok(deleted)
    }

    /// Keeps a staged blob for a row: commits it and runs `record` (which writes the row that
    /// names it, answering whether it did) under the reference lock; when `record` wrote
    /// nothing or failed, the blob is released again. Returns the blob's hash when it is kept.
    pub(crate) async fn keep_blob<F>(
        &self,
        staged: Staged,
        record: F,
    ) -> Result<Option<String>, AppError>
    where
        F: AsyncFnOnce(&str) -> Result<bool, AppError>,
    {
        let sha = staged.sha256.clone();
        let held = self.blob_refs().await;
        self.blobs()?
            .commit(staged)
            .await
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        let recorded = record(&sha).await;
        if !matches!(recorded, Ok(true)) {
            self.release_blobs(&held, std::slice::from_ref(&sha))
                .await?;
        }
        recorded.map(|kept| kept.then_some(sha))
    }
}
