//! Listeners and TLS: HTTPS with the generated CA, the HTTP→HTTPS redirect, listening.json,
//! restarts reusing the CA, `tls = "off"` and `tls = "files"`, TLS versions.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

use pw_testkit::{Options, TestServer};
use reqwest::StatusCode;

#[tokio::test]
async fn http_port_only_redirects_to_the_same_path_on_https() {
    let server = TestServer::spawn().await;
    let https_port = server.running().https.unwrap().port();
    let plain = pw_testkit::plain_client();
    for path in ["/x?y", "/healthz", "/api/v1/users?a=1&b=2", "/"] {
        let resp = plain
            .get(format!("http://{}{path}", server.http_addr))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(
                resp.status(),
                StatusCode::PERMANENT_REDIRECT | StatusCode::MOVED_PERMANENTLY
            ),
            "{path}"
        );
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("https://127.0.0.1:{https_port}{path}"));
        assert!(
            resp.text().await.unwrap().is_empty(),
            "no content on plain HTTP"
        );
    }
    let resp = plain
        .get(format!("http://{}/healthz", server.http_addr))
        .header("host", "localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["location"],
        format!("https://localhost:{https_port}/healthz").as_str()
    );
    // A foreign name is not redirected anywhere (no open redirector for rebinding names).
    let resp = plain
        .get(format!("http://{}/healthz", server.http_addr))
        .header("host", "farm.evil.example:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn listening_json_names_the_bound_ports_and_the_ca_is_public() {
    let server = TestServer::spawn().await;
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(server.data_dir.join("listening.json")).unwrap())
            .unwrap();
    assert_eq!(
        doc["https"],
        server.running().https.unwrap().to_string().as_str()
    );
    assert_eq!(doc["http"], server.http_addr.to_string().as_str());
    assert_eq!(
        std::fs::read(server.data_dir.join("ca.crt")).unwrap(),
        std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(server.data_dir.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "data dir");
    assert_eq!(mode("tls/ca.key"), 0o600);
    assert_eq!(mode("tls/server.key"), 0o600);
    assert_eq!(mode("secret.key"), 0o600);
}

#[tokio::test]
async fn a_restart_reuses_the_ca_certificate_and_key() {
    let server = TestServer::spawn().await;
    let ca = std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap();
    let leaf = std::fs::read(server.data_dir.join("tls/server.crt")).unwrap();
    let key = std::fs::read(server.data_dir.join("secret.key")).unwrap();
    let server = server.restart(Vec::new()).await;
    assert_eq!(
        std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap(),
        ca
    );
    assert_eq!(
        std::fs::read(server.data_dir.join("tls/server.crt")).unwrap(),
        leaf
    );
    assert_eq!(
        std::fs::read(server.data_dir.join("secret.key")).unwrap(),
        key
    );
    // The old client (trusting the old CA) still trusts the restarted server.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn tls_off_serves_the_app_on_one_plain_listener() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TLS", "off")]).await;
    assert!(server.running().https.is_none());
    assert!(server.base.starts_with("http://"));
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        !server.data_dir.join("tls").exists(),
        "no certificate generated"
    );
}

