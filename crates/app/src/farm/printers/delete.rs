//! Removing a printer: its supervisor stops with the row, live viewers are told, the removal
//! is audited.

use super::*;

impl App {
    /// `DELETE /api/v1/printers/{id}`.
    pub async fn delete_printer(&self, actor: &Actor, id: PrinterId) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersDelete)
            .await?;
        self.fleet.stop(id);
        if !self.store.delete_printer(id).await? {
            return Err(AppError::NotFound);
        }
        // Its camera viewers and event sockets let go of it now.
        self.access_changed();
        self.audit(
            actor,
            AuditEvent::PrinterDelete,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "name": row.name, "serial": row.serial }),
        )
        .await;
        Ok(())
    }
}
