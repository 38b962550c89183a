//! The acceptor's limits: how many connections the listeners hold in all and per client address,
//! and how long a connection may take for its TLS handshake, its first request and between
//! requests. Also raises the open-file limit at start so the caps, not the OS, decide.
//!
//! Threat: connection exhaustion. Before these limits a client that finished TLS and never sent
//! its headers held a socket forever; a few hundred such sockets locked every new client out.
//! Invariants: every accepted connection holds one [`Slot`] for as long as its socket is open
//! (upgraded WebSockets included); a connection over a cap is closed at once (never queued),
//! counted in `/metrics` and logged (at most one line per [`LOG_EVERY`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::accept::Accept;
use pw_domain::net::Cidr;
use pw_http::Metrics;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// File descriptors kept free for everything that is not a client connection: the database
/// pool, printer connections (MQTT, FTPS, camera: three per printer), files and logs.
const RESERVED_DESCRIPTORS: u64 = 1024;

/// How often a refused connection may produce a log line (the rest are counted in it).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits as configured (see `docs/OPERATIONS.md`, "Connection limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Most open client connections, all listeners together.
    pub max: usize,
    /// Most open connections from one client address (IPv6: one /64).
    pub per_address: usize,
    /// Time for the TLS handshake.
    pub tls_handshake: Duration,
    /// Time from the end of the handshake until the first request's headers are complete.
    pub first_request: Duration,
    /// An idle HTTP/1 keep-alive connection is closed after this long; also the time a later
    /// request's headers may take. HTTP/2 pings an idle peer this often.
    pub idle: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max: 4096,
            per_address: 256,
            tls_handshake: Duration::from_secs(10),
            first_request: Duration::from_secs(10),
            idle: Duration::from_secs(75),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force
/// (`None` if unknown or unlimited). Many systems start services with a soft limit of 1024,
/// which would refuse connections (EMFILE) long before the configured caps.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.maximum != limit.current {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            Err(e) => {
                tracing::warn!(error = %e, soft = ?limit.current, "could not raise the open-file limit")
            }
        }
    }
    limit.current
}

/// The global cap that fits under the open-file limit, with a warning when it had to shrink.
#[must_use]
pub fn fit_to_descriptors(max: usize, soft_limit: Option<u64>) -> usize {
    let Some(soft) = soft_limit else { return max };
    let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS))
        .unwrap_or(usize::MAX)
        .max(64);
    if max > room {
        tracing::warn!(
            configured = max,
            open_file_limit = soft,
            using = room,
            "max_connections is above what the open-file limit allows; raise the limit (LimitNOFILE= in systemd) to use it"
        );
        room
    } else {
        max
    }
}

/// The key connections are counted under: an IPv4 address, or an IPv6 /64 (one host usually
/// holds a whole /64, so counting single addresses would not limit it at all).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                for b in &mut octets[8..] {
                    *b = 0;
                }
                IpAddr::V6(octets.into())
            }
        },
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Total,
    PerAddress,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Refusals not yet logged, and when the last line was written.
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// The open connections of every listener.
#[derive(Debug)]
pub struct ConnectionLimits {
    max: usize,
    per_address: usize,
    /// Trusted reverse proxies: every client behind them shares their address, so they count
    /// only against the global cap.
    exempt: Vec<Cidr>,
    counts: Mutex<Counts>,
    metrics: Arc<Metrics>,
}

impl ConnectionLimits {
    /// Limits with these caps; `exempt` peers (trusted proxies) skip the per-address cap.
    #[must_use]
    pub fn new(max: usize, per_address: usize, exempt: Vec<Cidr>, metrics: Arc<Metrics>) -> Self {
        Self {
            max,
            per_address,
            exempt,
            counts: Mutex::default(),
            metrics,
        }
    }

    /// Takes a slot for a connection from `peer`, or says why not.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let key = address_key(peer);
        let exempt = self.exempt.iter().any(|c| c.contains(peer));
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.by_address.get(&key).copied().unwrap_or(0);
        let refusal = if counts.total >= self.max {
            Some(Refusal::Total)
        } else if !exempt && mine >= self.per_address {
            Some(Refusal::PerAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.metrics
                .connection_refused(refusal == Refusal::PerAddress);
            counts.unlogged += 1;
            let due = counts.logged_at.is_none_or(|at| at.elapsed() >= LOG_EVERY);
            if due {
                let refused = std::mem::take(&mut counts.unlogged);
                counts.logged_at = Some(Instant::now());
                let (total, from_peer) = (counts.total, mine);
                drop(counts);
                match refusal {
                    Refusal::Total => tracing::warn!(
                        client = %peer, open = total, max = self.max, refused,
                        "connection refused: the server holds max_connections"
                    ),
                    Refusal::PerAddress => tracing::warn!(
                        client = %peer, open = from_peer, max = self.per_address, refused,
                        "connection refused: this address holds max_connections_per_address"
                    ),
                }
            }
            return Err(refusal);
        }
        counts.total += 1;
        counts.by_address.insert(key, mine + 1);
        drop(counts);
        self.metrics.connection_opened();
        Ok(Slot {
            limits: Arc::clone(self),
            key,
        })
    }

    fn release(&self, key: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_address.remove(&key);
            }
        }
        drop(counts);
        self.metrics.connection_closed();
    }
}

/// One open connection's place under the caps; freed when the connection's socket is dropped.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// A TCP stream that holds its [`Slot`].
#[derive(Debug)]
pub struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The first acceptor of every listener: admits a connection under the caps or closes it.
#[derive(Debug, Clone)]
pub struct LimitAcceptor {
    limits: Arc<ConnectionLimits>,
}

