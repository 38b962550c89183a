//! The sealing key (SPEC S8, issue 22 item 3): the status card's API (green / amber / red,
//! counts per kind, never key material), who may read it, and `printwarden keys rotate` —
//! including a crash in the middle of the re-sealing and after its commit, then a second run.

use std::path::Path;
use std::process::Command;

use pw_credentials::SealingKey;
use pw_store::Store;
use pw_store::sealed::SEALED;
use pw_testkit::totp::{totp_at, unix_now};
use pw_testkit::{Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

const ADMIN: &str = "admin";
const BIN: &str = env!("CARGO_BIN_EXE_printwarden");

/// Runs the binary against the server's data directory and database (plus `env`).
fn cli(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PRINTWARDEN_DATA_DIR", &server.data_dir)
        .env("PRINTWARDEN_DATABASE_URL", &server.database_url)
        .env("PRINTWARDEN_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(server.data_dir.parent().unwrap())
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_key(path: &Path) -> SealingKey {
    SealingKey::from_base64(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn store(server: &TestServer) -> Store {
    Store::connect(&server.database_url).await.unwrap()
}

/// Runs one SQL statement on the server's database (to damage or plant a value).
async fn exec(server: &TestServer, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// One secret of every kind a person can store: a printer access code, a webhook secret, a
/// confirmed TOTP secret (with its backup codes), the SMTP password, the LDAP bind password, an OIDC client secret. Returns the TOTP secret
/// and one backup code.
async fn store_one_of_each(server: &TestServer, admin: &Auth) -> (String, String) {
    let printer = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(json!({
                "name": "P1", "serial": "01S00A000000001", "host": "127.0.0.1", "mqtt_port": 9,
                "ftps_port": 9, "camera_port": 9, "access_code": "12345678", "model": "X1C",
            })),
        )
        .await;
    assert_eq!(printer.status, 201, "{:?}", printer.json);
    let allow = server
        .call(
            admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": ["127.0.0.1", "localhost"]})),
        )
        .await;
    assert_eq!(allow.status, 200, "{:?}", allow.json);
    let hook = server
        .call(
            admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "h", "url": "http://127.0.0.1:9/in",
                        "secret": "webhook signing secret", "events": ["auth.logout"]})),
        )
        .await;
    assert_eq!(hook.status, 201, "{:?}", hook.json);
    let mail = server
        .call(
            admin,
            "PUT",
            "/api/v1/settings/email",
            Some(json!({
                "host": "127.0.0.1", "port": 2525, "security": "starttls",
                "username": "farm", "password": "smtp password here",
                "from_name": "Farm", "from_address": "farm@example.test",
                "external_url": "https://farm.example.test",
            })),
        )
        .await;
    assert_eq!(mail.status, 200, "{:?}", mail.json);
    let ldap = server
        .call(
            admin,
            "PUT",
            "/api/v1/settings/ldap",
            Some(json!({
                "url": "ldaps://127.0.0.1:9", "bind_dn": "cn=reader,dc=farm,dc=test",
                "bind_password": "ldap bind password", "user_base": "ou=people,dc=farm,dc=test",
                "user_filter": "(uid={username})", "email_attr": "mail", "name_attr": "cn",
                "group_mappings": [], "enabled": false,
            })),
        )
        .await;
    assert_eq!(ldap.status, 200, "{:?}", ldap.json);
    // An OpenID Connect provider's client secret (the provider is the test peer: the settings
    // route reads its discovery document before storing anything).
    let peer = pw_testkit::oidc::OidcPeer::from_env().expect("the OpenID provider test peer");
    let provider = server
        .call(
            admin,
            "POST",
            "/api/v1/settings/oidc/providers",
            Some(json!({
                "name": "Sealed IdP", "issuer": peer.issuer(), "client_id": "farm",
                "client_secret": "oidc client secret here", "ca_cert_pem": peer.ca_pem(),
            })),
        )
        .await;
    assert_eq!(provider.status, 201, "{:?}", provider.json);
    // Scheduled backups off (nothing runs), but their passphrase stored sealed. The directory
    // outlives the test on purpose: the schedule keeps naming it.
    let backups = std::env::temp_dir().join(format!("pw-sealing-backups-{}", std::process::id()));
    std::fs::create_dir_all(&backups).unwrap();
    let schedule = server
        .call(
            admin,
            "PUT",
            "/api/v1/system/backup/schedule",
            Some(json!({
                "enabled": false, "dir": backups.display().to_string(), "interval_hours": 24,
                "keep": 3, "passphrase": "scheduled backup passphrase",
            })),
        )
        .await;
    assert_eq!(schedule.status, 200, "{:?}", schedule.json);
    // The TOTP secret belongs to Tess (the administrator keeps signing in with a password).
    let viewers = server.group_id(admin, "Viewers").await;
    server.create_user(admin, "tess", &[viewers]).await;
    let tess = server.login("tess", TEST_PASSWORD).await;
    let setup = server
        .call(
            &tess,
            "POST",
            "/api/v1/auth/mfa/totp/setup",
            Some(json!({})),
        )
        .await;
    assert_eq!(setup.status, 200, "{:?}", setup.json);
    let secret = setup.json["secret"].as_str().unwrap().to_owned();
    let enable = server
        .call(
            &tess,
            "POST",
            "/api/v1/auth/mfa/totp/enable",
            Some(json!({"code": totp_at(&secret, unix_now())})),
        )
        .await;
    assert_eq!(enable.status, 200, "{:?}", enable.json);
    let backup = enable.json["backup_codes"][0].as_str().unwrap().to_owned();
    (secret, backup)
}

fn kind<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == name)
        .unwrap()
}

