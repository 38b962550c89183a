//! The one grant rule and "a credential carries its bounds" (issue 13, findings 1, 3, 9, 10 and
//! the route-table property): nobody hands out a right they lack — creating users, editing
//! users, groups and membership, API keys, camera tokens, tickets, webhook filters — and
//! admin routes never target the caller's own account.
//!
//! The property test drives every rights-giving row of `pw_http::ROUTES` with principals that
//! hold ONE permission each (a session, and an API key with that one scope) and asserts that
//! nothing they managed to create or change holds a right they lack; the route table is
//! checked against the list, so a new state-changing route must be classified here.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::SinkExt;
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::ws;

/// A group with exactly these permissions and a user in it, signed in.
async fn holder(server: &TestServer, admin: &Auth, name: &str, perms: &[&str]) -> (i64, Auth) {
    let group = server
        .create_group(admin, &format!("{name} group"), perms)
        .await;
    let id = server.create_user(admin, name, &[group]).await;
    (id, server.login(name, TEST_PASSWORD).await)
}

/// An API key of `owner` with these scopes (and printer list); returns (id, key).
async fn key(
    server: &TestServer,
    owner: &Auth,
    scopes: &[&str],
    printers: Option<&[i64]>,
) -> (i64, Auth) {
    let mut body = json!({"name": "k", "scopes": scopes});
    if let Some(p) = printers {
        body["printer_ids"] = json!(p);
    }
    let made = server
        .call(owner, "POST", "/api/v1/api-keys", Some(body))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    (
        made.json["id"].as_i64().unwrap(),
        Auth::Key(made.json["key"].as_str().unwrap().to_owned()),
    )
}

/// A printer row that never connects (only its existence matters here).
async fn offline_printer(server: &TestServer, admin: &Auth, n: u32) -> i64 {
    let r = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": format!("p{n}"), "serial": format!("01P00A00000{n:04}"),
                        "host": "127.0.0.1", "mqtt_port": 1, "camera_port": 1,
                        "access_code": "12345678"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    r.json["id"].as_i64().unwrap()
}

async fn me(server: &TestServer, auth: &Auth) -> i64 {
    server.call(auth, "GET", "/api/v1/auth/me", None).await.json["id"]
        .as_i64()
        .unwrap()
}

async fn ticket(server: &TestServer, auth: &Auth, body: Value) -> pw_testkit::Answer {
    server
        .call(auth, "POST", "/api/v1/tickets", Some(body))
        .await
}

// ---------------------------------------------------------------------------------------------
// Finding 1: escalation at creation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn f1_users_create_cannot_create_a_user_in_a_group_with_rights_the_creator_lacks() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let admins = server.group_id(&admin, "Administrators").await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let (_, session) = holder(&server, &admin, "creator", &["users:create"]).await;
    let creators = server.group_id(&admin, "creator group").await;
    let (_, owner) = holder(
        &server,
        &admin,
        "keyowner",
        &["users:create", "api_keys:create"],
    )
    .await;
    let (_, api_key) = key(&server, &owner, &["users:create"], None).await;
    for (who, auth) in [("session", &session), ("key", &api_key)] {
        // The door is open: a user without groups, or in a group whose rights the creator
        // holds, is created.
        for (n, groups) in [(0, vec![]), (1, vec![creators])] {
            let ok = server
                .call(
                    auth,
                    "POST",
                    "/api/v1/users",
                    Some(
                        json!({"username": format!("fine-{who}-{n}"), "password": TEST_PASSWORD,
                                "group_ids": groups}),
                    ),
                )
                .await;
            assert_eq!(ok.status, 201, "{who}: {:?}", ok.json);
        }
        // …but not into Administrators, nor Viewers (printers:read, camera:view …).
        for g in [admins, viewers] {
            let refused = server
                .call(
                    auth,
                    "POST",
                    "/api/v1/users",
                    Some(
                        json!({"username": format!("esc-{who}-{g}"), "password": TEST_PASSWORD,
                                "group_ids": [g]}),
                    ),
                )
                .await;
            assert_eq!(
                refused.status, 403,
                "{who} into group {g}: {:?}",
                refused.json
            );
        }
    }
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let names: Vec<&str> = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("esc-")), "{names:?}");
    // An administrator may.
    server.create_user(&admin, "second-admin", &[admins]).await;
}

