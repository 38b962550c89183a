//! The command line: `printwarden [serve]`, `printwarden config check`, `printwarden migrate`,
//! `printwarden admin …`, `printwarden simulate …`, `printwarden demo`, `printwarden
//! printer-check …`, `--version`. Global flags override the config file and the environment.
//! Secrets have no flags on purpose (threat: process arguments are visible to every local user
//! via `ps`). The README's command table is generated from these definitions
//! ([`commands_markdown`]), so `--help` and the docs say the same.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{self, FlagOverrides, LogFormat, Settings, Sources};

/// printwarden — a secure command center for Bambu Lab print farms.
#[derive(Debug, Parser)]
#[command(name = "printwarden", version, about, propagate_version = true)]
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
    /// Run simulated printers (MQTT over TLS on 127.0.0.1) for the demo, tests and benchmarks.
    Simulate(SimulateArgs),
    /// The server plus three simulated printers (X1C, P1S, A1), already added: the quickest
    /// way to see the product.
    Demo(DemoArgs),
    /// Connect to a printer's MQTT broker as the server would (certificate checks, login,
    /// first report) and say what happened. The access code is read from standard input.
    PrinterCheck(PrinterCheckArgs),
}

/// `printer-check` options.
#[derive(Debug, clap::Args)]
pub struct PrinterCheckArgs {
    /// Host name or address.
    #[arg(long)]
    pub host: String,
    /// MQTT port.
    #[arg(long, default_value_t = 8883)]
    pub port: u16,
    /// Serial (the certificate's CN).
    #[arg(long)]
    pub serial: String,
    /// Expected certificate SHA-256 (hex); without it the first certificate is accepted.
    #[arg(long)]
    pub pin: Option<String>,
    /// A CA bundle (PEM) the certificate must chain to.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

/// `demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seconds a print takes once running.
    #[arg(long, default_value_t = 300.0)]
    pub job_seconds: f64,
}

/// `simulate` options (the simulator contract in API.md).
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// How many printers.
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Where certificates, access codes and printers.json live (kept across restarts).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Models, assigned in turn: X1C, P1S, P1P, A1, A1MINI.
    #[arg(long, value_delimiter = ',', default_value = "X1C,P1S,A1")]
    pub models: Vec<String>,
    /// Issue every printer a new certificate at start (a pinned server must refuse them).
    #[arg(long)]
    pub rotate_certs: bool,
    /// Seconds a print takes once running.
    #[arg(long, default_value_t = 600.0)]
    pub job_seconds: f64,
    /// Refuse control commands as printers with Developer Mode off do.
    #[arg(long)]
    pub developer_mode_off: bool,
    /// Fail every job at this percent.
    #[arg(long, value_name = "PERCENT")]
    pub fail_at: Option<u8>,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create a new member of Administrators. The password is read from one line of standard
    /// input, or else generated and printed once.
    CreateAdmin {
        /// The new administrator's username.
        username: String,
        /// Read the password from standard input instead of printing a generated one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (from standard input, or generated and printed once) and end all
    /// their sessions.
    ResetPassword {
        /// Whose password.
        username: String,
        /// Read the password from standard input instead of printing a generated one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factors (TOTP, backup codes, email codes) and end their sessions.
    ResetMfa {
        /// Whose second factors.
        username: String,
    },
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
        Command::Serve => with_runtime(&settings, serve),
        Command::Simulate(args) => with_runtime(&settings, |_| simulate(args)),
        Command::Demo(args) => with_runtime(&settings, |s| demo(s, args)),
        Command::PrinterCheck(args) => with_runtime(&settings, |_| printer_check(args)),
    }
}

async fn simulate(args: SimulateArgs) -> ExitCode {
    let mut models = Vec::new();
    for name in &args.models {
        match pw_simulator::Model::parse(name) {
            Some(m) => models.push(m),
            None => {
                let _ = writeln!(
                    std::io::stderr(),
                    "printwarden: unknown model `{name}` (known: X1C, P1S, P1P, A1, A1MINI)"
                );
                return ExitCode::from(2);
            }
        }
    }
    if !(1..=5000).contains(&args.count) {
        let _ = writeln!(std::io::stderr(), "printwarden: --count must be 1 to 5000");
        return ExitCode::from(2);
    }
    let mut options = pw_simulator::Options::new(args.count, &args.state_dir);
    options.models = models;
    options.rotate_certs = args.rotate_certs;
    options.behaviour.job_seconds = args.job_seconds.max(1.0);
    options.behaviour.developer_mode = !args.developer_mode_off;
    options.behaviour.fail_at = args.fail_at;
    let farm = match pw_simulator::Farm::start(options).await {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    match farm.write_printers_json(&args.state_dir) {
        Ok(path) => tracing::info!(
            printers = farm.printers.len(),
            file = %path.display(),
            "simulated printers are listening"
        ),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: simulator: {e}");
            return ExitCode::FAILURE;
        }
    }
    wait_for_signal().await;
    drop(farm);
    ExitCode::SUCCESS
}

