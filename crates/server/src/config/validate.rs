//! Turns the merged [`RawConfig`] into [`Settings`]: every value checked, every problem
//! collected into one message; secrets read from `*_FILE` variants; the printer CA bundle and
//! the acceptor's caps and timeouts validated.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use pw_credentials::{SealingKey, SecretString};
use pw_domain::net::Cidr;
use pw_http::limits::{Limit, LimitSettings};

use crate::serve::accept::ConnectionSettings;

use super::{ConfigError, LogFormat, RawConfig, Settings, TlsMode};

fn read_secret_file(path: &Path, key: &str, errors: &mut Vec<String>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text.trim().to_owned()),
        Err(e) => {
            errors.push(format!("{key}_file: cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// One value from either `key` or `key_file`, never both.
fn secret_value(
    inline: Option<String>,
    file: Option<&Path>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            errors.push(format!("{key} and {key}_file are both set; set only one"));
            None
        }
        (Some(v), None) => Some(v),
        (None, Some(path)) => read_secret_file(path, key, errors),
        (None, None) => None,
    }
}

pub(super) fn validate(raw: RawConfig) -> Result<Settings, ConfigError> {
    let mut errors = Vec::new();
    let connections = connection_settings(&raw, &mut errors);
    let bambu_cloud = bambu_cloud_settings(&raw, &mut errors);

    let bind = raw.bind.parse::<IpAddr>().unwrap_or_else(|_| {
        errors.push(format!(
            "bind: `{}` is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)",
            raw.bind
        ));
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    });

    let tls = match raw.tls.as_str() {
        "auto" => TlsMode::Auto,
        "off" => TlsMode::Off,
        "files" => match (&raw.tls_cert, &raw.tls_key) {
            (Some(cert), Some(key)) => {
                for (name, path) in [("tls_cert", cert), ("tls_key", key)] {
                    if !path.is_file() {
                        errors.push(format!("{name}: {} does not exist", path.display()));
                    }
                }
                TlsMode::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                }
            }
            _ => {
                errors.push("tls = \"files\" needs both tls_cert and tls_key".to_owned());
                TlsMode::Auto
            }
        },
        other => {
            errors.push(format!("tls: `{other}` is not one of auto, files, off"));
            TlsMode::Auto
        }
    };
    if !matches!(tls, TlsMode::Files { .. }) && (raw.tls_cert.is_some() || raw.tls_key.is_some()) {
        errors.push(format!(
            "tls_cert/tls_key are set but tls = \"{}\"; set tls = \"files\" to use them, or remove them",
            raw.tls
        ));
    }
    if tls != TlsMode::Off && raw.https_port != 0 && raw.https_port == raw.http_port {
        errors.push(format!(
            "https_port and http_port are both {}; they must differ",
            raw.https_port
        ));
    }

    let database_url = secret_value(
        raw.database_url,
        raw.database_url_file.as_deref(),
        "database_url",
        &mut errors,
    )
    .unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            raw.data_dir.join("printwarden.db").display()
        )
    });
    if pw_store::Backend::from_url(&database_url).is_err() {
        errors
            .push("database_url: must start with sqlite:, postgres:// or postgresql://".to_owned());
    }

    let secret_key_file = raw.secret_key_file.clone();
    let secret_key = secret_value(
        raw.secret_key,
        raw.secret_key_file.as_deref(),
        "secret_key",
        &mut errors,
    )
    .and_then(|text| match SealingKey::from_base64(&text) {
        Ok(key) => Some(key),
        Err(e) => {
            errors.push(format!(
                "secret_key: {e}; generate one with `head -c 32 /dev/urandom | base64`"
            ));
            None
        }
    });

    let auth_enabled = match raw.auth.as_str() {
        "enabled" => true,
        "disabled" => false,
        other => {
            errors.push(format!("auth: `{other}` is not one of enabled, disabled"));
            true
        }
    };

    let trusted_proxies = raw
        .trusted_proxies
        .items()
        .iter()
        .filter_map(|item| match item.parse::<Cidr>() {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(format!("trusted_proxies: `{item}`: {e}"));
                None
            }
        })
        .collect();

    let public_url = raw.public_url.as_deref().filter(|s| !s.is_empty()).and_then(|text| {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => Some(u),
            _ => {
                errors.push(format!("public_url: `{text}` must be an absolute http(s) URL such as https://farm.example.com"));
                None
            }
        }
    });

    let printer_ca = raw
        .printer_ca_file
        .as_ref()
        .and_then(|path| match load_roots(path) {
            Ok(roots) => Some((path.clone(), Arc::new(roots))),
            Err(e) => {
                errors.push(format!("printer_ca_file: {}: {e}", path.display()));
                None
            }
        });

    let rate_limits = match raw.rate_limits.as_str() {
        "on" => true,
        "off" => false,
        other => {
            errors.push(format!("rate_limits: `{other}` is not one of on, off"));
            true
        }
    };

    let mut limit = |name: &str, text: &str| match text.parse::<Limit>() {
        Ok(l) => l,
        Err(e) => {
            errors.push(format!("{name}: {e}"));
            Limit::OFF
        }
    };
    let configured = LimitSettings {
        api: limit("rate_limit_api", &raw.rate_limit_api),
        login: limit("rate_limit_login", &raw.rate_limit_login),
        login_account: limit("rate_limit_login_account", &raw.rate_limit_login_account),
        mfa: limit("rate_limit_mfa", &raw.rate_limit_mfa),
        reset_mail: limit("rate_limit_reset_mail", &raw.rate_limit_reset_mail),
    };
    let limits = if rate_limits {
        configured
    } else {
        LimitSettings::OFF
    };

    let allowed_hosts = raw
        .allowed_hosts
        .items()
        .into_iter()
        .filter_map(|host| {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            if crate::serve::tls::is_dns_name(&name) {
                Some(name)
            } else {
                errors.push(format!(
                    "allowed_hosts: `{host}` is not a host name (write names like farm.example.com, without scheme or port)"
                ));
                None
            }
        })
        .collect();

    if raw.session_idle_minutes == 0 || raw.session_absolute_minutes == 0 {
        errors.push(
            "session_idle_minutes and session_absolute_minutes must be at least 1".to_owned(),
        );
    }
    if raw.session_idle_minutes > raw.session_absolute_minutes {
        errors.push(format!(
            "session_idle_minutes ({}) must not exceed session_absolute_minutes ({})",
            raw.session_idle_minutes, raw.session_absolute_minutes
        ));
    }

    if let Err(e) = raw.log.parse::<tracing_subscriber::EnvFilter>() {
        errors.push(format!("log: `{}` is not a valid filter: {e}", raw.log));
    }
    let log_format = match raw.log_format.as_str() {
        "json" => LogFormat::Json,
        "pretty" => LogFormat::Pretty,
        "auto" => LogFormat::Auto,
        other => {
            errors.push(format!(
                "log_format: `{other}` is not one of auto, json, pretty"
            ));
            LogFormat::Auto
        }
    };

    if raw.library_max_upload_bytes == 0 || raw.library_max_upload_bytes > 1 << 40 {
        errors.push(
            "library_max_upload_bytes must be from 1 byte to 1 TiB (1099511627776)".to_owned(),
        );
    }

    if !errors.is_empty() {
        return Err(ConfigError::Invalid(errors));
    }
    Ok(Settings {
        data_dir: raw.data_dir,
        bind,
        https_port: raw.https_port,
        http_port: raw.http_port,
        tls,
        database_url: SecretString::new(database_url),
        secret_key_file: secret_key.as_ref().and(secret_key_file),
        secret_key,
        auth_enabled,
        trusted_proxies,
        public_url,
        allowed_hosts,
        printer_ca,
        rate_limits,
        limits,
        session_idle_minutes: raw.session_idle_minutes,
        session_absolute_minutes: raw.session_absolute_minutes,
        log: raw.log,
        log_format,
        connections,
        library_max_upload_bytes: raw.library_max_upload_bytes,
        bambu_cloud,
    })
}

