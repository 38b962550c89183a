//! Simulated Bambu Lab printers for the demo, tests and benchmarks (`printwarden simulate`):
//! each with its own serial, access code, model and certificate (CN = serial, issued by a
//! simulator CA kept in the state directory), serving MQTT over TLS on its own loopback port,
//! printing jobs through the real state machine, and controllable from tests: rotate the
//! certificate, drop connections, switch Developer Mode off, fail the next job.
//!
//! Invariant: the simulator speaks the wire format through `pw-bambu`, the same codec the
//! server's client uses, and records every CONNECT it receives.

// A printer's full report is one large `json!` literal.
#![recursion_limit = "256"]

pub mod camera;
mod certs;
mod ftps;
pub mod machine;
mod mqtt;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use pw_credentials::SecretString;
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use certs::Authority;
pub use machine::{Behaviour, Machine, Model};

/// What went wrong starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file or socket problem.
    #[error("{0}")]
    Io(String),
    /// Certificate generation.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// TLS configuration.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
}

/// One entry of `printers.json` (the simulator contract in API.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterInfo {
    /// Serial (also the certificate's CN).
    pub serial: String,
    /// Model name.
    pub model: String,
    /// Address to connect to.
    pub host: String,
    /// MQTT/TLS port.
    pub mqtt_port: u16,
    /// Implicit FTPS port.
    pub ftps_port: u16,
    /// Camera port.
    pub camera_port: u16,
    /// LAN access code.
    pub access_code: String,
    /// Path of the simulator CA certificate (PEM).
    pub ca_cert: String,
}

/// How to start the farm.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many printers.
    pub count: usize,
    /// Where certificates and state live.
    pub state_dir: PathBuf,
    /// Models, assigned round-robin.
    pub models: Vec<Model>,
    /// Issue every printer a new certificate at start.
    pub rotate_certs: bool,
    /// Listen address (loopback).
    pub host: IpAddr,
    /// Behaviour of every printer.
    pub behaviour: Behaviour,
    /// Report interval (1 s like real printers).
    pub interval: Duration,
}

impl Options {
    /// `count` printers of the default models in `state_dir`.
    #[must_use]
    pub fn new(count: usize, state_dir: &Path) -> Self {
        Self {
            count,
            state_dir: state_dir.to_owned(),
            models: vec![Model::X1C, Model::P1S, Model::A1],
            rotate_certs: false,
            host: IpAddr::from([127, 0, 0, 1]),
            behaviour: Behaviour::default(),
            interval: Duration::from_secs(1),
        }
    }
}

/// A CONNECT the printer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRecord {
    /// The client id it carried.
    pub client_id: String,
    /// Whether user and access code were right.
    pub accepted: bool,
}

/// A printer's state shared by its tasks.
pub(crate) struct Shared {
    pub serial: String,
    pub model: Model,
    pub access_code: SecretString,
    machine: Mutex<Machine>,
    tls: RwLock<Arc<ServerConfig>>,
    leaf_der: RwLock<Vec<u8>>,
    /// The file store (FTPS root).
    /// Shared buffers: serving a `RETR` does not copy the file.
    contents: Mutex<std::collections::BTreeMap<String, Arc<Vec<u8>>>>,
    connects: Mutex<Vec<ConnectRecord>>,
    pub sessions: AtomicUsize,
    pub reports: broadcast::Sender<Arc<Vec<u8>>>,
    pub kick: broadcast::Sender<()>,
    state_dir: PathBuf,
    authority: Arc<Authority>,
}

