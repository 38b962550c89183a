//! The content a source keeps beside its database — Bambuddy's printed files, plate images and
//! library files — brought into the content store, and the archive entries, library folders
//! and files, and queue items that name it, planned against what exists here.
//!
//! Invariants:
//! - a file is read only when its recorded path resolves inside the source's data directory:
//!   no `..` component, no absolute path elsewhere, no symbolic link (of the file or any
//!   directory on the way) leading out — checked on the canonical path before opening and on
//!   the opened descriptor after (threat: a crafted source database that makes the importer,
//!   which runs with printwarden's rights, copy `/etc/shadow` or the sealing key into the
//!   library where a user could download it). An item whose path fails this is refused whole
//!   and reported; nothing is written for it. A missing file is reported, not fatal;
//! - content is streamed into the content store (hashed while copied, never whole in memory,
//!   stored once by SHA-256); in a dry run it is only hashed, so the report counts the same;
//! - the caller holds the content store's reference lock from the first blob until the rows
//!   are written, and releases every blob this run stored when they are not: a failed import
//!   leaves no content behind that no row names;
//! - idempotent by natural keys: an archive entry by printer, file and start; a folder by
//!   parent and name (an existing one is reused); a library file by folder, name and content; a
//!   queue item by content, name, creation time and creator.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};

use pw_domain::{LibraryFileId, LibraryFolderId, PrinterId, UserId};
use pw_printfile::Limits;
use pw_store::{
    ImportArchive, ImportBatch, ImportFolder, ImportLibraryFile, ImportPrinterRef, ImportQueueItem,
    ImportQueueTarget, ImportRef,
};
use sha2::{Digest, Sha256};

use super::{ImportReport, ImportTool, Source, SourceFilament};
use crate::farm::archive::FilamentUsed;
use crate::farm::library::blobs::{BlobError, BlobStore};
use crate::farm::library::folders::folder_name;
use crate::farm::library::meta::StoredMeta;
use crate::farm::library::upload::{clean_name, human_size};
use crate::farm::queue::PrintOptions;
use crate::{App, AppError};

/// PNG's first bytes (archive plate images are served as PNG).
const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// Most tags on an entry or file, and the longest tag (the archive's and library's limits).
const TAGS_MAX: usize = 32;
const TAG_MAX: usize = 64;
/// Longest notes kept (the archive's limit).
const NOTES_MAX: usize = 10_000;
/// Longest model name of a queue target (the queue's limit).
const MODEL_MAX: usize = 32;

/// What the print-file reader made of a file: its kind and stored facts, or why it is none.
type PrintFacts = Result<(&'static str, String), String>;

/// A file of the source, read.
#[derive(Debug, Clone)]
pub(super) struct Fetched {
    /// Hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// What the print-file reader made of it: kind and stored facts, or why it is none.
    pub print: PrintFacts,
    /// It starts like a PNG.
    pub png: bool,
}

/// Why a file was not read.
#[derive(Debug, Clone)]
pub(super) enum Problem {
    /// The path leads outside the data directory, or is not a regular file: the item is
    /// refused whole.
    Unsafe(String),
    /// The file is missing or could not be read: reported, not fatal.
    Missing(String),
}

impl Problem {
    fn words(&self) -> &str {
        match self {
            Problem::Unsafe(w) | Problem::Missing(w) => w,
        }
    }
}

/// Reads the source's files, once each, into the content store (or only hashes them).
pub(super) struct Files<'a> {
    /// The source's data directory, canonical (`None`: it cannot be read).
    root: Option<PathBuf>,
    /// Where content goes (`None`: a dry run).
    store: Option<&'a dyn BlobStore>,
    /// A real run on a server without a content store: no file can be kept.
    nowhere: bool,
    /// Largest file taken.
    limit: u64,
    cache: BTreeMap<String, Result<Fetched, Problem>>,
    /// Blobs this run stored that were not there before (released again on failure).
    pub stored: Vec<String>,
    /// Files read and their bytes.
    pub count: usize,
    /// Bytes.
    pub bytes: u64,
}

