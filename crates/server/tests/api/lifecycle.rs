//! Credentials over time (SPEC S1, S2): imported password hashes become argon2id at the first
//! good sign-in, API keys record when they were last used, sessions survive a restart, and an
//! administrator who forgot their password gets back in through `PRINTWARDEN_AUTH=disabled`.
//! Each test first shows the state it then sees change, so it cannot pass on a no-op.

use std::sync::Arc;

use pw_app::{Clock, ManualClock};

use pw_domain::UserId;
use pw_testkit::{Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::json;

/// The password behind every imported vector (crates/credentials/tests/data).
const IMPORTED_PASSWORD: &str = "correct horse battery staple";

/// Hashes as the anchor projects store them, of [`IMPORTED_PASSWORD`].
const IMPORTED: &[(&str, &str)] = &[
    (
        "pbkdf2",
        "$pbkdf2-sha256$29000$lJJyzpnT.n/POYeQ0nqPMQ$eXjnbJamBq8yLqvrQXmCEzSL0I0fjJrnr9KX3yX8YUk",
    ),
    (
        "scrypt",
        "scrypt:902fedcb28b47a609a56ad983494334a:a0cbd5269e5c48e2fd78d8a888e307e44537eb835797c1c55c38d8b48ca410df3574043e731f59378deb394913f9a03ad9b3898c99f27799e8ade9ba4578d1eb",
    ),
    (
        "bcrypt",
        "$2b$04$HcO13LRrzHX8bZIhPh5jhOmN.Om8HuPJZq50j4kLKb3z3j285kP2O",
    ),
];

async fn stored_hash(server: &TestServer, id: i64) -> String {
    server
        .running()
        .app
        .store()
        .user(UserId::from_db(id))
        .await
        .unwrap()
        .and_then(|u| u.password_hash)
        .unwrap()
}

#[tokio::test]
async fn imported_hashes_become_argon2id_at_the_first_good_sign_in() {
    let server = TestServer::spawn_env(&[
        ("PRINTWARDEN_RATE_LIMIT_LOGIN", "0"),
        ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT", "0"),
    ])
    .await;
    let admin = server.setup_admin().await;
    let store = server.running().app.store().clone();
    for (kind, imported) in IMPORTED {
        let name = format!("imported{kind}");
        let id = server.create_user(&admin, &name, &[]).await;
        // As an import writes it: the foreign hash in the password column.
        store
            .rehash_password(UserId::from_db(id), imported)
            .await
            .unwrap();
        assert_eq!(stored_hash(&server, id).await, *imported);

        // A wrong password changes nothing.
        let wrong = server
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": name, "password": "not the password at all"})),
            )
            .await;
        assert_eq!(wrong.status, 401, "{kind}");
        assert_eq!(stored_hash(&server, id).await, *imported, "{kind}");

        server.login(&name, IMPORTED_PASSWORD).await;
        let now = stored_hash(&server, id).await;
        assert!(
            now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{kind} was not rehashed: {now}"
        );
        assert_ne!(now, *imported);
        // The upgraded hash is of the same password.
        server.login(&name, IMPORTED_PASSWORD).await;
        assert_eq!(
            stored_hash(&server, id).await,
            now,
            "{kind}: rehashed once only"
        );
    }
}

#[tokio::test]
async fn api_keys_record_when_they_were_last_used() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "scopes": ["users:read"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let key = Auth::Key(created.json["key"].as_str().unwrap().to_owned());
    let last_used = || async {
        server
            .call(&admin, "GET", "/api/v1/api-keys", None)
            .await
            .json["items"][0]["last_used_at"]
            .clone()
    };
    assert!(last_used().await.is_null(), "never used yet");

    // The use is recorded in the background: wait for it.
    let wait_for = async |expected_ms: i64| {
        assert_eq!(
            server.call(&key, "GET", "/api/v1/users", None).await.status,
            200
        );
        for _ in 0..100 {
            let seen = last_used().await;
            if let Some(s) = seen.as_str()
                && stamp_ms(s) == expected_ms
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "last_used_at never became {expected_ms}: {:?}",
            last_used().await
        );
    };
    let first = clock.now_ms();
    wait_for(first).await;
    // Within a minute: not rewritten on every request (a write per call would be a DoS lever).
    clock.advance(30_000);
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(stamp_ms(last_used().await.as_str().unwrap()), first);
    // Later uses move it forward.
    clock.advance(60_000);
    wait_for(first + 90_000).await;
}

/// Milliseconds since the epoch of an RFC 3339 stamp (whole seconds, as the API shows them).
fn stamp_ms(s: &str) -> i64 {
    pw_app::parse_rfc3339(s).expect("an RFC 3339 stamp")
}

#[tokio::test]
async fn sessions_and_keys_survive_a_restart() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "scopes": ["users:read"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let key = Auth::Key(created.json["key"].as_str().unwrap().to_owned());
    let junk = Auth::Cookie("pw_session=pws_1_junkjunkjunk".to_owned());
    for auth in [&admin, &key] {
        assert_eq!(
            server
                .call(auth, "GET", "/api/v1/auth/me", None)
                .await
                .status,
            200
        );
    }

    let server = server.restart(Vec::new()).await;
    for auth in [&admin, &key] {
        let me = server.call(auth, "GET", "/api/v1/auth/me", None).await;
        assert_eq!(me.status, 200, "{auth:?} after the restart: {:?}", me.json);
        assert_eq!(me.json["username"], "admin");
    }
    // The check is live: a made-up session is still refused.
    assert_eq!(
        server
            .call(&junk, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn an_administrator_who_forgot_the_password_recovers_with_auth_off() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let me = server.call(&admin, "GET", "/api/v1/auth/me", None).await;
    let id = me.json["id"].as_i64().unwrap();
    // Forgotten: nobody holds a session or the password any more.
    let logout = server
        .call(&admin, "POST", "/api/v1/auth/logout", None)
        .await;
    assert!(logout.status.is_success(), "{:?}", logout.json);
    let path = format!("/api/v1/users/{id}");
    let body = json!({"password": "a recovered passphrase"});
    assert_eq!(
        server
            .call(&Auth::None, "PATCH", &path, Some(body.clone()))
            .await
            .status,
        401,
        "with authentication on, nobody sets a password anonymously"
    );

    let server = server
        .restart(vec![("PRINTWARDEN_AUTH".into(), "disabled".into())])
        .await;
    let set = server.call(&Auth::None, "PATCH", &path, Some(body)).await;
    assert_eq!(set.status, 200, "{:?}", set.json);

    let server = server.restart(Vec::new()).await;
    let status = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["auth_enabled"], true);
    let old = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "admin", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(old.status, 401, "the forgotten password is gone");
    let back = server.login("admin", "a recovered passphrase").await;
    let users = server.call(&back, "GET", "/api/v1/users", None).await;
    assert_eq!(users.status, 200, "an administrator again");
}
