//! Request metrics for `/metrics` (Prometheus text format). Lock-free counters; nothing here
//! records paths, ids or users, so metrics cannot leak who did what.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

/// Process-wide HTTP counters.
#[derive(Debug, Default)]
pub struct Metrics {
    in_flight: AtomicI64,
    by_class: [AtomicU64; 5],
    latency_micros_sum: AtomicU64,
    connections_open: AtomicI64,
    /// Connections closed at accept: over `max_connections`, over the per-address cap.
    connections_refused: [AtomicU64; 2],
}

impl Metrics {
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_finished(&self, status: StatusCode, latency: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        if let Some(counter) = self.by_class.get(class) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros_sum.fetch_add(micros, Ordering::Relaxed);
    }

    /// A client connection was admitted by the acceptor.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// An admitted client connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection was closed at accept because a cap was reached.
    pub fn connection_refused(&self, per_address: bool) {
        self.connections_refused[usize::from(per_address)].fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the Prometheus exposition text.
    #[must_use]
    pub fn render(&self, version: &str, uptime: Duration, ready: bool) -> String {
        let mut out = String::with_capacity(1024);
        let total: u64 = self
            .by_class
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        let _ = writeln!(
            out,
            "# HELP printwarden_build_info Build information.\n# TYPE printwarden_build_info gauge"
        );
        let _ = writeln!(out, "printwarden_build_info{{version=\"{version}\"}} 1");
        let _ = writeln!(
            out,
            "# HELP printwarden_uptime_seconds Seconds since the server started.\n# TYPE printwarden_uptime_seconds gauge"
        );
        let _ = writeln!(out, "printwarden_uptime_seconds {}", uptime.as_secs());
        let _ = writeln!(
            out,
            "# HELP printwarden_ready Whether the database answers (1) or not (0).\n# TYPE printwarden_ready gauge"
        );
        let _ = writeln!(out, "printwarden_ready {}", u8::from(ready));
        let _ = writeln!(
            out,
            "# HELP printwarden_http_requests_in_flight Requests being served.\n# TYPE printwarden_http_requests_in_flight gauge"
        );
        let _ = writeln!(
            out,
            "printwarden_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP printwarden_connections_open Client connections held open.\n# TYPE printwarden_connections_open gauge"
        );
        let _ = writeln!(
            out,
            "printwarden_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP printwarden_connections_refused_total Connections closed at accept, by the cap reached.\n# TYPE printwarden_connections_refused_total counter"
        );
        for (cap, counter) in ["total", "per_address"]
            .iter()
            .zip(&self.connections_refused)
        {
            let _ = writeln!(
                out,
                "printwarden_connections_refused_total{{cap=\"{cap}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP printwarden_http_requests_total Requests served, by status class.\n# TYPE printwarden_http_requests_total counter"
        );
        for (i, counter) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "printwarden_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP printwarden_http_request_duration_seconds Time spent serving requests.\n# TYPE printwarden_http_request_duration_seconds summary"
        );
        #[expect(
            clippy::cast_precision_loss,
            reason = "a metric sum; float precision is what Prometheus stores anyway"
        )]
        let seconds = self.latency_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "printwarden_http_request_duration_seconds_sum {seconds}"
        );
        let _ = writeln!(
            out,
            "printwarden_http_request_duration_seconds_count {total}"
        );
        out
    }
}

/// Appends the webhook delivery gauges and counters (totals: no webhook is named).
pub(crate) fn render_deliveries(out: &mut String, t: &pw_app::DeliveryTotals) {
    let mut metric = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "printwarden_webhook_queued",
        "gauge",
        "Events waiting: in the intake queue, and in the webhooks' lanes together.",
        &[
            ("{stage=\"intake\"}", t.intake_queued),
            ("{stage=\"lanes\"}", t.lanes_queued),
        ],
    );
    metric(
        "printwarden_webhook_queue_capacity",
        "gauge",
        "Capacity of the intake queue, and of one webhook's lane.",
        &[
            ("{stage=\"intake\"}", t.intake_capacity),
            ("{stage=\"lane\"}", t.lane_capacity),
        ],
    );
    metric(
        "printwarden_webhook_lanes",
        "gauge",
        "Webhooks with a delivery lane.",
        &[("", t.lanes)],
    );
    metric(
        "printwarden_webhook_deliveries_in_flight",
        "gauge",
        "Webhook deliveries under way.",
        &[("", t.in_flight)],
    );
    metric(
        "printwarden_webhook_receivers_down",
        "gauge",
        "Webhooks paused because their receiver did not answer.",
        &[("", t.receivers_down)],
    );
    metric(
        "printwarden_webhook_events_dropped_total",
        "counter",
        "Events not delivered: the intake queue was full, or one webhook's lane was full or its receiver paused.",
        &[
            ("{stage=\"intake\"}", t.dropped_intake),
            ("{stage=\"webhook\"}", t.dropped_webhook),
        ],
    );
}
