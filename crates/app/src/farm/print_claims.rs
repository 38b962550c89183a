//! Who is starting a print on which printer: the "printer busy" check and the claim of the
//! printer for one upload-and-print happen in one step under one lock.
//!
//! Invariant: at most one upload-and-print is in flight per printer, and after a successful
//! start the printer stays claimed until its own report says it is busy (or a grace period
//! passes); from then on its busy state guards the job. Threat (audit finding 13): two parallel calls both passed the busy check, both
//! uploaded, and the second start command cancelled the first job mid-print.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pw_domain::PrinterId;

/// How long a started print keeps its printer claimed while the printer has not yet reported
/// the job (reports normally follow within a second). Monotonic time: a clock set back must
/// not free or hold a printer.
const START_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Claim {
    /// An upload-and-print is running.
    InFlight,
    /// A print was started at this moment.
    Started(Instant),
}

/// The claims of every printer.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrintClaims {
    claims: Arc<Mutex<HashMap<PrinterId, Claim>>>,
}

/// A printer claimed for one upload-and-print; dropping it (error, cancelled request) frees
/// the printer again unless [`StartClaim::started`] was called.
#[derive(Debug)]
pub(crate) struct StartClaim {
    claims: Arc<Mutex<HashMap<PrinterId, Claim>>>,
    printer: PrinterId,
    started: Option<Instant>,
}

impl PrintClaims {
    /// Claims `printer` unless it is busy (its report says so), another start is in flight,
    /// or a print was started on it moments ago and it has not reported the job yet.
    pub(crate) fn claim(&self, printer: PrinterId, busy: bool) -> Option<StartClaim> {
        self.claim_at(printer, busy, Instant::now())
    }

    fn claim_at(&self, printer: PrinterId, busy: bool, now: Instant) -> Option<StartClaim> {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        let held = match claims.get(&printer) {
            Some(Claim::InFlight) => true,
            Some(Claim::Started(at)) => now.saturating_duration_since(*at) < START_GRACE,
            None => false,
        };
        if held || busy {
            return None;
        }
        claims.insert(printer, Claim::InFlight);
        Some(StartClaim {
            claims: Arc::clone(&self.claims),
            printer,
            started: None,
        })
    }
}

impl PrintClaims {
    /// The printer reported a busy state: a start made before is now guarded by that state,
    /// so its claim goes (a job that ends within the grace period does not block the next).
    pub(crate) fn seen_busy(&self, printer: PrinterId) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Claim::Started(_)) = claims.get(&printer) {
            claims.remove(&printer);
        }
    }
}

impl StartClaim {
    /// The printer accepted the start: keep it claimed until it reports the job.
    pub(crate) fn started(self) {
        self.started_at(Instant::now());
    }

    fn started_at(mut self, now: Instant) {
        self.started = Some(now);
    }
}

impl Drop for StartClaim {
    fn drop(&mut self) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        match self.started {
            Some(at) => claims.insert(self.printer, Claim::Started(at)),
            None => claims.remove(&self.printer),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_a_started_print_holds_until_reported() {
        let claims = PrintClaims::default();
        let p = PrinterId::from_db(1);
        let t = Instant::now();
        let first = claims.claim_at(p, false, t).unwrap();
        assert!(claims.claim_at(p, false, t).is_none(), "in flight");
        assert!(
            claims.claim_at(PrinterId::from_db(2), false, t).is_some(),
            "per printer"
        );
        drop(first);
        assert!(claims.claim_at(p, true, t).is_none(), "busy");
        let again = claims.claim_at(p, false, t).unwrap();
        again.started_at(t);
        assert!(claims.claim_at(p, false, t).is_none(), "not reported yet");
        assert!(
            claims.claim_at(p, false, t + START_GRACE).is_some(),
            "grace over"
        );
    }
}
