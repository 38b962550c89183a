//! Time and randomness for use cases, behind small seams so tests can move the clock (session
//! expiry) without sleeping. Production uses the system clock and the OS RNG.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::AppError;

/// A source of "now" in unix milliseconds.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, unix ms.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at `ms`.
    #[must_use]
    pub fn new(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves forward.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `N` random bytes from the OS.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(e.to_string().into()))?;
    Ok(bytes)
}

/// Unix ms → RFC 3339 UTC (`2026-11-23T10:00:00Z`), the API's time format.
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// RFC 3339 → unix ms; `None` when it does not parse.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let ms = parse_rfc3339("2026-11-23T10:15:30Z").unwrap();
        assert_eq!(rfc3339(ms), "2026-11-23T10:15:30Z");
        assert_eq!(parse_rfc3339("2026-11-23T11:15:30+01:00"), Some(ms));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
