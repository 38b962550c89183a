//! The effective configuration as TOML for `printwarden config check`, secrets masked.

use super::{LogFormat, Settings, TlsMode};

/// Masks the password of a database URL.
fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable>".to_owned(),
    }
}

impl Settings {
    /// The effective configuration as TOML, secrets masked (for `printwarden config check`).
    #[must_use]
    pub fn redacted_toml(&self) -> String {
        let mut t = toml::Table::new();
        let s = |v: &str| toml::Value::String(v.to_owned());
        t.insert("data_dir".into(), s(&self.data_dir.display().to_string()));
        t.insert("bind".into(), s(&self.bind.to_string()));
        t.insert(
            "https_port".into(),
            toml::Value::Integer(self.https_port.into()),
        );
        t.insert(
            "http_port".into(),
            toml::Value::Integer(self.http_port.into()),
        );
        match &self.tls {
            TlsMode::Auto => {
                t.insert("tls".into(), s("auto"));
            }
            TlsMode::Off => {
                t.insert("tls".into(), s("off"));
            }
            TlsMode::Files { cert, key } => {
                t.insert("tls".into(), s("files"));
                t.insert("tls_cert".into(), s(&cert.display().to_string()));
                t.insert("tls_key".into(), s(&key.display().to_string()));
            }
        }
        t.insert(
            "database_url".into(),
            s(&redact_url(self.database_url.expose())),
        );
        t.insert(
            "secret_key".into(),
            s(if self.secret_key.is_some() {
                "REDACTED (set)"
            } else {
                "(not set: <data_dir>/secret.key is used)"
            }),
        );
        t.insert(
            "auth".into(),
            s(if self.auth_enabled {
                "enabled"
            } else {
                "disabled"
            }),
        );
        t.insert(
            "trusted_proxies".into(),
            toml::Value::Array(
                self.trusted_proxies
                    .iter()
                    .map(|c| s(&c.to_string()))
                    .collect(),
            ),
        );
        if let Some(u) = &self.public_url {
            t.insert("public_url".into(), s(u.as_str()));
        }
        if let Some(u) = &self.bambu_cloud.url {
            t.insert("bambu_cloud_url".into(), s(u.as_str()));
        }
        if let Some((path, _)) = &self.bambu_cloud.ca {
            t.insert("bambu_cloud_ca_file".into(), s(&path.display().to_string()));
        }
        t.insert(
            "bambu_cloud_backoff_ms".into(),
            toml::Value::Integer(i64::try_from(self.bambu_cloud.backoff_ms).unwrap_or(i64::MAX)),
        );
        t.insert(
            "bambu_cloud_breaker_seconds".into(),
            toml::Value::Integer(
                i64::try_from(self.bambu_cloud.breaker_seconds).unwrap_or(i64::MAX),
            ),
        );
        if let Some((path, _)) = &self.printer_ca {
            t.insert("printer_ca_file".into(), s(&path.display().to_string()));
        }
        t.insert(
            "allowed_hosts".into(),
            toml::Value::Array(self.allowed_hosts.iter().map(|h| s(h)).collect()),
        );
        t.insert(
            "rate_limits".into(),
            s(if self.rate_limits { "on" } else { "off" }),
        );
        let l = &self.limits;
        for (name, limit) in [
            ("rate_limit_api", l.api),
            ("rate_limit_login", l.login),
            ("rate_limit_login_account", l.login_account),
            ("rate_limit_mfa", l.mfa),
            ("rate_limit_reset_mail", l.reset_mail),
        ] {
            t.insert(name.into(), s(&limit.to_string()));
        }
        t.insert(
            "session_idle_minutes".into(),
            toml::Value::Integer(self.session_idle_minutes.into()),
        );
        t.insert(
            "session_absolute_minutes".into(),
            toml::Value::Integer(self.session_absolute_minutes.into()),
        );
        let c = &self.connections;
        for (name, value) in [
            ("max_connections", c.max as u64),
            ("max_connections_per_address", c.per_address as u64),
            ("tls_handshake_timeout_seconds", c.tls_handshake.as_secs()),
            ("header_read_timeout_seconds", c.first_request.as_secs()),
            ("idle_timeout_seconds", c.idle.as_secs()),
        ] {
            t.insert(
                name.into(),
                toml::Value::Integer(i64::try_from(value).unwrap_or(i64::MAX)),
            );
        }
        t.insert(
            "library_max_upload_bytes".into(),
            toml::Value::Integer(i64::try_from(self.library_max_upload_bytes).unwrap_or(i64::MAX)),
        );
        t.insert("log".into(), s(&self.log));
        let format = match self.log_format {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
            LogFormat::Auto => "auto",
        };
        t.insert("log_format".into(), s(format));
        toml::to_string(&t).unwrap_or_default()
    }
}
