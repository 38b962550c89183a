//! The ZIP layer with limits: opens an archive only after its central directory passes every
//! check (entry count, names, methods, declared sizes and ratios, overlapping data), then inflates
//! members only through a counting reader that stops at the first byte past a cap — so a member
//! that lies about its size is refused before more than `cap + 1` bytes of it exist in memory.
//! No name from the archive is ever used as a path; names are only compared as strings.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use zip::{CompressionMethod, ZipArchive, result::ZipError};

use crate::Limits;
use crate::error::{Error, ErrorKind, display_name};

/// One member of the archive as its central directory declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The member's name (forward slashes, checked safe).
    pub name: String,
    /// Declared packed size in bytes.
    pub compressed_size: u64,
    /// Declared inflated size in bytes.
    pub size: u64,
    index: usize,
}

/// An open archive whose directory passed the checks; members are read through [`Counting`].
pub(crate) struct SafeArchive<R: Read + Seek> {
    zip: ZipArchive<R>,
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    limits: Limits,
    /// Bytes inflated by metadata reads so far (the verification pass counts separately).
    inflated: u64,
}

impl<R: Read + Seek> std::fmt::Debug for SafeArchive<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeArchive")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// True when the bytes start like a ZIP archive (a local file header or an empty archive).
pub(crate) fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

fn zip_error(e: ZipError) -> Error {
    match e {
        ZipError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            Error::with_cause(ErrorKind::Corrupt, io)
        }
        ZipError::Io(io) => Error::with_cause(ErrorKind::Io, io),
        ZipError::UnsupportedArchive(what) if what.contains("assword") => {
            Error::with_cause(ErrorKind::Encrypted, what)
        }
        other => Error::with_cause(ErrorKind::Corrupt, other),
    }
}

/// Why an entry name is unsafe, or `None` when it is fine.
pub(crate) fn unsafe_name(raw: &[u8], max_len: usize) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("empty name");
    }
    if raw.len() > max_len {
        return Some("name too long");
    }
    if raw.contains(&0) {
        return Some("NUL in name");
    }
    if raw.contains(&b'\\') {
        return Some("backslash in name");
    }
    if raw.starts_with(b"/") {
        return Some("absolute name");
    }
    if raw.len() >= 2 && raw[1] == b':' && raw[0].is_ascii_alphabetic() {
        return Some("drive letter in name");
    }
    if raw.split(|b| *b == b'/').any(|part| part == b"..") {
        return Some("`..` in name");
    }
    None
}

