//! A group's sign-in requirement (issue 19: "admins can require passkeys or 2FA for a group")
//! through the real server on both backends: a member who signed in without the required
//! factor gets a session that may only enrol (policy refuses the rest, pages send the browser
//! to the Account page), enrolling lifts it in place, a passkey requirement is met only by a
//! passkey sign-in, the strictest group wins, removing the requirement restores a normal
//! sign-in, API keys follow the account rule, and only group editors change the rule — a user
//! manager cannot lift it by taking someone out of the group.

use std::sync::Arc;

use pw_app::{Clock, ManualClock};
use pw_credentials::webauthn::b64url;
use pw_credentials::webauthn::soft::SoftAuthenticator;
use pw_testkit::totp::{totp_at, unix_now};
use pw_testkit::{Answer, Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

/// The server's `public_url`: passkeys need a name, not an address.
const ORIGIN: &str = "https://farm.example:8443";
const RP_ID: &str = "farm.example";

struct Farm {
    server: TestServer,
    clock: Arc<ManualClock>,
    admin: Auth,
}

impl Farm {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(unix_now() * 1000));
        let server = TestServer::spawn_with(Options {
            clock: Some(clock.clone()),
            env: vec![("PRINTWARDEN_PUBLIC_URL".into(), ORIGIN.into())],
            ..Options::default()
        })
        .await;
        let admin = server.setup_admin().await;
        Self {
            server,
            clock,
            admin,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms() / 1000
    }

    /// A TOTP code of a step no earlier code used (the server refuses replays).
    fn fresh_code(&self, secret: &str) -> String {
        self.clock.advance(30_000);
        totp_at(secret, self.now())
    }

    async fn call(&self, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.server.call(auth, method, path, body).await
    }

    /// A group with these rights and requirement.
    async fn group(&self, name: &str, permissions: &[&str], requirement: &str) -> i64 {
        let id = self
            .server
            .create_group(&self.admin, name, permissions)
            .await;
        self.set_requirement(&self.admin, id, requirement, 200)
            .await;
        id
    }

    async fn set_requirement(&self, by: &Auth, group: i64, requirement: &str, status: u16) {
        let a = self
            .call(
                by,
                "PATCH",
                &format!("/api/v1/groups/{group}"),
                Some(json!({ "sign_in_requirement": requirement })),
            )
            .await;
        assert_eq!(a.status, status, "{:?}", a.json);
        if status == 200 {
            assert_eq!(a.json["sign_in_requirement"], requirement);
        }
    }

    /// A password sign-in without a second factor: the answer (session cookie, `user`).
    async fn password_login(&self, name: &str) -> (Auth, Value) {
        let a = self
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": name, "password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        let cookie = a.session_cookie().expect("a session");
        (Auth::Cookie(cookie), a.json["user"].clone())
    }

    /// A password sign-in finished with a TOTP code.
    async fn totp_login(&self, name: &str, secret: &str) -> (Auth, Value) {
        let a = self
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": name, "password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(a.json["mfa_required"], true, "{:?}", a.json);
        let challenge = Auth::Cookie(a.challenge_cookie().unwrap());
        let v = self
            .call(
                &challenge,
                "POST",
                "/api/v1/auth/mfa/verify",
                Some(json!({"method": "totp", "code": self.fresh_code(secret)})),
            )
            .await;
        assert_eq!(v.status, 200, "{:?}", v.json);
        (
            Auth::Cookie(v.session_cookie().unwrap()),
            v.json["user"].clone(),
        )
    }

    /// Sets up TOTP in this session; returns the secret.
    async fn enrol_totp(&self, auth: &Auth) -> String {
        let setup = self
            .call(auth, "POST", "/api/v1/auth/mfa/totp/setup", Some(json!({})))
            .await;
        assert_eq!(setup.status, 200, "{:?}", setup.json);
        let secret = setup.json["secret"].as_str().unwrap().to_owned();
        let enable = self
            .call(
                auth,
                "POST",
                "/api/v1/auth/mfa/totp/enable",
                Some(json!({"code": self.fresh_code(&secret)})),
            )
            .await;
        assert_eq!(enable.status, 200, "{:?}", enable.json);
        secret
    }

    /// Registers a passkey in this session with the software authenticator.
    async fn enrol_passkey(&self, auth: &Auth, key: &mut SoftAuthenticator) {
        let a = self
            .call(
                auth,
                "POST",
                "/api/v1/auth/passkeys/register/options",
                Some(json!({"password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        let pair = a.set_cookie_line("pw_passkey").unwrap();
        let pair = pair.split(';').next().unwrap().to_owned();
        let options = &a.json["publicKey"];
        let challenge =
            pw_credentials::webauthn::from_b64url(options["challenge"].as_str().unwrap()).unwrap();
        let handle =
            pw_credentials::webauthn::from_b64url(options["user"]["id"].as_str().unwrap()).unwrap();
        let made = key.create(RP_ID, ORIGIN, &challenge, &handle);
        let c = session_cookie(auth);
        let r = self
            .call(
                &Auth::Cookie(format!("{c}; {pair}")),
                "POST",
                "/api/v1/auth/passkeys/register",
                Some(json!({"name": "Laptop", "credential": {
                    "id": b64url(&key.credential_id),
                    "response": {
                        "clientDataJSON": b64url(&made.client_data_json),
                        "attestationObject": b64url(&made.attestation_object),
                    }
                }})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
    }

    /// A passwordless sign-in with the passkey.
    async fn passkey_login(&self, key: &mut SoftAuthenticator) -> (Auth, Value) {
        let o = self
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/passkeys/login/options",
                None,
            )
            .await;
        assert_eq!(o.status, 200, "{:?}", o.json);
        let pair = o.set_cookie_line("pw_passkey").unwrap();
        let pair = pair.split(';').next().unwrap().to_owned();
        let challenge = pw_credentials::webauthn::from_b64url(
            o.json["publicKey"]["challenge"].as_str().unwrap(),
        )
        .unwrap();
        let signed = key.get(RP_ID, ORIGIN, &challenge).unwrap();
        let a = self
            .call(
                &Auth::Cookie(pair),
                "POST",
                "/api/v1/auth/passkeys/login",
                Some(json!({
                    "id": b64url(&key.credential_id),
                    "response": {
                        "clientDataJSON": b64url(&signed.client_data_json),
                        "authenticatorData": b64url(&signed.authenticator_data),
                        "signature": b64url(&signed.signature),
                        "userHandle": b64url(&signed.user_handle),
                    }
                })),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        (
            Auth::Cookie(a.session_cookie().unwrap()),
            a.json["user"].clone(),
        )
    }

    /// The status of a request that needs `printers:read`.
    async fn printers(&self, auth: &Auth) -> Answer {
        self.call(auth, "GET", "/api/v1/printers", None).await
    }

    async fn page(&self, auth: &Auth, path: &str) -> (u16, Option<String>, String) {
        let c = session_cookie(auth);
        let r = self
            .server
            .client
            .get(self.server.url(path))
            .header("cookie", c)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, r.text().await.unwrap())
    }

    async fn events(&self, name: &str) -> Vec<Value> {
        let a = self
            .call(
                &self.admin,
                "GET",
                &format!("/api/v1/audit?event={name}&limit=200"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["items"].as_array().unwrap().clone()
    }
}

/// Refused because the credential must enrol first: 403 with the plain explanation.
fn assert_enrol_first(a: &Answer, requirement: &str) {
    assert_eq!(a.status, 403, "{:?}", a.json);
    assert_eq!(a.json["error"]["code"], "enrol_first", "{:?}", a.json);
    let message = a.json["error"]["message"].as_str().unwrap();
    let expected = if requirement == "passkey" {
        "passkey"
    } else {
        "second sign-in step"
    };
    assert!(message.contains(expected), "{message}");
}

#[tokio::test]
async fn a_member_without_a_factor_may_only_enrol_until_they_do() {
    let farm = Farm::new().await;
    let group = farm
        .group(
            "Secure",
            &["printers:read", "api_keys:create"],
            "two_factor",
        )
        .await;
    farm.server
        .create_user(&farm.admin, "carol", &[group])
        .await;
    let (session, me) = farm.password_login("carol").await;
    assert_eq!(me["enrol_first"], "two_factor", "{me:?}");
    assert_eq!(me["sign_in_requirement"], "two_factor");

    // Everything but enrolling is refused, with the reason in plain words.
    assert_enrol_first(&farm.printers(&session).await, "two_factor");
    let key = farm
        .call(
            &session,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["printers:read"]})),
        )
        .await;
    assert_enrol_first(&key, "two_factor");
    let pw = farm
        .call(
            &session,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "another long passphrase 9"})),
        )
        .await;
    assert_enrol_first(&pw, "two_factor");
    let sessions = farm
        .call(&session, "GET", "/api/v1/auth/sessions", None)
        .await;
    assert_enrol_first(&sessions, "two_factor");
    // Pages send the browser to the Account page, which explains and offers the set-up only.
    let (status, location, _) = farm.page(&session, "/printers").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account?enrol=required"))
    );
    let (status, location, _) = farm.page(&session, "/").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/account?enrol=required"))
    );
    let (status, _, html) = farm.page(&session, "/account?enrol=required").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"enrol-first\""), "the explanation");
    assert!(html.contains("id=\"two-factor\""), "the set-up");
    assert!(!html.contains("id=\"api-keys\""), "nothing it may not use");
    assert!(
        !html.contains("href=\"/printers\""),
        "no navigation to refused pages"
    );
    // Its own profile is readable.
    let me = farm.call(&session, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["enrol_first"], "two_factor");

    // Setting up TOTP in this session lifts the restriction in place.
    let secret = farm.enrol_totp(&session).await;
    assert_eq!(farm.printers(&session).await.status, 200);
    let me = farm.call(&session, "GET", "/api/v1/auth/me", None).await;
    assert!(me.json["enrol_first"].is_null(), "{:?}", me.json);
    let key = farm
        .call(
            &session,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["printers:read"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    // The next sign-in shows the factor and is a normal session from the start.
    let (next, me) = farm.totp_login("carol", &secret).await;
    assert!(me["enrol_first"].is_null(), "{me:?}");
    assert_eq!(farm.printers(&next).await.status, 200);

    let required = farm.events("auth.enrol_required").await;
    assert!(
        required
            .iter()
            .any(|e| e["details"]["requirement"] == "two_factor"
                && e["details"]["signed_in_with"] == "password"),
        "{required:?}"
    );
    let met = farm.events("auth.enrol_met").await;
    assert_eq!(met.len(), 1, "{met:?}");
    assert_eq!(met[0]["details"]["with"], "two_factor");
}

#[tokio::test]
async fn api_keys_work_only_while_the_owner_has_the_required_factor() {
    let farm = Farm::new().await;
    let group = farm
        .group("Keys", &["printers:read", "api_keys:create"], "none")
        .await;
    farm.server.create_user(&farm.admin, "dave", &[group]).await;
    let (session, _) = farm.password_login("dave").await;
    let made = farm
        .call(
            &session,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["printers:read"]})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    let key = Auth::Key(made.json["key"].as_str().unwrap().to_owned());
    assert_eq!(farm.printers(&key).await.status, 200);

    // A key made before the rule does not go around it: refused until the owner enrols.
    farm.set_requirement(&farm.admin, group, "two_factor", 200)
        .await;
    assert_enrol_first(&farm.printers(&key).await, "two_factor");
    // A key cannot enrol (sign-in methods are session-only).
    let a = farm
        .call(&key, "POST", "/api/v1/auth/mfa/totp/setup", Some(json!({})))
        .await;
    assert!(matches!(a.status.as_u16(), 401 | 403), "{:?}", a.json);
    let me = farm.call(&key, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.json["enrol_first"], "two_factor", "{:?}", me.json);

    let (session, _) = farm.password_login("dave").await;
    farm.enrol_totp(&session).await;
    assert_eq!(farm.printers(&key).await.status, 200);
}

