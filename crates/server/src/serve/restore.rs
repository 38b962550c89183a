//! The restart that applies a web restore: `printwarden serve` stops the server (listeners,
//! background tasks, the database pool), applies the confirmed restore with the data
//! directory's lock held, and starts again — in the same process, so it works the same under
//! the systemd unit, in the container and in tests, with no supervisor to count on.
//!
//! Invariant: nothing else opens the data directory or the database while the restore is
//! applied (the server is stopped and the lock held); whatever happens, the server starts
//! again — on the restored data, or on the unchanged data with the reason on Settings → Backup
//! and in the audit log. When the process dies in the middle (a crash, a power cut, `kill -9`),
//! the next start finishes or undoes the restore from its journal before it opens anything
//! ([`recover`]).

use pw_app::backup::{
    PendingRestore, Recovered, RestoreOutcome, RestoreStep, apply_staged_restore,
    recover_interrupted_restore,
};

use crate::config::Settings;

/// Test hook: `after-move:N` aborts the process once the swap's N-th move is done,
/// `restored` once the backup is written beside the live data (before the first move). Used
/// by the crash tests; it can only make a restore stop early, which the journal makes safe.
const CRASH_HOOK: &str = "PRINTWARDEN_TEST_RESTORE_CRASH";

fn crash_at() -> Option<RestoreStep> {
    let hook = std::env::var(CRASH_HOOK).ok()?;
    if hook == "restored" {
        return Some(RestoreStep::Restored);
    }
    hook.strip_prefix("after-move:")
        .and_then(|n| n.parse().ok())
        .map(RestoreStep::Moved)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Applies `pending` to the stopped server's data; the outcome is for the started one.
pub async fn apply(settings: &Settings, pending: PendingRestore) -> RestoreOutcome {
    let now = now_ms();
    let at = pw_app::rfc3339(now);
    let failed = |message: String| RestoreOutcome {
        ok: false,
        message,
        at: at.clone(),
        requested_by: pending.requested_by.clone(),
        kept: Vec::new(),
        rows: 0,
        files: 0,
    };
    let lock = match super::lock_data_dir(&settings.data_dir) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!(error = %e, "cannot apply the restore");
            return failed(
                "The restore was not applied: another printwarden process holds the data \
                 directory. Nothing was changed."
                    .to_owned(),
            );
        }
    };
    tracing::warn!(requested_by = %pending.requested_by, "applying a restore confirmed on Settings → Backup");
    let crash = crash_at();
    let step = move |step: RestoreStep| {
        if crash == Some(step) {
            tracing::error!(?step, "{CRASH_HOOK}: stopping the process here");
            std::process::abort();
        }
    };
    let result = apply_staged_restore(
        &settings.data_dir,
        &settings.database_url,
        &pending.opening,
        &pending.requested_by,
        now,
        &step,
    )
    .await;
    drop(lock);
    match result {
        Ok(applied) => {
            let mut kept = vec![applied.kept_dir.display().to_string()];
            kept.extend(
                applied
                    .kept_schema
                    .iter()
                    .map(|s| format!("PostgreSQL schema {s}")),
            );
            tracing::warn!(rows = applied.rows, files = applied.files, kept = ?kept, "restore applied");
            RestoreOutcome {
                ok: true,
                message: format!(
                    "The backup was restored ({} rows, {} files). The previous data is kept in {}; \
                     delete it once the restored server works.",
                    applied.rows,
                    applied.files,
                    kept.join(" and ")
                ),
                at,
                requested_by: pending.requested_by.clone(),
                kept,
                rows: applied.rows,
                files: applied.files,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "the restore failed; the previous data is back in place");
            let reason = match e {
                pw_app::backup::BackupError::Passphrase(m)
                | pw_app::backup::BackupError::Refused(m)
                | pw_app::backup::BackupError::Target(m) => m,
                _ => "the restore could not write its files or database (see the server log)"
                    .to_owned(),
            };
            failed(format!(
                "The restore failed and nothing was changed: {reason}. The uploaded backup is \
                 still there: try again, or cancel it."
            ))
        }
    }
}

/// Finishes or undoes a restore that the process died in the middle of (see
/// `pw_app::backup::recover_interrupted_restore`); called at start with the data directory's
/// lock held, before the sealing key, the TLS material or the database is opened. The outcome
/// is for Settings → Backup and the audit log.
pub(crate) async fn recover(settings: &Settings) -> Result<Option<RestoreOutcome>, String> {
    let recovered = recover_interrupted_restore(&settings.data_dir, &settings.database_url)
        .await
        .map_err(|e| format!("an interrupted restore could not be finished or undone: {e}"))?;
    let at = pw_app::rfc3339(now_ms());
    Ok(recovered.map(|r| match r {
        Recovered::RolledBack { requested_by } => {
            tracing::warn!("an interrupted restore was undone; the previous data is in place");
            RestoreOutcome {
                ok: false,
                message: "The restore was interrupted (the server stopped while it wrote the \
                          restored data) and nothing was changed. The uploaded backup is still \
                          there: try again, or cancel it."
                    .to_owned(),
                at,
                requested_by,
                kept: Vec::new(),
                rows: 0,
                files: 0,
            }
        }
        Recovered::Finished {
            requested_by,
            rows,
            files,
            kept,
        } => {
            tracing::warn!(rows, files, kept = ?kept, "an interrupted restore was finished");
            RestoreOutcome {
                ok: true,
                message: format!(
                    "The backup was restored ({rows} rows, {files} files); the server stopped \
                     during the last step and finished it when it started again. The previous \
                     data is kept in {}; delete it once the restored server works.",
                    kept.join(" and ")
                ),
                at,
                requested_by,
                kept,
                rows,
                files,
            }
        }
    }))
}

/// For commands that open the data directory without starting the server (`keys rotate`,
/// `import`): refuses while a restore cut off by a crash waits to be finished — its files may
/// be half moved, and only the server's start records what recovery did.
pub(crate) fn refuse_if_interrupted(data_dir: &std::path::Path) -> Result<(), String> {
    if pw_app::backup::restore_interrupted(data_dir) {
        return Err(format!(
            "a restore in {} was interrupted: start the server once (it finishes or undoes the \
             restore before anything else), stop it, and run this again",
            data_dir.display()
        ));
    }
    Ok(())
}
