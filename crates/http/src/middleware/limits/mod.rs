//! Rate limiting: fixed-window counters per key (client IP, account name) in bounded memory,
//! and the limiter set of SPEC S7 (API requests, failed logins, second-factor checks, reset
//! mails).
//!
//! Invariants: no key is exempt (threat: the anchors exempted loopback, so anything behind a
//! local reverse proxy was never limited); memory is bounded — a flood of distinct keys evicts
//! the oldest windows instead of growing the map (threat: memory exhaustion by spraying IPv6
//! addresses); IPv6 clients are counted per /64, the block one subscriber usually holds.
//!
//! Reserve before verify: a check of a secret takes its slot with [`Limiter::reserve`] *before*
//! the secret is looked at, and gives it back ([`Reservation::refund`]) only when the secret was
//! right. Dropping a [`Reservation`] any other way counts it — a cancelled request, an error, a
//! panic all cost the attempt. One key has at most one check in flight: a second attempt waits
//! (bounded) for the first to finish. Threat: the throttle used to peek, verify, then count, so
//! forty guesses sent at once were all verified against a limit of five.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use http::HeaderValue;
use http::header::{HeaderMap, HeaderName, RETRY_AFTER};

/// How many keys one limiter tracks before it evicts.
pub const MAX_KEYS: usize = 50_000;

/// A limit: at most `max` events per `window`. `max == 0` switches it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed per window.
    pub max: u32,
    /// The window length.
    pub window: Duration,
}

impl Limit {
    /// No limit.
    pub const OFF: Limit = Limit {
        max: 0,
        window: Duration::from_secs(60),
    };

    /// `max` per `window`.
    #[must_use]
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// Whether the limit applies at all.
    #[must_use]
    pub const fn is_on(&self) -> bool {
        self.max > 0
    }
}

impl std::str::FromStr for Limit {
    type Err = String;

    /// `N/<duration>` with a duration like `30s`, `1m`, `15m`, `1h`; `0` or `off` = no limit.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "0" || s.eq_ignore_ascii_case("off") {
            return Ok(Limit::OFF);
        }
        let usage = || format!("`{s}` is not a limit like 200/1m, 5/15m or 0 (off)");
        let (max, window) = s.split_once('/').ok_or_else(usage)?;
        let max: u32 = max.trim().parse().map_err(|_| usage())?;
        let window = window.trim();
        let (number, unit) = window.split_at(window.len().saturating_sub(1));
        let number: u64 = if number.is_empty() {
            1
        } else {
            number.parse().map_err(|_| usage())?
        };
        let seconds = match unit {
            "s" => number,
            "m" => number.saturating_mul(60),
            "h" => number.saturating_mul(3600),
            _ => return Err(usage()),
        };
        if seconds == 0 {
            return Err(usage());
        }
        if max == 0 {
            return Ok(Limit::OFF);
        }
        Ok(Limit::new(max, Duration::from_secs(seconds)))
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.is_on() {
            return f.write_str("0");
        }
        let secs = self.window.as_secs();
        if secs.is_multiple_of(3600) {
            write!(f, "{}/{}h", self.max, secs / 3600)
        } else if secs.is_multiple_of(60) {
            write!(f, "{}/{}m", self.max, secs / 60)
        } else {
            write!(f, "{}/{secs}s", self.max)
        }
    }
}

/// What a limiter says about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The limit in force.
    pub limit: u32,
    /// Events left in this window.
    pub remaining: u32,
    /// Time until the window resets.
    pub reset: Duration,
    /// Whether this event is refused.
    pub limited: bool,
}

impl Verdict {
    /// Writes `X-RateLimit-Limit/Remaining/Reset` (seconds until reset) and, when refused,
    /// `Retry-After`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
        const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
        const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
        let reset = self.reset_seconds();
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(reset));
        if self.limited {
            headers.insert(RETRY_AFTER, HeaderValue::from(reset));
        }
    }

    /// Whole seconds until the reset, at least 1 (a client told "0" would retry at once).
    #[must_use]
    pub fn reset_seconds(&self) -> u64 {
        self.reset.as_secs_f64().ceil().max(1.0) as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    /// A reserved check of this key is running; nobody else may start one, and the window is
    /// neither reset nor evicted until it ends.
    busy: bool,
}

