//! The RTSPS camera of the models whose table row says `CameraKind::Rtsps` (X1, H2, P2S; of
//! the simulated models, the X1C): RTSP 1.0 over TLS with the printer's own certificate, at `/streaming/live/1`, user
//! `bblp` and the access code by Digest authentication, H.264 from the in-tree encoder
//! ([`crate::h264`]) sent as RTP over the RTSP connection (TCP interleaved only; a UDP
//! transport is refused with 461).
//!
//! Invariants: one encoder per printer feeds every viewer through a bounded broadcast, so a
//! viewer that reads slowly loses pictures (and waits for the next IDR) instead of slowing the
//! others or growing a queue; each printer takes at most [`MAX_CLIENTS`] connections, each
//! connection at most [`request::MAX_HEADER`] bytes of headers, [`MAX_AUTH_FAILURES`] wrong
//! answers to the Digest challenge, and [`IDLE`] without a request or RTCP packet.

pub mod request;
pub mod rtp;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio::time::Instant;

use crate::Shared;
use crate::h264;
use request::{Incoming, ParseError, Request};

/// The stream's path, as on real printers.
pub const PATH: &str = "/streaming/live/1";
/// The track's control path (relative to the `Content-Base`).
const TRACK: &str = "track1";
/// Pictures per second.
pub const FPS: u32 = 5;
/// Pictures from one IDR to the next (a new or lagging viewer waits at most this long).
const GOP: u32 = 10;
/// Pictures kept for viewers that are behind; older ones are dropped for them.
const BACKLOG: usize = 8;
/// Connections per printer (threat: a client that opens connections until the printer's
/// memory or CPU runs out).
pub const MAX_CLIENTS: usize = 8;
/// Without a request (or RTCP) for this long, a connection is closed; also the session timeout
/// the `Session` header announces, so clients send keep-alives in time.
pub const IDLE: Duration = Duration::from_secs(60);
/// A TLS handshake must finish within this.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A write that makes no progress for this long ends the connection (a reader that stopped).
const WRITE_STALL: Duration = Duration::from_secs(10);
/// Wrong Digest answers tolerated on one connection (threat: guessing the access code).
pub const MAX_AUTH_FAILURES: u32 = 3;
/// The Digest realm.
const REALM: &str = "Streaming Server";
/// The only user name printers accept.
const USER: &str = "bblp";

/// One encoded picture as every viewer gets it.
#[derive(Debug)]
struct Picture {
    keyframe: bool,
    /// RTP timestamp (90 kHz).
    timestamp: u32,
    nals: Vec<Vec<u8>>,
}

/// What the printer's viewers share.
#[derive(Debug)]
struct Camera {
    /// Set when a viewer starts: the next picture is an IDR so it need not wait a GOP.
    want_idr: AtomicBool,
    /// Viewers in PLAY; no picture is encoded while there are none (shared with the printer's
    /// handle, so tests and the control socket can count them).
    playing: Arc<AtomicUsize>,
    /// Wakes the encoder when a viewer starts (a printer nobody watches costs no timer: the
    /// simulator may run a thousand of them).
    started: Notify,
}

/// Counts a viewer as playing while it lives.
struct Playing(Arc<Camera>);

impl Drop for Playing {
    fn drop(&mut self) {
        self.0.playing.fetch_sub(1, Ordering::SeqCst);
    }
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

/// Accepts camera clients and encodes pictures while any of them plays, until the printer is
/// dropped (then the broadcast closes and every viewer ends).
pub(crate) async fn serve(listener: TcpListener, printer: Arc<Shared>) {
    let (frames, _) = broadcast::channel::<Arc<Picture>>(BACKLOG);
    let camera = Arc::new(Camera {
        want_idr: AtomicBool::new(false),
        playing: Arc::clone(&printer.camera_playing),
        started: Notify::new(),
    });
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut encoder = h264::Encoder::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / FPS);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let base = random_u32();
    let mut n: u32 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                // Over the limit: closed before the handshake, so a flood costs no TLS work.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else { continue };
                let (printer, camera, rx) = (Arc::clone(&printer), Arc::clone(&camera), frames.subscribe());
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(e) = connection(tcp, &printer, &camera, rx).await {
                        tracing::debug!(serial = %printer.serial, error = %e, "rtsp connection ended");
                    }
                });
            }
            due = async {
                if camera.playing.load(Ordering::SeqCst) == 0 {
                    camera.started.notified().await;
                    tick.reset();
                    false
                } else {
                    tick.tick().await;
                    true
                }
            } => {
                if !due || camera.playing.load(Ordering::SeqCst) == 0 {
                    encoder.reset();
                    continue;
                }
                n = n.wrapping_add(1);
                if n.is_multiple_of(GOP) || camera.want_idr.swap(false, Ordering::SeqCst) {
                    encoder.reset();
                }
                let frame = encoder.encode(&h264::render(n, printer.percent()));
                let _ = frames.send(Arc::new(Picture {
                    keyframe: frame.keyframe,
                    timestamp: base.wrapping_add(n.wrapping_mul(90_000 / FPS)),
                    nals: frame.nals,
                }));
            }
        }
    }
}

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers after `CSeq`.
    pub headers: Vec<(String, String)>,
    /// Body (the SDP of DESCRIBE).
    pub body: Vec<u8>,
}

