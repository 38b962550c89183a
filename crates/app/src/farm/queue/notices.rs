//! The queue's notifications: `queue.dispatched` when a printer took an item's start,
//! `queue.failed` when an item is parked as failed (and the mail to whoever added it), and
//! `queue.waiting_for_plate` when a free printer holds up the queue behind an uncleared plate.
//!
//! Invariants: the first two are announced from [`App::queue_transition`] only after the
//! store's compare-and-set moved the item, so a transition that lost a race announces
//! nothing and each one is announced once; a plate wait is announced once per wait (the
//! dispatcher remembers the printers it announced until their plate is clear again), not on
//! every pass.

use std::collections::HashSet;
use std::sync::Mutex;

use pw_domain::PrinterId;
use pw_store::{PrinterRow, QueueItemRow, QueueState};

use crate::App;
use crate::notify::events::{Notice, NoticeEvent, NoticeQueueItem};
use crate::notify::templates::TemplateName;

/// Printers whose plate wait was announced.
pub(crate) type PlateWaits = Mutex<HashSet<PrinterId>>;

fn item_of(row: &QueueItemRow, reason: Option<&str>) -> NoticeQueueItem {
    NoticeQueueItem {
        id: row.id,
        file: row.file_name.clone(),
        owner: row.created_by_name.clone(),
        reason: reason.map(str::to_owned),
        owner_id: row.created_by,
    }
}

impl App {
    /// Announces what a transition that happened means (called after it was stored).
    pub(super) async fn queue_item_notice(
        &self,
        row: &QueueItemRow,
        from: QueueState,
        to: QueueState,
        reason: Option<&str>,
    ) {
        let event = match (from, to) {
            (QueueState::Dispatching, QueueState::Printing) => NoticeEvent::QueueDispatched,
            (_, QueueState::Failed) => NoticeEvent::QueueFailed,
            _ => return,
        };
        let Some(p) = row.printer_id.and_then(|id| self.notice_printer(id)) else {
            return;
        };
        let file = row.file_name.clone();
        let text = match event {
            NoticeEvent::QueueDispatched => {
                format!("{file} from the queue was started on {}.", p.name)
            }
            _ => format!(
                "{file} from the queue failed on {}: {}",
                p.name,
                reason.unwrap_or("no reason given.")
            ),
        };
        let mut notice = Notice::new(event, self.now(), p, text);
        notice.queue_item = Some(item_of(
            row,
            reason.filter(|_| event == NoticeEvent::QueueFailed),
        ));
        if event == NoticeEvent::QueueFailed
            && let Some(owner) = row.created_by
            && let Err(e) = self
                .mail_user(
                    owner,
                    &notice,
                    TemplateName::QueueFailed,
                    &file,
                    reason.unwrap_or_default().to_owned(),
                )
                .await
        {
            tracing::warn!(item = row.id, error = %e, "queue failure mail not sent");
        }
        self.queue_notice(notice);
    }

    /// A free printer's plate waits for clearing: announces the item it holds up, once per
    /// wait.
    pub(super) async fn plate_wait(&self, printer: &PrinterRow, waits: &PlateWaits) {
        let announced = waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&printer.id);
        if announced {
            return;
        }
        let next = self
            .store
            .peek_next_queue_item(printer.id, &printer.model, printer.location_id, self.now())
            .await;
        let item = match next {
            Ok(Some(item)) => item,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(printer = %printer.id, error = %e, "queue: next item not read");
                return;
            }
        };
        let Some(p) = self.notice_printer(printer.id) else {
            return;
        };
        let first = waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(printer.id);
        if !first {
            return;
        }
        let text = format!(
            "{} waits for the plate of {} to be cleared.",
            item.file_name, p.name
        );
        let mut notice = Notice::new(NoticeEvent::QueueWaitingForPlate, self.now(), p, text);
        notice.queue_item = Some(item_of(&item, None));
        self.queue_notice(notice);
    }

    /// The printer's plate wait (if any) is over.
    pub(super) fn plate_wait_over(&self, printer: PrinterId, waits: &PlateWaits) {
        waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&printer);
    }
}
