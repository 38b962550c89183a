//! The command line: `printwarden [serve]`, `printwarden config check`, `printwarden migrate`,
//! `printwarden admin …`, `printwarden import …`, `printwarden simulate …`, `printwarden demo`, `printwarden
//! printer-check …`, `--version`. Global flags override the config file and the environment.
//! Secrets have no flags on purpose (threat: process arguments are visible to every local user
//! via `ps`). The README's command table is generated from these definitions
//! ([`commands_markdown`]), so `--help` and the docs say the same.
//!
//! This module holds the command tree, dispatch, `serve`, `config check` and what every
//! command shares (runtime, logging, signals); each other command has its own file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{self, FlagOverrides, LogFormat, Settings, Sources};

mod admin;
mod backup;
mod demo;
mod healthcheck;
mod import;
mod keys;
pub mod log_writer;
mod migrate;
mod printer_check;
mod simulate;

pub use admin::AdminAction;
pub use backup::BackupAction;
pub use demo::DemoArgs;
pub use import::{ImportArgs, Tool as ImportSource};
pub use keys::KeysAction;
pub use printer_check::PrinterCheckArgs;
pub use simulate::SimulateArgs;

use admin::admin;
use backup::backup;
use demo::demo;
use healthcheck::healthcheck;
use migrate::migrate;
use printer_check::printer_check;
use simulate::simulate;

/// printwarden — a secure command center for Bambu Lab print farms.
#[derive(Debug, Parser)]
#[command(
    name = "printwarden",
    version,
    long_version = crate::LONG_VERSION,
    about,
    propagate_version = true
)]
pub struct Cli {
    /// Config file (default: ./printwarden.toml when it exists; env PRINTWARDEN_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./printwarden-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 0.0.0.0).
    #[arg(long, global = true, value_name = "IP")]
    pub bind: Option<String>,
    /// HTTPS port (default 3443; 0 picks a free one).
    #[arg(long, global = true, value_name = "PORT")]
    pub https_port: Option<u16>,
    /// HTTP port (default 3000; redirects to HTTPS unless --tls off).
    #[arg(long, global = true, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// TLS mode: auto, files, off.
    #[arg(long, global = true, value_name = "MODE")]
    pub tls: Option<String>,
    /// Log filter, e.g. info or printwarden=debug.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Inspect the configuration.
    Config {
        /// What to do with it.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Create the data directory if needed, apply pending database migrations, print what was
    /// applied, and exit.
    Migrate,
    /// Recovery: create an administrator or reset a password (works while the server runs).
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The sealing key of secrets at rest: its status, and rotation.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Encrypted backups: create (while the server runs), verify, restore (server stopped).
    Backup {
        /// What to do.
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Import users (with their password hashes), groups, printers (access codes sealed) and,
    /// from Bambuddy, its archive, library and waiting queue with their files, from Bambuddy,
    /// 3DPrintForge or filament-bridge. Stop the server first; --dry-run only reports and
    /// writes nothing.
    Import(ImportArgs),
    /// Run simulated printers (MQTT over TLS on 127.0.0.1) for the demo, tests and benchmarks.
    Simulate(SimulateArgs),
    /// The server plus three simulated printers (X1C, P1S, A1), already added: the quickest
    /// way to see the product.
    Demo(DemoArgs),
    /// Ask the server running on this data directory for /healthz over its own pinned
    /// certificate; exit 0 when it answers ok (for container health checks and service managers).
    Healthcheck,
    /// Connect to a printer's MQTT broker as the server would (certificate checks, login,
    /// first report) and say what happened. The access code is read from standard input.
    PrinterCheck(PrinterCheckArgs),
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and print the effective settings as TOML, with the database
    /// password and the sealing key redacted.
    Check,
}

impl Cli {
    fn sources(&self) -> Sources {
        let default_file = std::path::Path::new(config::DEFAULT_CONFIG_FILE);
        let env_file = std::env::var_os("PRINTWARDEN_CONFIG").map(PathBuf::from);
        Sources {
            config_file: self
                .config
                .clone()
                .or(env_file)
                .or_else(|| default_file.is_file().then(|| default_file.to_owned())),
            flags: FlagOverrides {
                data_dir: self.data_dir.clone(),
                bind: self.bind.clone(),
                https_port: self.https_port,
                http_port: self.http_port,
                tls: self.tls.clone(),
                log: self.log.clone(),
            },
        }
    }
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match config::load(&cli.sources()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            action: ConfigAction::Check,
        } => {
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "# printwarden {} — effective configuration (secrets redacted)",
                crate::VERSION
            );
            let _ = write!(out, "{}", settings.redacted_toml());
            let _ = writeln!(std::io::stderr(), "configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Migrate => with_runtime(&settings, migrate),
        Command::Admin { action } => with_runtime(&settings, |s| admin(s, action)),
        Command::Backup { action } => with_runtime(&settings, |s| backup(s, action)),
        Command::Serve => with_runtime(&settings, serve),
        Command::Keys { action } => with_runtime(&settings, |s| keys::keys_command(s, action)),
        Command::Import(args) => with_runtime(&settings, |s| import::import(s, args)),
        Command::Simulate(args) => with_runtime(&settings, |_| simulate(args)),
        Command::Demo(args) => with_runtime(&settings, |s| demo(s, args)),
        Command::PrinterCheck(args) => with_runtime(&settings, |_| printer_check(args)),
        Command::Healthcheck => with_runtime(&settings, healthcheck),
    }
}

fn with_runtime<F, Fut>(settings: &Settings, f: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    init_logging(settings);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f(settings.clone())),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "printwarden: cannot start the async runtime: {e}"
            );
            ExitCode::FAILURE
        }
    };
    // The last lines (often why the command ended) are still queued for the log writer.
    log_writer::flush_logs();
    code
}

