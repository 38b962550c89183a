//! Users, groups and the invariants around them (S1, S2): validation, revocation on every
//! change of rights, last-administrator protection on every path, items kept or deleted.

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;

#[tokio::test]
async fn users_are_validated_with_specific_messages() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let post = |body| server.call(&admin, "POST", "/api/v1/users", Some(body));
    let cases = [
        (
            json!({"username": "a b", "password": TEST_PASSWORD}),
            400,
            "letters, digits",
        ),
        (
            json!({"username": "", "password": TEST_PASSWORD}),
            400,
            "must not be empty",
        ),
        (
            json!({"username": "bob", "password": "short"}),
            400,
            "at least 8",
        ),
        (
            json!({"username": "bob", "password": "Bob"}),
            400,
            "at least 8",
        ),
        (
            json!({"username": "bobby", "password": "BOBBY", }),
            400,
            "at least",
        ),
        (
            json!({"username": "bob", "password": TEST_PASSWORD, "email": "nope"}),
            400,
            "email",
        ),
        (
            json!({"username": "bob", "password": TEST_PASSWORD, "group_ids": [999]}),
            400,
            "no group with id 999",
        ),
        (
            json!({"username": "bob", "password": TEST_PASSWORD, "colour": "red"}),
            400,
            "colour",
        ),
        (
            json!({"username": "ADMIN", "password": TEST_PASSWORD}),
            409,
            "already taken",
        ),
    ];
    for (body, status, needle) in cases {
        let a = post(body.clone()).await;
        assert_eq!(a.status, status, "{body}: {:?}", a.json);
        assert!(a.message().contains(needle), "{body}: {}", a.message());
    }
    let ok =
        post(json!({"username": "Bob", "password": TEST_PASSWORD, "email": "bob@example.com"}))
            .await;
    assert_eq!(ok.status, 201);
    assert_eq!(ok.json["username"], "Bob");
    assert!(ok.json.get("password_hash").is_none() && ok.json.get("password").is_none());
    let dup =
        post(json!({"username": "other", "password": TEST_PASSWORD, "email": "BOB@example.com"}))
            .await;
    assert_eq!(dup.status, 409);
    assert!(dup.message().contains("email"), "{}", dup.message());
    let list = server.call(&admin, "GET", "/api/v1/users", None).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
    assert!(list.json["next"].is_null());
}

