//! Editing a webhook: changed URL re-checked, a new secret sealed (empty keeps it), audited.
//! Its kind stays; a `discord` webhook's new URL is sealed in place of the old one.

use super::*;

impl App {
    /// `PATCH /api/v1/webhooks/{id}`.
    pub async fn update_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
        input: UpdateWebhook,
    ) -> Result<WebhookView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsUpdate),
            &Target::Global,
        )?;
        let current = self.webhook_row(id).await?;
        let kind = WebhookKind::parse(&current.kind);
        // A Discord webhook's URL comes back masked; sent back unchanged, it stays as it is
        // (sealing the masked form would silently break the webhook).
        let input = UpdateWebhook {
            url: input
                .url
                .filter(|u| !(kind == WebhookKind::Discord && u.trim() == current.url)),
            ..input
        };
        let name = input.name.as_deref().map(parse_name).transpose()?;
        let url = input
            .url
            .as_deref()
            .map(|u| self.check_hook_url(u))
            .transpose()?;
        let events = input.events.map(parse_events).transpose()?;
        // Whoever changes what a webhook selects, where it delivers, or switches it on decides
        // who receives those events: they must be able to read them too.
        if events.is_some() || input.url.is_some() || input.enabled == Some(true) {
            let resulting = events.clone().unwrap_or_else(|| events_of(&current));
            self.check_filter(actor, &resulting).await?;
        }
        let events_json = events
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        if kind == WebhookKind::Discord && input.remove_secret {
            return Err(AppError::BadRequest(
                "A Discord webhook has no separate secret: its URL is the secret.".into(),
            ));
        }
        let mut new_secret = parse_secret(input.secret, kind)?;
        let url = match (kind, url) {
            // The new URL is the new secret; the column keeps its masked form.
            (WebhookKind::Discord, Some(u)) => {
                let shown = masked(&u);
                new_secret = Some(SecretString::from(u));
                Some(shown)
            }
            (_, u) => u,
        };
        let new_secret = new_secret
            .map(|s| self.seal(s.expose(), &secret_context(id)))
            .transpose()?;
        if input.remove_secret && new_secret.is_some() {
            return Err(AppError::BadRequest(
                "Send either a new secret or remove_secret, not both.".into(),
            ));
        }
        // Threat (audit finding 15): retargeting a signed webhook at the editor's receiver
        // would hand it deliveries signed with the old secret, which the old receiver trusts.
        // (An ntfy token is held to the same rule; a Discord URL is its own secret.)
        let retargeted =
            kind != WebhookKind::Discord && url.as_deref().is_some_and(|u| u != current.url);
        if retargeted && current.secret.is_some() && new_secret.is_none() && !input.remove_secret {
            return Err(AppError::BadRequest(
                "This webhook signs its deliveries. A new URL needs a new signing secret (the old \
                 one is never used for a new receiver): enter one, or remove the secret."
                    .into(),
            ));
        }
        let secret = match (&new_secret, input.remove_secret) {
            (Some(s), _) => Some(Some(s.as_str())),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let patch = WebhookPatch {
            name: name.as_deref(),
            url: url.as_deref(),
            secret,
            events: events_json.as_deref(),
            enabled: input.enabled,
        };
        if !self.store.update_webhook(id, &patch, self.now()).await? {
            return Err(AppError::NotFound);
        }
        let mut changed = Vec::new();
        for (field, set) in [
            ("name", name.is_some()),
            ("url", url.is_some()),
            ("secret", secret.is_some()),
            ("events", events.is_some()),
            ("enabled", input.enabled.is_some()),
        ] {
            if set {
                changed.push(field);
            }
        }
        self.audit(
            actor,
            AuditEvent::WebhookUpdate,
            Some(("webhook", id.to_string())),
            true,
            serde_json::json!({ "changed": changed }),
        )
        .await;
        Ok(view(self.webhook_row(id).await?, &self.backlog, self.now()))
    }
}
