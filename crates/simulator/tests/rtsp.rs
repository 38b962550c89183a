//! The RTSPS camera of the simulated X1C over real sockets: Debian's ffprobe and ffmpeg (an
//! independent H.264 decoder and RTSP client) read it, and a wrong access code gets 401; a raw
//! TLS client checks the exchange, the H.264 it carries (SPS, PPS, IDR first, FU-A reassembled),
//! the refusals (UDP 461, oversized headers 400) and the per-printer connection limit.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail fast with the cause"
)]

use std::time::Duration;

use md5::{Digest as _, Md5};
use pw_bambu::trust::PrinterVerifier;
use pw_simulator::{Farm, Model, Options, Printer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

async fn x1c(dir: &std::path::Path) -> Farm {
    let mut options = Options::new(2, dir);
    options.models = vec![Model::X1C, Model::P1S];
    Farm::start(options).await.unwrap()
}

fn url(p: &Printer, code: &str) -> String {
    format!(
        "rtsps://bblp:{code}@{}:{}/streaming/live/1",
        p.info.host, p.info.camera_port
    )
}

/// Whether the Debian tools are here; under CI they must be (the check may not silently pass).
fn have_ffmpeg() -> bool {
    let found = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffprobe/ffmpeg are not installed (apt-get install ffmpeg); CI must run this check"
        );
        eprintln!("SKIPPED: ffprobe is not installed (apt-get install ffmpeg)");
    }
    found
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_and_ffmpeg_decode_the_x1c_camera() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];
    let good = url(printer, &printer.info.access_code);

    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,width,height",
            "-of",
            "default=noprint_wrappers=1",
            &good,
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&probe.stdout);
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert!(probe.status.success(), "ffprobe failed: {stderr}");
    assert!(stdout.contains("codec_name=h264"), "{stdout}");
    assert!(stdout.contains("width=320"), "{stdout}");
    assert!(stdout.contains("height=240"), "{stdout}");
    assert!(stdout.contains("profile=Constrained Baseline"), "{stdout}");

    let decode = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &good,
            "-frames:v",
            "10",
            "-f",
            "framemd5",
            "-",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&decode.stderr);
    assert!(decode.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "decoder complained: {stderr}");
    // One line per decoded picture (`stream, dts, pts, duration, size, md5`): ten of them, and
    // the pictures change (the moving block, the counter).
    let stdout = String::from_utf8_lossy(&decode.stdout);
    let hashes: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5))
        .map(str::trim)
        .collect();
    assert_eq!(hashes.len(), 10, "{stdout}");
    let distinct: std::collections::BTreeSet<&str> = hashes.iter().copied().collect();
    assert_eq!(distinct.len(), 10, "every picture differs: {stdout}");

    let wrong = format!("{}9", &printer.info.access_code[..7]);
    let wrong = if wrong == printer.info.access_code {
        format!("{}8", &printer.info.access_code[..7])
    } else {
        wrong
    };
    let refused = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            &url(printer, &wrong),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("401"), "expected 401: {stderr}");
}

