//! Reserve before verify, for every check of a secret a client types: the sign-in password, the
//! setup code, second-factor codes, and the current password or code that the account's own
//! security changes ask for. One [`Attempt`] per check takes a slot on every limiter that
//! applies *before* the secret is looked at, and [`Attempt::finish`] settles them all from the
//! use case's answer: a right secret (or a request that never reached a check) gives the slots
//! back, a wrong one keeps them counted. Anything else — an error, a cancelled request —
//! drops the attempt, which counts it.
//!
//! Invariants: at most one check per client address and per account runs at a time; a second
//! attempt waits for the first (at most [`BUSY_WAIT`]) and is then refused with 429. Threat:
//! the throttle used to peek, verify, then count, so forty guesses sent at once from one address
//! were all verified against a limit of five, and nine codes on one challenge.

use std::net::IpAddr;
use std::time::Duration;

use axum::response::Response;
use pw_app::AppError;
use pw_domain::{UserId, Username};

use crate::limits::{BUSY_WAIT, Limiter, Reservation, Reserve, Verdict, client_key, slowdown};
use crate::shield::Client;
use crate::{ApiError, AppState};

/// What the use case's answer means for the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judged {
    /// The secret was right, or no secret was judged (the request failed before any check):
    /// the slots are given back.
    Refund,
    /// The secret was wrong: the slots stay counted.
    Charge,
}

impl Judged {
    /// The usual reading of a use case's error: a wrong secret, a refused sign-in or setup code,
    /// or an unexpected failure count; an answer about the request itself (bad input, a
    /// conflict, nothing there) means no secret was judged.
    pub(crate) fn of(e: &AppError) -> Self {
        match e {
            AppError::WrongSecret(_)
            | AppError::Unauthenticated
            | AppError::Forbidden
            | AppError::Internal(_)
            | AppError::Unavailable(_) => Judged::Charge,
            AppError::BadRequest(_)
            | AppError::UrlNotAllowed(_)
            | AppError::NotFound
            | AppError::Conflict(_)
            | AppError::RateLimited(_) => Judged::Refund,
        }
    }
}

/// The slots held for one check of a secret.
pub(crate) struct Attempt<'a> {
    by_ip: Reservation<'a, IpAddr>,
    by_account: Option<Reservation<'a, String>>,
    /// For sign-ins: the per-account failures past which a failure's answer is held back.
    slowdown_after: Option<u32>,
}

/// A 429 for an attempt that could not get its slot.
fn refused(answer: Option<Verdict>) -> ApiError {
    match answer {
        Some(v) => ApiError::rate_limited().with_limit(v),
        None => ApiError::rate_limited_with(
            "Another attempt on this account or from this address is still being checked. Try again in a moment.",
        )
        .with_limit(Verdict {
            limit: 0,
            remaining: 0,
            reset: Duration::from_secs(1),
            limited: true,
        }),
    }
}

async fn take<'a, K: std::hash::Hash + Eq + Clone>(
    limiter: &'a Limiter<K>,
    key: &K,
    client: &Client,
    what: &'static str,
) -> Result<Reservation<'a, K>, ApiError> {
    match limiter.reserve(key, BUSY_WAIT).await {
        Reserve::Granted(slot) => Ok(slot),
        Reserve::Limited(v) => {
            tracing::info!(client = %client.ip, limit = what, "rate limit reached");
            Err(refused(Some(v)))
        }
        Reserve::Busy => {
            tracing::info!(client = %client.ip, limit = what, "attempt refused: another check still running");
            Err(refused(None))
        }
    }
}

