//! The one client toward Bambu Cloud (`docs/BAMBU-CLOUD.md` §2–5): every call to Bambu goes
//! through [`Upstream::call`], which spends from a global and a per-account budget, retries
//! 429 and 5xx with exponential backoff and jitter (never sooner than `Retry-After`), and
//! passes a circuit breaker that stops calling Bambu for a while after repeated failures.
//! Requests go through the SSRF guard's client (`system::outbound`), to the configured hosts
//! only.
//!
//! Invariants: a token or code is only ever in a request body or `Authorization` header,
//! never in a URL, a log line or an error message (threat: a Bambu token is a password to the
//! user's printers); an answer Bambu gave for one account is cached under that account's key
//! only (threat: one user reading another's devices through a shared cache entry).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use pw_domain::UserId;
use serde_json::Value;

use crate::SecretString;
use crate::system::outbound::{AllowList, Guard, Resolve, read_capped};

/// Bambu's hosts when no stand-in is configured (§1).
const GLOBAL_API: &str = "https://api.bambulab.com";
const CHINA_API: &str = "https://api.bambulab.cn";
const GLOBAL_WEB: &str = "https://bambulab.com";
const CHINA_WEB: &str = "https://bambulab.cn";

/// Attempts per call (the first and two retries).
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// The longest a request waits for a retry in total; a longer `Retry-After` ends the call
/// (the cached answer is served, the breaker records the failure).
const MAX_WAIT: Duration = Duration::from_secs(10);
/// Consecutive failed calls that open the breaker.
pub(crate) const BREAKER_THRESHOLD: u32 = 3;
/// Global budget: calls per second and burst, across every account.
const GLOBAL_RATE: f64 = 5.0;
const GLOBAL_BURST: f64 = 20.0;
/// Per-account budget: calls per second and burst.
const ACCOUNT_RATE: f64 = 1.0;
const ACCOUNT_BURST: f64 = 20.0;
/// The longest a call waits for its budget before giving up.
const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// How the client reaches Bambu (server configuration).
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// One base URL for both the API and the web origin (a stand-in); `None`: Bambu's own
    /// hosts, per region.
    pub api_url: Option<String>,
    /// Extra CA certificates (PEM) to trust instead of the platform's (a stand-in's CA).
    pub ca_pem: Option<String>,
    /// The first retry's delay; each further retry doubles it (with jitter).
    pub backoff_base: Duration,
    /// How long the breaker stays open before one trial call.
    pub breaker_cooldown: Duration,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            api_url: None,
            ca_pem: None,
            backoff_base: Duration::from_secs(1),
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

/// Bambu's region (§1): which hosts an account lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    Global,
    China,
}

impl Region {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "global" => Some(Self::Global),
            "china" => Some(Self::China),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::China => "china",
        }
    }
}

/// Why a call to Bambu failed; every message is safe to show and names no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloudError {
    /// Bambu refused the token (401 with `code: 4` or "Please login."): sign in again.
    SignedOut,
    /// Bambu refused what was typed (400 at sign-in): Bambu's error code and text.
    Refused { code: Option<i64>, text: String },
    /// Not now: throttled, failing or paused (breaker, budget); the cached answer may serve.
    Unavailable(String),
    /// Something else went wrong (network, a malformed answer); details are in the log.
    Failed(String),
}

impl CloudError {
    pub(crate) fn message(&self) -> String {
        match self {
            CloudError::SignedOut => {
                "Bambu Cloud no longer accepts this sign-in; link the account again.".into()
            }
            CloudError::Refused { text, .. } => format!("Bambu Cloud refused it: {text}"),
            CloudError::Unavailable(m) | CloudError::Failed(m) => m.clone(),
        }
    }
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: f64, burst: f64) -> Result<(), Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// The circuit breaker's state.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    /// A trial call is in flight (half-open): every other call fails fast.
    probing: bool,
}

/// One cached answer.
#[derive(Debug, Clone)]
struct Cached {
    value: Value,
    at: Instant,
    at_ms: i64,
}

/// What a read is, for its cache lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Read {
    Devices,
    Profile,
    Tasks,
}