// ---------------------------------------------------------------------------------------------
// Finding 3: tickets carry the bounds of the credential that minted them
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn f3_tickets_carry_the_scopes_printer_list_and_life_of_the_minting_key() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let a = offline_printer(&server, &admin, 1).await;
    let b = offline_printer(&server, &admin, 2).await;

    // The administrator's session may have both kinds of ticket (the check is live).
    assert_eq!(
        ticket(&server, &admin, json!({"purpose": "events"}))
            .await
            .status,
        201
    );
    assert_eq!(
        ticket(
            &server,
            &admin,
            json!({"purpose": "camera", "printer_id": a})
        )
        .await
        .status,
        201
    );

    // A key that may only create keys gets no events ticket (it used to stream every printer).
    let (_, keys_only) = key(&server, &admin, &["api_keys:create"], None).await;
    let r = ticket(&server, &keys_only, json!({"purpose": "events"})).await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    // A key without camera:view gets no camera ticket.
    let (_, readonly) = key(&server, &admin, &["printers:read"], None).await;
    let r = ticket(
        &server,
        &readonly,
        json!({"purpose": "camera", "printer_id": a}),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.json);

    // A key limited to printer a: its events ticket shows printer a only.
    let (_, only_a) = key(&server, &admin, &["printers:read"], Some(&[a])).await;
    let t = ticket(&server, &only_a, json!({"purpose": "events"})).await;
    assert_eq!(t.status, 201, "{:?}", t.json);
    let path = format!(
        "/api/v1/events?ticket={}",
        t.json["ticket"].as_str().unwrap()
    );
    let mut socket = ws(&server, &path, None, true).await.unwrap();
    let snapshot = next_text(&mut socket).await;
    let seen: Vec<i64> = snapshot["printers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, vec![a], "printer {b} is outside the key's list");
    // …and no camera ticket for printer b (outside the list: not found).
    let (_, cam_a) = key(
        &server,
        &admin,
        &["printers:read", "camera:view"],
        Some(&[a]),
    )
    .await;
    let r = ticket(
        &server,
        &cam_a,
        json!({"purpose": "camera", "printer_id": b}),
    )
    .await;
    assert_eq!(r.status, 404, "{:?}", r.json);

    // A ticket of a key revoked before redemption grants nothing.
    let (id, doomed) = key(&server, &admin, &["printers:read"], None).await;
    let t = ticket(&server, &doomed, json!({"purpose": "events"})).await;
    assert_eq!(t.status, 201);
    let revoked = server
        .call(&admin, "DELETE", &format!("/api/v1/api-keys/{id}"), None)
        .await;
    assert!(revoked.status.is_success(), "{:?}", revoked.json);
    let path = format!(
        "/api/v1/events?ticket={}",
        t.json["ticket"].as_str().unwrap()
    );
    let refused = ws(&server, &path, None, true).await.unwrap_err();
    assert!(
        matches!(&refused, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401),
        "{refused:?}"
    );
}

