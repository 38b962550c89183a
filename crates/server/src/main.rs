//! The `printwarden` binary: installs the crypto provider and hands over to the CLI.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    printwarden::install_crypto_provider();
    printwarden::cli::run(printwarden::cli::Cli::parse())
}