impl Window {
    const fn new(start: Instant) -> Self {
        Self {
            start,
            count: 0,
            busy: false,
        }
    }
}

/// Whether a limiter refuses once its limit is reached, or only counts (for slowdowns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ceiling {
    Refuse,
    CountOnly,
}

/// Fixed-window counters for one kind of event.
#[derive(Debug)]
pub struct Limiter<K> {
    limit: Limit,
    ceiling: Ceiling,
    max_keys: usize,
    windows: Mutex<HashMap<K, Window>>,
    /// Woken whenever a reservation ends, for attempts waiting on a busy key.
    released: Notify,
}

/// How long an attempt waits for another check on the same key before it is refused.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// The answer of [`Limiter::reserve`].
#[derive(Debug)]
pub enum Reserve<'a, K: Hash + Eq + Clone> {
    /// A slot is taken: check the secret, then [`Reservation::refund`] on success.
    Granted(Reservation<'a, K>),
    /// The limit is used up for this window.
    Limited(Verdict),
    /// Another check of the same key did not finish within the wait.
    Busy,
}

/// One reserved slot of a [`Limiter`]: counted from the moment it is taken, handed back only by
/// [`Reservation::refund`] (the secret was right). Dropped any other way — a wrong secret, an
/// error, a cancelled request — the slot stays counted and the key is free for the next check.
#[derive(Debug)]
#[must_use = "a reservation is counted as a failure unless refunded"]
pub struct Reservation<'a, K: Hash + Eq + Clone> {
    /// `None` when the limit is off: nothing is counted or held.
    held: Option<(&'a Limiter<K>, K, Instant)>,
    count: u32,
    verdict: Option<Verdict>,
}

impl<K: Hash + Eq + Clone> Reservation<'_, K> {
    /// Events counted in this key's window, this one included (0 when the limit is off).
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The limit headers as of this reservation (`None` when the limit is off).
    #[must_use]
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// The secret was right: the slot is given back. Returns the verdict after the refund.
    pub fn refund(mut self) -> Option<Verdict> {
        self.release(true)
    }

    /// The secret was wrong: the slot stays counted (the same as dropping it). Returns the
    /// verdict to answer with.
    pub fn charge(mut self) -> Option<Verdict> {
        self.release(false)
    }

    fn release(&mut self, refund: bool) -> Option<Verdict> {
        let (limiter, key, start) = self.held.take()?;
        let mut windows = limiter.lock();
        let verdict = windows.get_mut(&key).map(|w| {
            w.busy = false;
            // Only the window the slot was taken in: a window that has rolled over since
            // started from zero without it.
            if refund && w.start == start {
                w.count = w.count.saturating_sub(1);
            }
            limiter.verdict_of(w, Instant::now(), false)
        });
        drop(windows);
        limiter.released.notify_waiters();
        verdict.or(self.verdict)
    }
}

