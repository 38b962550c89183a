//! Bambu Cloud (S12, issue 20) against the stand-in of `pw_simulator::cloud`, started in this
//! process: per-user sign-in with the emailed-code and authenticator steps, refresh before
//! and on expiry, 429 → backoff and the cached answer, the circuit breaker opening and
//! recovering, who may use the routes, one user's link invisible to another, and the real
//! token never in a response, a log line or an unsealed column.

use std::time::Duration;

use pw_simulator::cloud::{Cloud, CloudDevice, CloudOptions, Fault};
use pw_testkit::{Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_printwarden");
const BIND: &str = "/v1/iot-service/api/user/bind";

fn device(serial: &str, model: &str, code: &str) -> CloudDevice {
    CloudDevice::from_printer(&pw_simulator::PrinterInfo {
        serial: serial.into(),
        model: model.into(),
        host: "127.0.0.1".into(),
        mqtt_port: 1,
        ftps_port: 1,
        camera_port: 1,
        access_code: code.into(),
        ca_cert: String::new(),
    })
}

/// The stand-in with two printers bound to alice and carol, and `tweak` applied.
pub(crate) async fn stand_in(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut CloudOptions),
) -> Cloud {
    printwarden::install_crypto_provider();
    let serials = vec!["01P00A000000001".to_owned(), "00M09A000000002".to_owned()];
    let mut options = CloudOptions::new(&dir.join("cloud"), serials.clone());
    options.accounts[2].serials = serials;
    tweak(&mut options);
    Cloud::start(
        options,
        vec![
            device("01P00A000000001", "P1S", "11112222"),
            device("00M09A000000002", "X1C", "33334444"),
        ],
    )
    .await
    .expect("stand-in")
}

pub(crate) fn cloud_env(cloud: &Cloud, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("PRINTWARDEN_BAMBU_CLOUD_URL".to_owned(), cloud.url.clone()),
        (
            "PRINTWARDEN_BAMBU_CLOUD_CA_FILE".to_owned(),
            cloud.ca_path.display().to_string(),
        ),
        (
            "PRINTWARDEN_BAMBU_CLOUD_BACKOFF_MS".to_owned(),
            "20".to_owned(),
        ),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn account<'a>(cloud: &'a Cloud, email: &str) -> &'a pw_simulator::cloud::CloudAccount {
    cloud
        .accounts()
        .iter()
        .find(|a| a.email == email)
        .expect("account")
}

