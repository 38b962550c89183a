//! API keys (S3): shown once, scopes ∩ the owner's current rights, expiry, revocation, the
//! key header hiding cookies, own keys vs everyone's.

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

async fn make_key(server: &TestServer, auth: &Auth, scopes: &[&str]) -> (i64, String) {
    let a = server
        .call(
            auth,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "script", "scopes": scopes})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    (
        a.json["id"].as_i64().unwrap(),
        a.json["key"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_key_is_shown_once_and_works_with_both_headers() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (id, key) = make_key(&server, &admin, &["users:read"]).await;
    assert!(key.starts_with(&format!("pwk_{id}_")), "{key}");
    let list = server.call(&admin, "GET", "/api/v1/api-keys", None).await;
    let listed = list.json["items"][0].clone();
    assert_eq!(listed["id"], id);
    assert!(listed.get("key").is_none(), "the key is never listed");
    assert!(
        !list.json.to_string().contains(&key[key.len() - 20..]),
        "no part of the secret is listed"
    );

    let bearer = server
        .call(&Auth::Key(key.clone()), "GET", "/api/v1/users", None)
        .await;
    assert_eq!(bearer.status, 200);
    let x_api_key = server
        .client
        .get(server.url("/api/v1/users"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(x_api_key.status(), 200);
    let me = server
        .call(&Auth::Key(key.clone()), "GET", "/api/v1/auth/me", None)
        .await;
    assert_eq!(
        me.json["permissions"],
        json!(["users:read"]),
        "a key reports its effective rights"
    );
    // Scopes bound the key even though its owner holds everything.
    assert_eq!(
        server
            .call(&Auth::Key(key.clone()), "GET", "/api/v1/groups", None)
            .await
            .status,
        403
    );
    // A session-only route refuses keys.
    assert_eq!(
        server
            .call(
                &Auth::Key(key.clone()),
                "GET",
                "/api/v1/auth/sessions",
                None
            )
            .await
            .status,
        401
    );
    // A wrong secret for a real id, and junk.
    let forged = format!("pwk_{id}_{}", "A".repeat(43));
    assert_eq!(
        server
            .call(&Auth::Key(forged), "GET", "/api/v1/users", None)
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .call(&Auth::Key("pwk_x".into()), "GET", "/api/v1/users", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_key_header_ignores_any_cookie() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let Auth::Cookie(cookie) = &admin else {
        unreachable!()
    };
    let r = server
        .client
        .get(server.url("/api/v1/users"))
        .header("cookie", cookie)
        .header(
            "x-api-key",
            "pwk_1_junkjunkjunkjunkjunkjunkjunkjunkjunkjunkjun",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the (bad) key decides, not the admin cookie"
    );
}

#[tokio::test]
async fn scopes_must_be_held_and_follow_the_owners_current_rights() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let team = server
        .create_group(&admin, "Team", &["api_keys:create", "users:read"])
        .await;
    let uid = server.create_user(&admin, "kai", &[team]).await;
    let kai = server.login("kai", TEST_PASSWORD).await;
    let r = server
        .call(
            &kai,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["users:delete"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("users:delete"), "{}", r.message());
    let r = server
        .call(
            &kai,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "x", "scopes": []})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = server
        .call(
            &kai,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["nope:nope"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = server
        .call(
            &kai,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["users:read"], "expires_at": "tomorrow"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let (_, key) = make_key(&server, &kai, &["users:read"]).await;
    let key = Auth::Key(key);
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );

    // The owner loses the right: the key loses it on the next request.
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{team}"),
            Some(json!({"permissions": ["api_keys:create"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        403
    );
    // Regains it: the key works again (scopes were kept).
    server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{team}"),
            Some(json!({"permissions": ["api_keys:create", "users:read"]})),
        )
        .await;
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );
    // Disabled owner: the key is dead; deleted owner: too.
    server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        401
    );
    server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );
    server
        .call(&admin, "DELETE", &format!("/api/v1/users/{uid}"), None)
        .await;
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        401
    );
}

#[tokio::test]
async fn keys_expire_and_the_instance_can_cap_their_lifetime() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    // Second precision: expires within (1 s, 2 s] from now.
    let soon = time_in(1);
    let a = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "short", "scopes": ["users:read"], "expires_at": soon})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let key = Auth::Key(a.json["key"].as_str().unwrap().to_owned());
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        401,
        "expired"
    );
    let listed = server.call(&admin, "GET", "/api/v1/api-keys", None).await;
    assert_eq!(listed.json["items"][0]["expired"], true);

    let past = server
        .call(&admin, "POST", "/api/v1/api-keys", Some(json!({"name": "x", "scopes": ["users:read"], "expires_at": "2001-01-01T00:00:00Z"})))
        .await;
    assert_eq!(past.status, 400);
    let cap = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/security",
            Some(json!({"min_password_length": 8, "api_key_max_days": 30})),
        )
        .await;
    assert_eq!(cap.status, 200, "{:?}", cap.json);
    let forever = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "x", "scopes": ["users:read"]})),
        )
        .await;
    assert_eq!(forever.status, 400);
    assert!(
        forever.message().contains("30 days"),
        "{}",
        forever.message()
    );
    let too_long = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(
                json!({"name": "x", "scopes": ["users:read"], "expires_at": time_in(40 * 86_400)}),
            ),
        )
        .await;
    assert_eq!(too_long.status, 400);
    let fine = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(
                json!({"name": "x", "scopes": ["users:read"], "expires_at": time_in(10 * 86_400)}),
            ),
        )
        .await;
    assert_eq!(fine.status, 201);
    let bad_setting = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/security",
            Some(json!({"min_password_length": 4, "api_key_max_days": null})),
        )
        .await;
    assert_eq!(bad_setting.status, 400);
}

fn time_in(seconds: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    pw_app::rfc3339(i64::try_from(now).unwrap() + seconds * 1000 + 999)
}

#[tokio::test]
async fn own_keys_versus_everyones() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let team = server
        .create_group(&admin, "Team", &["api_keys:create", "users:read"])
        .await;
    server.create_user(&admin, "lee", &[team]).await;
    let lee = server.login("lee", TEST_PASSWORD).await;
    let (lee_key_id, _) = make_key(&server, &lee, &["users:read"]).await;
    let (admin_key_id, _) = make_key(&server, &admin, &["users:read"]).await;

    let mine = server.call(&lee, "GET", "/api/v1/api-keys", None).await;
    assert_eq!(mine.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .call(&lee, "GET", "/api/v1/api-keys?all=true", None)
            .await
            .status,
        403
    );
    let everyone = server
        .call(&admin, "GET", "/api/v1/api-keys?all=true", None)
        .await;
    assert_eq!(everyone.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        server
            .call(&lee, "GET", "/api/v1/api-keys?all=maybe", None)
            .await
            .status,
        400
    );

    let r = server
        .call(
            &lee,
            "DELETE",
            &format!("/api/v1/api-keys/{admin_key_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "someone else's key answers 404");
    assert_eq!(
        server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/api-keys/{lee_key_id}"),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&lee, "GET", "/api/v1/api-keys", None)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        server
            .call(
                &lee,
                "DELETE",
                &format!("/api/v1/api-keys/{lee_key_id}"),
                None
            )
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn revoked_keys_stop_working_at_once() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (id, key) = make_key(&server, &admin, &["users:read"]).await;
    let key = Auth::Key(key);
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        200
    );
    assert_eq!(
        server
            .call(&admin, "DELETE", &format!("/api/v1/api-keys/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        server.call(&key, "GET", "/api/v1/users", None).await.status,
        401
    );
}
