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
//!
//! Layout: this module holds the limits (`Limit`, `Verdict`, the configured `LimitSettings`,
//! the live `RateLimits`, the per-account slowdown and the client key); `limiter` holds the
//! counters and reservations; `tests` exercises both.

mod limiter;
#[cfg(test)]
mod tests;

pub use limiter::{BUSY_WAIT, Limiter, Reservation, Reserve};

use std::net::IpAddr;
use std::time::Duration;

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
    /// OpenID Connect authorize redirects per client IP ([`OIDC_AUTHORIZE`]; on while sign-in
    /// limits are on). Threat: each one stores a state row and may make us fetch discovery.
    pub oidc_ip: Limiter<IpAddr>,
}

/// Authorize redirects per client IP.
pub const OIDC_AUTHORIZE: Limit = Limit::new(20, Duration::from_secs(60));

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
            oidc_ip: Limiter::new(if s.login.is_on() {
                OIDC_AUTHORIZE
            } else {
                Limit::OFF
            }),
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
