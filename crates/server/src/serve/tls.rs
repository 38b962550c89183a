//! TLS material for the HTTPS listener. In `auto` mode the first start generates a local CA
//! (10 years) and a server certificate signed by it (1 year; SANs: localhost, loopback, the
//! host name, the machine's addresses, the public URL's host) under `<data>/tls/`, private
//! keys mode 0600. Later starts reuse them; the leaf is re-issued when it is within 30 days of
//! expiry or no longer covers the machine's names, and hot-swapped without a restart.
//!
//! Invariants: the CA is never silently replaced (an operator may have trusted it); a damaged
//! or half-present CA stops the start with instructions; only TLS 1.2 and 1.3 are offered.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// Leaf certificates are renewed when fewer than this many days remain.
pub const RENEW_BEFORE_DAYS: i64 = 30;
const LEAF_DAYS: i64 = 365;
const CA_DAYS: i64 = 3650;

/// A TLS setup problem, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stored CA is unusable; it is never replaced automatically.
    #[error(
        "the local CA in {} is damaged or incomplete ({reason}). It is never replaced automatically because \
         browsers and devices may trust it. Restore ca.crt and ca.key from a backup, or delete the whole \
         tls directory to generate a new CA (then re-import {}/ca.crt wherever it was trusted)",
        dir.display(), dir.display()
    )]
    DamagedCa {
        /// The tls directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The operator's certificate or key cannot be used.
    #[error("{0}")]
    BadFiles(String),
    /// Certificate generation failed.
    #[error("could not generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the material.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The names a server certificate must cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// DNS names.
    pub dns: BTreeSet<String>,
    /// IP addresses.
    pub ips: BTreeSet<IpAddr>,
}

impl Names {
    /// localhost, loopback, the host name, every non-loopback interface address, and `extra`
    /// (the public URL's host).
    #[must_use]
    pub fn for_this_machine(extra: Option<&str>) -> Self {
        let mut names = Names::default();
        names.dns.insert("localhost".to_owned());
        names.ips.insert(IpAddr::from([127, 0, 0, 1]));
        names
            .ips
            .insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
        if let Ok(host) = gethostname::gethostname().into_string() {
            let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
            if is_dns_name(&host) {
                names.dns.insert(host);
            }
        }
        if let Ok(interfaces) = if_addrs::get_if_addrs() {
            for iface in interfaces {
                let ip = iface.ip();
                // Link-local IPv6 addresses need a zone id and are useless in a certificate.
                let link_local_v6 =
                    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
                if !ip.is_loopback() && !link_local_v6 {
                    names.ips.insert(ip);
                }
            }
        }
        if let Some(host) = extra {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match host.parse::<IpAddr>() {
                Ok(ip) => {
                    names.ips.insert(ip);
                }
                Err(_) if is_dns_name(host) => {
                    names.dns.insert(host.to_ascii_lowercase());
                }
                Err(_) => {}
            }
        }
        names
    }

    fn is_covered_by(&self, other: &Names) -> bool {
        self.dns.is_subset(&other.dns) && self.ips.is_subset(&other.ips)
    }
}

pub(crate) fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Facts about a certificate, for logs and (later) the TLS settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject common name.
    pub subject: String,
    /// Covered names.
    pub names: Names,
    /// Expiry, unix seconds.
    pub not_after: i64,
}

/// Reads subject, SANs and expiry from a DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut names = Names::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    names.dns.insert(d.to_ascii_lowercase());
                }
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                        names.ips.insert(IpAddr::from(b));
                    } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                        names.ips.insert(IpAddr::from(b));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        subject,
        names,
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The files of the generated material.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    /// `<data>/tls`
    pub dir: PathBuf,
    /// Local CA certificate (public; users import it).
    pub ca_cert: PathBuf,
    /// Local CA key (0600).
    pub ca_key: PathBuf,
    /// Server certificate chain: leaf then CA.
    pub server_cert: PathBuf,
    /// Server key (0600).
    pub server_key: PathBuf,
}

impl TlsPaths {
    /// Paths under a data dir.
    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self::new_in(&data_dir.join("tls"))
    }

    fn new_in(dir: &Path) -> Self {
        let dir = dir.to_owned();
        Self {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            dir,
        }
    }
}

/// What [`ensure_generated`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing existed: a new CA and leaf were generated.
    CreatedCa,
    /// The leaf was (re-)issued by the existing CA.
    IssuedLeaf,
    /// Everything was reused as is.
    Reused,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Makes sure a usable CA and leaf exist for `names` at time `now` (unix seconds).