fn with_runtime<F, Fut>(settings: &Settings, f: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    init_logging(settings);
    match tokio::runtime::Builder::new_multi_thread()
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
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let running = match crate::start(&settings).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}

/// Connects like the printer supervisor and reports: the fingerprint presented, login, the
/// first report's state. Exit 0 only when a report arrived.
async fn printer_check(args: PrinterCheckArgs) -> ExitCode {
    use pw_bambu::report::{Frame, Report};
    let mut code = String::new();
    if std::io::stdin().read_line(&mut code).is_err() || code.trim().is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "printwarden: pipe the access code on standard input"
        );
        return ExitCode::from(2);
    }
    let pin = match args.pin.as_deref().map(pw_bambu::trust::Fingerprint::parse) {
        Some(None) => {
            let _ = writeln!(
                std::io::stderr(),
                "printwarden: --pin must be 64 hex digits"
            );
            return ExitCode::from(2);
        }
        Some(Some(p)) => Some(p),
        None => None,
    };
    let roots = match &args.ca_file {
        Some(path) => match crate::config::load_roots(path) {
            Ok(roots) => Some(std::sync::Arc::new(roots)),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "printwarden: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let verifier = pw_bambu::trust::PrinterVerifier::new(&args.serial, pin, roots);
    let endpoint = pw_bambu::session::Endpoint {
        host: args.host.clone(),
        port: args.port,
        serial: args.serial.clone(),
        access_code: pw_app::SecretString::new(code.trim().to_owned()),
    };
    let mut out = std::io::stdout();
    let mut session = match pw_bambu::session::Session::connect(
        &endpoint,
        &verifier,
        "printwarden-check",
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            if let Some(f) = verifier.seen().presented {
                let _ = writeln!(out, "presented sha256 {}", f.to_hex());
            }
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = writeln!(out, "presented sha256 {}", session.fingerprint.to_hex());
    let _ = writeln!(out, "logged in; waiting for a report");
    let mut report = Report::new();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            let payload = session.reader.recv().await?;
            if let Ok(Frame::Status) = report.apply(&payload) {
                return Ok::<_, pw_bambu::session::SessionError>(());
            }
        }
    })
    .await;
    match waited {
        Ok(Ok(())) => {
            let _ = writeln!(
                out,
                "report: gcode_state {}",
                report.status().gcode_state.as_str()
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            let _ = writeln!(std::io::stderr(), "printwarden: no report within 15 s");
            ExitCode::FAILURE
        }
    }
}