#[tokio::test]
async fn a_passkey_requirement_is_met_only_by_a_passkey() {
    let farm = Farm::new().await;
    let group = farm.group("Keyholders", &["printers:read"], "none").await;
    farm.server.create_user(&farm.admin, "erin", &[group]).await;
    let (session, _) = farm.password_login("erin").await;
    let secret = farm.enrol_totp(&session).await;

    // The rule ends the members' sessions, like any rights change.
    farm.set_requirement(&farm.admin, group, "passkey", 200)
        .await;
    assert_eq!(farm.printers(&session).await.status, 401);

    // Password + TOTP is a second factor, not a passkey: restricted.
    let (session, me) = farm.totp_login("erin", &secret).await;
    assert_eq!(me["enrol_first"], "passkey", "{me:?}");
    assert_enrol_first(&farm.printers(&session).await, "passkey");
    // TOTP set-up is open to it, but does not meet a passkey rule.
    // Registering a passkey in this session does.
    let mut key = SoftAuthenticator::es256().unwrap();
    farm.enrol_passkey(&session, &mut key).await;
    assert_eq!(farm.printers(&session).await.status, 200);

    // Later sign-ins: with the TOTP code as second step, still short; with the passkey, fine.
    let (session, me) = farm.totp_login("erin", &secret).await;
    assert_eq!(me["enrol_first"], "passkey", "{me:?}");
    assert_enrol_first(&farm.printers(&session).await, "passkey");
    let (session, me) = farm.passkey_login(&mut key).await;
    assert!(me["enrol_first"].is_null(), "{me:?}");
    assert_eq!(farm.printers(&session).await.status, 200);
}

