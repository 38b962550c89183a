//! Secret masking (SPEC S7, S8): no response of any route in the route table carries a stored
//! secret. The test seeds secrets it knows (passwords, their stored hashes, a session token, an
//! API key and its stored digest, the setup code, the sealing key, the SMTP password, a TOTP
//! secret and its backup codes, a camera token, reset and set-password link tokens, an OpenID
//! Connect client secret — its provider is the OIDC test peer), then calls
//! every row of `ROUTES` as the administrator, with the cookie and with a key, each with a
//! plausible body so the handler runs (not only the body parser), and searches every body and
//! header. A feature that stores a new kind of secret adds it to `known_secrets`.
#![expect(
    clippy::panic,
    reason = "a row the walk cannot fill in fails the test with its name"
)]

use std::time::Duration;

use pw_credentials::token::{digest, parse_api_key};
use pw_domain::{ApiKeyId, UserId};
use pw_testkit::smtp::{CapturedMail, SmtpSink, unique_recipient};
use pw_testkit::totp::{totp_at, unix_now};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

const OTHER_PASSWORD: &str = "masking test secret 42";
const WEBHOOK_SECRET: &str = "masking webhook secret 77";
const ACCESS_CODE: &str = "masking-code-31337";
const OIDC_SECRET: &str = "masking oidc client secret 55";
const EXTERNAL: &str = "https://farm.example.com";

