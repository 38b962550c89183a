//! Wiring: turns validated [`Settings`] into a running server — data dir, sealing key,
//! database and migrations, the application, the router built from the route table, TLS
//! material and the listeners — and shuts it down gracefully.
//!
//! Invariants: nothing listens before migrations succeeded and the route table is complete;
//! with TLS on, the plain-HTTP port only ever answers with a redirect to HTTPS.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use http::StatusCode;
use pw_app::{App, AppConfig};
use pw_http::{AppState, Mounter};
use pw_store::{Store, StoreError};
use tokio::task::JoinSet;

use crate::config::{Settings, TlsMode};
use crate::keys::{self, KeyError, KeySource, Sealing};
use crate::tls::{self, Names, TlsError, TlsPaths};

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// File holding the one-time setup code while setup is pending.
pub const SETUP_CODE_FILE: &str = "setup-code";

/// How long open connections get to finish at shutdown.
const GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be used.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Sealing key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Database problem.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// TLS material problem.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// A port could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another server using this port? choose another with the port settings)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The operating system's random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// The setup state could not be determined.
    #[error("cannot determine whether setup is complete: {0}")]
    Setup(String),
    /// The route table and the handlers disagree (a programming error caught at start).
    #[error("route table: {0}")]
    Routes(#[from] pw_http::RouteTableError),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The HTTPS address (None with `tls = "off"`).
    pub https: Option<SocketAddr>,
    /// The plain HTTP address (redirects, or the only listener with TLS off).
    pub http: SocketAddr,
    /// The application, for in-process callers (tests, CLI).
    pub app: App,
    /// How secrets are sealed.
    pub sealing: Sealing,
    handles: Vec<Handle<SocketAddr>>,
    tasks: JoinSet<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Assembles the complete router (API + pages) over an application.
pub fn router(app: App) -> Result<Router, pw_http::RouteTableError> {
    let mounter = pw_web::mount(pw_http::mount_api(Mounter::new()));
    pw_http::finish(mounter, AppState::new(app))
}

/// Starts everything and returns once all listeners accept connections.
pub async fn start(settings: &Settings) -> Result<Running, StartError> {
    tls::create_private_dir(&settings.data_dir).map_err(|e| match e {
        TlsError::Io { path, source, .. } => StartError::DataDir { path, source },
        other => StartError::Tls(other),
    })?;
    let sealing = keys::resolve(
        settings.secret_key.as_ref(),
        &settings.data_dir,
        keys::os_random,
    )?;
    match &sealing {
        Sealing::Active {
            source: KeySource::Generated(path),
            ..
        } => tracing::warn!(
            path = %path.display(),
            "generated a new sealing key for secrets at rest: back this file up (without it, sealed secrets \
             cannot be recovered) or move it into PRINTWARDEN_SECRET_KEY"
        ),
        Sealing::Active { source, .. } => tracing::info!(?source, "sealing key loaded"),
        Sealing::Plaintext { reason } => tracing::error!("{reason}"),
    }

    let store = Store::connect(settings.database_url.expose()).await?;
    store.migrate().await?;
    let app = App::new(
        store,
        AppConfig {
            version: VERSION,
            auth_enabled: settings.auth_enabled,
        },
    );
    if !settings.auth_enabled {
        tracing::warn!(
            "authentication is DISABLED (auth = \"disabled\"): anyone who can reach this server can do everything"
        );
    }
    announce_setup_code(&app, &settings.data_dir).await?;
    let router = router(app.clone())?;

    let mut tasks = JoinSet::new();
    let mut handles = Vec::new();
    let mut background = Vec::new();
    let (https, http) = match &settings.tls {
        TlsMode::Off => {
            let http = serve_plain(
                settings,
                settings.http_port,
                router,
                &mut tasks,
                &mut handles,
            )?;
            (None, http)
        }
        mode => {
            let (config, renewal) = match mode {
                TlsMode::Files { cert, key } => (tls::server_config(cert, key)?, None),
                _ => {
                    let paths = TlsPaths::new(&settings.data_dir);
                    let names = Names::for_this_machine(
                        settings.public_url.as_ref().and_then(|u| u.host_str()),
                    );
                    let outcome = tls::ensure_generated_now(&paths, &names)?;
                    publish_ca_copy(&settings.data_dir, &paths.ca_cert);
                    tracing::info!(?outcome, ca = %paths.ca_cert.display(), "TLS certificate ready; import the CA to trust it");
                    (
                        tls::server_config(&paths.server_cert, &paths.server_key)?,
                        Some((paths, names)),
                    )
                }
            };
            let rustls = RustlsConfig::from_config(config);
            let https = serve_tls(settings, router, rustls.clone(), &mut tasks, &mut handles)?;
            let redirect = Router::new()
                .fallback(redirect_to_https)
                .with_state(https.port());
            let http = serve_plain(
                settings,
                settings.http_port,
                redirect,
                &mut tasks,
                &mut handles,
            )?;
            if let Some((paths, names)) = renewal {
                background.push(tokio::spawn(renew_daily(paths, names, rustls)));
            }
            (Some(https), http)
        }
    };
    write_listening(&settings.data_dir, https, http);
    match https {
        Some(addr) => {
            tracing::info!(https = %addr, http = %http, "printwarden {VERSION} serving https://{addr}/ (http redirects)")
        }
        None => {
            tracing::info!(http = %http, "printwarden {VERSION} serving http://{http}/ (tls off)")
        }
    }
    Ok(Running {
        https,
        http,
        app,
        sealing,
        handles,
        tasks,
        background,
    })
}

impl Running {
    /// Stops accepting, lets open requests finish (bounded) and closes the database.
    pub async fn shutdown(mut self) {
        for task in &self.background {
            task.abort();
        }
        for handle in &self.handles {
            handle.graceful_shutdown(Some(GRACE));
        }
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(GRACE + Duration::from_secs(1), drain)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        self.app.store().close().await;
    }
}

fn bind(settings: &Settings, port: u16) -> Result<std::net::TcpListener, StartError> {
    let addr = SocketAddr::new(settings.bind, port);
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok(listener)
}

fn local_addr(
    listener: &std::net::TcpListener,
    settings: &Settings,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        addr: SocketAddr::new(settings.bind, 0),
        source,
    })
}

