//! Snapshot tests of the JSON shapes of the identity API: any field added, renamed or removed
//! shows up as a reviewable diff (`INSTA_UPDATE=always` to accept, then review the .snap).
//! Volatile values (ids, times, tokens, addresses) are replaced by placeholders first.

use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let volatile = k == "id"
                        || k.ends_with("_id")
                        || k == "at"
                        || k.ends_with("_at")
                        || k == "request_id"
                        || k == "key"
                        || k == "prefix"
                        || k == "user_agent"
                        || k == "next";
                    let value = if volatile && !v.is_null() {
                        json!(format!("<{k}>"))
                    } else {
                        normalise(v)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

fn shape(v: &Value) -> String {
    serde_json::to_string_pretty(&normalise(v)).unwrap()
}

#[tokio::test]
async fn identity_api_shapes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let uid = server.create_user(&admin, "sam", &[viewers]).await;
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "ci", "scopes": ["users:read"]})),
        )
        .await;

    let me = server.call(&admin, "GET", "/api/v1/auth/me", None).await;
    insta::assert_snapshot!("auth_me", shape(&me.json));
    let status = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    insta::assert_snapshot!("auth_status", shape(&status.json));
    let sessions = server
        .call(&admin, "GET", "/api/v1/auth/sessions", None)
        .await;
    insta::assert_snapshot!("auth_sessions", shape(&sessions.json));
    let user = server
        .call(&admin, "GET", &format!("/api/v1/users/{uid}"), None)
        .await;
    insta::assert_snapshot!("user", shape(&user.json));
    let group = server
        .call(&admin, "GET", &format!("/api/v1/groups/{viewers}"), None)
        .await;
    insta::assert_snapshot!("group", shape(&group.json));
    insta::assert_snapshot!("api_key_created", shape(&key.json));
    let keys = server.call(&admin, "GET", "/api/v1/api-keys", None).await;
    insta::assert_snapshot!("api_keys", shape(&keys.json));
    let permissions = server
        .call(&admin, "GET", "/api/v1/permissions", None)
        .await;
    insta::assert_snapshot!("permissions", shape(&permissions.json));
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=user.create", None)
        .await;
    insta::assert_snapshot!("audit", shape(&audit.json));
    let hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "chat", "url": "https://hooks.example.com/in", "secret": "s3cret", "events": ["auth.", "user.create"]})),
        )
        .await;
    insta::assert_snapshot!("webhook", shape(&hook.json));
    let outbound = server
        .call(&admin, "GET", "/api/v1/settings/outbound", None)
        .await;
    insta::assert_snapshot!("settings_outbound", shape(&outbound.json));
    let error = server.call(&Auth::None, "GET", "/api/v1/users", None).await;
    insta::assert_snapshot!("error_envelope", shape(&error.json));
}

/// The OpenAPI document, served as the running server serves it. Any route, field or auth
/// change shows up here as a diff to review.
#[tokio::test]
async fn openapi_document() {
    let server = TestServer::spawn().await;
    let doc = server
        .call(&Auth::None, "GET", "/api/openapi.json", None)
        .await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.1.0");
    insta::assert_snapshot!("openapi", serde_json::to_string_pretty(&doc.json).unwrap());
}

#[tokio::test]
async fn the_api_docs_page_is_swagger_ui_without_inline_script() {
    let server = TestServer::spawn().await;
    let redirect = server.get("/api/docs").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/api/docs/");
    let page = server.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-initializer.js"));
    // Every <script> loads a file: nothing inline for the CSP to refuse.
    for tag in html.split("<script").skip(1) {
        let (attrs, rest) = tag.split_once('>').unwrap();
        assert!(attrs.contains("src="), "inline script: {tag}");
        assert!(
            rest.trim_start().starts_with("</script>"),
            "inline script body: {tag}"
        );
    }
    let init = server.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/api/openapi.json"));
    assert_eq!(server.get("/api/docs/no-such-file.js").await.status(), 404);
}
