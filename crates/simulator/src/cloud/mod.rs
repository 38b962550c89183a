//! A stand-in for the Bambu Cloud HTTP API (`printwarden simulate --cloud`; the exact subset
//! and the source of every shape are in `docs/BAMBU-CLOUD.md` §9): password sign-in with the
//! emailed-code and authenticator-app steps, token refresh and expiry, profile, bound devices
//! (taken from the simulated printers), task history, and fault injection (429 with
//! `Retry-After`, 5xx, Cloudflare-style pages) for the client's backoff, breaker and cache
//! tests. HTTPS on 127.0.0.1 with its own throwaway CA.
//!
//! Invariant: tokens, passwords and codes never appear in a log line of the stand-in (it logs
//! method, path and status only), so a test that greps logs for a token proves the *client*
//! leaked it.

mod api;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::{Authority, PrinterInfo, SimError};

/// The host names the stand-in's certificate names (Bambu's API, web and MQTT hosts, and the
/// loopback names a test uses).
pub const CERT_NAMES: &[&str] = &[
    "api.bambulab.com",
    "api.bambulab.cn",
    "bambulab.com",
    "bambulab.cn",
    "us.mqtt.bambulab.com",
    "cn.mqtt.bambulab.com",
    "localhost",
    "127.0.0.1",
];

/// Bambu's default token lifetime (90 days, `expiresIn: 7776000`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7_776_000);

/// The second step an account's password sign-in asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactor {
    /// Signed in by the password alone (`loginType: ""`).
    None,
    /// An emailed code (`loginType: "verifyCode"`).
    Email,
    /// An authenticator-app code (`loginType: "tfa"`, web-origin step with CSRF).
    Totp,
}

/// One Bambu account of the stand-in (`cloud.json`, API.md: `{email, password, code, uid}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudAccount {
    /// Sign-in name.
    pub email: String,
    /// Password.
    pub password: String,
    /// The code the "email" carries (fixed for the run, so a person can read it from
    /// `cloud.json`).
    pub code: String,
    /// Bambu's numeric user id (MQTT user `u_<uid>`).
    pub uid: u64,
    /// Display name.
    pub name: String,
    /// The second step of a password sign-in.
    pub second_factor: SecondFactor,
    /// Base32 TOTP secret of a `totp` account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    /// Serials bound to the account.
    #[serde(default)]
    pub serials: Vec<String>,
}

/// A printer bound to some account, as `bind` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CloudDevice {
    /// Serial (`dev_id`).
    pub serial: String,
    /// Model code (`dev_model_name`: `BL-P001`, `C12`, `N2S`…).
    pub model_code: String,
    /// Product name (`dev_product_name`: `X1 Carbon`, `P1S`…).
    pub product: String,
    /// The name set by the user.
    pub name: String,
    /// The LAN access code.
    pub access_code: String,
    /// Whether the printer is connected to the cloud.
    pub online: bool,
}

impl CloudDevice {
    /// The cloud's view of a simulated printer.
    #[must_use]
    pub fn from_printer(info: &PrinterInfo) -> Self {
        let model = pw_bambu::model::Model::parse(&info.model);
        let (code, product) = match model {
            Some(pw_bambu::model::Model::X1C) => ("BL-P001", "X1 Carbon"),
            Some(pw_bambu::model::Model::X1) => ("BL-P002", "X1"),
            Some(pw_bambu::model::Model::P1P) => ("C11", "P1P"),
            Some(pw_bambu::model::Model::P1S) => ("C12", "P1S"),
            Some(pw_bambu::model::Model::A1Mini) => ("N1", "A1 mini"),
            Some(pw_bambu::model::Model::A1) => ("N2S", "A1"),
            Some(m) => (m.name(), m.name()),
            None => (info.model.as_str(), info.model.as_str()),
        };
        Self {
            serial: info.serial.clone(),
            model_code: code.to_owned(),
            product: product.to_owned(),
            name: format!(
                "{} {}",
                product,
                &info.serial[info.serial.len().saturating_sub(4)..]
            ),
            access_code: info.access_code.clone(),
            online: true,
        }
    }
}

/// An injected failure: the next `count` answers of the emulated API (never of `/_sim/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The status to answer (429, 500, 503, 418, 403…).
    pub status: u16,
    /// How many answers.
    pub count: u32,
    /// `Retry-After` seconds (429 and 503 only; absent: no header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// An HTML page naming Cloudflare instead of a JSON body, as Bambu's edge sends.
    #[serde(default)]
    pub cloudflare: bool,
}

/// How to start the stand-in.
#[derive(Debug, Clone)]
pub struct CloudOptions {
    /// Where its CA lives (`DIR/cloud`).
    pub dir: PathBuf,
    /// Port on 127.0.0.1 (0: any).
    pub port: u16,
    /// `expiresIn` and `refreshExpiresIn` of new tokens.
    pub token_ttl: Duration,
    /// `false`: `refreshtoken` always answers 401, as OBA observes today.
    pub refresh: bool,
    /// The accounts.
    pub accounts: Vec<CloudAccount>,
    /// Historical tasks per bound printer (for paging).
    pub seed_tasks: usize,
    /// Authenticated calls per minute per access token before 429.
    pub calls_per_minute: u32,
    /// Sign-in calls (login, sendemail, tfa) per minute per client address before 429.
    pub logins_per_minute: u32,
}

fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

pub(crate) fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut raw = vec![0u8; bytes];
    let _ = getrandom::fill(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

impl CloudOptions {
    /// The default accounts (`docs/BAMBU-CLOUD.md` §9.1) with fresh passwords and codes:
    /// alice (emailed code, bound to `serials`), bob (authenticator app, no printers), carol
    /// (password only, no printers).
    #[must_use]
    pub fn new(dir: &Path, serials: Vec<String>) -> Self {
        let mut totp = [0u8; 20];
        let _ = getrandom::fill(&mut totp);
        let account = |email: &str, uid: u64, name: &str, factor, serials| CloudAccount {
            email: email.to_owned(),
            password: format!("pw-{}", random_token(12)),
            code: random_digits(6),
            uid,
            name: name.to_owned(),
            second_factor: factor,
            totp_secret: None,
            serials,
        };
        let mut bob = account(
            "bob@example.test",
            1_000_000_002,
            "bob_maker",
            SecondFactor::Totp,
            Vec::new(),
        );
        bob.totp_secret = Some(
            pw_credentials::totp::TotpSecret::from_bytes(totp)
                .base32()
                .expose()
                .to_owned(),
        );
        Self {
            dir: dir.to_owned(),
            port: 0,
            token_ttl: DEFAULT_TOKEN_TTL,
            refresh: true,
            accounts: vec![
                account(
                    "alice@example.test",
                    1_000_000_001,
                    "alice_maker",
                    SecondFactor::Email,
                    serials,
                ),
                bob,
                account(
                    "carol@example.test",
                    1_000_000_003,
                    "carol_maker",
                    SecondFactor::None,
                    Vec::new(),
                ),
            ],
            seed_tasks: 45,
            calls_per_minute: 120,
            logins_per_minute: 10,
        }
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub(crate) email: String,
    pub(crate) kind: TokenKind,
    pub(crate) expires: Instant,
}

/// The stand-in's mutable state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) token_ttl: Duration,
    pub(crate) refresh: bool,
    pub(crate) calls_per_minute: u32,
    pub(crate) logins_per_minute: u32,
    pub(crate) accounts: Vec<CloudAccount>,
    pub(crate) devices: Mutex<Vec<CloudDevice>>,
    pub(crate) tokens: Mutex<HashMap<String, TokenEntry>>,
    /// Wrong code tries per email since the code was last sent.
    pub(crate) wrong_codes: Mutex<HashMap<String, u32>>,
    /// Open authenticator-app steps: `tfaKey` → (email, issued).
    pub(crate) tfa_keys: Mutex<HashMap<String, (String, Instant)>>,
    pub(crate) csrf: Mutex<HashSet<String>>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) hits: Mutex<BTreeMap<String, u64>>,
    pub(crate) user_agents: Mutex<Vec<String>>,
    /// Fixed-window rate limits: key → (window start, count).
    pub(crate) windows: Mutex<HashMap<String, (Instant, u32)>>,
    /// Task history per serial, newest first.
    pub(crate) tasks: BTreeMap<String, Vec<serde_json::Value>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn account(&self, email: &str) -> Option<&CloudAccount> {
        let email = email.trim();
        self.accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))
    }

    /// A fresh access/refresh pair for `email`.
    pub(crate) fn issue(&self, email: &str) -> (String, String) {
        let (access, refresh) = (random_token(48), random_token(48));
        let expires = Instant::now() + self.token_ttl;
        let mut tokens = lock(&self.tokens);
        tokens.insert(
            access.clone(),
            TokenEntry {
                email: email.to_owned(),
                kind: TokenKind::Access,
                expires,
            },
        );
        tokens.insert(
            refresh.clone(),
            TokenEntry {
                email: email.to_owned(),
                kind: TokenKind::Refresh,
                expires,
            },
        );
        (access, refresh)
    }

    /// Counts one call against `key`'s window; `Err(seconds until the window resets)` when over.
    pub(crate) fn spend(&self, key: String, per_minute: u32) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let entry = windows.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            let left = Duration::from_secs(60).saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// A running stand-in.
