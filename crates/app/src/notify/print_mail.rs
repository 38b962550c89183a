//! The print watcher: the one place that decides what a printer's report change means —
//! `print.started`, `paused`, `resumed`, `finished`, `failed`, `stopped`, and
//! `printer.hms_error` for a new health message — and announces it (webhooks, push services)
//! and mails it (S5): a user with `notifications:user_email` who started a print through
//! printwarden can opt in, per event, to a mail when it starts, completes, fails or is
//! stopped, and to one when a queue item they added fails.
//!
//! Invariants: only the person who started the job (or added the item) hears about it, and
//! only while they still hold `notifications:user_email` and may still read the printer
//! (rights are checked at sending time, not at opt-in time); a job's end is recorded once, so
//! a flapping connection or a repeated report cannot send the same "finished" twice; the
//! state is remembered per printer across reconnects, and the first report after a start of
//! the server announces nothing (it is a first sight, not a change).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pw_bambu::report::GcodeState;
use pw_domain::{Permission, PrinterId, UserId};
use pw_policy::{Action, Decision, Principal, Subject, Target, authorize};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::rights_of;
use crate::farm::archive::JobView;
use crate::farm::archive::watch::{error_code, error_words};
use crate::farm::fleet::next_printer_event;
use crate::notify::events::{Notice, NoticeEvent, NoticeJob, duration_words};
use crate::notify::templates::TemplateName;
use crate::{Actor, App, AppError, Task};

/// The error code a printer reports for a job cancelled by a stop command.
const CANCELLED: u32 = 0x0300_400C;

/// The events a user can get mails about.
pub const PRINT_EVENTS: [TemplateName; 5] = [
    TemplateName::PrintStarted,
    TemplateName::PrintCompleted,
    TemplateName::PrintFailed,
    TemplateName::PrintStopped,
    TemplateName::QueueFailed,
];

/// `GET/PUT /api/v1/auth/mail-preferences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailPreferences {
    /// The events to be mailed about (jobs one started oneself, queue items one added).
    pub events: Vec<TemplateName>,
}

/// What a state change means for a job: the one decision of "this report means
/// print.finished" (the archive keeps its own entry, the queue follows the archive).
fn transition(
    before: Option<&GcodeState>,
    after: &GcodeState,
    error: Option<u32>,
) -> Option<NoticeEvent> {
    let was_busy = before.is_some_and(GcodeState::is_busy);
    match (before, after) {
        (Some(GcodeState::Running), GcodeState::Pause) => Some(NoticeEvent::PrintPaused),
        (Some(GcodeState::Pause), GcodeState::Running) => Some(NoticeEvent::PrintResumed),
        (Some(_), GcodeState::Prepare | GcodeState::Running) if !was_busy => {
            Some(NoticeEvent::PrintStarted)
        }
        (_, GcodeState::Finish) if was_busy => Some(NoticeEvent::PrintFinished),
        (_, GcodeState::Failed) if was_busy && error == Some(CANCELLED) => {
            Some(NoticeEvent::PrintStopped)
        }
        (_, GcodeState::Failed) if was_busy => Some(NoticeEvent::PrintFailed),
        _ => None,
    }
}

/// The mail a print event may send.
fn mail_of(event: NoticeEvent) -> Option<TemplateName> {
    match event {
        NoticeEvent::PrintStarted => Some(TemplateName::PrintStarted),
        NoticeEvent::PrintFinished => Some(TemplateName::PrintCompleted),
        NoticeEvent::PrintFailed => Some(TemplateName::PrintFailed),
        NoticeEvent::PrintStopped => Some(TemplateName::PrintStopped),
        NoticeEvent::QueueFailed => Some(TemplateName::QueueFailed),
        _ => None,
    }
}

/// An HMS id as the wiki writes it, `AAAA_AAAA_CCCC_CCCC`.
fn hms_words(id: &str) -> String {
    let parts: Vec<&str> = (0..id.len())
        .step_by(4)
        .filter_map(|i| id.get(i..i + 4))
        .collect();
    parts.join("_")
}

/// What the watcher remembers of a printer.
#[derive(Debug, Default)]
struct Watched {
    state: Option<GcodeState>,
    hms: BTreeSet<String>,
    /// When this process saw the running job start (unix ms).
    started_at: Option<i64>,
}

