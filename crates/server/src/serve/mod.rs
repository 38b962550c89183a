//! Wiring: turns validated [`Settings`] into a running server — data dir, sealing key,
//! database and migrations, the application, the router built from the route table, TLS
//! material and the listeners — and shuts it down gracefully.
//!
//! Invariants: nothing listens before migrations succeeded and the route table is complete;
//! with TLS on, the plain-HTTP port only ever answers with a redirect to HTTPS.

pub mod accept;
pub mod certificates;
pub mod keys;
pub mod restore;
pub mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use http::StatusCode;
use pw_app::outbound::{Resolve, SystemResolver};
use pw_app::{App, AppConfig, Certificates, Task};
use pw_credentials::SealingKey;
use pw_http::{AppState, Mounter, Shield, ShieldSettings};
use pw_store::{Store, StoreError};
use tokio::task::JoinSet;

use crate::config::{Settings, TlsMode};
use accept::{ConnectionLimits, ConnectionSettings, LimitAcceptor};
use certificates::{Managed, Source, UploadPaths};
use keys::{KeyError, KeySource, Sealing};
use tls::{Names, TlsError, TlsPaths};

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
    /// Another process holds the data directory.
    #[error(
        "data directory {} is in use by another printwarden process; stop it first, or give this one \
         its own directory with --data-dir",
        .0.display()
    )]
    DataDirInUse(PathBuf),
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
    /// The generated-certificate renewal state (auto TLS only).
    renewal: Option<Renewal>,
    /// Held while running: one server per data dir (none on a read-only data dir).
    _lock: Option<std::fs::File>,
}

/// What the renewal check needs: where the material is, which extra host to cover, and the
/// live listener configuration to swap.
#[derive(Debug, Clone)]
struct Renewal {
    paths: TlsPaths,
    extra_host: Option<String>,
    rustls: RustlsConfig,
    /// Asked before a swap: an uploaded certificate is never replaced by a renewal.
    certificates: Arc<Managed>,
}