impl<R: Read + Seek> SafeArchive<R> {
    /// Open and check the directory. Nothing is inflated here.
    pub(crate) fn open(mut reader: R, limits: &Limits) -> Result<Self, Error> {
        let mut head = [0u8; 4];
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::with_cause(ErrorKind::Io, e))?;
        let got =
            read_up_to(&mut reader, &mut head).map_err(|e| Error::with_cause(ErrorKind::Io, e))?;
        if !looks_like_zip(&head[..got]) {
            return Err(Error::with_cause(
                ErrorKind::NotAZip,
                "no ZIP signature at offset 0",
            ));
        }
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::with_cause(ErrorKind::Io, e))?;
        let mut zip = ZipArchive::new(reader).map_err(zip_error)?;
        if zip.len() > limits.max_entries {
            return Err(Error::with_cause(
                ErrorKind::TooManyEntries {
                    limit: limits.max_entries,
                },
                format!("{} entries", zip.len()),
            ));
        }
        if zip.has_duplicate_names() {
            return Err(Error::new(ErrorKind::DuplicateEntry));
        }
        let mut entries = Vec::with_capacity(zip.len());
        let mut by_name = HashMap::with_capacity(zip.len());
        let mut total: u64 = 0;
        for index in 0..zip.len() {
            let data = zip.by_index_data(index).map_err(zip_error)?;
            let raw = data.name_raw();
            if let Some(why) = unsafe_name(raw, limits.max_name_len) {
                return Err(Error::with_cause(
                    ErrorKind::UnsafeEntryName {
                        name: display_name(raw),
                    },
                    why,
                ));
            }
            let name = String::from_utf8_lossy(raw).into_owned();
            if data.encrypted() {
                return Err(Error::with_cause(ErrorKind::Encrypted, name));
            }
            if !matches!(
                data.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                return Err(Error::with_cause(
                    ErrorKind::UnsupportedCompression {
                        name: display_name(raw),
                    },
                    format!("{:?}", data.compression()),
                ));
            }
            let (size, packed) = (data.size(), data.compressed_size());
            if size > limits.max_entry_uncompressed {
                return Err(Error::with_cause(
                    ErrorKind::EntryTooLarge {
                        name: display_name(raw),
                        limit: limits.max_entry_uncompressed,
                    },
                    format!("declares {size} bytes"),
                ));
            }
            if size > limits.ratio_floor && size / packed.max(1) > limits.max_ratio {
                return Err(Error::with_cause(
                    ErrorKind::CompressionRatio {
                        name: display_name(raw),
                        limit: limits.max_ratio,
                    },
                    format!("declares {size} bytes from {packed}"),
                ));
            }
            total = total.saturating_add(size);
            if total > limits.max_total_uncompressed {
                return Err(Error::with_cause(
                    ErrorKind::TooLarge {
                        limit: limits.max_total_uncompressed,
                    },
                    format!("declared total passes {total} at entry {index}"),
                ));
            }
            by_name.insert(name.clone(), entries.len());
            entries.push(Entry {
                name,
                compressed_size: packed,
                size,
                index,
            });
        }
        if by_name.len() != entries.len() {
            // Two raw names that decode to the same text.
            return Err(Error::new(ErrorKind::DuplicateEntry));
        }
        if zip.has_overlapping_files().map_err(zip_error)? {
            return Err(Error::new(ErrorKind::OverlappingEntries));
        }
        Ok(Self {
            zip,
            entries,
            by_name,
            limits: limits.clone(),
            inflated: 0,
        })
    }

    /// Every member, in directory order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The member called `name`, if present (exact, case-sensitive).
    pub(crate) fn entry(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).and_then(|i| self.entries.get(*i))
    }

    /// Inflate every member once through the counting reader (CRC checked by the ZIP reader), so
    /// a member lying about its size is caught even if nothing else reads it.
    pub(crate) fn verify_all(&mut self) -> Result<(), Error> {
        let mut total: u64 = 0;
        let mut sink = vec![0u8; 64 << 10];
        for i in 0..self.entries.len() {
            let entry = self.entries[i].clone();
            let remaining = self.limits.max_total_uncompressed.saturating_sub(total);
            let (cap, over) = if remaining < self.limits.max_entry_uncompressed {
                (
                    remaining,
                    ErrorKind::TooLarge {
                        limit: self.limits.max_total_uncompressed,
                    },
                )
            } else {
                (
                    self.limits.max_entry_uncompressed,
                    ErrorKind::EntryTooLarge {
                        name: display_name(entry.name.as_bytes()),
                        limit: self.limits.max_entry_uncompressed,
                    },
                )
            };
            let file = self.zip.by_index(entry.index).map_err(zip_error)?;
            let mut counting = Counting::new(file, &entry, cap, over, &self.limits);
            loop {
                match counting.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(counting.fail(e)),
                }
            }
            if counting.count != entry.size {
                return Err(Error::with_cause(
                    ErrorKind::Corrupt,
                    format!(
                        "{} declares {} bytes, holds {}",
                        entry.name, entry.size, counting.count
                    ),
                ));
            }
            total += counting.count;
        }
        Ok(())
    }

    /// Run `f` over the inflated member `name`, reading at most `cap` bytes of it: reading past
    /// `cap` fails `f`'s read with the cap's error ([`ErrorKind::EntryTooLarge`]).
    pub(crate) fn with_entry<T>(
        &mut self,
        name: &str,
        cap: u64,
        f: impl FnOnce(&mut dyn BufRead) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(entry) = self.entry(name).cloned() else {
            return Err(Error::with_cause(
                ErrorKind::Corrupt,
                format!("{name} vanished"),
            ));
        };
        let remaining = self
            .limits
            .max_total_uncompressed
            .saturating_sub(self.inflated);
        let (cap, over) = if remaining < cap {
            (
                remaining,
                ErrorKind::TooLarge {
                    limit: self.limits.max_total_uncompressed,
                },
            )
        } else {
            (
                cap,
                ErrorKind::EntryTooLarge {
                    name: display_name(name.as_bytes()),
                    limit: cap,
                },
            )
        };
        let file = self.zip.by_index(entry.index).map_err(zip_error)?;
        let mut buffered = BufReader::with_capacity(
            16 << 10,
            Counting::new(file, &entry, cap, over, &self.limits),
        );
        let result = f(&mut buffered);
        let counting = buffered.into_inner();
        self.inflated = self.inflated.saturating_add(counting.count);
        match (result, counting.hit) {
            (_, Some(kind)) => Err(Error::with_cause(
                kind,
                format!("{name}: {} bytes read", counting.count),
            )),
            (result, None) => result,
        }
    }

    /// The whole member, refused when it inflates past `cap`.
    pub(crate) fn read_all(&mut self, name: &str, cap: u64) -> Result<Vec<u8>, Error> {
        self.with_entry(name, cap, |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map_err(read_error)?;
            Ok(out)
        })
    }

    /// At most the first `n` bytes of a member (a longer member is not an error).
    pub(crate) fn read_prefix(&mut self, name: &str, n: u64) -> Result<Vec<u8>, Error> {
        let cap = self.limits.max_entry_uncompressed;
        self.with_entry(name, cap, |r| {
            let mut out = Vec::new();
            r.take(n).read_to_end(&mut out).map_err(read_error)?;
            Ok(out)
        })
    }
}