/// Every registered value opens with `key` (and the expected kinds are all there).
async fn all_open_with(server: &TestServer, key: &SealingKey) {
    let store = store(server).await;
    let values = store.sealed_values().await.unwrap();
    store.close().await;
    for name in [
        "printer_access_code",
        "webhook_secret",
        "totp_secret",
        "smtp_password",
        "ldap_bind_password",
        "oidc_client_secret",
        "one_time_pepper",
        "backup_passphrase",
    ] {
        assert!(
            values.iter().any(|v| v.kind.kind == name),
            "no {name} stored"
        );
    }
    for v in values {
        assert!(
            key.open(&v.stored, &v.kind.context(v.row)).is_ok(),
            "{v:?} does not open"
        );
    }
}

/// Tess signs in with her password and a second factor (`method` `backup` or `totp`).
async fn sign_in_as_tess(server: &TestServer, method: &str, code: &str) {
    let login = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "tess", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    let challenge = Auth::Cookie(login.challenge_cookie().expect("a second step"));
    let verify = server
        .call(
            &challenge,
            "POST",
            "/api/v1/auth/mfa/verify",
            Some(json!({"method": method, "code": code})),
        )
        .await;
    assert_eq!(verify.status, 200, "{method}: {:?}", verify.json);
}

/// A backup code signs in: proves the pepper of the one-time code digests survived (a
/// rotation carries it over; the digests cannot be recomputed).
async fn sign_in_with_backup_code(server: &TestServer, code: &str) {
    sign_in_as_tess(server, "backup", code).await;
}

/// A TOTP code signs in: proves the TOTP secret opens. The code of the next step: the one of
/// this step was used to enable TOTP.
async fn sign_in_with_totp(server: &TestServer, secret: &str) {
    let code = pw_testkit::totp::next_totp(secret, unix_now());
    sign_in_as_tess(server, "totp", &code).await;
}

