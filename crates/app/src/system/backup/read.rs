//! Reading a backup: decryption, the entry checks, the checksums, the manifest.
//!
//! Invariant: [`walk`] decides about an entry from its header (type, name, size) before its
//! content is handed to anyone, and checks the whole archive against the manifest at the end
//! (every entry listed, in order, with its size and SHA-256; the row counts; the cover agreeing
//! with the manifest); it reads the encrypted stream to its end, which is where age proves the
//! file was not truncated.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};

use sha2::{Digest, Sha256};

use super::names::EntryName;
use super::seal::Opening;
use super::{BackupError, Cover, FORMAT_VERSION, Manifest, ManifestEntry};

/// The cover is small; a larger one is not ours.
const COVER_MAX: u64 = 64 * 1024;
/// The manifest lists every entry (about 150 bytes each).
const MANIFEST_MAX: u64 = 256 * 1024 * 1024;
/// A chunk of rows is written at about 4 MiB; a much larger one is not ours.
pub(crate) const ROWS_MAX: u64 = 64 * 1024 * 1024;

/// What a verified backup holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The first entry.
    pub cover: Cover,
    /// The last entry.
    pub manifest: Manifest,
    /// Whether this build can restore it (its schema is not newer than this build's).
    pub restorable: Result<(), String>,
}

/// A reader that hashes and counts what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.count += n as u64;
        Ok(n)
    }
}

fn damaged(e: &std::io::Error) -> BackupError {
    BackupError::Refused(format!(
        "the archive is damaged or truncated: its encrypted content does not check out ({e}); \
         nothing was restored"
    ))
}

pub(crate) fn decrypt_error(e: age::DecryptError) -> BackupError {
    match e {
        age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed
        | age::DecryptError::NoMatchingKeys
        | age::DecryptError::InvalidMac => BackupError::Passphrase(
            "wrong passphrase (or the backup's header is damaged): the backup cannot be opened"
                .to_owned(),
        ),
        age::DecryptError::ExcessiveWork { .. } => BackupError::Refused(
            "the backup asks for more passphrase work than this machine allows; open it where it \
             was made"
                .to_owned(),
        ),
        age::DecryptError::Io(e) => damaged(&e),
        other => BackupError::Refused(format!(
            "this is not a printwarden backup (not a passphrase-encrypted age file: {other})"
        )),
    }
}

/// The decrypted stream of an age file, opened with `opening`.
pub(crate) fn decrypt<R: Read>(input: R, opening: &Opening) -> Result<impl Read, BackupError> {
    let decryptor =
        age::Decryptor::new_buffered(std::io::BufReader::with_capacity(256 * 1024, input))
            .map_err(decrypt_error)?;
    opening.open(decryptor)
}