impl Read {
    /// How long an answer stays fresh.
    fn ttl(self) -> Duration {
        match self {
            Read::Devices => Duration::from_secs(60),
            Read::Profile => Duration::from_secs(600),
            Read::Tasks => Duration::from_secs(300),
        }
    }
}

/// The cache key: the user, the link generation (a new sign-in, perhaps to another Bambu
/// account, never sees the old account's answers) and the read.
type Key = (UserId, i64, Read);

/// A call to make.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) method: reqwest::Method,
    /// Path under the API base (or the web origin when `web`).
    pub(crate) path: &'a str,
    pub(crate) web: bool,
    pub(crate) body: Option<Value>,
    pub(crate) bearer: Option<&'a SecretString>,
    /// Extra headers (the CSRF pair of the TFA step; values may be secrets).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: &'a str, bearer: &'a SecretString) -> Self {
        Self {
            method: reqwest::Method::GET,
            path,
            web: false,
            body: None,
            bearer: Some(bearer),
            headers: Vec::new(),
        }
    }

    pub(crate) fn post(path: &'a str, body: Value) -> Self {
        Self {
            method: reqwest::Method::POST,
            path,
            web: false,
            body: Some(body),
            bearer: None,
            headers: Vec::new(),
        }
    }
}

/// An answer: status, JSON body, and the `Set-Cookie` pairs (the TFA step's token cookie).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) json: Value,
    pub(crate) cookies: Vec<(String, SecretString)>,
}

/// The client, its budgets, its breaker and its cache.
#[derive(Debug)]
pub(crate) struct Upstream {
    http: reqwest::Client,
    config: CloudConfig,
    user_agent: String,
    global: Mutex<Bucket>,
    accounts: Mutex<HashMap<UserId, Bucket>>,
    breaker: Mutex<Breaker>,
    cache: Mutex<HashMap<Key, Cached>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// `Retry-After`: seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::from_secs(
        u64::try_from(at.unix_timestamp() - now_unix).unwrap_or(0),
    ))
}

/// Equal jitter: half the exponential delay fixed, half random.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt));
    let half = exp / 2;
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    let fraction = f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX);
    half + half.mul_f64(fraction)
}

/// Whether a 401 body is Bambu's "signed out" answer (§2.5: `code 4` or "Please login.");
/// any other 401 is transient (Bambuddy's tested rule).
fn is_signed_out(json: &Value) -> bool {
    json.get("code").and_then(Value::as_i64) == Some(4)
        || json
            .get("error")
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains("Please login"))
}

impl Upstream {
    pub(crate) fn new(
        config: CloudConfig,
        resolver: std::sync::Arc<dyn Resolve>,
        version: &str,
    ) -> Result<Self, crate::AppError> {
        // The configured stand-in (an operator's setting, never user input) may be on a
        // private address; nothing else is opened.
        let allow: Vec<String> = config.api_url.iter().filter_map(|u| host_of(u)).collect();
        let guard = Guard::new(resolver, AllowList::new(&allow));
        let http = match &config.ca_pem {
            Some(pem) => guard.client_trusting(pem),
            None => guard.client(),
        }
        .map_err(|e| crate::AppError::Internal(Box::new(e)))?;
        Ok(Self {
            http,
            config,
            user_agent: format!("printwarden/{version}"),
            global: Mutex::new(Bucket::new(GLOBAL_BURST)),
            accounts: Mutex::default(),
            breaker: Mutex::default(),
            cache: Mutex::default(),
        })
    }

    fn base(&self, region: Region, web: bool) -> &str {
        if let Some(url) = &self.config.api_url {
            return url.trim_end_matches('/');
        }
        match (region, web) {
            (Region::Global, false) => GLOBAL_API,
            (Region::China, false) => CHINA_API,
            (Region::Global, true) => GLOBAL_WEB,
            (Region::China, true) => CHINA_WEB,
        }
    }

    /// Whether the breaker is open now (for the status line).
    pub(crate) fn paused(&self) -> bool {
        lock(&self.breaker)
            .open_until
            .is_some_and(|t| t > Instant::now())
    }

