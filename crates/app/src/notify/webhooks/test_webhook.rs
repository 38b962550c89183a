//! Sending a test event to one webhook now and answering with the outcome.

use super::*;

/// `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestOutcome {
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Its status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl App {
    /// `POST /api/v1/webhooks/{id}/test`: sends a `webhook.test` event now and reports the
    /// answer. A target the guard refuses is a 400 `url_not_allowed` with the reason.
    pub async fn test_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
    ) -> Result<TestOutcome, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsUpdate),
            &Target::Global,
        )?;
        let row = self.webhook_row(id).await?;
        let opened = match &row.secret {
            Some(s) => Some(self.open(s, &secret_context(id))?),
            None => None,
        };
        let kind = WebhookKind::parse(&row.kind);
        let (url, secret) = match (kind, opened) {
            (WebhookKind::Discord, Some(url)) => (url.expose().to_owned(), None),
            (_, opened) => (row.url.clone(), opened),
        };
        let event = HookEvent {
            at: self.now(),
            event: TEST_EVENT.to_owned(),
            actor: actor.name.to_string(),
            target: Some(("webhook".to_owned(), id.to_string())),
            success: true,
            details: serde_json::json!({ "message": "Test delivery from printwarden." }),
            notice: None,
        };
        let delivery = hex::encode(random::<16>()?);
        let attempt = self
            .outbound()
            .post(&url, kind, secret.as_ref(), &event, &delivery, event.at)
            .await;
        let record = attempt.record(self.now(), TEST_EVENT);
        self.store.record_delivery(id, &record).await?;
        self.audit(
            actor,
            AuditEvent::WebhookTest,
            Some(("webhook", id.to_string())),
            record.ok,
            serde_json::json!({ "status": record.status, "error": record.error }),
        )
        .await;
        match attempt {
            Attempt::Refused(r) => Err(AppError::UrlNotAllowed(r.to_string())),
            _ => Ok(TestOutcome {
                ok: record.ok,
                status: record.status,
                error: record.error,
            }),
        }
    }
}
