//! Build information for `printwarden --version`: the commit and its date, the target and the
//! compiler. No wall-clock time is recorded, so two builds of one commit are byte-identical.
//!
//! A build without git metadata (a source tarball, a container build context without `.git`)
//! takes `PRINTWARDEN_BUILD_COMMIT` / `PRINTWARDEN_BUILD_DATE` from the environment, else
//! says "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    for var in ["PRINTWARDEN_BUILD_COMMIT", "PRINTWARDEN_BUILD_DATE"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // Rebuild when HEAD moves (a commit, a checkout); the paths come from git itself so that
    // worktrees, whose `.git` is a file, work too.
    for what in ["HEAD", "refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", what]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("PRINTWARDEN_BUILD_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let date = std::env::var("PRINTWARDEN_BUILD_DATE")
        .ok()
        .or_else(|| git(&["log", "-1", "--format=%cs"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=PW_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=PW_BUILD_DATE={date}");
    println!("cargo:rustc-env=PW_BUILD_RUSTC={rustc}");
    println!("cargo:rustc-env=PW_BUILD_TARGET={target}");
    println!("cargo:rustc-env=PW_BUILD_PROFILE={profile}");
}
