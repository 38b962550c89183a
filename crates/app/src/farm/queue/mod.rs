//! The print queue: items that wait for a printer (one printer, any printer of a model, any
//! printer in a location, any member of a printer group), with copies, priority, a "not before" time, print options and an
//! AMS mapping ([`ams`]); created from a library file ([`items`]) or as a reprint of an archive
//! entry, listed with why each waits ([`waiting`]), changed while queued, reordered, cancelled,
//! and paused as a whole or per printer lane ([`pause`]); the dispatcher ([`dispatch`]) claims
//! items for free printers, starts them through the one start path and follows each run to
//! its end, every step through [`App::queue_transition`].
//!
//! Invariants: an item's owner is who queued it (`created_by`; the name stays when the account
//! goes); `_own`/`_all` rights are decided by `pw_policy` — in the list's SQL
//! (`owned_visibility`) and per item with `authorize(OnOwned)` on the same facts — so a list
//! never shows an item a read would refuse; ownerless items need `*_all`; an item the caller may
//! not read is a 404, never a 403. Queue items are owned rows not bound to a printer for
//! reading (a scoped group's queue rights reach every item it may read by ownership); naming a
//! printer as a target needs `queue:create` on that printer. Queueing a file needs read access
//! to it (Bambuddy's add-to-queue IDOR). Every change is audited with who.

pub(crate) mod ams;
#[cfg(feature = "bench")]
pub(crate) mod bench;
mod dispatch;
mod items;
mod notices;
mod pause;
mod rights;
mod waiting;

pub use ams::{AmsAssignment, Proposal};
pub use items::{
    AmsProposalInput, CreateQueueItem, QueueListQuery, QueueTargetInput, ReorderQueue,
    ReprintInput, UpdateQueueItem,
};
pub use pause::{LanePause, PauseInput, QueuePauseView};
pub use rights::QueueRights;

use pw_domain::{Permission, UserId};
use pw_policy::{Action, Target, authorize};
use pw_store::{QueueItemRow, QueueState, QueueStep, QueueTarget};
use serde::{Deserialize, Serialize};

use crate::accounts::owned::{ContentKind, ItemFuture};
use crate::core::clock::rfc3339;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// The states an item can be in, as the API names them.
pub const QUEUE_STATES: [&str; 6] = [
    "queued",
    "dispatching",
    "printing",
    "done",
    "failed",
    "cancelled",
];

/// Print options sent with the start command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrintOptions {
    /// Level the bed before printing.
    pub bed_levelling: bool,
    /// Calibrate the flow before printing.
    pub flow_calibration: bool,
    /// Record a timelapse.
    pub timelapse: bool,
    /// Feed filament from the AMS (off: the external spool).
    pub use_ams: bool,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self {
            bed_levelling: true,
            flow_calibration: true,
            timelapse: false,
            use_ams: true,
        }
    }
}

/// Print options as sent: absent ones keep their value (the default on create).
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrintOptionsInput {
    /// Level the bed before printing (default on).
    #[serde(default)]
    pub bed_levelling: Option<bool>,
    /// Calibrate the flow before printing (default on).
    #[serde(default)]
    pub flow_calibration: Option<bool>,
    /// Record a timelapse (default off).
    #[serde(default)]
    pub timelapse: Option<bool>,
    /// Feed filament from the AMS (default on).
    #[serde(default)]
    pub use_ams: Option<bool>,
}

impl PrintOptionsInput {
    fn apply(self, base: PrintOptions) -> PrintOptions {
        PrintOptions {
            bed_levelling: self.bed_levelling.unwrap_or(base.bed_levelling),
            flow_calibration: self.flow_calibration.unwrap_or(base.flow_calibration),
            timelapse: self.timelapse.unwrap_or(base.timelapse),
            use_ams: self.use_ams.unwrap_or(base.use_ams),
        }
    }
}

/// Which printers may take an item: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueTargetView {
    /// This printer (null once it was removed, with a `model`/`location_id` absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer_id: Option<i64>,
    /// Any printer of this model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Any printer in this location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    /// Any member of this printer group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// The printer group this item targeted was deleted: it waits for another target.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub group_deleted: bool,
}

/// Who owns an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueOwner {
    /// The account.
    pub id: i64,
    /// Their name.
    pub name: String,
}

/// Who added an item (kept, as the name at the time, when the account is deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AddedBy {
    /// The account, null once deleted.
    pub id: Option<i64>,
    /// Their name when they queued it.
    pub name: String,
}

