//! The library's content store: bytes named by their SHA-256, stored once whatever the number
//! of files that name them. [`BlobStore`] is the small trait a store implements (shaped like
//! the `object_store` crate's model: put, ranged get, delete, plus a local staging step so a
//! file can be checked before it is kept); [`FsBlobs`] keeps blobs under
//! `<data>/blobs/ab/cd/<sha256>`. An object store can implement the same trait for multi-node
//! farms later.
//!
//! Invariants: an upload is streamed to a staging file in `<blobs>/tmp` (same filesystem as
//! the final place) while it is hashed and counted — never held in memory; it is refused the
//! moment it passes its limit, and a staging file that is not committed is removed when its
//! [`Staged`] is dropped (any error, a cancelled request). A committed blob was fsynced and
//! renamed into place (then its directory fsynced), so a blob path holds complete content or
//! nothing. Content already stored is not written again.

use std::fmt;
use std::future::Future;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A boxed future of a blob operation.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BlobError>> + Send + 'a>>;

/// A blocking reader with seeking, for the parser (run on a blocking thread).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A streaming reader of (part of) a blob.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// How long an upload may send nothing before it is given up.
pub const IDLE_UPLOAD: Duration = Duration::from_secs(60);

/// What can go wrong in the content store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The stream passed the size limit; nothing was kept.
    #[error("upload larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The client's stream failed or stalled; nothing was kept.
    #[error("the upload stream ended early: {0}")]
    Aborted(std::io::Error),
    /// No blob with that hash.
    #[error("no such blob")]
    NotFound,
    /// The disk failed.
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
}

/// Content streamed to the staging area, hashed, not yet kept. Dropping it removes the file.
#[derive(Debug)]
pub struct Staged {
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The staging file (local, for the parser), removed on drop unless committed.
    pub(crate) path: tempfile::TempPath,
}

impl Staged {
    /// The staging file, to read the content back (e.g. parse it) before committing.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A content store.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Streams `body` to a staging file while hashing it; refuses past `limit` bytes (the
    /// staging file is removed then).
    fn stage<'a>(
        &'a self,
        body: &'a mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> BlobFuture<'a, Staged>;

    /// Keeps staged content under its hash. `true` = newly stored, `false` = it was there
    /// already (the staged copy is dropped).
    fn commit(&self, staged: Staged) -> BlobFuture<'_, bool>;

    /// Reads `range` (`start..end`, end exclusive; `None` = everything) of a blob.
    fn open<'a>(&'a self, sha256: &'a str, range: Option<(u64, u64)>)
    -> BlobFuture<'a, BlobReader>;

    /// A blocking, seekable reader of a blob (call from a blocking thread).
    fn open_blocking(&self, sha256: &str) -> Result<Box<dyn ReadSeek>, BlobError>;

    /// Removes a blob (no error when it is gone already).
    fn delete<'a>(&'a self, sha256: &'a str) -> BlobFuture<'a, ()>;

    /// Bytes the stored blobs take.
    fn used_bytes(&self) -> BlobFuture<'_, u64>;
}

/// Whether `s` is a lower-case hex SHA-256 (the only names the store ever builds a path from).
#[must_use]
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Blobs on the local filesystem: `<root>/ab/cd/<sha256>`, staging in `<root>/tmp`.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl FsBlobs {
    /// A store rooted at `root` (created 0700 if missing). Staging files a crash left behind
    /// are removed.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        private_dir(&root.join("tmp"))?;
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { root })
    }

    /// The store's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The staging directory (empty unless an upload is running).
    #[must_use]
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if !is_sha256(sha256) {
            return Err(BlobError::NotFound);
        }
        Ok(self
            .root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256))
    }
}

