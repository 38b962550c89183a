//! The delivery backlog: what waits, what is in flight and what was dropped, per webhook and in
//! total; and each webhook's circuit (a receiver that does not answer is given a pause instead
//! of a slot per event). Read by the webhook list (in words, for the admin) and `/metrics`.
//!
//! Invariants: every event that is not delivered because a queue was full or its receiver was
//! not answering is counted here (nothing is dropped silently); memory stays bounded (the
//! intake queue holds at most [`QUEUE`] events, each webhook's lane at most [`LANE`]).
//! Counters live in memory and start at zero with the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use super::*;

/// Events waiting in one webhook's lane; more for that webhook are dropped and counted.
pub(crate) const LANE: usize = 64;

/// The first pause given to a receiver that did not answer; doubled per further miss.
const COOL_OFF: i64 = 5_000;
/// The longest pause: a receiver down for hours is probed once a minute (one slot for at most
/// one timeout), so it is delivered to again within about a minute of answering.
const COOL_OFF_MAX: i64 = 60_000;

/// One webhook's counters and circuit.
#[derive(Debug, Default)]
pub(crate) struct LaneStats {
    pub(super) queued: AtomicU64,
    pub(super) in_flight: AtomicU64,
    dropped: AtomicU64,
    /// When the first event since the last answer was dropped (ms; 0 = none).
    dropped_since: AtomicI64,
    /// Until when events are dropped instead of sent (ms; 0 = the receiver answers).
    down_until: AtomicI64,
    /// Deliveries in a row the receiver did not answer.
    misses: AtomicU32,
}

impl LaneStats {
    pub(super) fn dropped(&self, now: i64) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .dropped_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether an event may go out now: always while the receiver answers; while it is paused,
    /// no; once the pause is over, one event (the probe) and the pause re-arms until it ends.
    pub(super) fn may_send(&self, now: i64) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        if now < until {
            return false;
        }
        let rearm = now + self.cool_off();
        self.down_until
            .compare_exchange(until, rearm, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    fn cool_off(&self) -> i64 {
        let misses = self.misses.load(Ordering::Relaxed).clamp(1, 16);
        COOL_OFF.saturating_mul(1 << (misses - 1)).min(COOL_OFF_MAX)
    }

    /// The receiver answered (any status): the circuit closes.
    pub(super) fn answered(&self) {
        self.misses.store(0, Ordering::Relaxed);
        self.down_until.store(0, Ordering::Relaxed);
        self.dropped_since.store(0, Ordering::Relaxed);
    }

    /// The receiver did not answer: pause it.
    pub(super) fn missed(&self, now: i64) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.down_until
            .store(now + self.cool_off(), Ordering::Relaxed);
    }

    fn view(&self, now: i64) -> BacklogView {
        let dropped = self.dropped.load(Ordering::Relaxed);
        let down = self.down_until.load(Ordering::Relaxed) != 0;
        let since = self.dropped_since.load(Ordering::Relaxed);
        let note = match (down, since) {
            (true, _) => Some(format!(
                "The receiver is not answering. {} not delivered since {}; deliveries resume \
                 by themselves when it answers again (tried again at least every {} seconds).",
                events(dropped),
                if since == 0 {
                    rfc3339(now)
                } else {
                    rfc3339(since)
                },
                self.cool_off() / 1000,
            )),
            (false, 0) if dropped > 0 => Some(format!(
                "{} not delivered since the server started (the receiver answers again).",
                events(dropped)
            )),
            (false, 0) => None,
            (false, since) => Some(format!(
                "Too many events at once: {} not delivered since {}.",
                events(dropped),
                rfc3339(since)
            )),
        };
        BacklogView {
            queued: self.queued.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            dropped,
            receiver_down: down,
            note,
        }
    }
}

fn events(n: u64) -> String {
    if n == 1 {
        "1 event was".to_owned()
    } else {
        format!("{n} events were")
    }
}

