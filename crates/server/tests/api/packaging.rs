//! The packaging files (`Dockerfile`, `packaging/printwarden.service`) checked against the real
//! binary. No container engine runs on the test machines, so the image itself is not built
//! here; instead the runtime stage's steps are replayed: its environment must be a valid
//! configuration, the server must start with it, and the image's health check command must
//! answer for that server. The build stage's `--locked` must hold for this Cargo.lock.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn printwarden(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_printwarden"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// The instructions of the Dockerfile's last stage, continuation lines joined.
fn runtime_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let mut stage = Vec::new();
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if word.eq_ignore_ascii_case("FROM") {
            stage.clear();
        }
        stage.push((word.to_ascii_uppercase(), rest.trim().to_owned()));
    }
    stage
}

fn instruction<'a>(stage: &'a [(String, String)], word: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(w, _)| w == word)
        .map(|(_, rest)| rest.as_str())
        .collect()
}

/// `ENV A=1 B=2` pairs of the stage.
fn env_of(stage: &[(String, String)]) -> Vec<(String, String)> {
    instruction(stage, "ENV")
        .into_iter()
        .flat_map(|rest| rest.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn json_words(rest: &str) -> Vec<String> {
    serde_json::from_str(rest)
        .map_err(|e| format!("not an exec-form list: {rest}: {e}"))
        .unwrap()
}

#[test]
fn the_image_runs_as_non_root_with_its_data_in_a_volume_and_checks_its_own_health() {
    let stage = runtime_stage();
    let env = env_of(&stage);
    let get = |k: &str| {
        env.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("the runtime stage sets no {k}"))
            .unwrap()
    };

    // Non-root, by number (a name could map to root in a base image we do not control).
    let user = instruction(&stage, "USER");
    let uid = user.last().unwrap().split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().unwrap() > 0,
        "USER must be a non-root uid, got {user:?}"
    );
    // The data directory is the volume, and the directory the image ships is owned by that uid.
    let data_dir = get("PRINTWARDEN_DATA_DIR");
    let volumes = instruction(&stage, "VOLUME").join(" ");
    assert!(volumes.contains(&format!("\"{data_dir}\"")), "{volumes}");
    let copies = instruction(&stage, "COPY").join("\n");
    assert!(
        copies.contains(&format!("--chown={uid}:")) && copies.contains(&format!(" {data_dir}")),
        "the data directory must be created owned by the runtime user: {copies}"
    );
    // The ports it announces are the ones it listens on.
    let exposed = instruction(&stage, "EXPOSE").join(" ");
    for port in ["PRINTWARDEN_HTTPS_PORT", "PRINTWARDEN_HTTP_PORT"] {
        assert!(
            exposed.split_whitespace().any(|p| p == get(port)),
            "{port} not exposed"
        );
    }
    let entrypoint = json_words(instruction(&stage, "ENTRYPOINT").last().unwrap());
    let health = instruction(&stage, "HEALTHCHECK").join(" ");
    let health_cmd = json_words(health.split_once("CMD").unwrap().1.trim());
    assert_eq!(
        health_cmd[0], entrypoint[0],
        "the health check runs the server binary"
    );
    assert_eq!(health_cmd[1..], ["healthcheck".to_owned()]);
    let cmd = json_words(instruction(&stage, "CMD").last().unwrap());
    assert_eq!(cmd, ["serve".to_owned()]);

    // Replay: the server started with the image's environment (a fresh data directory in place
    // of the volume, loopback and port 0 because tests run side by side), then the image's health check.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let with_env = |cmd: &mut Command| {
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.env("PRINTWARDEN_DATA_DIR", &data)
            .env("PRINTWARDEN_BIND", "127.0.0.1")
            .env("PRINTWARDEN_HTTPS_PORT", "0")
            .env("PRINTWARDEN_HTTP_PORT", "0");
    };
    let mut check = printwarden(dir.path());
    with_env(&mut check);
    let out = check.args(["config", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "the image's environment is not a valid configuration: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut serve = printwarden(dir.path());
    with_env(&mut serve);
    let mut child = serve
        .args(&cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if data.join("listening.json").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut probe = printwarden(dir.path());
    with_env(&mut probe);
    let healthy = probe.args(&health_cmd[1..]).output().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
}

#[test]
fn the_image_build_is_locked_and_its_context_leaves_out_local_state() {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    assert!(text.contains("cargo build --release --locked --bin printwarden"));
    // `--locked` fails the image build when Cargo.lock is stale; find that out here instead.
    // The lock is resolved for every platform either way; the filter only keeps cargo from
    // wanting the sources of other platforms' crates (Windows-only ones), which an offline
    // machine that only ever built for Linux does not have.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--filter-platform",
            env!("PW_BUILD_TARGET"),
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Cargo.lock is out of date: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    // target/ is gigabytes; printwarden-data holds a local instance's keys and database.
    for entry in [".git", "target", "printwarden-data", "e2e/node_modules"] {
        assert!(ignored.contains(&entry), ".dockerignore lacks {entry}");
    }
}

/// The unit's directives that the hardening rests on, and systemd's own exposure score.
#[test]
fn the_systemd_unit_is_hardened() {
    let path = repo_root().join("packaging/printwarden.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    let set: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    for needed in [
        "User=printwarden",
        "StateDirectory=printwarden",
        "StateDirectoryMode=0700",
        "Environment=PRINTWARDEN_DATA_DIR=/var/lib/printwarden",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestartPreventExitStatus=2",
        "UMask=0077",
    ] {
        assert!(set.contains(&needed), "the unit lacks {needed}");
    }
    // Every PRINTWARDEN_* it sets is a name the server knows (an unknown one stops the start).
    let dir = tempfile::tempdir().unwrap();
    let mut check = printwarden(dir.path());
    for line in &set {
        if let Some(pair) = line.strip_prefix("Environment=") {
            let (k, v) = pair.split_once('=').unwrap();
            check.env(
                k,
                v.replace("/var/lib/printwarden", &dir.path().display().to_string()),
            );
        }
    }
    let out = check.args(["config", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users =
        std::fs::read_to_string(repo_root().join("packaging/printwarden.sysusers")).unwrap();
    assert!(users.lines().any(|l| l.starts_with("u printwarden ")));

    // systemd's score, 0 (locked down) to 10: the unit must stay at 2.0 or below.
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze is missing; scripts/test.sh installs it under CI"
        );
        eprintln!("systemd-analyze not installed: exposure score not checked");
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Overall exposure level"), "{report}");
}
