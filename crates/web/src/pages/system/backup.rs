//! `/settings/backup` (Settings → Backup) for `system:backup` holders: create and download an
//! encrypted backup (passphrase typed twice with a strength hint, or an age public key; the
//! sealing key only when ticked), the received size shown while it streams; the schedule
//! (directory, interval, how many to keep, passphrase or public key) with its last run in words;
//! and the backups it has written, each with its size and a Verify button. Everything goes
//! through the JSON API from `static/js/backup.js`; the page renders the server's truth.
//!
//! Invariant: no passphrase ever reaches the page (the API never returns one; the page only
//! says whether the schedule is sealed with a passphrase or to which public key).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::backup::{BackupScheduleView, MIN_PASSPHRASE};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

#[derive(Template)]
#[template(path = "backup.html")]
struct BackupPage {
    layout: Layout,
    /// Show the tabs to `/settings` and `/settings/email` too.
    can_security: bool,
    can_email: bool,
    /// The server holds a sealing key that could go inside.
    min_passphrase: usize,
    schedule: BackupScheduleView,
    /// Whether a schedule was saved (a directory is set).
    configured: bool,
    /// `printwarden-….pwbk` with a size in words.
    backups: Vec<BackupRow>,
    /// The restore section: only for administrators (every permission, from a session).
    restore: Option<RestoreSection>,
}

struct RestoreSection {
    staged: bool,
    size_words: Option<String>,
    uploaded_at: Option<String>,
    max_bytes: u64,
    max_words: String,
    can_restart: bool,
    last_restore: Option<pw_app::backup::RestoreOutcome>,
    postgres: bool,
}

struct BackupRow {
    name: String,
    size: String,
}

/// Bytes in words: "512 bytes", "3.4 MiB".
fn size_words(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    #[expect(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("TiB"))
}

/// `GET /settings/backup`.
pub(crate) async fn backup_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    const PATH: &str = "/settings/backup";
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, PATH),
    };
    let schedule = match app.backup_schedule(&actor).await {
        Ok(s) => s,
        Err(e) => return failure(e, &state, &viewer, &request_id, PATH),
    };
    // The same check as the restore routes (`authorize`, Administer): anyone else sees no
    // restore section at all.
    let restore = app
        .restore_status(&actor)
        .await
        .ok()
        .map(|r| RestoreSection {
            staged: r.staged,
            size_words: r.size.map(size_words),
            uploaded_at: r.uploaded_at,
            max_bytes: r.max_bytes,
            max_words: size_words(r.max_bytes),
            can_restart: r.can_restart,
            last_restore: r.last_restore,
            postgres: r.database == "postgres",
        });
    let page = BackupPage {
        restore,
        can_security: viewer.can(Permission::SettingsSecurity),
        can_email: viewer.can(Permission::SettingsEmail),
        min_passphrase: MIN_PASSPHRASE,
        configured: !schedule.dir.is_empty(),
        backups: schedule
            .backups
            .iter()
            .map(|b| BackupRow {
                name: b.name.clone(),
                size: size_words(b.size),
            })
            .collect(),
        schedule,
        layout: Layout::new(app, &viewer).with_module("js/backup.js"),
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_words(512), "512 bytes");
        assert_eq!(size_words(3 * 1024 * 1024 + 400 * 1024), "3.4 MiB");
        assert_eq!(size_words(2048), "2.0 KiB");
    }
}
