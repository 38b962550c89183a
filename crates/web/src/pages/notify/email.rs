//! `/settings/email` (Settings → Email) for `settings:email` holders (S5): the mail server
//! (SMTP) settings, the test mail, the Advanced Auth via Email switch and the mail templates
//! editor. Changes go through the JSON API from `static/js/email_settings.js`; the page renders
//! the server's current truth.
//!
//! Invariant: the SMTP password never reaches the page (the API does not return it; the page
//! only says whether one is stored). A template's HTML preview is shown in a sandboxed
//! `<iframe srcdoc>` set by the module, never parsed into this page.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::{MailSecurity, TemplateName, TemplateView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

/// Port shown for a server that has no settings yet (STARTTLS submission).
const DEFAULT_PORT: u16 = 587;

#[derive(Template)]
#[template(path = "email_settings.html")]
struct EmailSettingsPage {
    layout: Layout,
    /// Show the tab to `/settings` too.
    can_security: bool,
    /// Show the tab to `/settings/backup` too.
    can_backup: bool,
    host: String,
    port: u16,
    security: &'static str,
    allow_plaintext: bool,
    username: String,
    password_set: bool,
    from_name: String,
    from_address: String,
    external_url: String,
    ca_cert_pem: String,
    /// Settings were saved at least once (a host is set).
    configured: bool,
    advanced_auth: bool,
    tested: bool,
    /// Where the test mail goes by default: the viewer's own address.
    test_to: String,
    templates: Vec<TemplateRow>,
}

struct TemplateRow {
    name: &'static str,
    label: &'static str,
    about: &'static str,
    /// The placeholders as they are typed, e.g. `{{username}}`.
    variables: Vec<String>,
    customised: bool,
    subject: String,
    text: String,
    html: String,
}

fn security_name(s: MailSecurity) -> &'static str {
    match s {
        MailSecurity::Starttls => "starttls",
        MailSecurity::Tls => "tls",
        MailSecurity::None => "none",
    }
}

fn describe(name: TemplateName) -> (&'static str, &'static str) {
    match name {
        TemplateName::Welcome => (
            "Welcome (set-password link)",
            "Sent to a new account created without a password, with a link to choose one.",
        ),
        TemplateName::PasswordReset => (
            "Password reset",
            "Sent for “Forgot password?” and for an administrator's “Send reset link”.",
        ),
        TemplateName::PrintStarted => (
            "Print started",
            "Sent to a user who opted in, when a print they started begins.",
        ),
        TemplateName::PrintCompleted => (
            "Print completed",
            "Sent to a user who opted in, when a print they started finishes.",
        ),
        TemplateName::PrintFailed => (
            "Print failed",
            "Sent to a user who opted in, when a print they started fails.",
        ),
        TemplateName::PrintStopped => (
            "Print stopped",
            "Sent to a user who opted in, when a print they started is stopped.",
        ),
        TemplateName::QueueFailed => (
            "Queue item failed",
            "Sent to a user who opted in, when a queue item they added fails.",
        ),
    }
}

fn template_row(t: TemplateView) -> TemplateRow {
    let (label, about) = describe(t.name);
    TemplateRow {
        name: t.name.as_str(),
        label,
        about,
        variables: t.variables.iter().map(|v| format!("{{{{{v}}}}}")).collect(),
        customised: t.customised,
        subject: t.subject,
        text: t.text,
        html: t.html,
    }
}

/// `GET /settings/email`.
pub(crate) async fn email_settings_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    const PATH: &str = "/settings/email";
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, PATH),
    };
    let loaded = async {
        let settings = app.get_email_settings(&actor).await?;
        let templates = app.list_templates(&actor).await?;
        Ok::<_, pw_app::AppError>((settings, templates))
    }
    .await;
    let (s, templates) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &viewer, &request_id, PATH),
    };
    let configured = !s.host.is_empty();
    let page = EmailSettingsPage {
        can_security: viewer.can(Permission::SettingsSecurity),
        can_backup: viewer.can(Permission::SystemBackup),
        port: if s.port == 0 { DEFAULT_PORT } else { s.port },
        security: security_name(s.security),
        allow_plaintext: s.allow_plaintext,
        username: s.username.unwrap_or_default(),
        password_set: s.password_set,
        from_name: s.from_name,
        from_address: s.from_address,
        external_url: s.external_url,
        ca_cert_pem: s.ca_cert_pem.unwrap_or_default(),
        configured,
        advanced_auth: s.advanced_auth,
        tested: s.tested,
        host: s.host,
        test_to: viewer
            .me()
            .and_then(|m| m.email.clone())
            .unwrap_or_default(),
        templates: templates.into_iter().map(template_row).collect(),
        layout: Layout::new(app, &viewer).with_module("js/email_settings.js"),
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shown_as_typed() {
        let t = TemplateName::Welcome.default_template();
        let row = template_row(TemplateView {
            name: TemplateName::Welcome,
            variables: TemplateName::Welcome.variables().to_vec(),
            customised: false,
            subject: t.subject,
            text: t.text,
            html: t.html,
        });
        assert_eq!(row.variables[0], "{{username}}");
        assert_eq!(row.name, "welcome");
    }
}
