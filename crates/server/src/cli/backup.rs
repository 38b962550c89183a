//! `printwarden backup create|verify|restore`: encrypted backups of the database, the library
//! and archive content and the TLS material (format in `pw_app::backup`).
//!
//! The passphrase comes from `--passphrase-file` (first line) or `PRINTWARDEN_BACKUP_PASSPHRASE`,
//! never from an argument (threat: process arguments are visible to every local user). Instead
//! of a passphrase, `create --recipient age1…` seals to an age public key (not secret, so an
//! argument is fine) and `verify|restore --identity FILE` opens with its secret key file. `create`
//! works while the server runs (one read transaction); `restore` refuses a data directory a
//! running server holds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use pw_app::SecretString;
use pw_app::backup::{
    BackupError, BackupIdentity, BackupRecipient, CreateOptions, Opening, RestoreDatabase,
    RestoreTarget, Sealing, create_backup, restore_backup, verify_backup,
};
use pw_credentials::SealingKey;

use crate::config::Settings;

/// The environment variable that may carry the passphrase.
pub const PASSPHRASE_ENV: &str = "PRINTWARDEN_BACKUP_PASSPHRASE";

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Write an encrypted backup (database, library and archive files, TLS material) to FILE
    /// while the server runs. The passphrase comes from --passphrase-file or
    /// PRINTWARDEN_BACKUP_PASSPHRASE; or --recipient seals it to an age public key instead. The
    /// sealing key is left out unless --include-key.
    Create {
        /// The backup file to write (must not exist yet).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Read the passphrase from the first line of this file.
        #[arg(long, value_name = "F", conflicts_with = "recipient")]
        passphrase_file: Option<PathBuf>,
        /// Seal to this age public key (age1… from age-keygen) instead of a passphrase; only
        /// its identity file opens the backup.
        #[arg(long, value_name = "AGE1")]
        recipient: Option<String>,
        /// Also put the sealing key inside (the cover then says so).
        #[arg(long)]
        include_key: bool,
    },
    /// Decrypt a backup and check its manifest and every entry's checksum, writing nothing.
    Verify {
        /// The backup file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Read the passphrase from the first line of this file.
        #[arg(long, value_name = "F", conflicts_with = "identity")]
        passphrase_file: Option<PathBuf>,
        /// Open a backup sealed to a public key with this age identity file.
        #[arg(long, value_name = "F")]
        identity: Option<PathBuf>,
    },
    /// With the server stopped: verify a backup, then restore it into the data directory
    /// (--data-dir; a non-empty one is replaced atomically and kept beside it) and an empty
    /// database (--database-url, else the configured one).
    Restore {
        /// The backup file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The database to restore into (must be empty); default: the configured database.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Read the passphrase from the first line of this file.
        #[arg(long, value_name = "F", conflicts_with = "identity")]
        passphrase_file: Option<PathBuf>,
        /// Open a backup sealed to a public key with this age identity file.
        #[arg(long, value_name = "F")]
        identity: Option<PathBuf>,
    },
}

fn passphrase(file: Option<&Path>) -> Result<SecretString, String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the passphrase file {}: {e}", file.display()))?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.is_empty() {
            return Err(format!("the passphrase file {} is empty", file.display()));
        }
        return Ok(SecretString::new(line));
    }
    match std::env::var(PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => Ok(SecretString::new(p)),
        _ => Err(format!(
            "no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV}"
        )),
    }
}

