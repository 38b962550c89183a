//! The simulator's certificates: one simulator CA per state directory (deliberately not named
//! like Bambu's CA) and one leaf per printer with `CN=<serial>`, as real printers present, plus
//! SANs `DNS:<serial>` and `IP:127.0.0.1` so generic clients (`mosquitto_sub --cafile`) can
//! verify too. Kept in the state directory across restarts; rotation issues a new leaf.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::SimError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |e| SimError::Io(format!("{}: {e}", path.display()))
}

/// The simulator CA.
pub struct Authority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// Where its certificate is (for clients: `ca_cert` in printers.json).
    pub cert_path: PathBuf,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Loads `dir/ca.{crt,key}`, creating them on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, SimError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        let (cert_pem, key) = if cert_path.exists() && key_path.exists() {
            let pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            (pem, KeyPair::from_pem(&key_pem)?)
        } else {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "printwarden simulator CA");
            dn.push(DnType::OrganizationName, "printwarden simulator");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let cert = params.self_signed(&key)?;
            std::fs::write(&key_path, key.serialize_pem()).map_err(io(&key_path))?;
            std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
            (cert.pem(), key)
        };
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self {
            cert_pem,
            issuer,
            cert_path,
        })
    }

    /// The CA certificate (PEM).
    #[must_use]
    pub fn pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a new leaf for `serial` into `dir/<serial>.{crt,key}` (chain: leaf then CA).
    pub fn issue(&self, dir: &Path, serial: &str) -> Result<(), SimError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, serial);
        params.subject_alt_names = vec![
            SanType::DnsName(serial.to_ascii_lowercase().try_into()?),
            SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        let (cert_path, key_path) = leaf_paths(dir, serial);
        std::fs::write(&key_path, key.serialize_pem()).map_err(io(&key_path))?;
        std::fs::write(&cert_path, format!("{}{}", cert.pem(), self.cert_pem))
            .map_err(io(&cert_path))?;
        Ok(())
    }

    /// Issues a fresh web-server leaf named `name` for the DNS names and loopback addresses in
    /// `sans` (the cloud stand-in's `api.bambulab.com`, `localhost`, `127.0.0.1`…); not kept
    /// across restarts of the stand-in, which is throwaway by design.
    pub fn web_leaf(&self, name: &str, sans: &[&str]) -> Result<Leaf, SimError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let mut names = Vec::new();
        for san in sans {
            names.push(match san.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*san).try_into()?),
            });
        }
        params.subject_alt_names = names;
        let cert = params.signed_by(&key, &self.issuer)?;
        let pem = format!("{}{}", cert.pem(), self.cert_pem);
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SimError::Io(e.to_string()))?;
        Ok(Leaf {
            chain,
            key_pem: key.serialize_pem(),
        })
    }

    /// The leaf for `serial`, issued when missing (or always, with `rotate`).
    pub fn leaf(&self, dir: &Path, serial: &str, rotate: bool) -> Result<Leaf, SimError> {
        let (cert_path, key_path) = leaf_paths(dir, serial);
        if rotate || !cert_path.exists() || !key_path.exists() {
            self.issue(dir, serial)?;
        }
        Leaf::load(&cert_path, &key_path)
    }
}

fn leaf_paths(dir: &Path, serial: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{serial}.crt")),
        dir.join(format!("{serial}.key")),
    )
}

/// A printer's certificate chain and key.
#[derive(Debug, Clone)]
pub struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key_pem: String,
}

impl Leaf {
    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, SimError> {
        let cert_pem = std::fs::read(cert_path).map_err(io(cert_path))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SimError::Io(format!("{}: {e}", cert_path.display())))?;
        let key_pem = std::fs::read_to_string(key_path).map_err(io(key_path))?;
        Ok(Self { chain, key_pem })
    }

    /// The leaf's DER.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        self.chain.first().map_or(&[], |c| c.as_ref())
    }

    /// A web server's TLS configuration for this leaf: TLS 1.2 and 1.3, HTTP/1.1 (ALPN).
    pub fn web_config(&self) -> Result<Arc<ServerConfig>, SimError> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| SimError::Io(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A TLS server configuration presenting this leaf: TLS 1.2 only, as X1/H2 firmware.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, SimError> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| SimError::Io(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)?;
        Ok(Arc::new(config))
    }
}
