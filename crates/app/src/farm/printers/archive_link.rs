//! A printer's running job → its archive entry: `PrinterView.archive_id`, so a card links the
//! job to `/archive/{id}`.
//!
//! Invariants: the link is per viewer — it is filled only when the viewer may read that entry,
//! decided by `pw_policy` with the entry's owner and printer exactly as a read of the entry is
//! (`archives:read_own` for one's own prints, `archives:read_all` otherwise, within the
//! viewer's printer scope), so a card never names an entry the viewer would get a 404 for.
//! The open entry is kept in memory by the archive watcher (`sync_open_archive`, after every
//! report that changed the job) — printer views and the events socket stay free of database
//! reads — and each change is announced, so open dashboards get the link as soon as the entry
//! exists and lose it when the job ends.

use pw_domain::{Permission, PrinterId};
use pw_policy::{Action, Decision, PrinterRef, Target, authorize};
use pw_store::PrinterRow;

use super::{PrinterView, printer_ref};
use crate::farm::fleet::{OpenArchive, Rendered};
use crate::{Actor, App, AppError};

/// Whether `actor` may read the open entry `open` of the printer `printer`: the same rule as
/// `GET /api/v1/archives/{id}` (owner and printer through `authorize`).
pub(super) fn may_read_archive(actor: &Actor, open: &OpenArchive, printer: PrinterRef) -> bool {
    matches!(
        authorize(
            &actor.principal,
            Action::OnOwned {
                own: Some(Permission::ArchivesReadOwn),
                all: Permission::ArchivesReadAll,
            },
            &Target::Owned {
                owner: open.owner,
                printer: Some(printer),
            },
        ),
        Decision::Allow
    )
}

impl App {
    /// The printer as `actor` sees it: the shared view plus the running job's archive entry
    /// when they may read it.
    pub(super) fn view_for(&self, actor: &Actor, row: &PrinterRow) -> PrinterView {
        let mut view = self.view(row);
        view.archive_id = self
            .fleet
            .open_archive(row.id)
            .filter(|open| may_read_archive(actor, open, printer_ref(row)))
            .map(|open| open.id);
        view
    }

    /// The events socket's message for a printer, serialised once for every socket: without
    /// the archive link, and (when an entry is open) with it for those who may read it. The
    /// row, live state, plate and archive entry come from one look at the fleet; the live
    /// state is read in place (no copy of the status) and the view is serialised straight to
    /// bytes (no intermediate `serde_json::Value`): this runs once per report.
    pub(super) fn render_printer_event(&self, printer: PrinterId) -> Option<Rendered> {
        #[derive(serde::Serialize)]
        struct Message<'a> {
            r#type: &'static str,
            printer: &'a PrinterView,
        }
        let parts = self.fleet.render_parts(printer)?;
        let mut view = {
            let live = parts.live.borrow();
            self.view_of(&parts.row, &live, parts.plate)
        };
        let message = |view: &PrinterView| {
            serde_json::to_vec(&Message {
                r#type: "printer",
                printer: view,
            })
            .ok()
        };
        let plain = message(&view)?.into();
        let archive = match parts.archive {
            Some(open) => {
                view.archive_id = Some(open.id);
                Some((open, message(&view)?.into()))
            }
            None => None,
        };
        Some(Rendered {
            target: printer_ref(&parts.row),
            message: plain,
            archive,
        })
    }

    /// Records the printer's open archive entry as the database has it now (the archive
    /// watcher calls this after each report that changed the job).
    pub(crate) async fn sync_open_archive(&self, printer: PrinterId) -> Result<(), AppError> {
        let open = self
            .store
            .open_archive_of(printer)
            .await?
            .map(|entry| OpenArchive {
                id: entry.id,
                owner: entry.started_by,
            });
        self.fleet.set_open_archive(printer, open);
        Ok(())
    }
}