fn serve_tls(
    settings: &Settings,
    router: Router,
    config: RustlsConfig,
    tasks: &mut JoinSet<()>,
    handles: &mut Vec<Handle<SocketAddr>>,
) -> Result<SocketAddr, StartError> {
    let listener = bind(settings, settings.https_port)?;
    let addr = local_addr(&listener, settings)?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, config)
        .map_err(|source| StartError::Bind { addr, source })?
        .handle(handle.clone());
    handles.push(handle);
    tasks.spawn(async move {
        if let Err(e) = server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
        {
            tracing::error!(error = %e, "HTTPS listener stopped");
        }
    });
    Ok(addr)
}

fn serve_plain(
    settings: &Settings,
    port: u16,
    router: Router,
    tasks: &mut JoinSet<()>,
    handles: &mut Vec<Handle<SocketAddr>>,
) -> Result<SocketAddr, StartError> {
    let listener = bind(settings, port)?;
    let addr = local_addr(&listener, settings)?;
    let handle = Handle::new();
    let server = axum_server::from_tcp(listener)
        .map_err(|source| StartError::Bind { addr, source })?
        .handle(handle.clone());
    handles.push(handle);
    tasks.spawn(async move {
        if let Err(e) = server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
        {
            tracing::error!(error = %e, "HTTP listener stopped");
        }
    });
    Ok(addr)
}

/// The plain-HTTP port's only answer: a permanent redirect to the same path on HTTPS.
async fn redirect_to_https(State(https_port): State<u16>, req: Request) -> Response {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.host().to_owned());
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "A Host header is required.").into_response();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    Redirect::permanent(&format!("https://{host}{port}{path}")).into_response()
}

async fn renew_daily(paths: TlsPaths, names: Names, rustls: RustlsConfig) {
    loop {
        tokio::time::sleep(tls::RENEWAL_INTERVAL).await;
        let (p, n) = (paths.clone(), names.clone());
        match tokio::task::spawn_blocking(move || tls::renew_if_needed(&p, &n)).await {
            Ok(Ok(Some(config))) => {
                rustls.reload_from_config(config);
                tracing::info!("renewed the server certificate; new connections use it");
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "certificate renewal failed; the current certificate stays")
            }
            Err(e) => tracing::error!(error = %e, "certificate renewal task failed"),
        }
    }
}

/// While setup is pending: a fresh one-time setup code on the console and in
/// `<data>/setup-code` (0600). Once an administrator exists, a stale file is removed.
async fn announce_setup_code(app: &App, data_dir: &Path) -> Result<(), StartError> {
    let path = data_dir.join(SETUP_CODE_FILE);
    let mut random = [0u8; pw_credentials::SETUP_CODE_RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(|e| StartError::Random(e.to_string()))?;
    match app.issue_setup_code(random).await {
        Ok(Some(code)) => {
            tls::write_file(&path, format!("{}\n", code.expose()).as_bytes(), 0o600)?;
            // The console banner is the delivery channel S2 asks for; it bypasses the
            // structured log so the code does not travel to log collectors.
            let _ = writeln!(
                std::io::stderr(),
                "\n  printwarden is not set up yet.\n  One-time setup code: {}\n  (also in {}; it changes at every start until setup is done)\n",
                code.expose(),
                path.display()
            );
            tracing::warn!(file = %path.display(), "setup required: the one-time setup code is on the console and in the file");
        }
        Ok(None) => {
            let _ = std::fs::remove_file(&path);
        }
        Err(e) => return Err(StartError::Setup(e.to_string())),
    }
    Ok(())
}

/// `<data>/ca.crt`: a convenience copy of the local CA next to the data, for `curl --cacert`.
fn publish_ca_copy(data_dir: &Path, ca_cert: &Path) {
    if let Ok(pem) = std::fs::read(ca_cert)
        && let Err(e) = tls::write_file(&data_dir.join("ca.crt"), &pem, 0o644)
    {
        tracing::warn!(error = %e, "could not write the CA copy");
    }
}

/// `<data>/listening.json`: the bound addresses, for scripts and tests that use port 0.
fn write_listening(data_dir: &Path, https: Option<SocketAddr>, http: SocketAddr) {
    let mut doc = serde_json::Map::new();
    if let Some(addr) = https {
        doc.insert("https".into(), addr.to_string().into());
    }
    doc.insert("http".into(), http.to_string().into());
    let text = serde_json::Value::Object(doc).to_string();
    if let Err(e) = tls::write_file(&data_dir.join("listening.json"), text.as_bytes(), 0o644) {
        tracing::warn!(error = %e, "could not write listening.json");
    }
}