async fn next_text(socket: &mut crate::support::Socket) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn f3_an_events_ticket_does_not_open_a_camera_by_first_message() {
    let setup = crate::camera::setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    let path = format!("/api/v1/printers/{id}/camera/ws");
    let first = |t: &str| Message::Text(json!({"token": t}).to_string().into());

    // A camera ticket by first message streams (the path is live)…
    let t = ticket(
        server,
        &admin,
        json!({"purpose": "camera", "printer_id": id}),
    )
    .await;
    let mut s = ws(server, &path, None, true).await.unwrap();
    s.send(first(t.json["ticket"].as_str().unwrap()))
        .await
        .unwrap();
    assert!(crate::camera::jpeg(
        &crate::camera::next(&mut s).await.unwrap()
    ));

    // …an events ticket of the same administrator does not.
    let t = ticket(server, &admin, json!({"purpose": "events"})).await;
    let mut s = ws(server, &path, None, true).await.unwrap();
    s.send(first(t.json["ticket"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        crate::camera::next(&mut s).await,
        Err(Some(CloseCode::Library(4403)))
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 9: the last-administrator guard counts only real administrators
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn f9_holding_users_and_groups_update_does_not_make_an_administrator() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let admin_id = me(&server, &admin).await;
    let admins = server.group_id(&admin, "Administrators").await;
    let (manager, _) = holder(
        &server,
        &admin,
        "manager",
        &["users:update", "groups:update"],
    )
    .await;
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let is_admin: BTreeMap<i64, bool> = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_i64().unwrap(), u["is_admin"].as_bool().unwrap()))
        .collect();
    assert!(is_admin[&admin_id]);
    assert!(!is_admin[&manager], "the badge follows the guard");

    let leave = format!("/api/v1/groups/{admins}/members/{admin_id}");
    let refused = server.call(&admin, "DELETE", &leave, None).await;
    assert_eq!(refused.status, 409, "{:?}", refused.json);
    // With a second member of Administrators, leaving works (the guard is not a wall).
    server.create_user(&admin, "second", &[admins]).await;
    let left = server.call(&admin, "DELETE", &leave, None).await;
    assert!(left.status.is_success(), "{:?}", left.json);
}

// ---------------------------------------------------------------------------------------------
// Finding 10: admin routes never target yourself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn f10_admin_routes_refuse_the_callers_own_account() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let admin_id = me(&server, &admin).await;
    let (_, manager) = holder(&server, &admin, "manager", &["users:update"]).await;
    let manager_id = me(&server, &manager).await;
    let other = server.create_user(&admin, "other", &[]).await;

    for (auth, id) in [(&admin, admin_id), (&manager, manager_id)] {
        for (method, path, body) in [
            (
                "PATCH",
                format!("/api/v1/users/{id}"),
                Some(json!({"password": "an entirely new passphrase"})),
            ),
            (
                "PATCH",
                format!("/api/v1/users/{id}"),
                Some(json!({"email": "me@example.com"})),
            ),
            ("POST", format!("/api/v1/users/{id}/mfa/reset"), None),
            ("POST", format!("/api/v1/users/{id}/password-reset"), None),
        ] {
            let r = server.call(auth, method, &path, body).await;
            assert_eq!(r.status, 409, "{method} {path}: {:?}", r.json);
            assert!(r.message().contains("Account page"), "{}", r.message());
        }
    }
    // The same routes work on someone else (the refusal is about the target).
    for (auth, password) in [
        (&admin, "an entirely new passphrase"),
        (&manager, "another entirely new passphrase"),
    ] {
        let r = server
            .call(
                auth,
                "PATCH",
                &format!("/api/v1/users/{other}"),
                Some(json!({ "password": password })),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let r = server
            .call(
                auth,
                "POST",
                &format!("/api/v1/users/{other}/mfa/reset"),
                None,
            )
            .await;
        assert!(r.status.is_success(), "{:?}", r.json);
    }
    // The password really did not change through the admin route.
    server.login("admin", TEST_PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// The property: every rights-giving route, driven by one-permission principals
// ---------------------------------------------------------------------------------------------

/// State-changing rows that give (or take away) rights, each driven below.
const RIGHTS_GIVING: &[(&str, &str)] = &[
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{id}"),
    ("POST", "/api/v1/groups"),
    ("PATCH", "/api/v1/groups/{id}"),
    ("DELETE", "/api/v1/groups/{id}"),
    ("POST", "/api/v1/groups/{id}/clone"),
    ("PUT", "/api/v1/groups/{id}/members/{user_id}"),
    ("DELETE", "/api/v1/groups/{id}/members/{user_id}"),
    ("POST", "/api/v1/api-keys"),
    ("POST", "/api/v1/camera-tokens"),
    ("POST", "/api/v1/tickets"),
    ("POST", "/api/v1/webhooks"),
    ("PATCH", "/api/v1/webhooks/{id}"),
    ("PUT", "/api/v1/settings/ldap"),
    ("POST", "/api/v1/settings/oidc/providers"),
    ("PUT", "/api/v1/settings/oidc/providers/{id}"),
];

/// State-changing rows that give nobody a right, and why. A new route must be listed in one
/// of the two lists, or this test fails.
const NOT_RIGHTS_GIVING: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/auth/setup",
        "creates the first administrator with the one-time code; refused once one exists",
    ),
    ("POST", "/api/v1/auth/login", "signs in as oneself"),
    (
        "POST",
        "/api/v1/cloud/link",
        "links the caller's own Bambu account; grants nothing in printwarden",
    ),
    (
        "POST",
        "/api/v1/cloud/link/verify",
        "second step of the caller's own Bambu sign-in",
    ),
    (
        "DELETE",
        "/api/v1/cloud/link",
        "removes the caller's own Bambu link",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/verify",
        "second step of one's own sign-in",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/email/send",
        "mails one's own sign-in code",
    ),
    (
        "POST",
        "/api/v1/auth/forgot-password",
        "mails a reset link to the account's own address",
    ),
    (
        "POST",
        "/api/v1/auth/reset-password",
        "sets one's own password with the mailed token",
    ),
    ("POST", "/api/v1/auth/logout", "ends one's own session"),
    ("PATCH", "/api/v1/auth/me", "one's own display name"),
    (
        "POST",
        "/api/v1/auth/password",
        "one's own password, with the current one",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/totp/setup",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/totp/enable",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/totp/disable",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/backup-codes/regenerate",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/email/setup",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/email/enable",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/email/disable",
        "one's own second factor",
    ),
    (
        "POST",
        "/api/v1/auth/passkeys/register/options",
        "starts registering one's own passkey",
    ),
    (
        "POST",
        "/api/v1/auth/passkeys/register",
        "one's own passkey",
    ),
    (
        "DELETE",
        "/api/v1/auth/passkeys/{id}",
        "removes one's own passkey",
    ),
    (
        "PATCH",
        "/api/v1/auth/passkeys/{id}",
        "renames one's own passkey",
    ),
    (
        "POST",
        "/api/v1/auth/passkeys/login/options",
        "starts a sign-in ceremony",
    ),
    (
        "POST",
        "/api/v1/auth/passkeys/login",
        "signs in as the passkey's owner",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/passkey/options",
        "second step of one's own sign-in",
    ),
    (
        "POST",
        "/api/v1/auth/mfa/passkey/verify",
        "second step of one's own sign-in",
    ),
    (
        "PUT",
        "/api/v1/auth/mail-preferences",
        "one's own mail preferences",
    ),
    (
        "DELETE",
        "/api/v1/auth/sessions/{id}",
        "ends one's own session",
    ),
    (
        "POST",
        "/api/v1/auth/sessions/revoke-others",
        "ends one's own sessions",
    ),
    (
        "POST",
        "/api/v1/auth/disable",
        "settings:security; switches authentication off (administrator-grade, documented)",
    ),
    (
        "POST",
        "/api/v1/auth/enable",
        "settings:security; switches authentication back on",
    ),
    (
        "PUT",
        "/api/v1/settings/security",
        "instance settings, no rights",
    ),
    (
        "PUT",
        "/api/v1/settings/email",
        "instance settings, no rights",
    ),
    ("POST", "/api/v1/settings/email/test", "sends a test mail"),
    (
        "PUT",
        "/api/v1/settings/email/templates/{name}",
        "mail text",
    ),
    (
        "DELETE",
        "/api/v1/settings/email/templates/{name}",
        "mail text",
    ),
    (
        "POST",
        "/api/v1/settings/email/templates/{name}/preview",
        "renders mail text",
    ),
    (
        "PUT",
        "/api/v1/settings/outbound",
        "outbound allow-list, no rights",
    ),
    (
        "POST",
        "/api/v1/settings/tls/certificate",
        "the HTTPS certificate",
    ),
    (
        "DELETE",
        "/api/v1/settings/tls/certificate",
        "the HTTPS certificate",
    ),
    (
        "POST",
        "/api/v1/system/keys/backup-confirmed",
        "records that a copy of the sealing key exists, no rights",
    ),
    (
        "POST",
        "/api/v1/system/backup",
        "writes nothing: streams a backup (an export, no rights)",
    ),
    (
        "PUT",
        "/api/v1/system/backup/schedule",
        "where and how often backups are written, no rights",
    ),
    (
        "POST",
        "/api/v1/system/backup/schedule/run",
        "writes a backup file outside the database, no rights",
    ),
    (
        "POST",
        "/api/v1/system/backup/schedule/verify",
        "reads a backup file, no rights",
    ),
    (
        "PUT",
        "/api/v1/system/restore/upload",
        "keeps an uploaded backup file in the data directory, no rights",
    ),
    (
        "POST",
        "/api/v1/system/restore/verify",
        "reads the uploaded backup with a passphrase, writes nothing",
    ),
    (
        "POST",
        "/api/v1/system/restore/confirm",
        "replaces every account with the backup's at the restart; only a caller who already holds every right everywhere (Action::Administer) may, so it gives nothing the caller lacks (web_restore tests)",
    ),
    (
        "DELETE",
        "/api/v1/system/restore",
        "removes the uploaded backup, no rights",
    ),
    (
        "POST",
        "/api/v1/users/{id}/mfa/reset",
        "removes a factor; judged by the grant rule against the target's rights",
    ),
    (
        "POST",
        "/api/v1/users/{id}/password-reset",
        "mails the user a link; judged by the grant rule against the target's rights",
    ),
    (
        "DELETE",
        "/api/v1/users/{id}",
        "removes an account; judged by the grant rule against the target's rights",
    ),
    ("DELETE", "/api/v1/api-keys/{id}", "revokes a key"),
    (
        "DELETE",
        "/api/v1/camera-tokens/{id}",
        "revokes a camera token",
    ),
    (
        "POST",
        "/api/v1/printers",
        "a printer row; rights come from groups",
    ),
    ("POST", "/api/v1/printers/check", "a connection test"),
    (
        "PATCH",
        "/api/v1/printers/{id}",
        "a printer row (moving it changes location scopes; needs printers:update on it)",
    ),
    ("DELETE", "/api/v1/printers/{id}", "a printer row"),
    ("POST", "/api/v1/printers/{id}/commands", "printer commands"),
    ("POST", "/api/v1/printers/{id}/print", "starts a print"),
    (
        "POST",
        "/api/v1/printers/{id}/certificate/trust",
        "trusts a printer certificate",
    ),
    (
        "POST",
        "/api/v1/printers/{id}/plate-cleared",
        "marks a printer's plate clear for the queue",
    ),
    (
        "DELETE",
        "/api/v1/printers/{id}/files/{name}",
        "deletes a printer file",
    ),
    ("POST", "/api/v1/locations", "a location row"),
    ("PATCH", "/api/v1/locations/{id}", "a location row"),
    ("DELETE", "/api/v1/locations/{id}", "a location row"),
    ("DELETE", "/api/v1/webhooks/{id}", "stops deliveries"),
    (
        "POST",
        "/api/v1/archives",
        "an archive entry owned by the caller",
    ),
    (
        "PATCH",
        "/api/v1/archives/{id}",
        "notes, tags and rating of an archive entry",
    ),
    ("DELETE", "/api/v1/archives/{id}", "an archive entry"),
    (
        "POST",
        "/api/v1/archives/purge",
        "deletes old archive entries",
    ),
    (
        "POST",
        "/api/v1/archives/{id}/photos",
        "a photo of an archive entry",
    ),
    (
        "DELETE",
        "/api/v1/archives/{id}/photos/{photo_id}",
        "a photo of an archive entry",
    ),
    (
        "POST",
        "/api/v1/library/files",
        "a library file row and its content",
    ),
    (
        "PATCH",
        "/api/v1/library/files/{id}",
        "a library file's name, folder, tags",
    ),
    ("DELETE", "/api/v1/library/files/{id}", "a library file row"),
    ("POST", "/api/v1/library/folders", "a library folder row"),
    (
        "PATCH",
        "/api/v1/library/folders/{id}",
        "a library folder's name and parent",
    ),
    (
        "DELETE",
        "/api/v1/library/folders/{id}",
        "an empty library folder row",
    ),
    ("POST", "/api/v1/library/purge", "deletes library files"),
    (
        "POST",
        "/api/v1/library/files/{id}/print",
        "starts a print of a library file",
    ),
    (
        "POST",
        "/api/v1/archives/{id}/reprint",
        "a queue item owned by the caller",
    ),
    ("POST", "/api/v1/queue", "a queue item owned by the caller"),
    ("PATCH", "/api/v1/queue/{id}", "a queued item's settings"),
    (
        "DELETE",
        "/api/v1/queue/{id}",
        "cancels or deletes a queue item",
    ),
    ("POST", "/api/v1/queue/reorder", "the order of queue items"),
    ("POST", "/api/v1/queue/pause", "stops new starts"),
    ("POST", "/api/v1/queue/resume", "allows new starts again"),
    (
        "POST",
        "/api/v1/queue/ams-mapping",
        "reads only: a proposed mapping",
    ),
    (
        "POST",
        "/api/v1/webhooks/{id}/test",
        "sends a fixed test event, no audit data",
    ),
    (
        "POST",
        "/api/v1/projects",
        "a project row (no owner, no rights)",
    ),
    (
        "PATCH",
        "/api/v1/projects/{id}",
        "a project's name, notes, due date",
    ),
    (
        "DELETE",
        "/api/v1/projects/{id}",
        "a project and its member rows",
    ),
    (
        "POST",
        "/api/v1/projects/{id}/members",
        "member rows naming content the caller can already read",
    ),
    (
        "DELETE",
        "/api/v1/projects/{id}/members/{kind}/{member_id}",
        "a member row",
    ),
    (
        "POST",
        "/api/v1/printer-groups",
        "a printer group row (a queue target, not a scope); printers:update on each member",
    ),
    (
        "PATCH",
        "/api/v1/printer-groups/{id}",
        "a printer group row; printers:update on each printer added or removed",
    ),
    (
        "DELETE",
        "/api/v1/printer-groups/{id}",
        "a printer group row; parks its queued items",
    ),
    (
        "POST",
        "/api/v1/settings/ldap/test",
        "binds and searches the directory with the stored settings; writes nothing",
    ),
    (
        "DELETE",
        "/api/v1/settings/oidc/providers/{id}",
        "removes a provider and its account links; takes sign-in ways away, gives no right",
    ),
    (
        "POST",
        "/api/v1/auth/oidc/{provider_id}/link",
        "starts linking the caller's own account (after its password); the link signs in as the caller, with the caller's rights",
    ),
    (
        "POST",
        "/api/v1/auth/oidc/{provider_id}/unlink",
        "removes one of the caller's own links (after its password)",
    ),
];

#[test]
fn every_state_changing_route_is_classified_for_the_grant_property() {
    let mutating: BTreeSet<(&str, &str)> = pw_http::ROUTES
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/api/"))
        .map(|r| (r.method, r.path))
        .collect();
    let listed: BTreeSet<(&str, &str)> = RIGHTS_GIVING
        .iter()
        .copied()
        .chain(NOT_RIGHTS_GIVING.iter().map(|(m, p, _)| (*m, *p)))
        .collect();
    let unlisted: Vec<_> = mutating.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&mutating).collect();
    assert!(
        unlisted.is_empty(),
        "classify these routes (rights-giving → drive them in the property test): {unlisted:?}"
    );
    assert!(stale.is_empty(), "no longer in the route table: {stale:?}");
}