#[tokio::test]
async fn tls_files_serves_the_operators_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // An operator-provided chain: issue one with the generator into a separate directory.
    let paths = printwarden::tls::TlsPaths::new(dir.path());
    let mut names = printwarden::tls::Names::default();
    names.ips.insert("127.0.0.1".parse().unwrap());
    printwarden::tls::ensure_generated_now(&paths, &names).unwrap();
    let env = vec![
        ("PRINTWARDEN_TLS".into(), "files".into()),
        (
            "PRINTWARDEN_TLS_CERT".into(),
            paths.server_cert.display().to_string(),
        ),
        (
            "PRINTWARDEN_TLS_KEY".into(),
            paths.server_key.display().to_string(),
        ),
    ];
    let server = TestServer::spawn_with(Options {
        env,
        ca_cert: Some(paths.ca_cert.clone()),
        ..Options::default()
    })
    .await;
    assert!(
        !server.data_dir.join("tls").exists(),
        "nothing generated in files mode"
    );
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A TLS handshake with the server, trusting only its generated CA, limited to `versions`;
/// returns the leaf certificate the server presented.
async fn handshake(
    server: &TestServer,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.running().https.unwrap())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_offered_and_the_certificate_covers_localhost() {
    let server = TestServer::spawn().await;
    handshake(&server, &[&rustls::version::TLS13])
        .await
        .unwrap();
    handshake(&server, &[&rustls::version::TLS12])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_fresh_instance_writes_a_private_one_time_setup_code_that_changes_per_start() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::spawn().await;
    let path = server.data_dir.join("setup-code");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = std::fs::read_to_string(&path).unwrap();
    let code = first.trim();
    assert_eq!(code.len(), 14, "{code}");
    assert!(code.split('-').all(|g| {
        g.len() == 4
            && g.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    }));
    let server = server.restart(Vec::new()).await;
    let second = std::fs::read_to_string(server.data_dir.join("setup-code")).unwrap();
    assert_ne!(first, second, "each start issues a new code");
}

#[tokio::test]
async fn a_plain_http_deployment_gets_no_hsts_and_no_upgrade_directive() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TLS", "off")]).await;
    let resp = server.get("/").await;
    assert!(resp.headers().get("strict-transport-security").is_none());
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !csp.contains("upgrade-insecure-requests") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("id=\"trust-certificate\""),
        "no local CA to trust with tls off"
    );
    // Behind a TLS-terminating proxy the full HTTPS policy applies again.
    let proxied = TestServer::spawn_env(&[
        ("PRINTWARDEN_TLS", "off"),
        ("PRINTWARDEN_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let resp = proxied.get("/healthz").await;
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("upgrade-insecure-requests")
    );
    assert!(resp.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn the_landing_page_explains_the_local_ca_only_when_one_is_used() {
    let server = TestServer::spawn().await;
    assert!(
        server
            .get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("id=\"trust-certificate\"")
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let server = TestServer::spawn().await;
    let settings = pw_testkit::settings(&server.data_dir, &server.database_url, &[]);
    let err = printwarden::start(&settings).await.unwrap_err();
    assert!(
        err.to_string().contains("in use by another printwarden"),
        "{err}"
    );
    // The first one is unaffected.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_a_public_url_the_redirect_goes_there() {
    let server =
        TestServer::spawn_env(&[("PRINTWARDEN_PUBLIC_URL", "https://farm.example.com:8443")]).await;
    let resp = pw_testkit::plain_client()
        .get(format!("http://{}/a?b=c", server.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["location"],
        "https://farm.example.com:8443/a?b=c"
    );
    let leaf = std::fs::read(server.data_dir.join("tls/server.crt")).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&leaf).unwrap();
    let info = printwarden::tls::inspect(&der).unwrap();
    assert!(
        info.names.dns.contains("farm.example.com"),
        "the public host is in the certificate"
    );
}

async fn presented_leaf(server: &TestServer) -> Vec<u8> {
    handshake(server, rustls::DEFAULT_VERSIONS).await.unwrap()
}

#[tokio::test]
async fn a_reissued_certificate_is_hot_swapped_without_a_restart() {
    let server = TestServer::spawn().await;
    let before = presented_leaf(&server).await;
    assert!(
        !server.running().renew_certificate().await.unwrap(),
        "a current leaf is kept"
    );
    // Make the stored leaf unusable (as a crash between key and certificate writes would).
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(
        server.data_dir.join("tls/server.key"),
        other.serialize_pem(),
    )
    .unwrap();
    assert!(
        server.running().renew_certificate().await.unwrap(),
        "re-issued"
    );
    let after = presented_leaf(&server).await;
    assert_ne!(
        before, after,
        "new handshakes get the new certificate, same listener"
    );
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
}
