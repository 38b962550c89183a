//! Display names (issue 19): a local user sets theirs on Account (`PATCH /api/v1/auth/me`),
//! within the length and character rules; it shows in the users list and the page header,
//! always escaped; only the user themselves changes it, and a key cannot. (Directory and
//! provider sync: `ldap.rs`, `oidc.rs`.)

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

async fn page(server: &TestServer, auth: &Auth, path: &str) -> String {
    let c = session_cookie(auth);
    server
        .client
        .get(server.url(path))
        .header("cookie", c)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_local_user_sets_a_display_name_shown_escaped() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let id = server.create_user(&admin, "henry", &[viewers]).await;
    let henry = server.login("henry", TEST_PASSWORD).await;
    let me = server.call(&henry, "GET", "/api/v1/auth/me", None).await;
    assert!(me.json["display_name"].is_null(), "{:?}", me.json);

    let set = |name: serde_json::Value| {
        let henry = henry.clone();
        let server = &server;
        async move {
            server
                .call(
                    &henry,
                    "PATCH",
                    "/api/v1/auth/me",
                    Some(json!({ "display_name": name })),
                )
                .await
        }
    };
    // Refused, and nothing changes: too long, control or invisible characters, unknown fields.
    for bad in [
        json!("x".repeat(65)),
        json!("a\u{202e}b"),
        json!("nul\u{0}here"),
        json!(7),
    ] {
        let a = set(bad.clone()).await;
        assert!(
            matches!(a.status.as_u16(), 400 | 422),
            "{bad}: {:?}",
            a.json
        );
    }
    let a = server
        .call(
            &henry,
            "PATCH",
            "/api/v1/auth/me",
            Some(json!({"display_name": "H", "username": "root"})),
        )
        .await;
    assert!(matches!(a.status.as_u16(), 400 | 422), "{:?}", a.json);

    let a = set(json!("  Henry <b>&</b> \"Ford\"  ")).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["display_name"], "Henry <b>&</b> \"Ford\"");
    assert_eq!(a.json["username"], "henry", "the username is untouched");
    let users = server
        .call(&admin, "GET", "/api/v1/users?limit=200", None)
        .await;
    assert!(
        users.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == id && u["display_name"] == "Henry <b>&</b> \"Ford\""),
        "{:?}",
        users.json
    );
    // Escaped in the header and in the users list, never raw.
    let account = page(&server, &henry, "/account").await;
    assert!(!account.contains("<b>&</b>"), "raw markup in the page");
    assert!(account.contains("signed-in-user"));
    let list = page(&server, &admin, "/users").await;
    assert!(!list.contains("Henry <b>"), "raw markup in the users list");
    assert!(list.contains("user-display-name"));

    // Empty clears it; the header shows the username again.
    let a = set(json!("")).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert!(a.json["display_name"].is_null());
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=user.display_name", None)
        .await;
    assert_eq!(
        audit.json["items"].as_array().unwrap().len(),
        2,
        "{:?}",
        audit.json
    );

    // A key (even with every scope of its owner) cannot change it: session only.
    let made = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["users:read"]})),
        )
        .await;
    let key = Auth::Key(made.json["key"].as_str().unwrap().to_owned());
    let a = server
        .call(
            &key,
            "PATCH",
            "/api/v1/auth/me",
            Some(json!({"display_name": "by key"})),
        )
        .await;
    assert!(matches!(a.status.as_u16(), 401 | 403), "{:?}", a.json);
}

/// The cookie header of a signed-in test browser (empty for anything else, which the server
/// then treats as signed out).
fn session_cookie(auth: &Auth) -> &str {
    match auth {
        Auth::Cookie(c) => c,
        Auth::None | Auth::Key(_) => "",
    }
}
