//! A printer's SD card: the files a real printer keeps on its card, held on disk under the
//! simulator's state directory (`sdcard/<serial>/`), so uploads survive a restart as they do on
//! a printer. The layout follows the protocol notes (§1.7): the root (where slicers and
//! printwarden upload), `/cache` (jobs sent by Studio or the cloud), `/model`, `/timelapse`,
//! `/image`.
//!
//! Invariant: every name is resolved against the card's root with `.` and `..` taken
//! lexically and clamped at the root, so no name from a client reaches outside the card; the
//! simulator's own temporary upload files are never listed.

use std::path::{Path, PathBuf};

/// The directories a printer's card has from the start.
pub const STANDARD_DIRS: &[&str] = &["cache", "model", "timelapse", "image"];

/// Prefix of a partial upload's temporary file (hidden from listings).
const PARTIAL: &str = ".pw-partial-";

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name within its directory.
    pub name: String,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// A directory.
    pub dir: bool,
    /// Last modification, Unix seconds.
    pub modified: i64,
}

/// The card of one printer.
#[derive(Debug)]
pub(crate) struct SdCard {
    root: PathBuf,
}

/// A path on the card relative to its root (`""` = the root, `cache/x.gcode.3mf`), from a
/// client's argument resolved against the working directory `cwd` (itself such a path).
#[must_use]
pub fn resolve(cwd: &str, arg: &str) -> String {
    let mut parts: Vec<&str> = if arg.starts_with('/') {
        Vec::new()
    } else {
        cwd.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A card path from a `project_file` url: `ftp://<name>`, `ftp:///<path>`,
/// `file:///mnt/sdcard/<path>` (and `file:///sdcard/<path>`); `None` for anything a printer
/// cannot read from its own card (http, cloud…).
#[must_use]
pub fn path_from_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("ftp://")
        .or_else(|| url.strip_prefix("file:///mnt/sdcard"))
        .or_else(|| url.strip_prefix("file:///sdcard"))?;
    let path = resolve("", rest);
    (!path.is_empty()).then_some(path)
}

impl SdCard {
    /// Opens (and creates) the card at `root` with the standard directories.
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        for dir in STANDARD_DIRS {
            std::fs::create_dir_all(root.join(dir))?;
        }
        // A partial upload from a simulator that was killed is not a file.
        for entry in std::fs::read_dir(&root)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PARTIAL) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { root })
    }

    /// Where a card path lives on disk; `None` for a name that is not allowed on the card.
    fn disk(&self, path: &str) -> Option<PathBuf> {
        if path.contains('\0') || path.split('/').any(|p| p.starts_with(PARTIAL)) {
            return None;
        }
        Some(if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        })
    }

    fn meta(&self, path: &str) -> Option<std::fs::Metadata> {
        std::fs::metadata(self.disk(path)?).ok()
    }

    /// A file's size; `None` when there is no such file.
    pub fn size(&self, path: &str) -> Option<u64> {
        self.meta(path)
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
    }

    /// Whether `path` is a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        self.meta(path).is_some_and(|m| m.is_dir())
    }

    /// A file's bytes.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.size(path)?;
        std::fs::read(self.disk(path)?).ok()
    }

    /// The disk path of an existing file (for streaming it).
    pub fn file_path(&self, path: &str) -> Option<PathBuf> {
        self.size(path)?;
        self.disk(path)
    }

    /// The entries of a directory (`None` when it is not one), by name.
    pub fn list(&self, path: &str) -> Option<Vec<Entry>> {
        if !self.is_dir(path) {
            return None;
        }
        let mut out: Vec<Entry> = std::fs::read_dir(self.disk(path)?)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                if name.starts_with(PARTIAL) {
                    return None;
                }
                let meta = e.metadata().ok()?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok())
                    .unwrap_or_default();
                Some(Entry {
                    name,
                    size: if meta.is_dir() { 0 } else { meta.len() },
                    dir: meta.is_dir(),
                    modified,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Some(out)
    }

    /// Every file on the card (card paths), for indexing at start.
    pub fn all_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![String::new()];
        while let Some(dir) = todo.pop() {
            for e in self.list(&dir).unwrap_or_default() {
                let path = if dir.is_empty() {
                    e.name
                } else {
                    format!("{dir}/{}", e.name)
                };
                if e.dir {
                    todo.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// A temporary file in the card's root for an upload to `path`, whose directory must
    /// exist (as on a printer: no directories are created by an upload).
    pub fn partial(&self, path: &str, n: u64) -> Option<PathBuf> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if name.is_empty() || !self.is_dir(dir) || self.is_dir(path) {
            return None;
        }
        self.disk(path)?;
        Some(self.root.join(format!("{PARTIAL}{n}")))
    }

    /// Moves a finished upload into place.
    pub fn commit(&self, partial: &Path, path: &str) -> std::io::Result<()> {
        let target = self
            .disk(path)
            .ok_or_else(|| std::io::Error::other("name not allowed"))?;
        std::fs::rename(partial, target)
    }

    /// Writes a whole file, creating its directories (the test handle's upload).
    pub fn write(&self, path: &str, content: &[u8]) -> std::io::Result<()> {
        let target = self
            .disk(path)
            .filter(|_| !path.is_empty())
            .ok_or_else(|| std::io::Error::other("name not allowed"))?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = self.root.join(format!("{PARTIAL}w{}", std::process::id()));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, target)
    }

    /// Deletes a file; `false` when there was none.
    pub fn delete(&self, path: &str) -> bool {
        self.size(path).is_some()
            && self
                .disk(path)
                .is_some_and(|p| std::fs::remove_file(p).is_ok())
    }

    /// Last modification of a file, Unix seconds; `None` when there is no such file.
    pub fn modified(&self, path: &str) -> Option<i64> {
        let meta = self.meta(path).filter(std::fs::Metadata::is_file)?;
        let t = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        i64::try_from(t.as_secs()).ok()
    }

    /// Renames a file or directory within the card (the target's directory must exist and
    /// the target must not); `false` when it could not.
    pub fn rename(&self, from: &str, to: &str) -> bool {
        let (parent, name) = to.rsplit_once('/').unwrap_or(("", to));
        if from.is_empty() || name.is_empty() || !self.is_dir(parent) || self.meta(to).is_some() {
            return false;
        }
        match (self.disk(from), self.disk(to)) {
            (Some(a), Some(b)) if a.exists() => std::fs::rename(a, b).is_ok(),
            _ => false,
        }
    }

    /// Removes an empty directory (never the root); `false` when it could not.
    pub fn rmdir(&self, path: &str) -> bool {
        !path.is_empty()
            && self.is_dir(path)
            && self
                .disk(path)
                .is_some_and(|p| std::fs::remove_dir(p).is_ok())
    }

    /// Creates a directory in an existing one; `false` when it could not.
    pub fn mkdir(&self, path: &str) -> bool {
        let (parent, _) = path.rsplit_once('/').unwrap_or(("", path));
        !path.is_empty()
            && self.is_dir(parent)
            && self
                .disk(path)
                .is_some_and(|p| std::fs::create_dir(p).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_inside_the_card() {
        assert_eq!(resolve("", "a.gcode.3mf"), "a.gcode.3mf");
        assert_eq!(resolve("cache", "a.3mf"), "cache/a.3mf");
        assert_eq!(resolve("cache", "/model/a.3mf"), "model/a.3mf");
        assert_eq!(resolve("cache", "../../../../etc/passwd"), "etc/passwd");
        assert_eq!(resolve("", "./x/./../y"), "y");
        assert_eq!(
            path_from_url("ftp://cube.gcode.3mf").as_deref(),
            Some("cube.gcode.3mf")
        );
        assert_eq!(
            path_from_url("ftp:///cache/c.3mf").as_deref(),
            Some("cache/c.3mf")
        );
        assert_eq!(
            path_from_url("file:///mnt/sdcard/model/m.gcode.3mf").as_deref(),
            Some("model/m.gcode.3mf")
        );
        assert_eq!(path_from_url("https://example.com/a.3mf"), None);
        assert_eq!(path_from_url("ftp://"), None);
    }

    #[test]
    fn files_persist_on_disk_and_partials_stay_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let card = SdCard::open(dir.path().join("c")).unwrap();
        card.write("cache/a.gcode.3mf", b"abc").unwrap();
        let partial = card.partial("b.gcode.3mf", 1).unwrap();
        std::fs::write(&partial, b"half").unwrap();
        assert!(
            card.partial("nodir/b.gcode.3mf", 2).is_none(),
            "no such directory"
        );
        assert!(
            card.partial("cache", 3).is_none(),
            "a directory is not a file"
        );
        let root: Vec<_> = card.list("").unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(root, ["cache", "image", "model", "timelapse"]);
        let card = SdCard::open(dir.path().join("c")).unwrap();
        assert!(
            !partial.exists(),
            "a partial upload does not survive a restart"
        );
        assert_eq!(card.read("cache/a.gcode.3mf").unwrap(), b"abc");
        assert_eq!(card.size("cache/a.gcode.3mf"), Some(3));
        assert_eq!(card.all_files(), ["cache/a.gcode.3mf"]);
        assert!(card.mkdir("cache/sub") && !card.mkdir("none/sub"));
        assert!(card.delete("cache/a.gcode.3mf") && !card.delete("cache/a.gcode.3mf"));
        assert!(
            !card.delete("cache"),
            "directories are not deleted as files"
        );
    }
}
