//! The mail templates as administrators edit them: stored overrides over the built-in texts,
//! list, update, reset and preview.

use super::*;

/// One template as the settings page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    /// Which mail.
    pub name: TemplateName,
    /// The variables it may use.
    pub variables: Vec<&'static str>,
    /// False when the built-in text is in use.
    pub customised: bool,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl TemplateView {
    fn new(name: TemplateName, customised: bool, template: Template) -> Self {
        Self {
            name,
            variables: name.variables().to_vec(),
            customised,
            subject: template.subject,
            text: template.text,
            html: template.html,
        }
    }
}

impl App {
    async fn stored_templates(&self) -> Result<BTreeMap<TemplateName, Template>, AppError> {
        Ok(self
            .store
            .setting(KEY_TEMPLATES)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    /// The template in use for `name`.
    pub(crate) async fn template(&self, name: TemplateName) -> Result<Template, AppError> {
        Ok(self
            .stored_templates()
            .await?
            .remove(&name)
            .unwrap_or_else(|| name.default_template()))
    }

    /// `GET /api/v1/settings/email/templates`.
    pub async fn list_templates(&self, actor: &Actor) -> Result<Vec<TemplateView>, AppError> {
        self.require_email_settings(actor)?;
        let stored = self.stored_templates().await?;
        Ok(TemplateName::ALL
            .into_iter()
            .map(|name| {
                let template = stored.get(&name).cloned();
                TemplateView::new(
                    name,
                    template.is_some(),
                    template.unwrap_or_else(|| name.default_template()),
                )
            })
            .collect())
    }

    /// `PUT /api/v1/settings/email/templates/{name}`.
    pub async fn update_template(
        &self,
        actor: &Actor,
        name: TemplateName,
        template: Template,
    ) -> Result<TemplateView, AppError> {
        self.require_email_settings(actor)?;
        template.validate(name).map_err(AppError::BadRequest)?;
        let mut stored = self.stored_templates().await?;
        stored.insert(name, template.clone());
        let text = serde_json::to_string(&stored).map_err(|e| AppError::Internal(Box::new(e)))?;
        self.store
            .set_setting(KEY_TEMPLATES, &text, self.now())
            .await?;
        self.audit(
            actor,
            AuditEvent::SettingsEmailTemplate,
            Some(("template", name.as_str().to_owned())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(TemplateView::new(name, true, template))
    }

    /// `DELETE /api/v1/settings/email/templates/{name}`: back to the built-in text.
    pub async fn reset_template(&self, actor: &Actor, name: TemplateName) -> Result<(), AppError> {
        self.require_email_settings(actor)?;
        let mut stored = self.stored_templates().await?;
        if stored.remove(&name).is_some() {
            let text =
                serde_json::to_string(&stored).map_err(|e| AppError::Internal(Box::new(e)))?;
            self.store
                .set_setting(KEY_TEMPLATES, &text, self.now())
                .await?;
        }
        Ok(())
    }

    /// `POST /api/v1/settings/email/templates/{name}/preview`: renders a draft with sample
    /// values (escaped exactly as a real mail would be).
    pub async fn preview_template(
        &self,
        actor: &Actor,
        name: TemplateName,
        template: Template,
    ) -> Result<RenderedMail, AppError> {
        self.require_email_settings(actor)?;
        template.validate(name).map_err(AppError::BadRequest)?;
        let base = self
            .external_url()
            .await?
            .unwrap_or_else(|| "https://printwarden.example".into());
        Ok(template.render(&sample_variables(&base)))
    }
}
