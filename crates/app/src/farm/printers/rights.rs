//! What a viewer may do on each printer, for the printer cards and the list view: a control
//! renders only for a right the viewer holds on *that* printer.
//!
//! Invariant: the rights come from the same `pw_policy` decisions the write use cases make on
//! the printer (`printer_for` authorizes `Perform(permission)` on the printer and its
//! location), never from the viewer's permission list alone — a group scoped to one location
//! that grants `printers:update` shows Edit only on the printers placed there (newcomer defect
//! M11: Edit everywhere, then "You are not allowed to do this" on save).

use serde::Serialize;

use super::{PrinterView, may_on};
use crate::{Actor, App};
use pw_domain::Permission;
use pw_policy::PrinterRef;

/// The viewer's rights on one printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PrinterRights {
    /// Pause, resume, stop, light, speed (`printers:control`).
    pub can_control: bool,
    /// Upload a file and print it now (`printers:control` and `queue:create`).
    pub can_print: bool,
    /// Edit name, address, access code, location (`printers:update`).
    pub can_update: bool,
    /// Remove the printer (`printers:delete`).
    pub can_delete: bool,
    /// Confirm the plate clear (`printers:clear_plate`).
    pub can_clear_plate: bool,
    /// Browse its storage (`printers:files`).
    pub can_files: bool,
    /// Approve a changed certificate (`printers:trust`).
    pub can_trust: bool,
    /// Watch its camera (`camera:view`), where printwarden can show the model's camera.
    pub can_watch: bool,
}

impl App {
    /// The viewer's rights on a printer they can see.
    #[must_use]
    pub fn printer_rights(&self, actor: &Actor, printer: &PrinterView) -> PrinterRights {
        let target = PrinterRef {
            printer: printer.id,
            location: printer.location_id,
        };
        let may = |p: Permission| may_on(actor, p, target);
        PrinterRights {
            can_control: may(Permission::PrintersControl),
            can_print: may(Permission::PrintersControl) && may(Permission::QueueCreate),
            can_update: may(Permission::PrintersUpdate),
            can_delete: may(Permission::PrintersDelete),
            can_clear_plate: may(Permission::PrintersClearPlate),
            can_files: may(Permission::PrintersFiles),
            can_trust: may(Permission::PrintersTrust),
            // Every camera kind is shown: the JPEG stream of A1/P1 and the H.264 of X1/H2/P2S
            // (remuxed to fragmented MP4, see farm::cameras).
            can_watch: may(Permission::CameraView),
        }
    }
}
