//! An RTSP 1.0 client for the printers' RTSPS cameras (X1, H2, P2S) over any byte stream the
//! caller opened (in the product: TLS with the pinned-certificate verifier, see [`crate::trust`]):
//! `DESCRIBE` (answering a Digest or Basic challenge with `bblp` and the access code),
//! `SETUP` of the H.264 track with RTP over the RTSP connection, `PLAY`, then pictures through
//! [`crate::rtp::Depacketizer`] and a `GET_PARAMETER` keep-alive inside the session timeout.
//!
//! Invariants: the printer's bytes are untrusted — response heads are capped at
//! [`MAX_HEAD`], bodies at [`MAX_BODY`], nothing panics on them; the access code is only ever
//! sent in answer to a challenge (never in the URL or a log), and a second refusal ends the
//! attempt instead of retrying.

use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use pw_credentials::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::rtp::{AccessUnit, Depacketizer};

/// Most bytes of a response's status line and headers.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest response body (the SDP).
pub const MAX_BODY: usize = 64 * 1024;
/// How long one request may wait for its answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// The user printers take.
const USER: &str = "bblp";

/// What went wrong; the messages are for a farm operator.
#[derive(Debug, thiserror::Error)]
pub enum RtspError {
    /// The printer refused the access code.
    #[error("the printer's camera refused the access code")]
    Unauthorized,
    /// The printer answered a request with an error status.
    #[error("the printer's camera answered {0}")]
    Status(u16),
    /// The printer's answer was not RTSP, too large, or lacked an H.264 track.
    #[error("the printer's camera sent something unexpected: {0}")]
    Protocol(&'static str),
    /// The printer did not answer in time.
    #[error("the printer's camera did not answer in time")]
    TimedOut,
    /// The connection failed or closed.
    #[error("the connection to the printer's camera ended")]
    Io(#[from] std::io::Error),
    /// TCP or TLS failed, or the certificate was refused (a changed certificate never gets
    /// the access code).
    #[error("{0}")]
    Connect(#[from] crate::session::SessionError),
}

/// The stream's path on every RTSPS printer.
pub const LIVE_PATH: &str = "/streaming/live/1";

/// Opens the printer's RTSPS camera: TLS to `host:port` checked by `verifier` (the pin the
/// MQTT and FTPS connections use), then DESCRIBE/SETUP/PLAY of [`LIVE_PATH`] with `bblp` and
/// the access code. The URL is built from the configured address, never taken from the
/// printer's report (threat: a report naming another host would point the connection, and the
/// access code, at it).
pub async fn connect(
    host: &str,
    port: u16,
    serial: &str,
    access_code: &SecretString,
    verifier: &std::sync::Arc<crate::trust::PrinterVerifier>,
) -> Result<
    (
        RtspClient<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        Track,
    ),
    RtspError,
> {
    let tls = crate::session::open_tls(host, port, serial, verifier).await?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    RtspClient::start(
        tls.stream,
        &format!("rtsps://{authority}{LIVE_PATH}"),
        access_code,
    )
    .await
}

/// What DESCRIBE said about the video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// RTP payload type.
    pub payload_type: u8,
    /// The URL to SETUP.
    pub control: String,
    /// Sequence and picture parameter sets from `sprop-parameter-sets` (may be empty: they
    /// then come in-band before each IDR).
    pub parameter_sets: Vec<Vec<u8>>,
    /// `profile-level-id` (hex), when given.
    pub profile_level_id: Option<String>,
}

/// A parsed response.
#[derive(Debug, Clone)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What arrived from the printer.
enum Message {
    Response(Response),
    Packet { channel: u8, data: Vec<u8> },
}

/// Parses the next message at the start of `buf`: `None` when more bytes are needed.
fn parse(buf: &[u8]) -> Result<Option<(Message, usize)>, RtspError> {
    if buf.first() == Some(&b'$') {
        let Some(h) = buf.get(..4) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let Some(data) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        return Ok(Some((
            Message::Packet {
                channel: h[1],
                data: data.to_vec(),
            },
            4 + len,
        )));
    }
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(RtspError::Protocol("response too large"))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| RtspError::Protocol("response is not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("RTSP/1.0") {
        return Err(RtspError::Protocol("not an RTSP/1.0 response"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(RtspError::Protocol("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map_or(Ok(0), |(_, v)| v.parse::<usize>())
        .map_err(|_| RtspError::Protocol("bad Content-Length"))?;
    if len > MAX_BODY {
        return Err(RtspError::Protocol("response too large"));
    }
    let Some(body) = buf.get(end + 4..end + 4 + len) else {
        return Ok(None);
    };
    Ok(Some((
        Message::Response(Response {
            status,
            headers,
            body: body.to_vec(),
        }),
        end + 4 + len,
    )))
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// `name="value"` or `name=value` parameters of a challenge.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim_matches([' ', ',']).to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(i) => (&q[..i], &q[i + 1..]),
                None => (q, ""),
            },
            None => {
                let i = after.find(',').unwrap_or(after.len());
                (after[..i].trim(), &after[i..])
            }
        };
        out.push((name, value.to_owned()));
        rest = next;
    }
    out
}

/// How to answer the printer's challenge.
#[derive(Debug, Clone)]
enum Auth {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        qop_auth: bool,
        opaque: Option<String>,
    },
}

impl Auth {
    /// The scheme we answer from a `WWW-Authenticate` header (Digest preferred).
    fn from_challenges(values: &[&str]) -> Option<Self> {
        let digest = values.iter().find_map(|v| {
            let (scheme, params) = v.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("Digest") {
                return None;
            }
            let p = challenge_params(params);
            let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
                return None;
            }
            Some(Self::Digest {
                realm: get("realm")?,
                nonce: get("nonce")?,
                qop_auth: get("qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth")),
                opaque: get("opaque"),
            })
        });
        digest.or_else(|| {
            values
                .iter()
                .any(|v| {
                    v.split(' ')
                        .next()
                        .is_some_and(|s| s.eq_ignore_ascii_case("Basic"))
                })
                .then_some(Self::Basic)
        })
    }

    fn header(&self, method: &str, uri: &str, password: &SecretString, nc: u32) -> String {
        match self {
            Self::Basic => {
                let raw = format!("{USER}:{}", password.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Self::Digest {
                realm,
                nonce,
                qop_auth,
                opaque,
            } => {
                let ha1 = md5_hex(&format!("{USER}:{realm}:{}", password.expose()));
                let ha2 = md5_hex(&format!("{method}:{uri}"));
                let mut h = format!(
                    "Digest username=\"{USER}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\""
                );
                if *qop_auth {
                    let mut c = [0u8; 8];
                    let _ = getrandom::fill(&mut c);
                    let cnonce = hex::encode(c);
                    let response = md5_hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"));
                    h.push_str(&format!(
                        ", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\", response=\"{response}\""
                    ));
                } else {
                    let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                    h.push_str(&format!(", response=\"{response}\""));
                }
                if let Some(o) = opaque {
                    h.push_str(&format!(", opaque=\"{o}\""));
                }
                h
            }
        }
    }
}

/// The H.264 track of an SDP, its control resolved against `base`.
fn video_track(sdp: &str, base: &str) -> Option<Track> {
    let mut in_video = false;
    let mut track: Option<Track> = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            if track.is_some() {
                break;
            }
            in_video = m.starts_with("video ");
            if in_video {
                let pt = m.split(' ').nth(3)?.parse().ok()?;
                track = Some(Track {
                    payload_type: pt,
                    control: base.to_owned(),
                    parameter_sets: Vec::new(),
                    profile_level_id: None,
                });
            }
            continue;
        }
        let Some(t) = track.as_mut().filter(|_| in_video) else {
            continue;
        };
        if let Some(c) = line.strip_prefix("a=control:") {
            t.control = resolve(base, c.trim());
        } else if let Some(rtpmap) = line.strip_prefix("a=rtpmap:") {
            let (pt, codec) = rtpmap.split_once(' ')?;
            if pt.parse::<u8>().ok() == Some(t.payload_type)
                && !codec.to_ascii_uppercase().starts_with("H264/")
            {
                return None;
            }
        } else if let Some(fmtp) = line.strip_prefix("a=fmtp:") {
            let params = fmtp.split_once(' ').map_or("", |(_, p)| p);
            for p in params.split(';') {
                let Some((k, v)) = p.trim().split_once('=') else {
                    continue;
                };
                if k.eq_ignore_ascii_case("sprop-parameter-sets") {
                    t.parameter_sets = v
                        .split(',')
                        .filter_map(|s| {
                            base64::engine::general_purpose::STANDARD
                                .decode(s.trim())
                                .ok()
                        })
                        .filter(|n| !n.is_empty())
                        .collect();
                } else if k.eq_ignore_ascii_case("profile-level-id") {
                    t.profile_level_id = Some(v.trim().to_owned());
                }
            }
        }
    }
    track
}

fn resolve(base: &str, control: &str) -> String {
    if control == "*" || control.is_empty() {
        return base.to_owned();
    }
    let lower = control.to_ascii_lowercase();
    if lower.starts_with("rtsp://") || lower.starts_with("rtsps://") {
        return control.to_owned();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        control.trim_start_matches('/')
    )
}

/// A playing camera session.
#[derive(Debug)]
pub struct RtspClient<S> {
    stream: S,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    cseq: u32,
    url: String,
    password: SecretString,
    auth: Option<Auth>,
    nonce_count: u32,
    session: Option<String>,
    keep_alive_every: Duration,
    last_request: Instant,
    channel: u8,
    depacketizer: Depacketizer,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RtspClient<S> {
    /// Describes, sets up and plays `url` (without credentials, e.g.
    /// `rtsps://192.168.1.20:322/streaming/live/1`) on an open stream; returns the client and
    /// the video track.
    pub async fn start(
        stream: S,
        url: &str,
        access_code: &SecretString,
    ) -> Result<(Self, Track), RtspError> {
        let mut c = Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            chunk: vec![0; 16 * 1024],
            cseq: 0,
            url: url.to_owned(),
            password: access_code.clone(),
            auth: None,
            nonce_count: 0,
            session: None,
            keep_alive_every: Duration::from_secs(30),
            last_request: Instant::now(),
            channel: 0,
            depacketizer: Depacketizer::new(None),
        };
        let describe = c
            .request("DESCRIBE", url, &[("Accept", "application/sdp")])
            .await?;
        let base = describe
            .header("Content-Base")
            .or_else(|| describe.header("Content-Location"))
            .unwrap_or(url)
            .to_owned();
        let sdp = String::from_utf8_lossy(&describe.body).into_owned();
        let track = video_track(&sdp, &base).ok_or(RtspError::Protocol("no H.264 video track"))?;
        let setup = c
            .request(
                "SETUP",
                &track.control,
                &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
            )
            .await?;
        let session = setup
            .header("Session")
            .ok_or(RtspError::Protocol("no session"))?;
        let mut parts = session.split(';');
        let id = parts.next().unwrap_or_default().trim().to_owned();
        if let Some(timeout) = parts
            .filter_map(|p| p.trim().strip_prefix("timeout="))
            .find_map(|t| t.trim().parse::<u64>().ok())
        {
            // Half the session timeout, as RFC 2326 clients do, at least every 5 s.
            c.keep_alive_every = Duration::from_secs((timeout / 2).max(5));
        }
        c.session = Some(id);
        c.channel = setup
            .header("Transport")
            .and_then(|t| {
                t.split(';')
                    .find_map(|p| p.trim().strip_prefix("interleaved="))
            })
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        c.depacketizer = Depacketizer::new(Some(track.payload_type));
        let play_url = base.clone();
        c.request("PLAY", &play_url, &[("Range", "npt=0.000-")])
            .await?;
        Ok((c, track))
    }

