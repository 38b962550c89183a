//! Pausing the queue: the whole queue, or one printer's lane. A pause stops new starts (the
//! claim skips paused lanes in SQL); prints already running go on.
//!
//! Permission: `queue:reorder` for both. The seeds have no pause right; pausing decides when
//! everyone's items run, as reordering decides in which order, and the groups that may
//! reorder (Operators, the `queue` preset) are the ones that run the queue. Pausing a lane
//! also needs the printer to be one the caller may see (404 otherwise). Audited with who.

use pw_domain::{Permission, PrinterId};
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use crate::core::clock::rfc3339;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// `POST /api/v1/queue/pause` and `/resume`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseInput {
    /// One printer's lane; absent = the whole queue.
    #[serde(default)]
    pub printer_id: Option<i64>,
}

/// A paused printer lane.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LanePause {
    /// The printer.
    pub printer_id: i64,
    /// Who paused it (their name at the time).
    pub paused_by: Option<String>,
    /// RFC 3339.
    pub paused_at: String,
}

/// Whether the queue and which lanes are paused.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueuePauseView {
    /// The whole queue is paused.
    pub paused: bool,
    /// Who paused the whole queue.
    pub paused_by: Option<String>,
    /// RFC 3339.
    pub paused_at: Option<String>,
    /// Paused lanes of printers the caller may see.
    pub lanes: Vec<LanePause>,
}

impl App {
    /// `GET /api/v1/queue/pause`.
    pub async fn queue_pause_state(&self, actor: &Actor) -> Result<QueuePauseView, AppError> {
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::QueueReadOwn),
                all: Permission::QueueReadAll,
            },
            &Target::Global,
        )?;
        self.pause_view(actor).await
    }

    /// The pauses, lanes filtered to the printers the caller may see.
    async fn pause_view(&self, actor: &Actor) -> Result<QueuePauseView, AppError> {
        let mut view = QueuePauseView {
            paused: false,
            paused_by: None,
            paused_at: None,
            lanes: Vec::new(),
        };
        for p in self.store.queue_pauses().await? {
            match p.printer_id {
                None => {
                    view.paused = true;
                    view.paused_by = p.paused_by_name;
                    view.paused_at = Some(rfc3339(p.paused_at));
                }
                Some(printer) => {
                    let visible = self
                        .store
                        .printer(printer)
                        .await?
                        .is_some_and(|row| self.may(actor, Permission::PrintersRead, &row));
                    if visible {
                        view.lanes.push(LanePause {
                            printer_id: printer.get(),
                            paused_by: p.paused_by_name,
                            paused_at: rfc3339(p.paused_at),
                        });
                    }
                }
            }
        }
        Ok(view)
    }

    /// The lane's printer, if the caller may see it (404 otherwise).
    async fn lane(&self, actor: &Actor, input: &PauseInput) -> Result<Option<PrinterId>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::QueueReorder),
            &Target::Global,
        )?;
        match input.printer_id {
            None => Ok(None),
            Some(id) if id <= 0 => Err(AppError::NotFound),
            Some(id) => {
                let row = self
                    .store
                    .printer(PrinterId::from_db(id))
                    .await?
                    .filter(|row| self.may(actor, Permission::PrintersRead, row))
                    .ok_or(AppError::NotFound)?;
                Ok(Some(row.id))
            }
        }
    }

    /// `POST /api/v1/queue/pause`: pauses the whole queue or one printer's lane (idempotent).
    pub async fn pause_queue(
        &self,
        actor: &Actor,
        input: PauseInput,
    ) -> Result<QueuePauseView, AppError> {
        let printer = self.lane(actor, &input).await?;
        let newly = self
            .store
            .pause_queue(
                printer,
                actor.user_id,
                Some(&actor.name).map(|n| &**n),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                pw_store::StoreError::Conflict => AppError::NotFound,
                e => e.into(),
            })?;
        if newly {
            self.audit(
                actor,
                AuditEvent::QueuePause,
                printer.map(|p| ("printer", p.to_string())),
                true,
                serde_json::json!({ "scope": if printer.is_some() { "printer" } else { "queue" } }),
            )
            .await;
        }
        self.pause_view(actor).await
    }

    /// `POST /api/v1/queue/resume`: resumes the whole queue or one printer's lane
    /// (idempotent).
    pub async fn resume_queue(
        &self,
        actor: &Actor,
        input: PauseInput,
    ) -> Result<QueuePauseView, AppError> {
        let printer = self.lane(actor, &input).await?;
        if self.store.resume_queue(printer).await? {
            self.audit(
                actor,
                AuditEvent::QueueResume,
                printer.map(|p| ("printer", p.to_string())),
                true,
                serde_json::json!({ "scope": if printer.is_some() { "printer" } else { "queue" } }),
            )
            .await;
        }
        self.pause_view(actor).await
    }
}
