//! The `PRINTWARDEN_*` environment as a configuration layer: every variable must name a known
//! key (a typo is an error, not a silent default); values stay the exact strings given.

use super::ConfigError;

/// Every key [`RawConfig`] accepts (also the names of the `PRINTWARDEN_*` variables).
pub const KEYS: &[&str] = &[
    "data_dir",
    "bind",
    "https_port",
    "http_port",
    "tls",
    "tls_cert",
    "tls_key",
    "database_url",
    "database_url_file",
    "secret_key",
    "secret_key_file",
    "auth",
    "trusted_proxies",
    "public_url",
    "allowed_hosts",
    "printer_ca_file",
    "rate_limits",
    "rate_limit_api",
    "rate_limit_login",
    "rate_limit_login_account",
    "rate_limit_mfa",
    "rate_limit_reset_mail",
    "session_idle_minutes",
    "session_absolute_minutes",
    "log",
    "log_format",
    "max_connections",
    "max_connections_per_address",
    "tls_handshake_timeout_seconds",
    "header_read_timeout_seconds",
    "idle_timeout_seconds",
    "library_max_upload_bytes",
    "bambu_cloud_url",
    "bambu_cloud_ca_file",
    "bambu_cloud_backoff_ms",
    "bambu_cloud_breaker_seconds",
];

/// Keys whose environment values are numbers.
const NUMERIC_KEYS: &[&str] = &[
    "max_connections",
    "max_connections_per_address",
    "tls_handshake_timeout_seconds",
    "header_read_timeout_seconds",
    "idle_timeout_seconds",
    "library_max_upload_bytes",
    "bambu_cloud_backoff_ms",
    "bambu_cloud_breaker_seconds",
];

/// `PRINTWARDEN_*` variables as a figment provider. `PRINTWARDEN_CONFIG` names the file and
/// `PRINTWARDEN_TEST_*` belongs to the test harness, `PRINTWARDEN_BACKUP_PASSPHRASE` to
/// `printwarden backup`, `PRINTWARDEN_BUILD_*` to the build script; every other name must be a
/// known key.
#[derive(Debug)]
pub(super) struct EnvVars(figment::value::Dict);

impl EnvVars {
    pub(super) fn new(env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut dict = figment::value::Dict::new();
        let mut unknown = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("PRINTWARDEN_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            // BACKUP_PASSPHRASE is read by `printwarden backup`, never part of the configuration.
            // BUILD_* are read by the build script (`--version`), so a shell that built the
            // binary can also run it.
            if key == "config"
                || key == "backup_passphrase"
                || key.starts_with("test_")
                || key.starts_with("build_")
            {
                continue;
            }
            if !KEYS.contains(&key.as_str()) {
                unknown.push(format!(
                    "unknown environment variable {name} (known: {})",
                    KEYS.iter()
                        .map(|k| format!("PRINTWARDEN_{}", k.to_ascii_uppercase()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
            // Ports must stay numbers, everything else stays the exact string given (a key or
            // URL must never be reinterpreted as a number or boolean).
            let parsed = if key.ends_with("_port") || NUMERIC_KEYS.contains(&key.as_str()) {
                value
                    .parse::<figment::value::Value>()
                    .unwrap_or_else(|_| value.clone().into())
            } else {
                value.clone().into()
            };
            dict.insert(key, parsed);
        }
        if unknown.is_empty() {
            Ok(Self(dict))
        } else {
            Err(ConfigError::Invalid(unknown))
        }
    }
}

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("PRINTWARDEN_* environment variables")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}
