//! Benchmark client for `scripts/bench.sh printers`: opens N dashboard sockets on
//! `/api/v1/events` (session cookie + Origin, as the printers page does), reads printer
//! updates for a while and prints one JSON line with how many arrived and the latency from the
//! server receiving a printer's report (`last_report_ms`) to the socket delivering it.
//!
//! Usage: `ws_latency <https://127.0.0.1:PORT> <ca.crt> <sockets> <seconds> [warmup]`; the
//! cookie pair (`name=value`) comes in the environment as `PW_COOKIE`. Messages of the first
//! `warmup` seconds (default 0) are read but not counted: that is when every socket is sent its
//! snapshot of the whole farm at once, a connect-time cost reported separately as
//! `snapshot_ms_max` (connect to snapshot received, slowest socket).
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark tool, not a request path"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The `last_report_ms` number of a printer message, if it has one.
fn last_report_ms(text: &str) -> Option<i64> {
    let rest = &text[text.find(r#""last_report_ms":"#)? + r#""last_report_ms":"#.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let base = args[1].trim_end_matches('/').to_owned();
    let ca = args[2].clone();
    let sockets: usize = args[3].parse().unwrap();
    let seconds: u64 = args[4].parse().unwrap();
    let warmup: u64 = args.get(5).map_or(0, |w| w.parse().unwrap());
    let cookie = std::env::var("PW_COOKIE").expect("PW_COOKIE");
    let host = base.trim_start_matches("https://").to_owned();

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

    let start = tokio::time::Instant::now();
    let count_from = start + Duration::from_secs(warmup);
    let deadline = count_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        let (config, host, base, cookie) = (
            Arc::clone(&config),
            host.clone(),
            base.clone(),
            cookie.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let mut request = format!("wss://{host}/api/v1/events")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
            request
                .headers_mut()
                .insert("origin", base.parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
            let mut latencies = Vec::new();
            let mut snapshot_ms = None;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, socket.next()).await {
                let received = now_ms();
                let Message::Text(text) = msg else { continue };
                if snapshot_ms.is_none() && text.contains(r#""type":"snapshot""#) {
                    snapshot_ms = Some(start.elapsed().as_millis());
                }
                if tokio::time::Instant::now() < count_from {
                    continue;
                }
                // A substring scan, not a JSON parse: 50 sockets at 1,000 messages/s each must
                // not make this client the bottleneck it is meant to measure.
                if text.contains(r#""type":"printer""#)
                    && let Some(at) = last_report_ms(&text)
                {
                    latencies.push(received - at);
                }
            }
            (latencies, snapshot_ms.unwrap_or(u128::MAX))
        }));
    }
    let mut all = Vec::new();
    let mut snapshot_ms_max = 0;
    for t in tasks {
        let (latencies, snapshot_ms) = t.await.unwrap();
        all.extend(latencies);
        snapshot_ms_max = snapshot_ms_max.max(snapshot_ms);
    }
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            return -1;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i]
    };
    println!(
        "{}",
        serde_json::json!({
            "messages": all.len(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": all.last().copied().unwrap_or(-1),
            "snapshot_ms_max": snapshot_ms_max,
        })
    );
}
