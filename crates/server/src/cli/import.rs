//! `printwarden import bambuddy|3dprintforge|filament-bridge <path> [--dry-run]`: users with
//! their password hashes, groups mapped to printwarden's permissions, printers with their
//! access codes (sealed) and, for Bambuddy, its archive entries, library folders and files,
//! and waiting queue items with the files they name (read from the directory holding its
//! database) — through the application's one import use case (`pw_app::App::import_from`),
//! which plans, reports and writes in one transaction.
//!
//! A real import takes the data directory's lock, so it refuses to run beside a server: the
//! server starts a supervisor for each printer it knows at start, and the imported printers
//! come online (certificate pinned at first contact) when it starts again. A dry run only
//! reads and may run at any time.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use pw_app::{Actor, ImportTool};

use crate::config::Settings;
use crate::serve::keys;

/// The tool to import from.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Tool {
    /// Bambuddy's SQLite database (`bambuddy.db` in its data directory).
    Bambuddy,
    /// 3DPrintForge's SQLite database (`data/dashboard.db`).
    #[value(name = "3dprintforge")]
    PrintForge,
    /// filament-bridge's SQLite database.
    FilamentBridge,
}

/// `import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which tool the file comes from.
    #[arg(value_enum)]
    pub tool: Tool,
    /// The tool's database file (Bambuddy: `bambuddy.db` in its data directory, where the
    /// files its archive and library name are read from).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Print what would be imported and what has no equivalent, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON instead of sentences.
    #[arg(long)]
    pub json: bool,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "printwarden: {message}");
    ExitCode::FAILURE
}

pub(super) async fn import(settings: Settings, args: ImportArgs) -> ExitCode {
    let tool = match args.tool {
        Tool::Bambuddy => ImportTool::Bambuddy,
        Tool::PrintForge => ImportTool::PrintForge,
        Tool::FilamentBridge => ImportTool::FilamentBridge,
    };
    let data_dir = &settings.data_dir;
    if let Err(e) = crate::serve::tls::create_private_dir(data_dir) {
        return fail(e);
    }
    // Held until the end: no server starts meanwhile, and we do not write beside one.
    let _lock = if args.dry_run {
        None
    } else {
        match crate::serve::lock_data_dir(data_dir) {
            Ok(lock) => lock,
            Err(crate::serve::StartError::DataDirInUse(_)) => {
                return fail(format!(
                    "{} is in use by a running server. Stop it first (its printers start when it \
                     starts), or add --dry-run to only see the report",
                    data_dir.display()
                ));
            }
            Err(e) => return fail(e),
        }
    };
    if let Err(e) = crate::serve::restore::refuse_if_interrupted(data_dir) {
        return fail(e);
    }
    let key = match keys::existing(settings.secret_key.as_ref(), data_dir) {
        Ok(Some(sealing)) => sealing.key().cloned(),
        Ok(None) if args.dry_run => None,
        Ok(None) => {
            return fail(
                "there is no sealing key yet, so access codes could not be sealed: start the \
                 server once (it creates one) or set PRINTWARDEN_SECRET_KEY, then import",
            );
        }
        Err(e) => return fail(e),
    };
    let store = match pw_store::Store::connect(settings.database_url.expose()).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = store.migrate().await {
        store.close().await;
        return fail(e);
    }
    let app =
        match pw_app::App::start(store.clone(), crate::serve::app_config(&settings, key)).await {
            Ok(app) => app,
            Err(e) => {
                store.close().await;
                return fail(e);
            }
        };
    let outcome = app
        .import_from(&Actor::system(), tool, &args.path, args.dry_run)
        .await;
    store.close().await;
    match outcome {
        Ok(report) => {
            let mut out = std::io::stdout();
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => {
                        let _ = writeln!(out, "{j}");
                    }
                    Err(e) => return fail(e),
                }
            } else {
                let _ = write!(out, "{}", report.to_text());
                if !args.dry_run && report.printers_created > 0 {
                    let _ = writeln!(
                        out,
                        "\nStart the server: the imported printers connect then, and each one's \
                         certificate is pinned at first contact."
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
