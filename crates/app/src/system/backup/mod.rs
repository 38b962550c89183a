//! Encrypted backups: one file in the age format (a passphrase through scrypt, or an age public
//! key; then ChaCha20-Poly1305 STREAM) holding a tar archive of
//!
//! - `printwarden-backup.json`, the cover (first): format and app version, schema, backend,
//!   and whether the sealing key is inside;
//! - `db/NNNN-<table>/NNNNNN.jsonl`: every table as JSON lines (one array of values per row,
//!   in the manifest's column order), parents first, in chunks of at most [`CHUNK_BYTES`];
//! - `files/blobs/ab/cd/<sha256>`: the library and archive content;
//! - `files/tls/<name>`: the certificate authority and certificates;
//! - `files/secret.key`: the sealing key, **only** when the operator asked for it;
//! - `manifest.json` (last): versions, tables with their columns, row counts and id
//!   sequences, and the size and SHA-256 of every entry.
//!
//! Anyone can inspect a backup with standard tools: `age -d backup.pwbk | tar tv`.
//!
//! Invariants: the sealing key is never written unless [`CreateOptions::include_key`]; nothing
//! is held whole in memory (blobs are streamed, tables are chunked); a reader checks every
//! entry's name against the closed list above **before** it reads the entry and builds every
//! path it writes from the checked parts, never from the name itself (ZipSlip impossible by
//! construction); only regular files are accepted (no links, devices or directories); a name
//! appears once. A restore verifies the whole archive first and writes nothing before that.

mod apply;
mod create;
mod download;
mod journal;
mod names;
mod read;
mod restore;
mod schedule;
mod seal;
mod web_restore;

pub use apply::{AppliedRestore, RestoreStep, apply_staged_restore};
pub use create::{BackupSummary, CreateOptions, create_backup};
pub use download::{BackupBody, BackupDownload, BackupRequest};
pub use journal::{Recovered, recover_interrupted_restore, restore_interrupted};
pub use read::{Verified, verify_backup};
pub use restore::{RestoreDatabase, RestoreSummary, RestoreTarget, restore_backup};
pub use schedule::{
    BackupScheduleInput, BackupScheduleView, SCHEDULE_SETTING, ScheduledBackup, ScheduledRun,
    VerifyScheduledInput, VerifyScheduledOutcome, check_backup_dir, is_schedule_file,
};
pub use seal::{BackupIdentity, BackupRecipient, Opening, Sealing};
pub use web_restore::{
    PendingRestore, RESTORE_DIR, RESTORE_MAX_BYTES, RestoreAccepted, RestoreConfirm, RestoreCover,
    RestoreOpen, RestoreOutcome, RestoreStatus, UPLOAD_FILE, WebRestore,
};

use serde::{Deserialize, Serialize};

/// The archive format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The blob store's directory under the data directory (the server's `LIBRARY_BLOB_DIR`).
pub const BLOB_DIR: &str = "blobs";
/// The TLS directory under the data directory.
pub const TLS_DIR: &str = "tls";
/// The sealing key's file under the data directory.
pub const KEY_FILE: &str = "secret.key";
/// The cover's name (the first entry).
pub const COVER: &str = "printwarden-backup.json";
/// The manifest's name (the last entry).
pub const MANIFEST: &str = "manifest.json";
/// A table's rows are cut into entries of about this size.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// The shortest passphrase a new backup accepts.
pub const MIN_PASSPHRASE: usize = 12;

/// What a backup says about itself on its first entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cover {
    /// Always `printwarden-backup`.
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The printwarden version that wrote it.
    pub app_version: String,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The applied migrations.
    pub schema_versions: Vec<i64>,
    /// Whether `files/secret.key` is inside.
    pub includes_sealing_key: bool,
    /// A sentence for a person reading the cover.
    pub note: String,
}

/// One table in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestTable {
    /// Table name.
    pub name: String,
    /// `[name, kind]` per column, in the order of each row's values.
    pub columns: Vec<(String, String)>,
    /// Number of rows.
    pub rows: u64,
    /// The entries holding them, in order.
    pub chunks: Vec<String>,
}

/// One entry's size and checksum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Entry name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The last entry: everything needed to check and restore the rest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always `printwarden-backup`.
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The printwarden version that wrote it.
    pub app_version: String,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The applied migrations.
    pub schema_versions: Vec<i64>,
    /// Whether `files/secret.key` is inside.
    pub includes_sealing_key: bool,
    /// Tables, parents first.
    pub tables: Vec<ManifestTable>,
    /// The last id each table had handed out.
    pub sequences: Vec<(String, i64)>,
    /// Every entry but the manifest, in archive order.
    pub entries: Vec<ManifestEntry>,
    /// Content the snapshot names but the blob store no longer had when it was copied (deleted
    /// by a purge during the backup).
    pub missing_blobs: Vec<String>,
}

/// Why a backup, verification or restore stopped. Every message is plain words for the
/// operator; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The passphrase is missing, too short or wrong.
    #[error("{0}")]
    Passphrase(String),
    /// The archive is not a backup, is damaged, or contains something refused.
    #[error("{0}")]
    Refused(String),
    /// The target of a restore is not usable (not empty, in use, newer schema).
    #[error("{0}")]
    Target(String),
    /// Reading or writing files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] pw_store::StoreError),
}

impl BackupError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| BackupError::Io { what, source }
    }
}

/// Checks a new backup's passphrase.
pub fn check_new_passphrase(passphrase: &str) -> Result<(), BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::Passphrase(format!(
            "the passphrase must be at least {MIN_PASSPHRASE} characters long"
        )));
    }
    Ok(())
}
