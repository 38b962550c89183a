//! Delivery: the dispatcher that takes audit events off the bounded queue, picks the webhooks
//! whose filter selects them, re-asks policy for each creator, and posts signed requests
//! through the SSRF guard's client with bounded concurrency and retries.
//!
//! Invariant: a slow or failing receiver cannot slow requests or grow memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use pw_domain::UserId;

use super::backlog::{Backlog, LANE, LaneStats};
use super::*;

/// Discord refuses a message longer than this many characters.
const DISCORD_MAX: usize = 2000;

/// Deliveries in flight at once, all webhooks together.
const CONCURRENT: usize = 8;

/// Events routed together (one read of the webhooks and their creators).
const BATCH: usize = 256;

/// Deliveries in flight at once to one webhook: a receiver that hangs holds at most this many
/// of the [`CONCURRENT`] slots, for one timeout, before its circuit pauses it.
const PER_WEBHOOK: usize = 2;

/// Pauses before the second and third attempt of a failed delivery.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];

/// How one attempt ended.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The guard refused the target before anything was sent.
    Refused(Refusal),
    /// The receiver answered.
    Answered(u16),
    /// No answer (connection, TLS).
    Failed(String),
    /// No answer within the guard's time limit: not retried, the receiver hangs.
    TimedOut(String),
}

impl Attempt {
    pub(super) fn retry(&self) -> bool {
        match self {
            Attempt::Refused(_) => false,
            Attempt::Answered(s) => *s == 429 || *s >= 500,
            Attempt::Failed(_) => true,
            Attempt::TimedOut(_) => false,
        }
    }

    pub(super) fn record(&self, at: i64, event: &str) -> DeliveryRecord {
        let (ok, status, error) = match self {
            Attempt::Refused(r) => (false, None, Some(format!("refused: {r}"))),
            Attempt::Answered(s) => (
                (200..300).contains(s),
                Some(*s),
                (!(200..300).contains(s)).then(|| format!("the receiver answered HTTP {s}")),
            ),
            Attempt::Failed(e) | Attempt::TimedOut(e) => (false, None, Some(e.clone())),
        };
        DeliveryRecord {
            at,
            event: event.to_owned(),
            ok,
            status,
            error,
        }
    }
}

/// The SSRF guard and a client built on it; replaced as a whole when the allow-list changes.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub guard: Guard,
    /// The allow-list as the administrator wrote it.
    pub allowed: Vec<String>,
    client: reqwest::Client,
}

impl Outbound {
    pub(crate) fn new(guard: Guard, allowed: Vec<String>) -> Result<Self, AppError> {
        let client = guard
            .client()
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(Self {
            guard,
            allowed,
            client,
        })
    }

    /// One delivery of `event` to `url` in the webhook's format: signed JSON
    /// (`printwarden`), an ntfy push or a Discord message.
    pub(super) async fn post(
        &self,
        url: &str,
        kind: WebhookKind,
        secret: Option<&SecretString>,
        event: &HookEvent,
        delivery: &str,
        now_ms: i64,
    ) -> Attempt {
        let url = match self.guard.check_url(url) {
            Ok(u) => u,
            Err(r) => return Attempt::Refused(r),
        };
        let request = self.client.post(url).header(
            http_header::USER_AGENT,
            concat!("printwarden/", env!("CARGO_PKG_VERSION")),
        );
        let (request, body) = match kind {
            WebhookKind::Printwarden => {
                let body = event.payload();
                let timestamp = now_ms.div_euclid(1000);
                let mut request = request
                    .header(http_header::CONTENT_TYPE, "application/json")
                    .header(EVENT_HEADER, event.event.as_str())
                    .header(DELIVERY_HEADER, delivery)
                    .header(TIMESTAMP_HEADER, timestamp.to_string());
                if let Some(secret) = secret {
                    request = request.header(
                        SIGNATURE_HEADER,
                        webhook_signature(secret.expose().as_bytes(), timestamp, &body),
                    );
                }
                (request, body)
            }
            WebhookKind::Ntfy => {
                let (priority, tags) = event
                    .notice
                    .as_ref()
                    .map_or((3, "memo"), |n| (n.event.priority(), n.event.tags()));
                let mut request = request
                    .header(http_header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header("Title", event.title())
                    .header("Priority", priority.to_string())
                    .header("Tags", tags);
                if let Some(token) = secret {
                    request = request.bearer_auth(token.expose());
                }
                (request, event.text().into_bytes())
            }
            WebhookKind::Discord => {
                let text: String = event.text().chars().take(DISCORD_MAX).collect();
                // No mentions: a file or printer name like "@everyone" must not ping a
                // whole server (threat: anyone who may upload a file paging every member).
                let body = serde_json::json!({
                    "content": text,
                    "allowed_mentions": { "parse": [] },
                })
                .to_string()
                .into_bytes();
                (
                    request.header(http_header::CONTENT_TYPE, "application/json"),
                    body,
                )
            }
        };
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read (capped) and drop the answer so the connection can be reused.
                let _ = crate::system::outbound::read_capped(response).await;
                Attempt::Answered(status)
            }
            Err(e) => match refusal_of(&e) {
                // (Arms below log `e` without its URL: a Discord URL is its token.)
                // What the name server said (no such name, a private answer) reads like any
                // other failure to reach (threat: the test button mapping internal names).
                Some(r) if r.is_from_dns() => {
                    tracing::warn!(refusal = ?r, "webhook receiver not reached");
                    Attempt::Failed(r.to_string())
                }
                Some(r) => Attempt::Refused(r.clone()),
                None => {
                    let words = describe(&e);
                    let timed_out = e.is_timeout();
                    tracing::warn!(error = ?e.without_url(), "webhook receiver not reached");
                    if timed_out {
                        Attempt::TimedOut(words)
                    } else {
                        Attempt::Failed(words)
                    }
                }
            },
        }
    }
}