pub fn ensure_generated(paths: &TlsPaths, names: &Names, now: i64) -> Result<Outcome, TlsError> {
    if !paths.dir.exists() {
        create_fresh(paths, names, now)?;
        return Ok(Outcome::CreatedCa);
    }
    let ca_cert_exists = paths.ca_cert.exists();
    let ca_key_exists = paths.ca_key.exists();
    let (ca_pem, ca_key, outcome) = match (ca_cert_exists, ca_key_exists) {
        (true, true) => {
            let pem = read(&paths.ca_cert)?;
            let key_pem = read(&paths.ca_key)?;
            let damaged = |reason: String| TlsError::DamagedCa {
                dir: paths.dir.clone(),
                reason,
            };
            let key = KeyPair::from_pem(&key_pem).map_err(|e| damaged(format!("ca.key: {e}")))?;
            let der = CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| damaged(format!("ca.crt: {e}")))?;
            let info = inspect(&der).map_err(|e| damaged(format!("ca.crt: {e}")))?;
            if info.not_after <= now {
                return Err(damaged("the CA certificate has expired".to_owned()));
            }
            if info.not_after - now < RENEW_BEFORE_DAYS * 86_400 {
                tracing::warn!(ca = %paths.ca_cert.display(), "the local CA expires within 30 days: plan to replace it (see docs/OPERATIONS.md)");
            }
            (pem, key, Outcome::Reused)
        }
        (cert, _) => {
            let missing = if cert {
                "ca.key is missing"
            } else {
                "ca.crt is missing"
            };
            return Err(TlsError::DamagedCa {
                dir: paths.dir.clone(),
                reason: missing.to_owned(),
            });
        }
    };

    if leaf_is_current(paths, names, now) {
        return Ok(outcome);
    }
    issue_leaf(paths, &ca_pem, ca_key, names, now)?;
    Ok(Outcome::IssuedLeaf)
}

/// First start: CA and leaf are written into a staging directory that is renamed into place
/// in one step, so an interrupted first start leaves either nothing or a complete set.
fn create_fresh(paths: &TlsPaths, names: &Names, now: i64) -> Result<(), TlsError> {
    let staging = paths.dir.with_file_name(".tls.staging");
    let _ = std::fs::remove_dir_all(&staging);
    create_private_dir(&staging)?;
    let staged = TlsPaths::new_in(&staging);
    let (ca_pem, ca_key) = generate_ca(now)?;
    write_file(&staged.ca_key, ca_key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&staged.ca_cert, ca_pem.as_bytes(), 0o644)?;
    issue_leaf(&staged, &ca_pem, ca_key, names, now)?;
    std::fs::rename(&staging, &paths.dir).map_err(|source| TlsError::Io {
        action: "cannot move into place",
        path: paths.dir.clone(),
        source,
    })?;
    sync_parent(&paths.dir);
    Ok(())
}

