//! The configuration layers, validation and redaction, against explicit environments.

use std::net::Ipv4Addr;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    load_with_env(&Sources::default(), env(pairs))
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = load_env(&[]).unwrap();
    assert_eq!(s.https_port, 3443);
    assert_eq!(s.http_port, 3000);
    assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(s.tls, TlsMode::Auto);
    assert!(s.auth_enabled && s.rate_limits);
    assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(
        s.database_url
            .expose()
            .starts_with("sqlite://./printwarden-data/printwarden.db")
    );
}

#[test]
fn connection_limits_have_defaults_take_numbers_from_the_environment_and_are_checked() {
    let s = load_env(&[]).unwrap();
    assert_eq!(s.connections, ConnectionSettings::default());
    assert_eq!(s.connections.idle.as_secs(), 75);
    let s = load_env(&[
        ("PRINTWARDEN_MAX_CONNECTIONS", "100"),
        ("PRINTWARDEN_MAX_CONNECTIONS_PER_ADDRESS", "10"),
        ("PRINTWARDEN_HEADER_READ_TIMEOUT_SECONDS", "2"),
    ])
    .unwrap();
    assert_eq!((s.connections.max, s.connections.per_address), (100, 10));
    assert_eq!(s.connections.first_request.as_secs(), 2);
    assert!(s.redacted_toml().contains("max_connections = 100"));
    let bad = load_env(&[
        ("PRINTWARDEN_MAX_CONNECTIONS", "5"),
        ("PRINTWARDEN_MAX_CONNECTIONS_PER_ADDRESS", "10"),
        ("PRINTWARDEN_IDLE_TIMEOUT_SECONDS", "0"),
    ])
    .unwrap_err()
    .to_string();
    assert!(bad.contains("must not exceed max_connections"), "{bad}");
    assert!(
        bad.contains("idle_timeout_seconds must be between"),
        "{bad}"
    );
}

#[test]
fn rate_limits_default_to_the_seed_values_and_switch_off_together() {
    let s = load_env(&[]).unwrap();
    assert_eq!(s.limits, LimitSettings::default());
    assert_eq!(s.limits.api.to_string(), "200/1m");
    assert_eq!(s.limits.login.to_string(), "5/15m");
    let s = load_env(&[
        ("PRINTWARDEN_RATE_LIMIT_API", "0"),
        ("PRINTWARDEN_RATE_LIMIT_MFA", "3/10m"),
        (
            "PRINTWARDEN_ALLOWED_HOSTS",
            "Farm.Example.com., printers.lan",
        ),
    ])
    .unwrap();
    assert!(!s.limits.api.is_on());
    assert_eq!(s.limits.mfa.to_string(), "3/10m");
    assert_eq!(s.allowed_hosts, ["farm.example.com", "printers.lan"]);
    let off = load_env(&[("PRINTWARDEN_RATE_LIMITS", "off")]).unwrap();
    assert_eq!(off.limits, LimitSettings::OFF);
    assert!(off.redacted_toml().contains("rate_limit_login = \"0\""));
}

#[test]
fn environment_overrides_defaults_and_flags_override_environment() {
    let sources = Sources {
        flags: FlagOverrides {
            https_port: Some(9443),
            ..FlagOverrides::default()
        },
        ..Sources::default()
    };
    let s = load_with_env(
        &sources,
        env(&[
            ("PRINTWARDEN_HTTPS_PORT", "8443"),
            ("PRINTWARDEN_HTTP_PORT", "0"),
            ("PRINTWARDEN_BIND", "127.0.0.1"),
        ]),
    )
    .unwrap();
    assert_eq!((s.https_port, s.http_port), (9443, 0));
    assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn file_layer_sits_between_defaults_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw.toml");
    std::fs::write(
        &file,
        "https_port = 7443\nhttp_port = 7000\nlog = \"debug\"\n",
    )
    .unwrap();
    let sources = Sources {
        config_file: Some(file),
        ..Sources::default()
    };
    let s = load_with_env(&sources, env(&[("PRINTWARDEN_HTTP_PORT", "7001")])).unwrap();
    assert_eq!(
        (s.https_port, s.http_port, s.log.as_str()),
        (7443, 7001, "debug")
    );
}