/// A transport failure in words a user can act on (never the URL's query string). Refused,
/// silent and broken connections read the same (threat: the test button as a port scanner:
/// "refused" marks a closed port, "timed out" a filtered one); the log has the cause.
fn describe(e: &reqwest::Error) -> String {
    if e.is_redirect() {
        "too many redirects".to_owned()
    } else {
        crate::system::outbound::unreachable(
            e.url()
                .and_then(url::Url::host_str)
                .unwrap_or("the receiver"),
        )
    }
}

/// reqwest re-exports `http`'s header names.
mod http_header {
    pub use reqwest::header::{CONTENT_TYPE, USER_AGENT};
}

/// What the background dispatcher needs (not the whole `App`: it must not keep itself alive).
pub(crate) struct Dispatcher {
    pub store: Store,
    pub outbound: Arc<std::sync::RwLock<Arc<Outbound>>>,
    pub sealing: Option<pw_credentials::SealingKey>,
    pub clock: Arc<dyn Clock>,
    pub backlog: Arc<Backlog>,
}

/// One webhook's lane: its own bounded queue and its own deliveries in flight, so a receiver
/// that hangs fills only its own lane (threat: one dead or hostile receiver holding every
/// delivery slot and starving the others).
struct Lane {
    events: mpsc::Sender<(Arc<WebhookRow>, Arc<HookEvent>)>,
    stats: Arc<LaneStats>,
}

