//! The raw configuration as the layers write it (file, environment, flags), before
//! validation: every key with its default. Unknown keys are refused by serde.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use pw_http::limits::LimitSettings;
use serde::{Deserialize, Serialize};

use crate::serve::accept::ConnectionSettings;

use super::DEFAULT_DATA_DIR;

/// The raw, layered configuration as written by the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub(super) data_dir: PathBuf,
    pub(super) bind: String,
    pub(super) https_port: u16,
    pub(super) http_port: u16,
    pub(super) tls: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) database_url_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) secret_key_file: Option<PathBuf>,
    pub(super) auth: String,
    pub(super) trusted_proxies: ListOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) public_url: Option<String>,
    pub(super) allowed_hosts: ListOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) printer_ca_file: Option<PathBuf>,
    pub(super) rate_limits: String,
    pub(super) rate_limit_api: String,
    pub(super) rate_limit_login: String,
    pub(super) rate_limit_login_account: String,
    pub(super) rate_limit_mfa: String,
    pub(super) rate_limit_reset_mail: String,
    pub(super) session_idle_minutes: u32,
    pub(super) session_absolute_minutes: u32,
    pub(super) log: String,
    pub(super) log_format: String,
    pub(super) max_connections: u32,
    pub(super) max_connections_per_address: u32,
    pub(super) tls_handshake_timeout_seconds: u32,
    pub(super) header_read_timeout_seconds: u32,
    pub(super) idle_timeout_seconds: u32,
    pub(super) library_max_upload_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bambu_cloud_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bambu_cloud_ca_file: Option<PathBuf>,
    pub(super) bambu_cloud_backoff_ms: u64,
    pub(super) bambu_cloud_breaker_seconds: u64,
}

/// A list written either as a TOML array or as one comma-separated string (the env form).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum ListOrString {
    List(Vec<String>),
    One(String),
}

impl ListOrString {
    pub(super) fn items(&self) -> Vec<String> {
        match self {
            ListOrString::List(v) => v
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            ListOrString::One(s) => s
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        let defaults = LimitSettings::default();
        let connections = ConnectionSettings::default();
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            bind: Ipv4Addr::UNSPECIFIED.to_string(),
            https_port: 3443,
            http_port: 3000,
            tls: "auto".into(),
            tls_cert: None,
            tls_key: None,
            database_url: None,
            database_url_file: None,
            secret_key: None,
            secret_key_file: None,
            auth: "enabled".into(),
            trusted_proxies: ListOrString::List(Vec::new()),
            public_url: None,
            allowed_hosts: ListOrString::List(Vec::new()),
            printer_ca_file: None,
            rate_limits: "on".into(),
            rate_limit_api: defaults.api.to_string(),
            rate_limit_login: defaults.login.to_string(),
            rate_limit_login_account: defaults.login_account.to_string(),
            rate_limit_mfa: defaults.mfa.to_string(),
            rate_limit_reset_mail: defaults.reset_mail.to_string(),
            session_idle_minutes: 7 * 24 * 60,
            session_absolute_minutes: 30 * 24 * 60,
            log: "info".into(),
            log_format: "auto".into(),
            max_connections: secs_u32(connections.max),
            max_connections_per_address: secs_u32(connections.per_address),
            tls_handshake_timeout_seconds: secs_u32(connections.tls_handshake.as_secs()),
            header_read_timeout_seconds: secs_u32(connections.first_request.as_secs()),
            idle_timeout_seconds: secs_u32(connections.idle.as_secs()),
            library_max_upload_bytes: pw_app::DEFAULT_MAX_UPLOAD,
            bambu_cloud_url: None,
            bambu_cloud_ca_file: None,
            bambu_cloud_backoff_ms: 1000,
            bambu_cloud_breaker_seconds: 60,
        }
    }
}

/// A default that fits in the config's `u32` fields.
fn secs_u32(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}