fn kind_words(kind: tar::EntryType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_hard_link() {
        "a hard link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// What [`walk`] hands the visitor: a checked entry and its content.
pub(crate) type Visit<'v> =
    dyn FnMut(&EntryName, &str, &mut dyn BufRead) -> Result<(), BackupError> + 'v;

/// Reads a whole backup, checking everything; `visit` gets the content of every rows and
/// file entry (whatever it leaves unread is read and hashed here). With `expected`, every
/// entry is also compared with that manifest as soon as it ends.
pub(crate) fn walk(
    input: impl Read,
    opening: &Opening,
    expected: Option<&Manifest>,
    visit: &mut Visit<'_>,
) -> Result<(Cover, Manifest), BackupError> {
    let reader = decrypt(input, opening)?;
    let mut archive = tar::Archive::new(reader);
    let mut cover: Option<Cover> = None;
    let mut manifest: Option<Manifest> = None;
    let mut seen: Vec<ManifestEntry> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut lines: HashMap<String, u64> = HashMap::new();
    let mut key_seen = false;
    let entries = archive.entries().map_err(|e| damaged(&e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(&e))?;
        let raw = entry.path_bytes().into_owned();
        let Ok(name) = String::from_utf8(raw) else {
            return Err(BackupError::Refused(
                "the archive contains an entry whose name is not text; nothing was restored"
                    .to_owned(),
            ));
        };
        let kind = entry.header().entry_type();
        let parsed = EntryName::parse(&name)?;
        if !kind.is_file() {
            return Err(BackupError::Refused(format!(
                "the archive contains `{}`, which is {}; a printwarden backup holds only regular \
                 files, so nothing was restored",
                name.escape_debug(),
                kind_words(kind)
            )));
        }
        if !names.insert(name.clone()) {
            return Err(BackupError::Refused(format!(
                "the archive contains `{name}` twice; nothing was restored"
            )));
        }
        if manifest.is_some() {
            return Err(BackupError::Refused(format!(
                "the archive has an entry `{name}` after its manifest; nothing was restored"
            )));
        }
        if cover.is_none() && parsed != EntryName::Cover {
            return Err(BackupError::Refused(
                "the archive does not start with a printwarden backup cover; it is not a printwarden backup"
                    .to_owned(),
            ));
        }
        let size = entry.header().size().map_err(|e| damaged(&e))?;
        let cap = match parsed {
            EntryName::Cover => COVER_MAX,
            EntryName::Manifest => MANIFEST_MAX,
            EntryName::Rows { .. } => ROWS_MAX,
            _ => u64::MAX,
        };
        if size > cap {
            return Err(BackupError::Refused(format!(
                "the archive's entry `{name}` is {size} bytes, far larger than printwarden writes; nothing was restored"
            )));
        }
        let mut hashing = std::io::BufReader::with_capacity(
            256 * 1024,
            Hashing {
                inner: (&mut entry).take(size),
                hasher: Sha256::new(),
                count: 0,
            },
        );
        match &parsed {
            EntryName::Cover | EntryName::Manifest => {
                let mut bytes = Vec::new();
                hashing.read_to_end(&mut bytes).map_err(|e| damaged(&e))?;
                if parsed == EntryName::Cover {
                    let parsed_cover: Cover = serde_json::from_slice(&bytes).map_err(|e| {
                        BackupError::Refused(format!("the backup's cover cannot be read: {e}"))
                    })?;
                    if parsed_cover.format != "printwarden-backup" {
                        return Err(BackupError::Refused(
                            "this is not a printwarden backup".to_owned(),
                        ));
                    }
                    if parsed_cover.format_version > FORMAT_VERSION {
                        return Err(BackupError::Refused(format!(
                            "this backup was written by a newer printwarden ({}, format {}); this \
                             one reads format {FORMAT_VERSION} — use that version or newer",
                            parsed_cover.app_version, parsed_cover.format_version
                        )));
                    }
                    cover = Some(parsed_cover);
                } else {
                    manifest = Some(serde_json::from_slice(&bytes).map_err(|e| {
                        BackupError::Refused(format!("the backup's manifest cannot be read: {e}"))
                    })?);
                }
            }
            EntryName::Rows { table } => {
                let mut counter = LineCount {
                    inner: &mut hashing,
                    lines: 0,
                };
                visit(&parsed, &name, &mut std::io::BufReader::new(&mut counter))?;
                std::io::copy(&mut counter, &mut std::io::sink()).map_err(|e| damaged(&e))?;
                *lines.entry(table.clone()).or_default() += counter.lines;
            }
            _ => {
                if parsed == EntryName::Key {
                    key_seen = true;
                }
                visit(&parsed, &name, &mut hashing)?;
            }
        }
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| damaged(&e))?;
        let hashing = hashing.into_inner();
        if hashing.count != size {
            return Err(damaged(&std::io::Error::other("an entry ends early")));
        }
        if parsed != EntryName::Manifest {
            let got = ManifestEntry {
                name: name.clone(),
                size,
                sha256: hex::encode(hashing.hasher.finalize()),
            };
            if let Some(expected) = expected
                && expected.entries.get(seen.len()) != Some(&got)
            {
                return Err(BackupError::Refused(format!(
                    "the archive's entry `{name}` changed since it was verified; nothing was restored"
                )));
            }
            seen.push(got);
        }
    }
    // age proves the end of the file only when it is read: a cut-off backup fails here.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| damaged(&e))?;

    let (Some(cover), Some(manifest)) = (cover, manifest) else {
        return Err(BackupError::Refused(
            "the archive ends before its manifest: it is incomplete; nothing was restored"
                .to_owned(),
        ));
    };
    check_manifest(&cover, &manifest, &seen, &lines, key_seen)?;
    Ok((cover, manifest))
}

/// Counts newline bytes read through it.
struct LineCount<R> {
    inner: R,
    lines: u64,
}

impl<R: Read> Read for LineCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines += buf
            .get(..n)
            .unwrap_or_default()
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        Ok(n)
    }
}

