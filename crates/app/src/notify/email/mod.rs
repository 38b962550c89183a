//! Mail (S5): the SMTP settings (`settings:email`), the admin's test mail, the editable
//! templates and the one way the application sends a message.
//!
//! Invariants: the SMTP password is sealed at rest and never returned; plaintext SMTP is only
//! used when the administrator set `allow_plaintext`; links in mails are built from the
//! configured external URL, never from a request's Host header (threat: a forged Host turns a
//! reset mail into a link to the attacker's site); "Advanced Auth via Email" can only be on
//! while a test mail went through with the current SMTP settings.

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
const PASSWORD_CONTEXT: &str = "settings.email.password";
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

/// `GET /api/v1/settings/email`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailSettingsView {
    /// Mail server; empty when mail is not configured.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: MailSecurity,
    /// Plaintext explicitly allowed.
    pub allow_plaintext: bool,
    /// SMTP user.
    pub username: Option<String>,
    /// Whether a password is stored (it is never shown).
    pub password_set: bool,
    /// Sender name.
    pub from_name: String,
    /// Sender address.
    pub from_address: String,
    /// Base of every link in mails, e.g. `https://farm.example.com`.
    pub external_url: String,
    /// CA certificate for a private mail server.
    pub ca_cert_pem: Option<String>,
    /// Advanced Auth via Email: set-password and reset links.
    pub advanced_auth: bool,
    /// A test mail went through with the current settings.
    pub tested: bool,
}

/// `PUT /api/v1/settings/email`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSettingsInput {
    /// Mail server host name or address.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: MailSecurity,
    /// Must be true for `security: none`.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// SMTP user (empty: no AUTH).
    #[serde(default)]
    pub username: Option<String>,
    /// New password; omitted keeps the stored one, empty clears it. While one is stored, a
    /// change of anything but `from_name` and `advanced_auth` needs it again (400 otherwise):
    /// the stored password never goes to a changed server.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// Sender name.
    pub from_name: String,
    /// Sender address.
    pub from_address: String,
    /// Base of every link in mails (`https://…`).
    pub external_url: String,
    /// CA certificate (PEM) for a private mail server.
    #[serde(default)]
    pub ca_cert_pem: Option<String>,
    /// Advanced Auth via Email (needs a successful test mail first).
    #[serde(default)]
    pub advanced_auth: bool,
}

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

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