struct Client {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    cseq: u32,
    nonce: String,
    code: String,
    base: String,
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

impl Client {
    async fn connect(p: &Printer) -> std::io::Result<Self> {
        let tcp = TcpStream::connect((p.info.host.as_str(), p.info.camera_port)).await?;
        let verifier = PrinterVerifier::new(&p.info.serial, None, None);
        let connector = tokio_rustls::TlsConnector::from(verifier.client_config().unwrap());
        let name = rustls::pki_types::ServerName::try_from(p.info.serial.clone()).unwrap();
        let tls = connector.connect(name, tcp).await?;
        Ok(Self {
            tls,
            buf: Vec::new(),
            cseq: 0,
            nonce: String::new(),
            code: p.info.access_code.clone(),
            base: format!(
                "rtsps://{}:{}/streaming/live/1",
                p.info.host, p.info.camera_port
            ),
        })
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16384];
        let n = self.tls.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Sends a request (authorized when a nonce is known) and reads the response: status,
    /// head, body.
    async fn request(&mut self, method: &str, uri: &str, extra: &str) -> (u16, String, Vec<u8>) {
        self.cseq += 1;
        let mut head = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        if !self.nonce.is_empty() {
            let ha1 = md5_hex(&format!("bblp:Streaming Server:{}", self.code));
            let ha2 = md5_hex(&format!("{method}:{uri}"));
            let r = md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce));
            head.push_str(&format!(
                "Authorization: Digest username=\"bblp\", realm=\"Streaming Server\", nonce=\"{}\", uri=\"{uri}\", response=\"{r}\"\r\n",
                self.nonce
            ));
        }
        head.push_str(extra);
        head.push_str("\r\n");
        self.tls.write_all(head.as_bytes()).await.unwrap();
        self.response().await
    }

    /// The next response, skipping interleaved packets before it.
    async fn response(&mut self) -> (u16, String, Vec<u8>) {
        loop {
            if self.buf.first() == Some(&b'$') {
                let _ = self.packet().await;
                continue;
            }
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                while self.buf.len() < end + 4 + len {
                    self.fill().await;
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                let status = head[9..12].parse().unwrap();
                if let Some(n) = head
                    .lines()
                    .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
                    .and_then(|c| c.split("nonce=\"").nth(1))
                {
                    self.nonce = n.trim_end_matches('"').to_owned();
                }
                return (status, head, body);
            }
            self.fill().await;
        }
    }

    /// The next interleaved packet: channel and RTP bytes.
    async fn packet(&mut self) -> (u8, Vec<u8>) {
        while self.buf.len() < 4 {
            self.fill().await;
        }
        assert_eq!(self.buf[0], b'$', "interleaved framing");
        let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
        while self.buf.len() < 4 + len {
            self.fill().await;
        }
        let channel = self.buf[1];
        let rtp = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        (channel, rtp)
    }

    /// Authenticates, sets up and plays; returns the session id.
    async fn play(&mut self) -> String {
        let base = self.base.clone();
        assert_eq!(self.request("DESCRIBE", &base, "").await.0, 401);
        let (status, _, sdp) = self.request("DESCRIBE", &base, "").await;
        assert_eq!(status, 200);
        let sdp = String::from_utf8(sdp).unwrap();
        assert!(sdp.contains("a=rtpmap:96 H264/90000"), "{sdp}");
        let track = format!("{base}/track1");
        let (status, head, _) = self
            .request(
                "SETUP",
                &track,
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
            )
            .await;
        assert_eq!(status, 200, "{head}");
        let session = head
            .lines()
            .find_map(|l| l.strip_prefix("Session: "))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let (status, _, _) = self
            .request("PLAY", &base, &format!("Session: {session}\r\n"))
            .await;
        assert_eq!(status, 200);
        session
    }

    /// Reads packets until one access unit is complete (marker bit): its NAL units.
    async fn access_unit(&mut self) -> (u32, Vec<Vec<u8>>) {
        let mut nals: Vec<Vec<u8>> = Vec::new();
        let mut fragment: Option<Vec<u8>> = None;
        loop {
            let (channel, rtp) = self.packet().await;
            assert_eq!(channel, 0);
            assert_eq!(rtp[0], 0x80);
            let timestamp = u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]);
            let payload = &rtp[12..];
            if payload[0] & 0x1F == 28 {
                let (ind, fu) = (payload[0], payload[1]);
                if fu & 0x80 != 0 {
                    fragment = Some(vec![(ind & 0xE0) | (fu & 0x1F)]);
                }
                let f = fragment.as_mut().unwrap();
                f.extend_from_slice(&payload[2..]);
                if fu & 0x40 != 0 {
                    nals.push(fragment.take().unwrap());
                }
            } else {
                nals.push(payload.to_vec());
            }
            if rtp[1] & 0x80 != 0 {
                assert!(fragment.is_none(), "marker inside a fragmented NAL");
                return (timestamp, nals);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_client_gets_h264_that_starts_with_an_idr_and_moves() {
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];
    let mut c = Client::connect(printer).await.unwrap();
    let (status, head, _) = c.request("OPTIONS", "*", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"));
    c.play().await;
    let (t0, first) = c.access_unit().await;
    let types: Vec<u8> = first.iter().map(|n| n[0] & 0x1F).collect();
    assert_eq!(types, vec![7, 8, 5], "SPS, PPS, IDR first");
    assert!(first[2].len() > 300 * 384, "every macroblock I_PCM");
    let (t1, second) = c.access_unit().await;
    assert_eq!(t1.wrapping_sub(t0), 90_000 / pw_simulator::rtsp::FPS);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0][0] & 0x1F, 1, "a P picture");
    assert!(
        second[0].len() > 384 && second[0].len() < 60 * 400,
        "only the macroblocks that moved: {}",
        second[0].len()
    );
    // Keep-alive while playing, answered between pictures.
    let base = c.base.clone();
    assert_eq!(c.request("GET_PARAMETER", &base, "").await.0, 200);
    let (status, _, _) = c.request("TEARDOWN", &base, "").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_udp_oversized_headers_and_too_many_connections() {
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];

    let mut c = Client::connect(printer).await.unwrap();
    let base = c.base.clone();
    assert_eq!(c.request("DESCRIBE", &base, "").await.0, 401);
    let udp = "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n";
    assert_eq!(c.request("SETUP", &base, udp).await.0, 461);

    let mut big = Client::connect(printer).await.unwrap();
    let mut flood = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: ".to_vec();
    flood.resize(9 * 1024, b'a');
    big.tls.write_all(&flood).await.unwrap();
    let (status, _, _) = big.response().await;
    assert_eq!(status, 400);
    let mut rest = Vec::new();
    let _ = big.tls.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "closed after the refusal");
    drop(big);

    // `c` holds one slot; fill the others, then one more is closed before TLS.
    let mut held = vec![c];
    while held.len() < pw_simulator::rtsp::MAX_CLIENTS {
        held.push(connect_when_free(printer).await);
    }
    assert!(Client::connect(printer).await.is_err(), "over the limit");
    held.pop();
    connect_when_free(printer).await;
}