impl<'a> Files<'a> {
    /// Files below `root` (the directory holding the source database), stored in `store`
    /// (`None` with `dry_run`: only hashed).
    pub(super) fn new(
        root: &Path,
        store: Option<&'a dyn BlobStore>,
        dry_run: bool,
        limit: u64,
    ) -> Self {
        Self {
            root: std::fs::canonicalize(root).ok(),
            nowhere: !dry_run && store.is_none(),
            store: if dry_run { None } else { store },
            limit,
            cache: BTreeMap::new(),
            stored: Vec::new(),
            count: 0,
            bytes: 0,
        }
    }

    /// The file at `rel` (as the source recorded it).
    pub(super) async fn fetch(&mut self, rel: &str) -> Result<Fetched, Problem> {
        if let Some(hit) = self.cache.get(rel) {
            return hit.clone();
        }
        let got = self.read(rel).await;
        if let Ok(f) = &got {
            self.count += 1;
            self.bytes += f.size;
        }
        self.cache.insert(rel.to_owned(), got.clone());
        got
    }

    async fn read(&mut self, rel: &str) -> Result<Fetched, Problem> {
        if self.nowhere {
            return Err(Problem::Missing(format!(
                "its file `{rel}` could not be kept: this server has no library storage"
            )));
        }
        let Some(root) = self.root.clone() else {
            return Err(Problem::Missing(format!(
                "its file `{rel}` could not be read: the source's data directory cannot be read"
            )));
        };
        let shown = rel.to_owned();
        let limit = self.limit;
        let opened = tokio::task::spawn_blocking(move || open_inside(&root, &shown))
            .await
            .map_err(|_| Problem::Missing(format!("its file `{rel}` could not be read")))??;
        let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
        if size > limit {
            return Err(Problem::Missing(format!(
                "its file `{rel}` is larger than the library's limit of {}",
                human_size(limit)
            )));
        }
        let hint = rel.rsplit('/').next().unwrap_or(rel).to_owned();
        let unreadable = |_| Problem::Missing(format!("its file `{rel}` could not be read"));
        match self.store {
            None => {
                // Dry run: hashed and inspected in place, nothing copied.
                tokio::task::spawn_blocking(move || {
                    let mut file = opened;
                    let mut hasher = Sha256::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut total = 0u64;
                    loop {
                        let n = file.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                        hasher.update(buf.get(..n).unwrap_or_default());
                    }
                    file.rewind()?;
                    let (print, png) = inspect(&mut file, &hint)?;
                    Ok::<_, std::io::Error>(Fetched {
                        sha256: hex::encode(hasher.finalize()),
                        size: total,
                        print,
                        png,
                    })
                })
                .await
                .map_err(|_| Problem::Missing(format!("its file `{rel}` could not be read")))?
                .map_err(unreadable)
            }
            Some(store) => {
                let mut file = tokio::fs::File::from_std(opened);
                let staged = match store.stage(&mut file, limit).await {
                    Ok(s) => s,
                    Err(BlobError::TooLarge { limit }) => {
                        return Err(Problem::Missing(format!(
                            "its file `{rel}` is larger than the library's limit of {}",
                            human_size(limit)
                        )));
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "import: a source file could not be copied");
                        return Err(Problem::Missing(format!(
                            "its file `{rel}` could not be read"
                        )));
                    }
                };
                // Inspected from the staged copy: what is kept is what was checked.
                let path = staged.path().to_path_buf();
                let (print, png) = tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::File::open(path)?;
                    inspect(&mut f, &hint)
                })
                .await
                .map_err(|_| Problem::Missing(format!("its file `{rel}` could not be read")))?
                .map_err(unreadable)?;
                let sha256 = staged.sha256.clone();
                let size = staged.size;
                let fresh = store.commit(staged).await.map_err(|e| {
                    tracing::warn!(error = %e, "import: a blob could not be stored");
                    Problem::Missing(format!("its file `{rel}` could not be stored here"))
                })?;
                if fresh {
                    self.stored.push(sha256.clone());
                }
                Ok(Fetched {
                    sha256,
                    size,
                    print,
                    png,
                })
            }
        }
    }
}