/// One queue item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueItemView {
    /// Id.
    pub id: i64,
    /// `queued`, `dispatching`, `printing`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Order among equal priorities (lower first).
    pub position: i64,
    /// Higher first.
    pub priority: i64,
    /// Copies to print.
    pub copies: i64,
    /// Copies printed.
    pub copies_done: i64,
    /// The library file (null once deleted, or for a reprint of a file not in the library).
    pub file_id: Option<i64>,
    /// The archive entry this reprints.
    pub archive_id: Option<i64>,
    /// The file's name when queued.
    pub file_name: String,
    /// SHA-256 of the content printed.
    pub file_sha256: String,
    /// Plate.
    pub plate: i64,
    /// Which printers may take it.
    pub target: QueueTargetView,
    /// RFC 3339: not started before.
    pub not_before: Option<String>,
    /// Print options.
    pub options: PrintOptions,
    /// Filament → tray; null = proposed when the job starts.
    pub ams_mapping: Option<Vec<AmsAssignment>>,
    /// Why it is not printing yet, in words (queued items only).
    pub waiting_for: Option<String>,
    /// Why it failed or last failed to start, in words.
    pub reason: Option<String>,
    /// The owner; null = ownerless.
    pub owner: Option<QueueOwner>,
    /// Who queued it.
    pub added_by: Option<AddedBy>,
    /// The printer that took it.
    pub printer_id: Option<i64>,
    /// Start attempts so far.
    pub attempts: i64,
    /// RFC 3339: when a failed start is retried.
    pub next_attempt_at: Option<String>,
    /// The archive entry of the run it started.
    pub run_archive_id: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339: when it ended.
    pub ended_at: Option<String>,
}

/// The target of a row as the API shows it.
fn target_view(t: &QueueTarget) -> QueueTargetView {
    match t {
        QueueTarget::Printer(p) => QueueTargetView {
            printer_id: p.map(pw_domain::PrinterId::get),
            ..QueueTargetView::default()
        },
        QueueTarget::Model(m) => QueueTargetView {
            model: Some(m.clone()),
            ..QueueTargetView::default()
        },
        QueueTarget::Location(l) => QueueTargetView {
            location_id: l.map(pw_domain::LocationId::get),
            ..QueueTargetView::default()
        },
        QueueTarget::Group(g) => QueueTargetView {
            group_id: g.map(pw_domain::PrinterGroupId::get),
            group_deleted: g.is_none(),
            ..QueueTargetView::default()
        },
    }
}

/// The target in the audit log's words: `printer:3`, `model:X1C`, `location:2`, `group:4`.
fn target_key(t: &QueueTarget) -> String {
    match t {
        QueueTarget::Printer(p) => format!("printer:{}", p.map_or(0, pw_domain::PrinterId::get)),
        QueueTarget::Model(m) => format!("model:{m}"),
        QueueTarget::Location(l) => {
            format!("location:{}", l.map_or(0, pw_domain::LocationId::get))
        }
        QueueTarget::Group(g) => format!("group:{}", g.map_or(0, pw_domain::PrinterGroupId::get)),
    }
}

/// The view of a row, with the waiting words computed by the caller.
pub(crate) fn view(row: QueueItemRow, waiting_for: Option<String>) -> QueueItemView {
    QueueItemView {
        id: row.id,
        state: row.state.as_str().to_owned(),
        position: row.position,
        priority: row.priority,
        copies: row.copies,
        copies_done: row.copies_done,
        file_id: row.library_file_id.map(pw_domain::LibraryFileId::get),
        archive_id: row.archive_id,
        file_name: row.file_name,
        file_sha256: row.file_sha256,
        plate: row.plate,
        target: target_view(&row.target),
        not_before: row.not_before.map(rfc3339),
        options: serde_json::from_str(&row.options).unwrap_or_default(),
        ams_mapping: row
            .ams_mapping
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok()),
        waiting_for,
        reason: row.reason,
        owner: row.created_by.map(|id| QueueOwner {
            id: id.get(),
            name: row.created_by_name.clone().unwrap_or_default(),
        }),
        added_by: row.created_by_name.map(|name| AddedBy {
            id: row.created_by.map(UserId::get),
            name,
        }),
        printer_id: row.printer_id.map(pw_domain::PrinterId::get),
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(rfc3339),
        run_archive_id: row.run_archive_id,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        ended_at: row.ended_at.map(rfc3339),
    }
}

impl App {
    /// Whether `own`/`all` let the actor act on the item (owned, bound to no printer).
    pub(crate) fn queue_allows(
        actor: &Actor,
        row: &QueueItemRow,
        own: Permission,
        all: Permission,
    ) -> bool {
        authorize(
            &actor.principal,
            Action::OnOwned {
                own: Some(own),
                all,
            },
            &Target::Owned {
                owner: row.created_by,
                printer: None,
            },
        )
        .is_allowed()
    }