/// A connection once a slot is free (a closed connection's slot comes back when its task sees
/// the close, a moment later).
async fn connect_when_free(printer: &Printer) -> Client {
    for _ in 0..200 {
        if let Ok(mut c) = Client::connect(printer).await {
            assert_eq!(c.request("OPTIONS", "*", "").await.0, 200);
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no connection slot came free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stops_reading_does_not_hold_up_another() {
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];
    let mut stalled = Client::connect(printer).await.unwrap();
    stalled.play().await;
    let mut reader = Client::connect(printer).await.unwrap();
    reader.play().await;
    // The stalled viewer reads nothing from here on; the other gets picture after picture,
    // each one the next (no gap in timestamps once it has started at an IDR).
    let (mut last, _) = reader.access_unit().await;
    for _ in 0..12 {
        let (t, _) = reader.access_unit().await;
        assert_eq!(t.wrapping_sub(last), 90_000 / pw_simulator::rtsp::FPS);
        last = t;
    }
    drop(stalled);
}

/// The report announces the camera where it is: on a mapped port the URL carries it (a URL
/// without a port means RTSPS's default, 322, as real printers announce).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_announces_the_rtsp_url_with_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];
    let endpoint = pw_bambu::session::Endpoint {
        host: printer.info.host.clone(),
        port: printer.info.mqtt_port,
        serial: printer.info.serial.clone(),
        access_code: pw_credentials::SecretString::new(printer.info.access_code.clone()),
    };
    let verifier = PrinterVerifier::new(&endpoint.serial, None, None);
    let mut session = pw_bambu::session::Session::connect(&endpoint, &verifier, "rtsp-test")
        .await
        .unwrap();
    let mut report = pw_bambu::report::Report::new();
    let url = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let payload = session.reader.recv().await.unwrap();
            let _ = report.apply(&payload).unwrap();
            if let Some(url) = report
                .raw()
                .get("print")
                .and_then(|p| p.get("ipcam"))
                .and_then(|i| i.get("rtsp_url"))
            {
                return url.as_str().unwrap().to_owned();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        url,
        format!(
            "rtsps://127.0.0.1:{}/streaming/live/1",
            printer.info.camera_port
        )
    );
}

async fn product_client(
    p: &Printer,
    code: &str,
) -> Result<
    (
        pw_bambu::rtsp::RtspClient<TlsStream<TcpStream>>,
        pw_bambu::rtsp::Track,
    ),
    pw_bambu::rtsp::RtspError,
> {
    let tcp = TcpStream::connect((p.info.host.as_str(), p.info.camera_port))
        .await
        .unwrap();
    let verifier = PrinterVerifier::new(&p.info.serial, None, None);
    let connector = tokio_rustls::TlsConnector::from(verifier.client_config().unwrap());
    let name = rustls::pki_types::ServerName::try_from(p.info.serial.clone()).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!(
        "rtsps://{}:{}/streaming/live/1",
        p.info.host, p.info.camera_port
    );
    pw_bambu::rtsp::RtspClient::start(tls, &url, &pw_credentials::SecretString::new(code.into()))
        .await
}

/// The product's RTSP client and depacketizer (`pw_bambu::rtsp`, `pw_bambu::rtp`) against the
/// simulator: Digest, SETUP over TCP, PLAY, whole pictures starting at an IDR whose SPS is the
/// one the SDP announced; a wrong access code ends in `Unauthorized` after one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_client_plays_the_simulated_camera() {
    let dir = tempfile::tempdir().unwrap();
    let farm = x1c(dir.path()).await;
    let printer = &farm.printers[0];
    let (mut client, track) = product_client(printer, &printer.info.access_code)
        .await
        .unwrap();
    assert_eq!(track.payload_type, 96);
    assert!(track.control.ends_with("/streaming/live/1/track1"));
    assert_eq!(track.profile_level_id.as_deref(), Some("42C01E"));
    let first = client.next_picture().await.unwrap();
    assert!(first.is_keyframe());
    assert_eq!(first.nals[0], track.parameter_sets[0], "the SPS of the SDP");
    assert_eq!(first.nals[1], track.parameter_sets[1], "the PPS of the SDP");
    let mut last = first.timestamp;
    for _ in 0..4 {
        let next = client.next_picture().await.unwrap();
        assert_eq!(
            next.timestamp.wrapping_sub(last),
            90_000 / pw_simulator::rtsp::FPS
        );
        last = next.timestamp;
    }
    client.stop().await;

    let refused = product_client(printer, "00000000").await;
    assert!(
        matches!(refused, Err(pw_bambu::rtsp::RtspError::Unauthorized)),
        "{refused:?}"
    );
}

