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