/// An IO error while inflating: damaged data (bad deflate stream, CRC mismatch, truncation).
pub(crate) fn read_error(e: io::Error) -> Error {
    Error::with_cause(ErrorKind::Corrupt, e)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Counts inflated bytes and stops at the first byte past `cap`, or when the running ratio to the
/// declared packed size passes the limit. The ZIP reader never hands out more packed bytes than
/// declared, so `count / declared packed` is a lower bound of the true ratio.
struct Counting<R> {
    inner: R,
    count: u64,
    cap: u64,
    over: ErrorKind,
    packed: u64,
    ratio_floor: u64,
    max_ratio: u64,
    name: String,
    hit: Option<ErrorKind>,
}

impl<R: Read> Counting<R> {
    fn new(inner: R, entry: &Entry, cap: u64, over: ErrorKind, limits: &Limits) -> Self {
        Self {
            inner,
            count: 0,
            cap,
            over,
            packed: entry.compressed_size,
            ratio_floor: limits.ratio_floor,
            max_ratio: limits.max_ratio,
            name: entry.name.clone(),
            hit: None,
        }
    }

    fn fail(&self, e: io::Error) -> Error {
        match &self.hit {
            Some(kind) => Error::with_cause(
                kind.clone(),
                format!("{}: {} bytes read", self.name, self.count),
            ),
            None => read_error(e),
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hit.is_some() {
            return Err(io::Error::other("limit reached"));
        }
        // One byte past the cap is allowed in, so "exactly cap" and "more than cap" differ.
        let allowed = self.cap.saturating_sub(self.count).saturating_add(1);
        let n = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.count = self.count.saturating_add(got as u64);
        if self.count > self.cap {
            self.hit = Some(self.over.clone());
            return Err(io::Error::other("limit reached"));
        }
        if self.count > self.ratio_floor && self.count / self.packed.max(1) > self.max_ratio {
            self.hit = Some(ErrorKind::CompressionRatio {
                name: display_name(self.name.as_bytes()),
                limit: self.max_ratio,
            });
            return Err(io::Error::other("limit reached"));
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(packed: u64) -> Entry {
        Entry {
            name: "m".into(),
            compressed_size: packed,
            size: 1,
            index: 0,
        }
    }

    fn drain(mut r: impl Read) -> io::Result<u64> {
        io::copy(&mut r, &mut io::sink())
    }

    #[test]
    fn counting_stops_one_byte_past_the_cap() {
        let limits = Limits::default();
        let over = ErrorKind::EntryTooLarge {
            name: "m".into(),
            limit: 1000,
        };
        let mut c = Counting::new(
            io::repeat(7).take(1000),
            &entry(1000),
            1000,
            over.clone(),
            &limits,
        );
        assert_eq!(drain(&mut c).ok(), Some(1000));
        assert_eq!(c.hit, None);
        let mut c = Counting::new(
            io::repeat(7).take(1_000_000),
            &entry(1_000_000),
            1000,
            over.clone(),
            &limits,
        );
        assert!(drain(&mut c).is_err());
        assert_eq!((c.count, c.hit), (1001, Some(over)));
    }

    #[test]
    fn counting_stops_when_the_running_ratio_passes_the_limit() {
        let limits = Limits::default();
        let over = ErrorKind::EntryTooLarge {
            name: "m".into(),
            limit: u64::MAX,
        };
        let mut c = Counting::new(io::repeat(0), &entry(10_000), u64::MAX - 1, over, &limits);
        assert!(drain(&mut c).is_err());
        assert_eq!(
            c.hit,
            Some(ErrorKind::CompressionRatio {
                name: "m".into(),
                limit: 200
            })
        );
        // Stopped within one read of the threshold, never near the unbounded source's end.
        assert!(c.count <= 10_000 * 201 + (64 << 10), "{}", c.count);
    }

    #[test]
    fn names_that_escape_or_confuse_are_unsafe() {
        for bad in [
            &b""[..],
            b"../etc/passwd",
            b"Metadata/../../x",
            b"/abs",
            b"C:/x",
            b"a\\b",
            b"a\0b",
            b"..",
        ] {
            assert!(unsafe_name(bad, 1024).is_some(), "{bad:?}");
        }
        for good in [
            &b"Metadata/plate_1.gcode"[..],
            b"3D/3dmodel.model",
            b"a..b/c",
            b"[Content_Types].xml",
        ] {
            assert!(unsafe_name(good, 1024).is_none(), "{good:?}");
        }
        assert!(unsafe_name(&[b'a'; 20], 10).is_some());
    }
}