impl Shared {
    pub fn tls(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.tls.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn machine(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record_connect(&self, record: ConnectRecord) {
        self.connects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    /// The report sent on subscribe; `None` while the printer publishes no reports.
    pub fn subscribe_frame(&self) -> Option<Vec<u8>> {
        let mut machine = self.machine();
        machine.behaviour.reports.then(|| machine.full_frame())
    }

    pub fn handle(&self, payload: &[u8]) -> Vec<Vec<u8>> {
        self.machine().handle(payload)
    }

    fn contents(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Arc<Vec<u8>>>> {
        self.contents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn percent(&self) -> u8 {
        self.machine().percent()
    }

    pub fn store_file(&self, name: &str, content: Vec<u8>) {
        self.contents().insert(name.to_owned(), Arc::new(content));
        self.machine().files.insert(name.to_owned());
    }

    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        self.contents().get(name).map(|c| c.as_ref().clone())
    }

    /// A stored file without copying it.
    pub fn file_shared(&self, name: &str) -> Option<Arc<Vec<u8>>> {
        self.contents().get(name).cloned()
    }

    pub fn files(&self) -> Vec<(String, usize)> {
        self.contents()
            .iter()
            .map(|(n, c)| (n.clone(), c.len()))
            .collect()
    }

    pub fn delete_file(&self, name: &str) -> bool {
        self.machine().files.remove(name);
        self.contents().remove(name).is_some()
    }
}

/// A handle on one running printer.
#[derive(Clone)]
pub struct Printer {
    shared: Arc<Shared>,
    /// Its `printers.json` entry.
    pub info: PrinterInfo,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("serial", &self.info.serial)
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// Every CONNECT received so far.
    #[must_use]
    pub fn connects(&self) -> Vec<ConnectRecord> {
        self.shared
            .connects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Open MQTT sessions.
    #[must_use]
    pub fn sessions(&self) -> usize {
        self.shared.sessions.load(Ordering::SeqCst)
    }

    /// Issues a new certificate and presents it to new connections.
    pub fn rotate_certificate(&self) -> Result<(), SimError> {
        let leaf = self
            .shared
            .authority
            .leaf(&self.shared.state_dir, &self.shared.serial, true)?;
        *self
            .shared
            .tls
            .write()
            .unwrap_or_else(PoisonError::into_inner) = leaf.server_config()?;
        *self
            .shared
            .leaf_der
            .write()
            .unwrap_or_else(PoisonError::into_inner) = leaf.der().to_vec();
        Ok(())
    }

    /// SHA-256 (hex) of the certificate presented now.
    #[must_use]
    pub fn certificate_sha256(&self) -> String {
        pw_bambu::trust::Fingerprint::of(
            &self
                .shared
                .leaf_der
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
        .to_hex()
    }

    /// Starts a print as if from the printer's own screen (the file is put on its storage).
    pub fn start_print(&self, file: &str) {
        let mut m = self.shared.machine();
        m.files.insert(file.to_owned());
        let payload = serde_json::json!({"print": {
            "command": "project_file", "sequence_id": "0", "param": "Metadata/plate_1.gcode",
            "url": format!("ftp://{file}"), "file": file, "subtask_name": file.trim_end_matches(".gcode.3mf"),
            "task_id": "0", "use_ams": false,
        }});
        let _ = m.handle(&serde_json::to_vec(&payload).unwrap_or_default());
    }

    /// Closes every open session (a Wi-Fi drop).
    pub fn drop_connections(&self) {
        let _ = self.shared.kick.send(());
    }

    /// Changes the behaviour (Developer Mode, failures, speed of jobs).
    pub fn set_behaviour(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.machine().behaviour);
    }

    /// Puts a file on the printer's storage (what an FTPS upload does).
    pub fn put_file(&self, name: &str, content: Vec<u8>) {
        self.shared.store_file(name, content);
    }

    /// A stored file's bytes.
    #[must_use]
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        self.shared.file(name)
    }

    /// The job state.
    #[must_use]
    pub fn gcode_state(&self) -> &'static str {
        self.shared.machine().state()
    }
}

/// The running farm.
#[derive(Debug)]
pub struct Farm {
    /// The printers, in serial order.
    pub printers: Vec<Printer>,
    /// The simulator CA certificate.
    pub ca_cert: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// serial → access code, so restarts keep them.
    access_codes: std::collections::BTreeMap<String, String>,
}

fn random_code() -> Result<String, SimError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| SimError::Io(e.to_string()))?;
    Ok(bytes.iter().map(|b| char::from(b'0' + b % 10)).collect())
}

impl Farm {
    /// Starts every printer and returns once all listen.
    pub async fn start(options: Options) -> Result<Self, SimError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = &options.state_dir;
        let certs_dir = dir.join("certs");
        let authority = Arc::new(Authority::load_or_create(&certs_dir)?);
        let saved_path = dir.join("state.json");
        let mut saved: Saved = std::fs::read(&saved_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut printers = Vec::new();
        let mut tasks = Vec::new();
        let models = if options.models.is_empty() {
            vec![Model::P1S]
        } else {
            options.models.clone()
        };
        // Real printers' report clocks are independent; printers started in one rush would
        // all report in the same instant. Each one's ticks are offset by its share of the
        // interval, measured from one anchor, so a thousand printers report evenly.
        let anchor = tokio::time::Instant::now();
        for i in 0..options.count {
            let phase = options
                .interval
                .mul_f64(i as f64 / options.count.max(1) as f64);
            let model = models[i % models.len()];
            let serial = format!("{}{:09}", model.serial_prefix(), i + 1);
            let code = match saved.access_codes.get(&serial) {
                Some(c) => c.clone(),
                None => {
                    let c = random_code()?;
                    saved.access_codes.insert(serial.clone(), c.clone());
                    c
                }
            };
            let leaf = authority.leaf(&certs_dir, &serial, options.rotate_certs)?;
            let listener = TcpListener::bind(SocketAddr::new(options.host, 0))
                .await
                .map_err(|e| SimError::Io(format!("bind: {e}")))?;
            let port = listener
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            let (reports, _) = broadcast::channel(64);
            let (kick, _) = broadcast::channel(4);
            let shared = Arc::new(Shared {
                serial: serial.clone(),
                model,
                access_code: SecretString::new(code.clone()),
                machine: Mutex::new(Machine::new(model, options.behaviour.clone())),
                tls: RwLock::new(leaf.server_config()?),
                leaf_der: RwLock::new(leaf.der().to_vec()),
                contents: Mutex::new(std::collections::BTreeMap::new()),
                connects: Mutex::new(Vec::new()),
                sessions: AtomicUsize::new(0),
                reports,
                kick,
                state_dir: certs_dir.clone(),
                authority: Arc::clone(&authority),
            });
            let ftps = TcpListener::bind(SocketAddr::new(options.host, 0))
                .await
                .map_err(|e| SimError::Io(format!("bind: {e}")))?;
            let ftps_port = ftps
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            let camera = TcpListener::bind(SocketAddr::new(options.host, 0))
                .await
                .map_err(|e| SimError::Io(format!("bind: {e}")))?;
            let camera_port = camera
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            tasks.push(tokio::spawn(mqtt::serve(listener, Arc::clone(&shared))));
            tasks.push(tokio::spawn(ftps::serve(ftps, Arc::clone(&shared))));
            tasks.push(tokio::spawn(camera::serve(camera, Arc::clone(&shared))));
            tasks.push(tokio::spawn(ticker(
                Arc::clone(&shared),
                options.interval,
                anchor + phase,
            )));
            printers.push(Printer {
                info: PrinterInfo {
                    serial,
                    model: model.name().to_owned(),
                    host: options.host.to_string(),
                    mqtt_port: port,
                    ftps_port,
                    camera_port,
                    access_code: code,
                    ca_cert: authority.cert_path.display().to_string(),
                },
                shared,
            });
        }
        let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| SimError::Io(e.to_string()))?;
        std::fs::write(&saved_path, bytes)
            .map_err(|e| SimError::Io(format!("{}: {e}", saved_path.display())))?;
        Ok(Self {
            printers,
            ca_cert: authority.cert_path.clone(),
            tasks,
        })
    }

