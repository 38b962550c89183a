//! Adding a printer: validated fields, the access code sealed before it is stored, the
//! supervisor started, the creation audited.

use super::*;

impl App {
    /// `POST /api/v1/printers`.
    pub async fn create_printer(
        &self,
        actor: &Actor,
        input: CreatePrinter,
    ) -> Result<PrinterView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersCreate),
            &Target::Global,
        )?;
        let name = text_field("name", &input.name, 100)?;
        let serial = parse_serial(&input.serial)?;
        let host = parse_host(&input.host)?;
        parse_access_code(&input.access_code)?;
        let model = match input.model.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(m) => text_field("model", m, 32)?,
        };
        self.check_location(input.location_id).await?;
        let new = NewPrinter {
            name: &name,
            serial: &serial,
            host: &host,
            mqtt_port: parse_port("mqtt_port", input.mqtt_port, DEFAULT_MQTT_PORT)?,
            ftps_port: parse_port("ftps_port", input.ftps_port, DEFAULT_FTPS_PORT)?,
            camera_port: parse_port("camera_port", input.camera_port, DEFAULT_CAMERA_PORT)?,
            model: &model,
            location_id: input.location_id,
            access_code: "",
            created_by: actor.user_id,
        };
        let id = match self.store.insert_printer(&new, self.now()).await {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(format!(
                    "A printer with serial {serial} is already added."
                )));
            }
            other => other?,
        };
        // The sealing context names the row, so the code is sealed once the id exists.
        let sealed = self.seal(input.access_code.expose(), &access_code_context(id))?;
        self.store
            .update_printer(
                id,
                &PrinterPatch {
                    access_code: Some(&sealed),
                    ..PrinterPatch::default()
                },
                self.now(),
            )
            .await?;
        self.audit(
            actor,
            AuditEvent::PrinterCreate,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "name": name, "serial": serial, "host": host }),
        )
        .await;
        let row = self.store.printer(id).await?.ok_or(AppError::NotFound)?;
        self.supervise(row.clone());
        Ok(self.view_for(actor, &row))
    }
}