/// A webhook's backlog as the API shows it (counted since the server started).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BacklogView {
    /// Events waiting for this webhook.
    pub queued: u64,
    /// Deliveries to it under way.
    pub in_flight: u64,
    /// Events not delivered to it: its queue was full, or its receiver was not answering.
    pub dropped: u64,
    /// Whether deliveries are paused because the receiver did not answer.
    pub receiver_down: bool,
    /// What happened, in words (absent when all is well).
    pub note: Option<String>,
}

/// Totals for `/metrics` (no ids: metrics do not say which webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTotals {
    /// Events in the intake queue.
    pub intake_queued: u64,
    /// Its capacity.
    pub intake_capacity: u64,
    /// Events waiting in the webhooks' lanes.
    pub lanes_queued: u64,
    /// Capacity of one lane.
    pub lane_capacity: u64,
    /// Webhooks with a lane.
    pub lanes: u64,
    /// Deliveries under way.
    pub in_flight: u64,
    /// Events dropped at the intake (its queue was full).
    pub dropped_intake: u64,
    /// Events dropped for one webhook (its lane was full or its receiver was paused).
    pub dropped_webhook: u64,
    /// Webhooks whose receiver is paused.
    pub receivers_down: u64,
}

/// Every lane's counters, and the intake's.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    pub(super) intake_dropped: AtomicU64,
    lanes: std::sync::Mutex<HashMap<WebhookId, Arc<LaneStats>>>,
    /// Counts of webhooks removed from the lanes (kept for the totals).
    retired_dropped: AtomicU64,
}

impl Backlog {
    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<WebhookId, Arc<LaneStats>>> {
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn lane(&self, id: WebhookId) -> Arc<LaneStats> {
        Arc::clone(self.lanes().entry(id).or_default())
    }

    /// Forgets the lanes of webhooks no longer enabled.
    pub(super) fn retain(&self, keep: impl Fn(WebhookId) -> bool) {
        self.lanes().retain(|id, stats| {
            let kept = keep(*id);
            if !kept {
                self.retired_dropped
                    .fetch_add(stats.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            kept
        });
    }

    pub(super) fn view(&self, id: WebhookId, now: i64) -> Option<BacklogView> {
        self.lanes().get(&id).map(|s| s.view(now))
    }

    pub(crate) fn totals(&self, intake_queued: usize) -> DeliveryTotals {
        let lanes = self.lanes();
        let sum = |f: fn(&LaneStats) -> u64| lanes.values().map(|s| f(s)).sum::<u64>();
        DeliveryTotals {
            intake_queued: intake_queued as u64,
            intake_capacity: QUEUE as u64,
            lanes_queued: sum(|s| s.queued.load(Ordering::Relaxed)),
            lane_capacity: LANE as u64,
            lanes: lanes.len() as u64,
            in_flight: sum(|s| s.in_flight.load(Ordering::Relaxed)),
            dropped_intake: self.intake_dropped.load(Ordering::Relaxed),
            dropped_webhook: sum(|s| s.dropped.load(Ordering::Relaxed))
                + self.retired_dropped.load(Ordering::Relaxed),
            receivers_down: sum(|s| u64::from(s.down_until.load(Ordering::Relaxed) != 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_receiver_is_paused_then_probed_once() {
        let s = LaneStats::default();
        assert!(s.may_send(0));
        s.missed(1_000);
        assert!(!s.may_send(1_001), "paused");
        assert!(s.may_send(6_000), "the probe");
        assert!(!s.may_send(6_001), "one probe at a time");
        s.missed(16_000);
        assert!(!s.may_send(20_000 + COOL_OFF), "the pause doubled");
        s.answered();
        assert!(s.may_send(20_001));
        for _ in 0..40 {
            s.missed(0);
        }
        assert_eq!(s.cool_off(), COOL_OFF_MAX);
    }

    #[test]
    fn drops_are_told_in_words() {
        let s = LaneStats::default();
        assert!(s.view(0).note.is_none());
        s.missed(0);
        s.dropped(10);
        s.dropped(20);
        let v = s.view(30);
        assert!(v.receiver_down && v.dropped == 2);
        assert!(v.note.unwrap().contains("2 events were not delivered"));
        s.answered();
        assert!(s.view(40).note.unwrap().contains("answers again"));
    }
}
