//! `printwarden demo`: the server plus three simulated printers, already added. The printers'
//! control socket (`pw_simulator::control`) is served at `<data dir>/demo-printers/control.sock`
//! (owner-only), so scripts and browser tests can drive them as `printwarden simulate`'s.

use std::process::ExitCode;

use crate::config::Settings;

use super::wait_for_signal;

/// `demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seconds a print takes once running.
    #[arg(long, default_value_t = 300.0)]
    pub job_seconds: f64,
}

/// Starts the simulated printers, then the server, and makes sure the server knows each
/// printer at its current address (the simulator's ports change at every start).
pub(super) async fn demo(settings: Settings, args: DemoArgs) -> ExitCode {
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
    let mut farm = match pw_simulator::Farm::start(options).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot start the simulated printers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Without the socket the demo still runs; only scripted control is missing.
    #[cfg(unix)]
    if let Err(e) = farm.serve_control(&sim_dir.join("control.sock")) {
        tracing::warn!("the demo printers' control socket is not served: {e}");
    }
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