impl Renewal {
    /// Re-issues the leaf if needed and hot-swaps it into the listener: new handshakes get the
    /// new certificate, open connections are not dropped. Returns whether it swapped.
    async fn run(&self) -> Result<bool, TlsError> {
        let (paths, host) = (self.paths.clone(), self.extra_host.clone());
        let renewed =
            tokio::task::spawn_blocking(move || tls::renew_if_needed(&paths, host.as_deref()))
                .await
                .map_err(|e| TlsError::BadFiles(format!("renewal task failed: {e}")))??;
        match renewed {
            // An administrator's upload wins over the generated leaf, renewed or not.
            Some(_) if self.certificates.serving_upload() => Ok(false),
            Some(config) => {
                self.rustls.reload_from_config(config);
                tracing::info!("renewed the server certificate; new connections use it");
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Assembles the complete router (API + pages) over an application; `metrics` is shared with
/// the acceptor, which counts connections into it.
pub fn router(
    app: App,
    https_for_clients: bool,
    shield: Shield,
    metrics: Arc<pw_http::Metrics>,
) -> Result<Router, pw_http::RouteTableError> {
    let mounter = pw_web::mount(pw_http::mount_api(Mounter::new()));
    let mut state = AppState::new(app, https_for_clients, shield);
    state.metrics = metrics;
    let state = pw_web::with_error_pages(state);
    pw_http::finish(mounter, state)
}

/// The shield's settings: trusted proxies, the names we answer to (public URL, `localhost`,
/// this machine's names, `allowed_hosts`), the public origin and the rate limits.
pub fn shield_settings(settings: &Settings) -> ShieldSettings {
    let public_host = settings.public_url.as_ref().and_then(|u| u.host_str());
    let mut allowed_hosts: Vec<String> = Names::for_this_machine(public_host)
        .dns
        .into_iter()
        .collect();
    allowed_hosts.extend(settings.allowed_hosts.iter().cloned());
    ShieldSettings {
        trusted_proxies: settings.trusted_proxies.clone(),
        allowed_hosts,
        public_origin: settings
            .public_url
            .as_ref()
            .map(|u| u.origin().ascii_serialization()),
        limits: settings.limits,
    }
}

/// The library's content store under the data directory (`blobs/ab/cd/<sha256>`).
pub const LIBRARY_BLOB_DIR: &str = "blobs";

/// What the application needs from the settings; `sealing` is the resolved key (`None` seals
/// nothing: only for commands that handle no stored secret).
pub fn app_config(settings: &Settings, sealing: Option<SealingKey>) -> AppConfig {
    let minutes = |m: u32| std::time::Duration::from_secs(u64::from(m) * 60);
    AppConfig {
        version: VERSION,
        auth_enabled: settings.auth_enabled,
        local_ca: settings.tls == TlsMode::Auto,
        session_idle: minutes(settings.session_idle_minutes),
        session_absolute: minutes(settings.session_absolute_minutes),
        setup_code_file: Some(settings.data_dir.join(SETUP_CODE_FILE)),
        sealing,
        key_source: pw_app::KeySource::None,
        resolver: Arc::new(SystemResolver),
        printer_ca: settings
            .printer_ca
            .as_ref()
            .map(|(_, roots)| Arc::clone(roots)),
        library: pw_app::LibraryConfig {
            blob_dir: Some(settings.data_dir.join(LIBRARY_BLOB_DIR)),
            max_upload_bytes: settings.library_max_upload_bytes,
        },
        data_dir: Some(settings.data_dir.clone()),
        public_origin: settings
            .public_url
            .as_ref()
            .map(|u| u.origin().ascii_serialization()),
        cloud: pw_app::CloudConfig {
            api_url: settings
                .bambu_cloud
                .url
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            ca_pem: settings.bambu_cloud.ca.as_ref().map(|(_, pem)| pem.clone()),
            backoff_base: std::time::Duration::from_millis(settings.bambu_cloud.backoff_ms),
            breaker_cooldown: std::time::Duration::from_secs(settings.bambu_cloud.breaker_seconds),
        },
    }
}

/// Starts everything and returns once all listeners accept connections.
pub async fn start(settings: &Settings) -> Result<Running, StartError> {
    start_with(settings, Overrides::default()).await
}

/// What tests may substitute in a real server.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Answers outbound name lookups (tests answer names themselves).
    pub resolver: Option<Arc<dyn Resolve>>,
    /// The application's clock (tests move time to expire codes and links).
    pub clock: Option<Arc<dyn pw_app::Clock>>,
    /// The archive search's thresholds (tests cross them with a few entries).
    pub search: Option<pw_store::SearchTuning>,
}

/// [`start`] with test overrides.
pub async fn start_with(settings: &Settings, overrides: Overrides) -> Result<Running, StartError> {
    let open_files = accept::raise_open_file_limit();
    tls::create_private_dir(&settings.data_dir).map_err(|e| match e {
        TlsError::Io { path, source, .. } => StartError::DataDir { path, source },
        other => StartError::Tls(other),
    })?;
    let lock = lock_data_dir(&settings.data_dir)?;
    // Before anything below opens `secret.key`, `tls/` or the database: a restore cut off by a
    // crash may have moved some of them.
    let recovered = restore::recover(settings)
        .await
        .map_err(StartError::Setup)?;
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

    let mut store = Store::connect(settings.database_url.expose()).await?;
    if let Some(tuning) = overrides.search {
        store = store.with_search_tuning(tuning);
    }
    store.migrate().await?;
    // Once per start, where the operator looks: the migration's own warning went by once, at
    // the upgrade, and the search works without the indexes — just slowly on a big archive.
    match store.archive_search_indexed().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "PostgreSQL lacks the pg_trgm extension (or the archive search indexes built with it): \
             searching the archive for 3 or more characters reads every entry the reader may see, \
             slow on a large archive. docs/OPERATIONS.md, \"The archive search index\", shows how \
             to add them"
        ),
        Err(e) => tracing::warn!(error = %e, "could not check the archive search indexes"),
    }
    let key = match &sealing {
        Sealing::Active { key, .. } => Some(key.clone()),
        Sealing::Plaintext { .. } => None,
    };
    let mut config = app_config(settings, key);
    config.key_source = sealing.status_source(settings.secret_key_file.is_some());
    if let Some(resolver) = overrides.resolver {
        config.resolver = resolver;
    }
    let clock = overrides
        .clock
        .unwrap_or_else(|| Arc::new(pw_app::SystemClock));
    let app = App::start_with_clock(store, config, clock)
        .await
        .map_err(|e| StartError::Setup(e.to_string()))?;
    app.start_background()
        .await
        .map_err(|e| StartError::Setup(e.to_string()))?;
    if let Some(outcome) = recovered {
        app.record_restore_outcome(outcome).await;
    }
    if !settings.auth_enabled {
        tracing::warn!(
            "authentication is DISABLED (auth = \"disabled\"): anyone who can reach this server can do everything"
        );
    }
    announce_setup_code(&app, &settings.data_dir).await?;
    // Clients reach us over HTTPS unless TLS is off with no proxy in front to terminate it.
    let https_for_clients = settings.tls != TlsMode::Off || !settings.trusted_proxies.is_empty();
    let shield = shield_settings(settings);
    let metrics = Arc::new(pw_http::Metrics::default());
    let router = router(
        app.clone(),
        https_for_clients,
        Shield::new(shield.clone()),
        Arc::clone(&metrics),
    )?;
    let listen = Listen::new(settings, metrics, open_files);

    let mut tasks = JoinSet::new();
    let mut handles = Vec::new();
    let mut renewal_state = None;
    let (https, http) = match &settings.tls {
        TlsMode::Off => {
            let http = serve_plain(
                &listen,
                settings.http_port,
                router,
                &mut tasks,
                &mut handles,
            )?;
            (None, http)
        }
        mode => {
            let public_host = settings
                .public_url
                .as_ref()
                .and_then(|u| u.host_str())
                .map(str::to_owned);
            let (config, renewal, source, serving_upload) = match mode {
                TlsMode::Files { cert, key } => (
                    tls::server_config(cert, key)?,
                    None,
                    Source::Files { cert: cert.clone() },
                    false,
                ),
                _ => {
                    let paths = TlsPaths::new(&settings.data_dir);
                    let names = Names::for_this_machine(
                        settings.public_url.as_ref().and_then(|u| u.host_str()),
                    );
                    let outcome = tls::ensure_generated_now(&paths, &names)?;
                    publish_ca_copy(&settings.data_dir, &paths.ca_cert);
                    tracing::info!(?outcome, ca = %paths.ca_cert.display(), "TLS certificate ready; import the CA to trust it");
                    let uploads = UploadPaths::new(&paths);
                    let (config, serving_upload) =
                        match certificates::uploaded_config(&uploads, public_host.as_deref()) {
                            Some(uploaded) => (uploaded, true),
                            None => (
                                tls::server_config(&paths.server_cert, &paths.server_key)?,
                                false,
                            ),
                        };
                    (
                        config,
                        Some(paths.clone()),
                        Source::Auto { paths, uploads },
                        serving_upload,
                    )
                }
            };
            let rustls = RustlsConfig::from_config(config);
            let managed = Arc::new(Managed::new(
                source,
                public_host.clone(),
                rustls.clone(),
                serving_upload,
            ));
            app.attach_certificates(Arc::clone(&managed) as Arc<dyn Certificates>);
            let https = serve_tls(&listen, router, rustls.clone(), &mut tasks, &mut handles)?;
            let target = RedirectTarget {
                https_port: https.port(),
                public: settings.public_url.clone(),
                shield: Shield::new(shield),
            };
            let redirect = Router::new()
                .fallback(redirect_to_https)
                .with_state(Arc::new(target));
            let http = serve_plain(
                &listen,
                settings.http_port,
                redirect,
                &mut tasks,
                &mut handles,
            )?;
            if let Some(paths) = renewal {
                let r = Renewal {
                    paths,
                    extra_host: public_host,
                    rustls,
                    certificates: managed,
                };
                app.spawn_task(Task::CertificateRenewal, renew_daily(r.clone()));
                renewal_state = Some(r);
            }
            (Some(https), http)
        }
    };
    write_listening(&settings.data_dir, https, http);
    match https {
        Some(addr) => tracing::info!(
            https = %addr, http = %http,
            "printwarden {VERSION} serving https://localhost:{}/ (plain HTTP on {} redirects there)", addr.port(), http.port()
        ),
        None => {
            tracing::info!(http = %http, "printwarden {VERSION} serving http://localhost:{}/ (tls off)", http.port())
        }
    }
    Ok(Running {
        https,
        http,
        app,
        sealing,
        handles,
        tasks,
        renewal: renewal_state,
        _lock: lock,
    })
}

impl Running {
    /// Runs the certificate renewal check now (the daily task runs the same). Returns whether
    /// a new certificate was swapped in; `Ok(false)` also when TLS material is not generated.
    pub async fn renew_certificate(&self) -> Result<bool, TlsError> {
        match &self.renewal {
            Some(r) => r.run().await,
            None => Ok(false),
        }
    }