    /// Admits a call through the breaker: closed, or the one trial call once the cooldown
    /// is over.
    fn admit(&self) -> Result<bool, CloudError> {
        let mut b = lock(&self.breaker);
        match b.open_until {
            None => Ok(false),
            Some(until) if until > Instant::now() || b.probing => Err(CloudError::Unavailable(
                "Bambu Cloud is not answering; printwarden pauses its calls for a while and \
                 shows the last answer it had."
                    .into(),
            )),
            Some(_) => {
                b.probing = true;
                Ok(true)
            }
        }
    }

    fn record(&self, ok: bool) {
        let mut b = lock(&self.breaker);
        b.probing = false;
        if ok {
            *b = Breaker::default();
            return;
        }
        b.failures += 1;
        if b.failures >= BREAKER_THRESHOLD {
            b.open_until = Some(Instant::now() + self.config.breaker_cooldown);
            tracing::warn!(
                failures = b.failures,
                "Bambu Cloud: circuit breaker open, calls paused"
            );
        }
    }

    /// Spends one call from the global and the account's budget, waiting briefly if needed.
    async fn spend(&self, account: UserId) -> Result<(), CloudError> {
        let deadline = Instant::now() + BUDGET_WAIT;
        loop {
            let wait = {
                let mut accounts = lock(&self.accounts);
                let bucket = accounts
                    .entry(account)
                    .or_insert_with(|| Bucket::new(ACCOUNT_BURST));
                match bucket.take(ACCOUNT_RATE, ACCOUNT_BURST) {
                    Err(w) => Some(w),
                    Ok(()) => match lock(&self.global).take(GLOBAL_RATE, GLOBAL_BURST) {
                        Ok(()) => None,
                        Err(w) => {
                            // Give the account's token back: the call did not happen.
                            bucket.tokens += 1.0;
                            Some(w)
                        }
                    },
                }
            };
            match wait {
                None => return Ok(()),
                Some(w) if Instant::now() + w <= deadline => tokio::time::sleep(w).await,
                Some(_) => {
                    return Err(CloudError::Unavailable(
                        "Too many calls to Bambu Cloud right now; try again in a minute.".into(),
                    ));
                }
            }
        }
    }

    /// Makes one call for `account` with retries, budget and breaker. A 4xx answer other
    /// than 429 is returned as is (the caller reads Bambu's error); 401 "signed out" is
    /// [`CloudError::SignedOut`].
    pub(crate) async fn call(
        &self,
        account: UserId,
        region: Region,
        call: &Call<'_>,
    ) -> Result<Answer, CloudError> {
        let url = format!("{}{}", self.base(region, call.web), call.path);
        let mut waited = Duration::ZERO;
        let mut last = CloudError::Unavailable("Bambu Cloud did not answer.".into());
        for attempt in 0..MAX_ATTEMPTS {
            self.admit()?;
            if let Err(e) = self.spend(account).await {
                // Not a failure of Bambu's: the breaker's trial (if this was it) is released.
                lock(&self.breaker).probing = false;
                return Err(e);
            }
            match self.once(&url, call).await {
                Ok(answer) if answer.answer.status == 429 || answer.answer.status >= 500 => {
                    let retry = answer.retry;
                    tracing::info!(
                        status = answer.answer.status,
                        path = call.path,
                        attempt,
                        "Bambu Cloud: throttled or failing, backing off"
                    );
                    last = CloudError::Unavailable(if answer.answer.status == 429 {
                        "Bambu Cloud asks printwarden to slow down; showing the last answer it had."
                            .into()
                    } else {
                        "Bambu Cloud is having trouble; showing the last answer it had.".into()
                    });
                    if attempt + 1 == MAX_ATTEMPTS {
                        break;
                    }
                    let delay =
                        backoff(self.config.backoff_base, attempt).max(retry.unwrap_or_default());
                    if waited + delay > MAX_WAIT {
                        break;
                    }
                    waited += delay;
                    tokio::time::sleep(delay).await;
                }
                Ok(answer) if answer.edge => {
                    // Cloudflare's page: never a sign-out, never retried hot (§8.3).
                    self.record(false);
                    return Err(CloudError::Unavailable(
                        "Bambu Cloud's edge refused the request; try again later.".into(),
                    ));
                }
                Ok(answer) => {
                    self.record(true);
                    if answer.answer.status == 401 && is_signed_out(&answer.answer.json) {
                        return Err(CloudError::SignedOut);
                    }
                    return Ok(answer.answer);
                }
                Err(e) => {
                    tracing::info!(error = %e, path = call.path, attempt, "Bambu Cloud: request failed");
                    last = CloudError::Unavailable(
                        "Bambu Cloud could not be reached; showing the last answer it had.".into(),
                    );
                    if attempt + 1 == MAX_ATTEMPTS {
                        break;
                    }
                    let delay = backoff(self.config.backoff_base, attempt);
                    waited += delay;
                    tokio::time::sleep(delay).await;
                }
            }
        }
        self.record(false);
        Err(last)
    }

