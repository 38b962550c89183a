//! `printwarden simulate`: simulated printers (MQTT over TLS on 127.0.0.1) until a signal, for
//! the demo, tests and benchmarks; `printers.json` in the state dir says where they listen, the
//! printers' SD cards live in `DIR/sdcard/<serial>/`, and `DIR/control.sock` takes control
//! requests (a print "from elsewhere", the card's files, a fault; see `pw_simulator::control`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::wait_for_signal;

/// `simulate` options (the simulator contract in API.md).
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// How many printers.
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Where certificates, access codes and printers.json live (kept across restarts).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Models, assigned in turn: X1C, X1E, P1P, P1S, P2S, A1MINI, A1, H2D.
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
    /// Give each printer its own loopback address (127.0.1.N) with the real ports 8883, 990
    /// and 6000 (322 for the RTSPS cameras of X1, H2D and P2S); printers.json says where. Needs
    /// the right to bind ports below 1024 (root, or CAP_NET_BIND_SERVICE).
    #[arg(long)]
    pub standard_ports: bool,
}

pub(super) async fn simulate(args: SimulateArgs) -> ExitCode {
    let mut models = Vec::new();
    for name in &args.models {
        let known = pw_simulator::simulated_models();
        match pw_simulator::Model::parse(name).filter(|m| known.contains(m)) {
            Some(m) => models.push(m),
            None => {
                let names: Vec<String> = known.iter().map(|m| m.token()).collect();
                let _ = writeln!(
                    std::io::stderr(),
                    "printwarden: unknown model `{name}` (known: {})",
                    names.join(", ")
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
    options.standard_ports = args.standard_ports;
    let mut farm = match pw_simulator::Farm::start(options).await {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before printers.json: scripts that waited for it can use the socket at once.
    #[cfg(unix)]
    if let Err(e) = farm.serve_control(&args.state_dir.join("control.sock")) {
        let _ = writeln!(std::io::stderr(), "printwarden: simulator: {e}");
        return ExitCode::FAILURE;
    }
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