impl<'a> Attempt<'a> {
    /// A sign-in password or the setup code: refused once the client address has used up its
    /// failures; the account (the name as typed, folded like a username) is never refused for
    /// its count, but checked one attempt at a time and its failures past the limit are slowed.
    pub(crate) async fn sign_in(
        state: &'a AppState,
        client: &Client,
        account: Option<&str>,
    ) -> Result<Self, ApiError> {
        let limits = &state.shield.limits;
        let by_ip = take(&limits.login_ip, &client_key(client.ip), client, "sign-in").await?;
        let by_account = match account {
            Some(name) => {
                // If this wait fails, `by_ip` is handed back: no secret was checked.
                match take(&limits.login_account, &account_key(name), client, "account").await {
                    Ok(slot) => Some(slot),
                    Err(e) => {
                        by_ip.refund();
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        Ok(Self {
            by_ip,
            by_account,
            slowdown_after: Some(limits.login_account.limit().max),
        })
    }

    /// A second-factor code, or the password or code that one of the signed-in user's own
    /// security changes asks for: refused once the client address or the user has used up
    /// their failures.
    pub(crate) async fn code(
        state: &'a AppState,
        client: &Client,
        user: UserId,
    ) -> Result<Self, ApiError> {
        let limits = &state.shield.limits;
        let by_ip = take(
            &limits.mfa_ip,
            &client_key(client.ip),
            client,
            "second factor",
        )
        .await?;
        let by_user = match take(&limits.mfa_user, &user.to_string(), client, "user").await {
            Ok(slot) => slot,
            Err(e) => {
                by_ip.refund();
                return Err(e);
            }
        };
        Ok(Self {
            by_ip,
            by_account: Some(by_user),
            slowdown_after: None,
        })
    }

    /// Settles the slots; returns the verdict for the answer's limit headers and, for a failed
    /// sign-in past the account's threshold, how long to hold the answer back.
    fn settle(self, judged: Judged) -> (Option<Verdict>, Duration) {
        let failures = self.by_account.as_ref().map_or(0, Reservation::count);
        let wait = match (judged, self.slowdown_after) {
            (Judged::Charge, Some(threshold)) => slowdown(failures, threshold),
            _ => Duration::ZERO,
        };
        let (ip, account) = match judged {
            Judged::Refund => (
                self.by_ip.refund(),
                self.by_account.and_then(Reservation::refund),
            ),
            Judged::Charge => (
                self.by_ip.charge(),
                self.by_account.and_then(Reservation::charge),
            ),
        };
        let verdict = if self.slowdown_after.is_some() {
            // The account's count is a slowdown, not a limit the client can run into.
            ip
        } else {
            ip.or(account)
        };
        (verdict, wait)
    }

    /// Settles the slots from a use case's answer (`judge` says what an error means) and maps
    /// it: `ok` for a value, `wrong` for an error (its limit headers attached). The slots are
    /// released before a failed sign-in is held back, so the slowdown never blocks the owner.
    pub(crate) async fn finish<T>(
        self,
        result: Result<T, AppError>,
        judge: impl FnOnce(&AppError) -> Judged,
        ok: impl FnOnce(T) -> Response,
        wrong: impl FnOnce(AppError) -> ApiError,
    ) -> Result<Response, ApiError> {
        match result {
            Ok(value) => {
                let (verdict, _) = self.settle(Judged::Refund);
                let mut response = ok(value);
                if let Some(v) = verdict {
                    v.write_headers(response.headers_mut());
                }
                Ok(response)
            }
            Err(e) => {
                let (verdict, wait) = self.settle(judge(&e));
                if !wait.is_zero() {
                    tracing::info!(
                        wait_ms = wait.as_millis(),
                        "slowing failed sign-ins on one account"
                    );
                    tokio::time::sleep(wait).await;
                }
                let error = wrong(e);
                Err(match verdict {
                    Some(v) => error.with_limit(v),
                    None => error,
                })
            }
        }
    }
}

/// The per-account key of a typed sign-in name: folded like a username when it is one (so
/// `ＡＤＭＩＮ` and `Admin` are one account's count), else lower case.
fn account_key(name: &str) -> String {
    Username::parse(name).map_or_else(|_| name.trim().to_lowercase(), |u| u.key())
}
