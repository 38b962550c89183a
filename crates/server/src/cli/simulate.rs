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
    /// Also start the Bambu Cloud stand-in (HTTPS on 127.0.0.1, its own CA in DIR/cloud/):
    /// every simulated printer is bound to its first account; DIR/cloud.json says where it
    /// listens and lists the accounts (docs/BAMBU-CLOUD.md §9).
    #[arg(long)]
    pub cloud: bool,
    /// The stand-in's port (0: any free one).
    #[arg(long, default_value_t = 0, requires = "cloud")]
    pub cloud_port: u16,
    /// Lifetime of the stand-in's tokens in seconds (Bambu: 7776000), short to test refresh.
    #[arg(long, value_name = "SECS", requires = "cloud")]
    pub cloud_token_ttl: Option<u64>,
    /// Make the stand-in's token refresh always answer 401, as observed on Bambu today.
    #[arg(long, requires = "cloud")]
    pub cloud_no_refresh: bool,
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
    let cloud = if args.cloud {
        match start_cloud(&args, &farm).await {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "printwarden: cloud stand-in: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    wait_for_signal().await;
    drop(cloud);
    drop(farm);
    ExitCode::SUCCESS
}

/// Starts the Bambu Cloud stand-in with every simulated printer bound to its first account,
/// and writes `DIR/cloud.json`.
async fn start_cloud(
    args: &SimulateArgs,
    farm: &pw_simulator::Farm,
) -> Result<pw_simulator::cloud::Cloud, pw_simulator::SimError> {
    let serials = farm
        .printers
        .iter()
        .map(|p| p.info.serial.clone())
        .collect();
    let mut options =
        pw_simulator::cloud::CloudOptions::new(&args.state_dir.join("cloud"), serials);
    options.port = args.cloud_port;
    options.refresh = !args.cloud_no_refresh;
    if let Some(secs) = args.cloud_token_ttl {
        options.token_ttl = std::time::Duration::from_secs(secs.max(1));
    }
    let devices = farm
        .printers
        .iter()
        .map(|p| pw_simulator::cloud::CloudDevice::from_printer(&p.info))
        .collect();
    let cloud = pw_simulator::cloud::Cloud::start(options, devices).await?;
    let path = cloud.write_cloud_json(&args.state_dir)?;
    tracing::info!(url = %cloud.url, file = %path.display(), "Bambu Cloud stand-in is listening");
    Ok(cloud)
}