impl App {
    /// Follows every printer's job state and health messages, announces their changes and
    /// mails the starters who asked for it. Runs for the life of the application.
    pub(crate) fn start_print_mails(&self) {
        let app = self.clone();
        let mut events = self.printer_events();
        self.spawn_task(Task::PrintMails, async move {
            let mut seen: HashMap<PrinterId, Watched> = HashMap::new();
            loop {
                let Some(event) = next_printer_event(&mut events).await else {
                    return;
                };
                if event.removed {
                    seen.remove(&event.printer);
                    continue;
                }
                let Some(view) = app.fleet.archive_view(event.printer) else {
                    continue;
                };
                let watched = seen.entry(event.printer).or_default();
                let first_sight = watched.state.is_none();
                let hms: BTreeSet<String> = view.hms.iter().cloned().collect();
                let new_hms: Vec<String> = if first_sight {
                    Vec::new()
                } else {
                    hms.difference(&watched.hms).cloned().collect()
                };
                watched.hms = hms;
                let before = watched.state.replace(view.state.clone());
                let what = if before.as_ref() == Some(&view.state) {
                    None
                } else {
                    transition(before.as_ref(), &view.state, view.print_error)
                };
                let now = app.now();
                let started_at = match what {
                    Some(NoticeEvent::PrintStarted) => {
                        watched.started_at = Some(now);
                        Some(now)
                    }
                    Some(
                        NoticeEvent::PrintFinished
                        | NoticeEvent::PrintFailed
                        | NoticeEvent::PrintStopped,
                    ) => watched.started_at.take(),
                    _ => watched.started_at,
                };
                if !new_hms.is_empty() {
                    app.hms_notice(event.printer, &new_hms);
                }
                if let Some(what) = what
                    && let Err(e) = app.print_event(event.printer, what, &view, started_at).await
                {
                    tracing::warn!(printer = %event.printer, error = %e, "print event not announced");
                }
            }
        });
    }

    fn hms_notice(&self, printer: PrinterId, ids: &[String]) {
        let Some(p) = self.notice_printer(printer) else {
            return;
        };
        let codes: Vec<String> = ids.iter().map(|i| hms_words(i)).collect();
        let text = if codes.len() == 1 {
            format!(
                "{} reports a health message: HMS {}.",
                p.name,
                codes.join("")
            )
        } else {
            format!(
                "{} reports {} health messages: HMS {}.",
                p.name,
                codes.len(),
                codes.join(", ")
            )
        };
        let mut notice = Notice::new(NoticeEvent::PrinterHmsError, self.now(), p, text);
        notice.hms = ids.to_vec();
        self.queue_notice(notice);
    }

    async fn print_event(
        &self,
        printer: PrinterId,
        what: NoticeEvent,
        view: &JobView,
        started_at: Option<i64>,
    ) -> Result<(), AppError> {
        let job = self.store.open_print_job(printer).await?;
        let ends = matches!(
            what,
            NoticeEvent::PrintFinished | NoticeEvent::PrintFailed | NoticeEvent::PrintStopped
        );
        if ends && let Some(job) = &job {
            let outcome = match what {
                NoticeEvent::PrintFinished => "completed",
                NoticeEvent::PrintStopped => "stopped",
                _ => "failed",
            };
            // Recorded once: a second report of the same end finds the job ended.
            if !self
                .store
                .end_print_job(job.id, outcome, self.now())
                .await?
            {
                return Ok(());
            }
        }
        let Some(p) = self.notice_printer(printer) else {
            return Ok(());
        };
        let now = self.now();
        let file = match (&job, view.file_name()) {
            (_, f) if f != "unknown file" => f,
            (Some(j), _) => j.file_name.clone(),
            (None, f) => f,
        };
        let error = view
            .print_error
            .filter(|c| *c != 0 && what == NoticeEvent::PrintFailed);
        let notice_job = NoticeJob {
            file: file.clone(),
            print_job_id: job.as_ref().map(|j| j.id),
            started_by: job.as_ref().and_then(|j| j.started_by_name.clone()),
            duration_s: started_at
                .filter(|_| ends)
                .map(|s| now.saturating_sub(s) / 1000),
            error: error.map(error_code),
            error_text: error.map(error_words),
        };
        let (name, after) = (
            p.name.clone(),
            notice_job
                .duration_s
                .map(|d| format!(" after {}", duration_words(d)))
                .unwrap_or_default(),
        );
        let text = match what {
            NoticeEvent::PrintStarted => format!("{file} started on {name}."),
            NoticeEvent::PrintPaused => format!("{file} paused on {name}."),
            NoticeEvent::PrintResumed => format!("{file} resumed on {name}."),
            NoticeEvent::PrintFinished => format!("{file} finished on {name}{after}."),
            NoticeEvent::PrintStopped => format!("{file} was stopped on {name}{after}."),
            _ => format!(
                "{file} failed on {name}{after}: {}",
                notice_job
                    .error_text
                    .clone()
                    .unwrap_or_else(|| "the printer gave no reason.".to_owned())
            ),
        };
        let mut notice = Notice::new(what, now, p, text);
        notice.job = Some(notice_job);
        // A job the dispatcher started belongs to whoever added the queue item.
        let mut starter = job.as_ref().and_then(|j| j.started_by);
        if starter.is_none()
            && let Some(job) = &job
            && let Some(item) = self.store.active_queue_item_on(printer).await?
            && item.print_job_id == Some(job.id)
        {
            starter = item.created_by;
        }
        if let (Some(user), Some(template)) = (starter, mail_of(what)) {
            let error = view
                .print_error
                .filter(|e| *e != 0)
                .map(|e| format!("printer error {e:08X}"))
                .unwrap_or_default();
            self.mail_user(user, &notice, template, &file, error)
                .await?;
        }
        self.queue_notice(notice);
        Ok(())
    }