    /// Stops accepting, lets open requests finish (bounded), stops the background tasks and
    /// closes the database.
    pub async fn shutdown(mut self) {
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
        self.app.stop_tasks().await;
        self.app.store().close().await;
    }
}

/// Takes an exclusive lock on `<data>/.lock` for the life of the process, so two servers never
/// generate certificates, keys or migrations in the same directory at once. Warns when the
/// directory is open to other users (it holds private keys and the database).
pub(crate) fn lock_data_dir(dir: &Path) -> Result<Option<std::fs::File>, StartError> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), "the data directory is accessible to other users; chmod 700 it");
    }
    let path = dir.join(".lock");
    let io = |source| StartError::DataDir {
        path: path.clone(),
        source,
    };
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(file) => file,
        // A read-only data dir (e.g. with PostgreSQL and secrets in the environment) cannot
        // hold a lock file; serve anyway, and say that nothing prevents a second server.
        Err(e) if keys::is_read_only(&e) => {
            tracing::warn!(dir = %dir.display(), "the data directory is read-only: no lock, so make sure only one server uses it");
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::DataDirInUse(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
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

/// What every listener shares: the bind address, the connection caps and timeouts.
struct Listen<'a> {
    settings: &'a Settings,
    connections: ConnectionSettings,
    /// One set of counters for all listeners: the caps are on the process's sockets.
    limits: Arc<ConnectionLimits>,
}

impl<'a> Listen<'a> {
    fn new(
        settings: &'a Settings,
        metrics: Arc<pw_http::Metrics>,
        open_files: Option<u64>,
    ) -> Self {
        let connections = settings.connections;
        let max = accept::fit_to_descriptors(connections.max, open_files);
        tracing::info!(
            max_connections = max,
            max_connections_per_address = connections.per_address,
            open_file_limit = ?open_files,
            "connection limits"
        );
        Self {
            settings,
            connections,
            limits: Arc::new(ConnectionLimits::new(
                max,
                connections.per_address,
                settings.trusted_proxies.clone(),
                metrics,
            )),
        }
    }

    /// The protocol timeouts of one listener.
    ///
    /// - The first request must be complete within `first_request` of the end of the handshake
    ///   (axum-server's timer; it also covers hyper's untimed HTTP/1-or-2 detection).
    /// - HTTP/1: hyper's header-read timer restarts whenever a keep-alive connection goes idle,
    ///   so it is the idle timeout too. It is `idle` (75 s by default), well above the idle time
    ///   client pools keep connections for reuse (urllib3/requests reuse at once, browsers and
    ///   Go close theirs after 60–90 s): a shorter one races clients that send a request just
    ///   as the server closes, which they see as a reset or an "SSL EOF". When it fires on an
    ///   idle connection the connection ends cleanly (TLS close_notify from
    ///   [`accept::CleanClose`], then FIN), so a client that looks at the connection before
    ///   reusing it (as pools do) opens a new one instead of reporting an "SSL EOF".
    /// - HTTP/2: a ping every `idle`, and a peer that does not answer within 20 s is dropped.
    ///   An idle but answering HTTP/2 connection stays open; the caps bound how many.
    fn configure<A: axum_server::Address, Acc>(
        &self,
        mut server: axum_server::Server<A, Acc>,
    ) -> axum_server::Server<A, Acc> {
        let c = self.connections;
        let builder = server.http_builder();
        builder.http1().header_read_timeout(Some(c.idle));
        builder
            .http2()
            .keep_alive_interval(Some(c.idle))
            .keep_alive_timeout(Duration::from_secs(20));
        server.first_request_timeout(Some(c.first_request))
    }
}

fn serve_tls(
    listen: &Listen<'_>,
    router: Router,
    config: RustlsConfig,
    tasks: &mut JoinSet<()>,
    handles: &mut Vec<Handle<SocketAddr>>,
) -> Result<SocketAddr, StartError> {
    let settings = listen.settings;
    let listener = bind(settings, settings.https_port)?;
    let addr = local_addr(&listener, settings)?;
    let handle = Handle::new();
    // Caps first (a refused connection costs no handshake), then TLS with its own deadline.
    let acceptor = accept::TlsAcceptor::new(
        config,
        listen.connections.tls_handshake,
        Arc::clone(&listen.limits),
    );
    let server = axum_server::from_tcp(listener)
        .map_err(|source| StartError::Bind { addr, source })?
        .acceptor(acceptor)
        .handle(handle.clone());
    let server = listen.configure(server);
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
    listen: &Listen<'_>,
    port: u16,
    router: Router,
    tasks: &mut JoinSet<()>,
    handles: &mut Vec<Handle<SocketAddr>>,
) -> Result<SocketAddr, StartError> {
    let settings = listen.settings;
    let listener = bind(settings, port)?;
    let addr = local_addr(&listener, settings)?;
    let handle = Handle::new();
    let server = axum_server::from_tcp(listener)
        .map_err(|source| StartError::Bind { addr, source })?
        .acceptor(LimitAcceptor::new(Arc::clone(&listen.limits)))
        .handle(handle.clone());
    let server = listen.configure(server);
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

/// Where the plain-HTTP port sends clients.
#[derive(Debug)]
struct RedirectTarget {
    https_port: u16,
    /// With a configured public URL, redirects go there (the port a client sees behind port
    /// mapping may differ from the one we bind).
    public: Option<url::Url>,
    /// Only its Host allow-list is used: a redirect to a foreign name would make this port an
    /// open redirector for anyone who can point a name at it.
    shield: Shield,
}

/// The plain-HTTP port's only answer: a permanent redirect to the same path on HTTPS.
async fn redirect_to_https(State(target): State<Arc<RedirectTarget>>, req: Request) -> Response {
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(public) = target.public.as_ref().filter(|u| u.scheme() == "https")
        && let Some(host) = public.host_str()
    {
        let port = public.port().map(|p| format!(":{p}")).unwrap_or_default();
        return Redirect::permanent(&format!("https://{host}{port}{path}")).into_response();
    }
    let https_port = target.https_port;
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.host().to_owned());
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "A Host header is required.").into_response();
    };
    if !target.shield.host_allowed(&host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "This server does not answer to that host name.",
        )
            .into_response();
    }
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    Redirect::permanent(&format!("https://{host}{port}{path}")).into_response()
}

