//! Simulated Bambu Lab printers for the demo, tests and benchmarks (`printwarden simulate`):
//! each with its own serial, access code, model and certificate (CN = serial, issued by a
//! simulator CA kept in the state directory), serving MQTT over TLS on its own loopback port,
//! printing jobs through the real state machine from the files on its SD card (kept in the
//! state directory), and controllable from tests: rotate the certificate, drop connections,
//! switch Developer Mode off, fail the next job or the running one, finish the running one now,
//! put files on the card,
//! start a print "from elsewhere" as a slicer would (also over the control socket, see
//! [`control`]). Every `project_file` a printer receives is kept in its start log
//! ([`Printer::starts`]), the oracle for "no job started twice"; a test's hook
//! ([`Printer::set_hook`]) sees each upload and start at the moment it happens (and may lose a
//! start on the way), so a crash test can kill the server inside one window of a start.
//!
//! Invariant: the simulator speaks the wire format through `pw-bambu`, the same codec the
//! server's client uses, and records every CONNECT it receives.

// A printer's full report is one large `json!` literal.
#![recursion_limit = "256"]

pub mod camera;
mod certs;
pub mod cloud;
pub mod control;
mod ftps;
pub mod h264;
pub mod machine;
mod mqtt;
pub mod rtsp;
pub mod sdcard;

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
pub use machine::{
    Behaviour, FileFacts, JobIdentity, Machine, Model, StartRecord, simulated_models,
};

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
    /// Camera port: the port-6000 JPEG stream (A1/P1) or RTSPS at `/streaming/live/1`
    /// (X1/H2/P2S, see `ipcam.rtsp_url` in the report).
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
    /// Each printer on its own loopback address (127.0.1.N) with the real ports (8883, 990,
    /// and 6000 or 322 for the camera), so unmodified clients connect without remapping.
    pub standard_ports: bool,
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
            standard_ports: false,
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
    /// The SD card (the FTPS root), on disk in the state directory.
    pub card: sdcard::SdCard,
    /// Numbers partial uploads.
    pub uploads: std::sync::atomic::AtomicU64,
    connects: Mutex<Vec<ConnectRecord>>,
    pub sessions: AtomicUsize,
    /// RTSPS clients playing the camera now.
    pub camera_playing: Arc<AtomicUsize>,
    /// RTSPS `PLAY`s accepted since start.
    pub camera_plays: AtomicUsize,
    pub reports: broadcast::Sender<Arc<Vec<u8>>>,
    pub kick: broadcast::Sender<()>,
    /// The client id of each accepted CONNECT: a session with the same id ends (MQTT 3.1.1
    /// §3.1.4: the broker disconnects an existing client when another connects with its id).
    pub takeover: broadcast::Sender<String>,
    state_dir: PathBuf,
    authority: Arc<Authority>,
    hook: RwLock<Option<Hook>>,
}

/// A moment in a printer's life a test can act on while it happens (the crash test kills the
/// server there, so the kill lands exactly in one window of a start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An FTPS `STOR` of this card path arrived; no byte of it is stored yet.
    UploadBegins(String),
    /// The upload of this card path is stored; the `226` reply is not sent yet.
    UploadStored(String),
    /// A `project_file` arrived over MQTT; the printer has not read it yet. The hook's
    /// [`Verdict::Lose`] drops it, as a network that lost it would.
    StartArrives,
    /// The printer read a `project_file` (in the start log now) from the MQTT client at
    /// `from`; it has not answered yet.
    StartReceived {
        /// The start log's record.
        start: StartRecord,
        /// The client's address (which server sent it).
        from: SocketAddr,
    },
}

/// What the printer does with the event's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Carry on.
    Go,
    /// Lose the message (only for [`Event::StartArrives`]).
    Lose,
}

/// A test's hook on a printer's [`Event`]s. It runs inside the printer's connection task, so
/// the printer waits for it.
pub type Hook = Arc<dyn Fn(&Event) -> Verdict + Send + Sync>;

impl Shared {
    /// Runs the test's hook, if any, on an event.
    pub fn event(&self, event: &Event) -> Verdict {
        let hook = self
            .hook
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        hook.map_or(Verdict::Go, |h| h(event))
    }

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