impl Response {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn to_bytes(&self, cseq: Option<u32>) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            454 => "Session Not Found",
            455 => "Method Not Valid in This State",
            461 => "Unsupported Transport",
            505 => "RTSP Version Not Supported",
            _ => "Not Implemented",
        };
        let mut s = format!("RTSP/1.0 {} {reason}\r\n", self.status);
        if let Some(c) = cseq {
            s.push_str(&format!("CSeq: {c}\r\n"));
        }
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// What the connection does after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep reading requests.
    Continue,
    /// Start (or keep) sending pictures.
    Play,
    /// Close the connection.
    Close,
}

/// One connection's RTSP state: the Digest nonce, the session once set up.
#[derive(Debug)]
pub struct Session {
    access_code: pw_credentials::SecretString,
    nonce: String,
    failures: u32,
    id: Option<String>,
    /// The interleaved channel pair the client asked for.
    pub channel: u8,
    /// This stream's SSRC.
    pub ssrc: u32,
    /// The first RTP sequence number.
    pub first_seq: u16,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

impl Session {
    /// A new connection's state.
    #[must_use]
    pub fn new(access_code: pw_credentials::SecretString) -> Self {
        Self {
            access_code,
            nonce: random_hex(16),
            failures: 0,
            id: None,
            channel: 0,
            ssrc: random_u32(),
            first_seq: u16::try_from(random_u32() & 0x7FFF).unwrap_or(0),
        }
    }

