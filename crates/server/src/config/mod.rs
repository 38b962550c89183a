//! Configuration: defaults → `printwarden.toml` → `PRINTWARDEN_*` environment → command-line
//! flags, parsed once into [`Settings`]. Unknown keys are errors (a typo must not silently
//! fall back to a default); every secret also accepts a `*_FILE` variant so it never has to
//! appear in the environment or in process arguments (threat: `ps` and `/proc/*/environ`
//! readers). Nothing here logs a secret: [`Settings::redacted_toml`] masks them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use pw_credentials::{SealingKey, SecretString};
use pw_domain::net::Cidr;
use pw_http::limits::{Limit, LimitSettings};

use crate::serve::accept::ConnectionSettings;
use serde::{Deserialize, Serialize};

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./printwarden-data";
/// Default config file, used when it exists and no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "printwarden.toml";

/// The raw, layered configuration as written by the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    data_dir: PathBuf,
    bind: String,
    https_port: u16,
    http_port: u16,
    tls: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key_file: Option<PathBuf>,
    auth: String,
    trusted_proxies: ListOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    allowed_hosts: ListOrString,
    #[serde(skip_serializing_if = "Option::is_none")]
    printer_ca_file: Option<PathBuf>,
    rate_limits: String,
    rate_limit_api: String,
    rate_limit_login: String,
    rate_limit_login_account: String,
    rate_limit_mfa: String,
    rate_limit_reset_mail: String,
    session_idle_minutes: u32,
    session_absolute_minutes: u32,
    log: String,
    log_format: String,
    max_connections: u32,
    max_connections_per_address: u32,
    tls_handshake_timeout_seconds: u32,
    header_read_timeout_seconds: u32,
    idle_timeout_seconds: u32,
}

/// A list written either as a TOML array or as one comma-separated string (the env form).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    One(String),
}

impl ListOrString {
    fn items(&self) -> Vec<String> {
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
        }
    }
}

/// A default that fits in the config's `u32` fields.
fn secs_u32(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

/// Values given on the command line (highest precedence). Secrets have no flags on purpose.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--bind`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// `--https-port`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
    /// `--http-port`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// `--tls`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// `--log`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// How the HTTPS side is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Generate (and renew) a local CA and server certificate in the data dir.
    Auto,
    /// Use the operator's certificate chain and key files.
    Files {
        /// PEM certificate chain.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
    /// Plain HTTP only, for a reverse proxy that terminates TLS.
    Off,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines (for collectors).
    Json,
    /// Human-readable lines.
    Pretty,
    /// Pretty on a terminal, JSON otherwise.
    Auto,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the database, TLS material, keys and files live.
    pub data_dir: PathBuf,
    /// Listening address.
    pub bind: IpAddr,
    /// HTTPS port (0 = pick one).
    pub https_port: u16,
    /// HTTP port (0 = pick one): redirects to HTTPS, or serves everything when TLS is off.
    pub http_port: u16,
    /// TLS setup.
    pub tls: TlsMode,
    /// Database URL (may carry a password).
    pub database_url: SecretString,
    /// Sealing key from the environment/config, if given.
    pub secret_key: Option<SealingKey>,
    /// False when started with `auth = "disabled"`.
    pub auth_enabled: bool,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The public URL clients use (for links in mails and the Host allow-list).
    pub public_url: Option<url::Url>,
    /// Extra host names the server answers to (beside the public URL's, `localhost`, the
    /// machine's names and IP literals).
    pub allowed_hosts: Vec<String>,
    /// The printer CA bundle file and its certificates: printers must chain to them.
    pub printer_ca: Option<(PathBuf, Arc<rustls::RootCertStore>)>,
    /// False only for benchmarks: every limit off.
    pub rate_limits: bool,
    /// The rate limits in force (all off when `rate_limits` is off).
    pub limits: LimitSettings,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many minutes after sign-in.
    pub session_absolute_minutes: u32,
    /// `tracing` filter directives.
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Connection caps and timeouts at the acceptor.
    pub connections: ConnectionSettings,
}

/// A configuration problem, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or merging the layers failed (syntax, unknown key, wrong type).
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    /// Values that parsed but are not valid.
    #[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The config file (must exist when given). The CLI fills in `./printwarden.toml` when
    /// it exists and nothing else is named; library callers (tests) get no implicit file.
    pub config_file: Option<PathBuf>,
    /// Flag values.
    pub flags: FlagOverrides,
}

/// Loads and validates the configuration from file, process environment and flags.
pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
    load_with_env(sources, std::env::vars())
}

