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

use crate::middleware::limits::{
    BUSY_WAIT, Limiter, Reservation, Reserve, Verdict, client_key, slowdown,
};
use crate::middleware::shield::Client;
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
            | AppError::EnrolFirst(_)
            | AppError::Internal(_)
            | AppError::Unavailable(_)
            | AppError::ServiceUnavailable(_) => Judged::Charge,
            AppError::BadRequest(_)
            | AppError::UrlNotAllowed(_)
            | AppError::NotFound
            | AppError::Conflict(_)
            | AppError::TooLarge(_)
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

    /// [`Attempt::finish`] for the usual case: the use case's error says whether a secret was
    /// wrong ([`Judged::of`]) and maps to its own API error.
    pub(crate) async fn answer<T>(
        self,
        result: Result<T, AppError>,
        ok: impl FnOnce(T) -> Response,
    ) -> Result<Response, ApiError> {
        self.finish(result, Judged::of, ok, ApiError::from).await
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

#[cfg(test)]
mod tests {
    //! The guard that keeps "reserve before verify" from being forgotten: every use case that
    //! can say "wrong secret" (and the two sign-in ones, which say it as 401/403) is called
    //! only from handlers that hold an [`Attempt`](super::Attempt).

    use std::path::Path;

    /// `(name, body)` of every function in a source file, split at each line that starts a
    /// function (good enough for rustfmt-formatted code).
    fn functions(source: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in source.lines() {
            let trimmed = line.trim_start();
            let head = [
                "pub(crate) async fn ",
                "pub async fn ",
                "async fn ",
                "pub(crate) fn ",
                "pub fn ",
                "fn ",
            ]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
            if let Some(rest) = head {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((name, String::new()));
            }
            if let Some((_, body)) = out.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        out
    }

    /// Every `.rs` file below `dir` (recursively: the crates keep features in folders).
    fn sources(dir: &Path) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for path in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    }

    /// How many handlers in `source` call one of `checks`, and which of them hold no Attempt.
    fn unguarded(checks: &[String], source: &str) -> (usize, Vec<String>) {
        let (mut calls, mut bad) = (0, Vec::new());
        for (handler, body) in functions(source) {
            // Calls are often split over lines (`state\n.app\n.login(`).
            let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            for check in checks {
                if body.contains(&format!(".app.{check}(")) {
                    calls += 1;
                    if !(body.contains("Attempt::") || body.contains("own_attempt(")) {
                        bad.push(format!("{handler} → {check}"));
                    }
                }
            }
        }
        (calls, bad)
    }

    #[test]
    fn the_scan_finds_a_handler_without_an_attempt() {
        let source = "async fn good(state: S) {\n    let attempt = Attempt::code(&state).await?;\n    state\n        .app\n        .enable_totp(x)\n}\n\nasync fn bad(state: S) {\n    state.app.enable_totp(x)\n}\n";
        let (calls, bad) = unguarded(&["enable_totp".to_owned()], source);
        assert_eq!((calls, bad), (2, vec!["bad → enable_totp".to_owned()]));
    }

    #[test]
    fn every_handler_that_checks_a_secret_holds_an_attempt() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checks: Vec<String> = vec!["login".into(), "setup".into()];
        for (_, source) in sources(&root.join("../app/src")) {
            for (name, body) in functions(&source) {
                if body.contains("pub async fn")
                    && (body.contains("WrongSecret(") || body.contains("wrong_code()"))
                {
                    checks.push(name);
                }
            }
        }
        for expected in [
            "complete_challenge",
            "enable_totp",
            "disable_email_otp",
            "change_password",
        ] {
            assert!(
                checks.iter().any(|c| c == expected),
                "the scan missed {expected}: {checks:?}"
            );
        }
        let mut callers = 0;
        for (file, source) in sources(&root.join("src")) {
            let (calls, unguarded) = unguarded(&checks, &source);
            callers += calls;
            assert!(
                unguarded.is_empty(),
                "{file}: {unguarded:?} check a secret without an Attempt (reserve before verify)"
            );
        }
        assert!(callers >= checks.len(), "{callers} callers for {checks:?}");
    }
}
