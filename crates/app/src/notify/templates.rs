//! The editable mail templates (S5): welcome, password reset and the four print events, each a
//! subject, a plain-text body and an HTML body with `{{variable}}` placeholders.
//!
//! Invariant: every variable is HTML-escaped in the HTML part (threat: the anchors pasted
//! printer, file and user names into HTML unescaped, so a file called `<script>…` ran in the
//! recipient's mail client); subjects and plain text get no markup but lose line breaks, so a
//! value cannot add headers or forge lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which mail.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TemplateName {
    /// A new account's set-password link.
    Welcome,
    /// A password reset link.
    PasswordReset,
    /// A print the user started has begun.
    PrintStarted,
    /// It finished.
    PrintCompleted,
    /// It failed.
    PrintFailed,
    /// It was stopped.
    PrintStopped,
    /// A queue item the user added was parked as failed.
    QueueFailed,
}

impl TemplateName {
    /// Every template, in display order.
    pub const ALL: [TemplateName; 7] = [
        TemplateName::Welcome,
        TemplateName::PasswordReset,
        TemplateName::PrintStarted,
        TemplateName::PrintCompleted,
        TemplateName::PrintFailed,
        TemplateName::PrintStopped,
        TemplateName::QueueFailed,
    ];

    /// The snake_case name used in paths and storage.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateName::Welcome => "welcome",
            TemplateName::PasswordReset => "password_reset",
            TemplateName::PrintStarted => "print_started",
            TemplateName::PrintCompleted => "print_completed",
            TemplateName::PrintFailed => "print_failed",
            TemplateName::PrintStopped => "print_stopped",
            TemplateName::QueueFailed => "queue_failed",
        }
    }

    /// Parses a path segment.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The variables this template may use.
    #[must_use]
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            TemplateName::Welcome => &["username", "link", "instance", "expires_minutes"],
            TemplateName::PasswordReset => &["username", "link", "instance", "expires_minutes"],
            TemplateName::PrintStarted
            | TemplateName::PrintCompleted
            | TemplateName::PrintFailed
            | TemplateName::PrintStopped
            | TemplateName::QueueFailed => {
                &["username", "printer", "file", "instance", "error", "link"]
            }
        }
    }

    /// The built-in text.
    #[must_use]
    pub fn default_template(self) -> Template {
        let (subject, text, html) = match self {
            TemplateName::Welcome => (
                "Your printwarden account on {{instance}}",
                "Hello {{username}},\n\nan account was created for you on {{instance}}. Choose your password here (the link works once, for {{expires_minutes}} minutes):\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p>an account was created for you on {{instance}}. Choose your password here (the link works once, for {{expires_minutes}} minutes):</p><p><a href=\"{{link}}\">{{link}}</a></p>",
            ),
            TemplateName::PasswordReset => (
                "Reset your printwarden password",
                "Hello {{username}},\n\nsomeone asked to reset your password on {{instance}}. If it was you, choose a new one here (the link works once, for {{expires_minutes}} minutes):\n\n{{link}}\n\nIf it was not you, ignore this mail; your password stays as it is.\n",
                "<p>Hello {{username}},</p><p>someone asked to reset your password on {{instance}}. If it was you, choose a new one here (the link works once, for {{expires_minutes}} minutes):</p><p><a href=\"{{link}}\">{{link}}</a></p><p>If it was not you, ignore this mail; your password stays as it is.</p>",
            ),
            TemplateName::PrintStarted => (
                "Print started: {{file}} on {{printer}}",
                "Hello {{username}},\n\n{{file}} started printing on {{printer}}.\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p><strong>{{file}}</strong> started printing on <strong>{{printer}}</strong>.</p><p><a href=\"{{link}}\">Open the dashboard</a></p>",
            ),
            TemplateName::PrintCompleted => (
                "Print finished: {{file}} on {{printer}}",
                "Hello {{username}},\n\n{{file}} finished on {{printer}}. The plate is ready to be cleared.\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p><strong>{{file}}</strong> finished on <strong>{{printer}}</strong>. The plate is ready to be cleared.</p><p><a href=\"{{link}}\">Open the dashboard</a></p>",
            ),
            TemplateName::PrintFailed => (
                "Print failed: {{file}} on {{printer}}",
                "Hello {{username}},\n\n{{file}} failed on {{printer}}: {{error}}\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p><strong>{{file}}</strong> failed on <strong>{{printer}}</strong>: {{error}}</p><p><a href=\"{{link}}\">Open the dashboard</a></p>",
            ),
            TemplateName::PrintStopped => (
                "Print stopped: {{file}} on {{printer}}",
                "Hello {{username}},\n\n{{file}} was stopped on {{printer}}.\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p><strong>{{file}}</strong> was stopped on <strong>{{printer}}</strong>.</p><p><a href=\"{{link}}\">Open the dashboard</a></p>",
            ),
            TemplateName::QueueFailed => (
                "Queue item failed: {{file}}",
                "Hello {{username}},\n\n{{file}}, which you added to the queue, failed on {{printer}}: {{error}}\n\n{{link}}\n",
                "<p>Hello {{username}},</p><p><strong>{{file}}</strong>, which you added to the queue, failed on <strong>{{printer}}</strong>: {{error}}</p><p><a href=\"{{link}}\">Open the queue</a></p>",
            ),
        };
        Template {
            subject: subject.to_owned(),
            text: text.to_owned(),
            html: html.to_owned(),
        }
    }
}

