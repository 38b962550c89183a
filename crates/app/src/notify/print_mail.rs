//! Print mails (S5): a user with `notifications:user_email` who started a print through
//! printwarden can opt in, per event, to a mail when it starts, completes, fails or is
//! stopped.
//!
//! Invariants: only the person who started the job hears about it, and only while they still
//! hold `notifications:user_email` and may still read the printer (rights are checked at
//! sending time, not at opt-in time); a job's end is recorded once, so a flapping connection
//! cannot send the same "finished" twice.

use std::collections::{BTreeMap, HashMap};

use pw_bambu::report::GcodeState;
use pw_domain::{Permission, PrinterId, UserId};
use pw_policy::{Action, Decision, Principal, PrinterRef, Subject, Target, authorize};
use pw_store::PrintJobRow;
use serde::{Deserialize, Serialize};

use crate::auth::sessions::rights_of;
use crate::farm::fleet::next_printer_event;
use crate::notify::templates::TemplateName;
use crate::{Actor, App, AppError, Task};

/// The error code a printer reports for a job cancelled by a stop command.
const CANCELLED: u32 = 0x0300_400C;

/// The print events a user can get mails about.
pub const PRINT_EVENTS: [TemplateName; 4] = [
    TemplateName::PrintStarted,
    TemplateName::PrintCompleted,
    TemplateName::PrintFailed,
    TemplateName::PrintStopped,
];

/// `GET/PUT /api/v1/auth/mail-preferences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailPreferences {
    /// The print events to be mailed about (jobs one started oneself).
    pub events: Vec<TemplateName>,
}

/// What a state change means for a job.
fn transition(
    before: Option<&GcodeState>,
    after: &GcodeState,
    error: Option<u32>,
) -> Option<TemplateName> {
    let was_busy = before.is_some_and(GcodeState::is_busy);
    match after {
        GcodeState::Prepare | GcodeState::Running if !was_busy && before.is_some() => {
            Some(TemplateName::PrintStarted)
        }
        GcodeState::Finish if was_busy => Some(TemplateName::PrintCompleted),
        GcodeState::Failed if was_busy && error == Some(CANCELLED) => {
            Some(TemplateName::PrintStopped)
        }
        GcodeState::Failed if was_busy => Some(TemplateName::PrintFailed),
        _ => None,
    }
}

impl App {
    /// Follows every printer's job state and mails the starters who asked for it. Runs for the
    /// life of the application.
    pub(crate) fn start_print_mails(&self) {
        let app = self.clone();
        let mut events = self.printer_events();
        self.spawn_task(Task::PrintMails, async move {
            let mut states: HashMap<PrinterId, GcodeState> = HashMap::new();
            loop {
                let Some(event) = next_printer_event(&mut events).await else {
                    return;
                };
                if event.removed {
                    states.remove(&event.printer);
                    continue;
                }
                let Some((name, state, error)) = app.fleet.job_state(event.printer) else {
                    continue;
                };
                let before = states.insert(event.printer, state.clone());
                if before.as_ref() == Some(&state) {
                    continue;
                }
                if let Some(what) = transition(before.as_ref(), &state, error)
                    && let Err(e) = app.job_event(event.printer, &name, what, error).await
                {
                    tracing::warn!(printer = %event.printer, error = %e, "print mail not sent");
                }
            }
        });
    }

    async fn job_event(
        &self,
        printer: PrinterId,
        printer_name: &str,
        what: TemplateName,
        error: Option<u32>,
    ) -> Result<(), AppError> {
        let Some(job) = self.store.open_print_job(printer).await? else {
            return Ok(());
        };
        if what != TemplateName::PrintStarted {
            let outcome = match what {
                TemplateName::PrintCompleted => "completed",
                TemplateName::PrintStopped => "stopped",
                _ => "failed",
            };
            if !self
                .store
                .end_print_job(job.id, outcome, self.now())
                .await?
            {
                return Ok(());
            }
        }
        if let Some(user) = job.started_by {
            self.mail_starter(user, printer, printer_name, &job, what, error)
                .await?;
        }
        Ok(())
    }

    async fn mail_starter(
        &self,
        user: UserId,
        printer: PrinterId,
        printer_name: &str,
        job: &PrintJobRow,
        what: TemplateName,
        error: Option<u32>,
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
        let Some(target) = self.store.printer(printer).await?.map(|r| PrinterRef {
            printer: r.id,
            location: r.location_id,
        }) else {
            return Ok(());
        };
        let allowed = |permission, target: &Target| {
            matches!(
                authorize(&principal, Action::Perform(permission), target),
                Decision::Allow
            )
        };
        if !allowed(Permission::NotificationsUserEmail, &Target::Global)
            || !allowed(Permission::PrintersRead, &Target::Printer(target))
        {
            return Ok(());
        }
        let base = self.external_url().await?.unwrap_or_default();
        let vars = BTreeMap::from([
            ("username", row.username.as_str().to_owned()),
            ("printer", printer_name.to_owned()),
            ("file", job.file_name.clone()),
            ("instance", base.clone()),
            (
                "error",
                error
                    .filter(|e| *e != 0)
                    .map(|e| format!("printer error {e:08X}"))
                    .unwrap_or_default(),
            ),
            ("link", format!("{base}/printers")),
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
                "{} is not a print event; choose from print_started, print_completed, print_failed, print_stopped.",
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
            Some(TemplateName::PrintStarted)
        );
        assert_eq!(
            t(Some(Finish), Running, None),
            Some(TemplateName::PrintStarted)
        );
        assert_eq!(
            t(None, Running, None),
            None,
            "first sight of a running printer"
        );
        assert_eq!(t(Some(Prepare), Running, None), None, "still the same job");
        assert_eq!(
            t(Some(Running), Finish, None),
            Some(TemplateName::PrintCompleted)
        );
        assert_eq!(
            t(Some(Pause), Failed, Some(CANCELLED)),
            Some(TemplateName::PrintStopped)
        );
        assert_eq!(
            t(Some(Running), Failed, Some(0x0700_8001)),
            Some(TemplateName::PrintFailed)
        );
        assert_eq!(t(Some(Idle), Failed, None), None, "nothing was running");
        assert_eq!(t(Some(Finish), Idle, None), None);
    }
}
