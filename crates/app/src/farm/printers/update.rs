//! Editing a printer: changed fields validated, a new access code sealed, the supervisor
//! woken to reconnect with the new settings; moving it to another location revokes live access.

use super::*;

impl App {
    /// `PATCH /api/v1/printers/{id}`.
    pub async fn update_printer(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: UpdatePrinter,
    ) -> Result<PrinterView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersUpdate)
            .await?;
        let name = input
            .name
            .as_deref()
            .map(|n| text_field("name", n, 100))
            .transpose()?;
        let host = input.host.as_deref().map(parse_host).transpose()?;
        let model = match input.model.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(String::new()),
            Some(m) => Some(text_field("model", m, 32)?),
        };
        let code = input.access_code.filter(|c| !c.is_empty());
        if let Some(c) = &code {
            parse_access_code(c)?;
        }
        if let Some(location) = input.location_id {
            self.check_location(location).await?;
            // Moving a printer must not take it out of the caller's own reach unnoticed: they
            // need the right on the printer where it lands too.
            let moved = PrinterRow {
                location_id: location,
                ..row.clone()
            };
            if !self.may(actor, Permission::PrintersUpdate, &moved) {
                return Err(AppError::Forbidden);
            }
        }
        let sealed = code
            .map(|c| self.seal(c.expose(), &access_code_context(id)))
            .transpose()?;
        let port = |name: &str, p: Option<u16>| -> Result<Option<u16>, AppError> {
            p.map(|p| parse_port(name, Some(p), p)).transpose()
        };
        let patch = PrinterPatch {
            name: name.as_deref(),
            host: host.as_deref(),
            mqtt_port: port("mqtt_port", input.mqtt_port)?,
            ftps_port: port("ftps_port", input.ftps_port)?,
            camera_port: port("camera_port", input.camera_port)?,
            model: model.as_deref(),
            location_id: input.location_id,
            access_code: sealed.as_deref(),
        };
        if !self.store.update_printer(id, &patch, self.now()).await? {
            return Err(AppError::NotFound);
        }
        if let Some(waived) = input.waive_plate_clear {
            self.store.set_plate_waived(id, waived, self.now()).await?;
            self.fleet.update_plate(id, |p| p.waived = waived);
        }
        let reconnect = host.is_some() || sealed.is_some() || input.mqtt_port.is_some();
        self.audit(
            actor,
            AuditEvent::PrinterUpdate,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({
                "name": name, "host": host, "access_code_changed": sealed.is_some(),
                "location_id": input.location_id,
                "waive_plate_clear": input.waive_plate_clear,
            }),
        )
        .await;
        let row = self.store.printer(id).await?.ok_or(AppError::NotFound)?;
        self.fleet.set_row(row.clone());
        if input.location_id.is_some() {
            // A move can take the printer out of a location-scoped viewer's reach.
            self.access_changed();
        }
        if reconnect {
            self.fleet.wake(id);
        }
        Ok(self.view_for(actor, &row))
    }
}
