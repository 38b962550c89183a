//! Test harness: [`TestServer::spawn`] boots the real printwarden server in-process — real
//! configuration loading, real TLS with its generated CA, port 0 on 127.0.0.1, a fresh data
//! dir and a fresh database — and hands out a client that trusts exactly that CA.
//! [`TestServer::spawn_process`] runs the real binary as a child process instead, so a test can
//! kill it with SIGKILL ([`TestServer::kill9`]) and start it again on the same data directory
//! and database ([`TestServer::respawn`]); a dropped server never leaves its process running.
//!
//! `PRINTWARDEN_TEST_DB=postgres` gives every server its own PostgreSQL database (created on
//! `PRINTWARDEN_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, and
//! dropped when the server is dropped); otherwise SQLite in the data dir.
//!
//! [`smtp::SmtpSink`] reads the SMTP sink test peer that `scripts/test.sh` starts, and
//! [`ldap::LdapPeer`] the OpenLDAP one.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness fails fast with a message"
)]

pub mod ldap;
pub mod oidc;
pub mod smtp;
pub mod totp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use printwarden::config::{self, Settings, Sources};
use printwarden::{Running, start_with};
use sqlx::Connection;

pub use pw_testdb::{PgDatabase, TestDb};

/// Options for [`TestServer::spawn_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra `PRINTWARDEN_*` variables (e.g. `("PRINTWARDEN_TLS", "off")`).
    pub env: Vec<(String, String)>,
    /// Reuse this data dir instead of a fresh one (restarts).
    pub data_dir: Option<PathBuf>,
    /// Reuse this database URL instead of a fresh one (restarts).
    pub database_url: Option<String>,
    /// The CA the client trusts (default: the generated `<data>/tls/ca.crt`).
    pub ca_cert: Option<PathBuf>,
    /// Answers the server's outbound name lookups (default: the system resolver).
    pub resolver: Option<std::sync::Arc<dyn pw_app::outbound::Resolve>>,
    /// The server's clock (default: the system clock), e.g. a [`pw_app::ManualClock`].
    pub clock: Option<std::sync::Arc<dyn pw_app::Clock>>,
    /// The archive search's thresholds (default: production's).
    pub search: Option<printwarden::SearchTuning>,
}

/// A real server on 127.0.0.1 with a client for it.
#[derive(Debug)]
pub struct TestServer {
    running: Option<Running>,
    /// The data directory (kept alive with the server).
    pub data_dir: PathBuf,
    /// Database URL in use.
    pub database_url: String,
    /// Base URL, `https://127.0.0.1:PORT` (or `http://` with TLS off).
    pub base: String,
    /// The plain-HTTP address.
    pub http_addr: SocketAddr,
    /// A client that trusts the server's CA and does not follow redirects.
    pub client: reqwest::Client,
    /// Set when the server runs as its own process ([`TestServer::spawn_process`]).
    process: Option<Process>,
    _tempdir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// A server running as a child process of the real binary: how to start it again.
#[derive(Debug)]
struct Process {
    child: Option<std::process::Child>,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A child process outlives its handle: never leave one serving after the test.
        if let Some(mut child) = self.process.as_mut().and_then(|p| p.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A failing test's server log is in a temporary directory about to be removed: its
        // tail goes to the test's output, where a CI failure can be read.
        if std::thread::panicking()
            && let Some(process) = &self.process
        {
            let text = std::fs::read_to_string(&process.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines.len().saturating_sub(LOG_TAIL_LINES);
            eprintln!(
                "--- the server process's log, last {} of {} lines ---\n{}\n--- end of the log ---",
                lines.len() - tail,
                lines.len(),
                lines[tail..].join("\n")
            );
        }
    }
}

/// How much of a server process's log a failing test prints.
const LOG_TAIL_LINES: usize = 150;

impl TestServer {
    /// Boots a fresh server with defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// Boots a fresh server with extra `PRINTWARDEN_*` settings, e.g. `[("PRINTWARDEN_TLS", "off")]`.
    pub async fn spawn_env(env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::spawn_with(Options {
            env,
            ..Options::default()
        })
        .await
    }

