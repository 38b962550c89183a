//! The fixed-window counters of one kind of event, in bounded memory, and the reservations
//! that make a secret check count before it runs (reserve before verify, see the parent
//! module). Invariant: a key with a check in flight is never reset or evicted.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Limit, MAX_KEYS, Verdict};

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
