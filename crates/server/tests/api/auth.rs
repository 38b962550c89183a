//! Setup, login, sessions and cookies (S2) against the real server.

use std::time::Instant;

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

#[tokio::test]
async fn setup_needs_the_console_code_and_happens_once() {
    let server = TestServer::spawn().await;
    let status = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["setup_required"], true);
    assert_eq!(status.json["auth_enabled"], true);

    let body =
        |code: &str| json!({"setup_code": code, "username": "root", "password": TEST_PASSWORD});
    let wrong = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(body("AAAA-BBBB-CCCC-DDDD")),
        )
        .await;
    assert_eq!(wrong.status, 403, "{:?}", wrong.json);
    assert!(wrong.session_cookie().is_none());
    let missing = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(json!({"username": "root", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.message().contains("setup_code"),
        "{}",
        missing.message()
    );

    let code = server.setup_code();
    let weak = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(json!({"setup_code": code, "username": "root", "password": "short"})),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.message().contains("at least 8"), "{}", weak.message());

    let ok = server
        .call(&Auth::None, "POST", "/api/v1/auth/setup", Some(body(&code)))
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.json);
    assert_eq!(ok.json["user"]["username"], "root");
    assert_eq!(ok.json["user"]["groups"][0]["name"], "Administrators");
    assert!(
        !server.data_dir.join("setup-code").exists(),
        "the used code file is deleted"
    );

    let again = server
        .call(&Auth::None, "POST", "/api/v1/auth/setup", Some(body(&code)))
        .await;
    assert_eq!(again.status, 409);
    let status = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["setup_required"], false);

    let cookie = Auth::Cookie(ok.session_cookie().unwrap());
    let me = server.call(&cookie, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["username"], "root");
    assert!(
        me.json["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "users:delete")
    );
}

#[tokio::test]
async fn session_cookie_has_the_s2_attributes() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    let a = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "ADMIN", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 200, "usernames are case-insensitive for login");
    let set = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-pw_session="), "{set}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    assert!(!set.to_lowercase().contains("domain="), "{set}");
    let token = set.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(token.len() >= 43, "256-bit token: {token}");
}

#[tokio::test]
async fn plain_http_deployment_uses_pw_session_without_secure() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_TLS", "off")]).await;
    let a = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(json!({"setup_code": server.setup_code(), "username": "admin", "password": TEST_PASSWORD})),
        )
        .await;
    let set = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("pw_session="), "{set}");
    assert!(!set.contains("Secure"), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let me = server
        .call(
            &Auth::Cookie(a.session_cookie().unwrap()),
            "GET",
            "/api/v1/auth/me",
            None,
        )
        .await;
    assert_eq!(me.status, 200);
}

#[tokio::test]
async fn login_fails_generically_and_unknown_users_cost_the_same_work() {
    // Throttling would answer most of these attempts early; this test measures the hashing.
    let server = TestServer::spawn_env(&[
        ("PRINTWARDEN_RATE_LIMIT_LOGIN", "0"),
        ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT", "0"),
    ])
    .await;
    server.setup_admin().await;
    let attempt = |user: &'static str, pw: &'static str| {
        let server = &server;
        async move {
            let started = Instant::now();
            let a = server
                .call(
                    &Auth::None,
                    "POST",
                    "/api/v1/auth/login",
                    Some(json!({"username": user, "password": pw})),
                )
                .await;
            (a, started.elapsed())
        }
    };
    let (wrong_pw, _) = attempt("admin", "not the password").await;
    let (unknown, _) = attempt("nobody", "not the password").await;
    assert_eq!(wrong_pw.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong_pw.message(),
        unknown.message(),
        "no user enumeration via the message"
    );
    assert_eq!(wrong_pw.message(), "Wrong username or password.");

    // Not a speed goal but a security property: an unknown user runs a full argon2id
    // verification too. Compared as a ratio of medians, with wide bounds (same order).
    let mut known = Vec::new();
    let mut missing = Vec::new();
    for _ in 0..5 {
        known.push(attempt("admin", "not the password").await.1);
        missing.push(attempt("nobody-at-all", "not the password").await.1);
    }
    known.sort();
    missing.sort();
    let ratio = missing[2].as_secs_f64() / known[2].as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown/known median ratio {ratio:.2} ({missing:?} vs {known:?})"
    );
}