/// One attempt: a route row, the concrete request, and the rights it would hand out.
struct Attempt {
    row: (&'static str, &'static str),
    method: &'static str,
    path: String,
    body: Option<Value>,
    gives: Vec<String>,
}

#[tokio::test]
async fn one_permission_principals_never_grant_a_right_they_lack_on_any_route() {
    // Hundreds of requests from one address: the API limiter is not under test here.
    let server = TestServer::spawn_env(&[("PRINTWARDEN_RATE_LIMITS", "off")]).await;
    let admin = server.setup_admin().await;
    let admin_id = me(&server, &admin).await;
    let admins = server.group_id(&admin, "Administrators").await;
    let viewers = server.group_id(&admin, "Viewers").await;
    let all: Vec<&str> = pw_domain::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    let every: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
    let printer = offline_printer(&server, &admin, 1).await;
    let victims = server
        .create_group(&admin, "Victims", &["printers:read"])
        .await;
    let victim = server.create_user(&admin, "victim", &[viewers]).await;
    let member = server.create_user(&admin, "member", &[victims]).await;
    let hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "all", "url": "https://hooks.example.com/in", "events": ["*"]})),
        )
        .await;
    assert_eq!(hook.status, 201, "{:?}", hook.json);
    let hook = hook.json["id"].as_i64().unwrap();

    let mut driven: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut successes = 0;
    for (i, p) in all.iter().enumerate() {
        let (self_id, session) = holder(&server, &admin, &format!("s{i}"), &[p]).await;
        let with_keys: Vec<&str> = if *p == "api_keys:create" {
            vec![p]
        } else {
            vec![p, "api_keys:create"]
        };
        let (_, owner) = holder(&server, &admin, &format!("k{i}"), &with_keys).await;
        let (_, api_key) = key(&server, &owner, &[p], None).await;
        let holds: BTreeSet<String> = [(*p).to_owned()].into();
        for (who, auth) in [("s", &session), ("k", &api_key)] {
            let n = format!("{who}{i}");
            let attempts = vec![
                Attempt {
                    row: ("POST", "/api/v1/users"),
                    method: "POST",
                    path: "/api/v1/users".into(),
                    body: Some(
                        json!({"username": format!("u-{n}"), "password": TEST_PASSWORD, "group_ids": [admins]}),
                    ),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("PATCH", "/api/v1/users/{id}"),
                    method: "PATCH",
                    path: format!("/api/v1/users/{victim}"),
                    body: Some(json!({"group_ids": [admins]})),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("POST", "/api/v1/groups"),
                    method: "POST",
                    path: "/api/v1/groups".into(),
                    body: Some(json!({"name": format!("g-{n}"), "permissions": all})),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("PATCH", "/api/v1/groups/{id}"),
                    method: "PATCH",
                    path: format!("/api/v1/groups/{victims}"),
                    body: Some(json!({"permissions": all})),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("DELETE", "/api/v1/groups/{id}"),
                    method: "DELETE",
                    path: format!("/api/v1/groups/{victims}"),
                    body: None,
                    gives: vec!["printers:read".into()],
                },
                Attempt {
                    row: ("POST", "/api/v1/groups/{id}/clone"),
                    method: "POST",
                    path: format!("/api/v1/groups/{admins}/clone"),
                    body: Some(json!({"name": format!("c-{n}")})),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("PUT", "/api/v1/groups/{id}/members/{user_id}"),
                    method: "PUT",
                    path: format!("/api/v1/groups/{admins}/members/{self_id}"),
                    body: None,
                    gives: every.clone(),
                },
                Attempt {
                    row: ("PUT", "/api/v1/groups/{id}/members/{user_id}"),
                    method: "PUT",
                    path: format!("/api/v1/groups/{admins}/members/{victim}"),
                    body: None,
                    gives: every.clone(),
                },
                // A directory group mapped to Administrators hands its rights to whoever
                // the directory names (the caller's own directory account included).
                Attempt {
                    row: ("PUT", "/api/v1/settings/ldap"),
                    method: "PUT",
                    path: "/api/v1/settings/ldap".into(),
                    body: Some(json!({
                        "url": "ldaps://directory.example.com", "bind_dn": "cn=reader,dc=farm",
                        "bind_password": "directory reader password",
                        "user_base": "ou=people,dc=farm", "user_filter": "(uid={username})",
                        "email_attr": "mail", "name_attr": "cn", "enabled": false,
                        "group_mappings": [{"directory_group": "cn=staff,dc=farm",
                                            "group_id": admins}],
                    })),
                    gives: every.clone(),
                },
                // A provider whose groups claim maps to Administrators hands every right to
                // whoever the provider says (the caller's own provider account included). The
                // grant check comes before discovery, so no provider is needed here.
                Attempt {
                    row: ("POST", "/api/v1/settings/oidc/providers"),
                    method: "POST",
                    path: "/api/v1/settings/oidc/providers".into(),
                    body: Some(json!({
                        "name": format!("idp-{n}"), "issuer": "https://idp.example.com",
                        "client_id": "farm", "client_secret": "idp client secret",
                        "groups_claim": "groups",
                        "group_mappings": [{"claim_value": "staff", "group_id": admins}],
                    })),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("PUT", "/api/v1/settings/oidc/providers/{id}"),
                    method: "PUT",
                    path: "/api/v1/settings/oidc/providers/1".into(),
                    body: Some(json!({
                        "name": "idp", "issuer": "https://idp.example.com", "client_id": "farm",
                        "groups_claim": "groups",
                        "group_mappings": [{"claim_value": "staff", "group_id": admins}],
                    })),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("DELETE", "/api/v1/groups/{id}/members/{user_id}"),
                    method: "DELETE",
                    path: format!("/api/v1/groups/{victims}/members/{member}"),
                    body: None,
                    gives: vec!["printers:read".into()],
                },
                Attempt {
                    row: ("POST", "/api/v1/api-keys"),
                    method: "POST",
                    path: "/api/v1/api-keys".into(),
                    body: Some(json!({"name": "wide", "scopes": all})),
                    gives: every.clone(),
                },
                Attempt {
                    row: ("POST", "/api/v1/camera-tokens"),
                    method: "POST",
                    path: "/api/v1/camera-tokens".into(),
                    body: Some(json!({"name": "cam", "days": 30})),
                    gives: vec!["camera:view".into(), "printers:read".into()],
                },
                Attempt {
                    row: ("POST", "/api/v1/tickets"),
                    method: "POST",
                    path: "/api/v1/tickets".into(),
                    body: Some(json!({"purpose": "events"})),
                    gives: vec!["printers:read".into()],
                },
                Attempt {
                    row: ("POST", "/api/v1/tickets"),
                    method: "POST",
                    path: "/api/v1/tickets".into(),
                    body: Some(json!({"purpose": "camera", "printer_id": printer})),
                    gives: vec!["camera:view".into(), "printers:read".into()],
                },
                Attempt {
                    row: ("POST", "/api/v1/webhooks"),
                    method: "POST",
                    path: "/api/v1/webhooks".into(),
                    body: Some(
                        json!({"name": format!("h-{n}"), "url": "https://hooks.example.com/mine", "events": ["*"]}),
                    ),
                    gives: vec!["audit:read".into()],
                },
                Attempt {
                    row: ("PATCH", "/api/v1/webhooks/{id}"),
                    method: "PATCH",
                    path: format!("/api/v1/webhooks/{hook}"),
                    body: Some(json!({"url": "https://attacker.example.com/in"})),
                    gives: vec!["audit:read".into()],
                },
            ];
            for a in attempts {
                driven.insert(a.row);
                let r = server.call(auth, a.method, &a.path, a.body.clone()).await;
                if r.status.is_success() {
                    successes += 1;
                    let lacking: Vec<&String> =
                        a.gives.iter().filter(|g| !holds.contains(*g)).collect();
                    assert!(
                        lacking.is_empty(),
                        "{p} ({who}) {} {} succeeded and handed out {lacking:?}",
                        a.method,
                        a.path
                    );
                }
            }
        }
    }
    // Every rights-giving row of the table was driven.
    let wanted: BTreeSet<(&str, &str)> = RIGHTS_GIVING.iter().copied().collect();
    assert_eq!(driven, wanted);
    // The check is live: printers:read holders do get their events ticket.
    assert!(successes >= 2, "{successes}");

    // Afterwards, the state: only the administrator is in Administrators, the victims keep
    // their groups, the Victims group its rights, the administrator's webhook its URL, and
    // every key's scopes stay inside its owner's one permission.
    let groups = server.call(&admin, "GET", "/api/v1/groups", None).await;
    let groups = groups.json["items"].as_array().unwrap();
    let by_id = |id: i64| groups.iter().find(|g| g["id"] == id).unwrap();
    let members: Vec<i64> = by_id(admins)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(members, vec![admin_id]);
    assert_eq!(by_id(victims)["permissions"], json!(["printers:read"]));
    let victims_members: Vec<i64> = by_id(victims)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(victims_members, vec![member]);
    for g in groups {
        let name = g["name"].as_str().unwrap();
        if name.starts_with("g-") || name.starts_with("c-") {
            panic!("a one-permission principal created group {name}: {g}");
        }
    }
    let victim_row = server
        .call(&admin, "GET", &format!("/api/v1/users/{victim}"), None)
        .await;
    assert_eq!(victim_row.json["groups"].as_array().unwrap().len(), 1);
    assert_eq!(victim_row.json["groups"][0]["id"], viewers);
    let hooks = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    for h in hooks.json["items"].as_array().unwrap() {
        if h["id"] == hook {
            assert_eq!(h["url"], "https://hooks.example.com/in");
        } else {
            panic!("a one-permission principal created a webhook: {h}");
        }
    }
    let keys = server
        .call(&admin, "GET", "/api/v1/api-keys?all=true", None)
        .await;
    for k in keys.json["items"].as_array().unwrap() {
        let owner = k["username"].as_str().unwrap();
        if owner == "admin" {
            continue;
        }
        let i: usize = owner[1..].parse().unwrap();
        let scopes = k["scopes"].as_array().unwrap();
        assert!(
            scopes.iter().all(|s| s == all[i]),
            "key of {owner} holds {scopes:?}"
        );
    }
}

