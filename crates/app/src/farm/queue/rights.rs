//! What a viewer may do with each queue item and on which printers they may queue, for the
//! queue page and the add-to-queue dialog: their controls render only for these rights.
//!
//! Invariant: the rights come from the same `pw_policy` decisions the write use cases make
//! (`queue_allows` on the item's owner for update/delete; `queue:create` on the printer, as
//! `queue_target` checks it), never from the viewer's permission list alone — `queue:update_own`
//! on someone else's item shows no editor, and a scoped group sees only its printers as targets.
//! Only a queued item can be changed; a running one cannot be cancelled from the queue.

use pw_domain::{Permission, UserId};
use pw_policy::{Action, PrinterRef, Target, authorize};
use serde::Serialize;

use super::QueueItemView;
use crate::farm::printers::PrinterView;
use crate::{Actor, App, AppError};

/// The viewer's rights on one item, as its state allows them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueRights {
    /// Change copies, priority, "not before" (queued items only).
    pub can_update: bool,
    /// Cancel a queued item, or remove an ended one (not while a printer works on it).
    pub can_delete: bool,
}

impl App {
    /// The viewer's rights on an item they can see.
    #[must_use]
    pub fn queue_item_rights(&self, actor: &Actor, item: &QueueItemView) -> QueueRights {
        let allows = |own: Permission, all: Permission| {
            authorize(
                &actor.principal,
                Action::OnOwned {
                    own: Some(own),
                    all,
                },
                &Target::Owned {
                    owner: item.owner.as_ref().map(|o| UserId::from_db(o.id)),
                    printer: None,
                },
            )
            .is_allowed()
        };
        let queued = item.state == "queued";
        let active = matches!(item.state.as_str(), "dispatching" | "printing");
        QueueRights {
            can_update: queued && allows(Permission::QueueUpdateOwn, Permission::QueueUpdateAll),
            can_delete: !active && allows(Permission::QueueDeleteOwn, Permission::QueueDeleteAll),
        }
    }

    /// The printers the actor may read and queue on (the add-to-queue dialog's targets), by
    /// name. Empty without `queue:create` or `printers:read`.
    pub async fn queue_printer_targets(&self, actor: &Actor) -> Result<Vec<PrinterView>, AppError> {
        let printers = match self.list_printers(actor).await {
            Ok(p) => p,
            Err(AppError::Forbidden) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<PrinterView> = printers
            .into_iter()
            .filter(|p| {
                authorize(
                    &actor.principal,
                    Action::Perform(Permission::QueueCreate),
                    &Target::Printer(PrinterRef {
                        printer: p.id,
                        location: p.location_id,
                    }),
                )
                .is_allowed()
            })
            .collect();
        out.sort_by_key(|p| p.name.to_lowercase());
        Ok(out)
    }
}