impl<K: Hash + Eq + Clone> Drop for Reservation<'_, K> {
    fn drop(&mut self) {
        self.release(false);
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter with the default key bound.
    #[must_use]
    pub fn new(limit: Limit) -> Self {
        Self::with_capacity(limit, MAX_KEYS)
    }

    /// A limiter that tracks at most `max_keys` keys.
    #[must_use]
    pub fn with_capacity(limit: Limit, max_keys: usize) -> Self {
        Self {
            limit,
            ceiling: Ceiling::Refuse,
            max_keys: max_keys.max(2),
            windows: Mutex::new(HashMap::new()),
            released: Notify::new(),
        }
    }

    /// A limiter whose reservations are never refused for the count, only counted (and still
    /// one at a time per key): for slowdowns, which grow with every event past the limit.
    #[must_use]
    pub fn counting_only(limit: Limit) -> Self {
        Self {
            ceiling: Ceiling::CountOnly,
            ..Self::new(limit)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Window>> {
        // A poisoned lock only means another request panicked mid-update; the counters are
        // still plain numbers, so keep limiting rather than fail open.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn verdict_of(&self, w: &Window, now: Instant, limited: bool) -> Verdict {
        let Limit { max, window } = self.limit;
        Verdict {
            limit: max,
            remaining: max.saturating_sub(w.count),
            reset: window.saturating_sub(now.duration_since(w.start)),
            limited,
        }
    }

    /// Takes one slot for `key` now, or says why not. Never waits.
    pub fn try_reserve(&self, key: &K, now: Instant) -> Reserve<'_, K> {
        if !self.limit.is_on() {
            return Reserve::Granted(Reservation {
                held: None,
                count: 0,
                verdict: None,
            });
        }
        let mut windows = self.lock();
        if !windows.contains_key(key) && windows.len() >= self.max_keys {
            evict(&mut windows, now, self.limit.window, self.max_keys);
        }
        let entry = windows
            .entry(key.clone())
            .or_insert_with(|| Window::new(now));
        if entry.busy {
            return Reserve::Busy;
        }
        if now.duration_since(entry.start) >= self.limit.window {
            *entry = Window::new(now);
        }
        if self.ceiling == Ceiling::Refuse && entry.count >= self.limit.max {
            return Reserve::Limited(self.verdict_of(entry, now, true));
        }
        entry.count = entry.count.saturating_add(1);
        entry.busy = true;
        Reserve::Granted(Reservation {
            held: Some((self, key.clone(), entry.start)),
            count: entry.count,
            verdict: Some(self.verdict_of(entry, now, false)),
        })
    }

    /// Takes one slot for `key` before a secret is checked. While another check of the same
    /// key runs, waits for it to end (at most `patience`, then [`Reserve::Busy`]): two checks
    /// of one key never overlap, so no burst can slip past the count.
    pub async fn reserve(&self, key: &K, patience: Duration) -> Reserve<'_, K> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Registered before the check, so a release between the check and the wait is
            // not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match self.try_reserve(key, Instant::now()) {
                Reserve::Busy => {}
                answer => return answer,
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Reserve::Busy;
            }
        }
    }

    /// The configured limit.
    #[must_use]
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Counts one event for `key` and says whether it is within the limit. `None` when the
    /// limit is off. For events that are not checks of a secret (API requests, reset mails);
    /// a check of a secret goes through [`Limiter::reserve`].
    pub fn hit(&self, key: &K, now: Instant) -> Option<Verdict> {
        if !self.limit.is_on() {
            return None;
        }
        let mut windows = self.lock();
        if !windows.contains_key(key) && windows.len() >= self.max_keys {
            evict(&mut windows, now, self.limit.window, self.max_keys);
        }
        let entry = windows
            .entry(key.clone())
            .or_insert_with(|| Window::new(now));
        if now.duration_since(entry.start) >= self.limit.window && !entry.busy {
            *entry = Window::new(now);
        }
        let limited = entry.count >= self.limit.max;
        if !limited {
            entry.count += 1;
        }
        Some(self.verdict_of(entry, now, limited))
    }

    /// Events counted for `key` in its current window.
    pub fn count(&self, key: &K, now: Instant) -> u32 {
        let windows = self.lock();
        windows
            .get(key)
            .filter(|w| now.duration_since(w.start) < self.limit.window)
            .map_or(0, |w| w.count)
    }

    /// Number of keys currently tracked.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Makes room: drops expired windows, and if the map is still at least three quarters full,
/// the older half. Halving keeps the cost amortised O(log n) per new key even under a flood.
fn evict<K: Hash + Eq + Clone>(
    windows: &mut HashMap<K, Window>,
    now: Instant,
    window: Duration,
    max_keys: usize,
) {
    // A busy window belongs to a check in flight: dropping it would let a second check of the
    // same key start, so it stays whatever its age.
    windows.retain(|_, w| w.busy || now.duration_since(w.start) < window);
    if windows.len() < max_keys / 4 * 3 {
        return;
    }
    let mut starts: Vec<Instant> = windows.values().map(|w| w.start).collect();
    let middle = starts.len() / 2;
    let (_, median, _) = starts.select_nth_unstable(middle);
    let median = *median;
    let mut dropped = 0;
    let target = middle;
    windows.retain(|_, w| {
        if dropped < target && w.start <= median && !w.busy {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

/// The rate-limit key for a client address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by /64.
#[must_use]
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
        v4 => v4,
    }
}

/// The configured limits (SPEC S7 defaults in [`LimitSettings::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// API requests per client IP.
    pub api: Limit,
    /// Failed sign-ins per client IP (also wrong setup codes).
    pub login: Limit,
    /// Failed sign-ins per account before each further failure is slowed down.
    pub login_account: Limit,
    /// Second-factor verifications per client IP and per user.
    pub mfa: Limit,
    /// Password-reset mails per client IP.
    pub reset_mail: Limit,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            api: Limit::new(200, minutes(1)),
            login: Limit::new(5, minutes(15)),
            login_account: Limit::new(5, minutes(15)),
            mfa: Limit::new(5, minutes(15)),
            reset_mail: Limit::new(5, minutes(15)),
        }
    }
}

