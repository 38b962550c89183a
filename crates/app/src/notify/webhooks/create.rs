//! Adding a webhook: URL checked by the SSRF guard, secret sealed (for `discord`, the URL
//! itself), filter validated against what its creator may receive, audited.

use super::*;

impl App {
    /// `POST /api/v1/webhooks`.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        input: CreateWebhook,
    ) -> Result<WebhookView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsCreate),
            &Target::Global,
        )?;
        let name = parse_name(&input.name)?;
        let kind = input.kind.unwrap_or_default();
        let url = self.check_hook_url(&input.url)?;
        let events = parse_events(input.events)?;
        self.check_filter(actor, &events).await?;
        let mut secret = parse_secret(input.secret, kind)?;
        let shown = if kind == WebhookKind::Discord {
            // The URL carries the channel's token: sealed like a secret, shown masked.
            secret = Some(SecretString::from(url.clone()));
            masked(&url)
        } else {
            url
        };
        let enabled = input.enabled.unwrap_or(true);
        let events_json =
            serde_json::to_string(&events).map_err(|e| AppError::Internal(Box::new(e)))?;
        // The sealing context names the row, so the secret is written once the id exists; the
        // row stays disabled until then, so no delivery goes out unsigned.
        let id = self
            .store
            .insert_webhook(
                &NewWebhook {
                    name: &name,
                    url: &shown,
                    secret: None,
                    events: &events_json,
                    enabled: enabled && secret.is_none(),
                    created_by: actor.user_id,
                    kind: kind.as_str(),
                },
                self.now(),
            )
            .await?;
        if let Some(s) = &secret {
            let sealed = self.seal(s.expose(), &secret_context(id))?;
            let patch = WebhookPatch {
                secret: Some(Some(&sealed)),
                enabled: Some(enabled),
                ..WebhookPatch::default()
            };
            self.store.update_webhook(id, &patch, self.now()).await?;
        }
        self.audit(
            actor,
            AuditEvent::WebhookCreate,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({
                "name": name,
                "events": events,
                "signed": secret.is_some() && kind == WebhookKind::Printwarden,
                "kind": kind.as_str(),
            }),
        )
        .await;
        Ok(view(self.webhook_row(id).await?, &self.backlog, self.now()))
    }
}
