//! Configuration: defaults → `printwarden.toml` → `PRINTWARDEN_*` environment → command-line
//! flags, parsed once into [`Settings`]. Unknown keys are errors (a typo must not silently
//! fall back to a default); every secret also accepts a `*_FILE` variant so it never has to
//! appear in the environment or in process arguments (threat: `ps` and `/proc/*/environ`
//! readers). Nothing here logs a secret: [`Settings::redacted_toml`] masks them.
//!
//! Layout: this module holds the settings types and the layering (`load`); `raw` is the
//! operator's unvalidated view, `env` the environment layer, `validate` the checks that turn
//! one into the other, `redact` the masked rendering.

mod env;
mod raw;
mod redact;
#[cfg(test)]
mod tests;
mod validate;

pub use env::KEYS;
pub use raw::RawConfig;
pub(crate) use validate::load_roots;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use pw_credentials::{SealingKey, SecretString};
use pw_domain::net::Cidr;
use pw_http::limits::LimitSettings;
use serde::Serialize;

use crate::serve::accept::ConnectionSettings;
use env::EnvVars;
use validate::validate;

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./printwarden-data";
/// Default config file, used when it exists and no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "printwarden.toml";

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
    /// The file `secret_key` was read from (`PRINTWARDEN_SECRET_KEY_FILE` / `secret_key_file`);
    /// `None` when it was given inline (`PRINTWARDEN_SECRET_KEY`) or not at all.
    pub secret_key_file: Option<std::path::PathBuf>,
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
    /// The largest file the library accepts, in bytes.
    pub library_max_upload_bytes: u64,
    /// Bambu Cloud: the API base (`None`: Bambu's hosts), the CA file trusted for it (a
    /// stand-in's), and the client's backoff and breaker.
    pub bambu_cloud: BambuCloudSettings,
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

/// How printwarden reaches Bambu Cloud.
#[derive(Debug, Clone)]
pub struct BambuCloudSettings {
    /// The base URL of the API and web origin; `None`: Bambu's own hosts, per region.
    pub url: Option<url::Url>,
    /// The CA file trusted instead of the platform's roots (a stand-in's), and its PEM text.
    pub ca: Option<(PathBuf, String)>,
    /// The first retry's delay (ms); each further retry doubles it.
    pub backoff_ms: u64,
    /// How long the breaker stays open before a trial call (s).
    pub breaker_seconds: u64,
}
