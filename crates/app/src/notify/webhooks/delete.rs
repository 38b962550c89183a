//! Removing a webhook, audited.

use super::*;

impl App {
    /// `DELETE /api/v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, actor: &Actor, id: WebhookId) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsDelete),
            &Target::Global,
        )?;
        let row = self.webhook_row(id).await?;
        if !self.store.delete_webhook(id).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::WebhookDelete,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({ "name": row.name }),
        )
        .await;
        Ok(())
    }
}