#[tokio::test]
async fn status_is_green_with_a_configured_key_and_red_for_one_damaged_value() {
    let key = SealingKey::from_bytes([42; 32]);
    let server = TestServer::spawn_env(&[("PRINTWARDEN_SECRET_KEY", &key.to_base64())]).await;
    let admin = server.setup_admin().await;
    store_one_of_each(&server, &admin).await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.status, 200, "{:?}", status.json);
    assert_eq!(status.json["source"], "env");
    assert_eq!(status.json["state"], "green", "{:?}", status.json);
    assert_eq!(status.json["fingerprint"], key.fingerprint());
    for name in [
        "printer_access_code",
        "webhook_secret",
        "totp_secret",
        "smtp_password",
        "ldap_bind_password",
        "oidc_client_secret",
        "backup_passphrase",
    ] {
        assert_eq!(kind(&status.json, name)["sealed"], 1, "{name}");
        assert_eq!(kind(&status.json, name)["unreadable"], 0, "{name}");
    }
    assert!(status.json["advice"].as_array().unwrap().is_empty());

    // Secret material never in the answer. The search is shown to work on a control string.
    let raw = serde_json::to_string(&status.json).unwrap();
    let bytes = [42u8; 32];
    let needles = [
        key.to_base64(),
        hex_string(&bytes),
        base64url(&bytes),
        "12345678".to_owned(),
        "webhook signing secret".to_owned(),
        "smtp password here".to_owned(),
        "oidc client secret here".to_owned(),
        "scheduled backup passphrase".to_owned(),
    ];
    for needle in &needles {
        let control = format!("{{\"x\":\"{needle}\"}}");
        assert!(control.contains(needle.as_str()), "the search works");
        assert!(!raw.contains(needle.as_str()), "{needle} in {raw}");
    }

    // One access code sealed under another key: red, counted once, the rest still fine.
    let other = SealingKey::from_bytes([7; 32]).seal(b"12345678", "printer:1:access_code", [3; 24]);
    exec(
        &server,
        &format!("UPDATE printers SET access_code = '{other}'"),
    )
    .await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["state"], "red", "{:?}", status.json);
    assert_eq!(kind(&status.json, "printer_access_code")["unreadable"], 1);
    assert_eq!(kind(&status.json, "printer_access_code")["sealed"], 0);
    assert_eq!(kind(&status.json, "webhook_secret")["sealed"], 1);
    assert!(
        status.json["advice"][0]
            .as_str()
            .unwrap()
            .contains("do not open"),
        "{:?}",
        status.json
    );
    // The card says it in words.
    let page = server
        .client
        .get(server.url("/settings"))
        .header("cookie", cookie(&admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("RED") && page.contains("do not open"),
        "{page}"
    );
    assert!(!page.contains(&key.to_base64()));
}

fn cookie(auth: &Auth) -> String {
    match auth {
        Auth::Cookie(c) => c.clone(),
        _ => String::new(),
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64url(bytes: &[u8]) -> String {
    key_b64(bytes)
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "")
}

fn key_b64(bytes: &[u8]) -> String {
    let arr: [u8; 32] = bytes.try_into().unwrap();
    SealingKey::from_bytes(arr).to_base64()
}

#[tokio::test]
async fn a_generated_key_is_amber_until_a_copy_is_confirmed_and_legacy_plaintext_is_amber_until_sealed()
 {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["source"], "generated", "{:?}", status.json);
    assert_eq!(status.json["state"], "amber", "{:?}", status.json);
    assert_eq!(status.json["backup_confirmed"], false);
    assert!(
        status.json["advice"][0]
            .as_str()
            .unwrap()
            .contains("Copy secret.key"),
        "{:?}",
        status.json
    );
    let confirm = server
        .call(&admin, "POST", "/api/v1/system/keys/backup-confirmed", None)
        .await;
    assert_eq!(confirm.status, 200, "{:?}", confirm.json);
    assert_eq!(confirm.json["state"], "green", "{:?}", confirm.json);
    assert_eq!(confirm.json["backup_confirmed"], true);
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=keys.backup_confirmed",
            None,
        )
        .await;
    assert_eq!(audit.status, 200, "{:?}", audit.json);
    assert_eq!(
        audit.json["items"][0]["details"]["fingerprint"], confirm.json["fingerprint"],
        "{:?}",
        audit.json
    );

    // A plaintext secret (an import, an older version): amber, and sealed at the next start.
    store_one_of_each(&server, &admin).await;
    exec(
        &server,
        "UPDATE webhooks SET secret = 'legacy plaintext secret'",
    )
    .await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["state"], "amber", "{:?}", status.json);
    assert_eq!(kind(&status.json, "webhook_secret")["plaintext"], 1);
    let server = server.restart(Vec::new()).await;
    let admin = server.login(ADMIN, TEST_PASSWORD).await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["state"], "green", "{:?}", status.json);
    assert_eq!(kind(&status.json, "webhook_secret")["plaintext"], 0);
    assert_eq!(kind(&status.json, "webhook_secret")["sealed"], 1);
    // No stored value is plaintext any more (the old bytes may linger in free database pages
    // until a VACUUM: docs/OPERATIONS.md says so).
    let store = store(&server).await;
    let values = store.sealed_values().await.unwrap();
    store.close().await;
    assert!(values.iter().any(|v| v.kind.kind == "webhook_secret"));
    assert!(
        values.iter().all(|v| v.stored.starts_with("pw1.")),
        "{values:?}"
    );
}