/// How to open a backup: the identity file if given, else the passphrase.
fn opening(passphrase_file: Option<&Path>, identity: Option<&Path>) -> Result<Opening, String> {
    let Some(identity) = identity else {
        return passphrase(passphrase_file).map(Opening::Passphrase);
    };
    let text = std::fs::read_to_string(identity).map_err(|e| {
        format!(
            "cannot read the identity file {}: {}",
            identity.display(),
            e.kind()
        )
    })?;
    BackupIdentity::parse_file(&text)
        .map(Opening::Identities)
        .map_err(|e| format!("{}: {e}", identity.display()))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "printwarden: {message}");
    ExitCode::FAILURE
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "printwarden: {message}");
    ExitCode::from(2)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) async fn backup(settings: Settings, action: BackupAction) -> ExitCode {
    match action {
        BackupAction::Create {
            out,
            passphrase_file,
            recipient,
            include_key,
        } => {
            let sealing = match recipient {
                Some(r) => r.parse::<BackupRecipient>().map(Sealing::Recipient),
                None => match passphrase(passphrase_file.as_deref()) {
                    Ok(p) => Sealing::passphrase(p),
                    Err(e) => return usage(e),
                },
            };
            match sealing {
                Ok(sealing) => create(&settings, &out, &sealing, include_key).await,
                Err(e) => usage(e),
            }
        }
        BackupAction::Verify {
            file,
            passphrase_file,
            identity,
        } => match opening(passphrase_file.as_deref(), identity.as_deref()) {
            Ok(opening) => verify(&file, opening).await,
            Err(e) => usage(e),
        },
        BackupAction::Restore {
            file,
            database_url,
            passphrase_file,
            identity,
        } => match opening(passphrase_file.as_deref(), identity.as_deref()) {
            Ok(opening) => restore(&settings, &file, database_url, &opening).await,
            Err(e) => usage(e),
        },
    }
}

/// The sealing key to put inside, read without creating one: the configured key, else
/// `<data>/secret.key`.
fn key_to_include(settings: &Settings) -> Result<SealingKey, String> {
    if let Some(key) = &settings.secret_key {
        return Ok(key.clone());
    }
    let path = settings.data_dir.join(crate::serve::keys::KEY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "--include-key: there is no sealing key to include ({}: {e})",
            path.display()
        )
    })?;
    SealingKey::from_base64(&text)
        .map_err(|e| format!("--include-key: {} is not a valid key: {e}", path.display()))
}

async fn create(settings: &Settings, out: &Path, sealing: &Sealing, include_key: bool) -> ExitCode {
    let include_key = if include_key {
        match key_to_include(settings) {
            Ok(k) => Some(k),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    if out.exists() {
        return fail(format!(
            "{} exists; choose another file name",
            out.display()
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // Written next to its final name and moved there only when complete.
    let temp = match tempfile::Builder::new()
        .prefix(".printwarden-backup-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(&parent)
    {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot create a file in {}: {e}", parent.display())),
    };
    let writer = match temp.reopen() {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot write in {}: {e}", parent.display())),
    };
    let started = Instant::now();
    let store = match pw_store::Store::connect(settings.database_url.expose()).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot open the database: {e}")),
    };
    match store.applied_versions().await {
        Ok(v) if v.is_empty() => {
            store.close().await;
            return fail("the database has no printwarden schema yet: nothing to back up");
        }
        Ok(_) => {}
        Err(e) => {
            store.close().await;
            return fail(format!("cannot read the database: {e}"));
        }
    }
    let options = CreateOptions {
        data_dir: settings.data_dir.clone(),
        include_key,
        app_version: crate::VERSION.to_owned(),
        created_at_ms: now_ms(),
    };
    let result = create_backup(&store, &options, sealing, Box::new(writer)).await;
    store.close().await;
    let summary = match result {
        Ok(s) => s,
        Err(e) => return fail(format!("backup failed: {e}")),
    };
    if let Err(e) = temp.persist_noclobber(out) {
        return fail(format!(
            "cannot put the backup at {}: {}",
            out.display(),
            e.error
        ));
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let rows: u64 = summary.tables.iter().map(|(_, n)| n).sum();
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "backup written to {}, sealed with {}: {} tables, {rows} rows, {} content files, {} TLS \
         files; {size} bytes ({} before encryption) in {:.1} s",
        out.display(),
        sealing.describe(),
        summary.tables.len(),
        summary.blobs,
        summary.tls_files,
        summary.content_bytes,
        started.elapsed().as_secs_f64()
    );
    if summary.includes_sealing_key {
        let _ = writeln!(
            stdout,
            "the sealing key IS inside this backup: keep it as carefully as the server"
        );
    } else {
        let _ = writeln!(
            stdout,
            "the sealing key is not inside: keep secret.key (or PRINTWARDEN_SECRET_KEY) safe separately"
        );
    }
    if !summary.missing_blobs.is_empty() {
        let _ = writeln!(
            stdout,
            "note: {} content files named by the database were deleted while the backup ran (listed in its manifest)",
            summary.missing_blobs.len()
        );
    }
    ExitCode::SUCCESS
}

async fn verify(file: &Path, pass: Opening) -> ExitCode {
    let input = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot open {}: {e}", file.display())),
    };
    let started = Instant::now();
    let verified = tokio::task::spawn_blocking(move || verify_backup(input, &pass)).await;
    let verified = match verified {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(format!("{} is not a good backup: {e}", file.display())),
        Err(e) => return fail(format!("verification stopped: {e}")),
    };
    let m = &verified.manifest;
    let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{}: good — printwarden {} backup of {} (schema {}), taken {}; {} tables, {rows} rows, {} entries; \
         every checksum matches ({:.1} s)",
        file.display(),
        m.app_version,
        m.backend,
        m.schema_versions.last().copied().unwrap_or(0),
        m.created_at,
        m.tables.len(),
        m.entries.len() + 1,
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "sealing key inside: {}",
        if m.includes_sealing_key { "YES" } else { "no" }
    );
    match &verified.restorable {
        Ok(()) => {
            let _ = writeln!(out, "this printwarden can restore it");
        }
        Err(why) => {
            let _ = writeln!(out, "this printwarden cannot restore it: {why}");
        }
    }
    ExitCode::SUCCESS
}

/// Refuses a data directory that a running server holds (its `.lock`).
fn refuse_running_server(dir: &Path) -> Result<(), String> {
    let lock = dir.join(".lock");
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&lock) else {
        return Ok(());
    };
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "a printwarden server is running on {}; stop it before restoring",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot check {}: {e}", lock.display()))
        }
    }
}