#[derive(Debug)]
pub struct Cloud {
    /// Its address.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT`: both the API base and the web origin.
    pub url: String,
    /// The stand-in's CA certificate (PEM) and its path.
    pub ca_pem: String,
    /// Path of the CA certificate.
    pub ca_path: PathBuf,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn seed_tasks(
    devices: &[CloudDevice],
    per_device: usize,
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut out = BTreeMap::new();
    let now = time::OffsetDateTime::now_utc();
    for (d, device) in devices.iter().enumerate() {
        let mut list = Vec::new();
        for i in 0..per_device {
            let id = 900_000_000 + (d as u64) * 10_000 + (per_device - i) as u64;
            let start = now - time::Duration::hours((i as i64 + 1) * 3);
            let end = start + time::Duration::minutes(72);
            let fmt = |t: time::OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            };
            list.push(serde_json::json!({
                "id": id, "designId": 0, "designTitle": "", "instanceId": 0,
                "modelId": format!("US{id:014}"), "title": format!("part-{i}.3mf"),
                "cover": "https://example.invalid/cover.png",
                "status": if i % 7 == 3 { 3 } else { 2 }, "feedbackStatus": 0,
                "startTime": fmt(start), "endTime": fmt(end),
                "weight": 21.4, "length": 712, "costTime": 4320,
                "profileId": id + 1, "plateIndex": 1, "plateName": "",
                "deviceId": device.serial,
                "amsDetailMapping": [{"ams": 0, "sourceColor": "00AE42FF", "targetColor": "00AE42FF",
                    "filamentId": "GFA00", "filamentType": "PLA", "targetFilamentType": "",
                    "weight": 21.4, "nozzleId": 0, "amsId": 0, "slotId": 0}],
                "mode": "cloud_file", "isPublicProfile": false, "isPrintable": true,
                "isDelete": false, "deviceModel": device.product, "deviceName": device.name,
                "bedType": "textured_plate", "jobType": 1,
            }));
        }
        out.insert(device.serial.clone(), list);
    }
    out
}

impl Cloud {
    /// Starts the stand-in on 127.0.0.1 with a fresh CA in `options.dir` and `devices` (the
    /// printers bound to its accounts, by serial).
    pub async fn start(options: CloudOptions, devices: Vec<CloudDevice>) -> Result<Self, SimError> {
        let authority = Authority::load_or_create(&options.dir)?;
        let leaf = authority.web_leaf("printwarden Bambu Cloud stand-in", CERT_NAMES)?;
        let tls = leaf.web_config()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| SimError::Io(format!("cloud stand-in: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SimError::Io(e.to_string()))?;
        let state = Arc::new(State {
            token_ttl: options.token_ttl,
            refresh: options.refresh,
            calls_per_minute: options.calls_per_minute,
            logins_per_minute: options.logins_per_minute,
            tasks: seed_tasks(&devices, options.seed_tasks),
            accounts: options.accounts,
            devices: Mutex::new(devices),
            tokens: Mutex::default(),
            wrong_codes: Mutex::default(),
            tfa_keys: Mutex::default(),
            csrf: Mutex::default(),
            faults: Mutex::default(),
            hits: Mutex::default(),
            user_agents: Mutex::default(),
            windows: Mutex::default(),
        });
        let task = tokio::spawn(api::serve(listener, tls, Arc::clone(&state)));
        Ok(Self {
            addr,
            url: format!("https://{addr}"),
            ca_pem: authority.pem().to_owned(),
            ca_path: authority.cert_path.clone(),
            state,
            task,
        })
    }

    /// The accounts (with their passwords and codes: test material).
    #[must_use]
    pub fn accounts(&self) -> &[CloudAccount] {
        &self.state.accounts
    }

    /// Queues a failure for the next `fault.count` answers.
    pub fn fault(&self, fault: Fault) {
        lock(&self.state.faults).push_back(fault);
    }

    /// Drops every queued failure.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// How many requests reached `path` (the route pattern, e.g.
    /// `/v1/iot-service/api/user/bind`), failed ones included.
    #[must_use]
    pub fn hits(&self, path: &str) -> u64 {
        lock(&self.state.hits).get(path).copied().unwrap_or(0)
    }

    /// Every `User-Agent` seen, in order.
    #[must_use]
    pub fn user_agents(&self) -> Vec<String> {
        lock(&self.state.user_agents).clone()
    }

    /// Revokes every token of `email` (a sign-out made elsewhere).
    pub fn revoke(&self, email: &str) {
        lock(&self.state.tokens).retain(|_, t| !t.email.eq_ignore_ascii_case(email));
    }

    /// Takes a printer off (or back on) the cloud.
    pub fn set_online(&self, serial: &str, online: bool) {
        for d in lock(&self.state.devices).iter_mut() {
            if d.serial == serial {
                d.online = online;
            }
        }
    }

    /// Every token the stand-in has issued and not revoked (test material: a test searches
    /// logs and databases for them).
    #[must_use]
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state.tokens).keys().cloned().collect()
    }

    /// Writes `DIR/cloud.json` (API.md: `{api_url, mqtt_host, mqtt_port, ca_cert, accounts}`).
    /// The cloud MQTT broker is not emulated yet: `mqtt_host` and `mqtt_port` are null.
    pub fn write_cloud_json(&self, dir: &Path) -> Result<PathBuf, SimError> {
        let body = serde_json::json!({
            "api_url": self.url,
            "mqtt_host": null,
            "mqtt_port": null,
            "ca_cert": self.ca_path.display().to_string(),
            "accounts": self.state.accounts,
        });
        let bytes = serde_json::to_vec_pretty(&body).map_err(|e| SimError::Io(e.to_string()))?;
        let path = dir.join("cloud.json");
        let tmp = dir.join(".cloud.json.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| SimError::Io(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| SimError::Io(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}
