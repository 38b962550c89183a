//! Benchmark client for `scripts/bench.sh camera`: N viewers of one simulated X1C's camera on
//! `/api/v1/printers/{id}/camera/ws` (session cookie + Origin, as the printers page opens it),
//! and beside them one RTSPS client of its own straight at the simulator (the reference: when
//! each picture left the printer, as near as a client on the same machine can tell). Prints one
//! JSON line: fragments received, and per fragment the time from the reference client having
//! the picture complete to a viewer having the fragment that carries it (pictures matched by
//! their bytes, so no clock or timestamp mapping is trusted), p50/p99/max; how many fragments
//! arrived that the reference never saw; and how often a viewer was restarted at a keyframe
//! (a gap in its decode times).
//!
//! The number includes the muxer's hold of one picture (a picture's duration is known when the
//! next one arrives): one picture interval, 200 ms at the simulator's 5 pictures per second.
//!
//! Usage: `camera_latency <https://127.0.0.1:PORT> <ca.crt> <printer id> <viewers> <seconds>
//! <printers.json> [warmup]`; the cookie pair comes in the environment as `PW_COOKIE`.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark tool, not a request path"
)]

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The hash of a picture's slice NAL units (what a fragment's sample carries: no parameter
/// sets, delimiters or filler).
fn picture_hash<'a>(nals: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h = DefaultHasher::new();
    for nal in nals {
        if nal
            .first()
            .is_some_and(|b| matches!(b & 0x1F, 7 | 8 | 9 | 12))
        {
            continue;
        }
        nal.hash(&mut h);
    }
    h.finish()
}

/// The NAL units of a media fragment's `mdat` (AVCC: 4-byte lengths).
fn fragment_nals(segment: &[u8]) -> Vec<&[u8]> {
    let Some(at) = segment.windows(4).position(|w| w == b"mdat") else {
        return Vec::new();
    };
    let mut rest = &segment[at + 4..];
    let mut out = Vec::new();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let Some(nal) = rest.get(4..4 + len) else {
            break;
        };
        out.push(nal);
        rest = &rest[4 + len..];
    }
    out
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let base = args[1].trim_end_matches('/').to_owned();
    let ca = args[2].clone();
    let printer: i64 = args[3].parse().unwrap();
    let viewers: usize = args[4].parse().unwrap();
    let seconds: u64 = args[5].parse().unwrap();
    let printers: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&args[6]).unwrap()).unwrap();
    let warmup: u64 = args.get(7).map_or(3, |w| w.parse().unwrap());
    let cookie = std::env::var("PW_COOKIE").expect("PW_COOKIE");
    let host = base.trim_start_matches("https://").to_owned();
    let sim = printers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "X1C")
        .expect("an X1C in printers.json")
        .clone();

    // The reference: pictures straight from the simulator, by content, with their arrival.
    let seen: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    {
        let seen = Arc::clone(&seen);
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(sim["ca_cert"].as_str().unwrap()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier = pw_bambu::trust::PrinterVerifier::new(
            sim["serial"].as_str().unwrap(),
            None,
            Some(Arc::new(roots)),
        );
        let code = pw_credentials::SecretString::new(sim["access_code"].as_str().unwrap().into());
        let (mut client, _) = pw_bambu::rtsp::connect(
            sim["host"].as_str().unwrap(),
            u16::try_from(sim["camera_port"].as_u64().unwrap()).unwrap(),
            sim["serial"].as_str().unwrap(),
            &code,
            &verifier,
        )
        .await
        .unwrap();
        tokio::spawn(async move {
            while let Ok(unit) = client.next_picture().await {
                let at = Instant::now();
                let hash = picture_hash(unit.nals.iter().map(Vec::as_slice));
                seen.lock().unwrap().insert(hash, at);
            }
        });
    }

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let start = Instant::now();
    let count_from = start + Duration::from_secs(warmup);
    let deadline = count_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..viewers {
        let (config, host, base, cookie, seen) = (
            Arc::clone(&config),
            host.clone(),
            base.clone(),
            cookie.clone(),
            Arc::clone(&seen),
        );
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let mut request = format!("wss://{host}/api/v1/printers/{printer}/camera/ws")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
            request
                .headers_mut()
                .insert("origin", base.parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
            let (mut latencies, mut unmatched, mut restarts, mut fragments) = (Vec::new(), 0, 0, 0);
            let mut last: Option<(u64, u32)> = None;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, socket.next()).await {
                let received = Instant::now();
                let Message::Binary(bytes) = msg else {
                    continue;
                };
                let Some((decode, _)) = pw_bambu::fmp4::media_info(&bytes) else {
                    continue;
                };
                // The sample's duration (trun: first sample), to tell a skip from a step.
                let at = pw_bambu::fmp4::FIRST_DURATION_AT;
                let duration = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
                if let Some((d, dur)) = last
                    && decode > d + u64::from(dur)
                {
                    restarts += 1;
                }
                last = Some((decode, duration));
                if received < count_from {
                    continue;
                }
                fragments += 1;
                let hash = picture_hash(fragment_nals(&bytes).into_iter());
                match seen.lock().unwrap().get(&hash) {
                    Some(at) => latencies.push(received.duration_since(*at).as_secs_f64() * 1000.0),
                    None => unmatched += 1,
                }
            }
            (latencies, unmatched, restarts, fragments)
        }));
    }
    let (mut all, mut unmatched, mut restarts, mut fragments) = (Vec::new(), 0, 0, 0);
    for t in tasks {
        let (l, u, r, f) = t.await.unwrap();
        all.extend(l);
        unmatched += u;
        restarts += r;
        fragments += f;
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if all.is_empty() {
            return -1.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        (all[i] * 10.0).round() / 10.0
    };
    println!(
        "{}",
        serde_json::json!({
            "viewers": viewers,
            "fragments": fragments,
            "matched": all.len(),
            "unmatched": unmatched,
            "restarts_at_keyframe": restarts,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": all.last().map_or(-1.0, |m| (m * 10.0).round() / 10.0),
        })
    );
}