fn issue_leaf(
    paths: &TlsPaths,
    ca_pem: &str,
    ca_key: KeyPair,
    names: &Names,
    now: i64,
) -> Result<(), TlsError> {
    let ca_not_after = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .ok()
        .and_then(|der| inspect(&der).ok())
        .map_or(i64::MAX, |info| info.not_after);
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(|e| TlsError::DamagedCa {
        dir: paths.dir.clone(),
        reason: format!("ca.crt cannot be used to sign: {e}"),
    })?;
    let (leaf_pem, leaf_key) = generate_leaf(&issuer, names, now, ca_not_after)?;
    // Key first, then certificate: if a crash separates the two, the next start sees a pair
    // that does not match and re-issues (see `leaf_is_current`).
    write_file(
        &paths.server_key,
        leaf_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_file(
        &paths.server_cert,
        format!("{leaf_pem}{ca_pem}").as_bytes(),
        0o644,
    )
}

/// The leaf is kept when it loads with its key, covers `names` and has more than
/// [`RENEW_BEFORE_DAYS`] left.
fn leaf_is_current(paths: &TlsPaths, names: &Names, now: i64) -> bool {
    let (Ok(pem), Ok(key)) = (
        std::fs::read(&paths.server_cert),
        std::fs::read(&paths.server_key),
    ) else {
        return false;
    };
    if server_config_from_pem(&pem, &key).is_err() {
        return false;
    }
    let Ok(der) = CertificateDer::from_pem_slice(&pem) else {
        return false;
    };
    let Ok(info) = inspect(&der) else {
        return false;
    };
    info.not_after - now > RENEW_BEFORE_DAYS * 86_400 && names.is_covered_by(&info.names)
}

fn offset(now: i64, days: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now + days * 86_400).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn generate_ca(now: i64) -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    dn.push(DnType::CommonName, format!("printwarden local CA ({host})"));
    dn.push(DnType::OrganizationName, "printwarden");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = offset(now, -1);
    params.not_after = offset(now, CA_DAYS);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

fn generate_leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: &Names,
    now: i64,
    ca_not_after: i64,
) -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let cn = names
        .dns
        .iter()
        .find(|d| *d != "localhost")
        .cloned()
        .unwrap_or_else(|| "localhost".to_owned());
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "printwarden");
    params.distinguished_name = dn;
    let mut sans = Vec::new();
    for dns in &names.dns {
        sans.push(SanType::DnsName(dns.clone().try_into()?));
    }
    sans.extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = offset(now, -1);
    // Never outlive the CA: a leaf valid past its issuer fails validation anyway.
    let leaf_end = (now + LEAF_DAYS * 86_400).min(ca_not_after);
    params.not_after =
        OffsetDateTime::from_unix_timestamp(leaf_end).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    params.serial_number = Some(random_serial());
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key))
}

fn random_serial() -> rcgen::SerialNumber {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes[0] &= 0x7f; // positive
    rcgen::SerialNumber::from_slice(&bytes)
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    })
}

/// Creates a directory readable only by the owner (0700) if it does not exist.
pub fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::Io {
            action: "cannot create directory",
            path: dir.to_owned(),
            source,
        })
}

/// Writes a file atomically (temp file + rename) with `mode`, so a crash never leaves a
/// half-written key or certificate behind.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |action: &'static str| {
        move |source| TlsError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("cannot create"))?;
    file.write_all(bytes).map_err(io("cannot write"))?;
    file.sync_all().map_err(io("cannot sync"))?;
    std::fs::rename(&tmp, path).map_err(io("cannot replace"))?;
    sync_parent(path);
    Ok(())
}

/// Makes a rename durable: fsync the directory that holds the entry.
pub fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// A rustls server configuration (TLS 1.3 and 1.2 only, h2 + http/1.1) from PEM files.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Io {
        action: "cannot read",
        path: cert_path.to_owned(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Io {
        action: "cannot read",
        path: key_path.to_owned(),
        source,
    })?;
    server_config_from_pem(&cert_pem, &key_pem)
}

