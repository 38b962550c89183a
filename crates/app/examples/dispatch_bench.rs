//! Benchmark for `scripts/bench.sh dispatch`: the queue's dispatch decision (issue 16: with
//! 1,000 printers and 10,000 queued items, ≤ 10 ms p99), on the database at DATABASE_URL.
//!
//! Usage: `dispatch_bench --migrate DATABASE_URL` creates the schema (then bench.sh seeds the
//! farm by SQL); `dispatch_bench DATABASE_URL [DECISIONS]` measures on the seeded farm.
//!
//! "The dispatch decision" is everything the dispatcher does for a printer that became free
//! before it starts uploading: the pass looks at every printer's live state and cached plate in
//! the fleet (1,000 printers, all online; every one busy but the free one), reads the free
//! printer's row, plate and open archive entry from the database, claims its next item (the
//! claim query choosing by priority, "not before" and position among the items targeting the
//! printer, its model or its location; the compare-and-set to `dispatching` in the same
//! transaction; the audit line is written by the start task, beside the pass). It runs
//! the dispatcher's own pass ([`App::bench_dispatch_pass`]); only the MQTT sessions are replaced
//! by printers whose reports the bench sets ([`App::bench_unconnected_printer`]). After each
//! decision the claim is taken back (`unclaim_queue_item`, the dispatcher's own undo) and the
//! printer is busy again, so the queue keeps its 10,000 items.
//!
//! Measured: `typical` — a random free printer (one without an active item; some have a
//! paused lane, a plate to clear or a plate to clear under a waiver, as in a farm); `nothing` —
//! the worst case, a printer no item targets (its model and location have none): the claim must
//! conclude "nothing" over the whole queue; `claim-only` — the claim query and its commit alone, for the typical printers.
//! One line per measurement: `RESULT <name> n=<decisions> claimed=<n> p50_ms=… p99_ms=… max_ms=…`.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark tool, not a request path"
)]

use std::collections::HashSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pw_app::{App, AppConfig, BenchPrinter};
use pw_bambu::report::{Report, Status};
use pw_store::Store;

/// A deterministic xorshift: the same decisions every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % u64::try_from(n).unwrap()).unwrap()
    }
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

/// A full X1C-like report (four AMS trays, temperatures, a job), `gcode_state` as given: what
/// the dispatcher copies out of the fleet for every printer on every pass.
fn status(gcode_state: &str) -> Status {
    let trays: Vec<_> = ["PLA", "PETG", "PLA", "ABS"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": i.to_string(), "tray_type": t, "tray_color": "FF8000FF",
                "tray_sub_brands": "Bambu PLA Basic", "remain": 80, "nozzle_temp_min": "190",
                "nozzle_temp_max": "230", "tray_weight": "1000", "tray_diameter": "1.75"})
        })
        .collect();
    let payload = serde_json::json!({"print": {
        "command": "push_status", "sequence_id": "1", "gcode_state": gcode_state,
        "mc_percent": 42, "mc_remaining_time": 55, "layer_num": 120, "total_layer_num": 300,
        "nozzle_temper": 219.8, "nozzle_target_temper": 220, "bed_temper": 59.9,
        "bed_target_temper": 60, "chamber_temper": 35, "cooling_fan_speed": "15",
        "big_fan1_speed": "10", "big_fan2_speed": "0", "spd_lvl": 2,
        "subtask_name": "bracket-left", "gcode_file": "queue-1-bracket-left.gcode.3mf",
        "print_error": 0, "hms": [], "wifi_signal": "-45dBm", "task_id": "417000123",
        "subtask_id": "417000124", "project_id": "0", "profile_id": "0",
        "gcode_start_time": "1700000000", "mc_print_stage": "2", "stg_cur": 0,
        "print_type": "local", "nozzle_diameter": "0.4",
        "ams": {"ams": [{"id": "0", "humidity": "4", "temp": "24.5", "tray": trays}],
                "tray_now": "0", "ams_exist_bits": "1", "tray_exist_bits": "f"}
    }});
    let mut report = Report::new();
    report
        .apply(payload.to_string().as_bytes())
        .expect("a valid report");
    report.status()
}

/// p50, p99 and max of the samples, in ms.
fn summary(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((samples.len() as f64) * q).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1]
    };
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

fn report(name: &str, samples: &mut [f64], claimed: usize) {
    let n = samples.len();
    let (p50, p99, max) = summary(samples);
    println!(
        "RESULT {name} n={n} claimed={claimed} p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2}"
    );
}

