//! Where the sealing key for secrets at rest comes from (SPEC S8):
//! `PRINTWARDEN_SECRET_KEY` (or `secret_key`/`_FILE` in the config) → `<data>/secret.key` if
//! present and valid → a newly generated key written there with mode 0600 → when the data dir
//! is read-only, no key at all: secrets are stored in plaintext and the server says so loudly.
//!
//! Invariant: an existing key file is never overwritten — a corrupt one stops the start with
//! instructions, because replacing it would make every sealed secret unreadable for good. The
//! one exception is `printwarden keys rotate` (`cli/keys.rs`), which replaces it only after the
//! database holds every value under the new key. While a rotation is unfinished
//! (`<data>/secret.key.new` holds a key other than the active one), the server refuses to start:
//! the database may already be sealed under the new key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pw_credentials::{KEY_LEN, SealingKey};

/// File name of the generated key inside the data dir.
pub const KEY_FILE: &str = "secret.key";
/// The next key while `keys rotate` runs (and, for a configured key, until the operator has
/// switched to it).
pub const NEW_KEY_FILE: &str = "secret.key.new";
/// A copy of the previous key while `keys rotate` runs; removed once it has finished.
pub const OLD_KEY_FILE: &str = "secret.key.old";

/// Where the active key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `PRINTWARDEN_SECRET_KEY` / the config file.
    Configured,
    /// An existing `<data>/secret.key`.
    File(PathBuf),
    /// Generated at this start into `<data>/secret.key` — back it up.
    Generated(PathBuf),
}

/// The outcome of key resolution.
#[derive(Debug, Clone)]
pub enum Sealing {
    /// Secrets are sealed with this key.
    Active {
        /// The key.
        key: SealingKey,
        /// Its origin.
        source: KeySource,
    },
    /// No key could be stored: secrets stay in plaintext.
    Plaintext {
        /// Why (shown in logs and the security status card).
        reason: String,
    },
}

impl Sealing {
    /// The key, if one is active.
    #[must_use]
    pub fn key(&self) -> Option<&SealingKey> {
        match self {
            Sealing::Active { key, .. } => Some(key),
            Sealing::Plaintext { .. } => None,
        }
    }

    /// The source the key status reports: a configured key is `env` or `file` (whether it
    /// was read from `PRINTWARDEN_SECRET_KEY_FILE`); a key in `<data>/secret.key` counts as
    /// `generated` — printwarden wrote it (at first start or by `keys rotate`), or the operator
    /// put it next to the database, and either way a copy must exist elsewhere.
    #[must_use]
    pub fn status_source(&self, configured_from_file: bool) -> pw_app::KeySource {
        match self {
            Sealing::Active {
                source: KeySource::Configured,
                ..
            } if configured_from_file => pw_app::KeySource::File,
            Sealing::Active {
                source: KeySource::Configured,
                ..
            } => pw_app::KeySource::Env,
            Sealing::Active { .. } => pw_app::KeySource::Generated,
            Sealing::Plaintext { .. } => pw_app::KeySource::None,
        }
    }
}

/// Key resolution failures that must stop the start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file exists but is not a valid key.
    #[error(
        "{} exists but is not a valid sealing key ({reason}). It is never overwritten, because the secrets \
         sealed with it would be lost. Restore the file from a backup, or set PRINTWARDEN_SECRET_KEY to the \
         right key; only if no secret was ever stored may you delete the file to generate a new key",
        path.display()
    )]
    CorruptFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key rotation was interrupted: the database may be sealed under the key it left in
    /// `secret.key.new`.
    #[error(
        "a key rotation is unfinished: {} holds a key other than the active one, and the database may \
         already be sealed with it. Run `printwarden keys rotate` again to finish the rotation (it is \
         safe to repeat). If PRINTWARDEN_SECRET_KEY holds the key, set it to the content of that file \
         first",
        path.display()
    )]
    RotationPending {
        /// The pending key file.
        path: PathBuf,
    },
    /// The key file could not be read or written for another reason.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Resolves the sealing key. `random` supplies the bytes for a new key. Refuses while a
/// rotation is unfinished ([`KeyError::RotationPending`]).
pub fn resolve(
    configured: Option<&SealingKey>,
    data_dir: &Path,
    random: impl FnOnce() -> Option<[u8; KEY_LEN]>,
) -> Result<Sealing, KeyError> {
    let sealing = resolve_unchecked(configured, data_dir, random)?;
    if let Sealing::Active { key, .. } = &sealing {
        check_no_pending_rotation(data_dir, key)?;
    }
    Ok(sealing)
}

/// The key waiting in `<data>/secret.key.new`, if any (a corrupt file is an error: it may be
/// the only copy of the key the database is sealed with).
pub fn pending_key(data_dir: &Path) -> Result<Option<SealingKey>, KeyError> {
    let path = data_dir.join(NEW_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => SealingKey::from_base64(&text)
            .map(Some)
            .map_err(|e| KeyError::CorruptFile {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            action: "cannot read",
            path,
            source,
        }),
    }
}