#[tokio::test]
async fn only_settings_security_reads_the_key_status_and_only_a_session_confirms_a_copy() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = server
        .create_group(
            &admin,
            "printer-admins",
            &["printers:update", "settings:email"],
        )
        .await;
    server.create_user(&admin, "pat", &[printers]).await;
    let pat = server.login("pat", TEST_PASSWORD).await;
    for (method, path) in [
        ("GET", "/api/v1/system/keys"),
        ("POST", "/api/v1/system/keys/backup-confirmed"),
    ] {
        let a = server.call(&pat, method, path, None).await;
        assert_eq!(a.status, 403, "{method} {path}: {:?}", a.json);
    }
    // An API key of an administrator, scoped to something else: 403.
    let other = scoped_key(&server, &admin, "settings:email").await;
    let a = server
        .call(&other, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    // With the scope: it reads the status, but confirming a copy needs a person's session.
    let scoped = scoped_key(&server, &admin, "settings:security").await;
    let a = server
        .call(&scoped, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let a = server
        .call(
            &scoped,
            "POST",
            "/api/v1/system/keys/backup-confirmed",
            None,
        )
        .await;
    // A session-only route does not take API keys at all: the key authenticates nobody there.
    assert_eq!(a.status, 401, "{:?}", a.json);
    let a = server
        .call(&Auth::None, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(a.status, 401, "{:?}", a.json);
}

async fn scoped_key(server: &TestServer, admin: &Auth, scope: &str) -> Auth {
    let a = server
        .call(
            admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": format!("script {scope}"), "scopes": [scope]})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    Auth::Key(a.json["key"].as_str().unwrap().to_owned())
}

/// A server process on a generated key, with one secret of each kind stored (the Bambu Cloud
/// tokens from a link to the stand-in, which is gone afterwards: the tokens stay sealed).
async fn process_with_secrets(env: Vec<(String, String)>) -> (TestServer, (String, String)) {
    // The stand-in's CA file must outlive it: every restart of the server checks the file.
    let dir = std::env::temp_dir().join(format!("pw-sealing-cloud-{}", std::process::id()));
    let cloud = crate::cloud::stand_in(&dir, |_| {}).await;
    let mut env = env;
    env.extend(crate::cloud::cloud_env(&cloud, &[]));
    let server = TestServer::spawn_process(
        BIN.as_ref(),
        Options {
            env,
            ..Options::default()
        },
    )
    .await;
    let admin = server.setup_admin().await;
    let secrets = store_one_of_each(&server, &admin).await;
    let linked = crate::cloud::link(&server, &admin, &cloud, "carol@example.test").await;
    assert_eq!(linked["state"], "linked");
    (server, secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_re_seals_everything_and_the_server_starts_with_the_new_key() {
    let (mut server, (totp, backup)) = process_with_secrets(Vec::new()).await;
    let key_file = server.data_dir.join("secret.key");
    let old = read_key(&key_file);
    all_open_with(&server, &old).await;

    // Refused while the server runs, with a clear sentence, and nothing changed.
    let refused = cli(&server, &["keys", "rotate"], &[]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Stop the server first"),
        "{}",
        text(&refused)
    );
    assert_eq!(read_key(&key_file).fingerprint(), old.fingerprint());

    server.kill9();
    let out = cli(&server, &["keys", "rotate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let new = read_key(&key_file);
    assert_ne!(new.fingerprint(), old.fingerprint());
    assert!(!server.data_dir.join("secret.key.new").exists());
    assert!(!server.data_dir.join("secret.key.old").exists());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&new.to_base64()));
    all_open_with(&server, &new).await;

    server.respawn().await;
    let admin = server.login(ADMIN, TEST_PASSWORD).await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["fingerprint"], new.fingerprint());
    for k in status.json["kinds"].as_array().unwrap() {
        assert_eq!(k["unreadable"], 0, "{k:?}");
        assert_eq!(k["plaintext"], 0, "{k:?}");
    }
    // A new key asks for a new confirmation of a copy.
    assert_eq!(status.json["backup_confirmed"], false);
    sign_in_with_totp(&server, &totp).await;
    sign_in_with_backup_code(&server, &backup).await;
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=keys.rotate", None)
        .await;
    assert_eq!(
        audit.json["items"][0]["details"]["new"],
        new.fingerprint(),
        "{:?}",
        audit.json
    );
    // `keys status` on the command line (server running: it only reads) agrees.
    let status = cli(&server, &["keys", "status"], &[]);
    assert!(status.status.success(), "{}", text(&status));
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["source"], "generated");
    assert_eq!(json["fingerprint"], new.fingerprint());
    assert_eq!(json["state"], "amber", "not confirmed yet: {json}");
}

/// Every value opens with exactly one of the two keys.
async fn each_opens_with_one_of(
    server: &TestServer,
    a: &SealingKey,
    b: &SealingKey,
) -> (usize, usize) {
    let store = store(server).await;
    let values = store.sealed_values().await.unwrap();
    store.close().await;
    let (mut with_a, mut with_b) = (0, 0);
    for v in &values {
        let ctx = v.kind.context(v.row);
        let opens = (
            a.open(&v.stored, &ctx).is_ok(),
            b.open(&v.stored, &ctx).is_ok(),
        );
        assert!(
            opens.0 != opens.1,
            "{v:?} opens with (old, new) = {opens:?}"
        );
        if opens.0 {
            with_a += 1;
        } else {
            with_b += 1;
        }
    }
    assert_eq!(with_a + with_b, values.len());
    assert!(values.len() >= SEALED.len() - 1, "{values:?}");
    (with_a, with_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_crashed_halfway_or_after_commit_loses_nothing_and_a_second_run_finishes() {
    let (mut server, (totp, _)) = process_with_secrets(Vec::new()).await;
    let key_file = server.data_dir.join("secret.key");
    let pending = server.data_dir.join("secret.key.new");
    let k0 = read_key(&key_file);
    server.kill9();

    // Crash after two values were re-sealed, inside the transaction.
    let out = cli(
        &server,
        &["keys", "rotate"],
        &[("PRINTWARDEN_TEST_ROTATE_CRASH", "after:2")],
    );
    assert!(!out.status.success(), "the hook aborts: {}", text(&out));
    let k1 = read_key(&pending);
    assert_eq!(read_key(&key_file).fingerprint(), k0.fingerprint());
    let (old, _) = each_opens_with_one_of(&server, &k0, &k1).await;
    assert!(
        old > 0,
        "the transaction rolled back: all still under the old key"
    );

    // The server refuses to start while the rotation is unfinished, and says what to do.
    let serve = cli(
        &server,
        &["serve"],
        &[
            ("PRINTWARDEN_HTTPS_PORT", "0"),
            ("PRINTWARDEN_HTTP_PORT", "0"),
        ],
    );
    assert!(!serve.status.success(), "{}", text(&serve));
    assert!(text(&serve).contains("keys rotate"), "{}", text(&serve));

    // Crash again, after the commit and before the key file is replaced: the database is all
    // under the new key, secret.key still holds the old one.
    let out = cli(
        &server,
        &["keys", "rotate"],
        &[("PRINTWARDEN_TEST_ROTATE_CRASH", "before-install")],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resuming"), "{}", text(&out));
    assert_eq!(read_key(&pending).fingerprint(), k1.fingerprint());
    let (old, new) = each_opens_with_one_of(&server, &k0, &k1).await;
    assert_eq!(old, 0);
    assert!(new > 0);

    // A third run finishes the job.
    let out = cli(&server, &["keys", "rotate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_key(&key_file).fingerprint(), k1.fingerprint());
    assert!(!pending.exists());
    all_open_with(&server, &k1).await;
    server.respawn().await;
    let admin = server.login(ADMIN, TEST_PASSWORD).await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(
        status.json["fingerprint"],
        k1.fingerprint(),
        "{:?}",
        status.json
    );
    assert_ne!(status.json["state"], "red", "{:?}", status.json);
    sign_in_with_totp(&server, &totp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_key_from_the_environment_prints_it_and_the_old_one_no_longer_starts() {
    let k0 = SealingKey::from_bytes([5; 32]);
    let (mut server, _) =
        process_with_secrets(vec![("PRINTWARDEN_SECRET_KEY".to_owned(), k0.to_base64())]).await;
    server.kill9();
    let env_old = [("PRINTWARDEN_SECRET_KEY", k0.to_base64())];
    let env_old: Vec<(&str, &str)> = env_old.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = cli(&server, &["keys", "rotate"], &env_old);
    assert!(out.status.success(), "{}", text(&out));
    let k1 = read_key(&server.data_dir.join("secret.key.new"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&k1.to_base64()), "{stdout}");
    assert!(stdout.contains("PRINTWARDEN_SECRET_KEY"), "{stdout}");
    all_open_with(&server, &k1).await;
    // The old key no longer starts the server; the new one sees every value open.
    let serve = cli(&server, &["serve"], &env_old);
    assert!(!serve.status.success(), "{}", text(&serve));
    let new_env = k1.to_base64();
    let status = cli(
        &server,
        &["keys", "status"],
        &[("PRINTWARDEN_SECRET_KEY", &new_env)],
    );
    assert!(status.status.success(), "{}", text(&status));
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["source"], "env");
    assert_eq!(json["state"], "green", "{json}");
    assert_eq!(json["fingerprint"], k1.fingerprint());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_key_file_named_by_the_operator_replaces_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operator.key");
    let k0 = SealingKey::from_bytes([6; 32]);
    std::fs::write(&file, format!("{}\n", k0.to_base64())).unwrap();
    let file_env = file.display().to_string();
    let (mut server, (totp, _)) = process_with_secrets(vec![(
        "PRINTWARDEN_SECRET_KEY_FILE".to_owned(),
        file_env.clone(),
    )])
    .await;
    server.kill9();
    let out = cli(
        &server,
        &["keys", "rotate"],
        &[("PRINTWARDEN_SECRET_KEY_FILE", &file_env)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let k1 = read_key(&file);
    assert_ne!(k1.fingerprint(), k0.fingerprint());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&k1.to_base64()));
    assert!(!server.data_dir.join("secret.key.new").exists());
    assert!(!server.data_dir.join("secret.key").exists());
    server.respawn().await;
    let admin = server.login(ADMIN, TEST_PASSWORD).await;
    let status = server
        .call(&admin, "GET", "/api/v1/system/keys", None)
        .await;
    assert_eq!(status.json["source"], "file", "{:?}", status.json);
    assert_eq!(status.json["state"], "green", "{:?}", status.json);
    assert_eq!(status.json["fingerprint"], k1.fingerprint());
    sign_in_with_totp(&server, &totp).await;
}