async fn stage_into(
    root: &Path,
    body: &mut (dyn AsyncRead + Send + Unpin),
    limit: u64,
) -> Result<Staged, BlobError> {
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(root.join("tmp"))?;
    let (file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match tokio::time::timeout(IDLE_UPLOAD, body.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(BlobError::Aborted(e)),
            Err(_) => {
                return Err(BlobError::Aborted(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no data for a minute",
                )));
            }
        };
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limit {
            return Err(BlobError::TooLarge { limit });
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        file.write_all(chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(Staged {
        sha256: hex::encode(hasher.finalize()),
        size,
        path,
    })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobs {
    fn stage<'a>(
        &'a self,
        body: &'a mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> BlobFuture<'a, Staged> {
        Box::pin(stage_into(&self.root, body, limit))
    }

    fn commit(&self, staged: Staged) -> BlobFuture<'_, bool> {
        Box::pin(async move {
            let target = self.path_of(&staged.sha256)?;
            tokio::task::spawn_blocking(move || -> Result<bool, BlobError> {
                if target.is_file() {
                    // Stored once: the staged copy goes when `staged` drops.
                    return Ok(false);
                }
                let dir = target.parent().ok_or(BlobError::NotFound)?;
                private_dir(dir)?;
                staged
                    .path
                    .persist(&target)
                    .map_err(|e| BlobError::Io(e.error))?;
                sync_dir(dir)?;
                Ok(true)
            })
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
        })
    }

    fn open<'a>(
        &'a self,
        sha256: &'a str,
        range: Option<(u64, u64)>,
    ) -> BlobFuture<'a, BlobReader> {
        Box::pin(async move {
            let path = self.path_of(sha256)?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound);
                }
                Err(e) => return Err(e.into()),
            };
            Ok(match range {
                None => Box::pin(file) as BlobReader,
                Some((start, end)) => {
                    file.seek(std::io::SeekFrom::Start(start)).await?;
                    Box::pin(file.take(end.saturating_sub(start)))
                }
            })
        })
    }

    fn open_blocking(&self, sha256: &str) -> Result<Box<dyn ReadSeek>, BlobError> {
        let path = self.path_of(sha256)?;
        match std::fs::File::open(path) {
            Ok(f) => Ok(Box::new(std::io::BufReader::new(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path_of(sha256)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn used_bytes(&self) -> BlobFuture<'_, u64> {
        let root = self.root.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> Result<u64, BlobError> {
                let mut total = 0u64;
                for a in std::fs::read_dir(&root)? {
                    let a = a?;
                    let name = a.file_name();
                    if name == "tmp" || !a.file_type()?.is_dir() {
                        continue;
                    }
                    for b in std::fs::read_dir(a.path())? {
                        let b = b?;
                        if !b.file_type()?.is_dir() {
                            continue;
                        }
                        for blob in std::fs::read_dir(b.path())? {
                            let blob = blob?;
                            let meta = blob.metadata()?;
                            if meta.is_file() {
                                total += meta.len();
                            }
                        }
                    }
                }
                Ok(total)
            })
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_and_ranges_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobs::new(dir.path().join("blobs")).unwrap();
        let mut body: &[u8] = b"hello library";
        let staged = store.stage(&mut body, 1024).await.unwrap();
        assert_eq!(staged.size, 13);
        let sha = staged.sha256.clone();
        assert!(store.commit(staged).await.unwrap());
        let mut again: &[u8] = b"hello library";
        let staged = store.stage(&mut again, 1024).await.unwrap();
        assert!(!store.commit(staged).await.unwrap());
        assert_eq!(
            std::fs::read_dir(store.staging_dir()).unwrap().count(),
            0,
            "staging left behind"
        );
        assert_eq!(store.used_bytes().await.unwrap(), 13);
        let mut part = String::new();
        store
            .open(&sha, Some((6, 13)))
            .await
            .unwrap()
            .read_to_string(&mut part)
            .await
            .unwrap();
        assert_eq!(part, "library");
        store.delete(&sha).await.unwrap();
        store.delete(&sha).await.unwrap();
        assert!(matches!(
            store.open(&sha, None).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.open("../../etc/passwd", None).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn over_the_limit_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobs::new(dir.path().join("blobs")).unwrap();
        let big = vec![7u8; 200_000];
        let mut body: &[u8] = &big;
        let e = store.stage(&mut body, 100_000).await.unwrap_err();
        assert!(matches!(e, BlobError::TooLarge { limit: 100_000 }));
        assert_eq!(std::fs::read_dir(store.staging_dir()).unwrap().count(), 0);
        assert_eq!(store.used_bytes().await.unwrap(), 0);
    }
}