    /// Whether the broker answers PINGREQ now (see [`Behaviour::answers_pings`]).
    pub fn answers_pings(&self) -> bool {
        self.machine().behaviour.answers_pings
    }

    /// A message on the request topic: the hook sees a `project_file` arrive (and may lose
    /// it) and sees it read, before the printer's answer goes out.
    pub fn handle(&self, payload: &[u8], from: SocketAddr) -> Vec<Vec<u8>> {
        let hooked = self
            .hook
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if !hooked {
            return self.machine().handle(payload);
        }
        let is_start = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .is_some_and(|v| v["print"]["command"] == "project_file");
        if is_start && self.event(&Event::StartArrives) == Verdict::Lose {
            return Vec::new();
        }
        let (frames, started) = {
            let mut m = self.machine();
            let before = m.starts.len();
            let frames = m.handle(payload);
            (frames, m.starts.get(before..).unwrap_or_default().to_vec())
        };
        for record in started {
            self.event(&Event::StartReceived {
                start: record,
                from,
            });
        }
        frames
    }

    pub fn percent(&self) -> u8 {
        self.machine().percent()
    }

    /// Tells the printer what a file on its card holds (after an upload or at start).
    pub fn index_file(&self, path: &str) {
        let facts = self
            .card
            .file_path(path)
            .and_then(|p| std::fs::File::open(p).ok())
            .map(|f| FileFacts::read(std::io::BufReader::new(f)));
        let mut m = self.machine();
        match facts {
            Some(f) => {
                m.files.insert(path.to_owned(), f);
            }
            None => {
                m.files.remove(path);
            }
        }
    }

    /// Writes a whole file onto the card (directories created) and indexes it.
    pub fn store_file(&self, path: &str, content: &[u8]) -> Result<(), SimError> {
        self.card
            .write(path, content)
            .map_err(|e| SimError::Io(format!("sd card {path}: {e}")))?;
        self.index_file(path);
        Ok(())
    }

    /// Renames a file on the card (FTPS `RNFR`/`RNTO`) and moves what the printer knows of it.
    pub fn rename_file(&self, from: &str, to: &str) -> bool {
        if !self.card.rename(from, to) {
            return false;
        }
        let mut m = self.machine();
        if let Some(facts) = m.files.remove(from) {
            m.files.insert(to.to_owned(), facts);
        }
        drop(m);
        // A renamed directory moves the files under it: index them afresh.
        for path in self.card.all_files() {
            if path.starts_with(&format!("{to}/")) {
                self.index_file(&path);
            }
        }
        true
    }

    pub fn delete_file(&self, path: &str) -> bool {
        let gone = self.card.delete(path);
        self.machine().files.remove(path);
        gone
    }

    /// Publishes frames on the report topic (replies to a command another client sent).
    pub fn publish(&self, frames: Vec<Vec<u8>>) {
        for f in frames {
            let _ = self.reports.send(Arc::new(f));
        }
    }
}

/// A print "from elsewhere": what a slicer (Bambu Studio, Orca) or the printer's own screen
/// sends — a `project_file` for a file on the SD card, with its own ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlicerPrint {
    /// The file on the card (`x.gcode.3mf` in the root, `cache/x.gcode.3mf`, `/model/…`).
    pub path: String,
    /// Plate (1 when 0).
    #[serde(default)]
    pub plate: u32,
    /// Upload this content to `path` first, as a slicer's "send" does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<Vec<u8>>,
    /// Job name; the file name without `.gcode.3mf` when absent, as slicers do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_name: Option<String>,
    /// How the url names the file: `ftp` (`ftp:///path`, the default) or `sdcard`
    /// (`file:///mnt/sdcard/path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_style: Option<String>,
}