impl LimitSettings {
    /// Every limit off (benchmarks).
    pub const OFF: LimitSettings = LimitSettings {
        api: Limit::OFF,
        login: Limit::OFF,
        login_account: Limit::OFF,
        mfa: Limit::OFF,
        reset_mail: Limit::OFF,
    };
}

/// The live limiters of one server.
#[derive(Debug)]
pub struct RateLimits {
    /// API requests per client IP.
    pub api: Limiter<IpAddr>,
    /// Failed sign-ins per client IP.
    pub login_ip: Limiter<IpAddr>,
    /// Failed sign-ins per account (lower-cased name): never refuses for the count, only slows
    /// failures; still one check at a time per account.
    pub login_account: Limiter<String>,
    /// Second-factor verifications per client IP.
    pub mfa_ip: Limiter<IpAddr>,
    /// Second-factor verifications per user.
    pub mfa_user: Limiter<String>,
    /// Password-reset mails per client IP.
    pub reset_mail_ip: Limiter<IpAddr>,
    /// Password-reset mails per address (lower-cased).
    pub reset_mail_email: Limiter<String>,
}

impl RateLimits {
    /// Limiters for the given settings.
    #[must_use]
    pub fn new(s: LimitSettings) -> Self {
        Self {
            api: Limiter::new(s.api),
            login_ip: Limiter::new(s.login),
            login_account: Limiter::counting_only(s.login_account),
            mfa_ip: Limiter::new(s.mfa),
            mfa_user: Limiter::new(s.mfa),
            reset_mail_ip: Limiter::new(s.reset_mail),
            reset_mail_email: Limiter::new(s.reset_mail),
        }
    }
}

/// Longest extra wait a failed sign-in gets from the per-account slowdown.
pub const MAX_SLOWDOWN: Duration = Duration::from_secs(8);