/// [`server_config`] from PEM bytes.
pub fn server_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadFiles(format!("certificate file is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::BadFiles(
            "certificate file contains no certificate".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::BadFiles(format!("key file is not a valid PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            TlsError::BadFiles(format!(
                "certificate and key do not form a usable pair: {e}"
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How often the renewal check runs while serving.
pub const RENEWAL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Runs the renewal check now against the machine's current names; returns a new server
/// config when the leaf was re-issued.
pub fn renew_if_needed(
    paths: &TlsPaths,
    extra_host: Option<&str>,
) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let names = Names::for_this_machine(extra_host);
    match ensure_generated(paths, &names, now_unix())? {
        Outcome::Reused => Ok(None),
        Outcome::IssuedLeaf | Outcome::CreatedCa => {
            server_config(&paths.server_cert, &paths.server_key).map(Some)
        }
    }
}

/// [`ensure_generated`] at the current time.
pub fn ensure_generated_now(paths: &TlsPaths, names: &Names) -> Result<Outcome, TlsError> {
    ensure_generated(paths, names, now_unix())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.dns.insert("localhost".into());
        n.ips.insert("127.0.0.1".parse().unwrap());
        n
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn first_start_creates_ca_and_leaf_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        assert_eq!(
            ensure_generated(&paths, &names(), NOW).unwrap(),
            Outcome::CreatedCa
        );
        for key in [&paths.ca_key, &paths.server_key] {
            assert_eq!(
                std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            std::fs::metadata(&paths.dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let ca = inspect(&CertificateDer::from_pem_file(&paths.ca_cert).unwrap()).unwrap();
        assert!(ca.subject.starts_with("printwarden local CA"));
        assert!((ca.not_after - NOW - CA_DAYS * 86_400).abs() < 10);
        let leaf = inspect(&CertificateDer::from_pem_file(&paths.server_cert).unwrap()).unwrap();
        assert!(names().is_covered_by(&leaf.names));
        assert!((leaf.not_after - NOW - LEAF_DAYS * 86_400).abs() < 10);
        assert!(server_config(&paths.server_cert, &paths.server_key).is_ok());
    }

    #[test]
    fn second_start_reuses_everything() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        let before = (
            std::fs::read(&paths.ca_cert).unwrap(),
            std::fs::read(&paths.server_cert).unwrap(),
        );
        assert_eq!(
            ensure_generated(&paths, &names(), NOW + 86_400).unwrap(),
            Outcome::Reused
        );
        let after = (
            std::fs::read(&paths.ca_cert).unwrap(),
            std::fs::read(&paths.server_cert).unwrap(),
        );
        assert_eq!(before, after);
    }

    #[test]
    fn leaf_is_renewed_near_expiry_and_for_new_names_but_the_ca_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        let ca = std::fs::read(&paths.ca_cert).unwrap();
        let near_expiry = NOW + (LEAF_DAYS - RENEW_BEFORE_DAYS + 1) * 86_400;
        assert_eq!(
            ensure_generated(&paths, &names(), near_expiry).unwrap(),
            Outcome::IssuedLeaf
        );
        let mut more = names();
        more.dns.insert("farm.example".into());
        assert_eq!(
            ensure_generated(&paths, &more, near_expiry).unwrap(),
            Outcome::IssuedLeaf
        );
        let leaf = inspect(&CertificateDer::from_pem_file(&paths.server_cert).unwrap()).unwrap();
        assert!(leaf.names.dns.contains("farm.example"));
        assert_eq!(
            std::fs::read(&paths.ca_cert).unwrap(),
            ca,
            "CA never replaced"
        );
    }

    #[test]
    fn a_damaged_or_half_present_ca_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        std::fs::write(&paths.ca_key, "garbage").unwrap();
        let err = ensure_generated(&paths, &names(), NOW).unwrap_err();
        assert!(matches!(err, TlsError::DamagedCa { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&paths.ca_key).unwrap(), "garbage");
        std::fs::remove_file(&paths.ca_key).unwrap();
        assert!(matches!(
            ensure_generated(&paths, &names(), NOW),
            Err(TlsError::DamagedCa { .. })
        ));
        assert!(paths.ca_cert.exists());
    }

    #[test]
    fn a_mismatched_leaf_pair_left_by_a_crash_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        // Simulate a crash after the new key was written but before the new certificate.
        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        std::fs::write(&paths.server_key, other.serialize_pem()).unwrap();
        assert!(server_config(&paths.server_cert, &paths.server_key).is_err());
        assert_eq!(
            ensure_generated(&paths, &names(), NOW).unwrap(),
            Outcome::IssuedLeaf
        );
        assert!(server_config(&paths.server_cert, &paths.server_key).is_ok());
        assert!(!dir.path().join(".tls.staging").exists());
    }

    #[test]
    fn a_leaf_never_outlives_its_ca() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        let late = NOW + (CA_DAYS - 100) * 86_400;
        assert_eq!(
            ensure_generated(&paths, &names(), late).unwrap(),
            Outcome::IssuedLeaf
        );
        let ca = inspect(&CertificateDer::from_pem_file(&paths.ca_cert).unwrap()).unwrap();
        let leaf = inspect(&CertificateDer::from_pem_file(&paths.server_cert).unwrap()).unwrap();
        assert!(leaf.not_after <= ca.not_after);
    }

    #[test]
    fn machine_names_include_loopback_and_extra_host() {
        let n = Names::for_this_machine(Some("farm.example.com"));
        assert!(n.dns.contains("localhost") && n.dns.contains("farm.example.com"));
        assert!(
            n.ips.contains(&"127.0.0.1".parse().unwrap())
                && n.ips.contains(&"::1".parse().unwrap())
        );
        assert!(!is_dns_name("bad_name") && !is_dns_name("-x") && is_dns_name("a-b.c"));
    }

    #[test]
    fn mismatched_files_are_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        ensure_generated(&paths, &names(), NOW).unwrap();
        let err = server_config(&paths.server_cert, &paths.ca_key).unwrap_err();
        assert!(
            err.to_string().contains("do not form a usable pair"),
            "{err}"
        );
        let err = server_config_from_pem(b"nothing", b"nothing").unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