/// Runs until a signal; a restore confirmed on Settings → Backup stops the server, applies it
/// and starts it again in this process (`serve::restore`).
async fn serve(settings: Settings) -> ExitCode {
    let mut outcome = None;
    loop {
        let running = match crate::start(&settings).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(outcome) = outcome.take() {
            running.app.record_restore_outcome(outcome).await;
        }
        let mut restores = running.app.attach_restarter();
        tokio::select! {
            () = wait_for_signal() => {
                tracing::info!("shutting down");
                running.shutdown().await;
                return ExitCode::SUCCESS;
            }
            Some(pending) = restores.recv() => {
                tracing::warn!("stopping to apply a restore");
                running.shutdown().await;
                outcome = Some(crate::serve::restore::apply(&settings, pending).await);
            }
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

fn init_logging(settings: &Settings) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    // Lines are formatted on the thread that logs and written by one writer thread, so no
    // request waits for stderr (see `log_writer` for what happens when the sink stalls).
    let Some((writer, guard)) = log_writer::spawn(std::io::stderr()) else {
        init_logging_with(filter, json, std::io::stderr);
        return;
    };
    log_writer::keep(guard);
    init_logging_with(filter, json, writer);
}

fn init_logging_with<W>(filter: EnvFilter, json: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// The README's command table rows: every leaf command with its arguments and its help text,
/// rendered from the clap definitions above.
#[must_use]
pub fn commands_markdown() -> String {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, out: &mut String) {
        let path = format!("{path} {}", cmd.get_name());
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if !subs.is_empty() {
            for sub in subs {
                walk(sub, &path, out);
            }
            return;
        }
        let mut usage = path;
        for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let value = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| id.to_uppercase(), ToString::to_string);
            let takes_value = arg.get_action().takes_values();
            let text = match arg.get_long() {
                Some(long) if takes_value => format!("--{long} <{value}>"),
                Some(long) => format!("--{long}"),
                None => format!("<{}>", id.replace('_', "-")),
            };
            if arg.is_required_set() || arg.get_long().is_none() {
                usage.push(' ');
                usage.push_str(&text);
            } else {
                usage.push_str(&format!(" [{text}]"));
            }
        }
        let help = cmd
            .get_long_about()
            .or_else(|| cmd.get_about())
            .map(|h| {
                h.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push_str(&format!("| `{}` | {help} |\n", usage.trim_start()));
    }
    let cli = Cli::command();
    let mut out = String::from("\n\n| Command | What it does |\n|---|---|\n");
    for sub in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        walk(sub, cli.get_name(), &mut out);
    }
    out.push_str("| `printwarden --version` | Print the version |\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_commands_table_is_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let problems =
            pw_http::docs::check_sections(root, "README.md", &[("commands", commands_markdown())]);
        assert!(
            problems.is_empty(),
            "{problems:?}: run `UPDATE_DOCS=1 cargo test -p printwarden --lib commands` and commit README.md"
        );
    }

    #[test]
    fn every_command_is_in_the_table() {
        let table = commands_markdown();
        for name in [
            "serve",
            "config check",
            "migrate",
            "admin reset-mfa",
            "keys status",
            "keys rotate",
            "backup create",
            "backup verify",
            "backup restore",
            "simulate",
            "demo",
            "printer-check",
        ] {
            assert!(
                table.contains(&format!("`printwarden {name}")),
                "{name} missing:\n{table}"
            );
        }
    }
}