impl Dispatcher {
    /// Routes queued events to the lane of every enabled webhook whose filter selects them;
    /// never waits for a delivery (a full lane drops the event for that webhook, counted).
    /// Events waiting together are routed as one batch: the webhooks and their creators'
    /// current rights are read once per batch, after every event in it was queued (so a
    /// creator's lost right still stops the next delivery), not once per event — under a
    /// flood, reading them per event made routing the bottleneck and the intake overflow.
    pub(crate) async fn run(self, mut events: mpsc::Receiver<HookEvent>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        let mut lanes: HashMap<WebhookId, Lane> = HashMap::new();
        let mut batch = Vec::with_capacity(BATCH);
        while events.recv_many(&mut batch, BATCH).await > 0 {
            let hooks = match this.store.enabled_webhooks().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, events = batch.len(), "webhooks not read; events not delivered");
                    this.backlog
                        .intake_dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                    continue;
                }
            };
            // A disabled or deleted webhook's lane ends (its queued events still drain).
            lanes.retain(|id, _| hooks.iter().any(|h| h.id == *id));
            this.backlog.retain(|id| hooks.iter().any(|h| h.id == id));
            let hooks: Vec<Arc<WebhookRow>> = hooks.into_iter().map(Arc::new).collect();
            let mut creators: HashMap<UserId, Option<Principal>> = HashMap::new();
            for event in batch.drain(..) {
                let event = Arc::new(event);
                for hook in &hooks {
                    if !selects(&events_of(hook), &event.event) {
                        continue;
                    }
                    let creator = match hook.created_by {
                        None => None,
                        Some(id) => {
                            if let std::collections::hash_map::Entry::Vacant(slot) =
                                creators.entry(id)
                            {
                                slot.insert(this.principal_of(id).await);
                            }
                            match creators.get(&id) {
                                Some(Some(p)) => Some(p),
                                _ => {
                                    tracing::info!(webhook = %hook.id, "not delivered: the webhook's creator is gone");
                                    continue;
                                }
                            }
                        }
                    };
                    if !creator_may_receive(creator, &event) {
                        tracing::info!(webhook = %hook.id, event = %event.event, "not delivered: the webhook's creator may no longer read this event");
                        continue;
                    }
                    let lane = lanes
                        .entry(hook.id)
                        .or_insert_with(|| this.open_lane(hook.id, &slots));
                    lane.stats.queued.fetch_add(1, Ordering::Relaxed);
                    if lane
                        .events
                        .try_send((Arc::clone(hook), Arc::clone(&event)))
                        .is_err()
                    {
                        lane.stats.queued.fetch_sub(1, Ordering::Relaxed);
                        lane.stats.dropped(this.clock.now_ms());
                        tracing::debug!(webhook = %hook.id, event = %event.event, "webhook lane full; event not delivered");
                    }
                }
            }
        }
    }

    /// Starts the task that delivers one webhook's lane: at most [`PER_WEBHOOK`] in flight, and
    /// none while its receiver is paused (events taken then are dropped and counted).
    fn open_lane(self: &Arc<Self>, id: WebhookId, slots: &Arc<Semaphore>) -> Lane {
        let (tx, mut rx) = mpsc::channel::<(Arc<WebhookRow>, Arc<HookEvent>)>(LANE);
        let stats = self.backlog.lane(id);
        let (this, slots, lane_stats) = (Arc::clone(self), Arc::clone(slots), Arc::clone(&stats));
        let own = Arc::new(Semaphore::new(PER_WEBHOOK));
        tokio::spawn(async move {
            while let Some((hook, event)) = rx.recv().await {
                lane_stats.queued.fetch_sub(1, Ordering::Relaxed);
                let Ok(mine) = Arc::clone(&own).acquire_owned().await else {
                    return;
                };
                if !lane_stats.may_send(this.clock.now_ms()) {
                    lane_stats.dropped(this.clock.now_ms());
                    continue;
                }
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                lane_stats.in_flight.fetch_add(1, Ordering::Relaxed);
                let (this, stats) = (Arc::clone(&this), Arc::clone(&lane_stats));
                tokio::spawn(async move {
                    this.deliver(&hook, &event, &stats).await;
                    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                    drop((slot, mine));
                });
            }
        });
        Lane { events: tx, stats }
    }

    /// The webhook creator's principal with their current rights (deliveries stop when the
    /// creator loses the right, is disabled or is deleted); `None` when they are gone.
    async fn principal_of(&self, creator: UserId) -> Option<Principal> {
        let Ok(Some(user)) = self.store.user(creator).await else {
            return None;
        };
        let Ok(groups) = self.store.groups_of_user(creator).await else {
            return None;
        };
        let subject = Subject {
            disabled: user.disabled,
            ..Subject::session(creator, crate::auth::sessions::rights_of(&groups))
        };
        Some(Principal::User(subject))
    }

    async fn deliver(&self, hook: &WebhookRow, event: &HookEvent, stats: &LaneStats) {
        let opened = hook
            .secret
            .as_deref()
            .map(|s| open_with(self.sealing.as_ref(), s, &secret_context(hook.id)))
            .transpose();
        let opened = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(webhook = %hook.id, error = %e, "webhook secret cannot be opened; not delivered");
                return;
            }
        };
        let kind = WebhookKind::parse(&hook.kind);
        // A Discord webhook's sealed secret is its URL.
        let (url, secret) = match kind {
            WebhookKind::Discord => match opened {
                Some(url) => (url.expose().to_owned(), None),
                None => return,
            },
            _ => (hook.url.clone(), opened),
        };
        let Ok(delivery) = random::<16>().map(hex::encode) else {
            return;
        };
        let mut attempt = None;
        for pause in std::iter::once(Duration::ZERO).chain(RETRY_AFTER) {
            tokio::time::sleep(pause).await;
            let outbound = current(&self.outbound);
            let now = self.clock.now_ms();
            let a = outbound
                .post(&url, kind, secret.as_ref(), event, &delivery, now)
                .await;
            let retry = a.retry();
            match &a {
                Attempt::Answered(_) => stats.answered(),
                // A receiver that hangs is not asked again and again: its circuit pauses it
                // (threat: each queued event holding a slot for the whole timeout).
                Attempt::TimedOut(_) => stats.missed(self.clock.now_ms()),
                Attempt::Failed(_) | Attempt::Refused(_) => {}
            }
            attempt = Some(a);
            if !retry {
                break;
            }
        }
        if let Some(a) = attempt {
            if let Attempt::Failed(_) = &a {
                stats.missed(self.clock.now_ms());
            }
            if let Attempt::Refused(r) = &a {
                tracing::warn!(webhook = %hook.id, refusal = %r, "webhook delivery refused by the SSRF guard");
            }
            let record = a.record(self.clock.now_ms(), &event.event);
            if let Err(e) = self.store.record_delivery(hook.id, &record).await {
                tracing::warn!(webhook = %hook.id, error = %e, "delivery outcome not recorded");
            }
        }
    }
}

/// Whether the webhook's creator may read this event, asked of policy. A webhook without a
/// creator (`None`) was made by the process or while authentication was off, by the operator.
fn creator_may_receive(creator: Option<&Principal>, event: &HookEvent) -> bool {
    let Some(principal) = creator else {
        return true;
    };
    if let Some(notice) = &event.notice {
        // Asked per printer and item, like a request of theirs for it would be.
        return notice.readable_by(principal);
    }
    let wanted = filter_rights(std::slice::from_ref(&event.event));
    wanted
        .permissions()
        .all(|p| authorize(principal, Action::Perform(p), &Target::Global).is_allowed())
}

pub(super) fn current(outbound: &std::sync::RwLock<Arc<Outbound>>) -> Arc<Outbound> {
    Arc::clone(
        &outbound
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}
