//! The `printwarden` binary's command line: --version, config check, migrate.

use std::process::Command;

fn printwarden(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_printwarden"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn version_flag_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = printwarden(dir.path()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("printwarden {}", printwarden::VERSION).as_str())
    );
    // The build it came from, so a bug report names the exact commit. The build script sets
    // PW_BUILD_COMMIT for this test too (same package, same build), which keeps the check right
    // even when HEAD moves while the tests run.
    let built = env!("PW_BUILD_COMMIT");
    let commit = lines.next().unwrap();
    assert!(
        commit.starts_with(&format!("commit:   {built} (")),
        "{commit}"
    );
    let in_git = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        assert!(
            built.len() == 12 && built.chars().all(|c| c.is_ascii_hexdigit()),
            "a build from a git checkout names its commit, not {built:?}"
        );
    }
    assert!(text.contains("\ntarget:   "), "{text}");
    assert!(text.contains("compiler: rustc 1."), "{text}");
    // -V stays one line, for scripts that parse it.
    let short = printwarden(dir.path()).arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&short.stdout).trim(),
        format!("printwarden {}", printwarden::VERSION)
    );
}

/// `healthcheck` says healthy only for the server on this data directory, over its pinned
/// certificate, and fails in words when nothing runs there.
#[test]
fn healthcheck_answers_for_the_running_server_and_fails_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let check = |data: &std::path::Path| {
        printwarden(dir.path())
            .arg("healthcheck")
            .env("PRINTWARDEN_DATA_DIR", data)
            .output()
            .unwrap()
    };
    let before = check(&data);
    assert!(!before.status.success());
    assert!(
        String::from_utf8_lossy(&before.stderr).contains("is it running on this data directory?"),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );

    let mut child = printwarden(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--https-port",
            "0",
            "--http-port",
            "0",
        ])
        .env("PRINTWARDEN_DATA_DIR", &data)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listening = data.join("listening.json");
    for _ in 0..400 {
        if listening.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let up = check(&data);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&up.stdout).trim(), "healthy");

    // Another certificate in the configured place (an imposter's view of the world): refused.
    let tls = data.join("tls/server.crt");
    let genuine = std::fs::read(&tls).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&tls, other.cert.pem()).unwrap();
    let pinned = check(&data);
    std::fs::write(&tls, genuine).unwrap();
    assert!(!pinned.status.success());
    assert!(
        String::from_utf8_lossy(&pinned.stderr).contains("other than the configured one"),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let gone = check(&data);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("printwarden.toml"), "https_port = 8443\n").unwrap();
    let out = printwarden(dir.path())
        .args(["config", "check", "--http-port", "8080"])
        .env(
            "PRINTWARDEN_DATABASE_URL",
            "postgres://pw:topsecret@db.local/pw",
        )
        .env(
            "PRINTWARDEN_SECRET_KEY",
            "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("https_port = 8443") && stdout.contains("http_port = 8080"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("topsecret") && !stdout.contains("AwMDAw"),
        "{stdout}"
    );
    assert!(stdout.contains("REDACTED"));
}

#[test]
fn config_check_fails_with_a_clear_message_on_invalid_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = printwarden(dir.path())
        .args(["config", "check"])
        .env("PRINTWARDEN_TLS", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tls: `sometimes` is not one of auto, files, off"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("printwarden.toml"), "http_prot = 1\n").unwrap();
    let out = printwarden(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http_prot"));
}

#[test]
fn migrate_applies_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let run = || printwarden(dir.path()).arg("migrate").output().unwrap();
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied 0001 init"));
    assert!(dir.path().join("printwarden-data/printwarden.db").exists());
    let second = run();
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "database is up to date"
    );
}