/// The Bambu Cloud client's settings: an https base URL, a CA file with certificates, and
/// backoff (10 ms to 60 s) and breaker (1 s to 1 h) values.
fn bambu_cloud_settings(raw: &RawConfig, errors: &mut Vec<String>) -> super::BambuCloudSettings {
    let url = raw
        .bambu_cloud_url
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|text| match url::Url::parse(text) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() && u.username().is_empty() && u.password().is_none() => Some(u),
            _ => {
                errors.push(format!(
                    "bambu_cloud_url: `{text}` must be an https URL such as https://api.bambulab.com"
                ));
                None
            }
        });
    let ca =
        raw.bambu_cloud_ca_file
            .as_ref()
            .and_then(|path| match std::fs::read_to_string(path) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some((path.clone(), pem)),
                Ok(_) => {
                    errors.push(format!(
                        "bambu_cloud_ca_file: {}: holds no PEM certificate",
                        path.display()
                    ));
                    None
                }
                Err(e) => {
                    errors.push(format!("bambu_cloud_ca_file: {}: {e}", path.display()));
                    None
                }
            });
    if !(10..=60_000).contains(&raw.bambu_cloud_backoff_ms) {
        errors.push("bambu_cloud_backoff_ms must be from 10 to 60000".to_owned());
    }
    if !(1..=3600).contains(&raw.bambu_cloud_breaker_seconds) {
        errors.push("bambu_cloud_breaker_seconds must be from 1 to 3600".to_owned());
    }
    super::BambuCloudSettings {
        url,
        ca,
        backoff_ms: raw.bambu_cloud_backoff_ms,
        breaker_seconds: raw.bambu_cloud_breaker_seconds,
    }
}

