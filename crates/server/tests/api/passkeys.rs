//! Passkeys (S4, issue 19 item 6) through the real server on both backends, with a software
//! authenticator standing in for browser and device: registering several, signing in with
//! one alone and as the second factor, and the misuse cases — a replayed challenge, one from
//! another session, another user's credential, a wrong origin or RP id, a counter going
//! backwards, a disabled user, removing the last way to sign in, an API key, parallel
//! finishes, no usable relying party.

use std::time::Instant;

use pw_credentials::webauthn::b64url;
use pw_credentials::webauthn::soft::SoftAuthenticator;
use pw_testkit::{Answer, Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

/// The server's `public_url`: the RP id is its host, the origin exactly this.
const ORIGIN: &str = "https://farm.example:8443";
const RP_ID: &str = "farm.example";

struct Farm {
    server: TestServer,
    admin: Auth,
}

/// A ceremony begun: its cookie pair and the `publicKey` options.
struct Begun {
    cookie: String,
    options: Value,
}

impl Begun {
    fn challenge(&self) -> Vec<u8> {
        pw_credentials::webauthn::from_b64url(self.options["challenge"].as_str().unwrap()).unwrap()
    }

    fn user_handle(&self) -> Vec<u8> {
        pw_credentials::webauthn::from_b64url(self.options["user"]["id"].as_str().unwrap()).unwrap()
    }
}

fn cookie_pair(a: &Answer, suffix: &str) -> String {
    let line = a.set_cookie_line(suffix).expect("cookie set");
    line.split(';').next().unwrap().to_owned()
}

/// `auth`'s cookies plus another pair.
fn with(auth: &Auth, pair: &str) -> Auth {
    match auth {
        Auth::Cookie(c) => Auth::Cookie(format!("{c}; {pair}")),
        _ => Auth::Cookie(pair.to_owned()),
    }
}

fn registration(credential_id: &[u8], made: &pw_credentials::webauthn::soft::Created) -> Value {
    json!({
        "id": b64url(credential_id),
        "response": {
            "clientDataJSON": b64url(&made.client_data_json),
            "attestationObject": b64url(&made.attestation_object),
        }
    })
}

fn assertion(key: &SoftAuthenticator, a: &pw_credentials::webauthn::soft::Asserted) -> Value {
    json!({
        "id": b64url(&key.credential_id),
        "response": {
            "clientDataJSON": b64url(&a.client_data_json),
            "authenticatorData": b64url(&a.authenticator_data),
            "signature": b64url(&a.signature),
            "userHandle": b64url(&a.user_handle),
        }
    })
}

impl Farm {
    async fn new() -> Self {
        let server = TestServer::spawn_env(&[("PRINTWARDEN_PUBLIC_URL", ORIGIN)]).await;
        let admin = server.setup_admin().await;
        Self { server, admin }
    }

    async fn user(&self, name: &str) -> (i64, Auth) {
        let viewers = self.server.group_id(&self.admin, "Viewers").await;
        let id = self.server.create_user(&self.admin, name, &[viewers]).await;
        (id, self.server.login(name, TEST_PASSWORD).await)
    }

    async fn post(&self, auth: &Auth, path: &str, body: Option<Value>) -> Answer {
        self.server.call(auth, "POST", path, body).await
    }

    async fn register_options(&self, auth: &Auth) -> Begun {
        let a = self
            .post(
                auth,
                "/api/v1/auth/passkeys/register/options",
                Some(json!({"password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        Begun {
            cookie: cookie_pair(&a, "pw_passkey"),
            options: a.json["publicKey"].clone(),
        }
    }

    async fn finish_register(
        &self,
        auth: &Auth,
        begun: &Begun,
        key: &mut SoftAuthenticator,
        name: &str,
    ) -> Answer {
        let made = key.create(RP_ID, ORIGIN, &begun.challenge(), &begun.user_handle());
        self.post(
            &with(auth, &begun.cookie),
            "/api/v1/auth/passkeys/register",
            Some(json!({"name": name, "credential": registration(&key.credential_id, &made)})),
        )
        .await
    }

    /// Registers `key` for the signed-in `auth`; returns the passkey's id.
    async fn register(&self, auth: &Auth, key: &mut SoftAuthenticator, name: &str) -> i64 {
        let begun = self.register_options(auth).await;
        let a = self.finish_register(auth, &begun, key, name).await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        a.json["id"].as_i64().unwrap()
    }

    async fn login_options(&self, browser: &Auth) -> Begun {
        let a = self
            .post(browser, "/api/v1/auth/passkeys/login/options", None)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        Begun {
            cookie: cookie_pair(&a, "pw_passkey"),
            options: a.json["publicKey"].clone(),
        }
    }

    /// A whole passwordless sign-in with `key`.
    async fn passkey_login(&self, key: &mut SoftAuthenticator) -> Answer {
        let begun = self.login_options(&Auth::None).await;
        let signed = key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
        self.post(
            &Auth::Cookie(begun.cookie.clone()),
            "/api/v1/auth/passkeys/login",
            Some(assertion(key, &signed)),
        )
        .await
    }

    async fn events(&self, prefix: &str) -> Vec<Value> {
        let a = self
            .server
            .call(
                &self.admin,
                "GET",
                &format!("/api/v1/audit?event={prefix}&limit=200"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["items"].as_array().unwrap().clone()
    }

    async fn refusal_reasons(&self) -> Vec<String> {
        self.events("auth.passkey.refused")
            .await
            .iter()
            .map(|e| {
                e["details"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

#[tokio::test]
async fn several_passkeys_register_sign_in_alone_list_and_remove() {
    let farm = Farm::new().await;
    let (alice_id, alice) = farm.user("alice").await;
    let mut phone = SoftAuthenticator::es256().unwrap();
    let mut laptop = SoftAuthenticator::ed25519().unwrap();
    let phone_id = farm.register(&alice, &mut phone, "Phone").await;
    farm.register(&alice, &mut laptop, "Laptop").await;

    let list = farm
        .server
        .call(&alice, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Phone", "Laptop"]);
    assert!(list.json[0]["last_used_at"].is_null());
    assert_eq!(list.json[0]["backup_eligible"], true);

    // Signing in with a passkey alone, and timing it (debug build, in-process server).
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let a = farm.passkey_login(&mut phone).await;
        times.push(started.elapsed());
        assert_eq!(a.status, 200, "{:?}", a.json);
        assert_eq!(a.json["user"]["id"], alice_id);
        assert!(a.session_cookie().is_some());
    }
    times.sort();
    eprintln!(
        "passkey sign-in (options + finish), 10 runs: median {:?}, max {:?}",
        times[5], times[9]
    );
    let a = farm.passkey_login(&mut laptop).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let session = Auth::Cookie(a.session_cookie().unwrap());
    let me = farm
        .server
        .call(&session, "GET", "/api/v1/auth/me", None)
        .await;
    assert_eq!(me.json["username"], "alice");
    assert_eq!(me.json["mfa"]["passkeys"], 2);

    let list = farm
        .server
        .call(&alice, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert!(list.json[0]["last_used_at"].is_string());

    // Removing needs the password again.
    let path = format!("/api/v1/auth/passkeys/{phone_id}");
    let wrong = farm
        .server
        .call(
            &alice,
            "DELETE",
            &path,
            Some(json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, 400, "{:?}", wrong.json);
    assert_eq!(wrong.message(), "The password is not correct.");
    let gone = farm
        .server
        .call(
            &alice,
            "DELETE",
            &path,
            Some(json!({"password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.json);
    let a = farm.passkey_login(&mut phone).await;
    assert_eq!(a.status, 401, "a removed passkey signs nobody in");

    // Adding needs the password too.
    let a = farm
        .post(
            &alice,
            "/api/v1/auth/passkeys/register/options",
            Some(json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    assert!(a.set_cookie_line("pw_passkey").is_none());

    let registered = farm.events("auth.passkey.register").await;
    assert_eq!(
        registered.iter().filter(|e| e["success"] == true).count(),
        2
    );
    assert!(registered.iter().any(|e| e["success"] == false));
    let deleted = farm.events("auth.passkey.delete").await;
    assert!(deleted.iter().any(|e| e["success"] == true));
    assert!(deleted.iter().any(|e| e["success"] == false));
    let logins = farm.events("auth.login").await;
    assert!(
        logins
            .iter()
            .any(|e| e["details"]["method"] == "passkey" && e["success"] == true)
    );
}

#[tokio::test]
async fn a_replayed_challenge_or_response_is_refused() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    // Registration: the same answer twice, on the same cookie.
    let begun = farm.register_options(&alice).await;
    let first = farm.finish_register(&alice, &begun, &mut key, "Key").await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let again = farm.finish_register(&alice, &begun, &mut key, "Key").await;
    assert_eq!(again.status, 400, "{:?}", again.json);

    // Sign-in: the same signed answer twice.
    let begun = farm.login_options(&Auth::None).await;
    let signed = key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
    let browser = Auth::Cookie(begun.cookie.clone());
    let body = assertion(&key, &signed);
    let ok = farm
        .post(&browser, "/api/v1/auth/passkeys/login", Some(body.clone()))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    let replay = farm
        .post(&browser, "/api/v1/auth/passkeys/login", Some(body.clone()))
        .await;
    assert_eq!(replay.status, 401, "{:?}", replay.json);
    // Without the cookie at all.
    let bare = farm
        .post(&Auth::None, "/api/v1/auth/passkeys/login", Some(body))
        .await;
    assert_eq!(bare.status, 401);
    assert!(
        farm.refusal_reasons()
            .await
            .iter()
            .any(|r| r == "no live challenge")
    );
}

#[tokio::test]
async fn a_challenge_from_another_session_or_browser_is_refused() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let alice_elsewhere = farm.server.login("alice", TEST_PASSWORD).await;
    let mut key = SoftAuthenticator::es256().unwrap();
    // Asked for in one session, finished in another session of the same user.
    let begun = farm.register_options(&alice).await;
    let a = farm
        .finish_register(&alice_elsewhere, &begun, &mut key, "Key")
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    let list = farm
        .server
        .call(&alice, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert_eq!(list.json.as_array().unwrap().len(), 0);
    let reasons: Vec<Value> = farm.events("auth.passkey.register").await;
    assert!(
        reasons
            .iter()
            .any(|e| e["details"]["reason"] == "challenge of another session")
    );

    // Sign-in: browser A's challenge signed, sent with browser B's cookie.
    farm.register(&alice, &mut key, "Key").await;
    let a_begun = farm.login_options(&Auth::None).await;
    let b_begun = farm.login_options(&Auth::None).await;
    let signed = key.get(RP_ID, ORIGIN, &a_begun.challenge()).unwrap();
    let a = farm
        .post(
            &Auth::Cookie(b_begun.cookie.clone()),
            "/api/v1/auth/passkeys/login",
            Some(assertion(&key, &signed)),
        )
        .await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    assert!(
        farm.refusal_reasons()
            .await
            .iter()
            .any(|r| r == "challenge mismatch")
    );
}

#[tokio::test]
async fn another_users_credential_cannot_finish_a_sign_in() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let (_, bob) = farm.user("bob").await;
    let mut alice_key = SoftAuthenticator::es256().unwrap();
    let mut bob_key = SoftAuthenticator::es256().unwrap();
    farm.register(&alice, &mut alice_key, "Alice's").await;
    farm.register(&bob, &mut bob_key, "Bob's").await;

    // Passkeys are a second factor for a password sign-in now.
    let login = farm
        .post(
            &Auth::None,
            "/api/v1/auth/login",
            Some(json!({"username": "alice", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(login.json["mfa_required"], true, "{:?}", login.json);
    assert!(
        login.json["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("passkey"))
    );
    let challenge = login.challenge_cookie().unwrap();
    let step = |begun: &Begun| Auth::Cookie(format!("{challenge}; {}", begun.cookie));
    let options = farm
        .post(
            &Auth::Cookie(challenge.clone()),
            "/api/v1/auth/mfa/passkey/options",
            None,
        )
        .await;
    assert_eq!(options.status, 200, "{:?}", options.json);
    let allowed = options.json["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(
        allowed,
        &[json!({"type": "public-key", "id": b64url(&alice_key.credential_id)})]
    );
    let begun = Begun {
        cookie: cookie_pair(&options, "pw_passkey"),
        options: options.json["publicKey"].clone(),
    };
    // Bob's passkey on Alice's second step.
    let signed = bob_key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
    let a = farm
        .post(
            &step(&begun),
            "/api/v1/auth/mfa/passkey/verify",
            Some(assertion(&bob_key, &signed)),
        )
        .await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    assert!(a.session_cookie().is_none());
    assert!(
        farm.refusal_reasons()
            .await
            .iter()
            .any(|r| r == "another user's passkey")
    );
    // Alice's own passkey finishes it (a fresh ceremony: the last one is spent).
    let options = farm
        .post(
            &Auth::Cookie(challenge.clone()),
            "/api/v1/auth/mfa/passkey/options",
            None,
        )
        .await;
    let begun = Begun {
        cookie: cookie_pair(&options, "pw_passkey"),
        options: options.json["publicKey"].clone(),
    };
    let signed = alice_key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
    let a = farm
        .post(
            &step(&begun),
            "/api/v1/auth/mfa/passkey/verify",
            Some(assertion(&alice_key, &signed)),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["user"]["username"], "alice");
    let logins = farm.events("auth.login").await;
    assert!(logins.iter().any(|e| e["details"]["mfa"] == "passkey"));

    // Passwordless: Bob's credential presented with Alice's user handle.
    let begun = farm.login_options(&Auth::None).await;
    let mut signed = bob_key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
    signed.user_handle = alice_key.user_handle.clone();
    let a = farm
        .post(
            &Auth::Cookie(begun.cookie.clone()),
            "/api/v1/auth/passkeys/login",
            Some(assertion(&bob_key, &signed)),
        )
        .await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    assert!(
        farm.refusal_reasons()
            .await
            .iter()
            .any(|r| r == "user handle mismatch")
    );
}

#[tokio::test]
async fn a_wrong_origin_or_rp_id_is_refused() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    for (rp, origin) in [
        (RP_ID, "https://farm.example.evil.example:8443"),
        (RP_ID, "https://farm.example"),
        ("evil.example", ORIGIN),
    ] {
        let begun = farm.register_options(&alice).await;
        let made = key.create(rp, origin, &begun.challenge(), &begun.user_handle());
        let a = farm
            .post(
                &with(&alice, &begun.cookie),
                "/api/v1/auth/passkeys/register",
                Some(json!({"credential": registration(&key.credential_id, &made)})),
            )
            .await;
        assert_eq!(a.status, 400, "{rp} {origin}: {:?}", a.json);
    }
    farm.register(&alice, &mut key, "Key").await;
    for (rp, origin) in [(RP_ID, "https://evil.example"), ("evil.example", ORIGIN)] {
        let begun = farm.login_options(&Auth::None).await;
        let signed = key.get(rp, origin, &begun.challenge()).unwrap();
        let a = farm
            .post(
                &Auth::Cookie(begun.cookie.clone()),
                "/api/v1/auth/passkeys/login",
                Some(assertion(&key, &signed)),
            )
            .await;
        assert_eq!(a.status, 401, "{rp} {origin}: {:?}", a.json);
    }
    let reasons = farm.refusal_reasons().await;
    assert!(
        reasons.iter().any(|r| r == "origin mismatch"),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "rp id mismatch"), "{reasons:?}");
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused_and_audited() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    farm.register(&alice, &mut key, "Key").await;
    for _ in 0..3 {
        assert_eq!(farm.passkey_login(&mut key).await.status, 200);
    }
    // A clone made before those sign-ins answers with an older counter.
    key.counter = 1;
    let a = farm.passkey_login(&mut key).await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    let cloned = farm.events("auth.passkey.counter").await;
    assert_eq!(cloned.len(), 1, "{cloned:?}");
    assert_eq!(cloned[0]["details"]["stored"], 3);
    assert_eq!(cloned[0]["details"]["presented"], "2");
    assert_eq!(cloned[0]["success"], false);
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_with_a_passkey() {
    let farm = Farm::new().await;
    let (alice_id, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    farm.register(&alice, &mut key, "Key").await;
    let a = farm
        .server
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/users/{alice_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let a = farm.passkey_login(&mut key).await;
    assert_eq!(a.status, 401, "{:?}", a.json);
    assert!(a.session_cookie().is_none());
    assert!(
        farm.refusal_reasons()
            .await
            .iter()
            .any(|r| r == "disabled user")
    );
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_removed() {
    let farm = Farm::new().await;
    let (alice_id, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    let id = farm.register(&alice, &mut key, "Only").await;
    // An account without a password (as one made by a single sign-on provider would be).
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .connect(&farm.server.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
        .bind(alice_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let a = farm.passkey_login(&mut key).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let fresh = Auth::Cookie(a.session_cookie().unwrap());
    let a = farm
        .server
        .call(
            &fresh,
            "DELETE",
            &format!("/api/v1/auth/passkeys/{id}"),
            Some(json!({"password": ""})),
        )
        .await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    assert!(
        a.message().contains("last way to sign in"),
        "{}",
        a.message()
    );
    let a = farm.passkey_login(&mut key).await;
    assert_eq!(a.status, 200, "the passkey still works");
}

#[tokio::test]
async fn an_api_key_cannot_register_or_list_passkeys() {
    let farm = Farm::new().await;
    let made = farm
        .post(
            &farm.admin,
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["users:read"]})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    let key = Auth::Key(made.json["key"].as_str().unwrap().to_owned());
    let a = farm
        .post(
            &key,
            "/api/v1/auth/passkeys/register/options",
            Some(json!({"password": TEST_PASSWORD})),
        )
        .await;
    assert!(matches!(a.status.as_u16(), 401 | 403), "{:?}", a.json);
    assert!(a.set_cookie_line("pw_passkey").is_none());
    let a = farm
        .server
        .call(&key, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert!(matches!(a.status.as_u16(), 401 | 403), "{:?}", a.json);
}

#[tokio::test]
async fn parallel_finishes_of_one_ceremony_succeed_once() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    // A second session, signed in before any passkey makes the password a first step only.
    let other = farm.server.login("alice", TEST_PASSWORD).await;
    let mut key = SoftAuthenticator::es256().unwrap();
    let begun = farm.register_options(&alice).await;
    let made = key.create(RP_ID, ORIGIN, &begun.challenge(), &begun.user_handle());
    let auth = with(&alice, &begun.cookie);
    let body = json!({"name": "Raced", "credential": registration(&key.credential_id, &made)});
    let answers = futures_util::future::join_all(
        (0..8).map(|_| farm.post(&auth, "/api/v1/auth/passkeys/register", Some(body.clone()))),
    )
    .await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let list = farm
        .server
        .call(&alice, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert_eq!(list.json.as_array().unwrap().len(), 1);

    // Two registrations under way at once in two sessions both work.
    let (one, two) = (
        farm.register_options(&alice).await,
        farm.register_options(&other).await,
    );
    let (mut k1, mut k2) = (
        SoftAuthenticator::es256().unwrap(),
        SoftAuthenticator::ed25519().unwrap(),
    );
    let (a1, a2) = tokio::join!(
        farm.finish_register(&alice, &one, &mut k1, "One"),
        farm.finish_register(&other, &two, &mut k2, "Two"),
    );
    assert_eq!((a1.status.as_u16(), a2.status.as_u16()), (201, 201));

    // Sign-in: one signed answer raced eight times.
    let begun = farm.login_options(&Auth::None).await;
    let signed = key.get(RP_ID, ORIGIN, &begun.challenge()).unwrap();
    let browser = Auth::Cookie(begun.cookie.clone());
    let body = assertion(&key, &signed);
    let answers = futures_util::future::join_all(
        (0..8).map(|_| farm.post(&browser, "/api/v1/auth/passkeys/login", Some(body.clone()))),
    )
    .await;
    let signed_in = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        signed_in,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_admin_reset_of_second_factors_removes_passkeys() {
    let farm = Farm::new().await;
    let (alice_id, alice) = farm.user("alice").await;
    let mut key = SoftAuthenticator::es256().unwrap();
    farm.register(&alice, &mut key, "Key").await;
    let a = farm
        .post(
            &farm.admin,
            &format!("/api/v1/users/{alice_id}/mfa/reset"),
            None,
        )
        .await;
    assert_eq!(a.status, 204, "{:?}", a.json);
    assert_eq!(farm.passkey_login(&mut key).await.status, 401);
    // The password alone signs in again.
    farm.server.login("alice", TEST_PASSWORD).await;
}

#[tokio::test]
async fn without_public_url_an_ip_address_gets_a_plain_refusal() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    // The test client reaches the server as https://127.0.0.1:PORT: no WebAuthn RP id.
    let a = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/passkeys/login/options",
            None,
        )
        .await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    assert!(a.message().contains("by a name"), "{}", a.message());
    assert!(a.set_cookie_line("pw_passkey").is_none());
    // The status tells the sign-in page passkeys exist.
    let s = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(s.json["passkeys"], true);
}

#[tokio::test]
async fn passkeys_are_renamed_by_their_owner_only() {
    let farm = Farm::new().await;
    let (_, alice) = farm.user("alice").await;
    let (_, bob) = farm.user("bob").await;
    let mut alice_key = SoftAuthenticator::es256().unwrap();
    let mut bob_key = SoftAuthenticator::es256().unwrap();
    let alices = farm.register(&alice, &mut alice_key, "Phone").await;
    let bobs = farm.register(&bob, &mut bob_key, "Key").await;
    let patch = |auth: &Auth, id: i64, body: Value| {
        let path = format!("/api/v1/auth/passkeys/{id}");
        let auth = auth.clone();
        let server = &farm.server;
        async move { server.call(&auth, "PATCH", &path, Some(body)).await }
    };

    // Bob aims at Alice's passkey: "not found", and nothing changes.
    let a = patch(&bob, alices, json!({"name": "Mine now"})).await;
    assert_eq!(a.status, 404, "{:?}", a.json);
    let list = farm
        .server
        .call(&alice, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert_eq!(list.json[0]["name"], "Phone", "{:?}", list.json);
    // An id that does not exist, and one that is no number, are the same 404.
    assert_eq!(
        patch(&alice, 999_999, json!({"name": "x"})).await.status,
        404
    );
    let a = farm
        .server
        .call(
            &alice,
            "PATCH",
            "/api/v1/auth/passkeys/abc",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.json);

    // The rules of registration: at most 64 characters, no control characters, empty means
    // "Passkey"; a refused name changes nothing.
    for bad in [
        "x".repeat(65),
        "bad\u{0}name".to_owned(),
        "tab\there".to_owned(),
    ] {
        let a = patch(&alice, alices, json!({ "name": bad })).await;
        assert_eq!(a.status, 400, "{bad:?}: {:?}", a.json);
    }
    let a = patch(&alice, alices, json!({"unknown": 1})).await;
    assert!(matches!(a.status.as_u16(), 400 | 422), "{:?}", a.json);
    let a = patch(&alice, alices, json!({"name": "  Work laptop <b>  "})).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["name"], "Work laptop <b>");
    let a = patch(&alice, alices, json!({"name": ""})).await;
    assert_eq!(a.json["name"], "Passkey", "{:?}", a.json);
    let bob_list = farm
        .server
        .call(&bob, "GET", "/api/v1/auth/passkeys", None)
        .await;
    assert_eq!(bob_list.json[0]["id"], bobs);
    assert_eq!(bob_list.json[0]["name"], "Key");

    // The Account page shows the name escaped.
    let a = patch(&alice, alices, json!({"name": "<script>x</script>"})).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let cookie = session_cookie(&alice);
    let page = farm
        .server
        .client
        .get(farm.server.url("/account"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>x</script>"));
    assert!(
        page.contains("&lt;script&gt;x&lt;/script&gt;")
            || page.contains("&#60;script&#62;x&#60;/script&#62;"),
        "the name is shown, escaped"
    );

    // An API key cannot rename (sign-in methods are session-only), not even an
    // administrator's.
    let made = farm
        .post(
            &farm.admin,
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["users:read"]})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    let key = Auth::Key(made.json["key"].as_str().unwrap().to_owned());
    let a = patch(&key, alices, json!({"name": "by key"})).await;
    assert!(matches!(a.status.as_u16(), 401 | 403), "{:?}", a.json);

    let renames = farm.events("auth.passkey.rename").await;
    assert_eq!(renames.len(), 3, "{renames:?}");
}

/// The cookie header of a signed-in test browser (empty for anything else, which the server
/// then treats as signed out).
fn session_cookie(auth: &Auth) -> &str {
    match auth {
        Auth::Cookie(c) => c,
        Auth::None | Auth::Key(_) => "",
    }
}