/// Whether the content is a PNG, and what the print-file reader makes of it.
fn inspect(file: &mut std::fs::File, hint: &str) -> std::io::Result<(PrintFacts, bool)> {
    let mut head = [0u8; 8];
    let n = file.read(&mut head)?;
    let png = n == PNG.len() && head == PNG;
    file.rewind()?;
    if png {
        return Ok((Err("it is an image, not a print file".into()), true));
    }
    let print = match pw_printfile::inspect(
        std::io::BufReader::new(&mut *file),
        Some(hint),
        &Limits::default(),
    ) {
        Ok(p) => Ok((p.kind().extension(), StoredMeta::from_file(&p).to_json())),
        Err(e) => {
            if matches!(e.kind(), pw_printfile::ErrorKind::Io) {
                return Err(std::io::Error::other(e.to_string()));
            }
            Err(e.to_string())
        }
    };
    Ok((print, false))
}

/// Opens `rel` below `root` (canonical) for reading, refusing any way out of `root`.
fn open_inside(root: &Path, rel: &str) -> Result<std::fs::File, Problem> {
    let path = Path::new(rel.trim());
    if rel.trim().is_empty() {
        return Err(Problem::Missing("no file is recorded for it".into()));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Problem::Unsafe(format!(
            "its path `{rel}` climbs out with `..`"
        )));
    }
    // Bambuddy stores paths relative to its data directory; older rows hold absolute paths,
    // which are taken only when they lie inside it too.
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    if path.is_absolute() && !joined.starts_with(root) {
        return Err(Problem::Unsafe(format!(
            "its path `{rel}` lies outside Bambuddy's data directory"
        )));
    }
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link is missing, not unsafe: nothing outside is read either way.
            return Err(Problem::Missing(format!("its file `{rel}` is missing")));
        }
        Err(_) => {
            return Err(Problem::Missing(format!(
                "its file `{rel}` could not be read"
            )));
        }
    };
    if !canonical.starts_with(root) {
        return Err(Problem::Unsafe(format!(
            "its path `{rel}` leads outside Bambuddy's data directory through a symbolic link"
        )));
    }
    let file = open_no_follow(&canonical)
        .map_err(|_| Problem::Missing(format!("its file `{rel}` could not be read")))?;
    let meta = file
        .metadata()
        .map_err(|_| Problem::Missing(format!("its file `{rel}` could not be read")))?;
    if !meta.is_file() {
        return Err(Problem::Unsafe(format!(
            "its path `{rel}` is not a regular file"
        )));
    }
    // A directory on the way swapped for a link between the check and the open: the
    // descriptor names where it really went.
    if let Some(real) = descriptor_path(&file)
        && !real.starts_with(root)
    {
        return Err(Problem::Unsafe(format!(
            "its path `{rel}` leads outside Bambuddy's data directory through a symbolic link"
        )));
    }
    Ok(file)
}

/// Opens without following a link in the last component.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW (Linux, and the same bit on the other Unix targets this builds for through
    // the standard library's own constant).
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const O_NOFOLLOW: i32 = 0o400_000;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const O_NOFOLLOW: i32 = 0x0100;

/// The path an open descriptor names (Linux `/proc`; `None` elsewhere).
fn descriptor_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// Tags as printwarden keeps them: trimmed, without control or invisible characters, at most
/// [`TAG_MAX`] characters, no duplicates (without case), at most [`TAGS_MAX`]. The number left
/// out is returned.
fn clean_tags(tags: &[String]) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = 0;
    for t in tags {
        let t = t.trim();
        if t.is_empty() || t.chars().count() > TAG_MAX || pw_domain::has_hidden_chars(t) {
            dropped += 1;
            continue;
        }
        if out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            continue;
        }
        if out.len() == TAGS_MAX {
            dropped += 1;
            continue;
        }
        out.push(t.to_owned());
    }
    (out, dropped)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(Box::new(e)))
}