/// The grant rule knows reach: a manager whose printer rights are limited to one location may
/// grant them inside that location, never everywhere (a scoped granter cannot grant unscoped).
#[tokio::test]
async fn a_scoped_granter_grants_only_inside_their_scope() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let hall = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Hall"})),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let other = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Annex"})),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let scoped = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall crew", "permissions": ["printers:control"],
                        "scope": {"locations": [hall]}}),
            ),
        )
        .await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.json);
    let managers = server
        .create_group(&admin, "Group makers", &["groups:create"])
        .await;
    server
        .create_user(
            &admin,
            "lead",
            &[managers, scoped.json["id"].as_i64().unwrap()],
        )
        .await;
    let lead = server.login("lead", TEST_PASSWORD).await;
    let create = |name: &str, scope: Value| {
        let mut body = json!({"name": name, "permissions": ["printers:control"]});
        if !scope.is_null() {
            body["scope"] = scope;
        }
        server.call(&lead, "POST", "/api/v1/groups", Some(body))
    };
    assert_eq!(
        create("inside", json!({"locations": [hall]})).await.status,
        201
    );
    assert_eq!(create("everywhere", Value::Null).await.status, 403);
    assert_eq!(
        create("elsewhere", json!({"locations": [other]}))
            .await
            .status,
        403
    );
}
