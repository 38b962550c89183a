//! Bench-only entry points into the dispatcher (feature `bench`, which the server never
//! enables): `examples/dispatch_bench.rs` runs the dispatcher's own pass over a seeded farm of
//! printers without MQTT sessions and times it. They bypass policy and the printers' real
//! connections, which is why they exist only in bench builds.

use std::collections::HashSet;

use pw_bambu::report::{Frame, Report, Status};
use pw_domain::PrinterId;
use pw_store::{PrinterRow, QueueItemRow};
use tokio::sync::watch;

use crate::App;
use crate::farm::fleet::{Connection, Live};

/// A printer the dispatcher sees as online, reporting whatever the bench sets.
#[derive(Debug)]
pub struct BenchPrinter {
    id: PrinterId,
    live: watch::Sender<Live>,
}

impl BenchPrinter {
    /// The printer reports `status` from now on (online).
    pub fn report(&self, status: Status) {
        self.live.send_replace(Live {
            connection: Connection::Online,
            problem: None,
            status: Some(status),
            developer_mode_off: false,
            last_report_ms: None,
            drops: Vec::new(),
        });
    }

    /// One report payload through the supervisor's own path (`fleet::apply_report`: merge,
    /// typed status, live state, one event on the fleet's bus), as if it came from the
    /// printer's session (`examples/fanin_bench.rs`). True when it was a status push.
    pub fn feed(&self, app: &App, report: &mut Report, payload: &[u8]) -> bool {
        matches!(
            crate::farm::fleet::apply_report(app, self.id, &self.live, report, payload),
            Ok(Frame::Status)
        )
    }
}

impl App {
    /// Adds `row` to the fleet without connecting to it; its live state is what the returned
    /// handle reports.
    #[must_use]
    pub fn bench_unconnected_printer(&self, row: PrinterRow) -> BenchPrinter {
        BenchPrinter {
            id: row.id,
            live: self.fleet.insert_unconnected(row),
        }
    }

    /// Loads the stored plates into the fleet, as the server does at start-up (after its
    /// printers are in the fleet).
    ///
    /// # Errors
    /// The database's.
    pub async fn bench_load_plates(&self) -> Result<(), crate::AppError> {
        self.load_plates().await
    }

    /// One dispatch pass as the dispatcher task runs it (every printer's live state and cached
    /// plate looked at in the fleet, the free ones' stored rows, plates and open archive
    /// entries read, the next item claimed for each; the claim's audit line is its start's),
    /// with nothing in flight; nothing is uploaded or started. The claims it made are returned
    /// so the bench can take them back.
    pub async fn bench_dispatch_pass(&self) -> Vec<(QueueItemRow, PrinterId)> {
        let inflight = std::sync::Mutex::new((HashSet::new(), HashSet::new()));
        // Plate waits already announced: none, so a printer waiting for its plate costs the
        // pass what it costs the dispatcher the first time (the peek and its notice).
        let plate_waits = std::sync::Mutex::new(HashSet::new());
        self.queue_claims(&inflight, &plate_waits)
            .await
            .into_iter()
            .map(|(item, printer)| (item, printer.id))
            .collect()
    }
}
