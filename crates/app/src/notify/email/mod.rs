//! Mail (S5): the SMTP settings (`settings:email`), the admin's test mail, the editable
//! templates and the one way the application sends a message.
//!
//! Invariants: the SMTP password is sealed at rest and never returned; plaintext SMTP is only
//! used when the administrator set `allow_plaintext`; links in mails are built from the
//! configured external URL, never from a request's Host header (threat: a forged Host turns a
//! reset mail into a link to the attacker's site); "Advanced Auth via Email" can only be on
//! while a test mail went through with the current SMTP settings.

mod send;
mod settings;
mod templates;

pub use send::{TestEmail, TestEmailOutcome};
use settings::same_settings;
pub use settings::{EmailSettingsInput, EmailSettingsView};
pub use templates::TemplateView;

use std::collections::BTreeMap;

use pw_domain::{Email, Permission};
use pw_identity::mail::{Mail, MailError, SmtpConfig, SmtpSecurity, send_mail, validate_ca_pem};
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use crate::notify::templates::{RenderedMail, Template, TemplateName, sample_variables};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, SecretString};

const KEY_EMAIL: &str = "email.smtp";
const KEY_TEMPLATES: &str = "email.templates";
pub(crate) const PASSWORD_CONTEXT: &str = "settings.email.password";
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How the mail server connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// STARTTLS, required (usually port 587).
    #[default]
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
    /// Plaintext: only with `allow_plaintext`.
    None,
}

impl From<MailSecurity> for SmtpSecurity {
    fn from(s: MailSecurity) -> Self {
        match s {
            MailSecurity::Starttls => SmtpSecurity::StartTls,
            MailSecurity::Tls => SmtpSecurity::Tls,
            MailSecurity::None => SmtpSecurity::None,
        }
    }
}

/// What is stored under `email.smtp` (the password sealed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredEmail {
    host: String,
    port: u16,
    security: MailSecurity,
    allow_plaintext: bool,
    username: Option<String>,
    password_sealed: Option<String>,
    from_name: String,
    from_address: String,
    external_url: String,
    ca_cert_pem: Option<String>,
    advanced_auth: bool,
    /// A test mail went through with exactly these SMTP settings.
    tested: bool,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

impl App {
    fn require_email_settings(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::SettingsEmail),
            &Target::Global,
        )
    }

    async fn stored_email(&self) -> Result<StoredEmail, AppError> {
        Ok(self
            .store
            .setting(KEY_EMAIL)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    async fn save_email(&self, stored: &StoredEmail) -> Result<(), AppError> {
        let text = serde_json::to_string(stored).map_err(|e| AppError::Internal(Box::new(e)))?;
        self.store.set_setting(KEY_EMAIL, &text, self.now()).await?;
        Ok(())
    }

    /// Whether mail can be sent at all (settings saved).
    pub(crate) async fn mail_configured(&self) -> Result<bool, AppError> {
        Ok(!self.stored_email().await?.host.is_empty())
    }

    /// Whether Advanced Auth via Email is on.
    pub async fn advanced_auth(&self) -> Result<bool, AppError> {
        let s = self.stored_email().await?;
        Ok(s.advanced_auth && !s.host.is_empty())
    }

    /// The configured external URL (base of links), if mail is configured.
    pub(crate) async fn external_url(&self) -> Result<Option<String>, AppError> {
        let s = self.stored_email().await?;
        Ok((!s.external_url.is_empty()).then_some(s.external_url))
    }
}
