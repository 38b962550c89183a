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
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("printwarden {}", printwarden::VERSION)
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
