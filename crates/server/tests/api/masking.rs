//! Secret masking (SPEC S7, S8): no response of any route in the route table carries a stored
//! secret. The test seeds secrets it knows (passwords, their stored hashes, a session token, an
//! API key and its stored digest, the setup code, the sealing key), then calls every row of
//! `ROUTES` as the administrator, with the cookie and with a key, and searches every body and
//! header. A feature that stores a new kind of secret adds it to `known_secrets`.

use pw_credentials::token::{digest, parse_api_key};
use pw_domain::{ApiKeyId, UserId};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

const OTHER_PASSWORD: &str = "masking test secret 42";
const WEBHOOK_SECRET: &str = "masking webhook secret 77";
const ACCESS_CODE: &str = "masking-code-31337";

/// Fills `{id}`-style segments with ids of rows that exist.
fn concrete_path(pattern: &str, ids: &Ids) -> String {
    let mut out = Vec::new();
    let segments: Vec<&str> = pattern.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let previous = if i > 0 { segments[i - 1] } else { "" };
        out.push(match *seg {
            "{id}" => match previous {
                "users" => ids.user.to_string(),
                "groups" => ids.group.to_string(),
                "sessions" => ids.session.to_string(),
                "api-keys" => ids.key.to_string(),
                "webhooks" => ids.webhook.to_string(),
                "printers" => ids.printer.to_string(),
                "locations" => ids.location.to_string(),
                _ => "1".to_owned(),
            },
            "{user_id}" => ids.user.to_string(),
            s if s.starts_with("{*") => "app.js".to_owned(),
            s => s.to_owned(),
        });
    }
    out.join("/")
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Ids {
    user: i64,
    group: i64,
    session: i64,
    key: i64,
    webhook: i64,
    printer: i64,
    location: i64,
}

/// Routes that end the caller's own access; called last.
fn ends_access(method: &str, path: &str) -> bool {
    method == "DELETE"
        || path.ends_with("/logout")
        || path.ends_with("/disable")
        || path.ends_with("/revoke-others")
        || path.ends_with("/auth/password")
}

#[tokio::test]
async fn no_route_answers_with_a_stored_secret() {
    let server = TestServer::spawn().await;
    let setup_code = server.setup_code();
    let admin = server.setup_admin().await;
    let Auth::Cookie(cookie) = &admin else {
        unreachable!()
    };
    let session_token = cookie.split_once('=').unwrap().1.to_owned();

    let group = server.create_group(&admin, "Masked", &["users:read"]).await;
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "vic", "password": OTHER_PASSWORD, "group_ids": [group]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let user = created.json["id"].as_i64().unwrap();
    let every_scope: Vec<&str> = pw_domain::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "walker", "scopes": every_scope})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let api_key = key.json["key"].as_str().unwrap().to_owned();
    let (key_id, key_secret) = parse_api_key(&api_key).unwrap();
    // A webhook to a loopback port nobody listens on (allow-listed), so its test answers fast.
    let allow = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": ["127.0.0.1"]})),
        )
        .await;
    assert_eq!(allow.status, 200, "{:?}", allow.json);
    let hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "masked", "url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET, "events": ["*"]})),
        )
        .await;
    assert_eq!(hook.status, 201, "{:?}", hook.json);
    let webhook = hook.json["id"].as_i64().unwrap();
    let location = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Masked hall"})),
        )
        .await;
    assert_eq!(location.status, 201, "{:?}", location.json);
    let location = location.json["id"].as_i64().unwrap();
    let printer = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(json!({"name": "masked", "serial": "01P00A000000999", "host": "127.0.0.1", "mqtt_port": 9,
                        "access_code": ACCESS_CODE, "location_id": location})),
        )
        .await;
    assert_eq!(printer.status, 201, "{:?}", printer.json);
    let printer = printer.json["id"].as_i64().unwrap();
    let sessions = server
        .call(&admin, "GET", "/api/v1/auth/sessions", None)
        .await;
    let session = sessions.json[0]["id"].as_i64().unwrap();

    let store = server.running().app.store().clone();
    let admin_hash = store
        .user(UserId::from_db(1))
        .await
        .unwrap()
        .and_then(|u| u.password_hash)
        .unwrap();
    let vic_hash = store
        .user(UserId::from_db(user))
        .await
        .unwrap()
        .and_then(|u| u.password_hash)
        .unwrap();
    let key_row = store
        .api_key(ApiKeyId::from_db(key_id))
        .await
        .unwrap()
        .unwrap();
    let sealed_webhook_secret = store
        .webhook(pw_domain::WebhookId::from_db(webhook))
        .await
        .unwrap()
        .and_then(|w| w.secret)
        .unwrap();
    let sealed_access_code = store
        .printer(pw_domain::PrinterId::from_db(printer))
        .await
        .unwrap()
        .unwrap()
        .access_code;
    let sealing_key = std::fs::read_to_string(server.data_dir.join("secret.key")).unwrap();

    let known_secrets: Vec<(&str, String)> = vec![
        ("admin password", TEST_PASSWORD.to_owned()),
        ("user password", OTHER_PASSWORD.to_owned()),
        ("admin password hash", admin_hash),
        ("user password hash", vic_hash),
        ("session token", session_token.clone()),
        ("session token digest", to_hex(&digest(&session_token))),
        ("API key", api_key.clone()),
        ("API key secret", key_secret.to_owned()),
        ("API key digest", to_hex(&digest(key_secret))),
        ("stored API key digest", key_row.secret_digest.clone()),
        ("setup code", setup_code.clone()),
        ("setup code (plain)", setup_code.replace('-', "")),
        ("sealing key", sealing_key.trim().to_owned()),
        ("webhook secret", WEBHOOK_SECRET.to_owned()),
        ("sealed webhook secret", sealed_webhook_secret),
        ("printer access code", ACCESS_CODE.to_owned()),
        ("sealed printer access code", sealed_access_code),
    ];
    for (what, secret) in &known_secrets {
        assert!(secret.len() >= 12, "{what} is too short to search for");
    }

    let ids = Ids {
        user,
        group,
        session,
        key: key_id,
        webhook,
        printer,
        location,
    };
    let mut rows: Vec<_> = pw_http::ROUTES.iter().collect();
    rows.sort_by_key(|r| ends_access(r.method, r.path));
    let credentials = [Auth::Key(api_key.clone()), admin.clone()];
    let mut calls = 0;
    let mut answered = 0;
    for auth in &credentials {
        for row in &rows {
            let path = concrete_path(row.path, &ids);
            let body = (row.method != "GET").then(|| json!({}));
            let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
            let mut req = server.client.request(method, server.url(&path));
            req = match auth {
                Auth::Key(k) => req.bearer_auth(k),
                Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
                Auth::None => req,
            };
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let headers = format!("{:?}", resp.headers());
            let text = String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned();
            calls += 1;
            if status.is_success() {
                answered += 1;
            }
            assert!(
                !status.is_server_error(),
                "{} {path}: {status} {text}",
                row.method
            );
            for (what, secret) in &known_secrets {
                assert!(
                    !text.contains(secret.as_str()) && !headers.contains(secret.as_str()),
                    "{} {path} ({status}) answered with the {what}",
                    row.method
                );
            }
        }
    }
    assert!(calls >= 2 * pw_http::ROUTES.len());
    // The walk must see real answers, not only refusals.
    assert!(answered >= 20, "only {answered} successful answers");
}