/// X1E, H2D and P2S are simulated like the X1C's camera family: each serial starts with the
/// model's real prefix (03W, 094, 22E: what clients such as bambu-printer-manager read the
/// model from), the certificate names that serial, the report announces the RTSPS camera on the
/// printer's own port, `get_version` names the model, and the product's client plays a picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x1e_h2d_and_p2s_serve_rtsps_under_their_real_serial_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(3, dir.path());
    options.models = vec![Model::X1E, Model::H2D, Model::P2S];
    let farm = Farm::start(options).await.unwrap();
    for (printer, (model, prefix)) in farm.printers.iter().zip([
        (Model::X1E, "03W"),
        (Model::H2D, "094"),
        (Model::P2S, "22E"),
    ]) {
        assert!(printer.info.serial.starts_with(prefix), "{model}");
        assert_eq!(printer.info.model, model.token());
        let endpoint = pw_bambu::session::Endpoint {
            host: printer.info.host.clone(),
            port: printer.info.mqtt_port,
            serial: printer.info.serial.clone(),
            access_code: pw_credentials::SecretString::new(printer.info.access_code.clone()),
        };
        let verifier = PrinterVerifier::new(&endpoint.serial, None, None);
        let mut session = pw_bambu::session::Session::connect(&endpoint, &verifier, "models")
            .await
            .unwrap();
        session
            .writer
            .send(&pw_bambu::command::Command::GetVersion)
            .await
            .unwrap();
        let mut report = pw_bambu::report::Report::new();
        let (url, product) = tokio::time::timeout(Duration::from_secs(10), async {
            let (mut url, mut product) = (None, None);
            loop {
                let payload = session.reader.recv().await.unwrap();
                let _ = report.apply(&payload).unwrap();
                let raw: serde_json::Value = serde_json::from_slice(&payload).unwrap();
                if let Some(modules) = raw.pointer("/info/module").and_then(|m| m.as_array()) {
                    product = modules
                        .iter()
                        .find(|m| m["name"] == "ota")
                        .and_then(|m| m["product_name"].as_str())
                        .map(str::to_owned);
                }
                if let Some(u) = report
                    .raw()
                    .get("print")
                    .and_then(|p| p.pointer("/ipcam/rtsp_url"))
                {
                    url = u.as_str().map(str::to_owned);
                }
                if let (Some(u), Some(p)) = (&url, &product) {
                    return (u.clone(), p.clone());
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(
            url,
            format!(
                "rtsps://127.0.0.1:{}/streaming/live/1",
                printer.info.camera_port
            ),
            "{model}"
        );
        assert_eq!(Model::parse(&product), Some(model), "{product}");
        let (mut client, _) = product_client(printer, &printer.info.access_code)
            .await
            .unwrap();
        assert!(
            client.next_picture().await.unwrap().is_keyframe(),
            "{model}"
        );
        client.stop().await;
    }
}