/// One template's three parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RenderedMail {
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// Longest part an administrator may store.
pub const MAX_PART: usize = 20_000;

impl Template {
    /// Checks lengths and that every `{{placeholder}}` is one this template knows.
    pub fn validate(&self, name: TemplateName) -> Result<(), String> {
        if self.subject.trim().is_empty() {
            return Err("The subject cannot be empty.".into());
        }
        if self.subject.contains(['\r', '\n']) {
            return Err("The subject must be one line.".into());
        }
        for (part, text) in [
            ("subject", &self.subject),
            ("text", &self.text),
            ("html", &self.html),
        ] {
            if text.len() > MAX_PART {
                return Err(format!("The {part} is longer than {MAX_PART} characters."));
            }
            for var in placeholders(text) {
                if !name.variables().contains(&var) {
                    return Err(format!(
                        "Unknown placeholder {{{{{var}}}}} in the {part}; this template knows: {}.",
                        name.variables().join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fills in the variables: HTML-escaped in the HTML part, flattened to one line in the
    /// subject; unknown placeholders render empty.
    #[must_use]
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> RenderedMail {
        let one_line = |v: &str| v.replace(['\r', '\n'], " ");
        RenderedMail {
            subject: substitute(&self.subject, |k| vars.get(k).map(|v| one_line(v))),
            text: substitute(&self.text, |k| vars.get(k).cloned()),
            html: substitute(&self.html, |k| vars.get(k).map(|v| escape_html(v))),
        }
    }
}

/// The names inside `{{…}}` (trimmed).
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

fn substitute(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&value(after[..end].trim()).unwrap_or_default());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Escapes the five HTML-significant characters.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Sample values for previews.
#[must_use]
pub fn sample_variables(instance: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("username", "ana".to_owned()),
        ("link", format!("{instance}/reset-password?token=example")),
        ("instance", instance.to_owned()),
        ("expires_minutes", "60".to_owned()),
        ("printer", "X1C bay 3".to_owned()),
        ("file", "bracket_v2.gcode.3mf".to_owned()),
        ("error", "Filament ran out".to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_escaped_in_html_and_flattened_in_the_subject() {
        let t = TemplateName::PrintFailed.default_template();
        let vars = BTreeMap::from([
            ("username", "ana".to_owned()),
            ("printer", "bay\r\nBcc: x@evil.example".to_owned()),
            ("file", "<script>alert(1)</script>".to_owned()),
            ("error", "\"quoted\" & 'single'".to_owned()),
            ("link", "https://farm.example/".to_owned()),
        ]);
        let m = t.render(&vars);
        assert!(!m.html.contains("<script>"), "{}", m.html);
        assert!(m.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            m.html
                .contains("&quot;quoted&quot; &amp; &#x27;single&#x27;")
        );
        assert!(!m.subject.contains(['\r', '\n']), "{}", m.subject);
        assert!(
            m.text.contains("<script>alert(1)</script>"),
            "plain text stays literal"
        );
    }

    #[test]
    fn validation_names_unknown_placeholders() {
        let mut t = TemplateName::Welcome.default_template();
        assert_eq!(t.validate(TemplateName::Welcome), Ok(()));
        t.html.push_str("{{password}}");
        let e = t.validate(TemplateName::Welcome).unwrap_err();
        assert!(e.contains("{{password}}"), "{e}");
        let mut t = TemplateName::Welcome.default_template();
        t.subject = "two\nlines".into();
        assert!(t.validate(TemplateName::Welcome).is_err());
    }

    #[test]
    fn every_default_uses_only_its_own_variables() {
        for name in TemplateName::ALL {
            assert_eq!(name.default_template().validate(name), Ok(()), "{name:?}");
            assert_eq!(TemplateName::parse(name.as_str()), Some(name));
        }
    }

    #[test]
    fn unclosed_and_spaced_placeholders() {
        let vars = BTreeMap::from([("username", "ana".to_owned())]);
        let t = Template {
            subject: "Hi {{ username }}".into(),
            text: "x {{username".into(),
            html: "{{unknown}}!".into(),
        };
        let m = t.render(&vars);
        assert_eq!(m.subject, "Hi ana");
        assert_eq!(m.text, "x {{username");
        assert_eq!(m.html, "!");
    }
}
