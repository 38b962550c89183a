//! The `printwarden` server as a library: configuration, TLS material, the sealing key and the
//! wiring that starts listeners. The binary (`main.rs`) and the test harness (`pw-testkit`)
//! both start the server through [`serve::start`], so tests run exactly what ships.
//!
//! Layout: `serve/` starts and runs the listeners (TLS material, certificate management, the
//! sealing key, the acceptor's connection limits); `config/` reads and validates the settings;
//! `cli/` holds the commands of the binary.

pub mod cli;
pub mod config;
pub mod serve;

pub use pw_store::SearchTuning;
pub use serve::{Overrides, Running, StartError, VERSION, start, start_with};
pub use serve::{accept, certificates, keys, tls};

/// `printwarden --version`: the version, then the build it came from (see `build.rs`), so a
/// bug report names the exact commit.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit:   ",
    env!("PW_BUILD_COMMIT"),
    " (",
    env!("PW_BUILD_DATE"),
    ")\ntarget:   ",
    env!("PW_BUILD_TARGET"),
    " (",
    env!("PW_BUILD_PROFILE"),
    ")\ncompiler: ",
    env!("PW_BUILD_RUSTC"),
    "\ndatabases: SQLite, PostgreSQL\ncrypto:   rustls with ring (no OpenSSL)"
);

/// Installs ring as the process-wide rustls crypto provider. Call first thing in `main` and in
/// tests; repeated calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