/// The hex token of the `page` link in a captured mail.
fn token_in(mail: &CapturedMail, page: &str) -> Option<String> {
    let text = mail.text.clone().unwrap_or_default();
    let prefix = format!("{EXTERNAL}/{page}?token=");
    let start = text.find(&prefix)?;
    Some(
        text[start + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect(),
    )
}

/// Waits for a mail to `to` carrying a `page` link; returns its token.
async fn link_token(sink: &SmtpSink, to: &str, page: &str) -> String {
    for _ in 0..100 {
        if let Some(t) = sink.all_for(to).iter().find_map(|m| token_in(m, page)) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {page} link mailed to {to}");
}

/// What a plausible body needs to know.
struct Seeds<'a> {
    ids: &'a Ids,
    pass: usize,
    setup_code: &'a str,
    vic_email: &'a str,
    mail_settings: &'a Value,
    /// A working provider body (the OIDC test peer), secret included.
    oidc: &'a Value,
}

/// A body a real client would send to this row, so the handler runs past parsing; `None` for
/// rows without one. Values that would end the walk's own access are wrong on purpose (a wrong
/// current password), and names carry the pass number to stay unique.
fn plausible(method: &str, pattern: &str, seeds: &Seeds<'_>) -> Option<Value> {
    let n = seeds.pass;
    let template = json!({
        "subject": "Hi {{username}}",
        "text": "Hello {{username}}: {{link}}",
        "html": "<p>{{username}} <a href=\"{{link}}\">{{link}}</a></p>",
    });
    let body = match (method, pattern) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/api/v1/auth/setup") => {
            json!({"setup_code": seeds.setup_code, "username": "late", "password": OTHER_PASSWORD})
        }
        ("POST", "/api/v1/auth/login") => json!({"username": "vic", "password": OTHER_PASSWORD}),
        ("POST", "/api/v1/auth/mfa/verify") => json!({"method": "totp", "code": "000000"}),
        ("POST", "/api/v1/auth/forgot-password") => json!({"email": seeds.vic_email}),
        ("POST", "/api/v1/auth/reset-password") => {
            json!({"token": "0".repeat(64), "new_password": "a brand new secret"})
        }
        ("POST", "/api/v1/auth/password") => {
            json!({"current_password": "not the password", "new_password": "a brand new secret"})
        }
        (
            "POST",
            "/api/v1/auth/mfa/totp/enable"
            | "/api/v1/auth/mfa/totp/disable"
            | "/api/v1/auth/mfa/backup-codes/regenerate"
            | "/api/v1/auth/mfa/email/enable",
        ) => json!({"code": "000000"}),
        ("POST", "/api/v1/auth/mfa/email/disable")
        | ("POST", "/api/v1/auth/passkeys/register/options") => {
            json!({"password": "not the password"})
        }
        ("POST", "/api/v1/auth/passkeys/register") => json!({"credential": {"id": "AA",
            "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}}),
        ("POST", "/api/v1/auth/passkeys/login" | "/api/v1/auth/mfa/passkey/verify") => {
            json!({"id": "AA", "response": {"clientDataJSON": "e30",
                "authenticatorData": "AA", "signature": "AA"}})
        }
        ("PUT", "/api/v1/auth/mail-preferences") => json!({"events": []}),
        ("PUT", "/api/v1/settings/security") => {
            json!({"min_password_length": 8, "api_key_max_days": null})
        }
        ("PUT", "/api/v1/settings/email") => {
            let mut same = seeds.mail_settings.clone();
            same.as_object_mut().unwrap().remove("password");
            same["advanced_auth"] = json!(true);
            same
        }
        ("POST", "/api/v1/settings/email/test") => json!({"to": unique_recipient("walk")}),
        ("PUT", "/api/v1/settings/email/templates/{name}") => template,
        ("POST", "/api/v1/settings/email/templates/{name}/preview") => template,
        ("PUT", "/api/v1/settings/outbound") => json!({"allowed_hosts": ["127.0.0.1"]}),
        ("POST", "/api/v1/settings/tls/certificate") => {
            json!({"certificate_pem": "-----BEGIN CERTIFICATE-----", "key_pem": "-----BEGIN PRIVATE KEY-----"})
        }
        ("POST", "/api/v1/users") => {
            json!({"username": format!("walker{n}"), "password": OTHER_PASSWORD, "email": unique_recipient("walker"), "group_ids": [seeds.ids.group]})
        }
        ("PATCH", "/api/v1/users/{id}") => json!({"email": seeds.vic_email}),
        ("POST", "/api/v1/groups") => {
            json!({"name": format!("Walk {n}"), "permissions": ["users:read"]})
        }
        ("PATCH", "/api/v1/groups/{id}") => json!({"description": "walked"}),
        ("POST", "/api/v1/groups/{id}/clone") => json!({"name": format!("Clone {n}")}),
        ("POST", "/api/v1/api-keys") => {
            json!({"name": format!("walk {n}"), "scopes": ["users:read"]})
        }
        ("POST", "/api/v1/camera-tokens") => {
            json!({"name": format!("walk {n}"), "days": 1, "printer_ids": [seeds.ids.printer]})
        }
        ("POST", "/api/v1/printers") => {
            json!({"name": format!("walk {n}"), "serial": format!("01P00A00000099{n}"), "host": "127.0.0.1", "mqtt_port": 9, "access_code": ACCESS_CODE})
        }
        ("POST", "/api/v1/printers/check") => {
            json!({"serial": "01P00A000000990", "host": "127.0.0.1", "mqtt_port": 9, "access_code": ACCESS_CODE})
        }
        ("PATCH", "/api/v1/printers/{id}") => json!({"name": "masked", "access_code": ACCESS_CODE}),
        ("POST", "/api/v1/printers/{id}/commands") => json!({"command": "light", "on": true}),
        ("POST", "/api/v1/tickets") => json!({"purpose": "events"}),
        ("POST", "/api/v1/locations") => json!({"name": format!("Walk hall {n}")}),
        ("PATCH", "/api/v1/locations/{id}") => json!({"description": "walked"}),
        ("POST", "/api/v1/printer-groups") => json!({"name": format!("Walk group {n}")}),
        ("PATCH", "/api/v1/printer-groups/{id}") => json!({"name": "Masked group again"}),
        ("POST", "/api/v1/webhooks") => {
            json!({"name": format!("walk {n}"), "url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET, "events": ["*"]})
        }
        ("PATCH", "/api/v1/webhooks/{id}") => json!({"name": "masked again"}),
        ("POST", "/api/v1/settings/oidc/providers")
        | ("PUT", "/api/v1/settings/oidc/providers/{id}") => {
            let mut b = seeds.oidc.clone();
            b["name"] = json!(format!("walk idp {n} {method}"));
            b
        }
        ("POST", "/api/v1/auth/oidc/{provider_id}/link")
        | ("POST", "/api/v1/auth/oidc/{provider_id}/unlink") => {
            json!({"current_password": TEST_PASSWORD})
        }
        _ => json!({}),
    };
    Some(body)
}

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
                "camera-tokens" => ids.camera_token.to_string(),
                "archives" | "archive" => ids.archive.to_string(),
                "files" => ids.library_file.to_string(),
                "folders" => ids.library_folder.to_string(),
                "queue" => ids.queue_item.to_string(),
                "projects" => ids.project.to_string(),
                "printer-groups" => ids.printer_group.to_string(),
                "providers" => ids.oidc_provider.to_string(),
                // A passkey row holds a public key and counters, nothing secret: any id does.
                "passkeys" => "1".to_owned(),
                other => panic!("no seeded row for {{id}} after {other}: add one"),
            },
            "{name}" if previous == "templates" => "welcome".to_owned(),
            "{name}" if previous == "files" => "walk.gcode.3mf".to_owned(),
            "{user_id}" => ids.user.to_string(),
            "{provider_id}" => ids.oidc_provider.to_string(),
            "{plate}" => "1".to_owned(),
            "{kind}" => "files".to_owned(),
            "{member_id}" => ids.library_file.to_string(),
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
    camera_token: i64,
    archive: i64,
    library_file: i64,
    library_folder: i64,
    queue_item: i64,
    project: i64,
    printer_group: i64,
    oidc_provider: i64,
}

/// Walk order: reads and changes first, then deletes (deeper rows before the rows they hang
/// off), then the routes that can end the walker's own access (its key, its session, auth
/// itself) — so every earlier row answers with the handler, not a 401.
fn walk_order(method: &str, path: &str) -> (u8, usize) {
    let ends = path.ends_with("/logout")
        || path.ends_with("/disable")
        || path.ends_with("/revoke-others")
        || path.ends_with("/auth/password")
        // Signing in ends the session the browser came with (session fixation).
        || path == "/api/v1/auth/login"
        || path == "/api/v1/auth/mfa/verify"
        || path == "/api/v1/auth/sessions/{id}"
        || path == "/api/v1/api-keys/{id}";
    let rank = match (ends, method == "DELETE") {
        (true, _) => 2,
        (false, true) => 1,
        (false, false) => 0,
    };
    (rank, usize::MAX - path.matches('/').count())
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

    // Loopback allow-listed first: the SMTP sink and a webhook to a port nobody listens on
    // (so its test answers fast) live on 127.0.0.1.
    let allow = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": ["127.0.0.1", "localhost"]})),
        )
        .await;
    assert_eq!(allow.status, 200, "{:?}", allow.json);
    // Mail through the sink, tested, Advanced Auth on: the SMTP password is stored, and
    // reset and set-password links (with their tokens) go out.
    let sink = SmtpSink::from_env().expect("the SMTP sink test peer (source peer-env.sh)");
    let mail_settings = json!({
        "host": sink.host(),
        "port": sink.starttls_port(),
        "security": "starttls",
        "username": sink.user(),
        "password": sink.password(),
        "from_name": "Farm",
        "from_address": "farm@sink.test",
        "external_url": format!("{EXTERNAL}/"),
        "ca_cert_pem": sink.ca_pem(),
    });
    let put = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/email",
            Some(mail_settings.clone()),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.json);
    let tested = server
        .call(
            &admin,
            "POST",
            "/api/v1/settings/email/test",
            Some(json!({"to": unique_recipient("masking")})),
        )
        .await;
    assert_eq!(tested.json["ok"], true, "{:?}", tested.json);
    let mut on = mail_settings.clone();
    on["advanced_auth"] = json!(true);
    on.as_object_mut().unwrap().remove("password");
    let put = server
        .call(&admin, "PUT", "/api/v1/settings/email", Some(on))
        .await;
    assert_eq!(put.status, 200, "{:?}", put.json);

    let group = server.create_group(&admin, "Masked", &["users:read"]).await;
    let vic_email = unique_recipient("vic");
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "vic", "password": OTHER_PASSWORD, "email": vic_email, "group_ids": [group]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let user = created.json["id"].as_i64().unwrap();
    // vic's second factor: a TOTP secret and ten backup codes.
    let vic = server.login("vic", OTHER_PASSWORD).await;
    let setup = server
        .call(&vic, "POST", "/api/v1/auth/mfa/totp/setup", Some(json!({})))
        .await;
    assert_eq!(setup.status, 200, "{:?}", setup.json);
    let totp_secret = setup.json["secret"].as_str().unwrap().to_owned();
    let enable = server
        .call(
            &vic,
            "POST",
            "/api/v1/auth/mfa/totp/enable",
            Some(json!({"code": totp_at(&totp_secret, unix_now())})),
        )
        .await;
    assert_eq!(enable.status, 200, "{:?}", enable.json);
    let backup_codes: Vec<String> = enable.json["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert!(!backup_codes.is_empty());
    // A reset link for vic, and a set-password link for a new account without a password.
    let reset = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/users/{user}/password-reset"),
            None,
        )
        .await;
    assert_eq!(reset.status, 202, "{:?}", reset.json);
    let reset_token = link_token(&sink, &vic_email, "reset-password").await;
    let newbie_email = unique_recipient("newbie");
    let newbie = server
        .call(
            &admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "newbie", "email": newbie_email, "group_ids": [group]})),
        )
        .await;
    assert_eq!(newbie.status, 201, "{:?}", newbie.json);
    let set_token = link_token(&sink, &newbie_email, "set-password").await;
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
    let (library_file, library_folder) = crate::library::seed_library(&server, &admin).await;
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
    let camera = server
        .call(
            &admin,
            "POST",
            "/api/v1/camera-tokens",
            Some(json!({"name": "masked kiosk", "days": 30, "printer_ids": [printer]})),
        )
        .await;
    assert_eq!(camera.status, 201, "{:?}", camera.json);
    let camera_token = camera.json["token"].as_str().unwrap().to_owned();
    let camera_token_id = camera.json["id"].as_i64().unwrap();

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
    let camera_row = store
        .api_key(ApiKeyId::from_db(camera_token_id))
        .await
        .unwrap()
        .unwrap();
    let as_key = camera_token.replacen("pwc_", "pwk_", 1);
    let camera_secret = parse_api_key(&as_key).unwrap().1.to_owned();
    let stored_mail: Value =
        serde_json::from_str(&store.setting("email.smtp").await.unwrap().unwrap()).unwrap();
    let sealed_smtp_password = stored_mail["password_sealed"].as_str().unwrap().to_owned();
    let totp_hex = to_hex(&pw_testkit::totp::base32_decode(&totp_secret));

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
        ("SMTP password", sink.password().to_owned()),
        ("OIDC client secret", OIDC_SECRET.to_owned()),
        ("sealed SMTP password", sealed_smtp_password),
        ("TOTP secret", totp_secret.clone()),
        ("TOTP secret (hex)", totp_hex),
        ("camera token", camera_token.clone()),
        ("camera token secret", camera_secret.clone()),
        ("camera token digest", to_hex(&digest(&camera_secret))),
        (
            "stored camera token digest",
            camera_row.secret_digest.clone(),
        ),
        ("reset link token", reset_token.clone()),
        ("reset link token digest", to_hex(&digest(&reset_token))),
        ("set-password link token", set_token.clone()),
        (
            "set-password link token digest",
            to_hex(&digest(&set_token)),
        ),
    ];
    let known_secrets: Vec<(String, String)> = known_secrets
        .into_iter()
        .map(|(w, s)| (w.to_owned(), s))
        .chain(backup_codes.iter().flat_map(|c| {
            [
                ("backup code".to_owned(), c.clone()),
                ("backup code (plain)".to_owned(), c.replace('-', "")),
            ]
        }))
        .collect();
    for (what, secret) in &known_secrets {
        // Backup codes are shorter; random ones still cannot occur by chance.
        let least = if what.starts_with("backup code") {
            8
        } else {
            12
        };
        assert!(
            secret.len() >= least,
            "{what} is too short to search for: {secret}"
        );
    }

    let archive = admin_archive(&server, &admin, printer).await;
    let queued = server
        .call(
            &admin,
            "POST",
            "/api/v1/queue",
            Some(json!({"file_id": library_file, "target": {"printer_id": printer}})),
        )
        .await;
    assert_eq!(queued.status, 201, "{:?}", queued.json);
    let project =
        crate::support::project_with_file(&server, &admin, "Masking order", library_file, 1).await;
    let printer_group = server
        .call(
            &admin,
            "POST",
            "/api/v1/printer-groups",
            Some(json!({"name": "Masked group", "printer_ids": [printer]})),
        )
        .await;
    assert_eq!(printer_group.status, 201, "{:?}", printer_group.json);
    let peer = pw_testkit::oidc::OidcPeer::from_env().expect("the OpenID provider test peer");
    let oidc = json!({
        "name": "Masked IdP", "issuer": peer.issuer(), "client_id": "farm",
        "client_secret": OIDC_SECRET, "ca_cert_pem": peer.ca_pem(),
    });
    let provider = server
        .call(
            &admin,
            "POST",
            "/api/v1/settings/oidc/providers",
            Some(oidc.clone()),
        )
        .await;
    assert_eq!(provider.status, 201, "{:?}", provider.json);
    let oidc_provider = provider.json["id"].as_i64().unwrap();
    let sealed_oidc_secret = store
        .oidc_provider(oidc_provider)
        .await
        .unwrap()
        .unwrap()
        .client_secret
        .unwrap();
    assert_ne!(sealed_oidc_secret, OIDC_SECRET);
    let known_secrets: Vec<(String, String)> = known_secrets
        .into_iter()
        .chain([("sealed OIDC client secret".to_owned(), sealed_oidc_secret)])
        .collect();
    let ids = Ids {
        oidc_provider,
        printer_group: printer_group.json["id"].as_i64().unwrap(),
        project,
        queue_item: queued.json["id"].as_i64().unwrap(),
        archive,
        user,
        group,
        session,
        key: key_id,
        webhook,
        printer,
        location,
        camera_token: camera_token_id,
        library_file,
        library_folder,
    };
    let mut rows: Vec<_> = pw_http::ROUTES.iter().collect();
    rows.sort_by_key(|r| walk_order(r.method, r.path));
    let credentials = [Auth::Key(api_key.clone()), admin.clone()];
    let mut calls = 0;
    let mut answered = 0;
    // Row by row, each with both credentials: a delete in one pass cannot empty the other.
    for row in &rows {
        for (pass, auth) in credentials.iter().enumerate() {
            let seeds = Seeds {
                ids: &ids,
                pass,
                setup_code: &setup_code,
                vic_email: &vic_email,
                mail_settings: &mail_settings,
                oidc: &oidc,
            };
            let mut path = concrete_path(row.path, &ids);
            let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
            if row.path.ends_with("/print") {
                path.push_str("?file=walk.gcode.3mf");
            }
            let mut req = server.client.request(method, server.url(&path));
            req = match auth {
                Auth::Key(k) => req.bearer_auth(k),
                Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
                Auth::None => req,
            };
            if row.path.ends_with("/print") {
                req = req.body(b"PK walk".to_vec());
            } else if let Some(b) = plausible(row.method, row.path, &seeds) {
                req = req.json(&b);
            }
            // Streams (camera) never end: the headers are the answer, the body is not read.
            let streaming = row.path.contains("/camera/");
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let headers = format!("{:?}", resp.headers());
            let text = if streaming {
                String::new()
            } else {
                String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned()
            };
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
    assert!(answered >= 100, "only {answered} successful answers");
}

/// An archive entry the administrator records by hand on `printer`.
async fn admin_archive(server: &TestServer, admin: &Auth, printer: i64) -> i64 {
    let got = server
        .call(
            admin,
            "POST",
            "/api/v1/archives",
            Some(json!({"printer_id": printer, "file_name": "walk.gcode.3mf",
                        "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T01:00:00Z",
                        "outcome": "finished"})),
        )
        .await;
    assert_eq!(got.status, 201, "{:?}", got.json);
    got.json["id"].as_i64().unwrap()
}