/// The acceptor's caps and timeouts; every value at least 1, timeouts at most an hour.
pub(super) fn connection_settings(raw: &RawConfig, errors: &mut Vec<String>) -> ConnectionSettings {
    if raw.max_connections == 0 || raw.max_connections_per_address == 0 {
        errors
            .push("max_connections and max_connections_per_address must be at least 1".to_owned());
    }
    if raw.max_connections_per_address > raw.max_connections {
        errors.push(format!(
            "max_connections_per_address ({}) must not exceed max_connections ({})",
            raw.max_connections_per_address, raw.max_connections
        ));
    }
    let seconds = |name: &str, value: u32, errors: &mut Vec<String>| {
        if !(1..=3600).contains(&value) {
            errors.push(format!("{name} must be between 1 and 3600 seconds"));
        }
        std::time::Duration::from_secs(u64::from(value.clamp(1, 3600)))
    };
    ConnectionSettings {
        max: usize::try_from(raw.max_connections).unwrap_or(usize::MAX),
        per_address: usize::try_from(raw.max_connections_per_address).unwrap_or(usize::MAX),
        tls_handshake: seconds(
            "tls_handshake_timeout_seconds",
            raw.tls_handshake_timeout_seconds,
            errors,
        ),
        first_request: seconds(
            "header_read_timeout_seconds",
            raw.header_read_timeout_seconds,
            errors,
        ),
        idle: seconds("idle_timeout_seconds", raw.idle_timeout_seconds, errors),
    }
}

/// The certificates of a PEM bundle as trust anchors; at least one (`printer_ca_file`, and
/// `printer-check --ca-file`).
pub(crate) fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate cannot be used as a trust anchor ({e})"))?;
    }
    if roots.is_empty() {
        return Err("holds no certificate".to_owned());
    }
    Ok(roots)
}