impl LimitAcceptor {
    /// An acceptor over shared limits (one for all listeners).
    #[must_use]
    pub fn new(limits: Arc<ConnectionLimits>) -> Self {
        Self { limits }
    }
}

impl<S> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .and_then(|peer: SocketAddr| {
                self.limits.admit(peer.ip()).map_err(|refusal| {
                    io::Error::other(match refusal {
                        Refusal::Total => "over max_connections",
                        Refusal::PerAddress => "over max_connections_per_address",
                    })
                })
            })
            .map(|slot| {
                // Small writes (WebSocket frames, short answers) should not wait for Nagle.
                let _ = stream.set_nodelay(true);
                (
                    Counted {
                        stream,
                        _slot: slot,
                    },
                    service,
                )
            });
        // An error drops the stream here: the refused connection is closed at once.
        std::future::ready(admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per: usize, exempt: &[&str]) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits::new(
            max,
            per,
            exempt.iter().map(|c| c.parse().unwrap()).collect(),
            Arc::new(Metrics::default()),
        ))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let l = limits(3, 2, &[]);
        let a1 = l.admit(ip("10.0.0.1")).unwrap();
        let _a2 = l.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(l.admit(ip("10.0.0.1")).unwrap_err(), Refusal::PerAddress);
        let _b = l.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(l.admit(ip("10.0.0.3")).unwrap_err(), Refusal::Total);
        drop(a1);
        assert!(l.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let l = limits(100, 1, &[]);
        let _a = l.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(l.admit(ip("2001:db8:1:2:ffff::9")).is_err(), "same /64");
        assert!(l.admit(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        let _v4 = l.admit(ip("192.0.2.7")).unwrap();
        assert!(l.admit(ip("::ffff:192.0.2.7")).is_err());
    }

    #[test]
    fn trusted_proxies_skip_the_per_address_cap_only() {
        let l = limits(3, 1, &["10.9.0.0/16"]);
        let _held: Vec<Slot> = (0..3).map(|_| l.admit(ip("10.9.0.1")).unwrap()).collect();
        assert_eq!(l.admit(ip("10.9.0.1")).unwrap_err(), Refusal::Total);
    }

    #[test]
    fn the_global_cap_fits_under_the_open_file_limit() {
        assert_eq!(fit_to_descriptors(4096, None), 4096);
        assert_eq!(fit_to_descriptors(4096, Some(1_048_576)), 4096);
        assert_eq!(fit_to_descriptors(4096, Some(2048)), 1024);
        assert_eq!(fit_to_descriptors(4096, Some(1024)), 64);
    }
}

/// The TLS stream of an admitted connection, closed with a TLS `close_notify` when dropped
/// between requests.
///
/// Why: hyper ends an idle HTTP/1 keep-alive connection (its header-read timer) by dropping
/// it, which over TLS looks like a truncation to the client ("SSL EOF", "peer closed
/// connection without sending close_notify") rather than an orderly close, and client pools
/// report that as a failed request instead of quietly opening a new connection. With the
/// alert sent, a client sees a clean end of stream. It is sent only when no request bytes
/// arrived since the last answer bytes went out: a connection cut in the middle of a request
/// (a slow or malformed one) ends without it.
pub struct CleanClose {
    tls: tokio_rustls::server::TlsStream<Counted>,
    /// Request bytes were read since the last write: the connection is mid-request.
    mid_request: bool,
}

impl std::fmt::Debug for CleanClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanClose")
            .field("mid_request", &self.mid_request)
            .finish_non_exhaustive()
    }
}

/// Writes TLS records to the socket without waiting (best effort, from `Drop`).
struct TryWriter<'a>(&'a TcpStream);

impl io::Write for TryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for CleanClose {
    fn drop(&mut self) {
        if self.mid_request {
            return;
        }
        let (io, conn) = self.tls.get_mut();
        conn.send_close_notify();
        let mut writer = TryWriter(&io.stream);
        // A few dozen bytes into an idle socket's send buffer; on WouldBlock the peer simply
        // sees the FIN alone, as before.
        while conn.wants_write() {
            match conn.write_tls(&mut writer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

impl AsyncRead for CleanClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tls).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.mid_request = true;
        }
        polled
    }
}

impl AsyncWrite for CleanClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tls).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.mid_request = false;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tls).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.mid_request = false;
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}

/// The HTTPS listener's acceptor: caps ([`LimitAcceptor`]), then the TLS handshake with its
/// deadline, then [`CleanClose`].
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    inner: axum_server::tls_rustls::RustlsAcceptor<LimitAcceptor>,
}

impl TlsAcceptor {
    /// Over `config` with a handshake deadline.
    #[must_use]
    pub fn new(
        config: axum_server::tls_rustls::RustlsConfig,
        handshake: Duration,
        limits: Arc<ConnectionLimits>,
    ) -> Self {
        Self {
            inner: axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(handshake)
                .acceptor(LimitAcceptor::new(limits)),
        }
    }
}

type TlsService<S> = axum_server::tls::TlsService<S>;

impl<S: Send + 'static> Accept<TcpStream, S> for TlsAcceptor {
    type Stream = CleanClose;
    type Service = TlsService<S>;
    type Future =
        Pin<Box<dyn std::future::Future<Output = io::Result<(CleanClose, TlsService<S>)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let handshake = self.inner.accept(stream, service);
        Box::pin(async move {
            let (tls, service) = handshake.await?;
            Ok((
                CleanClose {
                    tls,
                    mid_request: false,
                },
                service,
            ))
        })
    }
}