    async fn send(
        &mut self,
        method: &str,
        uri: &str,
        extra: &[(&str, &str)],
    ) -> Result<u32, RtspError> {
        self.cseq += 1;
        let mut head = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        head.push_str("User-Agent: printwarden\r\n");
        if let Some(auth) = &self.auth {
            self.nonce_count += 1;
            let value = auth.header(method, uri, &self.password, self.nonce_count);
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        if let Some(s) = &self.session {
            head.push_str(&format!("Session: {s}\r\n"));
        }
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.flush().await?;
        self.last_request = Instant::now();
        Ok(self.cseq)
    }

    async fn next_message(&mut self) -> Result<Message, RtspError> {
        loop {
            if let Some((message, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(message);
            }
            let n = self.stream.read(&mut self.chunk).await?;
            if n == 0 {
                return Err(RtspError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }

    /// Sends a request and waits for its answer (answering one challenge).
    async fn request(
        &mut self,
        method: &str,
        uri: &str,
        extra: &[(&str, &str)],
    ) -> Result<Response, RtspError> {
        for attempt in 0..2 {
            self.send(method, uri, extra).await?;
            let response = tokio::time::timeout(ANSWER_WITHIN, async {
                loop {
                    if let Message::Response(r) = self.next_message().await? {
                        return Ok::<_, RtspError>(r);
                    }
                }
            })
            .await
            .map_err(|_| RtspError::TimedOut)??;
            match response.status {
                200..=299 => return Ok(response),
                401 if attempt == 0 => {
                    let challenges: Vec<&str> = response
                        .headers
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
                        .map(|(_, v)| v.as_str())
                        .collect();
                    let auth = Auth::from_challenges(&challenges)
                        .ok_or(RtspError::Protocol("an unknown authentication scheme"))?;
                    // A second challenge on a request we already answered is a refusal.
                    if self.auth.is_some() && matches!(auth, Auth::Basic) {
                        return Err(RtspError::Unauthorized);
                    }
                    self.auth = Some(auth);
                    self.nonce_count = 0;
                }
                401 => return Err(RtspError::Unauthorized),
                other => return Err(RtspError::Status(other)),
            }
        }
        Err(RtspError::Unauthorized)
    }

    /// The next complete picture (the first one is an IDR); keeps the session alive.
    pub async fn next_picture(&mut self) -> Result<AccessUnit, RtspError> {
        loop {
            if self.last_request.elapsed() >= self.keep_alive_every {
                let url = self.url.clone();
                // The answer arrives between packets and is skipped below.
                self.send("GET_PARAMETER", &url, &[]).await?;
            }
            let message = tokio::time::timeout(ANSWER_WITHIN, self.next_message())
                .await
                .map_err(|_| RtspError::TimedOut)??;
            match message {
                Message::Packet { channel, data } if channel == self.channel => {
                    // A broken packet costs the pictures up to the next IDR, not the session.
                    if let Ok(Some(unit)) = self.depacketizer.push(&data) {
                        return Ok(unit);
                    }
                }
                Message::Packet { .. } => {}
                Message::Response(r) if r.status == 401 => return Err(RtspError::Unauthorized),
                Message::Response(_) => {}
            }
        }
    }

    /// Ends the session politely (TEARDOWN, not waiting for the answer).
    pub async fn stop(mut self) {
        let url = self.url.clone();
        let _ = self.send("TEARDOWN", &url, &[]).await;
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_the_h264_track_and_its_parameter_sets() {
        let sdp = "v=0\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 0\r\na=control:audio\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1;profile-level-id=42C01E;sprop-parameter-sets=Z0LAHg==,aM4=\r\n\
                   a=control:track1\r\n";
        let t = video_track(sdp, "rtsps://h:322/streaming/live/1/").unwrap();
        assert_eq!(t.payload_type, 96);
        assert_eq!(t.control, "rtsps://h:322/streaming/live/1/track1");
        assert_eq!(
            t.parameter_sets,
            vec![vec![0x67, 0x42, 0xC0, 0x1E], vec![0x68, 0xCE]]
        );
        assert_eq!(t.profile_level_id.as_deref(), Some("42C01E"));
        assert!(video_track("m=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\n", "b").is_none());
        assert_eq!(resolve("rtsp://a/b", "rtsp://c/d"), "rtsp://c/d");
        assert_eq!(resolve("rtsp://a/b", "*"), "rtsp://a/b");
    }

    #[test]
    fn answers_digest_as_rfc_2617_and_basic() {
        let code = SecretString::new("12345678".into());
        let auth = Auth::from_challenges(&[
            "Basic realm=\"x\"",
            "Digest realm=\"Streaming Server\", nonce=\"abc\"",
        ])
        .unwrap();
        let h = auth.header("DESCRIBE", "rtsps://h/streaming/live/1", &code, 1);
        let ha1 = md5_hex("bblp:Streaming Server:12345678");
        let ha2 = md5_hex("DESCRIBE:rtsps://h/streaming/live/1");
        assert!(h.contains(&format!(
            "response=\"{}\"",
            md5_hex(&format!("{ha1}:abc:{ha2}"))
        )));
        let basic = Auth::from_challenges(&["Basic realm=\"x\""]).unwrap();
        assert_eq!(
            basic.header("DESCRIBE", "u", &code, 1),
            "Basic YmJscDoxMjM0NTY3OA=="
        );
        assert!(
            Auth::from_challenges(&["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"])
                .is_none()
        );
        let qop =
            Auth::from_challenges(&["Digest realm=\"r\", nonce=\"n\", qop=\"auth,auth-int\""])
                .unwrap();
        assert!(qop.header("PLAY", "u", &code, 3).contains("nc=00000003"));
    }

    /// Reads one request head from the scripted server's side.
    async fn read_request(s: &mut tokio::io::DuplexStream) -> String {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).await.unwrap(), 1, "client closed");
            head.push(b[0]);
        }
        String::from_utf8(head).unwrap()
    }

    async fn reply(s: &mut tokio::io::DuplexStream, text: &str) {
        s.write_all(text.as_bytes()).await.unwrap();
    }

    fn rtp_packet(seq: u16, ts: u32, nal: &[u8]) -> Vec<u8> {
        let mut p = vec![b'$', 0, 0, 0, 0x80, 0x80 | 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 7]);
        p.extend_from_slice(nal);
        let len = u16::try_from(p.len() - 4).unwrap().to_be_bytes();
        p[2..4].copy_from_slice(&len);
        p
    }

    /// A scripted printer: Digest challenge, SDP, a session with a 10 s timeout, pictures; the
    /// client answers the challenge once, sets up over TCP and sends a keep-alive once half the
    /// timeout has passed (paused clock: no waiting).
    #[tokio::test(start_paused = true)]
    async fn plays_a_scripted_camera_and_keeps_the_session_alive() {
        let (client_end, mut server) = tokio::io::duplex(64 * 1024);
        let url = "rtsps://printer:322/streaming/live/1";
        let script = tokio::spawn(async move {
            let r = read_request(&mut server).await;
            assert!(r.starts_with("DESCRIBE rtsps://printer:322/streaming/live/1 RTSP/1.0"));
            assert!(
                !r.contains("Authorization"),
                "no credentials before a challenge"
            );
            reply(&mut server, "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n1\"\r\n\r\n").await;
            let r = read_request(&mut server).await;
            let ha1 = md5_hex("bblp:r:12345678");
            let ha2 = md5_hex(&format!("DESCRIBE:{url}"));
            assert!(r.contains(&md5_hex(&format!("{ha1}:n1:{ha2}"))), "{r}");
            let sdp =
                "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";
            reply(&mut server, &format!("RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: {url}/\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())).await;
            let r = read_request(&mut server).await;
            assert!(
                r.starts_with(&format!("SETUP {url}/track1 RTSP/1.0")),
                "{r}"
            );
            assert!(r.contains("Transport: RTP/AVP/TCP;unicast;interleaved=0-1"));
            reply(&mut server, "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: s1;timeout=10\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n").await;
            let r = read_request(&mut server).await;
            assert!(
                r.starts_with("PLAY ") && r.contains("Session: s1\r\n"),
                "{r}"
            );
            reply(
                &mut server,
                "RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: s1\r\n\r\n",
            )
            .await;
            server
                .write_all(&rtp_packet(1, 0, &[0x65, 1, 2]))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(6)).await;
            server
                .write_all(&rtp_packet(2, 3000, &[0x41, 3]))
                .await
                .unwrap();
            let r = read_request(&mut server).await;
            assert!(
                r.starts_with("GET_PARAMETER ") && r.contains("Session: s1\r\n"),
                "{r}"
            );
            reply(&mut server, "RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n").await;
            server
                .write_all(&rtp_packet(3, 6000, &[0x41, 4]))
                .await
                .unwrap();
            server
        });
        let code = SecretString::new("12345678".into());
        let (mut client, track) = RtspClient::start(client_end, url, &code).await.unwrap();
        assert_eq!(track.control, format!("{url}/track1"));
        assert!(client.next_picture().await.unwrap().is_keyframe());
        assert_eq!(client.next_picture().await.unwrap().timestamp, 3000);
        // Half the timeout has passed: this call sends the keep-alive, skips its answer.
        assert_eq!(client.next_picture().await.unwrap().timestamp, 6000);
        let _server = script.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_answer_is_not_retried() {
        let (client_end, mut server) = tokio::io::duplex(16 * 1024);
        let script = tokio::spawn(async move {
            for cseq in 1..=2 {
                let _ = read_request(&mut server).await;
                reply(&mut server, &format!("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n{cseq}\"\r\n\r\n")).await;
            }
            server
        });
        let code = SecretString::new("00000000".into());
        let result = RtspClient::start(client_end, "rtsps://p/streaming/live/1", &code).await;
        assert!(matches!(result, Err(RtspError::Unauthorized)), "{result:?}");
        let _server = script.await.unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = video_track(&text, "rtsp://h/x");
            let _ = Auth::from_challenges(&[&text]);
        }

        #[test]
        fn response_shaped_input_never_panics(
            status in "\\PC{0,5}",
            headers in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,40}"), 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut raw = format!("RTSP/1.0 {status} X\r\n");
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let mut bytes = raw.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = parse(&bytes);
            for (_, v) in &headers {
                let _ = Auth::from_challenges(&[v]);
                let _ = challenge_params(v);
            }
        }
    }
}
