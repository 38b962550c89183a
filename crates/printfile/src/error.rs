//! The one error type of this crate: a typed [`ErrorKind`] whose `Display` is a sentence a farm
//! operator can read, plus a private cause (library error text, offsets) that is only for logs and
//! never part of the displayed message.

use std::fmt;

/// What went wrong, as a type the caller can match on. The display text is plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is empty.
    #[error("The file is empty")]
    Empty,
    /// The content is neither a 3MF (ZIP), G-code nor STL file.
    #[error("This file is not a 3MF project, a G-code file or an STL model")]
    UnknownKind,
    /// A `.3mf` (by name) or an archive (by content) that is not a readable ZIP.
    #[error("This .3mf file is not a valid ZIP archive")]
    NotAZip,
    /// A ZIP archive holding neither a 3D model nor sliced plates.
    #[error("This ZIP archive is not a 3MF project: it holds no 3D model and no sliced plate")]
    NotA3mf,
    /// The ZIP structure is damaged or cut short.
    #[error("The archive is damaged or incomplete (was the upload cut short?)")]
    Corrupt,
    /// More entries than [`crate::Limits::max_entries`].
    #[error("The archive holds more than {limit} files; refused")]
    TooManyEntries { limit: usize },
    /// The entries together would expand past [`crate::Limits::max_total_uncompressed`].
    #[error("The archive would expand to more than {}; refused", human_bytes(*limit))]
    TooLarge { limit: u64 },
    /// One entry would expand past its cap.
    #[error("The file {name} inside the archive would expand to more than {}; refused", human_bytes(*limit))]
    EntryTooLarge { name: String, limit: u64 },
    /// One entry is compressed far better than real print files are: the shape of a zip bomb.
    #[error(
        "The file {name} inside the archive expands more than {limit} times its packed size, as zip bombs do; refused"
    )]
    CompressionRatio { name: String, limit: u64 },
    /// Several entries share their compressed bytes (an overlapping-entries zip bomb).
    #[error("Files inside the archive share their packed data, as zip bombs do; refused")]
    OverlappingEntries,
    /// An entry name that would escape a folder or is otherwise unsafe (`..`, absolute, `\`, NUL).
    #[error("The archive holds a file with an unsafe name ({name}); refused")]
    UnsafeEntryName { name: String },
    /// Two entries with the same name: readers would disagree about which one counts.
    #[error("The archive holds two files with the same name; refused")]
    DuplicateEntry,
    /// Password-protected entries: printers cannot read them either.
    #[error("The archive holds password-protected files, which printers cannot read")]
    Encrypted,
    /// A compression method other than Stored or Deflate.
    #[error("The file {name} inside the archive uses a compression method printers do not support")]
    UnsupportedCompression { name: String },
    /// An XML member that does not parse.
    #[error("{entry} inside the project is not valid XML")]
    MalformedXml { entry: String },
    /// A JSON member that does not parse.
    #[error("{entry} inside the project is not valid JSON")]
    MalformedJson { entry: String },
    /// An STL whose data ends before its triangles do.
    #[error("This STL file is incomplete: it ends before its last triangle")]
    StlTruncated,
    /// An STL that is neither valid ASCII nor valid binary STL.
    #[error("This STL file is damaged: {what}")]
    StlMalformed { what: &'static str },
    /// The reader failed (not the content's fault).
    #[error("The file could not be read")]
    Io,
}

/// An error: the typed kind (shown to people) and a private cause (for logs only).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    cause: Option<String>,
}

impl Error {
    /// An error of `kind` with no further cause.
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind, cause: None }
    }

    /// An error of `kind` remembering `cause` for the logs.
    pub fn with_cause(kind: ErrorKind, cause: impl fmt::Display) -> Self {
        Self {
            kind,
            cause: Some(cause.to_string()),
        }
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The technical cause (library error text), for logs only; never show it to a person as the
    /// reason: it can quote attacker-chosen bytes.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("cause", &self.cause)
            .finish()
    }
}

impl std::error::Error for Error {}

/// `2 GiB`, `512 MiB`, `64 KiB`, `100 bytes`: limits are round numbers, printed as such.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

/// An entry name made safe to put into a message: control characters escaped, at most 80 chars.
pub(crate) fn display_name(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_print_as_round_numbers() {
        assert_eq!(human_bytes(2 << 30), "2 GiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(100), "100 bytes");
        let e = Error::with_cause(ErrorKind::TooLarge { limit: 2 << 30 }, "declared 9999");
        assert_eq!(
            e.to_string(),
            "The archive would expand to more than 2 GiB; refused"
        );
        assert_eq!(e.cause(), Some("declared 9999"));
    }

    #[test]
    fn names_in_messages_are_escaped_and_short() {
        assert_eq!(display_name(b"a\0b"), "a\\u{0}b");
        assert_eq!(display_name(&[b'x'; 200]).chars().count(), 81);
    }
}
