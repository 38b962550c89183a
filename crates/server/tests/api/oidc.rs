//! OpenID Connect sign-in (S6, issue 19 items 4–5) through the real server against the real
//! OpenID provider test peer (npm `oidc-provider` 9, `scripts/peers/oidc-server.mjs`, started
//! by `scripts/test.sh`): the happy path with account creation and group mapping, a replayed
//! state, a state from another browser, broken ID tokens (nonce, aud, azp, iss, expired,
//! signature) re-signed by the provider's own key, an unverified email, auto-link off and on,
//! discovery on a private address, rotated keys, the public client, who may configure
//! providers and what a mapping may hand out, the sealed client secret, linking and unlinking
//! from Account, and the authorize limit.
//!
//! The provider is shared by every test (and both backend runs), and its tamper control and
//! key rotation are global: every test that signs in holds `OidcPeer::exclusive` (a file
//! lock, nextest runs tests in separate processes) for its whole run.

use std::time::Instant;

use pw_testkit::oidc::{OidcPeer, PeerLock};
use pw_testkit::{Answer, Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

use crate::support::api_key;

struct OidcFarm {
    server: TestServer,
    peer: OidcPeer,
    admin: Auth,
    /// Mapped from the provider's `farm-leads` group.
    leads: i64,
    _lock: PeerLock,
}

impl OidcFarm {
    async fn new() -> Self {
        Self::with_env(&[
            ("PRINTWARDEN_RATE_LIMIT_LOGIN", "0"),
            ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT", "0"),
        ])
        .await
    }

    async fn with_env(env: &[(&str, &str)]) -> Self {
        let peer = OidcPeer::from_env().expect("the OpenID provider test peer");
        let lock = peer.exclusive().await;
        let server = TestServer::spawn_env(env).await;
        let admin = server.setup_admin().await;
        // The IdP on loopback is an internal service the operator admits by name.
        let allow = server
            .call(
                &admin,
                "PUT",
                "/api/v1/settings/outbound",
                Some(json!({"allowed_hosts": [peer.host()]})),
            )
            .await;
        assert_eq!(allow.status, 200, "{:?}", allow.json);
        let leads = server
            .create_group(&admin, "Print leads", &["printers:read", "queue:reorder"])
            .await;
        Self {
            server,
            peer,
            admin,
            leads,
            _lock: lock,
        }
    }

    fn provider(&self, extra: Value) -> Value {
        let (id, secret) = self.peer.confidential();
        let mut body = json!({
            "name": "Farm IdP",
            "issuer": format!("{}/", self.peer.issuer()),
            "client_id": id,
            "client_secret": secret,
            "ca_cert_pem": self.peer.ca_pem(),
            "scopes": "openid email profile groups",
            "groups_claim": "groups",
            "group_mappings": [{"claim_value": "farm-leads", "group_id": self.leads}],
            "auto_create": true,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        body
    }

    async fn add_provider(&self, extra: Value) -> i64 {
        let a = self
            .server
            .call(
                &self.admin,
                "POST",
                "/api/v1/settings/oidc/providers",
                Some(self.provider(extra)),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        a.json["id"].as_i64().unwrap()
    }

    /// Starts a sign-in: the provider's URL and the binding cookie (`name=value`).
    async fn start(&self, provider: i64) -> (String, String) {
        let a = self
            .server
            .call(
                &Auth::None,
                "GET",
                &format!("/api/v1/auth/oidc/{provider}/authorize"),
                None,
            )
            .await;
        assert_eq!(a.status, 302, "{:?}", a.json);
        let location = a.headers["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(self.peer.issuer()), "{location}");
        assert!(
            location.contains("code_challenge_method=S256"),
            "{location}"
        );
        let line = a.set_cookie_line("pw_oidc").expect("the binding cookie");
        assert!(line.starts_with("__Host-pw_oidc="), "{line}");
        for part in [
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(line.contains(part), "{line}");
        }
        let pair = line.split(';').next().unwrap().to_owned();
        (location, pair)
    }

    /// Our callback as the provider sent the browser to it, with these cookies.
    async fn callback(&self, callback_url: &str, cookies: Option<&str>) -> Answer {
        let origin = self.server.origin();
        let path = callback_url
            .strip_prefix(&origin)
            .expect("the provider sent the browser back to this server");
        let auth = cookies.map_or(Auth::None, |c| Auth::Cookie(c.to_owned()));
        self.server.call(&auth, "GET", path, None).await
    }

    /// A whole sign-in as `user`: the callback's answer and the callback URL (for replays).
    async fn sign_in(&self, provider: i64, user: &str) -> (Answer, String, String) {
        let (location, cookie) = self.start(provider).await;
        let back = self.peer.sign_in(&location, user).await;
        let a = self.callback(&back, Some(&cookie)).await;
        (a, back, cookie)
    }

    async fn me(&self, auth: &Auth) -> Answer {
        self.server.call(auth, "GET", "/api/v1/auth/me", None).await
    }

    async fn audit(&self, event: &str) -> Vec<Value> {
        let a = self
            .server
            .call(
                &self.admin,
                "GET",
                &format!("/api/v1/audit?event={event}&limit=200"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["items"].as_array().unwrap().clone()
    }

    async fn reasons(&self) -> Vec<String> {
        self.audit("auth.oidc_login")
            .await
            .iter()
            .filter(|e| e["success"] == false)
            .map(|e| {
                e["details"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    async fn user_count(&self) -> usize {
        let a = self
            .server
            .call(&self.admin, "GET", "/api/v1/users?limit=200", None)
            .await;
        a.json["items"].as_array().unwrap().len()
    }
}

fn signed_in(a: &Answer) -> Auth {
    assert_eq!(a.status, 303, "{:?}", a.json);
    assert_eq!(a.headers["location"], "/", "{:?}", a.headers);
    Auth::Cookie(a.session_cookie().expect("a session cookie"))
}

fn refused(a: &Answer) {
    assert_eq!(a.status, 303, "{:?}", a.json);
    assert_eq!(a.headers["location"], "/login?oidc=failed");
    assert!(
        a.session_cookie().is_none(),
        "a refused sign-in set a session"
    );
}

fn group_ids(me: &Answer) -> Vec<i64> {
    let mut ids: Vec<i64> = me.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn oidc_sign_in_creates_the_account_maps_groups_and_finds_it_again() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let status = farm
        .server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(
        status.json["oidc_providers"],
        json!([{"id": provider, "name": "Farm IdP", "icon_url": null}])
    );

    let before = farm.user_count().await;
    let t0 = Instant::now();
    let (a, _, _) = farm.sign_in(provider, "alice").await;
    let elapsed = t0.elapsed();
    let alice = signed_in(&a);
    eprintln!("OIDC sign-in latency (authorize → provider login → callback): {elapsed:?}");
    // The binding cookie is single-use: cleared by the callback.
    let cleared = a.set_cookie_line("pw_oidc").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let me = farm.me(&alice).await;
    assert_eq!(me.json["username"], "alice");
    assert_eq!(me.json["auth_source"], "oidc");
    assert_eq!(me.json["email"], "alice@idp.test");
    assert_eq!(group_ids(&me), vec![farm.leads]);
    assert_eq!(farm.user_count().await, before + 1);

    // The second sign-in finds the same account by (provider, subject).
    let (again, _, _) = farm.sign_in(provider, "alice").await;
    let again = signed_in(&again);
    assert_eq!(farm.me(&again).await.json["id"], me.json["id"]);
    assert_eq!(farm.user_count().await, before + 1);

    // An OIDC account has no password here to change.
    let pw = farm
        .server
        .call(
            &again,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": "x", "new_password": "a much longer new password"})),
        )
        .await;
    assert_eq!(pw.status, 400, "{:?}", pw.json);
    assert!(
        pw.message().contains("identity provider"),
        "{}",
        pw.message()
    );
    // Nor can an administrator give it one.
    let id = me.json["id"].as_i64().unwrap();
    let set = farm
        .server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(json!({"password": "a much longer new password"})),
        )
        .await;
    assert_eq!(set.status, 400, "{:?}", set.json);

    let events = farm.audit("auth.oidc_login").await;
    assert!(
        events
            .iter()
            .any(|e| e["success"] == true && e["details"]["created"] == true)
    );
    assert!(
        events
            .iter()
            .any(|e| e["success"] == true && e["details"]["account"] == "linked")
    );
}

#[tokio::test]
async fn oidc_replayed_state_and_a_state_from_another_browser_are_refused() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let (a, back, cookie) = farm.sign_in(provider, "carol").await;
    signed_in(&a);
    // The same answer again (a replay, or a second tab): the state is used up.
    refused(&farm.callback(&back, Some(&cookie)).await);

    // A fresh flow finished in a browser without the binding cookie (login CSRF: the
    // attacker's code and state in the victim's browser).
    let (location, _cookie) = farm.start(provider).await;
    let back = farm.peer.sign_in(&location, "carol").await;
    refused(&farm.callback(&back, None).await);
    // ... and the state died with that attempt, even for the right browser.
    refused(&farm.callback(&back, Some(&cookie)).await);

    // A made-up state.
    refused(
        &farm
            .callback(
                &format!(
                    "{}/auth/oidc/callback?code=x&state=made-up",
                    farm.server.origin()
                ),
                Some(&cookie),
            )
            .await,
    );
    let reasons = farm.reasons().await;
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("unknown, used or expired state"))
            .count()
            >= 3,
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("another browser")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn oidc_id_tokens_with_a_wrong_claim_or_signature_are_refused() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    for (claim, reason) in [
        ("nonce", "nonce does not match"),
        ("aud", "meant for another client"),
        ("azp", "meant for another client"),
        ("iss", "issued by someone else"),
        ("expired", "has expired"),
        ("sig", "signature is not valid"),
    ] {
        let (location, cookie) = farm.start(provider).await;
        let back = farm.peer.sign_in(&location, "dave").await;
        farm.peer.tamper_next(claim).await;
        let a = farm.callback(&back, Some(&cookie)).await;
        refused(&a);
        let reasons = farm.reasons().await;
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "{claim}: {reasons:?}"
        );
    }
    // The control: the same user signs in with an untouched token.
    let (a, _, _) = farm.sign_in(provider, "dave").await;
    signed_in(&a);
}

#[tokio::test]
async fn oidc_unverified_email_is_refused_when_verification_is_required() {
    let farm = OidcFarm::new().await;
    let strict = farm.add_provider(json!({})).await;
    let before = farm.user_count().await;
    let (a, _, _) = farm.sign_in(strict, "bob").await;
    refused(&a);
    assert_eq!(farm.user_count().await, before);
    assert!(
        farm.reasons()
            .await
            .iter()
            .any(|r| r.contains("not verified the email")),
    );
    // The control: a provider that does not require it lets bob in.
    let lax = farm
        .add_provider(json!({"name": "Lax IdP", "require_verified_email": false}))
        .await;
    let (a, _, _) = farm.sign_in(lax, "bob").await;
    let bob = signed_in(&a);
    assert_eq!(farm.me(&bob).await.json["username"], "bob");
}

#[tokio::test]
async fn oidc_auto_link_is_off_by_default_and_only_by_verified_email() {
    let farm = OidcFarm::new().await;
    // A local account with the address erin has at the provider.
    let local = farm
        .server
        .create_user(&farm.admin, "erin-local", &[])
        .await;
    let set = farm
        .server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{local}"),
            Some(json!({"email": "erin@idp.test"})),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.json);
    let provider = farm.add_provider(json!({})).await;
    let before = farm.user_count().await;
    // Off (the default): refused, neither linked nor a second account.
    let (a, _, _) = farm.sign_in(provider, "erin").await;
    refused(&a);
    assert_eq!(farm.user_count().await, before);
    assert!(
        farm.reasons()
            .await
            .iter()
            .any(|r| r.contains("linking by email is off"))
    );

    // Auto-link without verified email is refused by the settings (and by the database).
    let body = farm.provider(json!({"auto_link": true, "require_verified_email": false}));
    let a = farm
        .server
        .call(
            &farm.admin,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    let body = farm.provider(json!({"auto_link": true, "email_claim": "upn"}));
    let a = farm
        .server
        .call(
            &farm.admin,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);

    // On: erin signs in to the existing local account.
    let body = farm.provider(json!({"auto_link": true}));
    let a = farm
        .server
        .call(
            &farm.admin,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let (a, _, _) = farm.sign_in(provider, "erin").await;
    let erin = signed_in(&a);
    let me = farm.me(&erin).await;
    assert_eq!(me.json["id"], local);
    assert_eq!(me.json["username"], "erin-local");
    assert_eq!(farm.user_count().await, before);
    // bob's address is unverified: never auto-linked even with auto-link on (a local bob with
    // that address stays his own).
    let bob_local = farm.server.create_user(&farm.admin, "bob-local", &[]).await;
    farm.server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{bob_local}"),
            Some(json!({"email": "bob@idp.test"})),
        )
        .await;
    let (a, _, _) = farm.sign_in(provider, "bob").await;
    refused(&a);
    let links = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/auth/oidc/links", None)
        .await;
    assert_eq!(links.json, json!([]));
}

#[tokio::test]
async fn oidc_discovery_on_a_private_address_is_refused() {
    let peer = OidcPeer::from_env().expect("the OpenID provider test peer");
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (id, secret) = peer.confidential();
    let body = |issuer: String| {
        json!({"name": "Internal", "issuer": issuer, "client_id": id, "client_secret": secret,
               "ca_cert_pem": peer.ca_pem()})
    };
    // By name (localhost resolves to loopback) and as a literal, without an allow-list entry.
    let port = peer.issuer().rsplit(':').next().unwrap().to_owned();
    for issuer in [
        peer.issuer().to_owned(),
        format!("https://127.0.0.1:{port}"),
    ] {
        let a = server
            .call(
                &admin,
                "POST",
                "/api/v1/settings/oidc/providers",
                Some(body(issuer.clone())),
            )
            .await;
        assert_eq!(a.status, 400, "{issuer}: {:?}", a.json);
        assert!(
            a.message().contains("discovery cannot be used"),
            "{}",
            a.message()
        );
    }
    // Plain http is refused before any request.
    let a = server
        .call(
            &admin,
            "POST",
            "/api/v1/settings/oidc/providers",
            Some(body(format!("http://localhost:{port}"))),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    let listed = server
        .call(&admin, "GET", "/api/v1/settings/oidc/providers", None)
        .await;
    assert_eq!(listed.json, json!([]));
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=settings.oidc", None)
        .await;
    assert!(
        audit.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["success"] == false)
    );
    // The control: allowed by name, the same issuer works.
    let allow = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": [peer.host()]})),
        )
        .await;
    assert_eq!(allow.status, 200);
    let a = server
        .call(
            &admin,
            "POST",
            "/api/v1/settings/oidc/providers",
            Some(body(peer.issuer().to_owned())),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
}

#[tokio::test]
async fn oidc_rotated_signing_keys_are_fetched_on_an_unknown_kid() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let (a, _, _) = farm.sign_in(provider, "alice").await;
    signed_in(&a);
    let fetches = farm.peer.jwks_fetches().await;
    // The cached key set still has the old key; the next token carries the new kid.
    farm.peer.rotate_keys().await;
    // Unknown kids refetch the key set at most once a second per provider.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (a, _, _) = farm.sign_in(provider, "alice").await;
    signed_in(&a);
    assert!(
        farm.peer.jwks_fetches().await > fetches,
        "the key set was not fetched again"
    );
    let reasons = farm.reasons().await;
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[tokio::test]
async fn oidc_public_client_signs_in_with_pkce_only() {
    let farm = OidcFarm::new().await;
    let provider = farm
        .add_provider(json!({"client_id": farm.peer.public_client(), "client_secret": ""}))
        .await;
    let listed = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/settings/oidc/providers", None)
        .await;
    assert_eq!(listed.json[0]["client_secret_set"], false);
    let (a, _, _) = farm.sign_in(provider, "carol").await;
    signed_in(&a);
}

#[tokio::test]
async fn oidc_providers_need_settings_security_and_mappings_cannot_grant_more() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let mail = farm
        .server
        .create_group(&farm.admin, "Mail admins", &["settings:email"])
        .await;
    farm.server
        .create_user(&farm.admin, "mailer", &[mail])
        .await;
    let mailer = farm.server.login("mailer", TEST_PASSWORD).await;
    let wrong_key = api_key(&farm.server, &farm.admin, "mail only", &["settings:email"]).await;
    for (method, path, body) in [
        ("GET", "/api/v1/settings/oidc/providers".to_owned(), None),
        (
            "POST",
            "/api/v1/settings/oidc/providers".to_owned(),
            Some(farm.provider(json!({"name": "x"}))),
        ),
        (
            "PUT",
            format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(farm.provider(json!({}))),
        ),
        (
            "DELETE",
            format!("/api/v1/settings/oidc/providers/{provider}"),
            None,
        ),
    ] {
        for who in [&mailer, &wrong_key] {
            let a = farm.server.call(who, method, &path, body.clone()).await;
            assert_eq!(a.status, 403, "{method} {path}: {:?}", a.json);
        }
        let a = farm
            .server
            .call(&Auth::None, method, &path, body.clone())
            .await;
        assert_eq!(a.status, 401, "{method} {path}");
    }

    // A principal with only settings:security maps the provider's farm-admins group (mallory is
    // in it) to Administrators: refused, like adding members by hand.
    let sec = farm
        .server
        .create_group(&farm.admin, "Security officers", &["settings:security"])
        .await;
    farm.server
        .create_user(&farm.admin, "officer", &[sec])
        .await;
    let officer = farm.server.login("officer", TEST_PASSWORD).await;
    let admins = farm.server.group_id(&farm.admin, "Administrators").await;
    let grab = farm.provider(json!({
        "group_mappings": [{"claim_value": "farm-admins", "group_id": admins}],
    }));
    let a = farm
        .server
        .call(
            &officer,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(grab.clone()),
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    let a = farm
        .server
        .call(
            &officer,
            "POST",
            "/api/v1/settings/oidc/providers",
            Some({
                let mut b = grab.clone();
                b["name"] = json!("Mine");
                b
            }),
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    // Nor a group with a right the officer lacks.
    let a = farm
        .server
        .call(
            &officer,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(farm.provider(json!({}))),
        )
        .await;
    assert_eq!(
        a.status, 403,
        "leads carry printers:read the officer lacks: {:?}",
        a.json
    );
    // mallory signs in: no Administrators.
    let (m, _, _) = farm.sign_in(provider, "mallory").await;
    let m = signed_in(&m);
    assert_eq!(group_ids(&farm.me(&m).await), Vec::<i64>::new());
    // The control: a mapping to a group with only settings:security is the officer's to give.
    let own = farm.provider(json!({
        "group_mappings": [{"claim_value": "farm-admins", "group_id": sec}],
    }));
    let a = farm
        .server
        .call(
            &officer,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(own),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
}

#[tokio::test]
async fn oidc_client_secret_is_sealed_never_returned_and_never_follows_a_new_issuer() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let (_, secret) = farm.peer.confidential();
    let listed = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/settings/oidc/providers", None)
        .await;
    assert_eq!(listed.json[0]["client_secret_set"], true);
    assert!(!listed.json.to_string().contains(secret));
    // At rest: sealed (the search is live: the client id is stored in the clear).
    assert!(farm.server.stored_contains(b"farm-leads").await);
    assert!(!farm.server.stored_contains(secret.as_bytes()).await);
    // Changing the issuer without typing the secret again: refused.
    let mut body = farm.provider(json!({"issuer": "https://other.example.com"}));
    body.as_object_mut().unwrap().remove("client_secret");
    let a = farm
        .server
        .call(
            &farm.admin,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    assert!(a.message().contains("client secret"), "{}", a.message());
    // Other changes keep it, and sign-in (which uses it at the token endpoint) still works.
    let mut body = farm.provider(json!({"name": "Renamed IdP"}));
    body.as_object_mut().unwrap().remove("client_secret");
    let a = farm
        .server
        .call(
            &farm.admin,
            "PUT",
            &format!("/api/v1/settings/oidc/providers/{provider}"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let (a, _, _) = farm.sign_in(provider, "carol").await;
    signed_in(&a);
}

#[tokio::test]
async fn oidc_link_and_unlink_from_account_after_the_password() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({"auto_create": false})).await;
    let link = format!("/api/v1/auth/oidc/{provider}/link");
    // Without the password, or with a wrong one: no flow starts.
    let a = farm
        .server
        .call(&farm.admin, "POST", &link, Some(json!({})))
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    let a = farm
        .server
        .call(
            &farm.admin,
            "POST",
            &link,
            Some(json!({"current_password": "wrong password here"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    // An API key cannot link (the session's owner must be at the keyboard).
    let key = api_key(&farm.server, &farm.admin, "k", &["printers:read"]).await;
    let a = farm
        .server
        .call(
            &key,
            "POST",
            &link,
            Some(json!({"current_password": TEST_PASSWORD})),
        )
        .await;
    assert!(a.status == 401 || a.status == 403, "{:?}", a.json);

    let a = farm
        .server
        .call(
            &farm.admin,
            "POST",
            &link,
            Some(json!({"current_password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let location = a.json["redirect"].as_str().unwrap().to_owned();
    let cookie = a
        .set_cookie_line("pw_oidc")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let back = farm.peer.sign_in(&location, "carol").await;
    let Auth::Cookie(session) = &farm.admin else {
        panic!()
    };
    let done = farm
        .callback(&back, Some(&format!("{session}; {cookie}")))
        .await;
    assert_eq!(done.status, 303, "{:?}", done.json);
    assert_eq!(done.headers["location"], "/account?oidc=linked");
    let links = farm
        .server
        .call(&farm.admin, "GET", "/api/v1/auth/oidc/links", None)
        .await;
    assert_eq!(links.json[0]["provider_id"], provider);
    // carol at the provider now signs in as the administrator (auto-create is off).
    let (a, _, _) = farm.sign_in(provider, "carol").await;
    let via = signed_in(&a);
    assert_eq!(farm.me(&via).await.json["username"], "admin");
    // A second account cannot link the same provider account.
    let events = farm.audit("auth.oidc_link").await;
    assert!(
        events
            .iter()
            .any(|e| e["success"] == true && e["details"]["linked"] == true)
    );

    // Unlink: password first; the account keeps its password, so this is not its last way in.
    let unlink = format!("/api/v1/auth/oidc/{provider}/unlink");
    let a = farm
        .server
        .call(
            &farm.admin,
            "POST",
            &unlink,
            Some(json!({"current_password": "wrong password here"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    let a = farm
        .server
        .call(
            &farm.admin,
            "POST",
            &unlink,
            Some(json!({"current_password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 204, "{:?}", a.json);
    let (a, _, _) = farm.sign_in(provider, "carol").await;
    refused(&a);

    // An account made by the provider has no password: its only link cannot be removed.
    let created = farm
        .add_provider(json!({"name": "Creating IdP", "auto_create": true}))
        .await;
    let (a, _, _) = farm.sign_in(created, "dave").await;
    let dave = signed_in(&a);
    let a = farm
        .server
        .call(
            &dave,
            "POST",
            &format!("/api/v1/auth/oidc/{created}/unlink"),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    assert!(
        a.message().contains("only way you can sign in"),
        "{}",
        a.message()
    );
    let (a, _, _) = farm.sign_in(created, "dave").await;
    signed_in(&a);
}

#[tokio::test]
async fn oidc_authorize_is_rate_limited_per_address() {
    // Sign-in limits on (the default): the authorize limit is on with them.
    let farm = OidcFarm::with_env(&[]).await;
    let provider = farm.add_provider(json!({})).await;
    let mut limited = None;
    for i in 0..25 {
        let a = farm
            .server
            .call(
                &Auth::None,
                "GET",
                &format!("/api/v1/auth/oidc/{provider}/authorize"),
                None,
            )
            .await;
        if a.status == 429 {
            limited = Some(i);
            break;
        }
        assert_eq!(a.status, 302, "{:?}", a.json);
    }
    assert_eq!(limited, Some(20));
    // An unknown provider is a plain 404 (and still counted).
    let a = farm
        .server
        .call(&Auth::None, "GET", "/api/v1/auth/oidc/999/authorize", None)
        .await;
    assert_eq!(a.status, 429);
}

#[tokio::test]
async fn oidc_name_claim_becomes_the_display_name() {
    let farm = OidcFarm::new().await;
    let provider = farm.add_provider(json!({})).await;
    let (a, _, _) = farm.sign_in(provider, "carol").await;
    let carol = signed_in(&a);
    let me = farm.me(&carol).await;
    assert_eq!(me.json["display_name"], "Carol Example", "{:?}", me.json);
    // The provider owns it: an OIDC account cannot set its own here.
    let patch = farm
        .server
        .call(
            &carol,
            "PATCH",
            "/api/v1/auth/me",
            Some(json!({"display_name": "Someone else"})),
        )
        .await;
    assert_eq!(patch.status, 409, "{:?}", patch.json);
    assert_eq!(farm.me(&carol).await.json["display_name"], "Carol Example");
}