/// `#FF8000` → `FF8000FF` (printwarden's `RRGGBBAA`).
fn colour(raw: &str) -> Option<String> {
    let hex = raw.trim().trim_start_matches('#');
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        6 => Some(format!("{}FF", hex.to_ascii_uppercase())),
        8 => Some(hex.to_ascii_uppercase()),
        _ => None,
    }
}

/// The source's filament facts as printwarden's list: one entry per material (the total
/// grams only when there is one material, since the source keeps no split).
fn filaments(f: &SourceFilament) -> Vec<FilamentUsed> {
    let kinds: Vec<String> = f
        .kind
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| k.chars().take(32).collect())
        .collect();
    let colours: Vec<Option<String>> = f
        .color
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(colour)
        .collect();
    let n = kinds.len().max(colours.len());
    let grams = f.grams.filter(|g| g.is_finite() && *g >= 0.0);
    if n == 0 {
        return grams
            .map(|g| FilamentUsed {
                slot: "unknown".into(),
                kind: None,
                color: None,
                grams: Some(g),
                meters: None,
            })
            .into_iter()
            .collect();
    }
    (0..n)
        .map(|i| FilamentUsed {
            slot: "unknown".into(),
            kind: kinds.get(i).cloned(),
            color: colours.get(i).cloned().flatten(),
            grams: if n == 1 { grams } else { None },
            meters: None,
        })
        .collect()
}

/// Where the content of a plan lands: the source's printers and users, mapped.
pub(super) struct Places {
    /// Source printer key → printer of this batch.
    pub new_printers: BTreeMap<String, usize>,
    /// Source printer key → printer here, with its name.
    pub printers_here: BTreeMap<String, (PrinterId, String)>,
    /// Source username → user here (imported now, or before and not changed since).
    pub users: BTreeMap<String, ImportRef<UserId>>,
}

impl Places {
    fn printer(&self, key: &str) -> Option<(ImportPrinterRef, Option<PrinterId>)> {
        self.new_printers
            .get(key)
            .map(|i| (ImportPrinterRef::New(*i), None))
            .or_else(|| {
                self.printers_here
                    .get(key)
                    .map(|(id, _)| (ImportPrinterRef::Existing(*id), Some(*id)))
            })
    }
}

/// A library file of the plan, for the queue.
#[derive(Debug, Clone)]
struct PlannedFile {
    file: ImportRef<LibraryFileId>,
    name: String,
    sha256: String,
    kind: &'static str,
    metadata: String,
}