/// The real binary: serves on port 0, logs one JSON line per request with the request id and
/// the path *without* its query string, and exits cleanly on SIGTERM.
#[test]
fn serve_logs_requests_without_query_strings_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = printwarden(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--https-port",
            "0",
            "--http-port",
            "0",
        ])
        .env("PRINTWARDEN_DATA_DIR", &data)
        .env("PRINTWARDEN_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let listening = data.join("listening.json");
    for _ in 0..200 {
        if listening.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&listening).unwrap()).unwrap();
    let https = doc["https"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let request_id = rt.block_on(async {
        printwarden::install_crypto_provider();
        let client = pw_testkit::tls_client(&data.join("tls/ca.crt"));
        let resp = client
            .get(format!("https://{https}/nope?token=pwk_1_topsecret"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        resp.headers()["x-request-id"].to_str().unwrap().to_owned()
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "clean exit on SIGTERM: {:?}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("topsecret"),
        "query string leaked into the log:\n{stderr}"
    );
    let line = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["path"] == "/nope")
        .unwrap_or_else(|| panic!("no request line in:\n{stderr}"));
    assert_eq!(line["status"], 404);
    assert_eq!(line["method"], "GET");
    assert!(line["latency_ms"].is_number());
    assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    assert!(
        stderr.contains("One-time setup code:"),
        "the setup banner is on the console"
    );
}

fn admin_cli(
    server: &pw_testkit::TestServer,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write as _;
    let mut child = printwarden(&server.data_dir)
        .arg("admin")
        .args(args)
        .env("PRINTWARDEN_DATA_DIR", &server.data_dir)
        .env("PRINTWARDEN_DATABASE_URL", &server.database_url)
        .env("PRINTWARDEN_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_cli_resets_a_password_and_creates_an_admin_while_the_server_runs() {
    use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
    let server = TestServer::spawn().await;
    let old = server.setup_admin().await;

    let out = admin_cli(&server, &["reset-password", "admin"], None);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one_time = stdout
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
        .to_owned();
    assert!(one_time.len() >= 20);
    assert!(stdout.contains("sessions have ended"));
    // The server notices within its revalidation window (another process changed the data).
    let mut status = 0;
    for _ in 0..40 {
        status = server
            .call(&old, "GET", "/api/v1/auth/me", None)
            .await
            .status
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, 401, "the old session ended");
    server.login("admin", &one_time).await;
    let rejected = server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(serde_json::json!({"username": "admin", "password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(rejected.status, 401);

    let out = admin_cli(
        &server,
        &["create-admin", "rescue", "--password-stdin"],
        Some("a rescue password\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("a rescue password"),
        "a given password is not echoed"
    );
    let rescue = server.login("rescue", "a rescue password").await;
    let me = server.call(&rescue, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.json["groups"][0]["name"], "Administrators");

    let out = admin_cli(&server, &["reset-password", "nobody"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user `nobody`"));
    let out = admin_cli(
        &server,
        &["create-admin", "rescue", "--password-stdin"],
        Some("another password 1\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));
    let out = admin_cli(
        &server,
        &["create-admin", "shorty", "--password-stdin"],
        Some("short\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
}

#[tokio::test]
async fn create_admin_on_a_fresh_instance_ends_the_setup_code() {
    let server = pw_testkit::TestServer::spawn().await;
    let code_file = server.data_dir.join("setup-code");
    let code = server.setup_code();
    let out = admin_cli(
        &server,
        &["create-admin", "first", "--password-stdin"],
        Some("the first password\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!code_file.exists(), "the used-up code file is gone");
    let r = server
        .call(
            &pw_testkit::Auth::None,
            "POST",
            "/api/v1/auth/setup",
            Some(serde_json::json!({"setup_code": code, "username": "late", "password": "some password 1"})),
        )
        .await;
    assert_eq!(r.status, 409, "setup is over once an administrator exists");
}

#[test]
fn simulate_writes_printers_json_serves_mqtt_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim");
    let child = printwarden(dir.path())
        .args([
            "simulate",
            "--count",
            "3",
            "--models",
            "X1C,P1S",
            "--state-dir",
        ])
        .arg(&state)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let file = state.join("printers.json");
    for _ in 0..200 {
        if file.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let printers: Vec<pw_simulator::PrinterInfo> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(printers.len(), 3);
    let models: Vec<&str> = printers.iter().map(|p| p.model.as_str()).collect();
    assert_eq!(models, ["X1C", "P1S", "X1C"]);
    let serials: std::collections::BTreeSet<&str> =
        printers.iter().map(|p| p.serial.as_str()).collect();
    assert_eq!(serials.len(), 3, "serials are unique");
    for p in &printers {
        assert_eq!(p.host, "127.0.0.1");
        assert_eq!(p.access_code.len(), 8);
        assert!(std::path::Path::new(&p.ca_cert).exists());
    }
    // The first printer answers MQTT over TLS with its CN = serial, chained to ca_cert.
    let p = printers[0].clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pem = std::fs::read(&p.ca_cert).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier = pw_bambu::trust::PrinterVerifier::new(
            &p.serial,
            None,
            Some(std::sync::Arc::new(roots)),
        );
        let endpoint = pw_bambu::session::Endpoint {
            host: p.host.clone(),
            port: p.mqtt_port,
            serial: p.serial.clone(),
            access_code: pw_credentials::SecretString::new(p.access_code.clone()),
        };
        let mut session = pw_bambu::session::Session::connect(&endpoint, &verifier, "cli-test")
            .await
            .unwrap();
        let mut report = pw_bambu::report::Report::new();
        report.apply(&session.reader.recv().await.unwrap()).unwrap();
        assert_eq!(
            report.status().gcode_state,
            pw_bambu::report::GcodeState::Idle
        );
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "clean exit: {:?}", output.status);
}

#[tokio::test]
async fn admin_cli_removes_a_lost_second_factor() {
    use pw_testkit::totp::{totp_at, unix_now};
    use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let setup = server
        .call(
            &admin,
            "POST",
            "/api/v1/auth/mfa/totp/setup",
            Some(serde_json::json!({})),
        )
        .await;
    let secret = setup.json["secret"].as_str().unwrap().to_owned();
    let enable = server
        .call(
            &admin,
            "POST",
            "/api/v1/auth/mfa/totp/enable",
            Some(serde_json::json!({"code": totp_at(&secret, unix_now())})),
        )
        .await;
    assert_eq!(enable.status, 200, "{:?}", enable.json);
    let login = || {
        server.call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(serde_json::json!({"username": "admin", "password": TEST_PASSWORD})),
        )
    };
    assert_eq!(login().await.json["mfa_required"], true);

    // The phone is lost: the operator removes the factor on the server host.
    let out = admin_cli(&server, &["reset-mfa", "admin"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sessions have ended"));
    let signed_in = login().await;
    assert!(
        signed_in.session_cookie().is_some(),
        "the password alone signs in again: {:?}",
        signed_in.json
    );
    let out = admin_cli(&server, &["reset-mfa", "nobody"], None);
    assert_eq!(out.status.code(), Some(1));
}

/// `printwarden demo` creates its data dir and the simulator's state dir 0700: the simulator
/// writes there before the server starts, and used to create both 0755.
#[test]
fn demo_creates_its_data_dir_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = printwarden(dir.path())
        .args(["demo", "--job-seconds", "5"])
        .env("PRINTWARDEN_DATA_DIR", &data)
        .env("PRINTWARDEN_BIND", "127.0.0.1")
        .env("PRINTWARDEN_HTTPS_PORT", "0")
        .env("PRINTWARDEN_HTTP_PORT", "0")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listening = data.join("listening.json");
    for _ in 0..400 {
        if listening.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data_mode = mode(&data);
    let sim_mode = mode(&data.join("demo-printers"));
    let db_mode = mode(&data.join("printwarden.db"));
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(listening.exists(), "the demo started");
    assert_eq!(data_mode, 0o700, "data dir {data_mode:o}");
    assert_eq!(sim_mode, 0o700, "simulator dir {sim_mode:o}");
    assert_eq!(db_mode, 0o600, "database {db_mode:o}");
}
