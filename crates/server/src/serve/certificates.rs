//! The HTTPS listener's certificate as an administrator manages it (S7): an uploaded chain +
//! key replaces the generated certificate, is stored under `<data>/tls/uploaded.{crt,key}`
//! (0600) and swapped into the running listener; removing it swaps the generated one back.
//!
//! Invariants: an upload is fully validated — PEM, the key belongs to the leaf, valid now,
//! covers the public host — before anything is written, so a refused upload leaves the old
//! certificate serving; the daily renewal of the generated leaf never replaces an uploaded
//! one; in `files` mode the operator's files are the only source and nothing here changes them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum_server::tls_rustls::RustlsConfig;
use pw_app::{CertificateError, Certificates, TlsSource, TlsStatus, rfc3339};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::serve::tls::{self, Names, TlsPaths};

/// Where an uploaded certificate lives.
#[derive(Debug, Clone)]
pub struct UploadPaths {
    /// The chain (PEM).
    pub cert: PathBuf,
    /// The key (PEM, 0600).
    pub key: PathBuf,
}

impl UploadPaths {
    /// Under the generated material's directory.
    #[must_use]
    pub fn new(tls: &TlsPaths) -> Self {
        Self {
            cert: tls.dir.join("uploaded.crt"),
            key: tls.dir.join("uploaded.key"),
        }
    }

    /// Whether an upload is stored.
    #[must_use]
    pub fn present(&self) -> bool {
        self.cert.exists() && self.key.exists()
    }
}

/// What the listener serves from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The generated material, replaceable by an upload.
    Auto {
        /// The generated files.
        paths: TlsPaths,
        /// The uploaded files.
        uploads: UploadPaths,
    },
    /// The operator's files (`PRINTWARDEN_TLS=files`).
    Files {
        /// Chain.
        cert: PathBuf,
    },
}

/// The certificate manager behind `/api/v1/settings/tls`.
#[derive(Debug)]
pub struct Managed {
    source: Source,
    /// The host an upload must cover (the public URL's host), if configured.
    public_host: Option<String>,
    rustls: RustlsConfig,
    /// Whether the listener serves the upload now (false when a stored upload was unusable at
    /// start). Held across a change: two uploads must not interleave their files.
    serving_upload: Mutex<bool>,
}

impl Managed {
    /// A manager over the running listener's configuration.
    #[must_use]
    pub fn new(
        source: Source,
        public_host: Option<String>,
        rustls: RustlsConfig,
        serving_upload: bool,
    ) -> Self {
        Self {
            source,
            public_host,
            rustls,
            serving_upload: Mutex::new(serving_upload),
        }
    }

    fn serving(&self) -> std::sync::MutexGuard<'_, bool> {
        self.serving_upload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn auto(&self) -> Result<(&TlsPaths, &UploadPaths), CertificateError> {
        match &self.source {
            Source::Auto { paths, uploads } => Ok((paths, uploads)),
            Source::Files { .. } => Err(CertificateError::Fixed(
                "This server uses the certificate files named by PRINTWARDEN_TLS_CERT and \
                 PRINTWARDEN_TLS_KEY (PRINTWARDEN_TLS=files); replace those files instead."
                    .into(),
            )),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> CertificateError {
    CertificateError::Failed(e.to_string())
}

impl Certificates for Managed {
    fn status(&self) -> Result<TlsStatus, CertificateError> {
        let (path, source) = match &self.source {
            Source::Files { cert } => (cert.clone(), TlsSource::Files),
            Source::Auto { uploads, .. } if *self.serving() => {
                (uploads.cert.clone(), TlsSource::Uploaded)
            }
            Source::Auto { paths, .. } => (paths.server_cert.clone(), TlsSource::Generated),
        };
        let pem = std::fs::read(&path).map_err(failed)?;
        let chain = parse_chain(&pem).map_err(failed)?;
        let leaf = chain.first().ok_or_else(|| failed("empty chain"))?;
        describe(leaf, source, self.local_ca_pem().is_some()).map_err(failed)
    }

    fn install(&self, chain_pem: &str, key_pem: &str) -> Result<TlsStatus, CertificateError> {
        let (_, uploads) = self.auto()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let checked = validate(
            chain_pem.as_bytes(),
            key_pem.as_bytes(),
            now,
            self.public_host.as_deref(),
        )
        .map_err(CertificateError::Invalid)?;
        let mut serving = self.serving();
        // Key first: a crash in between leaves a key without its certificate, which is not
        // "present", so the generated certificate keeps serving after a restart.
        tls::write_file(&uploads.key, key_pem.as_bytes(), 0o600).map_err(failed)?;
        tls::write_file(&uploads.cert, chain_pem.as_bytes(), 0o600).map_err(failed)?;
        self.rustls.reload_from_config(checked.config);
        *serving = true;
        tracing::info!(subject = %checked.status.subject, "serving the uploaded certificate");
        Ok(checked.status)
    }

    fn remove(&self) -> Result<TlsStatus, CertificateError> {
        let (paths, uploads) = self.auto()?;
        if !uploads.present() {
            return Err(CertificateError::Fixed(
                "No uploaded certificate is in use; the generated one is already served.".into(),
            ));
        }
        let mut serving = self.serving();
        // The generated leaf may be due while the upload was served.
        let names = Names::for_this_machine(self.public_host.as_deref());
        tls::ensure_generated_now(paths, &names).map_err(failed)?;
        let config = tls::server_config(&paths.server_cert, &paths.server_key).map_err(failed)?;
        for file in [&uploads.cert, &uploads.key] {
            if let Err(e) = std::fs::remove_file(file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(failed(format!("cannot remove {}: {e}", file.display())));
            }
        }
        self.rustls.reload_from_config(config);
        *serving = false;
        drop(serving);
        tracing::info!("serving the generated certificate again");
        self.status()
    }

    fn serving_upload(&self) -> bool {
        *self.serving()
    }

    fn local_ca_pem(&self) -> Option<String> {
        match &self.source {
            Source::Auto { paths, .. } => std::fs::read_to_string(&paths.ca_cert).ok(),
            Source::Files { .. } => None,
        }
    }
}

/// An upload that passed every check.
#[derive(Debug)]
pub struct Checked {
    /// Ready for the listener.
    pub config: Arc<ServerConfig>,
    /// What it is.
    pub status: TlsStatus,
}

fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate_pem is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("certificate_pem holds no CERTIFICATE block.".to_owned());
    }
    Ok(chain)
}

/// Checks an upload at time `now` (unix seconds): PEM, key ↔ leaf, validity window, and that
/// it covers `host` (or, without a configured public host, one of this machine's names).
pub fn validate(
    chain_pem: &[u8],
    key_pem: &[u8],
    now: i64,
    host: Option<&str>,
) -> Result<Checked, String> {
    let chain = parse_chain(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "key_pem is not a PEM private key (PKCS#8, PKCS#1 or SEC1).".to_owned())?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0])
        .map_err(|e| format!("The first certificate cannot be read: {e}"))?;

    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| "key_pem holds a key type this server cannot use.".to_owned())?;
    let matches = signing
        .public_key()
        .is_some_and(|spki| spki.as_ref() == leaf.public_key().raw);
    if !matches {
        return Err(
            "The private key does not belong to the first certificate in the chain.".to_owned(),
        );
    }

    let validity = leaf.validity();
    if now < validity.not_before.timestamp() {
        return Err(format!(
            "The certificate is not valid yet (from {}).",
            rfc3339(validity.not_before.timestamp() * 1000)
        ));
    }
    if now >= validity.not_after.timestamp() {
        return Err(format!(
            "The certificate expired on {}.",
            rfc3339(validity.not_after.timestamp() * 1000)
        ));
    }

    let info = tls::inspect(&chain[0])?;
    match host {
        Some(h) if !covers(&info.names, h) => {
            return Err(format!(
                "The certificate does not cover {h}, the host of the public URL (it covers: {}).",
                names_text(&info.names)
            ));
        }
        None => {
            let here = Names::for_this_machine(None);
            let any = here.dns.iter().any(|d| covers(&info.names, d))
                || here.ips.iter().any(|ip| info.names.ips.contains(ip));
            if !any {
                return Err(format!(
                    "The certificate covers none of this server's names or addresses (it covers: {}). \
                     Set PRINTWARDEN_PUBLIC_URL to the name clients use.",
                    names_text(&info.names)
                ));
            }
        }
        Some(_) => {}
    }

    let config = tls::server_config_from_pem(chain_pem, key_pem).map_err(|e| e.to_string())?;
    let status = describe(&chain[0], TlsSource::Uploaded, false)?;
    Ok(Checked { config, status })
}