/// Starts the simulated printers, then the server, and makes sure the server knows each
/// printer at its current address (the simulator's ports change at every start).
async fn demo(settings: Settings, args: DemoArgs) -> ExitCode {
    // The simulator writes under the data dir before the server starts: create both private
    // (0700) first, or `create_dir_all` would make them 0755 under the usual umask and the
    // server would later find its data dir readable by every local account.
    let sim_dir = settings.data_dir.join("demo-printers");
    for dir in [&settings.data_dir, &sim_dir] {
        if let Err(e) = crate::serve::tls::create_private_dir(dir) {
            tracing::error!("cannot create the data directory: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut options = pw_simulator::Options::new(3, &sim_dir);
    options.models = vec![
        pw_simulator::Model::X1C,
        pw_simulator::Model::P1S,
        pw_simulator::Model::A1,
    ];
    options.behaviour.job_seconds = args.job_seconds.max(1.0);
    let farm = match pw_simulator::Farm::start(options).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot start the simulated printers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let running = match crate::start(&settings).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = add_demo_printers(&running.app, &farm).await {
        tracing::error!("cannot add the demo printers: {e}");
        running.shutdown().await;
        return ExitCode::FAILURE;
    }
    tracing::info!(
        printers = farm.printers.len(),
        "demo: three simulated printers are added; sign in and open /printers"
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    drop(farm);
    ExitCode::SUCCESS
}

async fn add_demo_printers(
    app: &pw_app::App,
    farm: &pw_simulator::Farm,
) -> Result<(), pw_app::AppError> {
    let system = pw_app::Actor::system();
    let known = app.list_printers(&system).await?;
    for (i, p) in farm.printers.iter().enumerate() {
        let name = format!("Demo {} #{}", p.info.model, i + 1);
        match known.iter().find(|k| k.serial == p.info.serial) {
            Some(k) => {
                let update = pw_app::UpdatePrinter {
                    host: Some(p.info.host.clone()),
                    mqtt_port: Some(p.info.mqtt_port),
                    ftps_port: Some(p.info.ftps_port),
                    camera_port: (p.info.camera_port > 0).then_some(p.info.camera_port),
                    access_code: Some(pw_app::SecretString::new(p.info.access_code.clone())),
                    ..pw_app::UpdatePrinter::default()
                };
                app.update_printer(&system, k.id, update).await?;
            }
            None => {
                let create = pw_app::CreatePrinter {
                    name,
                    serial: p.info.serial.clone(),
                    host: p.info.host.clone(),
                    access_code: pw_app::SecretString::new(p.info.access_code.clone()),
                    model: Some(p.info.model.clone()),
                    location_id: None,
                    mqtt_port: Some(p.info.mqtt_port),
                    ftps_port: Some(p.info.ftps_port),
                    camera_port: (p.info.camera_port > 0).then_some(p.info.camera_port),
                };
                app.create_printer(&system, create).await?;
            }
        }
    }
    Ok(())
}

async fn migrate(settings: Settings) -> ExitCode {
    if let Err(e) = crate::serve::tls::create_private_dir(&settings.data_dir) {
        let _ = writeln!(std::io::stderr(), "printwarden: {e}");
        return ExitCode::FAILURE;
    }
    let result = async {
        let store = pw_store::Store::connect(settings.database_url.expose()).await?;
        let applied = store.migrate().await;
        store.close().await;
        applied
    }
    .await;
    match result {
        Ok(applied) if applied.is_empty() => {
            let _ = writeln!(std::io::stdout(), "database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for m in applied {
                let _ = writeln!(std::io::stdout(), "applied {:04} {}", m.version, m.name);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: migrate failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A password for the operator: from stdin (one line), or generated and printed once.
fn password_for(from_stdin: bool) -> Result<(pw_app::SecretString, bool), String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if pw.is_empty() {
            return Err("no password on stdin".to_owned());
        }
        return Ok((pw_app::SecretString::new(pw), false));
    }
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    // 20 characters from 31 unambiguous ones (~99 bits): easy to type from a screen.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let pw: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok((pw_app::SecretString::new(pw), true))
}

/// Opens the configured database (migrated) and an application on it, for `admin` commands.
async fn admin_app(settings: &Settings) -> Result<(pw_store::Store, pw_app::App), String> {
    crate::serve::tls::create_private_dir(&settings.data_dir).map_err(|e| e.to_string())?;
    let store = pw_store::Store::connect(settings.database_url.expose())
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let app = pw_app::App::start(store.clone(), crate::serve::app_config(settings, None))
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, app))
}

/// What an `admin` command does to the named user.
enum AdminOp<'a> {
    CreateAdmin(&'a pw_app::SecretString),
    ResetPassword(&'a pw_app::SecretString),
    ResetMfa,
}

/// Runs one `admin` operation; the error is the sentence to print.
async fn admin_op(settings: &Settings, username: &str, op: AdminOp<'_>) -> Result<(), String> {
    let (store, app) = admin_app(settings).await?;
    let outcome = match op {
        AdminOp::CreateAdmin(password) => app.create_admin_as_system(username, password).await,
        AdminOp::ResetPassword(password) => app.reset_password_as_system(username, password).await,
        AdminOp::ResetMfa => app.reset_mfa_as_system(username).await,
    };
    store.close().await;
    outcome.map(|_| ()).map_err(|e| match e {
        pw_app::AppError::NotFound => format!("there is no user `{username}`"),
        other => other.to_string(),
    })
}

async fn admin_reset_mfa(settings: Settings, username: &str) -> ExitCode {
    match admin_op(&settings, username, AdminOp::ResetMfa).await {
        Ok(_) => {
            let _ = writeln!(
                std::io::stdout(),
                "removed the second factors of `{username}`; all of their sessions have ended"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn admin(settings: Settings, action: AdminAction) -> ExitCode {
    let (username, from_stdin, create) = match &action {
        AdminAction::CreateAdmin {
            username,
            password_stdin,
        } => (username.clone(), *password_stdin, true),
        AdminAction::ResetPassword {
            username,
            password_stdin,
        } => (username.clone(), *password_stdin, false),
        AdminAction::ResetMfa { username } => return admin_reset_mfa(settings, username).await,
    };
    let (password, generated) = match password_for(from_stdin) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            return ExitCode::from(2);
        }
    };
    let op = if create {
        AdminOp::CreateAdmin(&password)
    } else {
        AdminOp::ResetPassword(&password)
    };
    match admin_op(&settings, &username, op).await {
        Ok(_) => {
            let mut out = std::io::stdout();
            let what = if create {
                "created administrator"
            } else {
                "reset the password of"
            };
            let _ = writeln!(out, "{what} `{username}`");
            if generated {
                let _ = writeln!(out, "one-time password: {}", password.expose());
                let _ = writeln!(out, "sign in and change it now (Account → Password)");
            }
            if !create {
                let _ = writeln!(out, "all of their sessions have ended");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