#[tokio::test]
async fn the_strictest_group_applies_and_removing_the_rule_restores_normal_sessions() {
    let farm = Farm::new().await;
    let two = farm.group("Two", &["printers:read"], "two_factor").await;
    let pass = farm.group("Pass", &[], "passkey").await;
    farm.server
        .create_user(&farm.admin, "frank", &[two, pass])
        .await;
    let (_, me) = farm.password_login("frank").await;
    assert_eq!(me["sign_in_requirement"], "passkey");
    assert_eq!(me["enrol_first"], "passkey");

    farm.set_requirement(&farm.admin, pass, "none", 200).await;
    let (_, me) = farm.password_login("frank").await;
    assert_eq!(me["enrol_first"], "two_factor", "{me:?}");

    farm.set_requirement(&farm.admin, two, "none", 200).await;
    let (session, me) = farm.password_login("frank").await;
    assert!(me["enrol_first"].is_null(), "{me:?}");
    assert_eq!(farm.printers(&session).await.status, 200);
    let updates = farm.events("group.update").await;
    assert!(
        updates
            .iter()
            .any(|e| e["details"]["sign_in_requirement"] == "none"
                && e["details"]["sign_in_requirement_before"] == "passkey"),
        "{updates:?}"
    );
}

#[tokio::test]
async fn only_group_editors_change_the_rule_and_a_user_manager_cannot_lift_it() {
    let farm = Farm::new().await;
    let secure = farm.group("Secure", &["printers:read"], "passkey").await;
    let plain = farm.group("Plain", &["printers:read"], "none").await;
    let managers = farm
        .server
        .create_group(
            &farm.admin,
            "User managers",
            &["users:read", "users:update", "groups:read", "printers:read"],
        )
        .await;
    farm.server
        .create_user(&farm.admin, "manager", &[managers])
        .await;
    let target = farm
        .server
        .create_user(&farm.admin, "gina", &[secure, plain])
        .await;
    let manager = farm.server.login("manager", TEST_PASSWORD).await;

    // No `groups:update`: the rule cannot be changed …
    farm.set_requirement(&manager, secure, "none", 403).await;
    // … nor lifted by taking the member out of the group …
    let a = farm
        .call(
            &manager,
            "PATCH",
            &format!("/api/v1/users/{target}"),
            Some(json!({"group_ids": [plain]})),
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    let (_, me) = farm.password_login("gina").await;
    assert_eq!(me["enrol_first"], "passkey", "still required: {me:?}");
    // … while leaving a group without a rule stays a user manager's job.
    let a = farm
        .call(
            &manager,
            "PATCH",
            &format!("/api/v1/users/{target}"),
            Some(json!({"group_ids": [secure]})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);

    // System groups accept a requirement (and nothing else).
    let admins = farm.server.group_id(&farm.admin, "Administrators").await;
    let a = farm
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/groups/{admins}"),
            Some(json!({"sign_in_requirement": "two_factor", "description": "x"})),
        )
        .await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    let a = farm
        .call(
            &farm.admin,
            "PATCH",
            &format!("/api/v1/groups/{admins}"),
            Some(json!({"sign_in_requirement": "sometimes"})),
        )
        .await;
    assert!(matches!(a.status.as_u16(), 400 | 422), "{:?}", a.json);
}

/// The cookie header of a signed-in test browser (empty for anything else, which the server
/// then treats as signed out).
fn session_cookie(auth: &Auth) -> &str {
    match auth {
        Auth::Cookie(c) => c,
        Auth::None | Auth::Key(_) => "",
    }
}