/// [`load`] with an explicit environment (tests pass their own, never touching the process's).
pub fn load_with_env(
    sources: &Sources,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("PRINTWARDEN_"))
        .collect();
    let explicit_file = sources.config_file.clone().or_else(|| {
        env.iter()
            .find(|(k, _)| k == "PRINTWARDEN_CONFIG")
            .map(|(_, v)| PathBuf::from(v))
    });
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    match &explicit_file {
        Some(path) if !path.is_file() => {
            return Err(ConfigError::Invalid(vec![format!(
                "config file {} does not exist",
                path.display()
            )]));
        }
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        None => {}
    }
    figment = figment
        .merge(EnvVars::new(&env)?)
        .merge(Serialized::defaults(&sources.flags));
    let raw: RawConfig = figment.extract().map_err(Box::new)?;
    validate(raw)
}

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
];

/// Keys whose environment values are numbers.
const NUMERIC_KEYS: &[&str] = &[
    "max_connections",
    "max_connections_per_address",
    "tls_handshake_timeout_seconds",
    "header_read_timeout_seconds",
    "idle_timeout_seconds",
];

/// `PRINTWARDEN_*` variables as a figment provider. `PRINTWARDEN_CONFIG` names the file and
/// `PRINTWARDEN_TEST_*` belongs to the test harness; every other name must be a known key.
#[derive(Debug)]
struct EnvVars(figment::value::Dict);