    /// Writes `printers.json` into `dir` (atomically: scripts wait for the file).
    pub fn write_printers_json(&self, dir: &Path) -> Result<PathBuf, SimError> {
        let infos: Vec<&PrinterInfo> = self.printers.iter().map(|p| &p.info).collect();
        let bytes = serde_json::to_vec_pretty(&infos).map_err(|e| SimError::Io(e.to_string()))?;
        let path = dir.join("printers.json");
        let tmp = dir.join(".printers.json.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| SimError::Io(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| SimError::Io(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

/// Advances the printer's clock and publishes its periodic report.
async fn ticker(printer: Arc<Shared>, interval: Duration, mut first: tokio::time::Instant) {
    // Keep the phase: the first tick is the next one of this printer's schedule.
    let now = tokio::time::Instant::now();
    while first < now && !interval.is_zero() {
        first += interval;
    }
    let mut timer = tokio::time::interval_at(first, interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let seconds = interval.as_secs_f64();
    loop {
        timer.tick().await;
        let frame = {
            let mut m = printer.machine();
            m.tick(seconds);
            m.periodic_frame()
        };
        if let Some(frame) = frame {
            // No receiver: nobody is connected, nothing to do.
            let _ = printer.reports.send(Arc::new(frame));
        }
    }
}