/// A fresh job id below 2^31−1, as slicers send (printers clamp ids to int32).
fn fresh_id() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    (u32::from_le_bytes(bytes) % 2_000_000_000 + 100_000_000).to_string()
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

    /// RTSPS camera clients playing now, and `PLAY`s accepted since start (the oracle for
    /// "one upstream per printer").
    #[must_use]
    pub fn camera_sessions(&self) -> (usize, usize) {
        (
            self.shared.camera_playing.load(Ordering::SeqCst),
            self.shared.camera_plays.load(Ordering::SeqCst),
        )
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

    /// Starts a print as if from the printer's own screen: a local job without ids (an empty
    /// file is put on the card when `file` is not there).
    pub fn start_print(&self, file: &str) {
        let path = sdcard::resolve("", file);
        if self.shared.card.size(&path).is_none() {
            let _ = self.shared.store_file(&path, b"");
        }
        let payload = serde_json::json!({"print": {
            "command": "project_file", "sequence_id": "0", "param": "Metadata/plate_1.gcode",
            "url": format!("file:///mnt/sdcard/{path}"), "subtask_name": machine::subtask_of(file),
            "task_id": "0", "use_ams": false,
        }});
        let _ = self
            .shared
            .machine()
            .handle(&serde_json::to_vec(&payload).unwrap_or_default());
    }

    /// Starts a print "from elsewhere", as a slicer does: (uploads the file first when
    /// `job.upload` is set, then) publishes a `project_file` for the file on the card with
    /// fresh `task_id`/`subtask_id`/`project_id`/`profile_id` and the job name from the file.
    /// The printer's reply goes out on the report topic like any reply. Returns the identity
    /// the reports will carry, or the printer's reason for refusing (busy, bad plate).
    pub fn print_from_elsewhere(&self, job: &SlicerPrint) -> Result<JobIdentity, String> {
        let path = sdcard::resolve("", &job.path);
        if path.is_empty() {
            return Err("no file named".to_owned());
        }
        if let Some(content) = &job.upload {
            self.shared
                .store_file(&path, content)
                .map_err(|e| e.to_string())?;
        }
        let name = path.rsplit('/').next().unwrap_or(&path);
        let url = match job.url_style.as_deref() {
            Some("sdcard") => format!("file:///mnt/sdcard/{path}"),
            _ => format!("ftp:///{path}"),
        };
        let (task_id, subtask_id) = (fresh_id(), fresh_id());
        let payload = serde_json::json!({"print": {
            "command": "project_file",
            "sequence_id": fresh_id(),
            "param": format!("Metadata/plate_{}.gcode", job.plate.max(1)),
            "url": url,
            "file": name,
            "md5": "",
            "subtask_name": job.subtask_name.clone().unwrap_or_else(|| machine::subtask_of(name)),
            "project_id": fresh_id(),
            "profile_id": fresh_id(),
            "task_id": task_id,
            "subtask_id": subtask_id,
            "timelapse": false, "bed_leveling": true, "flow_cali": false,
            "vibration_cali": true, "layer_inspect": false, "use_ams": false,
            "bed_type": "auto", "cfg": "0", "ams_mapping": [],
        }});
        let (frames, identity) = {
            let mut m = self.shared.machine();
            let frames = m.handle(&serde_json::to_vec(&payload).unwrap_or_default());
            let identity = m.job().filter(|j| j.task_id == task_id).cloned();
            (frames, identity)
        };
        let refused = frames.iter().find_map(|f| {
            let v: serde_json::Value = serde_json::from_slice(f).ok()?;
            let p = v.get("print")?;
            (p.get("result")?.as_str()? != "success").then(|| {
                p.get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("refused")
                    .to_owned()
            })
        });
        self.shared.publish(frames);
        match (refused, identity) {
            (Some(reason), _) => Err(reason),
            (None, Some(identity)) => Ok(identity),
            (None, None) => Err("the printer did not start the job".to_owned()),
        }
    }

    /// Every `project_file` the printer received, in order, accepted or not: the oracle for
    /// "started exactly once".
    #[must_use]
    pub fn starts(&self) -> Vec<StartRecord> {
        self.shared.machine().starts.clone()
    }

    /// Sets (or clears) the test's hook on this printer's [`Event`]s.
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self
            .shared
            .hook
            .write()
            .unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// Fails the running job now with `print_error` and HMS entries (`(attr, code)`), as a
    /// fault does; `false` when no job is running.
    pub fn fail_job(&self, print_error: u32, hms: &[(u32, u32)]) -> bool {
        self.shared.machine().fail(print_error, hms)
    }

    /// Finishes the running job now, as if its time had run out (FINISH at 100 % in the next
    /// report); `false` when no job is preparing or running.
    pub fn finish_job(&self) -> bool {
        self.shared.machine().finish_now()
    }

    /// The current (or last) job's identity as the reports carry it.
    #[must_use]
    pub fn job(&self) -> Option<JobIdentity> {
        self.shared.machine().job().cloned()
    }

    /// Closes every open session (a Wi-Fi drop).
    pub fn drop_connections(&self) {
        let _ = self.shared.kick.send(());
    }

    /// Changes the behaviour (Developer Mode, failures, speed of jobs).
    pub fn set_behaviour(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.machine().behaviour);
    }

    /// Puts a file on the printer's SD card (what an FTPS upload does); `name` may name a
    /// directory (`cache/x.gcode.3mf`), created when missing. A card that cannot be written
    /// (disk full) leaves the file out, logged.
    pub fn put_file(&self, name: &str, content: Vec<u8>) {
        if let Err(e) = self.shared.store_file(&sdcard::resolve("", name), &content) {
            tracing::warn!(serial = %self.info.serial, error = %e, "put_file");
        }
    }

    /// A stored file's bytes (`name` as for [`Printer::put_file`]).
    #[must_use]
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        self.shared.card.read(&sdcard::resolve("", name))
    }

    /// Every file on the SD card: card path (`x.gcode.3mf`, `cache/y.gcode.3mf`) and size.
    #[must_use]
    pub fn files(&self) -> Vec<(String, u64)> {
        let card = &self.shared.card;
        card.all_files()
            .into_iter()
            .filter_map(|p| Some((p.clone(), card.size(&p)?)))
            .collect()
    }

    /// Deletes a file from the card; `false` when there was none.
    pub fn delete_file(&self, name: &str) -> bool {
        self.shared.delete_file(&sdcard::resolve("", name))
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
    /// The control socket, removed when the farm stops.
    control: Option<PathBuf>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(socket) = &self.control {
            let _ = std::fs::remove_file(socket);
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// serial → access code, so restarts keep them.
    access_codes: std::collections::BTreeMap<String, String>,
    /// serial → where it listened (host, MQTT, FTPS, camera), so a restart with the same state
    /// directory listens there again and clients keep working.
    #[serde(default)]
    endpoints: std::collections::BTreeMap<String, (IpAddr, u16, u16, u16)>,
}

/// Binds `host:port`, or any free port on `host` when that one is taken (or `port` is 0).
async fn bind_preferring(host: IpAddr, port: u16) -> Result<TcpListener, SimError> {
    if port != 0
        && let Ok(l) = TcpListener::bind(SocketAddr::new(host, port)).await
    {
        return Ok(l);
    }
    TcpListener::bind(SocketAddr::new(host, 0))
        .await
        .map_err(|e| SimError::Io(format!("bind {host}: {e}")))
}

/// Binds a printer's real port on its own address (`--standard-ports`); a refusal says what
/// the ports below 1024 need.
async fn bind_standard(host: IpAddr, port: u16) -> Result<TcpListener, SimError> {
    TcpListener::bind(SocketAddr::new(host, port))
        .await
        .map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied && port < 1024 {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            } else {
                ""
            };
            SimError::Io(format!("bind {host}:{port}: {e}{hint}"))
        })
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
            let prefix = model.caps().sim_serial_prefix.unwrap_or("SIM00A");
            let serial = format!("{prefix}{:09}", i + 1);
            let code = match saved.access_codes.get(&serial) {
                Some(c) => c.clone(),
                None => {
                    let c = random_code()?;
                    saved.access_codes.insert(serial.clone(), c.clone());
                    c
                }
            };
            let leaf = authority.leaf(&certs_dir, &serial, options.rotate_certs)?;
            // With `standard_ports`, each printer has its own loopback address (127.0.1.N) and
            // the real ports; otherwise the ports it had before, when the state is kept.
            let (host, want) = if options.standard_ports {
                let n = u8::try_from(i + 1).map_err(|_| {
                    SimError::Io("--standard-ports takes at most 255 printers".to_owned())
                })?;
                (
                    IpAddr::from([127, 0, 1, n]),
                    (8883, 990, model.caps().camera.port()),
                )
            } else {
                match saved.endpoints.get(&serial) {
                    Some((h, m, f, c)) if *h == options.host => (*h, (*m, *f, *c)),
                    _ => (options.host, (0, 0, 0)),
                }
            };
            let listener = if options.standard_ports {
                bind_standard(host, want.0).await?
            } else {
                bind_preferring(host, want.0).await?
            };
            let port = listener
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            let card = sdcard::SdCard::open(dir.join("sdcard").join(&serial))
                .map_err(|e| SimError::Io(format!("sd card of {serial}: {e}")))?;
            let (reports, _) = broadcast::channel(64);
            let (kick, _) = broadcast::channel(4);
            let (takeover, _) = broadcast::channel(16);
            let mut machine = Machine::new(model, options.behaviour.clone());
            machine.identity = machine::Identity {
                serial: serial.clone(),
                address: match host {
                    IpAddr::V4(v4) => v4,
                    IpAddr::V6(_) => std::net::Ipv4Addr::LOCALHOST,
                },
                rtsp_url: format!("rtsps://{host}/streaming/live/1"),
            };
            let shared = Arc::new(Shared {
                serial: serial.clone(),
                model,
                access_code: SecretString::new(code.clone()),
                machine: Mutex::new(machine),
                tls: RwLock::new(leaf.server_config()?),
                leaf_der: RwLock::new(leaf.der().to_vec()),
                card,
                uploads: std::sync::atomic::AtomicU64::new(0),
                connects: Mutex::new(Vec::new()),
                sessions: AtomicUsize::new(0),
                camera_playing: Arc::new(AtomicUsize::new(0)),
                camera_plays: AtomicUsize::new(0),
                reports,
                kick,
                takeover,
                state_dir: certs_dir.clone(),
                authority: Arc::clone(&authority),
                hook: RwLock::new(None),
            });
            let ftps = if options.standard_ports {
                bind_standard(host, want.1).await?
            } else {
                bind_preferring(host, want.1).await?
            };
            let ftps_port = ftps
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            let camera = if options.standard_ports {
                bind_standard(host, want.2).await?
            } else {
                bind_preferring(host, want.2).await?
            };
            let camera_port = camera
                .local_addr()
                .map_err(|e| SimError::Io(e.to_string()))?
                .port();
            for path in shared.card.all_files() {
                shared.index_file(&path);
            }
            tasks.push(tokio::spawn(mqtt::serve(listener, Arc::clone(&shared))));
            tasks.push(tokio::spawn(ftps::serve(ftps, Arc::clone(&shared))));
            // X1/H2/P2S serve RTSPS (announced in `ipcam.rtsp_url`; no port in the URL means
            // RTSPS's default, 322), A1/P1 the port-6000 JPEG stream.
            if model.caps().camera == pw_bambu::model::CameraKind::Rtsps {
                shared.machine().identity.rtsp_url = if options.standard_ports {
                    format!("rtsps://{host}{}", rtsp::PATH)
                } else {
                    format!("rtsps://{host}:{camera_port}{}", rtsp::PATH)
                };
                tasks.push(tokio::spawn(rtsp::serve(camera, Arc::clone(&shared))));
            } else {
                tasks.push(tokio::spawn(camera::serve(camera, Arc::clone(&shared))));
            }
            tasks.push(tokio::spawn(ticker(
                Arc::clone(&shared),
                options.interval,
                anchor + phase,
            )));
            if !options.standard_ports {
                saved
                    .endpoints
                    .insert(serial.clone(), (host, port, ftps_port, camera_port));
            }
            printers.push(Printer {
                info: PrinterInfo {
                    serial,
                    model: model.token(),
                    host: host.to_string(),
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
            control: None,
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