    /// Whether the request carries a right Digest answer (RFC 2617 without `qop`, as RTSP
    /// servers send it: `MD5(MD5(user:realm:code):nonce:MD5(method:uri))`).
    fn authorized(&self, req: &Request) -> bool {
        let Some(params) = req.header("Authorization").and_then(request::digest_params) else {
            return false;
        };
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(answer)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return false;
        };
        if user != USER || realm != REALM || nonce != self.nonce {
            return false;
        }
        let ha1 = md5_hex(&format!("{USER}:{REALM}:{}", self.access_code.expose()));
        let ha2 = md5_hex(&format!("{}:{uri}", req.method));
        let expected = md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce));
        bool::from(
            expected
                .as_bytes()
                .ct_eq(answer.to_ascii_lowercase().as_bytes()),
        )
    }

    fn session_matches(&self, req: &Request) -> bool {
        match (&self.id, req.header("Session")) {
            (Some(id), Some(sent)) => sent.split(';').next().map(str::trim) == Some(id.as_str()),
            _ => false,
        }
    }

    fn with_session(&self, r: Response) -> Response {
        match &self.id {
            Some(id) => r.with("Session", format!("{id};timeout={}", IDLE.as_secs())),
            None => r,
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, req: &Request) -> (Response, Action) {
        const METHODS: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER";
        let Some(path) = req.path() else {
            return (Response::new(400), Action::Continue);
        };
        let path = path.trim_end_matches('/');
        match req.method.as_str() {
            "OPTIONS" => return (Response::new(200).with("Public", METHODS), Action::Continue),
            "DESCRIBE" | "SETUP" | "PLAY" | "TEARDOWN" | "GET_PARAMETER" => {}
            _ => return (Response::new(501).with("Public", METHODS), Action::Continue),
        }
        if !self.authorized(req) {
            // A missing Authorization is the normal first try; a wrong one counts.
            if req.header("Authorization").is_some() {
                self.failures += 1;
            }
            let action = if self.failures >= MAX_AUTH_FAILURES {
                Action::Close
            } else {
                Action::Continue
            };
            let challenge = format!("Digest realm=\"{REALM}\", nonce=\"{}\"", self.nonce);
            return (
                Response::new(401).with("WWW-Authenticate", challenge),
                action,
            );
        }
        let track = format!("{PATH}/{TRACK}");
        let keep_alive = req.method == "GET_PARAMETER" && path == "*";
        if !(path == PATH || path == track || keep_alive) {
            return (Response::new(404), Action::Continue);
        }
        match req.method.as_str() {
            "DESCRIBE" => {
                let base = if req.uri.ends_with('/') {
                    req.uri.clone()
                } else {
                    format!("{}/", req.uri)
                };
                let mut r = Response::new(200)
                    .with("Content-Base", base)
                    .with("Content-Type", "application/sdp");
                r.body = sdp().into_bytes();
                (r, Action::Continue)
            }
            "SETUP" => self.setup(req),
            "PLAY" => {
                if self.id.is_none() {
                    return (Response::new(455), Action::Continue);
                }
                if !self.session_matches(req) {
                    return (Response::new(454), Action::Continue);
                }
                let r = self.with_session(Response::new(200).with("Range", "npt=0.000-").with(
                    "RTP-Info",
                    format!("url={};seq={}", req.uri, self.first_seq),
                ));
                (r, Action::Play)
            }
            "TEARDOWN" => (self.with_session(Response::new(200)), Action::Close),
            _ => {
                // GET_PARAMETER: the keep-alive.
                if req.header("Session").is_some() && !self.session_matches(req) {
                    return (Response::new(454), Action::Continue);
                }
                (self.with_session(Response::new(200)), Action::Continue)
            }
        }
    }

    fn setup(&mut self, req: &Request) -> (Response, Action) {
        let transport = req.header("Transport").unwrap_or_default();
        // The first transport the client offers that we serve: RTP over the RTSP connection.
        let tcp = transport.split(',').find(|t| {
            t.split(';')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("RTP/AVP/TCP"))
        });
        let Some(tcp) = tcp else {
            return (Response::new(461), Action::Continue);
        };
        let channel = tcp
            .split(';')
            .find_map(|p| p.trim().strip_prefix("interleaved="))
            .and_then(|v| v.split('-').next())
            .and_then(|c| c.trim().parse::<u8>().ok())
            .unwrap_or(0);
        if channel == u8::MAX {
            return (Response::new(461), Action::Continue);
        }
        if self.id.is_some() && !self.session_matches(req) {
            return (Response::new(454), Action::Continue);
        }
        self.channel = channel;
        self.id.get_or_insert_with(|| random_hex(8));
        let r = self.with_session(Response::new(200).with(
            "Transport",
            format!(
                "RTP/AVP/TCP;unicast;interleaved={}-{};ssrc={:08X}",
                channel,
                channel + 1,
                self.ssrc
            ),
        ));
        (r, Action::Continue)
    }
}

/// The session description DESCRIBE returns: one H.264 track with its parameter sets.
#[must_use]
pub fn sdp() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let [p, c, l] = h264::PROFILE_LEVEL_ID;
    format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=Printer camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         a=control:*\r\na=range:npt=0-\r\nm=video 0 RTP/AVP {pt}\r\na=rtpmap:{pt} H264/90000\r\n\
         a=fmtp:{pt} packetization-mode=1;profile-level-id={p:02X}{c:02X}{l:02X};\
         sprop-parameter-sets={sps},{pps}\r\na=framerate:{FPS}\r\n\
         a=framesize:{pt} {w}-{h}\r\na=control:{TRACK}\r\n",
        pt = rtp::PAYLOAD_TYPE,
        sps = b64.encode(h264::Encoder::sps()),
        pps = b64.encode(h264::Encoder::pps()),
        w = h264::WIDTH,
        h = h264::HEIGHT,
    )
}