async fn restore(
    settings: &Settings,
    file: &Path,
    database_url: Option<String>,
    pass: &Opening,
) -> ExitCode {
    if let Err(e) = refuse_running_server(&settings.data_dir) {
        return fail(e);
    }
    let default_url = format!(
        "sqlite://{}?mode=rwc",
        settings.data_dir.join("printwarden.db").display()
    );
    let database = match database_url {
        Some(url) => RestoreDatabase::Url(SecretString::new(url)),
        None if settings.database_url.expose() == default_url => RestoreDatabase::InDataDir,
        None => RestoreDatabase::Url(SecretString::new(settings.database_url.expose().to_owned())),
    };
    let target = RestoreTarget {
        data_dir: settings.data_dir.clone(),
        database,
        now_ms: now_ms(),
    };
    let started = Instant::now();
    match restore_backup(file, pass, &target).await {
        Ok(summary) => {
            let rows: u64 = summary.tables.iter().map(|(_, n)| n).sum();
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "restored {} ({} backup) into {} and the {} database: {} tables, {rows} rows, {} files ({:.1} s)",
                file.display(),
                summary.from_backend,
                settings.data_dir.display(),
                summary.to_backend,
                summary.tables.len(),
                summary.files,
                started.elapsed().as_secs_f64()
            );
            if let Some(previous) = &summary.previous_data_dir {
                let _ = writeln!(
                    out,
                    "the previous data directory is kept as {}; delete it once the restored server works",
                    previous.display()
                );
            }
            if !summary.includes_sealing_key {
                let _ = writeln!(
                    out,
                    "the backup did not include the sealing key: start the server with the same secret.key \
                     (or PRINTWARDEN_SECRET_KEY) as the original, or sealed secrets will not open"
                );
            }
            ExitCode::SUCCESS
        }
        Err(
            e @ (BackupError::Passphrase(_) | BackupError::Refused(_) | BackupError::Target(_)),
        ) => fail(format!("restore refused: {e}")),
        Err(e) => fail(format!("restore failed, nothing was changed: {e}")),
    }
}
