//! `printwarden healthcheck`: asks the server running on this data directory for `/healthz`
//! and exits 0 only when it answers `{"status":"ok"}` — for container `HEALTHCHECK`s and
//! service managers, which have no curl in a minimal image.
//!
//! Invariant: the answer counts only when it comes from *this* server. The address is read from
//! `<data>/listening.json` (written by the server, so port 0 works too), and over HTTPS the
//! presented certificate must be byte-equal to the first certificate of the chain the server is
//! configured with (threat: another local process on the port answering "ok" for a dead
//! server). No trust store, no host name: an exact pin on a loopback connection.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{Settings, TlsMode};

/// The whole exchange (connect, handshake, answer) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(5);
/// `/healthz` answers a few bytes; anything longer is not our server.
const MAX_ANSWER: u64 = 16 * 1024;

pub(super) async fn healthcheck(settings: Settings) -> ExitCode {
    match tokio::time::timeout(TIMEOUT, check(&settings)).await {
        Ok(Ok(())) => {
            let _ = writeln!(std::io::stdout(), "healthy");
            ExitCode::SUCCESS
        }
        Ok(Err(why)) => {
            let _ = writeln!(std::io::stderr(), "printwarden: unhealthy: {why}");
            ExitCode::FAILURE
        }
        Err(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "printwarden: unhealthy: no answer within {} s",
                TIMEOUT.as_secs()
            );
            ExitCode::FAILURE
        }
    }
}

async fn check(settings: &Settings) -> Result<(), String> {
    let listening = settings.data_dir.join("listening.json");
    let text = std::fs::read_to_string(&listening).map_err(|e| {
        format!(
            "the server has not written {} (is it running on this data directory?): {e}",
            listening.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not readable: {e}", listening.display()))?;
    let address = |key: &str| -> Option<SocketAddr> { doc.get(key)?.as_str()?.parse().ok() };

    let answer = match &settings.tls {
        TlsMode::Off => {
            let addr = address("http").ok_or("listening.json names no HTTP address")?;
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            exchange(stream).await?
        }
        TlsMode::Auto | TlsMode::Files { .. } => {
            let addr = address("https").ok_or("listening.json names no HTTPS address")?;
            let chain = match &settings.tls {
                TlsMode::Files { cert, .. } => cert.clone(),
                _ => crate::serve::tls::TlsPaths::new(&settings.data_dir).server_cert,
            };
            let expected = CertificateDer::pem_file_iter(&chain)
                .ok()
                .and_then(|mut certs| certs.next())
                .and_then(Result::ok)
                .ok_or_else(|| format!("no certificate readable in {}", chain.display()))?;
            let config = pinned_client(expected)?;
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let name = ServerName::from(addr.ip());
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {addr} failed: {e}"))?;
            exchange(tls).await?
        }
    };
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or("the answer is not HTTP")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("the server answered {status:?}"));
    }
    let ok = serde_json::from_str::<serde_json::Value>(body.trim())
        .ok()
        .is_some_and(|v| v.get("status").and_then(|s| s.as_str()) == Some("ok"));
    if ok {
        Ok(())
    } else {
        Err("the server did not report status ok".to_owned())
    }
}

async fn exchange<S>(mut stream: S) -> Result<String, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn pinned_client(expected: CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedLeaf {
        expected,
        provider: Arc::clone(&provider),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts exactly one certificate, byte for byte; the handshake signature is still checked,
/// so only the holder of that certificate's key gets through.
#[derive(Debug)]
struct PinnedLeaf {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server presented a certificate other than the configured one".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
