//! The `printwarden` server as a library: configuration, TLS material, the sealing key and the
//! wiring that starts listeners. The binary (`main.rs`) and the test harness (`pw-testkit`)
//! both start the server through [`serve::start`], so tests run exactly what ships.

pub mod accept;
pub mod certificates;
pub mod cli;
pub mod config;
pub mod keys;
pub mod serve;
pub mod tls;

pub use serve::{Overrides, Running, StartError, VERSION, start, start_with};

/// Installs ring as the process-wide rustls crypto provider. Call first thing in `main` and in
/// tests; repeated calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
