//! Removing a printer: its supervisor stops with the row, live viewers are told, the content
//! its open print jobs kept is released when nothing else names it, the removal is audited.

use super::*;

impl App {
    /// `DELETE /api/v1/printers/{id}`.
    pub async fn delete_printer(&self, actor: &Actor, id: PrinterId) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersDelete)
            .await?;
        self.fleet.stop(id);
        {
            // Its open print jobs go with it (cascade), and with them their hold on the
            // content they kept; content nothing else names (an archive entry, the library)
            // is released through the one release path, never left on disk for good.
            let held = self.blob_refs().await;
            let blobs = self.store.open_print_job_blobs(id).await?;
            if !self.store.delete_printer(id).await? {
                return Err(AppError::NotFound);
            }
            if let Err(e) = self.release_blobs(&held, &blobs).await {
                tracing::warn!(printer = %id, error = %e, "content of the printer's jobs not released");
            }
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