    /// The item, if the actor may read it (404 otherwise) and act on it with `own`/`all`
    /// (403 when they may read but not act).
    pub(crate) async fn queue_item_for(
        &self,
        actor: &Actor,
        id: i64,
        act: Option<(Permission, Permission)>,
    ) -> Result<QueueItemRow, AppError> {
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::QueueReadOwn),
                all: Permission::QueueReadAll,
            },
            &Target::Global,
        )?;
        let row = self.store.queue_item(id).await?.ok_or(AppError::NotFound)?;
        if !Self::queue_allows(
            actor,
            &row,
            Permission::QueueReadOwn,
            Permission::QueueReadAll,
        ) {
            return Err(AppError::NotFound);
        }
        if let Some((own, all)) = act
            && !Self::queue_allows(actor, &row, own, all)
        {
            return Err(AppError::Forbidden);
        }
        Ok(row)
    }

    /// Moves an item from `from` to `to` (compare-and-set) and audits it with who did it (a
    /// user, or the dispatcher as `system`). False when the item was not in `from` — someone
    /// else moved it first; nothing is audited then.
    pub(crate) async fn queue_transition(
        &self,
        actor: &Actor,
        row: &QueueItemRow,
        from: QueueState,
        to: QueueState,
        step: &QueueStep<'_>,
    ) -> Result<bool, AppError> {
        if !self
            .store
            .set_queue_item_state(row.id, from, to, step, self.now())
            .await?
        {
            return Ok(false);
        }
        self.audit_queue_state(actor, row, from, to, step.reason.flatten())
            .await;
        self.queue_item_notice(row, from, to, step.reason.flatten())
            .await;
        Ok(true)
    }

    /// Audits a transition that happened (`queue.cancel` for a cancel, `queue.state` else).
    pub(crate) async fn audit_queue_state(
        &self,
        actor: &Actor,
        row: &QueueItemRow,
        from: QueueState,
        to: QueueState,
        reason: Option<&str>,
    ) {
        let event = if to == QueueState::Cancelled {
            AuditEvent::QueueCancel
        } else {
            AuditEvent::QueueState
        };
        let details = if to == QueueState::Cancelled {
            serde_json::json!({
                "file": row.file_name,
                "from": from.as_str(),
                "owner": row.created_by_name,
            })
        } else {
            serde_json::json!({
                "from": from.as_str(),
                "to": to.as_str(),
                "printer": row.printer_id.map(pw_domain::PrinterId::get),
                "reason": reason,
            })
        };
        self.audit(
            actor,
            event,
            Some(("queue_item", row.id.to_string())),
            true,
            details,
        )
        .await;
    }

    /// Deletes an item row and audits it.
    async fn delete_queue_row(&self, actor: &Actor, row: &QueueItemRow) -> Result<(), AppError> {
        if !self.store.delete_queue_item(row.id).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::QueueDelete,
            Some(("queue_item", row.id.to_string())),
            true,
            serde_json::json!({
                "file": row.file_name,
                "state": row.state.as_str(),
                "owner": row.created_by_name,
            }),
        )
        .await;
        Ok(())
    }
}

/// Queue items as a kind of a user's own content (user deletion's counts and `items=delete`).
/// Items a printer is working on (dispatching, printing) are never deleted under it: they stay,
/// ownerless, until they end.
pub(crate) static QUEUE_ITEMS: ContentKind = ContentKind {
    name: "queue_items",
    count: count_of,
    authorize_delete: authorize_delete_of,
    delete: delete_of,
};

fn is_active(row: &QueueItemRow) -> bool {
    matches!(row.state, QueueState::Dispatching | QueueState::Printing)
}

fn count_of(app: &App, user: UserId) -> ItemFuture<'_, i64> {
    Box::pin(async move { Ok(app.store.count_queue_items_of(user).await?) })
}

fn authorize_delete_of<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, ()> {
    Box::pin(async move {
        for row in app.store.queue_items_of(Some(user)).await? {
            if !App::queue_allows(
                actor,
                &row,
                Permission::QueueDeleteOwn,
                Permission::QueueDeleteAll,
            ) {
                return Err(AppError::Forbidden);
            }
        }
        Ok(())
    })
}

fn delete_of<'a>(app: &'a App, actor: &'a Actor, user: UserId) -> ItemFuture<'a, u64> {
    Box::pin(async move {
        let mut deleted = 0;
        for row in app.store.queue_items_of(Some(user)).await? {
            if is_active(&row) {
                continue;
            }
            match app.delete_queue_row(actor, &row).await {
                Ok(()) => deleted += 1,
                Err(AppError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    })
}