fn check_manifest(
    cover: &Cover,
    manifest: &Manifest,
    seen: &[ManifestEntry],
    lines: &HashMap<String, u64>,
    key_seen: bool,
) -> Result<(), BackupError> {
    let refuse = |why: String| BackupError::Refused(format!("{why}; nothing was restored"));
    if manifest.format != cover.format
        || manifest.format_version != cover.format_version
        || manifest.app_version != cover.app_version
        || manifest.backend != cover.backend
        || manifest.schema_versions != cover.schema_versions
        || manifest.includes_sealing_key != cover.includes_sealing_key
    {
        return Err(refuse(
            "the backup's cover and manifest disagree".to_owned(),
        ));
    }
    if manifest.includes_sealing_key != key_seen {
        return Err(refuse(
            "the manifest and the archive disagree about the sealing key being inside".to_owned(),
        ));
    }
    for (i, listed) in manifest.entries.iter().enumerate() {
        match seen.get(i) {
            Some(got) if got == listed => {}
            Some(got) if got.name == listed.name => {
                return Err(refuse(format!(
                    "the entry `{}` does not match its size and SHA-256 in the manifest",
                    listed.name
                )));
            }
            _ => {
                return Err(refuse(format!(
                    "the manifest lists `{}`, which is not where the archive has it",
                    listed.name
                )));
            }
        }
    }
    if let Some(extra) = seen.get(manifest.entries.len()) {
        return Err(refuse(format!(
            "the archive holds `{}`, which its manifest does not list",
            extra.name
        )));
    }
    let mut tables = HashSet::new();
    for table in &manifest.tables {
        if !tables.insert(table.name.as_str()) {
            return Err(refuse(format!(
                "the manifest lists table {} twice",
                table.name
            )));
        }
        for chunk in &table.chunks {
            if EntryName::parse(chunk).ok()
                != Some(EntryName::Rows {
                    table: table.name.clone(),
                })
            {
                return Err(refuse(format!(
                    "the manifest gives table {} an entry `{chunk}` of another table",
                    table.name
                )));
            }
        }
        if lines.get(&table.name).copied().unwrap_or(0) != table.rows {
            return Err(refuse(format!(
                "table {} has {} rows in the archive but {} in the manifest",
                table.name,
                lines.get(&table.name).copied().unwrap_or(0),
                table.rows
            )));
        }
        for (column, kind) in &table.columns {
            if pw_store::ColumnType::from_name(kind).is_none() {
                return Err(refuse(format!(
                    "column {}.{column} has a kind `{kind}` this printwarden does not know",
                    table.name
                )));
            }
        }
    }
    if let Some(table) = lines.keys().find(|t| !tables.contains(t.as_str())) {
        return Err(refuse(format!(
            "the archive has rows of table {table}, which its manifest does not list"
        )));
    }
    Ok(())
}

/// Whether this build can restore a backup of these schema versions: they must be the first
/// migrations this build knows, in order.
pub(crate) fn restorable(schema_versions: &[i64]) -> Result<(), String> {
    let known: Vec<i64> = pw_store::MIGRATIONS.iter().map(|m| m.version).collect();
    if known.starts_with(schema_versions) {
        return Ok(());
    }
    let newest = known.last().copied().unwrap_or(0);
    let theirs = schema_versions.last().copied().unwrap_or(0);
    Err(format!(
        "the backup's database schema (version {theirs}) is newer than this printwarden knows \
         (version {newest}); restore it with the printwarden version that made it, or a newer one"
    ))
}

/// Verifies a backup: decrypts it, checks every entry's name, type and checksum and the
/// manifest. Reads the whole file; writes nothing. `opening` is the passphrase
/// (`&SecretString`) or an [`Opening`].
pub fn verify_backup(
    input: impl Read,
    opening: impl Into<Opening>,
) -> Result<Verified, BackupError> {
    let opening = opening.into();
    let (cover, manifest) = walk(input, &opening, None, &mut |_, _, _| Ok(()))?;
    let restorable = restorable(&manifest.schema_versions);
    Ok(Verified {
        cover,
        manifest,
        restorable,
    })
}