async fn write_with_deadline<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_STALL, async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Serves one client until it leaves, idles, or stalls.
async fn connection(
    tcp: TcpStream,
    printer: &Shared,
    camera: &Arc<Camera>,
    rx: broadcast::Receiver<Arc<Picture>>,
) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let acceptor = tokio_rustls::TlsAcceptor::from(printer.tls());
    let mut tls = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let mut session = Session::new(printer.access_code.clone());
    let mut idle_rx = Some(rx);
    let mut pictures: Option<(broadcast::Receiver<Arc<Picture>>, Playing)> = None;
    let mut packetizer = rtp::Packetizer {
        ssrc: session.ssrc,
        seq: session.first_seq,
        channel: 0,
    };
    let mut need_keyframe = true;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut skip = 0usize;
    let mut deadline = Instant::now() + IDLE;
    let mut out = Vec::new();
    loop {
        // Answer every complete request in the buffer.
        loop {
            if skip > 0 {
                let n = skip.min(buf.len());
                buf.drain(..n);
                skip -= n;
                if skip > 0 {
                    break;
                }
            }
            let (incoming, used) = match request::parse(&buf) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    let status = if e == ParseError::Version { 505 } else { 400 };
                    let _ =
                        write_with_deadline(&mut tls, &Response::new(status).to_bytes(None)).await;
                    return Ok(());
                }
            };
            buf.drain(..used);
            deadline = Instant::now() + IDLE;
            let req = match incoming {
                // RTCP receiver reports from the client: they keep the session alive.
                Incoming::Interleaved { len, .. } => {
                    skip = len;
                    continue;
                }
                Incoming::Request(req) => req,
            };
            let (response, action) = session.handle(&req);
            write_with_deadline(&mut tls, &response.to_bytes(req.cseq())).await?;
            match action {
                Action::Continue => {}
                Action::Close => {
                    let _ = tls.shutdown().await;
                    return Ok(());
                }
                Action::Play => {
                    if let Some(rx) = idle_rx.take() {
                        packetizer.channel = session.channel;
                        camera.playing.fetch_add(1, Ordering::SeqCst);
                        printer.camera_plays.fetch_add(1, Ordering::SeqCst);
                        let playing = Playing(Arc::clone(camera));
                        camera.want_idr.store(true, Ordering::SeqCst);
                        camera.started.notify_one();
                        pictures = Some((rx.resubscribe(), playing));
                    }
                }
            }
        }
        tokio::select! {
            read = tokio::time::timeout_at(deadline, tls.read(&mut chunk)) => {
                let n = read.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            picture = async {
                match pictures.as_mut() {
                    Some((rx, _)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match picture {
                    Ok(picture) => {
                        if need_keyframe && !picture.keyframe {
                            continue;
                        }
                        need_keyframe = false;
                        out.clear();
                        packetizer.access_unit(&mut out, picture.timestamp, &picture.nals);
                        write_with_deadline(&mut tls, &out).await?;
                    }
                    // Behind by more than the backlog: the pictures it missed are gone, and
                    // P pictures need them, so it resumes at the next IDR.
                    Err(broadcast::error::RecvError::Lagged(_)) => need_keyframe = true,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn digest(s: &Session, method: &str, uri: &str, code: &str) -> String {
        let ha1 = md5_hex(&format!("bblp:{REALM}:{code}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let r = md5_hex(&format!("{ha1}:{}:{ha2}", s.nonce));
        format!(
            "Digest username=\"bblp\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{uri}\", response=\"{r}\"",
            s.nonce
        )
    }

    const URL: &str = "rtsps://127.0.0.1:322/streaming/live/1";

    #[test]
    fn the_whole_exchange_with_digest_authentication() {
        let mut s = Session::new(pw_credentials::SecretString::new("12345678".into()));
        let (r, _) = s.handle(&req("OPTIONS", URL, &[]));
        assert_eq!(r.status, 200, "OPTIONS needs no credentials");
        let (r, a) = s.handle(&req("DESCRIBE", URL, &[]));
        assert_eq!((r.status, a), (401, Action::Continue));
        let challenge = &r.headers[0].1;
        assert!(challenge.starts_with("Digest realm=") && challenge.contains(&s.nonce));
        let auth = digest(&s, "DESCRIBE", URL, "12345678");
        let (r, _) = s.handle(&req("DESCRIBE", URL, &[("Authorization", &auth)]));
        assert_eq!(r.status, 200);
        let body = String::from_utf8(r.body).unwrap_or_default();
        assert!(
            body.contains("packetization-mode=1;profile-level-id=42C01E;sprop-parameter-sets=Z")
        );
        let track = format!("{URL}/track1");
        let auth = digest(&s, "SETUP", &track, "12345678");
        let udp = [
            ("Authorization", auth.as_str()),
            ("Transport", "RTP/AVP;unicast;client_port=5000-5001"),
        ];
        assert_eq!(
            s.handle(&req("SETUP", &track, &udp)).0.status,
            461,
            "UDP refused"
        );
        let (r, _) = s.handle(&req(
            "SETUP",
            &track,
            &[
                ("Authorization", &auth),
                ("Transport", "RTP/AVP/TCP;unicast;interleaved=2-3"),
            ],
        ));
        assert_eq!(r.status, 200);
        assert_eq!(s.channel, 2);
        let session = r
            .headers
            .iter()
            .find(|(n, _)| n == "Session")
            .map(|(_, v)| v.clone());
        let session = session.unwrap_or_default();
        assert!(session.ends_with(";timeout=60"));
        let id = session.split(';').next().unwrap_or_default().to_owned();
        let auth = digest(&s, "PLAY", URL, "12345678");
        let (r, _) = s.handle(&req(
            "PLAY",
            URL,
            &[("Authorization", &auth), ("Session", "other")],
        ));
        assert_eq!(r.status, 454);
        let (r, a) = s.handle(&req(
            "PLAY",
            URL,
            &[("Authorization", &auth), ("Session", &id)],
        ));
        assert_eq!((r.status, a), (200, Action::Play));
        let auth = digest(&s, "GET_PARAMETER", URL, "12345678");
        let (r, _) = s.handle(&req(
            "GET_PARAMETER",
            URL,
            &[("Authorization", &auth), ("Session", &id)],
        ));
        assert_eq!(r.status, 200);
        let auth = digest(&s, "TEARDOWN", URL, "12345678");
        let (r, a) = s.handle(&req(
            "TEARDOWN",
            URL,
            &[("Authorization", &auth), ("Session", &id)],
        ));
        assert_eq!((r.status, a), (200, Action::Close));
    }

    #[test]
    fn wrong_codes_are_refused_and_the_connection_closes_after_three() {
        let mut s = Session::new(pw_credentials::SecretString::new("12345678".into()));
        for attempt in 1..=MAX_AUTH_FAILURES {
            let auth = digest(&s, "DESCRIBE", URL, "87654321");
            let (r, a) = s.handle(&req("DESCRIBE", URL, &[("Authorization", &auth)]));
            assert_eq!(r.status, 401);
            assert_eq!(a == Action::Close, attempt == MAX_AUTH_FAILURES);
        }
        // Other user, other nonce, other scheme: refused too.
        let mut s = Session::new(pw_credentials::SecretString::new("12345678".into()));
        let good = digest(&s, "DESCRIBE", URL, "12345678");
        for bad in [
            good.replace("username=\"bblp\"", "username=\"root\""),
            good.replace(&s.nonce.clone(), "00"),
            "Basic YmJscDoxMjM0NTY3OA==".to_owned(),
        ] {
            assert_eq!(
                s.handle(&req("DESCRIBE", URL, &[("Authorization", &bad)]))
                    .0
                    .status,
                401
            );
        }
        let (r, _) = s.handle(&req("DESCRIBE", URL, &[("Authorization", &good)]));
        assert_eq!(r.status, 200);
    }

    #[test]
    fn other_paths_and_methods() {
        let mut s = Session::new(pw_credentials::SecretString::new("1".into()));
        let other = "rtsps://h/streaming/live/2";
        let auth = digest(&s, "DESCRIBE", other, "1");
        assert_eq!(
            s.handle(&req("DESCRIBE", other, &[("Authorization", &auth)]))
                .0
                .status,
            404
        );
        assert_eq!(s.handle(&req("RECORD", URL, &[])).0.status, 501);
        assert_eq!(s.handle(&req("DESCRIBE", "nonsense", &[])).0.status, 400);
        let auth = digest(&s, "PLAY", URL, "1");
        assert_eq!(
            s.handle(&req("PLAY", URL, &[("Authorization", &auth)]))
                .0
                .status,
            455
        );
    }

    #[test]
    fn responses_echo_cseq_and_length() {
        let mut r = Response::new(200).with("Public", "OPTIONS");
        r.body = b"v=0".to_vec();
        let text = String::from_utf8(r.to_bytes(Some(7))).unwrap_or_default();
        assert_eq!(
            text,
            "RTSP/1.0 200 OK\r\nCSeq: 7\r\nPublic: OPTIONS\r\nContent-Length: 3\r\n\r\nv=0"
        );
    }
}