/// How long to hold back the answer to a failed sign-in on an account that has seen `failures`
/// failures in its window (`threshold` = the per-account limit): nothing up to the threshold,
/// then 1 s, 2 s, 4 s … capped at [`MAX_SLOWDOWN`]. Only failures wait, so the real owner with
/// the right password is never slowed or locked out by someone guessing at their name.
#[must_use]
pub fn slowdown(failures: u32, threshold: u32) -> Duration {
    if threshold == 0 || failures <= threshold {
        return Duration::ZERO;
    }
    let exponent = (failures - threshold - 1).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_SLOWDOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn counts_refuses_and_resets_per_window() {
        let limiter = Limiter::new(Limit::new(3, Duration::from_secs(60)));
        let t0 = Instant::now();
        let key = ip("192.0.2.1");
        for remaining in [2, 1, 0] {
            let v = limiter.hit(&key, t0).unwrap();
            assert!(!v.limited);
            assert_eq!(v.remaining, remaining);
        }
        let refused = limiter.hit(&key, t0 + Duration::from_secs(10)).unwrap();
        assert!(refused.limited);
        assert_eq!(refused.reset_seconds(), 50);
        assert!(
            !limiter.hit(&ip("192.0.2.2"), t0).unwrap().limited,
            "keys are separate"
        );
        let later = limiter.hit(&key, t0 + Duration::from_secs(60)).unwrap();
        assert!(!later.limited, "a new window starts");
        assert_eq!(later.remaining, 2);
    }

    fn granted<K: Hash + Eq + Clone + std::fmt::Debug>(r: Reserve<'_, K>) -> Reservation<'_, K> {
        match r {
            Reserve::Granted(r) => r,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    #[test]
    fn a_reservation_counts_before_the_check_and_a_refund_gives_it_back() {
        let limiter = Limiter::new(Limit::new(2, Duration::from_secs(60)));
        let t0 = Instant::now();
        let key = ip("192.0.2.1");
        let first = granted(limiter.try_reserve(&key, t0));
        assert_eq!(first.count(), 1);
        assert_eq!(limiter.count(&key, t0), 1, "counted while the check runs");
        assert!(
            matches!(limiter.try_reserve(&key, t0), Reserve::Busy),
            "one check per key at a time"
        );
        assert!(
            matches!(
                limiter.try_reserve(&ip("192.0.2.2"), t0),
                Reserve::Granted(_)
            ),
            "other keys are free"
        );
        let after = first.refund().unwrap();
        assert_eq!(after.remaining, 2);
        assert_eq!(limiter.count(&key, t0), 0, "a right secret costs nothing");
        drop(granted(limiter.try_reserve(&key, t0)));
        assert_eq!(limiter.count(&key, t0), 1, "dropping counts");
        let verdict = granted(limiter.try_reserve(&key, t0)).charge().unwrap();
        assert_eq!(verdict.remaining, 0);
        match limiter.try_reserve(&key, t0) {
            Reserve::Limited(v) => assert!(v.limited && v.remaining == 0),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            limiter.try_reserve(&key, t0 + Duration::from_secs(60)),
            Reserve::Granted(_)
        ));
    }

    #[test]
    fn a_window_does_not_roll_over_under_a_check_in_flight() {
        let limiter = Limiter::new(Limit::new(3, Duration::from_secs(60)));
        let t0 = Instant::now();
        let key = "carol".to_owned();
        let slow = granted(limiter.try_reserve(&key, t0));
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(limiter.try_reserve(&key, later), Reserve::Busy));
        limiter.hit(&key, later);
        assert_eq!(limiter.count(&key, t0), 2, "still the old window");
        slow.refund();
        assert_eq!(
            limiter.count(&key, t0),
            1,
            "the refund went to the window it came from"
        );
        assert_eq!(
            granted(limiter.try_reserve(&key, later)).count(),
            1,
            "then a new one"
        );
    }

    #[test]
    fn counting_only_never_refuses_but_keeps_one_check_at_a_time() {
        let limiter = Limiter::counting_only(Limit::new(2, Duration::from_secs(60)));
        let t0 = Instant::now();
        let key = "dave".to_owned();
        for n in 1..=5 {
            let r = granted(limiter.try_reserve(&key, t0));
            assert_eq!(r.count(), n);
            assert!(matches!(limiter.try_reserve(&key, t0), Reserve::Busy));
        }
    }

    #[test]
    fn an_off_limit_grants_without_holding_anything() {
        let limiter = Limiter::<IpAddr>::new(Limit::OFF);
        let key = ip("192.0.2.9");
        let a = granted(limiter.try_reserve(&key, Instant::now()));
        let b = granted(limiter.try_reserve(&key, Instant::now()));
        assert_eq!((a.verdict(), b.count()), (None, 0));
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn a_busy_window_survives_a_flood_of_keys() {
        let limiter = Limiter::with_capacity(Limit::new(2, Duration::from_secs(1)), 100);
        let t0 = Instant::now();
        let victim = ip("198.51.100.9");
        let held = granted(limiter.try_reserve(&victim, t0));
        for n in 0..10_000u32 {
            limiter.hit(&IpAddr::V4(n.into()), t0 + Duration::from_secs(5));
        }
        assert!(
            matches!(
                limiter.try_reserve(&victim, t0 + Duration::from_secs(5)),
                Reserve::Busy
            ),
            "the check in flight still owns its key"
        );
        drop(held);
    }

    /// Forty attempts at once on one key: exactly five are checked, never two at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_attempts_are_checked_one_at_a_time_and_at_most_max() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let limiter = Arc::new(Limiter::new(Limit::new(5, Duration::from_secs(60))));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (limiter, running, most) = (limiter.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    match limiter.reserve(&"key".to_owned(), BUSY_WAIT).await {
                        Reserve::Granted(slot) => {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            // The "verification": slow enough that the others pile up.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(slot);
                            1
                        }
                        Reserve::Limited(_) => 0,
                        Reserve::Busy => panic!("waited too long"),
                    }
                })
            })
            .collect();
        let mut checked = 0;
        for t in tasks {
            checked += t.await.unwrap();
        }
        assert_eq!(checked, 5);
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_waiting_attempt_gets_the_slot_when_the_check_ends_or_gives_up() {
        let limiter = Limiter::new(Limit::new(5, Duration::from_secs(60)));
        let key = "erin".to_owned();
        let first = granted(limiter.try_reserve(&key, Instant::now()));
        assert!(matches!(
            limiter.reserve(&key, Duration::from_millis(20)).await,
            Reserve::Busy
        ));
        let (second, ()) = tokio::join!(limiter.reserve(&key, BUSY_WAIT), async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            first.refund();
        });
        assert_eq!(granted(second).count(), 1, "the first was refunded");
    }

    #[test]
    fn off_limits_say_nothing() {
        let limiter = Limiter::<IpAddr>::new(Limit::OFF);
        assert_eq!(limiter.hit(&ip("127.0.0.1"), Instant::now()), None);
    }

    #[test]
    fn loopback_is_limited_like_everyone() {
        let limiter = Limiter::new(Limit::new(1, Duration::from_secs(60)));
        let t0 = Instant::now();
        limiter.hit(&ip("127.0.0.1"), t0);
        assert!(limiter.hit(&ip("127.0.0.1"), t0).unwrap().limited);
    }

    #[test]
    fn a_flood_of_keys_stays_bounded_and_keeps_recent_counters() {
        let limiter = Limiter::with_capacity(Limit::new(2, Duration::from_secs(60)), 1000);
        let t0 = Instant::now();
        let victim = ip("198.51.100.7");
        for n in 0..100_000u32 {
            let at = t0 + Duration::from_millis(u64::from(n) / 100);
            limiter.hit(&IpAddr::V4(n.into()), at);
            if n == 99_800 {
                limiter.hit(&victim, at);
                limiter.hit(&victim, at);
            }
            assert!(limiter.tracked() <= 1000);
        }
        assert!(
            limiter
                .hit(&victim, t0 + Duration::from_secs(1))
                .unwrap()
                .limited,
            "a recent counter survives eviction"
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn limits_parse_and_print() {
        assert_eq!(
            "200/1m".parse::<Limit>(),
            Ok(Limit::new(200, Duration::from_secs(60)))
        );
        assert_eq!(
            "5/15m".parse::<Limit>().unwrap().window,
            Duration::from_secs(900)
        );
        assert_eq!("10/h".parse::<Limit>().unwrap().to_string(), "10/1h");
        assert_eq!("0".parse::<Limit>(), Ok(Limit::OFF));
        assert_eq!("off".parse::<Limit>(), Ok(Limit::OFF));
        assert_eq!("30/45s".parse::<Limit>().unwrap().to_string(), "30/45s");
        for bad in ["", "5", "5/", "5/0m", "x/1m", "5/1d", "-1/1m"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn headers_carry_the_window_and_retry_after_only_when_refused() {
        let mut headers = HeaderMap::new();
        let v = Verdict {
            limit: 5,
            remaining: 0,
            reset: Duration::from_millis(1500),
            limited: false,
        };
        v.write_headers(&mut headers);
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-reset"], "2");
        assert!(headers.get(RETRY_AFTER).is_none());
        Verdict { limited: true, ..v }.write_headers(&mut headers);
        assert_eq!(headers[RETRY_AFTER], "2");
    }

    #[test]
    fn slowdown_grows_only_past_the_threshold_and_is_capped() {
        assert_eq!(slowdown(5, 5), Duration::ZERO);
        assert_eq!(slowdown(6, 5), Duration::from_secs(1));
        assert_eq!(slowdown(7, 5), Duration::from_secs(2));
        assert_eq!(slowdown(9, 5), MAX_SLOWDOWN);
        assert_eq!(slowdown(u32::MAX, 5), MAX_SLOWDOWN);
        assert_eq!(slowdown(100, 0), Duration::ZERO, "off");
    }
}
