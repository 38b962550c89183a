//! Whom a printer connection trusts (seed 000, TOFU): the certificate's subject CN must be the
//! printer's serial; with a CA bundle configured (Bambu's CA, supplied by the user) the chain
//! must verify to it; on first contact the leaf's SHA-256 is recorded for pinning, and from
//! then on only that exact certificate is accepted.
//!
//! Invariant: every check runs inside the TLS handshake, so a printer that fails any of them
//! never receives a byte of application data — in particular not the MQTT CONNECT that carries
//! the access code (threat: an attacker on the LAN impersonating a printer to harvest its
//! access code). The handshake signature is still verified with ring's algorithms.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A certificate's SHA-256 over its DER bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Of a DER certificate.
    #[must_use]
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (colons allowed, any case).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let clean: String = text.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(clean).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// Why a printer's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The leaf is not for this printer.
    #[error("the certificate is issued to {found:?}, not to serial {expected}")]
    WrongSerial {
        /// Configured serial.
        expected: String,
        /// Subject CN found.
        found: String,
    },
    /// Not signed by the configured CA bundle.
    #[error("the certificate does not chain to the configured printer CA: {0}")]
    Untrusted(String),
    /// Not the pinned certificate.
    #[error("the certificate changed: pinned {pinned}, presented {presented}")]
    Changed {
        /// Hex of the pinned fingerprint.
        pinned: String,
        /// Hex of the presented one.
        presented: String,
    },
    /// Not a certificate at all.
    #[error("the certificate cannot be read: {0}")]
    Unreadable(String),
}

/// What the last handshake saw (read by the connection after a handshake, failed or not).
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The presented leaf's fingerprint.
    pub presented: Option<Fingerprint>,
    /// Why it was refused, if it was.
    pub refused: Option<Refused>,
}

/// The verifier for one printer.
#[derive(Debug)]
pub struct PrinterVerifier {
    serial: String,
    pin: Option<Fingerprint>,
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

/// The subject CN of a DER certificate.
pub fn common_name(der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    Ok(cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned())
}

impl PrinterVerifier {
    /// Trusts a certificate for `serial`: only the one with fingerprint `pin` when given (first
    /// use otherwise), and only ones chaining to `roots` when given.
    #[must_use]
    pub fn new(
        serial: &str,
        pin: Option<Fingerprint>,
        roots: Option<Arc<RootCertStore>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            serial: serial.to_owned(),
            pin,
            roots,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            seen: Mutex::new(Seen::default()),
        })
    }

    /// What the last handshake saw.
    #[must_use]
    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), Refused> {
        let cn = common_name(end_entity).map_err(Refused::Unreadable)?;
        if cn != self.serial {
            return Err(Refused::WrongSerial {
                expected: self.serial.clone(),
                found: cn,
            });
        }
        if let Some(roots) = &self.roots {
            let parsed = ParsedCertificate::try_from(end_entity)
                .map_err(|e| Refused::Unreadable(e.to_string()))?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &parsed,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )
            .map_err(|e| Refused::Untrusted(e.to_string()))?;
        }
        let presented = Fingerprint::of(end_entity);
        if let Some(pin) = self.pin
            && !bool::from(pin.0.ct_eq(&presented.0))
        {
            return Err(Refused::Changed {
                pinned: pin.to_hex(),
                presented: presented.to_hex(),
            });
        }
        Ok(())
    }

    /// A TLS 1.2-only client configuration around this verifier (printers speak TLS 1.2; some
    /// misbehave with 1.3). Sessions are resumable, which FTPS data connections need.
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<rustls::ClientConfig>, Error> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(self) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

impl ServerCertVerifier for PrinterVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let outcome = self.check(end_entity, intermediates, now);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.presented = Some(Fingerprint::of(end_entity));
        seen.refused = outcome.as_ref().err().cloned();
        match outcome {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(r) => Err(Error::General(r.to_string())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(
        cn: &str,
        issuer: Option<(&rcgen::Certificate, &rcgen::KeyPair)>,
    ) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        match issuer {
            Some((ca, ca_key)) => {
                let issuer = rcgen::Issuer::from_ca_cert_der(ca.der(), ca_key).unwrap();
                params.signed_by(&key, &issuer).unwrap()
            }
            None => params.self_signed(&key).unwrap(),
        }
    }

    fn ca() -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test printer CA");
        (params.self_signed(&key).unwrap(), key)
    }

    fn verify(v: &PrinterVerifier, cert: &rcgen::Certificate) -> Result<(), Error> {
        let name = ServerName::try_from("01P00A000000001").unwrap();
        v.verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn first_use_checks_the_serial_and_records_the_fingerprint() {
        let cert = leaf("01P00A000000001", None);
        let v = PrinterVerifier::new("01P00A000000001", None, None);
        verify(&v, &cert).unwrap();
        assert_eq!(v.seen().presented, Some(Fingerprint::of(cert.der())));
        let other = leaf("01P00A999999999", None);
        assert!(verify(&v, &other).is_err());
        assert!(matches!(
            v.seen().refused,
            Some(Refused::WrongSerial { .. })
        ));
    }

    #[test]
    fn a_pinned_printer_accepts_only_that_certificate() {
        let cert = leaf("01P00A000000001", None);
        let v = PrinterVerifier::new("01P00A000000001", Some(Fingerprint::of(cert.der())), None);
        verify(&v, &cert).unwrap();
        let rotated = leaf("01P00A000000001", None);
        assert!(verify(&v, &rotated).is_err());
        let Some(Refused::Changed { pinned, presented }) = v.seen().refused else {
            panic!("not a change: {:?}", v.seen())
        };
        assert_eq!(pinned, Fingerprint::of(cert.der()).to_hex());
        assert_eq!(presented, Fingerprint::of(rotated.der()).to_hex());
    }

    #[test]
    fn with_a_ca_bundle_the_chain_must_verify() {
        let (ca_cert, ca_key) = ca();
        let mut roots = RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let v = PrinterVerifier::new("01P00A000000001", None, Some(Arc::new(roots)));
        verify(&v, &leaf("01P00A000000001", Some((&ca_cert, &ca_key)))).unwrap();
        assert!(verify(&v, &leaf("01P00A000000001", None)).is_err());
        assert!(matches!(v.seen().refused, Some(Refused::Untrusted(_))));
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let f = Fingerprint([0xAB; 32]);
        assert_eq!(Fingerprint::parse(&f.to_hex()), Some(f));
        let colons = f
            .to_hex()
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Fingerprint::parse(&colons), Some(f));
        assert_eq!(Fingerprint::parse("abc"), None);
    }
}