    /// Boots a server with options.
    pub async fn spawn_with(options: Options) -> Self {
        printwarden::install_crypto_provider();
        let (tempdir, data_dir) = match options.data_dir {
            Some(dir) => (None, dir),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let dir = t.path().join("data");
                (Some(t), dir)
            }
        };
        let (pg, database_url) = match (options.database_url, TestDb::from_env()) {
            (Some(url), _) => (None, url),
            (None, TestDb::Postgres) => {
                let db = PgDatabase::create().await;
                let url = db.url.clone();
                (Some(db), url)
            }
            (None, TestDb::Sqlite) => (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("printwarden.db").display()
                ),
            ),
        };
        let settings = settings(&data_dir, &database_url, &options.env);
        let ca_cert = options
            .ca_cert
            .unwrap_or_else(|| data_dir.join("tls/ca.crt"));
        let overrides = printwarden::Overrides {
            resolver: options.resolver,
            clock: options.clock,
            search: options.search,
        };
        let running = start_with(&settings, overrides)
            .await
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let (base, client) = match running.https {
            Some(addr) => (format!("https://{addr}"), tls_client(&ca_cert)),
            None => (format!("http://{}", running.http), plain_client()),
        };
        Self {
            http_addr: running.http,
            running: Some(running),
            data_dir,
            database_url,
            base,
            client,
            process: None,
            _tempdir: tempdir,
            _pg: pg,
        }
    }