impl App {
    /// Plans the archive entries, library folders and files, and queue items of `source`
    /// into `batch`, reading (and, unless a dry run, storing) their files through `files`.
    pub(super) async fn plan_content(
        &self,
        tool: ImportTool,
        source: &Source,
        places: &Places,
        batch: &mut ImportBatch,
        report: &mut ImportReport,
        files: &mut Files<'_>,
    ) -> Result<(), AppError> {
        let label = tool.label();
        // 1. Archive entries.
        let mut archive_refs: BTreeMap<String, (ImportRef<i64>, Option<Fetched>, String)> =
            BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut here = 0usize;
        for a in &source.archives {
            let printer = a.printer.as_deref().and_then(|k| places.printer(k));
            let printer_name = match (&printer, a.printer.as_deref()) {
                (Some((ImportPrinterRef::Existing(_), _)), Some(k)) => places
                    .printers_here
                    .get(k)
                    .map_or(a.printer_name.clone(), |(_, n)| n.clone()),
                _ => a.printer_name.clone(),
            };
            let file_name: String = a.file_name.chars().take(255).collect();
            let printer_key = match &printer {
                Some((ImportPrinterRef::New(i), _)) => format!("new:{i}"),
                Some((_, Some(id))) => format!("id:{}", id.get()),
                _ => format!("name:{printer_name}"),
            };
            if !seen.insert((printer_key, file_name.clone(), a.started_at)) {
                continue;
            }
            let exists = match &printer {
                Some((ImportPrinterRef::New(_), _)) => false,
                Some((_, existing)) => {
                    self.store
                        .imported_archive_exists(*existing, &printer_name, &file_name, a.started_at)
                        .await?
                }
                None => {
                    self.store
                        .imported_archive_exists(None, &printer_name, &file_name, a.started_at)
                        .await?
                }
            };
            if exists {
                here += 1;
                continue;
            }
            let what = format!(
                "{label} archive entry `{file_name}` ({} on {printer_name})",
                crate::rfc3339(a.started_at)
            );
            let mut refused = false;
            let mut file = None;
            if let Some(p) = &a.file_path {
                match files.fetch(p).await {
                    Ok(f) => file = Some(f),
                    Err(Problem::Unsafe(w)) => {
                        report.problems.push(format!("{what}: refused, {w}"));
                        refused = true;
                    }
                    Err(Problem::Missing(w)) => report
                        .problems
                        .push(format!("{what}: {w}; imported without it")),
                }
            }
            let mut thumbnail = None;
            if !refused && let Some(p) = &a.thumbnail_path {
                match files.fetch(p).await {
                    Ok(f) if f.png => thumbnail = Some(f.sha256),
                    Ok(_) => report.problems.push(format!(
                        "{what}: its plate image `{p}` is not a PNG; imported without it"
                    )),
                    Err(Problem::Unsafe(w)) => {
                        report.problems.push(format!("{what}: refused, {w}"));
                        refused = true;
                    }
                    Err(Problem::Missing(w)) => report
                        .problems
                        .push(format!("{what}: plate image: {w}; imported without it")),
                }
            }
            if refused {
                continue;
            }
            let (tags, dropped) = clean_tags(&a.tags);
            if dropped > 0 {
                report.problems.push(format!(
                    "{what}: {dropped} tag(s) too long, empty or with invisible characters left out"
                ));
            }
            let started_by = a
                .started_by
                .as_ref()
                .and_then(|u| places.users.get(u).copied());
            let index = batch.archives.len();
            archive_refs.insert(
                a.key.clone(),
                (ImportRef::New(index), file.clone(), file_name.clone()),
            );
            batch.archives.push(ImportArchive {
                printer: printer.map(|(r, _)| r),
                printer_name,
                file_name,
                started_at: a.started_at,
                ended_at: a.ended_at.max(a.started_at),
                outcome: a.outcome,
                started_by,
                started_by_name: a.started_by.clone().unwrap_or_default(),
                notes: a.notes.chars().take(NOTES_MAX).collect(),
                tags: json(&tags)?,
                filaments: json(&filaments(&a.filament))?,
                error: a.error.as_ref().map(|e| e.chars().take(500).collect()),
                file_sha256: file.map(|f| f.sha256),
                thumbnail_sha256: thumbnail,
            });
        }
        if here > 0 {
            report.skipped.push(format!(
                "{here} {label} archive entr(ies): an entry of the same printer, file and start \
                 exists here already"
            ));
        }
        if !batch.archives.is_empty() {
            let owned = batch
                .archives
                .iter()
                .filter(|a| a.started_by.is_some())
                .count();
            report.imported.push(format!(
                "{} finished print(s) into the archive, {owned} of them owned by the imported \
                 user who started them (the rest as started outside printwarden, with the name \
                 kept)",
                batch.archives.len()
            ));
        }

        // 2. Library folders: parents first; a folder of the same name under the same parent
        // is reused (merged), so a second run creates none.
        let mut folder_refs: BTreeMap<String, Option<ImportRef<LibraryFolderId>>> = BTreeMap::new();
        let by_key: BTreeMap<&str, &super::SourceFolder> =
            source.folders.iter().map(|f| (f.key.as_str(), f)).collect();
        for f in &source.folders {
            // The chain up to the top, to place parents before children; a loop (a corrupt
            // source) or a missing parent puts the folder at the top level.
            let mut chain = vec![f];
            let mut cursor = f.parent.as_deref();
            while let Some(k) = cursor {
                match by_key.get(k) {
                    Some(p) if !chain.iter().any(|c| c.key == p.key) => {
                        chain.push(p);
                        cursor = p.parent.as_deref();
                    }
                    _ => break,
                }
            }
            for folder in chain.into_iter().rev() {
                if folder_refs.contains_key(&folder.key) {
                    continue;
                }
                let parent = folder
                    .parent
                    .as_ref()
                    .and_then(|p| folder_refs.get(p).copied().flatten());
                let Ok(name) = folder_name(&folder.name) else {
                    report.problems.push(format!(
                        "{label} library folder `{}`: its name is not valid here (1–100 \
                         characters, no slashes); its files go to the folder above it",
                        folder.name
                    ));
                    folder_refs.insert(folder.key.clone(), parent);
                    continue;
                };
                let existing = match parent {
                    None => self.store.library_folder_named(None, &name).await?,
                    Some(ImportRef::Existing(id)) => {
                        self.store.library_folder_named(Some(id), &name).await?
                    }
                    Some(ImportRef::New(_)) => None,
                };
                let r = match existing {
                    Some(id) => ImportRef::Existing(id),
                    None => {
                        // Two source folders of one name under one parent become one here.
                        let twin = batch.folders.iter().position(|x| {
                            x.parent == parent && x.name.to_lowercase() == name.to_lowercase()
                        });
                        match twin {
                            Some(i) => ImportRef::New(i),
                            None => {
                                batch.folders.push(ImportFolder {
                                    parent,
                                    name: name.clone(),
                                });
                                ImportRef::New(batch.folders.len() - 1)
                            }
                        }
                    }
                };
                folder_refs.insert(folder.key.clone(), Some(r));
            }
        }
        if !batch.folders.is_empty() {
            report.imported.push(format!(
                "{} library folder(s) (folders of the same name here are reused)",
                batch.folders.len()
            ));
        }

        // 3. Library files.
        let mut planned: BTreeMap<String, PlannedFile> = BTreeMap::new();
        let mut here = 0usize;
        for l in &source.library {
            let what = format!("{label} library file `{}`", l.name);
            let Some(name) = clean_name(&l.name) else {
                report
                    .problems
                    .push(format!("{what}: it has no usable name; left out"));
                continue;
            };
            let fetched = match files.fetch(&l.path).await {
                Ok(f) => f,
                Err(p) => {
                    report.problems.push(format!(
                        "{what}: {}{}",
                        match p {
                            Problem::Unsafe(_) => "refused, ",
                            Problem::Missing(_) => "",
                        },
                        p.words()
                    ));
                    continue;
                }
            };
            let (kind, metadata) = match &fetched.print {
                Ok(k) => k.clone(),
                Err(why) => {
                    report.problems.push(format!(
                        "{what}: not a print file the library takes ({why}); left out"
                    ));
                    continue;
                }
            };
            let folder = l
                .folder
                .as_ref()
                .and_then(|k| folder_refs.get(k).copied().flatten());
            let existing = match folder {
                None => {
                    self.store
                        .imported_library_file(None, &name, &fetched.sha256)
                        .await?
                }
                Some(ImportRef::Existing(id)) => {
                    self.store
                        .imported_library_file(Some(id), &name, &fetched.sha256)
                        .await?
                }
                Some(ImportRef::New(_)) => None,
            };
            let twin = batch.library.iter().position(|x| {
                x.folder == folder
                    && x.name.to_lowercase() == name.to_lowercase()
                    && x.sha256 == fetched.sha256
            });
            let file = match (existing, twin) {
                (Some(id), _) => {
                    here += 1;
                    ImportRef::Existing(id)
                }
                (None, Some(i)) => ImportRef::New(i),
                (None, None) => {
                    let (tags, dropped) = clean_tags(&l.tags);
                    if dropped > 0 {
                        report.problems.push(format!(
                            "{what}: {dropped} tag(s) too long, empty or with invisible \
                             characters left out"
                        ));
                    }
                    let tags_key = tags
                        .iter()
                        .map(|t| t.to_lowercase())
                        .collect::<Vec<_>>()
                        .join("\n");
                    batch.library.push(ImportLibraryFile {
                        folder,
                        name: name.clone(),
                        kind,
                        size: i64::try_from(fetched.size).unwrap_or(i64::MAX),
                        sha256: fetched.sha256.clone(),
                        owner: l.owner.as_ref().and_then(|u| places.users.get(u).copied()),
                        owner_name: l.owner.clone(),
                        tags: json(&tags)?,
                        tags_key,
                        metadata: metadata.clone(),
                        created_at: l.created_at.unwrap_or_else(|| self.now()),
                    });
                    ImportRef::New(batch.library.len() - 1)
                }
            };
            planned.insert(
                l.key.clone(),
                PlannedFile {
                    file,
                    name,
                    sha256: fetched.sha256,
                    kind,
                    metadata,
                },
            );
        }
        if here > 0 {
            report.skipped.push(format!(
                "{here} {label} library file(s): a file of the same folder, name and content \
                 exists here already"
            ));
        }
        if !batch.library.is_empty() {
            report.imported.push(format!(
                "{} library file(s) with their uploader, folder and tags",
                batch.library.len()
            ));
        }

        // 4. Waiting queue items.
        let mut here = 0usize;
        for q in &source.queue {
            let what = format!("{label} queue item {}", q.key);
            let cannot = |why: String| format!("{what}: cannot be queued here: {why}; left out");
            // The content: the library file, or the archive entry it reprints.
            let (library_file, archive, sha256, file_name, kind, metadata) =
                match (&q.library_file, &q.archive) {
                    (Some(k), _) => match planned.get(k) {
                        Some(p) => (
                            Some(p.file),
                            None,
                            p.sha256.clone(),
                            p.name.clone(),
                            Some(p.kind),
                            p.metadata.clone(),
                        ),
                        None => {
                            report.problems.push(cannot(
                                "its library file was not imported (see above)".into(),
                            ));
                            continue;
                        }
                    },
                    (None, Some(k)) => match archive_refs.get(k) {
                        Some((r, Some(f), name)) => (
                            None,
                            Some(*r),
                            f.sha256.clone(),
                            name.clone(),
                            f.print.as_ref().ok().map(|p| p.0),
                            f.print.as_ref().map(|p| p.1.clone()).unwrap_or_default(),
                        ),
                        _ => {
                            report.problems.push(cannot(
                                "the archive entry it reprints was not imported now, or has no \
                                 file"
                                    .into(),
                            ));
                            continue;
                        }
                    },
                    (None, None) => {
                        report.problems.push(cannot("it names no file".into()));
                        continue;
                    }
                };
            if !matches!(kind, Some("gcode.3mf" | "gcode")) {
                report.problems.push(cannot(format!(
                    "`{file_name}` is not a sliced file (.gcode.3mf or .gcode)"
                )));
                continue;
            }
            let plate = q.plate.unwrap_or(1);
            let meta = StoredMeta::parse(&metadata);
            if u32::try_from(plate)
                .ok()
                .and_then(|p| meta.plate(p))
                .is_none()
            {
                report
                    .problems
                    .push(cannot(format!("`{file_name}` has no plate {plate}")));
                continue;
            }
            let target = match (&q.printer, &q.model, &q.location) {
                (Some(p), _, _) => match places.printer(p) {
                    Some((r, _)) => ImportQueueTarget::Printer(r),
                    None => {
                        report
                            .problems
                            .push(cannot("its printer is not in the source any more".into()));
                        continue;
                    }
                },
                (None, _, Some(loc)) => {
                    report.problems.push(cannot(format!(
                        "it is limited to the location `{loc}`, and locations are not imported \
                         (queueing it for every printer of the model would print elsewhere)"
                    )));
                    continue;
                }
                (None, Some(m), None) => {
                    let m = m.trim();
                    if m.is_empty()
                        || m.chars().count() > MODEL_MAX
                        || !m.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.')
                        })
                    {
                        report
                            .problems
                            .push(cannot(format!("its printer model `{m}` is not valid here")));
                        continue;
                    }
                    ImportQueueTarget::Model(m.to_uppercase())
                }
                (None, None, None) => {
                    report
                        .problems
                        .push(cannot("it names no printer and no model".into()));
                    continue;
                }
            };
            if q.manual_start {
                // Threat: printwarden's dispatcher starts a waiting item on the first free
                // printer; an item someone meant to start by hand must not print by itself.
                report.problems.push(cannot(
                    "it waits for a manual start in Bambuddy, and printwarden's queue starts \
                     items by itself; queue it again when it should print"
                        .into(),
                ));
                continue;
            }
            let created_at = q.created_at.unwrap_or(0);
            if self
                .store
                .imported_queue_item_exists(
                    &sha256,
                    &file_name,
                    created_at,
                    q.created_by.as_deref(),
                )
                .await?
            {
                here += 1;
                continue;
            }
            if q.ams_mapping {
                report.problems.push(format!(
                    "{what}: its filament-to-tray mapping is not carried over; one is proposed \
                     when it starts"
                ));
            }
            let options = PrintOptions {
                bed_levelling: q.bed_levelling,
                flow_calibration: q.flow_calibration,
                timelapse: q.timelapse,
                use_ams: q.use_ams,
            };
            batch.queue.push(ImportQueueItem {
                library_file,
                archive,
                file_sha256: sha256,
                file_name,
                plate,
                target,
                not_before: q.not_before,
                options: json(&options)?,
                created_by: q
                    .created_by
                    .as_ref()
                    .and_then(|u| places.users.get(u).copied()),
                created_by_name: q.created_by.clone(),
                created_at,
            });
        }
        if here > 0 {
            report
                .skipped
                .push(format!("{here} {label} queue item(s): queued here already"));
        }
        if !batch.queue.is_empty() {
            report.imported.push(format!(
                "{} waiting queue item(s), in their order, after the items queued here",
                batch.queue.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_out_of_the_data_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("data");
        std::fs::create_dir_all(root.join("archive/1")).unwrap();
        std::fs::write(root.join("archive/1/a.3mf"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("archive/link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("archive/dirlink")).unwrap();
        assert!(open_inside(&root, "archive/1/a.3mf").is_ok());
        let inside_abs = root.join("archive/1/a.3mf");
        assert!(open_inside(&root, inside_abs.to_str().unwrap()).is_ok());
        for (rel, unsafe_) in [
            ("../secret", true),
            ("archive/../../secret", true),
            ("/etc/passwd", true),
            ("archive/link", true),
            ("archive/dirlink/secret", true),
            ("archive/1", true),
            ("archive/nope.3mf", false),
            ("", false),
        ] {
            match open_inside(&root, rel) {
                Err(Problem::Unsafe(_)) => assert!(unsafe_, "{rel} refused as unsafe"),
                Err(Problem::Missing(_)) => assert!(!unsafe_, "{rel} only missing"),
                Ok(_) => panic!("{rel} was opened"),
            }
        }
    }

    #[test]
    fn filaments_and_tags_map_to_printwardens_words() {
        let one = filaments(&SourceFilament {
            grams: Some(12.5),
            kind: Some("PLA".into()),
            color: Some("#ff8000".into()),
        });
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].color.as_deref(), Some("FF8000FF"));
        assert_eq!(one[0].grams, Some(12.5));
        let two = filaments(&SourceFilament {
            grams: Some(20.0),
            kind: Some("PLA, PETG".into()),
            color: Some("#FFFFFF,#000000".into()),
        });
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|f| f.grams.is_none()));
        assert!(filaments(&SourceFilament::default()).is_empty());
        let (tags, dropped) = clean_tags(&[
            "a".into(),
            "A".into(),
            " ".into(),
            "x".repeat(65),
            "b\u{200b}".into(),
        ]);
        assert_eq!((tags, dropped), (vec!["a".to_owned()], 3));
    }
}