/// Checks and normalises an external URL: `http(s)://host[:port][/path]`, no query, no
/// fragment, no credentials; returned without a trailing slash.
fn parse_external_url(raw: &str) -> Result<String, AppError> {
    let raw = raw.trim();
    let url = url::Url::parse(raw)
        .map_err(|_| bad("external_url must be a full URL like https://farm.example.com."))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad(
            "external_url must start with https:// (or http://) and name a host.",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad(
            "external_url cannot have a query, a fragment or credentials.",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_host(raw: &str) -> Result<String, AppError> {
    let host = raw.trim().trim_end_matches('.').to_owned();
    if host.is_empty()
        || host.len() > 253
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return Err(bad("host must be a mail server name or address."));
    }
    Ok(host)
}

/// Whether two stored settings send the same way (the sender name and the switches aside).
fn same_settings(a: &StoredEmail, b: &StoredEmail) -> bool {
    sensitive_changes(a, b).is_empty() && a.password_sealed == b.password_sealed
}

/// The settings that decide where the SMTP password, the mails and the links in them go, with
/// their old and new values: everything but the sender name and the Advanced Auth switch.
fn sensitive_changes(
    old: &StoredEmail,
    next: &StoredEmail,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let mut out = serde_json::Map::new();
    let mut field = |name: &str, from: Value, to: Value| {
        if from != to {
            out.insert(name.to_owned(), json!({ "from": from, "to": to }));
        }
    };
    field("host", json!(old.host), json!(next.host));
    field("port", json!(old.port), json!(next.port));
    field("security", json!(old.security), json!(next.security));
    field(
        "allow_plaintext",
        json!(old.allow_plaintext),
        json!(next.allow_plaintext),
    );
    field("username", json!(old.username), json!(next.username));
    field(
        "from_address",
        json!(old.from_address),
        json!(next.from_address),
    );
    field(
        "external_url",
        json!(old.external_url),
        json!(next.external_url),
    );
    if old.ca_cert_pem != next.ca_cert_pem {
        // The PEM itself is long and public; the audit says that it changed.
        out.insert("ca_cert_pem".to_owned(), json!("changed"));
    }
    out
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

    fn email_view(stored: &StoredEmail) -> EmailSettingsView {
        EmailSettingsView {
            host: stored.host.clone(),
            port: stored.port,
            security: stored.security,
            allow_plaintext: stored.allow_plaintext,
            username: stored.username.clone(),
            password_set: stored.password_sealed.is_some(),
            from_name: stored.from_name.clone(),
            from_address: stored.from_address.clone(),
            external_url: stored.external_url.clone(),
            ca_cert_pem: stored.ca_cert_pem.clone(),
            advanced_auth: stored.advanced_auth,
            tested: stored.tested,
        }
    }

    /// `GET /api/v1/settings/email`.
    pub async fn get_email_settings(&self, actor: &Actor) -> Result<EmailSettingsView, AppError> {
        self.require_email_settings(actor)?;
        Ok(Self::email_view(&self.stored_email().await?))
    }

    /// `PUT /api/v1/settings/email`. Any change to how mail is sent clears the "tested" mark,
    /// and with it Advanced Auth, until a test mail goes through again.
    pub async fn update_email_settings(
        &self,
        actor: &Actor,
        input: EmailSettingsInput,
    ) -> Result<EmailSettingsView, AppError> {
        self.require_email_settings(actor)?;
        let old = self.stored_email().await?;
        let host = parse_host(&input.host)?;
        if input.port == 0 {
            return Err(bad("port must be between 1 and 65535."));
        }
        if input.security == MailSecurity::None && !input.allow_plaintext {
            return Err(bad(
                "security \"none\" sends the password and every mail in plaintext; set allow_plaintext to true to accept that.",
            ));
        }
        let from_address = Email::parse(&input.from_address)
            .map_err(|e| bad(format!("from_address: {e}")))?
            .as_str()
            .to_owned();
        let from_name = input.from_name.trim().replace(['\r', '\n'], " ");
        if from_name.chars().count() > 100 {
            return Err(bad("from_name must be at most 100 characters."));
        }
        let external_url = parse_external_url(&input.external_url)?;
        if host.parse::<std::net::IpAddr>().is_ok() {
            // A literal can be judged now (a name is judged at every send, its answers change);
            // naming the address tells the editor nothing they did not write.
            if let Err(refusal) = self.outbound().guard.check_host(&host).await {
                return Err(AppError::UrlNotAllowed(format!("host: {refusal}")));
            }
        }
        let ca_cert_pem = match input.ca_cert_pem.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(pem) => {
                validate_ca_pem(pem).map_err(|e| bad(format!("ca_cert_pem: {e}")))?;
                Some(pem.to_owned())
            }
        };
        let username = input
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        let mut next = StoredEmail {
            host,
            port: input.port,
            security: input.security,
            allow_plaintext: input.allow_plaintext,
            username,
            password_sealed: None,
            from_name,
            from_address,
            external_url,
            ca_cert_pem,
            advanced_auth: input.advanced_auth,
            tested: false,
        };
        let changed = sensitive_changes(&old, &next);
        let password = match &input.password {
            None => "kept",
            Some(p) if p.is_empty() => "removed",
            Some(_) => "replaced",
        };
        // Threat (audit finding 2): an editor points the stored password at a server of their
        // choosing (it goes out as AUTH PLAIN), or reset links at a URL of their choosing.
        // Whoever changes where the password, the mails or the links go types a password (or
        // removes it): the stored one never follows the change. (They may type one of their own:
        // that is why `settings:email` is administrator-grade, see SECURITY-MODEL.md.)
        if old.password_sealed.is_some() && input.password.is_none() && !changed.is_empty() {
            self.audit_email_change(actor, false, &changed, password, &next)
                .await;
            return Err(bad(
                "A password for the mail server is stored. Changing the server, port, security, \
                 username, sender address, CA certificate or this server's address needs it again: \
                 type the password (or remove it). The stored password is never sent to a changed \
                 server.",
            ));
        }
        next.password_sealed = match &input.password {
            None => old.password_sealed.clone(),
            Some(p) if p.is_empty() => None,
            Some(p) => Some(self.seal(p.expose(), PASSWORD_CONTEXT)?),
        };
        // Any sensitive change, and any new password, asks for a new test before Advanced Auth
        // (whose links carry reset tokens) can be on again.
        next.tested = old.tested && changed.is_empty() && input.password.is_none();
        if next.advanced_auth && !next.tested {
            self.audit_email_change(actor, false, &changed, password, &next)
                .await;
            return Err(AppError::Conflict(
                "Send a test email with these settings first: Advanced Auth needs working mail."
                    .into(),
            ));
        }
        self.save_email(&next).await?;
        self.audit_email_change(actor, true, &changed, password, &next)
            .await;
        Ok(Self::email_view(&next))
    }

    /// Audits a change of the mail settings: what changed, from what to what, and whether the
    /// password was kept, replaced or removed (never the password).
    async fn audit_email_change(
        &self,
        actor: &Actor,
        success: bool,
        changed: &serde_json::Map<String, serde_json::Value>,
        password: &str,
        next: &StoredEmail,
    ) {
        self.audit(
            actor,
            AuditEvent::SettingsEmail,
            None,
            success,
            serde_json::json!({
                "changed": changed,
                "password": password,
                "advanced_auth": next.advanced_auth,
                "host": next.host, "port": next.port, "security": next.security,
            }),
        )
        .await;
    }

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
