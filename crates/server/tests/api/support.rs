//! Helpers several test modules share: a TLS connection to the test server that trusts its
//! generated CA (and optionally another), and a WebSocket over it.

use std::path::Path;
use std::sync::Arc;

use pw_testkit::TestServer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;
pub type Socket = tokio_tungstenite::WebSocketStream<Tls>;

/// A fresh TLS connection (no resumption) to the server's HTTPS port, trusting its CA and
/// `extra`, offering http/1.1 only.
pub async fn tls(server: &TestServer, extra: Option<&Path>) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    let own = server.data_dir.join("tls/ca.crt");
    for file in std::iter::once(own.as_path()).chain(extra) {
        for cert in CertificateDer::pem_file_iter(file).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.running().https.unwrap())
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// A WebSocket to `path`, with the session `cookie` and our Origin when asked.
pub async fn ws(
    server: &TestServer,
    path: &str,
    cookie: Option<&str>,
    origin: bool,
) -> Result<Socket, WsError> {
    let port = server.running().https.unwrap().port();
    let mut request = format!("wss://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        request.headers_mut().insert("cookie", c.parse().unwrap());
    }
    if origin {
        request
            .headers_mut()
            .insert("origin", server.origin().parse().unwrap());
    }
    tokio_tungstenite::client_async(request, tls(server, None).await)
        .await
        .map(|(s, _)| s)
}
