//! `printwarden keys status` and `printwarden keys rotate` (SPEC S8, API.md "Operations").
//!
//! Rotation refuses to run while a server uses the data directory (it takes the data
//! directory's lock): a running server holds the old key in memory and would seal new secrets
//! with it after the rotation. The steps, each safe to interrupt:
//! 1. the new key is written to `<data>/secret.key.new` (and a copy of a data-directory key to
//!    `secret.key.old`), fsynced, before the database is touched;
//! 2. every registered sealed value is re-sealed in ONE transaction (new key tried first, then
//!    the old one, so a run after an interrupted one finishes the job);
//! 3. only after the commit the new key replaces `secret.key` (rename, fsync) and the copies
//!    are removed; a key given in `PRINTWARDEN_SECRET_KEY` is printed for the operator instead.
//!
//! While `secret.key.new` holds a key other than the active one, the server refuses to start
//! (`serve/keys.rs`): the database may already be sealed under it.
//!
//! Threat: the key on the terminal. It is printed only for a key the operator keeps in the
//! environment (where they must paste it) and never logged.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use pw_credentials::SealingKey;

use crate::config::Settings;
use crate::serve::keys::{self, KeySource, NEW_KEY_FILE, OLD_KEY_FILE, Sealing};

/// Test hook: `after:N` aborts the process after N values were re-sealed (inside the
/// transaction), `before-install` after the commit but before the new key file is in place.
/// Used by the crash tests; it can only make a rotation stop early, which is safe by design.
const CRASH_HOOK: &str = "PRINTWARDEN_TEST_ROTATE_CRASH";

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Print the sealing key's status as JSON: source (env, file, generated, none), state
    /// (green, amber, red), fingerprint and counts per kind of sealed value. Never a secret.
    Status,
    /// Generate a new sealing key and re-seal every sealed value with it in one transaction.
    /// Stop the server first. Safe to run again after an interruption: it finishes the job.
    Rotate {
        /// Go ahead although some values open with neither key (they stay unreadable).
        #[arg(long)]
        allow_unreadable: bool,
    },
}

