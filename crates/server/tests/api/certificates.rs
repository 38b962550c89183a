//! Certificate management (S7): an upload is validated before anything changes (a mismatched
//! key, an expired certificate or one for another host is refused and the old certificate
//! keeps serving), a good one is served at once and survives restarts and renewal, removing it
//! brings the generated certificate back, and `/ca.crt` hands out the local CA.

use std::path::Path;

use printwarden::tls::{Names, TlsPaths, ensure_generated_now};
use pw_testkit::{Auth, Options, TestServer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

/// A chain + key from another CA ("the operator's own CA"), covering localhost and 127.0.0.1.
struct Material {
    _dir: tempfile::TempDir,
    paths: TlsPaths,
}

impl Material {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = TlsPaths::new(dir.path());
        let mut names = Names::default();
        names.dns.insert("localhost".into());
        names.ips.insert("127.0.0.1".parse().unwrap());
        ensure_generated_now(&paths, &names).unwrap();
        Self { _dir: dir, paths }
    }

    fn chain(&self) -> String {
        std::fs::read_to_string(&self.paths.server_cert).unwrap()
    }

    fn key(&self) -> String {
        std::fs::read_to_string(&self.paths.server_key).unwrap()
    }

    fn leaf_der(&self) -> Vec<u8> {
        CertificateDer::pem_slice_iter(self.chain().as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }
}

/// The leaf the server presents on a fresh connection, trusting its own CA and `extra`.
async fn presented(server: &TestServer, extra: &Path) -> Vec<u8> {
    let tls = crate::support::tls(server, Some(extra)).await;
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

async fn upload(server: &TestServer, auth: &Auth, chain: &str, key: &str) -> pw_testkit::Answer {
    server
        .call(
            auth,
            "POST",
            "/api/v1/settings/tls/certificate",
            Some(json!({"certificate_pem": chain, "key_pem": key})),
        )
        .await
}

#[tokio::test]
async fn a_mismatched_key_is_refused_and_the_old_certificate_keeps_serving() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let theirs = Material::new();
    let before = presented(&server, &theirs.paths.ca_cert).await;

    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let refused = upload(&server, &admin, &theirs.chain(), &other_key).await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert!(
        refused.message().contains("does not belong"),
        "{}",
        refused.message()
    );
    assert_eq!(presented(&server, &theirs.paths.ca_cert).await, before);
    assert!(!server.data_dir.join("tls/uploaded.crt").exists());
    let status = server
        .call(&admin, "GET", "/api/v1/settings/tls", None)
        .await;
    assert_eq!(status.json["source"], "generated");
    assert_eq!(status.json["fingerprint_sha256"], sha256_hex(&before));
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=tls.", None)
        .await;
    assert_eq!(audit.json["items"][0]["success"], false);
}

#[tokio::test]
async fn an_upload_is_served_at_once_outlives_renewal_and_restarts_and_can_be_removed() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let theirs = Material::new();
    let generated = presented(&server, &theirs.paths.ca_cert).await;

    let ok = upload(&server, &admin, &theirs.chain(), &theirs.key()).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(ok.json["source"], "uploaded");
    // The harness client trusts only the generated CA: this answer can only come over the
    // connection opened before the swap, which the swap therefore did not drop.
    assert_eq!(server.get("/healthz").await.status(), 200);
    assert_eq!(
        ok.json["fingerprint_sha256"],
        sha256_hex(&theirs.leaf_der())
    );
    assert!(
        ok.json["sans"]
            .as_array()
            .unwrap()
            .contains(&json!("127.0.0.1"))
    );
    assert_eq!(
        presented(&server, &theirs.paths.ca_cert).await,
        theirs.leaf_der()
    );
    use std::os::unix::fs::PermissionsExt;
    for file in ["uploaded.crt", "uploaded.key"] {
        let mode = std::fs::metadata(server.data_dir.join("tls").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    // Renewal re-issues the generated leaf but must not swap it in over the upload.
    std::fs::write(
        server.data_dir.join("tls/server.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    assert!(!server.running().renew_certificate().await.unwrap());
    assert_eq!(
        presented(&server, &theirs.paths.ca_cert).await,
        theirs.leaf_der()
    );

    let mut server = server.restart(Vec::new()).await;
    // The harness's client trusts the generated CA; the upload is signed by theirs.
    server.client = pw_testkit::tls_client(&theirs.paths.ca_cert);
    assert_eq!(
        presented(&server, &theirs.paths.ca_cert).await,
        theirs.leaf_der()
    );
    let admin = server.login("admin", pw_testkit::TEST_PASSWORD).await;

    let back = server
        .call(&admin, "DELETE", "/api/v1/settings/tls/certificate", None)
        .await;
    assert_eq!(back.status, 200, "{:?}", back.json);
    assert_eq!(back.json["source"], "generated");
    server.client = pw_testkit::tls_client(&server.data_dir.join("tls/ca.crt"));
    let now = presented(&server, &theirs.paths.ca_cert).await;
    assert_ne!(now, theirs.leaf_der());
    assert_ne!(now, generated, "the generated leaf was re-issued meanwhile");
    assert_eq!(back.json["fingerprint_sha256"], sha256_hex(&now));
    let again = server
        .call(&admin, "DELETE", "/api/v1/settings/tls/certificate", None)
        .await;
    assert_eq!(again.status, 409);
}

/// A self-signed certificate for localhost valid from `from` to `until` (unix seconds).
fn self_signed(from: i64, until: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(until).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn expired_foreign_and_broken_uploads_are_refused_with_the_reason() {
    let server =
        TestServer::spawn_env(&[("PRINTWARDEN_PUBLIC_URL", "https://farm.example.com")]).await;
    let admin = server.setup_admin().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let theirs = Material::new();

    let (chain, key) = self_signed(now - 400 * 86_400, now - 86_400);
    let expired = upload(&server, &admin, &chain, &key).await;
    assert_eq!(expired.status, 400);
    assert!(
        expired.message().contains("expired"),
        "{}",
        expired.message()
    );

    let (chain, key) = self_signed(now + 86_400, now + 400 * 86_400);
    let early = upload(&server, &admin, &chain, &key).await;
    assert!(
        early.message().contains("not valid yet"),
        "{}",
        early.message()
    );

    let foreign = upload(&server, &admin, &theirs.chain(), &theirs.key()).await;
    assert_eq!(foreign.status, 400);
    assert!(
        foreign
            .message()
            .contains("does not cover farm.example.com"),
        "{}",
        foreign.message()
    );

    for (chain, key) in [
        ("not pem", theirs.key()),
        ("", theirs.key()),
        (
            theirs.chain().as_str(),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_owned(),
        ),
    ] {
        let bad = upload(&server, &admin, chain, &key).await;
        assert_eq!(bad.status, 400, "{:?}", bad.json);
    }
    assert_eq!(
        server
            .call(&admin, "GET", "/api/v1/settings/tls", None)
            .await
            .json["source"],
        "generated"
    );
}

#[tokio::test]
async fn the_local_ca_is_public_and_the_settings_need_settings_security() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let resp = server.get("/ca.crt").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-pem-file");
    let body = resp.text().await.unwrap();
    assert_eq!(
        body,
        std::fs::read_to_string(server.data_dir.join("tls/ca.crt")).unwrap()
    );
    assert!(!body.contains("PRIVATE KEY"));

    server.create_user(&admin, "pat", &[]).await;
    let pat = server.login("pat", pw_testkit::TEST_PASSWORD).await;
    let theirs = Material::new();
    for (method, path) in [
        ("GET", "/api/v1/settings/tls"),
        ("DELETE", "/api/v1/settings/tls/certificate"),
    ] {
        assert_eq!(server.call(&pat, method, path, None).await.status, 403);
    }
    assert_eq!(
        upload(&server, &pat, &theirs.chain(), &theirs.key())
            .await
            .status,
        403
    );
    let status = server
        .call(&admin, "GET", "/api/v1/settings/tls", None)
        .await;
    assert_eq!(status.json["local_ca"], true);
    assert!(
        status.json["issuer"]
            .as_str()
            .unwrap()
            .contains("printwarden"),
        "{:?}",
        status.json
    );
}

#[tokio::test]
async fn in_files_mode_the_operators_files_rule_and_there_is_no_local_ca() {
    let theirs = Material::new();
    let env = vec![
        ("PRINTWARDEN_TLS".into(), "files".into()),
        (
            "PRINTWARDEN_TLS_CERT".into(),
            theirs.paths.server_cert.display().to_string(),
        ),
        (
            "PRINTWARDEN_TLS_KEY".into(),
            theirs.paths.server_key.display().to_string(),
        ),
    ];
    let server = TestServer::spawn_with(Options {
        env,
        ca_cert: Some(theirs.paths.ca_cert.clone()),
        ..Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let status = server
        .call(&admin, "GET", "/api/v1/settings/tls", None)
        .await;
    assert_eq!(status.json["source"], "files");
    assert_eq!(
        status.json["fingerprint_sha256"],
        sha256_hex(&theirs.leaf_der())
    );
    let refused = upload(&server, &admin, &theirs.chain(), &theirs.key()).await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.message().contains("PRINTWARDEN_TLS_CERT"),
        "{}",
        refused.message()
    );
    assert_eq!(server.get("/ca.crt").await.status(), 404);
}

#[tokio::test]
async fn with_tls_off_there_is_no_certificate_to_manage() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TLS", "off")]).await;
    let admin = server.setup_admin().await;
    let status = server
        .call(&admin, "GET", "/api/v1/settings/tls", None)
        .await;
    assert_eq!(status.status, 409);
    assert!(status.message().contains("HTTPS is off"));
}

#[tokio::test]
async fn an_unusable_stored_upload_falls_back_to_the_generated_certificate() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    let theirs = Material::new();
    // An upload whose key no longer matches (as a hand-edited file would be).
    let tls_dir = server.data_dir.join("tls");
    std::fs::write(tls_dir.join("uploaded.crt"), theirs.chain()).unwrap();
    std::fs::write(
        tls_dir.join("uploaded.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let server = server.restart(Vec::new()).await;
    let admin = server.login("admin", pw_testkit::TEST_PASSWORD).await;
    let status = server
        .call(&admin, "GET", "/api/v1/settings/tls", None)
        .await;
    assert_eq!(status.json["source"], "generated", "{:?}", status.json);
    assert_ne!(
        presented(&server, &theirs.paths.ca_cert).await,
        theirs.leaf_der()
    );
    let cleared = server
        .call(&admin, "DELETE", "/api/v1/settings/tls/certificate", None)
        .await;
    assert_eq!(cleared.status, 200, "{:?}", cleared.json);
    assert!(!tls_dir.join("uploaded.crt").exists());
}
