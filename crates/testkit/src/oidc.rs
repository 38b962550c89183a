//! The OpenID provider test peer (`scripts/peers/oidc-server.mjs`, npm `oidc-provider` 9,
//! started by `scripts/test.sh`) as a test sees it: its issuer and CA, the two clients, its
//! test controls (rotate the signing key, break the next ID token), and a scripted browser
//! that signs in on the provider's real login page (devInteractions: any password).
//! Invariant: it only talks to the peer the `PW_TEST_OIDC_*` variables name, over TLS verified
//! against the peer's own CA.
//!
//! The provider is shared by every test of a run, and nextest runs each test in its own
//! process: the tamper control is one-shot and global, and a key rotation invalidates every
//! server's cached key set, so tests that sign in hold [`OidcPeer::exclusive`], a file lock
//! in the temporary directory, for their whole run.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const NOT_RUNNING: &str = "start the OpenID provider test peer: run the tests through \
     scripts/test.sh (TEST_STAGES=tests-sqlite), or by hand: npm install in a directory with \
     scripts/peers/oidc/package.json, copy scripts/peers/oidc-server.mjs there, run it with \
     --state-dir DIR --port PORT and export PW_TEST_OIDC_ISSUER=https://localhost:PORT \
     PW_TEST_OIDC_CA=DIR/ca.pem";

/// The running provider.
#[derive(Debug, Clone)]
pub struct OidcPeer {
    issuer: String,
    ca_pem: String,
    client: reqwest::Client,
}

/// Held while a test uses the provider's global state (see the module note); released on drop.
#[derive(Debug)]
pub struct PeerLock {
    _file: std::fs::File,
}

fn var(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{name} is not set: {NOT_RUNNING}")),
    }
}

/// A cookie jar good enough for one provider (names are unique there).
#[derive(Debug, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for line in response.headers().get_all(SET_COOKIE) {
            let Some(pair) = line.to_str().ok().and_then(|l| l.split(';').next()) else {
                continue;
            };
            if let Some((n, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.0.remove(n.trim());
                } else {
                    self.0.insert(n.trim().to_owned(), v.to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl OidcPeer {
    /// Reads `PW_TEST_OIDC_ISSUER` and `PW_TEST_OIDC_CA`. The error tells how to get the peer
    /// running; tests should fail with it, not skip.
    pub fn from_env() -> Result<OidcPeer, String> {
        printwarden::install_crypto_provider();
        let issuer = var("PW_TEST_OIDC_ISSUER")?;
        let ca_path = var("PW_TEST_OIDC_CA")?;
        let ca_pem = std::fs::read_to_string(&ca_path)
            .map_err(|e| format!("cannot read PW_TEST_OIDC_CA={ca_path}: {e}: {NOT_RUNNING}"))?;
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| format!("PW_TEST_OIDC_CA is not a certificate: {e}"))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(OidcPeer {
            issuer,
            ca_pem,
            client,
        })
    }

    /// `https://localhost:PORT`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The host an administrator allows (`localhost`).
    #[must_use]
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The peer's CA (PEM).
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The confidential client and its secret.
    #[must_use]
    pub fn confidential(&self) -> (&'static str, &'static str) {
        ("farm", "farm-secret")
    }

    /// The public client (PKCE only).
    #[must_use]
    pub fn public_client(&self) -> &'static str {
        "farm-public"
    }

    /// Waits until no other test (in any process) uses the provider, and holds it.
    pub async fn exclusive(&self) -> PeerLock {
        let path = std::env::temp_dir().join("pw-test-oidc-peer.lock");
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .expect("the OIDC peer lock file");
            file.lock().expect("the OIDC peer lock");
            PeerLock { _file: file }
        })
        .await
        .expect("lock task")
    }

    async fn control(&self, method: reqwest::Method, path: &str) -> serde_json::Value {
        let r = self
            .client
            .request(method, format!("{}{path}", self.issuer))
            .send()
            .await
            .expect("the OIDC test peer's control answers");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("control JSON")
    }

    /// A new signing key (new kid); the old one leaves the JWKS. Returns the new kid.
    pub async fn rotate_keys(&self) -> String {
        let v = self.control(reqwest::Method::POST, "/_test/rotate").await;
        v["kid"].as_str().unwrap_or_default().to_owned()
    }

    /// Breaks the next ID token the token endpoint hands out: `aud`, `nonce`, `expired`,
    /// `iss`, `azp` or `sig`.
    pub async fn tamper_next(&self, claim: &str) {
        self.control(
            reqwest::Method::POST,
            &format!("/_test/tamper?claim={claim}"),
        )
        .await;
    }

    /// How many times the JWKS was fetched.
    pub async fn jwks_fetches(&self) -> u64 {
        let v = self
            .control(reqwest::Method::GET, "/_test/jwks-fetches")
            .await;
        v["fetches"].as_u64().unwrap_or_default()
    }

    /// Follows `authorize_url` (the provider's, from printwarden's redirect) like a browser:
    /// the login page, typing `user` (any password), until the provider redirects to the
    /// callback. Returns the callback URL with its query (`code`, `state`, `iss`).
    pub async fn sign_in(&self, authorize_url: &str, user: &str) -> String {
        let mut jar = Jar::default();
        let mut url = authorize_url.to_owned();
        let mut posted = false;
        for _ in 0..10 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let r = self
                .client
                .get(&url)
                .header(COOKIE, jar.header())
                .send()
                .await
                .expect("provider answers");
            jar.take(&r);
            let status = r.status();
            if status.is_redirection() {
                url = absolute(&url, r.headers().get(LOCATION));
                continue;
            }
            assert_eq!(status, 200, "provider page {url}");
            assert!(!posted, "the provider showed its login page twice");
            // The login form posts back to the interaction URL.
            let r = self
                .client
                .post(&url)
                .header(COOKIE, jar.header())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(
                    reqwest::Url::parse_with_params(
                        "x:/",
                        [("prompt", "login"), ("login", user), ("password", "any")],
                    )
                    .ok()
                    .and_then(|u| u.query().map(str::to_owned))
                    .unwrap_or_default(),
                )
                .send()
                .await
                .expect("provider login answers");
            jar.take(&r);
            assert!(r.status().is_redirection(), "login: {}", r.status());
            posted = true;
            url = absolute(&url, r.headers().get(LOCATION));
        }
        panic!("the provider never redirected to the callback (last: {url})");
    }
}

fn absolute(base: &str, location: Option<&reqwest::header::HeaderValue>) -> String {
    let location = location
        .and_then(|l| l.to_str().ok())
        .expect("redirect with a Location");
    reqwest::Url::parse(base)
        .and_then(|b| b.join(location))
        .map(|u| u.to_string())
        .expect("a valid Location")
}