/// Times `decisions` dispatch passes, each with one of `free` (chosen at random) reporting
/// idle and every other printer busy; takes each claim back after timing it.
async fn decisions(
    app: &App,
    printers: &[(pw_domain::PrinterId, BenchPrinter)],
    free: &[usize],
    decisions: usize,
    rng: &mut Rng,
) -> (Vec<f64>, usize) {
    let (idle, busy) = (status("FINISH"), status("RUNNING"));
    let mut samples = Vec::with_capacity(decisions);
    let mut claimed = 0;
    for _ in 0..decisions {
        let (id, printer) = &printers[free[rng.below(free.len())]];
        printer.report(idle.clone());
        let t0 = Instant::now();
        let claims = app.bench_dispatch_pass().await;
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        for (item, by) in claims {
            assert_eq!(by, *id, "only the free printer claims");
            claimed += 1;
            let back = app
                .store()
                .unclaim_queue_item(item.id, item.claimed_at.unwrap(), now_ms())
                .await
                .unwrap();
            assert!(back, "the claim goes back");
        }
        printer.report(busy.clone());
    }
    (samples, claimed)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (migrate_only, rest) = match args.first().map(String::as_str) {
        Some("--migrate") => (true, &args[1..]),
        _ => (false, &args[..]),
    };
    let url = rest
        .first()
        .expect("usage: dispatch_bench [--migrate] DATABASE_URL [DECISIONS]");
    let n: usize = rest.get(1).map_or(2000, |s| s.parse().expect("DECISIONS"));
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    if migrate_only {
        return;
    }
    let app = App::start(store.clone(), AppConfig::new("dispatch-bench"))
        .await
        .expect("app");

    let rows = store.list_printers().await.expect("printers");
    let queued = store
        .queue_items_page(&pw_store::QueueQuery {
            owner: pw_store::OwnerFilter::All,
            state: Some(pw_store::QueueState::Queued),
            printer: None,
            after: None,
            fetch: 100_000,
        })
        .await
        .expect("queue")
        .len();
    let active: HashSet<_> = store
        .active_queue_items()
        .await
        .expect("active items")
        .into_iter()
        .filter_map(|i| i.printer_id)
        .collect();
    let busy = status("RUNNING");
    let mut typical = Vec::new();
    let mut nothing = Vec::new();
    let mut printers = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        if row.model == "H2D" {
            nothing.push(i);
        } else if !active.contains(&row.id) {
            typical.push(i);
        }
        let id = row.id;
        let p = app.bench_unconnected_printer(row);
        p.report(busy.clone());
        printers.push((id, p));
    }
    app.bench_load_plates().await.expect("plates");
    println!(
        "farm: {} printers ({} free for the typical case without an active item, {} that nothing targets), {queued} queued items, {} active",
        printers.len(),
        typical.len(),
        nothing.len(),
        active.len()
    );
    assert!(!typical.is_empty() && !nothing.is_empty(), "seeded farm");

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Warm-up: connections opened, statements prepared, pages cached.
    decisions(&app, &printers, &typical, 50, &mut rng).await;

    let (mut s, claimed) = decisions(&app, &printers, &typical, n, &mut rng).await;
    report("typical", &mut s, claimed);
    let (mut s, claimed) = decisions(&app, &printers, &nothing, n, &mut rng).await;
    assert_eq!(claimed, 0, "nothing targets these printers");
    report("nothing", &mut s, claimed);

    // The claim query and its commit alone (plus the undo, untimed).
    let mut samples = Vec::with_capacity(n);
    let mut claimed = 0;
    let by_id: Vec<_> = store.list_printers().await.expect("printers");
    for _ in 0..n {
        let row = &by_id[typical[rng.below(typical.len())]];
        let t0 = Instant::now();
        let item = store
            .claim_next_queue_item(row.id, &row.model, row.location_id, now_ms())
            .await
            .expect("claim");
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        if let Some(item) = item {
            claimed += 1;
            store
                .unclaim_queue_item(item.id, item.claimed_at.unwrap(), now_ms())
                .await
                .expect("unclaim");
        }
    }
    report("claim-only", &mut samples, claimed);
    let left = store
        .queue_items_page(&pw_store::QueueQuery {
            owner: pw_store::OwnerFilter::All,
            state: Some(pw_store::QueueState::Queued),
            printer: None,
            after: None,
            fetch: 100_000,
        })
        .await
        .expect("queue")
        .len();
    assert_eq!(left, queued, "the queue keeps its size");
    store.close().await;
}