pub(super) async fn keys_command(settings: Settings, action: KeysAction) -> ExitCode {
    let outcome = match action {
        KeysAction::Status => status(&settings).await,
        KeysAction::Rotate { allow_unreadable } => rotate(&settings, allow_unreadable).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(settings: &Settings) -> Result<pw_store::Store, String> {
    crate::serve::tls::create_private_dir(&settings.data_dir).map_err(|e| e.to_string())?;
    let store = pw_store::Store::connect(settings.database_url.expose())
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

async fn status(settings: &Settings) -> Result<(), String> {
    let sealing = keys::existing(settings.secret_key.as_ref(), &settings.data_dir)
        .map_err(|e| e.to_string())?;
    let store = open_store(settings).await?;
    let (key, source) = match &sealing {
        Some(s) => (s.key(), s.status_source(settings.secret_key_file.is_some())),
        None => (None, pw_app::KeySource::None),
    };
    let status = pw_app::key_status(&store, key, source).await;
    store.close().await;
    let status = status.map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&status).map_err(|e| e.to_string())?;
    let _ = writeln!(std::io::stdout(), "{json}");
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn crash_hook() -> (Option<usize>, bool) {
    match std::env::var(CRASH_HOOK).ok().as_deref() {
        Some("before-install") => (None, true),
        Some(v) => (v.strip_prefix("after:").and_then(|n| n.parse().ok()), false),
        None => (None, false),
    }
}

async fn rotate(settings: &Settings, allow_unreadable: bool) -> Result<(), String> {
    let data_dir = &settings.data_dir;
    crate::serve::tls::create_private_dir(data_dir).map_err(|e| e.to_string())?;
    // Held until the end: a server cannot start meanwhile, and we do not run beside one.
    let _lock = crate::serve::lock_data_dir(data_dir).map_err(|e| match e {
        crate::serve::StartError::DataDirInUse(_) => format!(
            "{} is in use by a running server. Stop the server first: it holds the current key in \
             memory and would go on sealing new secrets with it",
            data_dir.display()
        ),
        other => other.to_string(),
    })?;
    crate::serve::restore::refuse_if_interrupted(data_dir)?;
    let Some(current) =
        keys::existing(settings.secret_key.as_ref(), data_dir).map_err(|e| e.to_string())?
    else {
        return Err(
            "there is no sealing key to rotate: start the server once (it generates one) or set \
             PRINTWARDEN_SECRET_KEY"
                .to_owned(),
        );
    };
    let (old, in_data_dir) = match &current {
        Sealing::Active { key, source } => (
            key.clone(),
            matches!(source, KeySource::File(_) | KeySource::Generated(_)),
        ),
        Sealing::Plaintext { .. } => {
            return Err("there is no sealing key to rotate".to_owned());
        }
    };
    let new_path = data_dir.join(NEW_KEY_FILE);
    let old_path = data_dir.join(OLD_KEY_FILE);
    let mut out = std::io::stdout();
    let pending = keys::pending_key(data_dir).map_err(|e| e.to_string())?;
    let (new, fresh) = match pending {
        Some(p) if p.fingerprint() != old.fingerprint() => {
            let _ = writeln!(
                out,
                "resuming an interrupted rotation to key {} (from {})",
                p.fingerprint(),
                new_path.display()
            );
            (p, false)
        }
        _ => {
            // None, or the leftover of a finished rotation of a configured key.
            let bytes =
                keys::os_random().ok_or("the operating system's random generator failed")?;
            let new = SealingKey::from_bytes(bytes);
            if in_data_dir {
                keys::replace_atomically(&old_path, &old)
                    .map_err(|e| format!("cannot write {}: {e}", old_path.display()))?;
            }
            keys::replace_atomically(&new_path, &new)
                .map_err(|e| format!("cannot write {}: {e}", new_path.display()))?;
            (new, true)
        }
    };
    let store = open_store(settings).await?;
    let (crash_after, crash_before_install) = crash_hook();
    let report = pw_app::rotate_sealed(
        &store,
        Some(&old),
        &new,
        allow_unreadable,
        now_ms(),
        |done| {
            if crash_after == Some(done) {
                std::process::abort();
            }
        },
    )
    .await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            store.close().await;
            if fresh {
                // Nothing changed: the server may start with the current key again.
                let _ = std::fs::remove_file(&new_path);
                let _ = std::fs::remove_file(&old_path);
            }
            return Err(e.to_string());
        }
    };
    if crash_before_install {
        std::process::abort();
    }
    record_rotation(settings, &store, &old, &new, &report).await;
    store.close().await;
    let _ = writeln!(
        out,
        "re-sealed {} value(s) under key {} (was {}); {} already under it, {} legacy plaintext value(s) \
         sealed, {} unreadable left as they were",
        report.resealed,
        new.fingerprint(),
        old.fingerprint(),
        report.already_new,
        report.plaintext_sealed,
        report.unreadable
    );
    install(settings, &new, in_data_dir, &mut out)
}

/// Puts the new key where the server reads it, now that the database is sealed under it.
fn install(
    settings: &Settings,
    new: &SealingKey,
    in_data_dir: bool,
    out: &mut std::io::Stdout,
) -> Result<(), String> {
    let data_dir = &settings.data_dir;
    let new_path = data_dir.join(NEW_KEY_FILE);
    let old_path = data_dir.join(OLD_KEY_FILE);
    let target = if in_data_dir {
        Some(data_dir.join(keys::KEY_FILE))
    } else {
        settings.secret_key_file.clone()
    };
    if let Some(target) = target {
        match keys::replace_atomically(&target, new) {
            Ok(()) => {
                let _ = std::fs::remove_file(&new_path);
                let _ = std::fs::remove_file(&old_path);
                crate::serve::tls::sync_parent(&new_path);
                let _ = writeln!(
                    out,
                    "the new key is in {}. Back it up now, apart from database backups (backups taken \
                     before now need the old key), then start the server and confirm the copy on \
                     Settings → Security",
                    target.display()
                );
                return Ok(());
            }
            Err(e) if in_data_dir => {
                return Err(format!(
                    "the database is sealed under the new key, but {} could not be replaced ({e}). \
                     Copy {} over it (mode 0600), then start the server",
                    target.display(),
                    new_path.display()
                ));
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "cannot replace {} ({e}): put the new key there yourself",
                    target.display()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "the database is sealed under the new key now. The server will not start until it is given \
         that key:\n  1. set PRINTWARDEN_SECRET_KEY (or the file PRINTWARDEN_SECRET_KEY_FILE names) to\n\n     \
         {key}\n\n     (the same as in {path})\n  2. start the server and check Settings → Security\n  \
         3. delete {path}",
        key = new.to_base64(),
        path = new_path.display()
    );
    Ok(())
}

/// Audits the rotation (counts and fingerprints only); a failure here is logged, not fatal.
async fn record_rotation(
    settings: &Settings,
    store: &pw_store::Store,
    old: &SealingKey,
    new: &SealingKey,
    report: &pw_app::RotationReport,
) {
    let mut config = crate::serve::app_config(settings, Some(new.clone()));
    config.key_source = pw_app::KeySource::Generated;
    match pw_app::App::start(store.clone(), config).await {
        Ok(app) => app.record_key_rotation(old, new, report).await,
        Err(e) => tracing::warn!(error = %e, "could not record the key rotation in the audit log"),
    }
}
