//! The closed list of entry names a backup may hold, and the one place a name becomes a path.
//!
//! Threat: ZipSlip — an archive entry named `../../etc/cron.d/x` or `/root/.ssh/authorized_keys`
//! written where its name says. Here a name is parsed into an [`EntryName`] whose parts were
//! each checked against a strict alphabet; a path on disk is only ever built from those parts
//! under the restore's own directory. A name outside the list is refused, with the reason
//! named in words when it is one of the classic attacks.

use std::path::{Path, PathBuf};

use super::{BackupError, COVER, MANIFEST};

/// A checked entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryName {
    /// The cover.
    Cover,
    /// The manifest.
    Manifest,
    /// A chunk of a table's rows.
    Rows {
        /// The table.
        table: String,
    },
    /// Content in the blob store, named by its SHA-256.
    Blob {
        /// The hash.
        sha256: String,
    },
    /// A file of the TLS directory.
    Tls {
        /// Its file name.
        file: String,
    },
    /// The sealing key.
    Key,
}

/// Lower-case hex of the given length.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A file name part: starts with a letter or digit, then letters, digits, `.`, `_`, `-`; at
/// most 64 characters (so never `.`, `..` or a hidden file).
fn is_plain_file_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && s.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A table name: lower-case letters, digits and `_`.
fn is_table_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl EntryName {
    /// Parses and checks an entry name.
    pub(crate) fn parse(name: &str) -> Result<Self, BackupError> {
        let refuse = |why: &str| {
            BackupError::Refused(format!(
                "the archive contains an entry named `{}`, which {why}; nothing was restored",
                name.escape_debug()
            ))
        };
        if name.starts_with('/') || name.starts_with('\\') || name.get(1..3) == Some(":\\") {
            return Err(refuse("is an absolute path"));
        }
        if name.split(['/', '\\']).any(|part| part == "..") {
            return Err(refuse("climbs out of its directory (`..`)"));
        }
        if name.contains('\\') || name.contains('\0') || name.len() > 200 {
            return Err(refuse("is not a name a printwarden backup uses"));
        }
        let parts: Vec<&str> = name.split('/').collect();
        let parsed = match parts.as_slice() {
            [n] if *n == COVER => Some(EntryName::Cover),
            [n] if *n == MANIFEST => Some(EntryName::Manifest),
            ["db", dir, chunk] => {
                let table = dir
                    .split_once('-')
                    .filter(|(n, t)| {
                        n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()) && is_table_name(t)
                    })
                    .map(|(_, t)| t.to_owned());
                let chunk_ok = chunk
                    .strip_suffix(".jsonl")
                    .is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
                table
                    .filter(|_| chunk_ok)
                    .map(|table| EntryName::Rows { table })
            }
            ["files", "blobs", a, b, sha]
                if is_hex(sha, 64) && sha.get(0..2) == Some(*a) && sha.get(2..4) == Some(*b) =>
            {
                Some(EntryName::Blob {
                    sha256: (*sha).to_owned(),
                })
            }
            ["files", "tls", file] if is_plain_file_name(file) => Some(EntryName::Tls {
                file: (*file).to_owned(),
            }),
            ["files", "secret.key"] => Some(EntryName::Key),
            _ => None,
        };
        parsed.ok_or_else(|| refuse("is not a name a printwarden backup uses"))
    }

    /// The entry name for a table chunk.
    pub(crate) fn rows_name(position: usize, table: &str, chunk: usize) -> String {
        format!("db/{position:04}-{table}/{chunk:06}.jsonl")
    }

    /// The entry name for a blob.
    pub(crate) fn blob_name(sha256: &str) -> String {
        format!(
            "files/blobs/{}/{}/{sha256}",
            sha256.get(0..2).unwrap_or_default(),
            sha256.get(2..4).unwrap_or_default()
        )
    }

    /// Where a file entry goes under a data directory (`None` for the cover, manifest and
    /// rows, which are not files). Built from the checked parts only.
    pub(crate) fn path_under(&self, root: &Path) -> Option<PathBuf> {
        match self {
            EntryName::Blob { sha256 } => Some(
                root.join(super::BLOB_DIR)
                    .join(sha256.get(0..2)?)
                    .join(sha256.get(2..4)?)
                    .join(sha256),
            ),
            EntryName::Tls { file } => Some(root.join("tls").join(file)),
            EntryName::Key => Some(root.join("secret.key")),
            _ => None,
        }
    }

    /// Whether a file is a plain name the backup may carry from the TLS directory.
    pub(crate) fn tls_file_ok(name: &str) -> bool {
        is_plain_file_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    #[test]
    fn the_names_a_backup_writes_are_accepted() {
        assert_eq!(EntryName::parse(COVER).ok(), Some(EntryName::Cover));
        assert_eq!(EntryName::parse(MANIFEST).ok(), Some(EntryName::Manifest));
        assert_eq!(
            EntryName::parse(&EntryName::rows_name(3, "users", 1)).ok(),
            Some(EntryName::Rows {
                table: "users".into()
            })
        );
        assert_eq!(
            EntryName::parse(&EntryName::blob_name(SHA)).ok(),
            Some(EntryName::Blob { sha256: SHA.into() })
        );
        assert_eq!(
            EntryName::parse("files/tls/ca.key").ok(),
            Some(EntryName::Tls {
                file: "ca.key".into()
            })
        );
        assert_eq!(
            EntryName::parse("files/secret.key").ok(),
            Some(EntryName::Key)
        );
    }

    #[test]
    fn traversal_absolute_and_unknown_names_are_refused_in_words() {
        for (name, words) in [
            ("../etc/passwd", "`..`"),
            ("files/tls/../../x", "`..`"),
            ("files/blobs/../../../root/.ssh/authorized_keys", "`..`"),
            ("/etc/passwd", "absolute path"),
            ("\\windows\\x", "absolute path"),
            ("C:\\x", "absolute path"),
            ("files/tls/.hidden", "not a name"),
            ("files/tls/a/b", "not a name"),
            ("files/blobs/ab/cd/ab12", "not a name"),
            ("files/blobs/00/00/", "not a name"),
            ("db/0001-users/1.jsonl", "not a name"),
            ("db/0001-Users/000001.jsonl", "not a name"),
            ("files/secret.key/x", "not a name"),
            ("", "not a name"),
        ] {
            let refused = EntryName::parse(name);
            assert!(
                matches!(&refused, Err(BackupError::Refused(m)) if m.contains(words)),
                "{name}: {refused:?}"
            );
        }
        let wrong_dir = format!("files/blobs/00/cd/{SHA}");
        assert!(EntryName::parse(&wrong_dir).is_err());
    }

    #[test]
    fn paths_are_built_under_the_root_from_checked_parts() {
        let root = Path::new("/restore/tmp");
        let blob = EntryName::parse(&EntryName::blob_name(SHA)).ok();
        assert_eq!(
            blob.and_then(|b| b.path_under(root)),
            Some(root.join("blobs/ab/12").join(SHA))
        );
        assert_eq!(
            EntryName::Key.path_under(root),
            Some(root.join("secret.key"))
        );
    }
}
