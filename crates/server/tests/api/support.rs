//! Helpers several test modules share: a TLS connection to the test server that trusts its
//! generated CA (and optionally another), a WebSocket over it, an API key, locations, and a
//! project holding one library file (the seeding of the masking and matrix walks).

use std::path::Path;
use std::sync::Arc;

use pw_testkit::{Auth, TestServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
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

/// A new API key of `auth` named `name` with `scopes` (all printers), as a caller.
pub async fn api_key(server: &TestServer, auth: &Auth, name: &str, scopes: &[&str]) -> Auth {
    let k = server
        .call(
            auth,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": name, "scopes": scopes})),
        )
        .await;
    assert_eq!(k.status, 201, "{:?}", k.json);
    Auth::Key(k.json["key"].as_str().unwrap().to_owned())
}

/// A new project `name` holding `copies` of library file `file`; its id.
pub async fn project_with_file(
    server: &TestServer,
    auth: &Auth,
    name: &str,
    file: i64,
    copies: i64,
) -> i64 {
    let project = server
        .call(
            auth,
            "POST",
            "/api/v1/projects",
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(project.status, 201, "{:?}", project.json);
    let project = project.json["id"].as_i64().unwrap();
    let member = server
        .call(
            auth,
            "POST",
            &format!("/api/v1/projects/{project}/members"),
            Some(json!({"files": [{"id": file, "copies": copies}]})),
        )
        .await;
    assert_eq!(member.status, 200, "{:?}", member.json);
    project
}

/// New locations named `names`; their ids in that order.
pub async fn locations(server: &TestServer, auth: &Auth, names: &[&str]) -> Vec<i64> {
    let mut ids = Vec::new();
    for name in names {
        let l = server
            .call(
                auth,
                "POST",
                "/api/v1/locations",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(l.status, 201, "{:?}", l.json);
        ids.push(l.json["id"].as_i64().unwrap());
    }
    ids
}
