//! Sending mail: the transport built from the stored settings, the test mail, and delivery of
//! rendered templates off the caller's path (failures logged, never shown).

use super::*;

/// `POST /api/v1/settings/email/test`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEmail {
    /// Recipient.
    pub to: String,
}

/// The test mail's outcome: the server's answer either way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestEmailOutcome {
    /// Delivered to the mail server.
    pub ok: bool,
    /// The server's reply, or what went wrong.
    pub message: String,
}

impl App {
    /// `POST /api/v1/settings/email/test`: sends a test mail and reports the server's answer.
    pub async fn test_email(
        &self,
        actor: &Actor,
        request: TestEmail,
    ) -> Result<TestEmailOutcome, AppError> {
        self.require_email_settings(actor)?;
        let stored = self.stored_email().await?;
        if stored.host.is_empty() {
            return Err(AppError::Conflict(
                "Save the mail server settings first.".into(),
            ));
        }
        let to = Email::parse(&request.to).map_err(|e| bad(format!("to: {e}")))?;
        let mail = Mail {
            to: to.as_str().to_owned(),
            subject: "printwarden test email".into(),
            text: format!(
                "This is a test email from printwarden at {}.\n\nIf you can read it, mail works.\n",
                stored.external_url
            ),
            html: None,
        };
        let outcome = match self.send_with(&stored, &mail).await? {
            Ok(reply) => TestEmailOutcome {
                ok: true,
                message: reply,
            },
            Err(e) => TestEmailOutcome {
                ok: false,
                message: e.to_string(),
            },
        };
        // The mark belongs to the settings that were tested: re-read, and record the outcome
        // only if nobody changed them while the mail was on its way (threat: a test of the old
        // server marking a just-saved new one as tested).
        let mut current = self.stored_email().await?;
        if same_settings(&current, &stored) && current.tested != outcome.ok {
            current.tested = outcome.ok;
            if !outcome.ok {
                current.advanced_auth = false;
            }
            self.save_email(&current).await?;
        }
        self.audit(
            actor,
            AuditEvent::SettingsEmailTest,
            None,
            outcome.ok,
            serde_json::json!({ "to": to.as_str(), "message": outcome.message }),
        )
        .await;
        Ok(outcome)
    }

    /// Sends `mail` with `stored` through the outbound policy: the SMTP host is resolved and
    /// checked like any other outbound target (threat: the mail settings as an SSRF and
    /// port-scanning tool into the farm's LAN), and the connection goes to exactly the checked
    /// addresses. The outer error is a server fault; the inner one is the delivery's outcome,
    /// in words safe to show.
    async fn send_with(
        &self,
        stored: &StoredEmail,
        mail: &Mail,
    ) -> Result<Result<String, MailError>, AppError> {
        let connect_to = match self.outbound().guard.check_host(&stored.host).await {
            Ok(ips) => ips,
            Err(refusal) => {
                // The reason (an address, a resolver error) goes to the log only: shown, it
                // would map internal names for whoever holds `settings:email`.
                tracing::warn!(host = %stored.host, refusal = ?refusal, "mail server refused by the outbound policy");
                return Ok(Err(MailError::unreachable(&stored.host, stored.port)));
            }
        };
        let config = self.smtp_config(stored, connect_to)?;
        Ok(send_mail(&config, mail).await)
    }

    fn smtp_config(
        &self,
        stored: &StoredEmail,
        connect_to: Vec<std::net::IpAddr>,
    ) -> Result<SmtpConfig, AppError> {
        let password = stored
            .password_sealed
            .as_deref()
            .map(|s| self.open(s, PASSWORD_CONTEXT))
            .transpose()?;
        Ok(SmtpConfig {
            host: stored.host.clone(),
            port: stored.port,
            connect_to,
            security: stored.security.into(),
            username: stored.username.clone(),
            password,
            from_name: stored.from_name.clone(),
            from_address: stored.from_address.clone(),
            ca_cert_pem: stored.ca_cert_pem.clone(),
            timeout: SEND_TIMEOUT,
        })
    }

    /// Sends one mail with the stored settings.
    pub(crate) async fn deliver(&self, mail: &Mail) -> Result<String, AppError> {
        let stored = self.stored_email().await?;
        if stored.host.is_empty() {
            return Err(AppError::Conflict(
                "Mail is not set up on this server.".into(),
            ));
        }
        self.send_with(&stored, mail)
            .await?
            .map_err(|e| AppError::Internal(Box::new(e)))
    }

    /// Renders a template (stored or built-in) and sends it, off the caller's path: failures
    /// are logged, never shown (the caller's answer must not depend on the mail).
    pub(crate) fn send_template_later(
        &self,
        name: TemplateName,
        to: String,
        vars: BTreeMap<&'static str, String>,
    ) {
        let app = self.clone();
        tokio::spawn(async move {
            let result = async {
                let template = app.template(name).await?;
                let rendered = template.render(&vars);
                app.deliver(&Mail {
                    to,
                    subject: rendered.subject,
                    text: rendered.text,
                    html: Some(rendered.html),
                })
                .await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(template = name.as_str(), error = %e, cause = ?std::error::Error::source(&e), "a mail was not sent");
            }
        });
    }
}