    /// Mails `user` about a notice when they opted in, hold `notifications:user_email` and may
    /// receive the notice (its printer, and for a queue event its item), all as they are now.
    pub(crate) async fn mail_user(
        &self,
        user: UserId,
        notice: &Notice,
        what: TemplateName,
        file: &str,
        error: String,
    ) -> Result<(), AppError> {
        let Some(row) = self.store.user(user).await? else {
            return Ok(());
        };
        let Some(email) = row.email.filter(|_| !row.disabled) else {
            return Ok(());
        };
        if !self
            .store
            .mail_preferences(user)
            .await?
            .iter()
            .any(|e| e == what.as_str())
        {
            return Ok(());
        }
        // Decided by policy for the user as they are now, like any request of theirs.
        let principal = Principal::User(Subject::session(
            user,
            rights_of(&self.store.groups_of_user(user).await?),
        ));
        if !matches!(
            authorize(
                &principal,
                Action::Perform(Permission::NotificationsUserEmail),
                &Target::Global
            ),
            Decision::Allow
        ) || !notice.readable_by(&principal)
        {
            return Ok(());
        }
        let base = self.external_url().await?.unwrap_or_default();
        let page = if what == TemplateName::QueueFailed {
            "queue"
        } else {
            "printers"
        };
        let vars = BTreeMap::from([
            ("username", row.username.as_str().to_owned()),
            (
                "printer",
                notice
                    .printer
                    .as_ref()
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            ),
            ("file", file.to_owned()),
            ("instance", base.clone()),
            ("error", error),
            ("link", format!("{base}/{page}")),
        ]);
        self.send_template_later(what, email.as_str().to_owned(), vars);
        Ok(())
    }

    /// `GET /api/v1/auth/mail-preferences`.
    pub async fn mail_preferences(&self, actor: &Actor) -> Result<MailPreferences, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let stored = self.store.mail_preferences(user).await?;
        Ok(MailPreferences {
            events: PRINT_EVENTS
                .into_iter()
                .filter(|e| stored.iter().any(|s| s == e.as_str()))
                .collect(),
        })
    }

    /// `PUT /api/v1/auth/mail-preferences`: needs an email address on the account.
    pub async fn set_mail_preferences(
        &self,
        actor: &Actor,
        prefs: MailPreferences,
    ) -> Result<MailPreferences, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        if let Some(other) = prefs.events.iter().find(|e| !PRINT_EVENTS.contains(e)) {
            return Err(AppError::BadRequest(format!(
                "{} is not a print event; choose from print_started, print_completed, print_failed, print_stopped, queue_failed.",
                other.as_str()
            )));
        }
        let row = self
            .store
            .user(user)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !prefs.events.is_empty() && row.email.is_none() {
            return Err(AppError::Conflict(
                "Add an email address to your account first.".into(),
            ));
        }
        let names: Vec<&str> = prefs.events.iter().map(|e| e.as_str()).collect();
        self.store.set_mail_preferences(user, &names).await?;
        self.mail_preferences(actor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_name_the_job_events() {
        use GcodeState::{Failed, Finish, Idle, Pause, Prepare, Running};
        let t = |b: Option<GcodeState>, a: GcodeState, e| transition(b.as_ref(), &a, e);
        assert_eq!(
            t(Some(Idle), Prepare, None),
            Some(NoticeEvent::PrintStarted)
        );
        assert_eq!(
            t(Some(Finish), Running, None),
            Some(NoticeEvent::PrintStarted)
        );
        assert_eq!(
            t(None, Running, None),
            None,
            "first sight of a running printer"
        );
        assert_eq!(t(Some(Prepare), Running, None), None, "still the same job");
        assert_eq!(
            t(Some(Running), Pause, None),
            Some(NoticeEvent::PrintPaused)
        );
        assert_eq!(
            t(Some(Pause), Running, None),
            Some(NoticeEvent::PrintResumed)
        );
        assert_eq!(
            t(Some(Running), Finish, None),
            Some(NoticeEvent::PrintFinished)
        );
        assert_eq!(
            t(Some(Pause), Failed, Some(CANCELLED)),
            Some(NoticeEvent::PrintStopped)
        );
        assert_eq!(
            t(Some(Running), Failed, Some(0x0700_8001)),
            Some(NoticeEvent::PrintFailed)
        );
        assert_eq!(t(Some(Idle), Failed, None), None, "nothing was running");
        assert_eq!(t(Some(Finish), Idle, None), None);
        assert_eq!(hms_words("0300010000010007"), "0300_0100_0001_0007");
    }
}