    async fn once(&self, url: &str, call: &Call<'_>) -> Result<Raw, String> {
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = call.bearer {
            request = request.bearer_auth(token.expose());
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        // The error's text names the URL (no secret is ever in one) and the cause.
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status().as_u16();
        let now_unix = time::OffsetDateTime::now_utc().unix_timestamp();
        let retry = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now_unix));
        let cookies = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|p| p.split_once('='))
            .map(|(n, v)| (n.trim().to_owned(), SecretString::new(v.trim().to_owned())))
            .collect();
        let json_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let (body, cut) = read_capped(response)
            .await
            .map_err(|e| e.without_url().to_string())?;
        if cut {
            return Err("the answer was larger than allowed".into());
        }
        let json: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) if !json_type || status >= 400 => Value::Null,
                Err(_) => return Err("the answer was not JSON".into()),
            }
        };
        // An HTML page on an error status is Bambu's edge (Cloudflare), not Bambu's API.
        let edge = status >= 400 && status != 429 && status < 500 && !json_type && json.is_null();
        Ok(Raw {
            answer: Answer {
                status,
                json,
                cookies,
            },
            retry,
            edge,
        })
    }

    /// A fresh cached answer, or with `stale`, any cached answer.
    pub(crate) fn cached(&self, key: Key, stale: bool) -> Option<(Value, i64)> {
        let cache = lock(&self.cache);
        let hit = cache.get(&key)?;
        (stale || hit.at.elapsed() < key.2.ttl()).then(|| (hit.value.clone(), hit.at_ms))
    }

    pub(crate) fn remember(&self, key: Key, value: Value, now_ms: i64) {
        lock(&self.cache).insert(
            key,
            Cached {
                value,
                at: Instant::now(),
                at_ms: now_ms,
            },
        );
    }

    /// Forgets every answer cached for `user` (unlink, relink).
    pub(crate) fn forget(&self, user: UserId) {
        lock(&self.cache).retain(|k, _| k.0 != user);
    }
}

/// An answer with what the retry loop needs.
#[derive(Debug)]
struct Raw {
    answer: Answer,
    retry: Option<Duration>,
    edge: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("7", 0), Some(Duration::from_secs(7)));
        let now = 1_445_412_470; // 2015-10-21 07:27:50 UTC
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(retry_after("soon", 0), None);
    }

    #[test]
    fn backoff_doubles_and_stays_within_its_band() {
        let base = Duration::from_millis(100);
        for attempt in 0..4 {
            let exp = base * 2u32.pow(attempt);
            let d = backoff(base, attempt);
            assert!(d >= exp / 2 && d <= exp, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn only_bambus_signed_out_body_means_signed_out() {
        assert!(is_signed_out(
            &serde_json::json!({"code": 4, "error": "Please login.", "message": ""})
        ));
        assert!(!is_signed_out(&serde_json::json!({"code": 7})));
        assert!(!is_signed_out(&Value::Null));
    }

    #[test]
    fn the_bucket_refuses_past_its_burst() {
        let mut b = Bucket::new(2.0);
        assert!(b.take(0.001, 2.0).is_ok());
        assert!(b.take(0.001, 2.0).is_ok());
        assert!(b.take(0.001, 2.0).is_err());
    }
}