async fn renew_daily(renewal: Renewal) {
    loop {
        tokio::time::sleep(tls::RENEWAL_INTERVAL).await;
        if let Err(e) = renewal.run().await {
            tracing::error!(error = %e, "certificate renewal failed; the current certificate stays");
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

/// An address a local client can connect to: a wildcard bind is reached via loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// `<data>/listening.json`: the bound addresses, for scripts and tests that use port 0.
fn write_listening(data_dir: &Path, https: Option<SocketAddr>, http: SocketAddr) {
    let mut doc = serde_json::Map::new();
    if let Some(addr) = https {
        doc.insert("https".into(), connectable(addr).to_string().into());
    }
    doc.insert("http".into(), connectable(http).to_string().into());
    let text = serde_json::Value::Object(doc).to_string();
    if let Err(e) = tls::write_file(&data_dir.join("listening.json"), text.as_bytes(), 0o644) {
        tracing::warn!(error = %e, "could not write listening.json");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_data_dir_serves_without_a_lock_and_a_held_lock_refuses() {
        // sysfs refuses file creation (EACCES for root and users alike): the read-only branch.
        assert!(lock_data_dir(Path::new("/sys")).unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let held = lock_data_dir(dir.path()).unwrap();
        assert!(held.is_some());
        assert!(matches!(
            lock_data_dir(dir.path()),
            Err(StartError::DataDirInUse(_))
        ));
        drop(held);
        assert!(
            lock_data_dir(dir.path()).unwrap().is_some(),
            "released with the file"
        );
    }

    #[test]
    fn wildcard_binds_are_reported_as_loopback() {
        assert_eq!(
            connectable("0.0.0.0:3443".parse().unwrap()),
            "127.0.0.1:3443".parse().unwrap()
        );
        assert_eq!(
            connectable("[::]:3443".parse().unwrap()),
            "[::1]:3443".parse().unwrap()
        );
        assert_eq!(
            connectable("192.168.1.5:3443".parse().unwrap()),
            "192.168.1.5:3443".parse().unwrap()
        );
    }
}