#[tokio::test]
async fn any_change_of_rights_revokes_the_users_sessions() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let crew = server.create_group(&admin, "Crew", &["audit:read"]).await;
    let uid = server.create_user(&admin, "carl", &[crew]).await;

    // 1. A permission edit of one of their groups.
    let carl = server.login("carl", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/audit", None)
            .await
            .status,
        200
    );
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{crew}"),
            Some(json!({"permissions": ["audit:read", "groups:read"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401,
        "old cookie dead after a group edit"
    );
    let carl = server.login("carl", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/groups", None)
            .await
            .status,
        200,
        "new right applies"
    );

    // 2. A scope change of their group.
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{crew}"),
            Some(json!({"scope": {"printers": [1]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["scope"]["printers"], json!([1]));
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );

    // 3. Membership removal and addition.
    let carl = server.login("carl", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/groups/{crew}/members/{uid}"),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );
    let carl = server.login("carl", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/audit", None)
            .await
            .status,
        403
    );
    assert_eq!(
        server
            .call(
                &admin,
                "PUT",
                &format!("/api/v1/groups/{crew}/members/{uid}"),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );

    // 4. Admin password reset.
    let carl = server.login("carl", TEST_PASSWORD).await;
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{uid}"),
            Some(json!({"password": "reset by admin 1"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );

    // 5. Disable (and a disabled user cannot sign in).
    let carl = server.login("carl", "reset by admin 1").await;
    assert_eq!(
        server
            .call(
                &admin,
                "PATCH",
                &format!("/api/v1/users/{uid}"),
                Some(json!({"disabled": true}))
            )
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );
    let login = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "carl", "password": "reset by admin 1"})),
        )
        .await;
    assert_eq!(login.status, 401);

    // 6. Group deletion.
    assert_eq!(
        server
            .call(
                &admin,
                "PATCH",
                &format!("/api/v1/users/{uid}"),
                Some(json!({"disabled": false}))
            )
            .await
            .status,
        200
    );
    let carl = server.login("carl", "reset by admin 1").await;
    assert_eq!(
        server
            .call(&admin, "DELETE", &format!("/api/v1/groups/{crew}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        401
    );

    // An unrelated edit (email) does not sign anyone out.
    let carl = server.login("carl", "reset by admin 1").await;
    assert_eq!(
        server
            .call(
                &admin,
                "PATCH",
                &format!("/api/v1/users/{uid}"),
                Some(json!({"email": "c@example.com"}))
            )
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .call(&carl, "GET", "/api/v1/auth/me", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_last_administrator_cannot_be_removed_by_any_path() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let me = server
        .call(&admin, "GET", "/api/v1/auth/me", None)
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let admins = server.group_id(&admin, "Administrators").await;

    // Self-service paths: delete and disable yourself.
    let r = server
        .call(&admin, "DELETE", &format!("/api/v1/users/{me}"), None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.message().contains("your own")),
        (409, true),
        "{:?}",
        r.json
    );
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{me}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.json);
    // Leaving Administrators, directly or by replacing one's groups.
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/groups/{admins}/members/{me}"),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.json);
    assert!(
        r.message().contains("no active administrator"),
        "{}",
        r.message()
    );
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{me}"),
            Some(json!({"group_ids": []})),
        )
        .await;
    assert_eq!(r.status, 409);

    // A member of the editable `admin` preset holds every permission today, but is no
    // administrator for the guard (finding 9: only active members of `Administrators` can
    // always grant every right back), so the real one still cannot leave.
    let preset = server.group_id(&admin, "admin").await;
    server.create_user(&admin, "pat", &[preset]).await;
    let pat = server.login("pat", TEST_PASSWORD).await;
    let r = server
        .call(
            &pat,
            "DELETE",
            &format!("/api/v1/groups/{admins}/members/{me}"),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{:?}", r.json);

    // Make "cleo" an administrator, then the only one.
    let cleo_id = server.create_user(&admin, "cleo", &[admins]).await;
    let cleo = server.login("cleo", TEST_PASSWORD).await;
    let r = server
        .call(
            &cleo,
            "DELETE",
            &format!("/api/v1/groups/{admins}/members/{me}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    // Now she cannot leave either.
    assert_eq!(
        server
            .call(
                &cleo,
                "DELETE",
                &format!("/api/v1/groups/{admins}/members/{cleo_id}"),
                None
            )
            .await
            .status,
        409
    );

    // A helper who may only delete / update users cannot remove her: she holds rights he
    // does not, so the rank rule refuses him before the last-administrator rule is reached.
    let deleters = server
        .create_group(
            &cleo,
            "Deleters",
            &["users:delete", "users:update", "users:read"],
        )
        .await;
    server.create_user(&cleo, "dave", &[deleters]).await;
    let dave = server.login("dave", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(&dave, "DELETE", &format!("/api/v1/users/{cleo_id}"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        server
            .call(
                &dave,
                "PATCH",
                &format!("/api/v1/users/{cleo_id}"),
                Some(json!({"disabled": true}))
            )
            .await
            .status,
        403
    );
    // Nothing changed: cleo is still an administrator.
    let cleo = server.login("cleo", TEST_PASSWORD).await;
    let mine = server.call(&cleo, "GET", "/api/v1/auth/me", None).await;
    assert!(
        mine.json["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "groups:update")
    );
    // Once someone else is an administrator again, cleo can be deleted (by an equal).
    assert_eq!(
        server
            .call(
                &cleo,
                "PUT",
                &format!("/api/v1/groups/{admins}/members/{me}"),
                None
            )
            .await
            .status,
        204
    );
    let admin = server.login("admin", TEST_PASSWORD).await;
    assert_eq!(
        server
            .call(&admin, "DELETE", &format!("/api/v1/users/{cleo_id}"), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn nobody_grants_a_right_they_do_not_hold() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let managers = server
        .create_group(
            &admin,
            "Managers",
            &["groups:create", "groups:read", "groups:update"],
        )
        .await;
    server.create_user(&admin, "mia", &[managers]).await;
    let mia = server.login("mia", TEST_PASSWORD).await;
    let r = server
        .call(
            &mia,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Sneaky", "permissions": ["users:delete"]})),
        )
        .await;
    assert_eq!(r.status, 403);
    let ok = server
        .call(
            &mia,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Readers", "permissions": ["groups:read"]})),
        )
        .await;
    assert_eq!(ok.status, 201);
    let admins = server.group_id(&admin, "Administrators").await;
    let mia_id = server.call(&mia, "GET", "/api/v1/auth/me", None).await.json["id"]
        .as_i64()
        .unwrap();
    let r = server
        .call(
            &mia,
            "PUT",
            &format!("/api/v1/groups/{admins}/members/{mia_id}"),
            None,
        )
        .await;
    assert_eq!(
        r.status, 403,
        "joining a group with more rights than one holds"
    );
    // Moving where someone else's rights reach is granting them too.
    let readers = server
        .create_group(&admin, "User readers", &["users:read"])
        .await;
    let r = server
        .call(
            &mia,
            "PATCH",
            &format!("/api/v1/groups/{readers}"),
            Some(json!({"scope": {"printers": [1]}})),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "changing the scope of rights one does not hold"
    );
}

#[tokio::test]
async fn a_user_manager_cannot_act_on_anyone_above_their_rank() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let managers = server
        .create_group(
            &admin,
            "User managers",
            // Everything a viewer holds too, so a viewer is within the manager's rank.
            &[
                "users:read",
                "users:update",
                "users:delete",
                "groups:read",
                "printers:read",
                "locations:read",
                "camera:view",
                "archives:read_own",
                "library:read_own",
                "queue:read_own",
                "projects:read",
            ],
        )
        .await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let admins = server.group_id(&admin, "Administrators").await;
    let uma = server.create_user(&admin, "uma", &[managers]).await;
    let vic = server.create_user(&admin, "vic", &[viewers]).await;
    let boss = server.create_user(&admin, "boss", &[admins]).await;
    let uma_auth = server.login("uma", TEST_PASSWORD).await;

    let patch = |id: i64, body: serde_json::Value| {
        let uma_auth = &uma_auth;
        let server = &server;
        async move {
            server
                .call(
                    uma_auth,
                    "PATCH",
                    &format!("/api/v1/users/{id}"),
                    Some(body),
                )
                .await
                .status
        }
    };
    // Taking over or locking out an administrator.
    assert_eq!(
        patch(boss, json!({"password": "a whole new passphrase"})).await,
        403
    );
    assert_eq!(patch(boss, json!({"disabled": true})).await, 403);
    assert_eq!(patch(boss, json!({"email": "mine@example.org"})).await, 403);
    let r = server
        .call(
            &uma_auth,
            "DELETE",
            &format!("/api/v1/users/{boss}?items=keep"),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // Climbing: into Administrators, by oneself (admin routes never target oneself: 409) or
    // through a friend.
    assert_eq!(
        patch(uma, json!({"group_ids": [managers, admins]})).await,
        409
    );
    assert_eq!(patch(vic, json!({"group_ids": [admins]})).await, 403);
    // The admin is untouched and still signs in.
    server.login("boss", TEST_PASSWORD).await;

    // Within their rank the manager works normally.
    assert_eq!(patch(vic, json!({"disabled": true})).await, 200);
    assert_eq!(patch(vic, json!({"group_ids": [managers]})).await, 200);
}

#[tokio::test]
async fn re_sending_unchanged_values_keeps_the_users_sessions() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let vic = server.create_user(&admin, "vic", &[viewers]).await;
    let vic_auth = server.login("vic", TEST_PASSWORD).await;
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{vic}"),
            Some(json!({"disabled": false, "group_ids": [viewers, viewers]})),
        )
        .await;
    assert_eq!(r.status, 200);
    let me = server.call(&vic_auth, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(
        me.status, 200,
        "an edit that changes nothing signed vic out"
    );
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{vic}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    let me = server.call(&vic_auth, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.status, 401);
}

/// `GET /auth/me` is served from the principal cache; profile edits must reach it at once
/// without signing anyone out.
#[tokio::test]
async fn profile_edits_show_in_me_at_once_and_keep_the_session() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let crew = server
        .create_group(&admin, "Night crew", &["users:read"])
        .await;
    let vic = server.create_user(&admin, "vic", &[crew]).await;
    let vic_auth = server.login("vic", TEST_PASSWORD).await;
    let me = server.call(&vic_auth, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.json["groups"][0]["name"], "Night crew");
    assert_eq!(me.json["email"], serde_json::Value::Null);

    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{vic}"),
            Some(json!({"email": "vic@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{crew}"),
            Some(json!({"name": "Day crew"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);

    let me = server.call(&vic_auth, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.status, 200, "profile edits do not sign out");
    assert_eq!(me.json["email"], "vic@example.com");
    assert_eq!(me.json["groups"][0]["name"], "Day crew");
    assert_eq!(me.json["permissions"], json!(["users:read"]));
}

#[tokio::test]
async fn groups_system_rules_clone_and_validation() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let list = server.call(&admin, "GET", "/api/v1/groups", None).await;
    let names: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for seeded in [
        "Administrators",
        "Operators",
        "Viewers",
        "admin",
        "controls",
        "print",
        "queue",
        "view",
    ] {
        assert!(names.contains(&seeded), "{seeded} missing from {names:?}");
    }
    let admins = server.group_id(&admin, "Administrators").await;
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{admins}"),
            Some(json!({"name": "Admins"})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        server
            .call(&admin, "DELETE", &format!("/api/v1/groups/{admins}"), None)
            .await
            .status,
        409
    );
    let all = server
        .call(&admin, "GET", &format!("/api/v1/groups/{admins}"), None)
        .await;

    let copy = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/groups/{admins}/clone"),
            None,
        )
        .await;
    assert_eq!(copy.status, 201, "{:?}", copy.json);
    assert_eq!(copy.json["name"], "Administrators (copy)");
    assert_eq!(copy.json["is_system"], false);
    assert_eq!(copy.json["permissions"], all.json["permissions"]);
    let named = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/groups/{admins}/clone"),
            Some(json!({"name": "Night shift"})),
        )
        .await;
    assert_eq!(named.json["name"], "Night shift");
    let id = copy.json["id"].as_i64().unwrap();
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{id}"),
            Some(json!({"name": "night SHIFT"})),
        )
        .await;
    assert_eq!(r.status, 409, "group names are unique case-insensitively");
    let bad = [
        (
            json!({"name": "x", "permissions": ["printers:fly"]}),
            "unknown permission",
        ),
        (
            json!({"name": "x", "scope": {"locations": [], "printers": []}}),
            "at least one location or printer",
        ),
        (
            json!({"name": "x", "scope": {"printers": [0]}}),
            "positive integer",
        ),
        (json!({"name": ""}), "must not be empty"),
    ];
    for (body, needle) in bad {
        let a = server
            .call(&admin, "POST", "/api/v1/groups", Some(body.clone()))
            .await;
        assert_eq!(a.status, 400, "{body}");
        assert!(a.message().contains(needle), "{body}: {}", a.message());
    }
    let scoped = server
        .call(&admin, "POST", "/api/v1/groups", Some(json!({"name": "Line A", "permissions": ["groups:read"], "scope": {"locations": [2]}})))
        .await;
    assert_eq!(scoped.status, 201);
    let sid = scoped.json["id"].as_i64().unwrap();
    let cleared = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{sid}"),
            Some(json!({"scope": null})),
        )
        .await;
    assert!(cleared.json["scope"].is_null(), "{:?}", cleared.json);
    assert_eq!(
        server
            .call(&admin, "GET", "/api/v1/groups/99999", None)
            .await
            .status,
        404
    );
    let perms = server
        .call(&admin, "GET", "/api/v1/permissions", None)
        .await;
    let total: usize = perms
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["permissions"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, pw_domain::Permission::ALL.len());
}

/// User deletion follows the registry of what names a user (`pw_app::owned::USER_LINKS`), not
/// the schema: a table that merely has a `created_by` column is not swept (finding 11 deleted
/// printers and webhooks that way), and the delete dialog counts the registry's content kinds.
#[tokio::test]
async fn deleting_a_user_follows_the_registry_not_every_created_by_column() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .connect(&server.database_url)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE widgets (id BIGINT PRIMARY KEY, created_by BIGINT)")
        .execute(&pool)
        .await
        .unwrap();
    let keep_id = server.create_user(&admin, "kim", &[]).await;
    let del_id = server.create_user(&admin, "del", &[]).await;
    for (row, owner) in [(1, keep_id), (2, keep_id), (3, del_id)] {
        sqlx::query("INSERT INTO widgets (id, created_by) VALUES ($1, $2)")
            .bind(row)
            .bind(owner)
            .execute(&pool)
            .await
            .unwrap();
    }
    let preview = server
        .call(&admin, "GET", &format!("/api/v1/users/{keep_id}"), None)
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.json);
    let kinds: Vec<&str> = preview.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    let registry: Vec<&str> = pw_app::owned::USER_LINKS
        .iter()
        .filter_map(|l| match l.fate {
            pw_app::owned::Fate::Content(kind) => Some(kind.name),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, registry, "one line per content kind of the registry");
    let bad = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{keep_id}?items=maybe"),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    for (id, items) in [(keep_id, "keep"), (del_id, "delete")] {
        let done = server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/users/{id}?items={items}"),
                None,
            )
            .await;
        assert_eq!(done.status, 204, "{items}: {:?}", done.json);
        assert_eq!(
            server
                .call(&admin, "GET", &format!("/api/v1/users/{id}"), None)
                .await
                .status,
            404
        );
    }
    let rows: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, created_by FROM widgets ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(1, Some(keep_id)), (2, Some(keep_id)), (3, Some(del_id))],
        "a table outside the registry is not touched by user deletion"
    );
    pool.close().await;
}

/// Every column of the live schema that names a user is in the registry with its fate, and
/// every registry entry exists: a new table naming a user cannot be forgotten by user deletion
/// (or swept by it) without this test failing. Runs on both backends.
#[tokio::test]
async fn every_column_naming_a_user_is_in_the_registry_of_owned_kinds() {
    let server = TestServer::spawn().await;
    let store = pw_store::Store::connect(&server.database_url)
        .await
        .unwrap();
    let columns = store.schema_columns().await.unwrap();
    let in_schema: std::collections::BTreeSet<(String, String)> = columns
        .iter()
        .filter(|(_, c)| pw_app::owned::names_a_user(c))
        .cloned()
        .collect();
    let registry: std::collections::BTreeSet<(String, String)> = pw_app::owned::USER_LINKS
        .iter()
        .map(|l| (l.table.to_owned(), l.column.to_owned()))
        .collect();
    assert_eq!(in_schema, registry);
    for l in pw_app::owned::USER_LINKS {
        if let pw_app::owned::Fate::History { name_column } = l.fate {
            assert!(
                columns.contains(&(l.table.to_owned(), name_column.to_owned())),
                "{}.{name_column} keeps the name",
                l.table
            );
        }
    }
    store.close().await;
}

#[tokio::test]
async fn a_viewer_gets_403_on_every_admin_route_and_no_admin_navigation() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "vic", &[viewers]).await;
    let vic = server.login("vic", TEST_PASSWORD).await;
    let mut checked = 0;
    for row in pw_http::ROUTES {
        let Some(permission) = row.access.permission() else {
            continue;
        };
        if pw_domain::SystemGroup::Viewers
            .permissions()
            .contains(&permission)
        {
            continue;
        }
        let path = row
            .path
            .replace("{id}", "1")
            .replace("{user_id}", "1")
            .replace("{*file}", "x");
        let body = matches!(row.method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let a = server.call(&vic, row.method, &path, body).await;
        assert_eq!(
            a.status, 403,
            "{} {} answered {} to a viewer",
            row.method, row.path, a.status
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes checked");
    let page = server
        .client
        .get(server.url("/account"))
        .header(
            "cookie",
            match &vic {
                Auth::Cookie(c) => c.clone(),
                _ => unreachable!(),
            },
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for admin_link in ["href=\"/users\"", "href=\"/groups\"", "href=\"/audit\""] {
        assert!(!html.contains(admin_link), "viewer sees {admin_link}");
    }
}

#[tokio::test]
async fn protected_pages_redirect_anonymous_visitors_to_login() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    for path in ["/account", "/users", "/groups", "/groups/1", "/audit"] {
        let r = server.get(path).await;
        assert_eq!(r.status(), 303, "{path}");
        let location = r.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("/login?next=%2F") || location.starts_with("/login?next=/"),
            "{path} → {location}"
        );
    }
}