impl EnvVars {
    fn new(env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut dict = figment::value::Dict::new();
        let mut unknown = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("PRINTWARDEN_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "config" || key.starts_with("test_") {
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

fn validate(raw: RawConfig) -> Result<Settings, ConfigError> {
    let mut errors = Vec::new();
    let connections = connection_settings(&raw, &mut errors);

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
    })
}

/// The acceptor's caps and timeouts; every value at least 1, timeouts at most an hour.
fn connection_settings(raw: &RawConfig, errors: &mut Vec<String>) -> ConnectionSettings {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        load_with_env(&Sources::default(), env(pairs))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load_env(&[]).unwrap();
        assert_eq!(s.https_port, 3443);
        assert_eq!(s.http_port, 3000);
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.tls, TlsMode::Auto);
        assert!(s.auth_enabled && s.rate_limits);
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(
            s.database_url
                .expose()
                .starts_with("sqlite://./printwarden-data/printwarden.db")
        );
    }

    #[test]
    fn connection_limits_have_defaults_take_numbers_from_the_environment_and_are_checked() {
        let s = load_env(&[]).unwrap();
        assert_eq!(s.connections, ConnectionSettings::default());
        assert_eq!(s.connections.idle.as_secs(), 75);
        let s = load_env(&[
            ("PRINTWARDEN_MAX_CONNECTIONS", "100"),
            ("PRINTWARDEN_MAX_CONNECTIONS_PER_ADDRESS", "10"),
            ("PRINTWARDEN_HEADER_READ_TIMEOUT_SECONDS", "2"),
        ])
        .unwrap();
        assert_eq!((s.connections.max, s.connections.per_address), (100, 10));
        assert_eq!(s.connections.first_request.as_secs(), 2);
        assert!(s.redacted_toml().contains("max_connections = 100"));
        let bad = load_env(&[
            ("PRINTWARDEN_MAX_CONNECTIONS", "5"),
            ("PRINTWARDEN_MAX_CONNECTIONS_PER_ADDRESS", "10"),
            ("PRINTWARDEN_IDLE_TIMEOUT_SECONDS", "0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("must not exceed max_connections"), "{bad}");
        assert!(
            bad.contains("idle_timeout_seconds must be between"),
            "{bad}"
        );
    }

    #[test]
    fn rate_limits_default_to_the_seed_values_and_switch_off_together() {
        let s = load_env(&[]).unwrap();
        assert_eq!(s.limits, LimitSettings::default());
        assert_eq!(s.limits.api.to_string(), "200/1m");
        assert_eq!(s.limits.login.to_string(), "5/15m");
        let s = load_env(&[
            ("PRINTWARDEN_RATE_LIMIT_API", "0"),
            ("PRINTWARDEN_RATE_LIMIT_MFA", "3/10m"),
            (
                "PRINTWARDEN_ALLOWED_HOSTS",
                "Farm.Example.com., printers.lan",
            ),
        ])
        .unwrap();
        assert!(!s.limits.api.is_on());
        assert_eq!(s.limits.mfa.to_string(), "3/10m");
        assert_eq!(s.allowed_hosts, ["farm.example.com", "printers.lan"]);
        let off = load_env(&[("PRINTWARDEN_RATE_LIMITS", "off")]).unwrap();
        assert_eq!(off.limits, LimitSettings::OFF);
        assert!(off.redacted_toml().contains("rate_limit_login = \"0\""));
    }

    #[test]
    fn environment_overrides_defaults_and_flags_override_environment() {
        let sources = Sources {
            flags: FlagOverrides {
                https_port: Some(9443),
                ..FlagOverrides::default()
            },
            ..Sources::default()
        };
        let s = load_with_env(
            &sources,
            env(&[
                ("PRINTWARDEN_HTTPS_PORT", "8443"),
                ("PRINTWARDEN_HTTP_PORT", "0"),
                ("PRINTWARDEN_BIND", "127.0.0.1"),
            ]),
        )
        .unwrap();
        assert_eq!((s.https_port, s.http_port), (9443, 0));
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn file_layer_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw.toml");
        std::fs::write(
            &file,
            "https_port = 7443\nhttp_port = 7000\nlog = \"debug\"\n",
        )
        .unwrap();
        let sources = Sources {
            config_file: Some(file),
            ..Sources::default()
        };
        let s = load_with_env(&sources, env(&[("PRINTWARDEN_HTTP_PORT", "7001")])).unwrap();
        assert_eq!(
            (s.https_port, s.http_port, s.log.as_str()),
            (7443, 7001, "debug")
        );
    }

    #[test]
    fn unknown_keys_are_errors_in_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw.toml");
        std::fs::write(&file, "htps_port = 1\n").unwrap();
        let err = load_with_env(
            &Sources {
                config_file: Some(file),
                ..Sources::default()
            },
            env(&[]),
        );
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("htps_port")),
            "{err:?}"
        );

        let err = load_env(&[("PRINTWARDEN_HTTPS_PROT", "1")]);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("PRINTWARDEN_HTTPS_PROT")),
            "{err:?}"
        );
        // The test harness's own variables are not configuration.
        assert!(load_env(&[("PRINTWARDEN_TEST_DB", "postgres")]).is_ok());
    }

    #[test]
    fn the_printer_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        for (path, want) in [
            (dir.path().join("missing.pem"), "printer_ca_file:"),
            (junk, "holds no certificate"),
        ] {
            let err = load_env(&[("PRINTWARDEN_PRINTER_CA_FILE", &path.display().to_string())]);
            let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
            assert!(text.contains(want), "{path:?}: {text}");
        }
    }

    #[test]
    fn invalid_values_are_all_reported_with_what_to_fix() {
        let err = load_env(&[
            ("PRINTWARDEN_BIND", "everywhere"),
            ("PRINTWARDEN_TLS", "maybe"),
            ("PRINTWARDEN_AUTH", "sometimes"),
            ("PRINTWARDEN_SECRET_KEY", "short"),
            ("PRINTWARDEN_DATABASE_URL", "mysql://x"),
            ("PRINTWARDEN_TRUSTED_PROXIES", "10.0.0.0/8, 300.1.1.1"),
            ("PRINTWARDEN_PUBLIC_URL", "farm.local"),
            ("PRINTWARDEN_RATE_LIMITS", "sometimes"),
            ("PRINTWARDEN_RATE_LIMIT_API", "lots"),
            ("PRINTWARDEN_RATE_LIMIT_LOGIN", "5/15d"),
            (
                "PRINTWARDEN_ALLOWED_HOSTS",
                "farm.example.com, https://x.example",
            ),
        ]);
        let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        for needle in [
            "bind:",
            "tls:",
            "auth:",
            "secret_key:",
            "database_url:",
            "300.1.1.1",
            "public_url:",
            "rate_limits:",
            "rate_limit_api:",
            "rate_limit_login:",
            "allowed_hosts: `https://x.example`",
        ] {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
        assert!(load_env(&[("PRINTWARDEN_HTTPS_PORT", "70000")]).is_err());
        assert!(
            load_env(&[("PRINTWARDEN_HTTPS_PORT", "3000")]).is_err(),
            "ports must differ"
        );
        assert!(
            load_env(&[("PRINTWARDEN_TLS", "files")]).is_err(),
            "files needs paths"
        );
    }

    #[test]
    fn secrets_come_from_files_and_are_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        let key = SealingKey::from_bytes([9; 32]).to_base64();
        std::fs::write(&key_file, format!("{key}\n")).unwrap();
        let url_file = dir.path().join("db");
        std::fs::write(&url_file, "postgres://pw:hunter2@db.local/pw").unwrap();
        let s = load_env(&[
            ("PRINTWARDEN_SECRET_KEY_FILE", key_file.to_str().unwrap()),
            ("PRINTWARDEN_DATABASE_URL_FILE", url_file.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(
            s.secret_key.as_ref().map(SealingKey::to_base64),
            Some(key.clone())
        );
        let printed = s.redacted_toml();
        assert!(
            !printed.contains("hunter2") && !printed.contains(&key),
            "{printed}"
        );
        assert!(printed.contains("REDACTED"));
        let both = load_env(&[
            ("PRINTWARDEN_SECRET_KEY", &key),
            ("PRINTWARDEN_SECRET_KEY_FILE", "/x"),
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn keys_list_matches_the_struct() {
        for key in KEYS {
            let toml = format!(
                "{key} = {}",
                if key.ends_with("port") { "1" } else { "\"x\"" }
            );
            let parsed: Result<RawConfig, _> =
                Figment::from(Serialized::defaults(RawConfig::default()))
                    .merge(Toml::string(&toml))
                    .extract();
            assert!(
                parsed.is_ok()
                    || !parsed
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("unknown field")),
                "{key}"
            );
        }
    }
}