/// Links `email` for `auth` with its password and, if asked, its emailed code.
pub(crate) async fn link(server: &TestServer, auth: &Auth, cloud: &Cloud, email: &str) -> Value {
    let a = account(cloud, email);
    let r = server
        .call(
            auth,
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": email, "password": a.password})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    if r.json["state"] == "code_required" {
        let v = server
            .call(
                auth,
                "POST",
                "/api/v1/cloud/link/verify",
                Some(json!({"code": a.code})),
            )
            .await;
        assert_eq!(v.status, 200, "{:?}", v.json);
        return v.json;
    }
    r.json
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_with_an_emailed_code_lists_devices_and_the_token_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = stand_in(dir.path(), |_| {}).await;
    let server = TestServer::spawn_process(
        BIN.as_ref(),
        Options {
            env: cloud_env(&cloud, &[("PRINTWARDEN_LOG", "debug")]),
            ..Options::default()
        },
    )
    .await;
    let admin = server.setup_admin().await;
    let alice = account(&cloud, "alice@example.test").clone();
    let mut bodies: Vec<String> = Vec::new();

    // A wrong password: refused, audited, no link.
    let wrong = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": alice.email, "password": "not-it"})),
        )
        .await;
    assert_eq!(wrong.status, 400, "{:?}", wrong.json);
    // The password step asks for the emailed code.
    let started = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": alice.email, "password": alice.password, "region": "global"})),
        )
        .await;
    assert_eq!(started.status, 200, "{:?}", started.json);
    assert_eq!(started.json["state"], "code_required");
    assert_eq!(started.json["method"], "email");
    assert_eq!(cloud.hits("/v1/user-service/user/sendemail/code"), 1);
    // A wrong code: refused, the sign-in still waits.
    let bad = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link/verify",
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.json);
    assert!(
        bad.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("code is not right")
    );
    let done = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link/verify",
            Some(json!({"code": alice.code})),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.json);
    assert_eq!(done.json["state"], "linked");
    assert_eq!(done.json["email"], alice.email);
    bodies.push(done.json.to_string());

    let status = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(status.json["state"], "linked");
    bodies.push(status.json.to_string());
    let devices = server
        .call(&admin, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(devices.status, 200, "{:?}", devices.json);
    let list = devices.json["devices"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{:?}", devices.json);
    assert_eq!(list[0]["serial"], "01P00A000000001");
    assert_eq!(list[0]["model"], "P1S");
    assert_eq!(list[1]["model_code"], "BL-P001");
    assert_eq!(devices.json["stale"], false);
    // The LAN access codes stay on the server.
    assert!(!devices.json.to_string().contains("11112222"));
    bodies.push(devices.json.to_string());
    let tasks = server
        .call(&admin, "GET", "/api/v1/cloud/tasks", None)
        .await;
    assert_eq!(tasks.status, 200, "{:?}", tasks.json);
    assert_eq!(tasks.json["tasks"].as_array().unwrap().len(), 20);
    bodies.push(tasks.json.to_string());
    // The administrator sees that a link exists, never its tokens.
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    assert_eq!(
        users.json["items"][0]["cloud_linked"], true,
        "{:?}",
        users.json
    );
    bodies.push(users.json.to_string());
    // printwarden says who it is, and does not pose as Bambu's slicer.
    assert!(
        cloud
            .user_agents()
            .iter()
            .all(|ua| ua.starts_with("printwarden/")),
        "{:?}",
        cloud.user_agents()
    );

    // The tokens the stand-in issued are nowhere but in sealed columns.
    let tokens = cloud.issued_tokens();
    assert_eq!(tokens.len(), 2, "one access and one refresh token");
    let log_path = server.data_dir.with_file_name("data-server.log");
    let log = std::fs::read(&log_path).unwrap();
    // The searches can find things: the log has the cloud requests, the database the email.
    assert!(
        contains(&log, "/api/v1/cloud/devices"),
        "the log holds no request lines"
    );
    assert!(server.stored_contains(alice.email.as_bytes()).await);
    for secret in tokens
        .iter()
        .map(String::as_str)
        .chain([alice.password.as_str(), alice.code.as_str()])
    {
        assert!(!contains(&log, secret), "a secret is in the server log");
        assert!(
            !bodies.iter().any(|b| b.contains(secret)),
            "a secret is in an API answer"
        );
        assert!(
            !server.stored_contains(secret.as_bytes()).await,
            "a secret is stored in the clear"
        );
    }
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=cloud.link", None)
        .await;
    let outcomes: Vec<bool> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["success"].as_bool().unwrap())
        .collect();
    assert!(
        outcomes.contains(&true) && outcomes.contains(&false),
        "{outcomes:?}"
    );
    assert!(!audit.json.to_string().contains(&alice.password));

    // Unlink: the tokens go with the row.
    let gone = server
        .call(&admin, "DELETE", "/api/v1/cloud/link", None)
        .await;
    assert_eq!(gone.status, 204);
    let status = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(status.json["state"], "none");
    let devices = server
        .call(&admin, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(devices.status, 409, "{:?}", devices.json);
    let unlinked = server
        .call(&admin, "GET", "/api/v1/audit?event=cloud.unlink", None)
        .await;
    assert_eq!(unlinked.json["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_expiry_and_a_refused_refresh_asks_to_sign_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = stand_in(dir.path(), |o| {
        o.token_ttl = Duration::from_secs(8);
    })
    .await;
    let server = TestServer::spawn_env(
        &cloud_env(&cloud, &[])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let admin = server.setup_admin().await;
    // Carol has no second step: linked at once.
    let linked = link(&server, &admin, &cloud, "carol@example.test").await;
    assert_eq!(linked["state"], "linked");
    assert!(linked.get("refreshed_at").is_none());
    // The refresher renews the token three quarters into its eight seconds, again and again.
    let mut refreshed = Vec::new();
    for _ in 0..300 {
        let s = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
        assert_eq!(s.json["state"], "linked", "{:?}", s.json);
        if let Some(at) = s.json["refreshed_at"].as_str()
            && !refreshed.contains(&at.to_owned())
        {
            refreshed.push(at.to_owned());
        }
        if refreshed.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refreshed.len() >= 2, "the token was not refreshed twice");
    assert!(cloud.hits("/v1/user-service/user/refreshtoken") >= 2);
    // Reads work with whatever token is current.
    let devices = server
        .call(&admin, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(devices.status, 200, "{:?}", devices.json);

    // A sign-out made elsewhere: the read's 401 tries one refresh, Bambu refuses it too, so
    // the link is marked expired and the user is told to sign in again.
    cloud.revoke("carol@example.test");
    let refused = server
        .call(&admin, "GET", "/api/v1/cloud/devices?refresh=true", None)
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("link the account again")
    );
    let s = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(s.json["state"], "expired", "{:?}", s.json);
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=cloud.refresh_failed",
            None,
        )
        .await;
    assert_eq!(
        audit.json["items"][0]["details"]["expired"], true,
        "{:?}",
        audit.json
    );

    // Signing in again (here with the authenticator app of bob's account) replaces the link.
    let bob = account(&cloud, "bob@example.test").clone();
    let started = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": bob.email, "password": bob.password})),
        )
        .await;
    assert_eq!(started.json["state"], "code_required", "{:?}", started.json);
    assert_eq!(started.json["method"], "totp");
    let code = pw_testkit::totp::totp_at(
        bob.totp_secret.as_deref().unwrap(),
        pw_testkit::totp::unix_now(),
    );
    let done = server
        .call(
            &admin,
            "POST",
            "/api/v1/cloud/link/verify",
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.json);
    assert_eq!(done.json["state"], "linked");
    assert_eq!(done.json["email"], bob.email);
    assert_eq!(cloud.hits("/api/sign-in/tfa"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_backs_off_serves_the_cache_and_the_breaker_opens_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = stand_in(dir.path(), |_| {}).await;
    let server = TestServer::spawn_env(
        &cloud_env(&cloud, &[("PRINTWARDEN_BAMBU_CLOUD_BREAKER_SECONDS", "1")])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let admin = server.setup_admin().await;
    link(&server, &admin, &cloud, "carol@example.test").await;
    let get = |refresh: bool| {
        let path = if refresh {
            "/api/v1/cloud/devices?refresh=true"
        } else {
            "/api/v1/cloud/devices"
        };
        server.call(&admin, "GET", path, None)
    };
    let first = get(false).await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    assert_eq!(first.json["stale"], false);
    assert_eq!(cloud.hits(BIND), 1);
    // A fresh answer comes from the cache: Bambu is not asked again.
    let cached = get(false).await;
    assert_eq!(cached.json["devices"], first.json["devices"]);
    assert_eq!(cloud.hits(BIND), 1);

    // Bambu throttles every attempt: the client retries (after Retry-After), then serves the
    // last answer, marked stale.
    cloud.fault(Fault {
        status: 429,
        count: 3,
        retry_after: Some(1),
        cloudflare: false,
    });
    let throttled = get(true).await;
    assert_eq!(throttled.status, 200, "{:?}", throttled.json);
    assert_eq!(throttled.json["stale"], true);
    assert_eq!(throttled.json["devices"], first.json["devices"]);
    assert_eq!(cloud.hits(BIND), 4, "one call and two retries");

    // Bambu fails on: after three failed calls the breaker opens and Bambu is left alone.
    cloud.fault(Fault {
        status: 503,
        count: 1000,
        retry_after: None,
        cloudflare: false,
    });
    for _ in 0..2 {
        let r = get(true).await;
        assert_eq!(r.json["stale"], true, "{:?}", r.json);
    }
    let before = cloud.hits(BIND);
    assert_eq!(before, 10);
    let paused = get(true).await;
    assert_eq!(paused.json["stale"], true);
    assert_eq!(
        cloud.hits(BIND),
        before,
        "the open breaker still called Bambu"
    );
    let status = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(status.json["service"], "paused");

    // Bambu is back: after the cooldown one trial call closes the breaker.
    cloud.clear_faults();
    let mut recovered = false;
    for _ in 0..100 {
        let r = get(true).await;
        if r.json["stale"] == false {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the breaker never closed");
    assert_eq!(cloud.hits(BIND), before + 1);
    let status = server.call(&admin, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(status.json["service"], "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_cloud_auth_reaches_the_routes_and_a_link_is_its_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = stand_in(dir.path(), |_| {}).await;
    let server = TestServer::spawn_env(
        &cloud_env(&cloud, &[])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let admin = server.setup_admin().await;
    // Without cloud:auth (an operator): refused everywhere, before Bambu is asked.
    let operators = server.group_id(&admin, "Operators").await;
    server.create_user(&admin, "olga", &[operators]).await;
    let olga = server.login("olga", TEST_PASSWORD).await;
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": "carol@example.test", "password": "x"})),
        ),
        ("GET", "/api/v1/cloud/link", None),
        ("GET", "/api/v1/cloud/devices", None),
        ("DELETE", "/api/v1/cloud/link", None),
    ] {
        let r = server.call(&olga, method, path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.json);
    }
    let page = server.call(&olga, "GET", "/account/cloud", None).await;
    assert_eq!(page.status, 403);
    assert_eq!(cloud.hits("/v1/user-service/user/login"), 0);

    // Two holders of cloud:auth.
    let group = server
        .create_group(&admin, "cloud users", &["cloud:auth", "api_keys:create"])
        .await;
    server.create_user(&admin, "una", &[group]).await;
    server.create_user(&admin, "vic", &[group]).await;
    let una = server.login("una", TEST_PASSWORD).await;
    let vic = server.login("vic", TEST_PASSWORD).await;
    link(&server, &una, &cloud, "carol@example.test").await;
    // Vic sees no link, cannot read or remove Una's.
    let s = server.call(&vic, "GET", "/api/v1/cloud/link", None).await;
    assert_eq!(s.json["state"], "none", "{:?}", s.json);
    let d = server
        .call(&vic, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(d.status, 409, "{:?}", d.json);
    let u = server
        .call(&vic, "DELETE", "/api/v1/cloud/link", None)
        .await;
    assert_eq!(u.status, 404);
    let mine = server
        .call(&una, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json["devices"].as_array().unwrap().len(), 2);
    // Vic links another Bambu account: each sees their own account's printers only.
    link(&server, &vic, &cloud, "alice@example.test").await;
    let hits = cloud.hits(BIND);
    let his = server
        .call(&vic, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(his.status, 200);
    assert_eq!(
        cloud.hits(BIND),
        hits + 1,
        "Vic was served Una's cached answer"
    );

    // API keys: one without the scope is refused; one with it reads, but linking (a password
    // ceremony) needs a browser session.
    let make = |scopes: Vec<&'static str>| {
        server.call(
            &una,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "script", "scopes": scopes})),
        )
    };
    let none = make(vec!["api_keys:create"]).await;
    assert_eq!(none.status, 201, "{:?}", none.json);
    let none = Auth::Key(none.json["key"].as_str().unwrap().to_owned());
    let r = server
        .call(&none, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    let scoped = make(vec!["cloud:auth"]).await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.json);
    let scoped = Auth::Key(scoped.json["key"].as_str().unwrap().to_owned());
    let r = server
        .call(&scoped, "GET", "/api/v1/cloud/devices", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let r = server
        .call(
            &scoped,
            "POST",
            "/api/v1/cloud/link",
            Some(json!({"email": "carol@example.test", "password": "x"})),
        )
        .await;
    assert!(r.status == 401 || r.status == 403, "{:?}", r.json);
    // The users list shows who has a link.
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let linked: Vec<(String, bool)> = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_owned(),
                u["cloud_linked"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(linked.contains(&("una".to_owned(), true)), "{linked:?}");
    assert!(linked.contains(&("olga".to_owned(), false)), "{linked:?}");
}
