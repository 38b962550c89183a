//! The restart that applies a web restore: `printwarden serve` stops the server (listeners,
//! background tasks, the database pool), applies the confirmed restore with the data
//! directory's lock held, and starts again — in the same process, so it works the same under
//! the systemd unit, in the container and in tests, with no supervisor to count on.
//!
//! Invariant: nothing else opens the data directory or the database while the restore is
//! applied (the server is stopped and the lock held); whatever happens, the server starts
//! again — on the restored data, or on the unchanged data with the reason on Settings → Backup
//! and in the audit log.

use pw_app::backup::{PendingRestore, RestoreOutcome, apply_staged_restore};

use crate::config::Settings;

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
    let result = apply_staged_restore(
        &settings.data_dir,
        &settings.database_url,
        &pending.opening,
        now,
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
