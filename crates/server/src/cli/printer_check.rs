//! `printwarden printer-check`: connect to one printer's MQTT broker as the supervisor would
//! and report what happened. The access code comes from standard input, never a flag.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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

/// Connects like the printer supervisor and reports: the fingerprint presented, login, the
/// first report's state. Exit 0 only when a report arrived.
pub(super) async fn printer_check(args: PrinterCheckArgs) -> ExitCode {
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