fn names_text(names: &Names) -> String {
    let all: Vec<String> = names
        .dns
        .iter()
        .cloned()
        .chain(names.ips.iter().map(ToString::to_string))
        .collect();
    if all.is_empty() {
        "no names".to_owned()
    } else {
        all.join(", ")
    }
}

/// Whether the SANs cover `host` (an IP literal, a name, or a name under a `*.` wildcard that
/// stands for exactly one label, as browsers match).
#[must_use]
pub fn covers(names: &Names, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return names.ips.contains(&ip);
    }
    names.dns.iter().any(|n| {
        n == &host
            || n.strip_prefix("*.").is_some_and(|parent| {
                host.split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
            })
    })
}

/// The status view of a leaf.
fn describe(der: &[u8], source: TlsSource, local_ca: bool) -> Result<TlsStatus, String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
    let info = tls::inspect(der)?;
    let validity = cert.validity();
    Ok(TlsStatus {
        source,
        subject: cert.subject().to_string(),
        sans: info
            .names
            .dns
            .iter()
            .cloned()
            .chain(info.names.ips.iter().map(ToString::to_string))
            .collect(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(validity.not_before.timestamp() * 1000),
        not_after: rfc3339(validity.not_after.timestamp() * 1000),
        fingerprint_sha256: hex::encode(Sha256::digest(der)),
        local_ca,
    })
}

/// At start in `auto` mode: the uploaded certificate's configuration when one is stored and
/// still usable; otherwise `None` (logged), and the generated certificate serves.
pub fn uploaded_config(uploads: &UploadPaths, host: Option<&str>) -> Option<Arc<ServerConfig>> {
    if !uploads.present() {
        return None;
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match read(&uploads.cert)
        .and_then(|c| read(&uploads.key).map(|k| (c, k)))
        .and_then(|(c, k)| validate(&c, &k, now, host))
    {
        Ok(checked) => Some(checked.config),
        Err(e) => {
            tracing::error!(
                cert = %uploads.cert.display(),
                "the uploaded certificate cannot be served ({e}); serving the generated one. \
                 Upload a new certificate or delete the uploaded one in Settings"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str], ips: &[&str]) -> Names {
        Names {
            dns: dns.iter().map(|s| (*s).to_owned()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        let n = names(&["*.farm.example", "farm.example"], &["192.168.1.5", "::1"]);
        assert!(covers(&n, "farm.example"));
        assert!(covers(&n, "Print.Farm.Example."));
        assert!(!covers(&n, "a.b.farm.example"));
        assert!(!covers(&n, "evilfarm.example"));
        assert!(!covers(&n, ".farm.example"));
        assert!(covers(&n, "192.168.1.5"));
        assert!(covers(&n, "[::1]"));
        assert!(!covers(&n, "192.168.1.6"));
    }
}