    /// Boots the server as a child process of the `printwarden` binary at `binary` (an
    /// integration test passes `env!("CARGO_BIN_EXE_printwarden")`), with the same settings
    /// [`TestServer::spawn_with`] gives (no clock or resolver overrides: those live in this
    /// process). A process can be killed for real ([`TestServer::kill9`]) and started again on
    /// the same data directory and database ([`TestServer::respawn`]). Its log (warnings and
    /// up) goes to `server.log` beside the data directory.
    pub async fn spawn_process(binary: &Path, options: Options) -> Self {
        printwarden::install_crypto_provider();
        assert!(
            options.clock.is_none() && options.resolver.is_none(),
            "a server process takes no in-process overrides"
        );
        let (tempdir, data_dir) = match options.data_dir {
            Some(dir) => (None, dir),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let dir = t.path().join("data");
                (Some(t), dir)
            }
        };
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let (pg, database_url) = match (options.database_url, TestDb::from_env()) {
            (Some(url), _) => (None, url),
            (None, TestDb::Postgres) => {
                let db = PgDatabase::create().await;
                let url = db.url.clone();
                (Some(db), url)
            }
            (None, TestDb::Sqlite) => (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("printwarden.db").display()
                ),
            ),
        };
        let mut env = vec![
            (
                "PRINTWARDEN_DATA_DIR".to_owned(),
                data_dir.display().to_string(),
            ),
            ("PRINTWARDEN_BIND".to_owned(), "127.0.0.1".to_owned()),
            ("PRINTWARDEN_HTTPS_PORT".to_owned(), "0".to_owned()),
            ("PRINTWARDEN_HTTP_PORT".to_owned(), "0".to_owned()),
            ("PRINTWARDEN_DATABASE_URL".to_owned(), database_url.clone()),
            // `PRINTWARDEN_TEST_SERVER_LOG` (a filter such as `warn,pw_app=debug`) widens
            // the log of server processes while a failure is chased.
            (
                "PRINTWARDEN_LOG".to_owned(),
                std::env::var("PRINTWARDEN_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
            ),
        ];
        env.extend(options.env);
        let log = data_dir.with_file_name(format!(
            "{}-server.log",
            data_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("data")
        ));
        let mut server = Self {
            running: None,
            data_dir,
            database_url,
            base: String::new(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client: plain_client(),
            process: Some(Process {
                child: None,
                binary: binary.to_owned(),
                env,
                log,
            }),
            _tempdir: tempdir,
            _pg: pg,
        };
        server.respawn().await;
        server
    }

    /// The server process's id, while one runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.process
            .as_ref()
            .and_then(|p| p.child.as_ref())
            .map(std::process::Child::id)
    }

    /// Kills the server process with SIGKILL — no graceful stop, no flush, no cleanup, as a
    /// power cut or the OOM killer would — and reaps it.
    pub fn kill9(&mut self) {
        let child = self
            .process
            .as_mut()
            .and_then(|p| p.child.take())
            .expect("a server process (spawn_process)");
        let mut child = child;
        // `Child::kill` is SIGKILL on Unix; killing a process that already died is no error.
        let _ = child.kill();
        child.wait().expect("reap the killed server");
    }

    /// Starts the server process again on the same data directory and database (after
    /// [`TestServer::kill9`], or for the first time); returns once it serves.
    pub async fn respawn(&mut self) {
        let process = self
            .process
            .as_mut()
            .expect("a server process (spawn_process)");
        if let Some(mut old) = process.child.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        let listening = self.data_dir.join("listening.json");
        let _ = std::fs::remove_file(&listening);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&process.log)
            .expect("server log");
        let mut cmd = std::process::Command::new(&process.binary);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(process.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.data_dir.parent().unwrap_or(&self.data_dir))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log);
        let mut child = cmd.spawn().expect("start the server binary");
        let mut doc = None;
        for _ in 0..600 {
            if let Some(v) = std::fs::read(&listening)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            {
                doc = Some(v);
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the server process exited ({status}); its log: {}",
                    std::fs::read_to_string(&process.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let Some(doc) = doc else {
            let _ = child.kill();
            panic!("the server process never wrote listening.json");
        };
        let http = doc["http"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("listening.json names the http address");
        (self.base, self.client) = match doc["https"].as_str() {
            Some(addr) => (
                format!("https://{addr}"),
                tls_client(&self.data_dir.join("tls/ca.crt")),
            ),
            None => (format!("http://{http}"), plain_client()),
        };
        self.http_addr = http;
        process.child = Some(child);
    }

    /// After the server process restarted itself (a web restore): waits until it serves again
    /// on new ports (`listening.json` rewritten) and points the client there, trusting the CA
    /// now in the data directory.
    pub async fn await_restart(&mut self) {
        if let Some(status) = self.await_restart_or_exit().await {
            panic!("the server process exited ({status}) instead of restarting");
        }
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of the server process for its
    /// next [`TestServer::respawn`].
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        let process = self
            .process
            .as_mut()
            .expect("a server process (spawn_process)");
        process.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            process.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// [`TestServer::await_restart`], or the exit status of a process that died instead (it
    /// is reaped; [`TestServer::respawn`] starts it again).
    pub async fn await_restart_or_exit(&mut self) -> Option<std::process::ExitStatus> {
        let listening = self.data_dir.join("listening.json");
        let old = self.base.clone();
        for _ in 0..3000 {
            let process = self
                .process
                .as_mut()
                .expect("a server process (spawn_process)");
            let child = process.child.as_mut().expect("a running server process");
            if let Ok(Some(status)) = child.try_wait() {
                process.child = None;
                return Some(status);
            }
            let doc = std::fs::read(&listening)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            if let Some(doc) = doc {
                let base = doc["https"]
                    .as_str()
                    .map(|a| format!("https://{a}"))
                    .or_else(|| doc["http"].as_str().map(|a| format!("http://{a}")))
                    .expect("listening.json names an address");
                if base != old {
                    self.http_addr = doc["http"]
                        .as_str()
                        .and_then(|a| a.parse().ok())
                        .expect("listening.json names the http address");
                    self.client = if base.starts_with("https") {
                        tls_client(&self.data_dir.join("tls/ca.crt"))
                    } else {
                        plain_client()
                    };
                    self.base = base;
                    return None;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the server did not come back within a minute");
    }

    /// The running server (app handle, addresses).
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("server running")
    }

    /// Absolute URL for a path.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Stops the server gracefully and starts it again on the same data dir and database
    /// (new ports), as an operator restarting the service would.
    pub async fn restart(mut self, env: Vec<(String, String)>) -> Self {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        let options = Options {
            env,
            data_dir: Some(self.data_dir.clone()),
            database_url: Some(self.database_url.clone()),
            ..Options::default()
        };
        let mut next = Self::spawn_with(options).await;
        next._tempdir = self._tempdir.take();
        next._pg = self._pg.take();
        next
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Settings through the real configuration loader, as the binary would build them.
#[must_use]
pub fn settings(data_dir: &Path, database_url: &str, extra: &[(String, String)]) -> Settings {
    let mut env = vec![
        (
            "PRINTWARDEN_DATA_DIR".to_owned(),
            data_dir.display().to_string(),
        ),
        ("PRINTWARDEN_BIND".to_owned(), "127.0.0.1".to_owned()),
        ("PRINTWARDEN_HTTPS_PORT".to_owned(), "0".to_owned()),
        ("PRINTWARDEN_HTTP_PORT".to_owned(), "0".to_owned()),
        (
            "PRINTWARDEN_DATABASE_URL".to_owned(),
            database_url.to_owned(),
        ),
        ("PRINTWARDEN_LOG".to_owned(), "warn".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    config::load_with_env(&Sources::default(), env)
        .unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// A client that trusts only the given CA certificate (PEM file).
#[must_use]
pub fn tls_client(ca_cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_cert).expect("CA certificate readable");
    let ca = reqwest::Certificate::from_pem(&pem).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A plain client that does not follow redirects.
#[must_use]
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// How a test request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    None,
    /// A session cookie: the full `name=value` pair.
    Cookie(String),
    /// An API key, sent as `Authorization: Bearer`.
    Key(String),
}

/// A JSON answer: status, body (Null when empty or not JSON) and headers.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: reqwest::StatusCode,
    /// Parsed body.
    pub json: serde_json::Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The `Set-Cookie` session pair (`name=value`) if the answer set a non-empty one.
    #[must_use]
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("pw_session")
    }

    /// The sign-in challenge pair (`name=value`) if the answer set a non-empty one.
    #[must_use]
    pub fn challenge_cookie(&self) -> Option<String> {
        self.cookie("pw_mfa")
    }

    /// The full `Set-Cookie` line for the cookie whose name ends with `suffix`.
    #[must_use]
    pub fn set_cookie_line(&self, suffix: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|line| {
                line.split(';')
                    .next()
                    .and_then(|pair| pair.split_once('='))
                    .is_some_and(|(n, _)| n.ends_with(suffix))
            })
            .map(str::to_owned)
    }

    fn cookie(&self, suffix: &str) -> Option<String> {
        let line = self.set_cookie_line(suffix)?;
        let pair = line.split(';').next()?;
        let (_, value) = pair.split_once('=')?;
        (!value.is_empty()).then(|| pair.to_owned())
    }

    /// The error envelope's message.
    #[must_use]
    pub fn message(&self) -> String {
        self.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The password every helper-made account gets.
pub const TEST_PASSWORD: &str = "correct horse battery";

impl TestServer {
    /// The server's own origin (`https://127.0.0.1:PORT`), as its pages send it.
    #[must_use]
    pub fn origin(&self) -> String {
        self.url("").trim_end_matches('/').to_owned()
    }

    /// Sends a request with optional JSON body.
    pub async fn call(
        &self,
        auth: &Auth,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        req = match auth {
            Auth::None => req,
            // As a browser on our own page would: with our origin (CSRF check).
            Auth::Cookie(c) => req
                .header(reqwest::header::COOKIE, c)
                .header(reqwest::header::ORIGIN, self.origin()),
            Auth::Key(k) => req.bearer_auth(k),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            json,
            headers,
        }
    }

    /// Whether `needle` occurs anywhere in the stored data, on either backend: for SQLite the
    /// database files (main file and WAL, where recent writes live until a checkpoint), for
    /// PostgreSQL every column of every table of the server's schema (text as text, `bytea`
    /// as raw bytes). An at-rest "not stored in the clear" check must first show this finds a
    /// value that *is* stored in the clear, so it cannot pass by searching nothing.
    pub async fn stored_contains(&self, needle: &[u8]) -> bool {
        if self.database_url.starts_with("sqlite:") {
            return ["printwarden.db", "printwarden.db-wal"].iter().any(|name| {
                std::fs::read(self.data_dir.join(name))
                    .unwrap_or_default()
                    .windows(needle.len())
                    .any(|w| w == needle)
            });
        }
        let mut conn = sqlx::PgConnection::connect(&self.database_url)
            .await
            .expect("connect to the test database");
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text \
             FROM information_schema.columns WHERE table_schema = current_schema()",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list columns");
        assert!(!columns.is_empty(), "no tables to search");
        let mut found = false;
        for (table, column, data_type) in columns {
            // Names come from the catalogue, quoted; no test input reaches the SQL.
            let quoted = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
            let (t, c) = (quoted(&table), quoted(&column));
            let values: Vec<Vec<u8>> = if data_type == "bytea" {
                sqlx::query_scalar::<_, Option<Vec<u8>>>(sqlx::AssertSqlSafe(format!(
                    "SELECT {c} FROM {t}"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("read a bytea column")
                .into_iter()
                .flatten()
                .collect()
            } else {
                sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(format!(
                    "SELECT {c}::text FROM {t}"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("read a column as text")
                .into_iter()
                .flatten()
                .map(String::into_bytes)
                .collect()
            };
            if values
                .iter()
                .any(|v| v.windows(needle.len()).any(|w| w == needle))
            {
                found = true;
                break;
            }
        }
        let _ = conn.close().await;
        found
    }

    /// [`Self::stored_contains`], blocking, as `Some(found)` on both backends (the name is
    /// historic: it once answered `None` on PostgreSQL, which made at-rest checks vacuous
    /// there). Prefer `stored_contains`.
    #[must_use]
    pub fn sqlite_contains(&self, needle: &[u8]) -> Option<bool> {
        let needle = needle.to_vec();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(self.stored_contains(&needle))
                })
                .join()
                .expect("search thread")
        })
        .into()
    }

    /// The one-time setup code the server wrote to its data dir.
    #[must_use]
    pub fn setup_code(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("setup-code"))
            .expect("setup-code file")
            .trim()
            .to_owned()
    }

    /// Sets the instance up with an administrator `admin` / [`TEST_PASSWORD`]; returns their session.
    pub async fn setup_admin(&self) -> Auth {
        let a = self
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/setup",
                Some(serde_json::json!({
                    "setup_code": self.setup_code(),
                    "username": "admin",
                    "password": TEST_PASSWORD,
                })),
            )
            .await;
        assert_eq!(a.status, 201, "setup: {:?}", a.json);
        Auth::Cookie(a.session_cookie().expect("setup sets a session cookie"))
    }

    /// Signs in; panics unless it works.
    pub async fn login(&self, username: &str, password: &str) -> Auth {
        let a = self
            .call(
                &Auth::None,
                "POST",
                "/api/v1/auth/login",
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(a.status, 200, "login {username}: {:?}", a.json);
        Auth::Cookie(a.session_cookie().expect("login sets a session cookie"))
    }

    /// Creates a group with these permissions (as `admin_auth`); returns its id.
    pub async fn create_group(&self, admin_auth: &Auth, name: &str, permissions: &[&str]) -> i64 {
        let a = self
            .call(
                admin_auth,
                "POST",
                "/api/v1/groups",
                Some(serde_json::json!({"name": name, "permissions": permissions})),
            )
            .await;
        assert_eq!(a.status, 201, "create group {name}: {:?}", a.json);
        a.json["id"].as_i64().expect("group id")
    }

    /// Creates a user with [`TEST_PASSWORD`] in these groups; returns the id.
    pub async fn create_user(&self, admin_auth: &Auth, username: &str, group_ids: &[i64]) -> i64 {
        let a = self
            .call(
                admin_auth,
                "POST",
                "/api/v1/users",
                Some(serde_json::json!({
                    "username": username,
                    "password": TEST_PASSWORD,
                    "group_ids": group_ids,
                })),
            )
            .await;
        assert_eq!(a.status, 201, "create user {username}: {:?}", a.json);
        a.json["id"].as_i64().expect("user id")
    }

    /// The id of a group by name.
    pub async fn group_id(&self, admin_auth: &Auth, name: &str) -> i64 {
        let a = self.call(admin_auth, "GET", "/api/v1/groups", None).await;
        a.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["name"] == name)
            .and_then(|g| g["id"].as_i64())
            .unwrap_or_else(|| panic!("no group {name}"))
    }
}
