//! Webhook deliveries under a flood (issue 16): a receiver on 127.0.0.1 that accepts and never
//! answers while thousands of audit events (parallel API calls) and print events (a simulated
//! printer over MQTT) fire. Shows that requests and the MQTT path keep their unloaded pace
//! (relative to a baseline measured in the same test, no absolute times), that the queues stay
//! within their caps (`/metrics`), that dropped deliveries are counted and told to the admin in
//! words on the webhook, that a healthy webhook keeps receiving meanwhile, and that the hanging
//! one is delivered to again once its receiver answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pw_simulator::{Farm, Model};
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::printers::{add, online, wait_for};
use crate::webhooks::{LAN, Names, allow_lan, create_hook, ok_response, receiver};

/// A receiver that reads each request and, until `recovered`, never answers (the connection
/// stays open); afterwards it answers 200 and counts the delivery.
struct Hanging {
    port: u16,
    recovered: Arc<AtomicBool>,
    hung: Arc<AtomicUsize>,
    delivered: Arc<AtomicUsize>,
}

async fn read_request(socket: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return true;
        }
    }
}

async fn hanging_receiver() -> Hanging {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (recovered, hung, delivered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (r, h, d) = (
        Arc::clone(&recovered),
        Arc::clone(&hung),
        Arc::clone(&delivered),
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (r, h, d) = (Arc::clone(&r), Arc::clone(&h), Arc::clone(&d));
            tokio::spawn(async move {
                if !read_request(&mut socket).await {
                    return;
                }
                if r.load(Ordering::SeqCst) {
                    d.fetch_add(1, Ordering::SeqCst);
                    let _ = socket.write_all(ok_response().as_bytes()).await;
                } else {
                    h.fetch_add(1, Ordering::SeqCst);
                    // Holds the connection open without a word until the peer gives up.
                    let mut sink = [0u8; 64];
                    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    Hanging {
        port,
        recovered,
        hung,
        delivered,
    }
}

async fn server() -> TestServer {
    let names = Names(HashMap::from([(LAN, vec!["127.0.0.1".parse().unwrap()])]));
    TestServer::spawn_with(pw_testkit::Options {
        resolver: Some(Arc::new(names)),
        // The flood is thousands of requests from one address: the API limiter is not what
        // this test is about.
        env: vec![("PRINTWARDEN_RATE_LIMIT_API".into(), "0".into())],
        ..pw_testkit::Options::default()
    })
    .await
}

/// A page's text, read with `auth`'s session cookie.
async fn text(server: &TestServer, auth: &Auth, path: &str) -> String {
    let cookie = match auth {
        Auth::Cookie(c) => c.as_str(),
        Auth::None | Auth::Key(_) => "",
    };
    let r = server
        .client
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.text().await.unwrap()
}

/// The `/metrics` samples whose name starts with `printwarden_webhook_`.
async fn webhook_metrics(server: &TestServer, admin: &Auth) -> HashMap<String, u64> {
    text(server, admin, "/metrics")
        .await
        .lines()
        .filter(|l| l.starts_with("printwarden_webhook_"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or(0)))
        .collect()
}

/// One audited request (a new location): its time, asserted to succeed.
async fn audited_call(server: &TestServer, admin: &Auth, n: usize) -> Duration {
    let started = Instant::now();
    let got = server
        .call(
            admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": format!("room {n}")})),
        )
        .await;
    assert_eq!(got.status, 201, "{:?}", got.json);
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Time from a print started on the printer's own screen until the API shows it running, then
/// from its end until the API shows it finished: the MQTT path, which announces
/// `print.started`/`print.finished` to the webhooks on the way.
async fn print_cycle(
    server: &TestServer,
    admin: &Auth,
    sim: &pw_simulator::Printer,
    id: i64,
    n: usize,
) -> Duration {
    let started = Instant::now();
    sim.start_print(&format!("cycle-{n}.gcode.3mf"));
    wait_for(server, admin, id, |v| v["status"]["state"] == "RUNNING").await;
    assert!(sim.finish_job(), "the simulator had a job to finish");
    wait_for(server, admin, id, |v| v["status"]["state"] == "FINISH").await;
    started.elapsed()
}

async fn backlog_of(server: &TestServer, admin: &Auth, id: i64) -> Value {
    let list = server.call(admin, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(list.status, 200);
    let items = list.json["items"]
        .as_array()
        .or_else(|| list.json.as_array())
        .cloned()
        .unwrap_or_default();
    items
        .into_iter()
        .find(|h| h["id"] == id)
        .map(|h| h["backlog"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_hanging_receiver_under_a_flood_blocks_nothing_starves_no_one_and_recovers() {
    const FLOOD: usize = 2000;
    const SAMPLES: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let mut options = pw_simulator::Options::new(1, dir.path());
    options.models = vec![Model::P1S];
    options.interval = Duration::from_millis(100);
    let farm = Farm::start(options).await.unwrap();
    let sim = &farm.printers[0];
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let printer = add(
        &server,
        &admin,
        sim,
        json!({"ftps_port": sim.info.ftps_port}),
    )
    .await;
    wait_for(&server, &admin, printer, online).await;

    // Unloaded baselines: audited requests and print cycles, no webhook yet.
    let mut base_api = Vec::new();
    for n in 0..SAMPLES {
        base_api.push(audited_call(&server, &admin, n).await);
    }
    let mut base_mqtt = Vec::new();
    for n in 0..3 {
        base_mqtt.push(print_cycle(&server, &admin, sim, printer, n).await);
    }
    let (base_api, base_mqtt) = (median(base_api), *base_mqtt.iter().max().unwrap());

    let hang = hanging_receiver().await;
    let (healthy_port, healthy) = receiver(ok_response()).await;
    let stuck = create_hook(
        &server,
        &admin,
        json!({"name": "stuck", "url": format!("http://{LAN}:{}/in", hang.port), "events": ["*"]}),
    )
    .await;
    let fine = create_hook(
        &server,
        &admin,
        json!({"name": "fine", "url": format!("http://{LAN}:{healthy_port}/in"), "events": ["*"]}),
    )
    .await;

    // The flood: audit events from parallel requests, print events from the printer, while the
    // stuck receiver hangs. Every request must succeed; the queues are sampled meanwhile.
    let flood = futures_util::stream::iter(0..FLOOD)
        .map(|n| audited_call(&server, &admin, SAMPLES + n))
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let sampler = async {
        let mut peak = HashMap::<String, u64>::new();
        for n in 0..6 {
            let m = webhook_metrics(&server, &admin).await;
            for (k, v) in m {
                let e = peak.entry(k).or_default();
                *e = (*e).max(v);
            }
            print_cycle(&server, &admin, sim, printer, 100 + n).await;
        }
        peak
    };
    let (_, peak) = tokio::join!(flood, sampler);
    let after = webhook_metrics(&server, &admin).await;
    let cap = |k: &str| after[&format!("printwarden_webhook_queue_capacity{{stage=\"{k}\"}}")];
    assert_eq!(cap("intake"), 1024);
    for m in [&peak, &after] {
        assert!(
            m[r#"printwarden_webhook_queued{stage="intake"}"#] <= cap("intake"),
            "{m:?}"
        );
        assert!(
            m[r#"printwarden_webhook_queued{stage="lanes"}"#] <= 2 * cap("lane"),
            "two webhooks, one lane each: {m:?}"
        );
        assert!(m["printwarden_webhook_deliveries_in_flight"] <= 8, "{m:?}");
    }
    assert!(
        hang.hung.load(Ordering::SeqCst) >= 1,
        "the stuck receiver was reached"
    );
    // Two deliveries hang for one timeout; then only one probe per pause (5 s, doubling).
    let hung = hang.hung.load(Ordering::SeqCst);
    eprintln!("flood: {FLOOD} events, {hung} deliveries hung, peak {peak:?}");
    assert!(
        hung <= 10,
        "a hanging receiver is paused, not sent every event: {hung}"
    );

    // (1) Requests and the MQTT path at their unloaded pace while the stuck lane is full.
    let mut loaded_api = Vec::new();
    for n in 0..SAMPLES {
        loaded_api.push(audited_call(&server, &admin, FLOOD + 100 + n).await);
    }
    let loaded_api = median(loaded_api);
    eprintln!("requests: {base_api:?} unloaded, {loaded_api:?} with the stuck lane full");
    assert!(
        loaded_api <= base_api * 5,
        "requests slowed down: {loaded_api:?} against {base_api:?} unloaded"
    );
    let mut loaded_mqtt = Duration::ZERO;
    for n in 0..3 {
        loaded_mqtt = loaded_mqtt.max(print_cycle(&server, &admin, sim, printer, 200 + n).await);
    }
    eprintln!("print cycles: {base_mqtt:?} unloaded, {loaded_mqtt:?} with the stuck lane full");
    assert!(
        loaded_mqtt <= base_mqtt * 3,
        "printer reports slowed down: {loaded_mqtt:?} against {base_mqtt:?} unloaded"
    );

    // (3) Drops are counted in /metrics and told in words on the stuck webhook.
    let dropped = webhook_metrics(&server, &admin).await;
    let dropped_total = dropped[r#"printwarden_webhook_events_dropped_total{stage="intake"}"#]
        + dropped[r#"printwarden_webhook_events_dropped_total{stage="webhook"}"#];
    eprintln!("after: {dropped:?}");
    assert!(dropped_total >= 1000, "{dropped:?}");
    let backlog = backlog_of(&server, &admin, stuck).await;
    assert!(backlog["dropped"].as_u64().unwrap() >= 100, "{backlog}");
    let note = backlog["note"].as_str().unwrap_or_default().to_owned();
    assert!(note.contains("not delivered"), "{backlog}");
    let page = text(&server, &admin, "/webhooks").await;
    assert!(
        page.contains("not delivered"),
        "the webhooks page tells the admin"
    );

    // Per webhook: the healthy one kept receiving, and still receives while the other hangs.
    let before = healthy.lock().unwrap().len();
    assert!(
        before >= 100,
        "the healthy webhook got {before} deliveries during the flood"
    );
    audited_call(&server, &admin, FLOOD + 500).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while healthy.lock().unwrap().len() <= before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        healthy.lock().unwrap().len() > before,
        "the healthy webhook was starved"
    );

    // (4) The receiver answers again: new events reach it (the pause ends with a probe).
    hang.recovered.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut n = FLOOD + 1000;
    while hang.delivered.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        audited_call(&server, &admin, n).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        hang.delivered.load(Ordering::SeqCst) >= 1,
        "never delivered again"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let backlog = backlog_of(&server, &admin, stuck).await;
        if backlog["receiver_down"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "still paused: {backlog}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fine_backlog = backlog_of(&server, &admin, fine).await;
    assert_eq!(fine_backlog["receiver_down"], false, "{fine_backlog}");
}