#[tokio::test]
async fn login_rotates_and_logout_revokes_server_side() {
    let server = TestServer::spawn().await;
    let first = server.setup_admin().await;
    // Logging in while carrying a session ends that session (fixation defence).
    let Auth::Cookie(first_pair) = &first else {
        unreachable!()
    };
    let a = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .header("cookie", first_pair)
        .header("origin", server.origin())
        .json(&json!({"username": "admin", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    let second_pair = a.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(&second_pair, first_pair, "a new token on every login");
    let second = Auth::Cookie(second_pair);
    assert_eq!(
        server
            .call(&first, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .call(&second, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        200
    );

    let out = server
        .call(&second, "POST", "/api/v1/auth/logout", None)
        .await;
    assert_eq!(out.status, 204);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        server
            .call(&second, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401,
        "old cookie is dead server-side"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revocable() {
    let server = TestServer::spawn().await;
    let a = server.setup_admin().await;
    let b = server.login("admin", TEST_PASSWORD).await;
    let c = server.login("admin", TEST_PASSWORD).await;
    let list = server.call(&a, "GET", "/api/v1/auth/sessions", None).await;
    let items = list.json.as_array().unwrap().clone();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    for s in &items {
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
    }
    // Revoke b (the newest non-current session of these).
    let me_b = server.call(&b, "GET", "/api/v1/auth/sessions", None).await;
    let b_id = me_b
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        server
            .call(&a, "DELETE", &format!("/api/v1/auth/sessions/{b_id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        server.call(&b, "GET", "/api/v1/auth/me", None).await.status,
        401
    );
    assert_eq!(
        server
            .call(&a, "DELETE", &format!("/api/v1/auth/sessions/{b_id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        server
            .call(&a, "DELETE", "/api/v1/auth/sessions/abc", None)
            .await
            .status,
        404
    );

    assert_eq!(
        server
            .call(&a, "POST", "/api/v1/auth/sessions/revoke-others", None)
            .await
            .status,
        204
    );
    assert_eq!(
        server.call(&c, "GET", "/api/v1/auth/me", None).await.status,
        401
    );
    assert_eq!(
        server.call(&a, "GET", "/api/v1/auth/me", None).await.status,
        200
    );
    assert_eq!(
        server
            .call(&a, "GET", "/api/v1/auth/sessions", None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn another_users_session_cannot_be_revoked() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "val", &[viewers]).await;
    let val = server.login("val", TEST_PASSWORD).await;
    let admin_sessions = server
        .call(&admin, "GET", "/api/v1/auth/sessions", None)
        .await;
    let admin_session = admin_sessions.json[0]["id"].as_i64().unwrap();
    let r = server
        .call(
            &val,
            "DELETE",
            &format!("/api/v1/auth/sessions/{admin_session}"),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "someone else's session is not yours: 404");
    assert_eq!(
        server
            .call(&admin, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn password_change_needs_the_current_one_revokes_others_and_rotates_this_one() {
    let server = TestServer::spawn().await;
    let a = server.setup_admin().await;
    let b = server.login("admin", TEST_PASSWORD).await;
    let wrong = server
        .call(
            &a,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": "nope nope", "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.message().contains("current password"),
        "{}",
        wrong.message()
    );
    let same = server
        .call(
            &a,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "admin"})),
        )
        .await;
    assert_eq!(same.status, 400, "{:?}", same.json);

    let ok = server
        .call(
            &a,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(ok.status, 204, "{:?}", ok.json);
    let rotated = Auth::Cookie(
        ok.session_cookie()
            .expect("new token for the current session"),
    );
    assert_eq!(
        server.call(&b, "GET", "/api/v1/auth/me", None).await.status,
        401,
        "other sessions end"
    );
    assert_eq!(
        server.call(&a, "GET", "/api/v1/auth/me", None).await.status,
        401,
        "the old token of this session ends"
    );
    assert_eq!(
        server
            .call(&rotated, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        200
    );
    server.login("admin", "a brand new secret").await;
}

#[tokio::test]
async fn auth_disabled_by_env_allows_everything_and_password_change_needs_no_current() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let server = server
        .restart(vec![("PRINTWARDEN_AUTH".into(), "disabled".into())])
        .await;
    let anon = server.call(&Auth::None, "GET", "/api/v1/users", None).await;
    assert_eq!(anon.status, 200, "everything allowed while auth is off");
    // Everything except leaving the instance without an administrator.
    let only_admin = anon.json["items"][0]["id"].as_i64().unwrap();
    for (method, path, body) in [
        (
            "DELETE",
            format!("/api/v1/users/{only_admin}?items=keep"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/users/{only_admin}"),
            Some(json!({"disabled": true})),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{only_admin}"),
            Some(json!({"group_ids": []})),
        ),
    ] {
        let r = server.call(&Auth::None, method, &path, body).await;
        assert_eq!(r.status, 409, "{method} {path}: {:?}", r.json);
    }
    let html = server.get("/").await.text().await.unwrap();
    assert!(html.contains("auth-disabled-banner"));
    // A signed-in user may set a new password without the current one (recovery).
    let a = server.login("admin", TEST_PASSWORD).await;
    let r = server
        .call(
            &a,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"new_password": "recovered password"})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    let enable = server
        .call(&Auth::None, "POST", "/api/v1/auth/enable", None)
        .await;
    assert_eq!(
        enable.status, 409,
        "the env override cannot be switched on at runtime"
    );
    drop(admin);
}

#[tokio::test]
async fn admin_can_switch_auth_off_and_on_with_audit_and_banner() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    assert_eq!(
        server
            .call(&Auth::None, "GET", "/api/v1/users", None)
            .await
            .status,
        401
    );
    assert_eq!(
        server
            .call(&admin, "POST", "/api/v1/auth/disable", None)
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&Auth::None, "GET", "/api/v1/users", None)
            .await
            .status,
        200
    );
    let status = server
        .call(&Auth::None, "GET", "/api/v1/auth/status", None)
        .await;
    assert_eq!(status.json["auth_enabled"], false);
    assert!(
        server
            .get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("auth-disabled-banner")
    );
    assert_eq!(
        server
            .call(&Auth::None, "POST", "/api/v1/auth/enable", None)
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&Auth::None, "GET", "/api/v1/users", None)
            .await
            .status,
        401
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=auth.", None)
        .await;
    let events: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"auth.disable") && events.contains(&"auth.enable"),
        "{events:?}"
    );
    // The switch survives a restart.
    assert_eq!(
        server
            .call(&admin, "POST", "/api/v1/auth/disable", None)
            .await
            .status,
        204
    );
    let server = server.restart(Vec::new()).await;
    assert_eq!(
        server
            .call(&Auth::None, "GET", "/api/v1/users", None)
            .await
            .status,
        200
    );
}

/// Issue 13, finding 14: the first administrator could be created with `password`, and a
/// password could be "changed" to itself. Every path that sets a password refuses common and
/// leaked passwords, and the current one.
#[tokio::test]
async fn common_and_unchanged_passwords_are_refused_on_every_path() {
    let server = TestServer::spawn().await;
    let setup = |password: &str| {
        server.call(
            &Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(json!({"setup_code": server.setup_code(), "username": "admin", "password": password})),
        )
    };
    for weak in ["password", "Password1!", "qwertyuiop", "printwarden"] {
        let a = setup(weak).await;
        assert_eq!(a.status, 400, "{weak}: {:?}", a.json);
        assert!(a.message().contains("too easy to guess"), "{}", a.message());
    }
    // The code was right all along and is not spent: a good password claims the instance.
    let a = setup(TEST_PASSWORD).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let admin = Auth::Cookie(a.session_cookie().unwrap());

    let change = |current: &str, new: &str| {
        server.call(
            &admin,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": current, "new_password": new})),
        )
    };
    let same = change(TEST_PASSWORD, TEST_PASSWORD).await;
    assert_eq!(same.status, 400, "{:?}", same.json);
    assert!(
        same.message().contains("same as the current"),
        "{}",
        same.message()
    );
    let common = change(TEST_PASSWORD, "iloveyou123").await;
    assert_eq!(common.status, 400, "{:?}", common.json);
    // Neither refusal counted as a wrong current password: the change still goes through.
    let ok = change(TEST_PASSWORD, "a brand new secret").await;
    assert_eq!(ok.status, 204, "{:?}", ok.json);
    let admin = Auth::Cookie(ok.session_cookie().unwrap());

    // An administrator setting someone's password: not a common one, not the current one.
    let viewers = server.group_id(&admin, "Viewers").await;
    let ida = server.create_user(&admin, "ida", &[viewers]).await;
    let ida_path = format!("/api/v1/users/{ida}");
    let set = |password: &str| {
        server.call(
            &admin,
            "PATCH",
            &ida_path,
            Some(json!({"password": password})),
        )
    };
    for refused in ["football", TEST_PASSWORD] {
        let a = set(refused).await;
        assert_eq!(a.status, 400, "{refused}: {:?}", a.json);
    }
    let a = set("reset by admin 1").await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    server.login("ida", "reset by admin 1").await;
    // Creating a user with a common password is refused as well.
    let a = server
        .call(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "jo", "password": "sunshine1", "group_ids": [viewers]})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
}

/// Issue 13, finding 14: `аdmin` (Cyrillic а) and `ＡＤＭＩＮ` (fullwidth) were accepted as new
/// usernames next to `admin`.
#[tokio::test]
async fn look_alike_usernames_are_refused_or_meet_the_original() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let create = |name: &str| {
        server.call(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": name, "password": TEST_PASSWORD, "group_ids": [viewers]})),
        )
    };
    let fullwidth = create("ＡＤＭＩＮ").await;
    assert_eq!(
        fullwidth.status, 409,
        "folds into admin: {:?}",
        fullwidth.json
    );
    for (name, why) in [
        ("\u{0430}dmin", "Cyrillic а"),
        ("adm\u{0456}n", "Cyrillic і"),
        ("admin\u{200B}", "zero-width space"),
        ("\u{202E}nimda", "right-to-left override"),
    ] {
        let a = create(name).await;
        assert_eq!(a.status, 400, "{why}: {:?}", a.json);
    }
    // The same rules let an ordinary name through, folded to its ASCII form.
    let a = create("ｏｐｅｒａｔｏｒ").await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    assert_eq!(a.json["username"], "operator");
    server.login("ＯＰＥＲＡＴＯＲ", TEST_PASSWORD).await;
}

/// Issue 13, finding 14: names people type and others read refuse bidi overrides and other
/// invisible characters.
#[tokio::test]
async fn names_with_invisible_characters_are_refused() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    for (path, good) in [
        (
            "/api/v1/groups",
            json!({"name": "Night shift", "permissions": []}),
        ),
        ("/api/v1/locations", json!({"name": "Hall B"})),
    ] {
        for hidden in ['\u{202E}', '\u{2067}', '\u{200B}', '\u{FEFF}'] {
            let mut bad = good.clone();
            bad["name"] = json!(format!("Hall{hidden}B"));
            let a = server.call(&admin, "POST", path, Some(bad)).await;
            assert_eq!(a.status, 400, "{path} {hidden:?}: {:?}", a.json);
            assert!(a.message().contains("invisible"), "{}", a.message());
        }
        let a = server.call(&admin, "POST", path, Some(good)).await;
        assert_eq!(a.status, 201, "{path}: {:?}", a.json);
    }
}
