//! Bench for the fan-in path (issue 21): what the server does for each printer report, counted
//! per report, without sockets or a clock in the way, so instruction counts (callgrind) and
//! allocations are repeatable on a loaded machine.
//!
//! N simulated X1C printers (`pw_simulator::Machine`, full reports as the firmware sends them
//! every second) are put into the fleet without MQTT sessions ([`App::bench_unconnected_printer`]);
//! each report goes through the supervisor's own path (`BenchPrinter::feed`: parse, merge,
//! typed status, live state, one event on the fleet's bus), then each of S dashboard
//! subscribers takes the event off the bus and asks for its message
//! (`App::printer_event_message`, as the events socket does, including the UTF-8 check its
//! `Utf8Bytes` conversion makes). The WebSocket framing, TLS and the write are per socket and
//! not here. The archive watcher and the other followers of the bus run as in the server.
//!
//! Usage: `fanin_bench [PRINTERS=1000] [SOCKETS=50] [ROUNDS=5]`. Prints one line:
//! `RESULT printers=… sockets=… reports=… us_per_report=… sent_bytes_per_report=…` (wall time:
//! noisy on a shared machine). Instructions and allocations per report: run it under
//! `valgrind --tool=callgrind` (or `--tool=dhat`) with two ROUNDS values and divide the
//! difference by (difference of ROUNDS × PRINTERS) — `scripts/fanin_counts.sh` does that; the
//! frames are made before measuring, the same number whatever ROUNDS is.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark tool, not a request path"
)]

use std::time::Instant;

use pw_app::{Actor, App, AppConfig};
use pw_bambu::report::Report;
use pw_simulator::{Behaviour, Machine, Model};
use pw_store::{PrinterRow, Store};
use tokio::sync::broadcast::error::TryRecvError;

/// Distinct frames made per printer before measuring (used in turn): the same number whatever
/// ROUNDS is, so two runs differ only in the measured path.
const FRAMES: usize = 3;

fn row(i: i64) -> PrinterRow {
    PrinterRow {
        id: pw_domain::PrinterId::from_db(i),
        name: format!("Bench X1C {i}"),
        serial: format!("00M00A{i:09}"),
        host: "127.0.0.1".to_owned(),
        mqtt_port: 8883,
        ftps_port: 990,
        camera_port: 322,
        model: "X1C".to_owned(),
        location_id: None,
        access_code: String::new(),
        pinned_sha256: None,
        presented_sha256: None,
        created_by: None,
        created_at: 0,
        updated_at: 0,
        location_waives_plate_clear: false,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let printers = args.first().copied().unwrap_or(1000);
    let sockets = args.get(1).copied().unwrap_or(50);
    let rounds = args.get(2).copied().unwrap_or(5);

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let app = App::start(store, AppConfig::new("fanin-bench"))
        .await
        .unwrap();
    let actor = Actor::system();

    let mut farm = Vec::with_capacity(printers);
    for i in 0..printers {
        let mut machine = Machine::new(Model::X1C, Behaviour::default());
        machine.identity.serial = format!("00M00A{i:09}");
        let first = machine.full_frame();
        // Frames made before measuring: the simulator's cost stays out of the counts.
        let frames: Vec<Vec<u8>> = (0..FRAMES)
            .map(|_| {
                machine.tick(1.0);
                machine
                    .periodic_frame()
                    .expect("X1 printers report every second")
            })
            .collect();
        let printer = app.bench_unconnected_printer(row(i64::try_from(i).unwrap() + 1));
        farm.push((printer, Report::new(), first, frames));
    }
    let mut subscribers: Vec<_> = (0..sockets).map(|_| app.printer_events()).collect();
    let mut sent = 0usize;
    let mut drain = |subscribers: &mut Vec<tokio::sync::broadcast::Receiver<_>>| {
        for rx in subscribers.iter_mut() {
            loop {
                match rx.try_recv() {
                    Ok(event) => {
                        if let Some(bytes) = app.printer_event_message(&actor, &event) {
                            // The events socket's `Utf8Bytes::try_from` checks the text per
                            // socket.
                            sent += std::str::from_utf8(&bytes).map_or(0, str::len);
                        }
                    }
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
        }
    };
    // Warm-up (not counted): every printer's first full report, as after connecting.
    for (printer, report, first, _) in &mut farm {
        printer.feed(&app, report, first);
        drain(&mut subscribers);
    }
    tokio::task::yield_now().await;

    let t0 = Instant::now();
    for round in 0..rounds {
        for (printer, report, _, frames) in &mut farm {
            assert!(printer.feed(&app, report, &frames[round % FRAMES]));
            drain(&mut subscribers);
        }
        // The bus's other followers (archive watcher, print mails) take their turn.
        tokio::task::yield_now().await;
    }
    let elapsed = t0.elapsed();
    let reports = (printers * rounds) as f64;
    println!(
        "RESULT printers={printers} sockets={sockets} reports={} us_per_report={:.1} sent_bytes_per_report={:.0}",
        printers * rounds,
        elapsed.as_secs_f64() * 1e6 / reports,
        sent as f64 / reports,
    );
}