fn check_no_pending_rotation(data_dir: &Path, active: &SealingKey) -> Result<(), KeyError> {
    match pending_key(data_dir)? {
        None => Ok(()),
        Some(pending) if pending.fingerprint() == active.fingerprint() => {
            tracing::warn!(
                path = %data_dir.join(NEW_KEY_FILE).display(),
                "the rotated key is active now: delete this copy of it"
            );
            Ok(())
        }
        Some(_) => Err(KeyError::RotationPending {
            path: data_dir.join(NEW_KEY_FILE),
        }),
    }
}

/// The key as it is now, without generating one (`Ok(None)` when there is none): for
/// `keys status` and `keys rotate`, which must not create a key as a side effect.
pub fn existing(
    configured: Option<&SealingKey>,
    data_dir: &Path,
) -> Result<Option<Sealing>, KeyError> {
    match resolve_unchecked(configured, data_dir, || None) {
        Ok(s) => Ok(Some(s)),
        Err(KeyError::Io {
            action: "cannot generate",
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn resolve_unchecked(
    configured: Option<&SealingKey>,
    data_dir: &Path,
    random: impl FnOnce() -> Option<[u8; KEY_LEN]>,
) -> Result<Sealing, KeyError> {
    let path = data_dir.join(KEY_FILE);
    if let Some(key) = configured {
        if file_holds_other_key(&path, key) {
            tracing::warn!(
                path = %path.display(),
                "the configured secret_key differs from the key file; the configured key is used and \
                 secrets sealed with the file's key cannot be opened"
            );
        }
        return Ok(Sealing::Active {
            key: key.clone(),
            source: KeySource::Configured,
        });
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => return read_existing(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(KeyError::CorruptFile {
                path,
                reason: "not text".to_owned(),
            });
        }
        Err(source) => {
            return Err(KeyError::Io {
                action: "cannot read",
                path,
                source,
            });
        }
    }
    let Some(bytes) = random() else {
        return Err(KeyError::Io {
            action: "cannot generate",
            path,
            source: std::io::Error::other("the operating system's random generator failed"),
        });
    };
    let key = SealingKey::from_bytes(bytes);
    match write_new(&path, &key) {
        Ok(()) => Ok(Sealing::Active {
            key,
            source: KeySource::Generated(path),
        }),
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Io {
                action: "cannot read",
                path: path.clone(),
                source,
            })?;
            read_existing(&path, &text)
        }
        Err(e) if is_read_only(&e) => Ok(Sealing::Plaintext {
            reason: format!(
                "the data directory {} is read-only, so no sealing key could be stored: secrets are kept in \
                 PLAINTEXT. Set PRINTWARDEN_SECRET_KEY (32 bytes, base64) to seal them",
                data_dir.display()
            ),
        }),
        Err(source) => Err(KeyError::Io {
            action: "cannot create",
            path,
            source,
        }),
    }
}

/// Whether `path` exists and holds something other than `key` (a different or unreadable key).
fn file_holds_other_key(path: &Path, key: &SealingKey) -> bool {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            SealingKey::from_base64(&text).map(|k| k.to_base64()).ok() != Some(key.to_base64())
        }
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

fn read_existing(path: &Path, text: &str) -> Result<Sealing, KeyError> {
    let key = SealingKey::from_base64(text).map_err(|e| KeyError::CorruptFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the sealing key file is readable by other users; chmod 600 it");
    }
    Ok(Sealing::Active {
        key,
        source: KeySource::File(path.to_owned()),
    })
}

/// Writes the key to a temporary file and links it into place: the key file either does not
/// exist or is complete (a crash mid-write must not leave an empty "corrupt" key), and an
/// existing file is never replaced (`link` fails with `AlreadyExists`).
fn write_new(path: &Path, key: &SealingKey) -> std::io::Result<()> {
    let tmp = path.with_file_name(format!(".{KEY_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(format!("{}\n", key.to_base64()).as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    written?;
    crate::serve::tls::sync_parent(path);
    Ok(())
}

/// Writes `key` to `path` atomically, replacing what is there: a temporary file (0600) in the
/// same directory, fsync, rename, fsync of the directory. A crash leaves the old file or the
/// new one, never a partial key.
pub fn replace_atomically(path: &Path, key: &SealingKey) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| KEY_FILE.to_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(format!("{}\n", key.to_base64()).as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    crate::serve::tls::sync_parent(path);
    Ok(())
}

/// Errors that mean "this location cannot be written", as opposed to a real failure.
pub(crate) fn is_read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

/// Random bytes for a new key from the operating system.
#[must_use]
pub fn os_random() -> Option<[u8; KEY_LEN]> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).ok().map(|()| bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: [u8; KEY_LEN] = [3; KEY_LEN];

    #[test]
    fn an_unfinished_rotation_stops_the_start_until_the_active_key_is_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = SealingKey::from_bytes([1; KEY_LEN]);
        let new = SealingKey::from_bytes([2; KEY_LEN]);
        replace_atomically(&dir.path().join(NEW_KEY_FILE), &new).unwrap();
        let err = resolve(Some(&old), dir.path(), || None).unwrap_err();
        assert!(matches!(err, KeyError::RotationPending { .. }), "{err}");
        assert!(err.to_string().contains("keys rotate"), "{err}");
        // `existing` (status, rotate) still reads the active key.
        assert!(existing(Some(&old), dir.path()).unwrap().is_some());
        assert!(resolve(Some(&new), dir.path(), || None).is_ok());
        // A damaged pending file is an error, never ignored: it may be the only copy.
        std::fs::write(dir.path().join(NEW_KEY_FILE), "garbage").unwrap();
        assert!(matches!(
            resolve(Some(&new), dir.path(), || None),
            Err(KeyError::CorruptFile { .. })
        ));
    }

    #[test]
    fn replace_atomically_writes_0600_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        replace_atomically(&path, &SealingKey::from_bytes([1; KEY_LEN])).unwrap();
        replace_atomically(&path, &SealingKey::from_bytes([2; KEY_LEN])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            SealingKey::from_base64(&text).unwrap().fingerprint(),
            SealingKey::from_bytes([2; KEY_LEN]).fingerprint()
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn configured_key_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = SealingKey::from_bytes([1; KEY_LEN]);
        let s = resolve(Some(&key), dir.path(), || Some(FIXED)).unwrap();
        assert!(matches!(
            s,
            Sealing::Active {
                source: KeySource::Configured,
                ..
            }
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn a_configured_key_that_differs_from_the_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let key = SealingKey::from_bytes([1; KEY_LEN]);
        assert!(
            !file_holds_other_key(&path, &key),
            "no file, nothing to warn about"
        );
        std::fs::write(&path, format!("{}\n", key.to_base64())).unwrap();
        assert!(!file_holds_other_key(&path, &key));
        std::fs::write(
            &path,
            format!("{}\n", SealingKey::from_bytes([2; KEY_LEN]).to_base64()),
        )
        .unwrap();
        assert!(file_holds_other_key(&path, &key));
        std::fs::write(&path, "garbage").unwrap();
        assert!(file_holds_other_key(&path, &key));
    }

    #[test]
    fn generates_once_with_mode_0600_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(None, dir.path(), || Some(FIXED)).unwrap();
        let Sealing::Active {
            key,
            source: KeySource::Generated(path),
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let second = resolve(None, dir.path(), || Some([9; KEY_LEN])).unwrap();
        let Sealing::Active {
            key: again,
            source: KeySource::File(_),
        } = second
        else {
            panic!("{second:?}")
        };
        assert_eq!(key.to_base64(), again.to_base64());
        assert_eq!(key.to_base64(), SealingKey::from_bytes(FIXED).to_base64());
    }

    #[test]
    fn no_temporary_file_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        resolve(None, dir.path(), || Some(FIXED)).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(KEY_FILE)]);
    }

    #[test]
    fn an_existing_key_file_is_never_replaced_even_in_a_race() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(
            &path,
            format!("{}\n", SealingKey::from_bytes([4; KEY_LEN]).to_base64()),
        )
        .unwrap();
        let err = write_new(&path, &SealingKey::from_bytes(FIXED)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        let kept = SealingKey::from_base64(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            kept.to_base64(),
            SealingKey::from_bytes([4; KEY_LEN]).to_base64()
        );
        assert!(!dir.path().join(format!(".{KEY_FILE}.tmp")).exists());
    }

    #[test]
    fn a_corrupt_key_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "not-a-key\n").unwrap();
        let err = resolve(None, dir.path(), || Some(FIXED)).unwrap_err();
        assert!(matches!(err, KeyError::CorruptFile { .. }), "{err}");
        assert!(err.to_string().contains("never overwritten"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not-a-key\n");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            resolve(None, dir.path(), || Some(FIXED)),
            Err(KeyError::CorruptFile { .. })
        ));
    }

    #[test]
    fn read_only_locations_fall_back_to_plaintext() {
        // Real read-only failure modes of the create call are classified as "cannot store".
        for kind in [
            std::io::ErrorKind::ReadOnlyFilesystem,
            std::io::ErrorKind::PermissionDenied,
        ] {
            assert!(is_read_only(&std::io::Error::from(kind)));
        }
        assert!(!is_read_only(&std::io::Error::from(
            std::io::ErrorKind::NotFound
        )));
        // End to end against a directory the OS refuses to write: a 0500 directory for a
        // normal user; for root (which ignores mode bits) sysfs, which refuses file creation.
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        let target = if std::fs::File::create(ro.join("probe")).is_ok() {
            PathBuf::from("/sys")
        } else {
            ro.clone()
        };
        let result = resolve(None, &target, || Some(FIXED)).unwrap();
        let Sealing::Plaintext { reason } = result else {
            panic!("{result:?}")
        };
        assert!(reason.contains("PLAINTEXT") && reason.contains("PRINTWARDEN_SECRET_KEY"));
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn a_missing_data_dir_is_an_error_not_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(None, &dir.path().join("missing"), || Some(FIXED)).unwrap_err();
        assert!(matches!(err, KeyError::Io { .. }));
        assert!(matches!(
            resolve(None, dir.path(), || None),
            Err(KeyError::Io { .. })
        ));
    }
}
