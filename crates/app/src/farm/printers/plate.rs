//! A printer's plate for the queue: `POST /api/v1/printers/{id}/plate-cleared` confirms it clear
//! (`printers:clear_plate` on that printer), so the dispatcher may start the next queued job
//! there. The plate needs clearing after every print that ends on it (the archive watcher sets
//! it, persisted); a printer can waive the check (`waive_plate_clear` in its settings,
//! `printers:update`).
//!
//! Invariant: the dispatcher starts nothing on a printer whose plate needs clearing unless the
//! printer waives it (threat: a job printed into the remains of the last one, or onto a plate
//! someone is holding). A printer the caller may not see is a 404.

use super::*;

impl App {
    /// `POST /api/v1/printers/{id}/plate-cleared`.
    pub async fn printer_plate_cleared(
        &self,
        actor: &Actor,
        id: PrinterId,
    ) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersClearPlate)
            .await?;
        let was = self.store.plate(row.id).await?.needs_clearing;
        self.store
            .set_plate_needs_clearing(row.id, false, self.now())
            .await?;
        self.fleet
            .update_plate(row.id, |p| p.needs_clearing = false);
        self.audit(
            actor,
            AuditEvent::PrinterPlateCleared,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "was_waiting": was }),
        )
        .await;
        Ok(())
    }
}