#[test]
fn unknown_keys_are_errors_in_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw.toml");
    std::fs::write(&file, "htps_port = 1\n").unwrap();
    let err = load_with_env(
        &Sources {
            config_file: Some(file),
            ..Sources::default()
        },
        env(&[]),
    );
    assert!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains("htps_port")),
        "{err:?}"
    );

    let err = load_env(&[("PRINTWARDEN_HTTPS_PROT", "1")]);
    assert!(
        err.as_ref()
            .is_err_and(|e| e.to_string().contains("PRINTWARDEN_HTTPS_PROT")),
        "{err:?}"
    );
    // The test harness's own variables are not configuration.
    assert!(load_env(&[("PRINTWARDEN_TEST_DB", "postgres")]).is_ok());
}

#[test]
fn the_printer_ca_file_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for (path, want) in [
        (dir.path().join("missing.pem"), "printer_ca_file:"),
        (junk, "holds no certificate"),
    ] {
        let err = load_env(&[("PRINTWARDEN_PRINTER_CA_FILE", &path.display().to_string())]);
        let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(text.contains(want), "{path:?}: {text}");
    }
}

#[test]
fn invalid_values_are_all_reported_with_what_to_fix() {
    let err = load_env(&[
        ("PRINTWARDEN_BIND", "everywhere"),
        ("PRINTWARDEN_TLS", "maybe"),
        ("PRINTWARDEN_AUTH", "sometimes"),
        ("PRINTWARDEN_SECRET_KEY", "short"),
        ("PRINTWARDEN_DATABASE_URL", "mysql://x"),
        ("PRINTWARDEN_TRUSTED_PROXIES", "10.0.0.0/8, 300.1.1.1"),
        ("PRINTWARDEN_PUBLIC_URL", "farm.local"),
        ("PRINTWARDEN_RATE_LIMITS", "sometimes"),
        ("PRINTWARDEN_RATE_LIMIT_API", "lots"),
        ("PRINTWARDEN_RATE_LIMIT_LOGIN", "5/15d"),
        (
            "PRINTWARDEN_ALLOWED_HOSTS",
            "farm.example.com, https://x.example",
        ),
    ]);
    let text = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
    for needle in [
        "bind:",
        "tls:",
        "auth:",
        "secret_key:",
        "database_url:",
        "300.1.1.1",
        "public_url:",
        "rate_limits:",
        "rate_limit_api:",
        "rate_limit_login:",
        "allowed_hosts: `https://x.example`",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
    assert!(load_env(&[("PRINTWARDEN_HTTPS_PORT", "70000")]).is_err());
    assert!(
        load_env(&[("PRINTWARDEN_HTTPS_PORT", "3000")]).is_err(),
        "ports must differ"
    );
    assert!(
        load_env(&[("PRINTWARDEN_TLS", "files")]).is_err(),
        "files needs paths"
    );
}

#[test]
fn secrets_come_from_files_and_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    let key = SealingKey::from_bytes([9; 32]).to_base64();
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let url_file = dir.path().join("db");
    std::fs::write(&url_file, "postgres://pw:hunter2@db.local/pw").unwrap();
    let s = load_env(&[
        ("PRINTWARDEN_SECRET_KEY_FILE", key_file.to_str().unwrap()),
        ("PRINTWARDEN_DATABASE_URL_FILE", url_file.to_str().unwrap()),
    ])
    .unwrap();
    assert_eq!(
        s.secret_key.as_ref().map(SealingKey::to_base64),
        Some(key.clone())
    );
    let printed = s.redacted_toml();
    assert!(
        !printed.contains("hunter2") && !printed.contains(&key),
        "{printed}"
    );
    assert!(printed.contains("REDACTED"));
    let both = load_env(&[
        ("PRINTWARDEN_SECRET_KEY", &key),
        ("PRINTWARDEN_SECRET_KEY_FILE", "/x"),
    ]);
    assert!(both.is_err());
}

#[test]
fn keys_list_matches_the_struct() {
    for key in KEYS {
        let toml = format!(
            "{key} = {}",
            if key.ends_with("port") { "1" } else { "\"x\"" }
        );
        let parsed: Result<RawConfig, _> =
            Figment::from(Serialized::defaults(RawConfig::default()))
                .merge(Toml::string(&toml))
                .extract();
        assert!(
            parsed.is_ok()
                || !parsed
                    .as_ref()
                    .is_err_and(|e| e.to_string().contains("unknown field")),
            "{key}"
        );
    }
}
