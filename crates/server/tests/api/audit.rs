//! The audit log (S1): events recorded with actor, target, outcome and IP; filters; no secrets.

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

#[tokio::test]
async fn security_events_are_recorded_filterable_and_free_of_secrets() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let bad = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "admin", "password": "guessing-123"})),
        )
        .await;
    assert_eq!(bad.status, 401);
    let uid = server.create_user(&admin, "ann", &[]).await;
    server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            Some(json!({"password": "another secret 9"})),
        )
        .await;
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "scopes": ["audit:read"]})),
        )
        .await;
    let key_text = key.json["key"].as_str().unwrap().to_owned();
    let ann = server.login("ann", "another secret 9").await;
    server.call(&ann, "POST", "/api/v1/auth/logout", None).await;

    let all = server
        .call(&admin, "GET", "/api/v1/audit?limit=500", None)
        .await;
    assert_eq!(all.status, 200);
    let items = all.json["items"].as_array().unwrap();
    let events: Vec<&str> = items.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in [
        "auth.setup",
        "auth.login",
        "user.create",
        "auth.password_reset",
        "user.update",
        "api_key.create",
        "auth.logout",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    let failed = items
        .iter()
        .find(|e| e["event"] == "auth.login" && e["success"] == false)
        .expect("failed login recorded");
    assert_eq!(failed["actor"], "anonymous");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(failed["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    let text = all.json.to_string();
    for secret in [
        TEST_PASSWORD,
        "guessing-123",
        "another secret 9",
        &key_text[key_text.len() - 20..],
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds a secret: {secret}"
        );
    }

    let by_actor = server
        .call(&admin, "GET", "/api/v1/audit?actor=ANN", None)
        .await;
    assert!(
        by_actor.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "ann")
    );
    assert!(!by_actor.json["items"].as_array().unwrap().is_empty());
    let logins = server
        .call(&admin, "GET", "/api/v1/audit?event=auth.login", None)
        .await;
    assert!(
        logins.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event"] == "auth.login")
    );
    let prefix = server
        .call(&admin, "GET", "/api/v1/audit?event=user.", None)
        .await;
    assert!(
        prefix.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event"].as_str().unwrap().starts_with("user."))
    );
    let future = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?since=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(future.json["items"].as_array().unwrap().len(), 0);
    let page = server
        .call(&admin, "GET", "/api/v1/audit?limit=2", None)
        .await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 2);
    let next = page.json["next"].as_str().expect("a next cursor");
    let last = page.json["items"][1]["id"].as_i64().unwrap();
    let page2 = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/audit?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert!(page2.json["items"][0]["id"].as_i64().unwrap() < last);
    for bad in [
        "since=yesterday",
        "limit=0",
        "limit=501",
        "colour=red",
        "before=5",
    ] {
        let r = server
            .call(&admin, "GET", &format!("/api/v1/audit?{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    // An API key scoped to audit:read reads it too.
    assert_eq!(
        server
            .call(&Auth::Key(key_text), "GET", "/api/v1/audit", None)
            .await
            .status,
        200
    );
}

/// The Audit page's filter suggestions are the whole event catalogue (the hand-kept list it
/// replaced had 19 of the events and offered no printer, webhook or settings event).
#[tokio::test]
async fn the_audit_page_offers_every_event_of_the_catalogue() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let Auth::Cookie(cookie) = &admin else {
        panic!("setup_admin signs in with a cookie");
    };
    let page = server
        .client
        .get(server.url("/audit"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<option value=\"auth.login\">"), "{html}");
    for event in pw_app::AuditEvent::ALL {
        assert!(
            html.contains(&format!("<option value=\"{}\">", event.name())),
            "the Audit page does not offer {event}"
        );
    }
}
