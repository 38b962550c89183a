//! The SMTP settings as administrators see and change them: the view (password never
//! returned), validated updates with the password sealed, and an audit line naming what changed.

use super::*;

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
pub(super) fn same_settings(a: &StoredEmail, b: &StoredEmail) -> bool {
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
}
