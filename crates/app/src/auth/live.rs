//! Live access (sockets and streams) follows every revocation: one event type on one bus
//! ([`Revocation`], published by session revoke, rights change, user disable/delete, API key
//! and camera-token revoke, printer moved or deleted), one subscriber path ([`LiveUpdates`]),
//! and one re-check ([`App::reauthorize`]) that resolves the socket's credential again through
//! the normal resolver, so the socket then asks policy with what the credential holds *now*.
//!
//! Invariant: a live socket or stream re-checks within a second of any revocation event (and
//! every [`RECHECK_EVERY`] for changes made by another process, such as the CLI) and ends, or
//! drops what is no longer visible, when access is gone. Threat: a stream that keeps flowing
//! after the token, key, session or scope that opened it was taken away.

use std::time::Duration;

use pw_credentials::SecretString;
use pw_domain::{SessionId, UserId};
use pw_policy::{Credential, Principal};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::auth::tickets::TicketOrigin;
use crate::{Actor, App, Presented, RequestMeta};

/// How often a live socket re-checks without an event (changes another process made).
pub const RECHECK_EVERY: Duration = Duration::from_secs(15);

/// What a live socket re-checks: the credential it was opened with.
#[derive(Debug, Clone)]
pub struct LiveCredential(Kind);

#[derive(Debug, Clone)]
enum Kind {
    /// A session token (cookie, `?token=` or first message): resolved again.
    Session(SecretString),
    /// An API key or camera token: resolved again.
    Key(SecretString),
    /// A redeemed ticket: single-use, so its bounds are derived again from where it came from
    /// (its user's current rights, the minting key or session, its purpose and printer).
    Ticket(TicketOrigin),
    /// Opened while authentication was off: valid only while it stays off.
    AuthOff,
    /// No credential: never valid.
    Nothing,
}

/// A live socket's subscription to the revocation bus.
#[derive(Debug)]
pub struct LiveUpdates {
    revocations: broadcast::Receiver<Revocation>,
    tick: tokio::time::Interval,
}

impl LiveUpdates {
    /// Resolves when the socket must re-check: on any revocation event (a lagged bus counts as
    /// one), or every [`RECHECK_EVERY`].
    pub async fn changed(&mut self) {
        tokio::select! {
            received = self.revocations.recv() => {
                if matches!(received, Err(RecvError::Closed)) {
                    // The application is shutting down: only the timer is left.
                    self.tick.tick().await;
                }
            }
            _ = self.tick.tick() => {}
        }
    }
}

impl App {
    /// The credential a live socket keeps for its re-checks, from what the request presented
    /// and what it resolved to (a ticket is used up by then: its subject is kept instead).
    #[must_use]
    pub fn live_credential(&self, presented: Presented<'_>, actor: &Actor) -> LiveCredential {
        let kind = match (&actor.principal, presented.api_key, presented.session) {
            (Principal::AuthDisabled, _, _) => Kind::AuthOff,
            (Principal::User(_), Some(key), _) => Kind::Key(SecretString::new(key.to_owned())),
            (Principal::User(_), None, Some(token)) => {
                Kind::Session(SecretString::new(token.to_owned()))
            }
            (Principal::User(s), None, None) => match s.credential {
                Credential::Ticket(purpose) => Kind::Ticket(TicketOrigin {
                    user: s.user_id,
                    purpose,
                    printers: s.printer_restriction.clone(),
                    api_key: actor.api_key,
                    session: actor.session,
                }),
                _ => Kind::Nothing,
            },
            _ => Kind::Nothing,
        };
        LiveCredential(kind)
    }

    /// The live sockets' subscription: take it before the first authorization, so no event
    /// between that check and the subscription is missed.
    #[must_use]
    pub fn live_updates(&self) -> LiveUpdates {
        let mut tick = tokio::time::interval(RECHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        LiveUpdates {
            revocations: self.subscribe_revocations(),
            tick,
        }
    }

    /// Who the live credential stands for now, through the normal resolver: anonymous when it
    /// no longer resolves (revoked, expired, user disabled or deleted).
    pub async fn reauthorize(&self, credential: &LiveCredential, meta: &RequestMeta) -> Actor {
        match &credential.0 {
            Kind::Session(token) => {
                let presented = Presented {
                    session: Some(token.expose()),
                    ..Presented::default()
                };
                self.resolve(presented, meta.clone()).await
            }
            Kind::Key(key) => {
                let presented = Presented {
                    api_key: Some(key.expose()),
                    ..Presented::default()
                };
                self.resolve(presented, meta.clone()).await
            }
            Kind::Ticket(origin) => self.ticket_now(origin, meta).await,
            Kind::AuthOff if !self.auth_enabled() => {
                self.resolve(Presented::default(), meta.clone()).await
            }
            Kind::AuthOff | Kind::Nothing => Actor::anonymous(meta.clone()),
        }
    }

    /// A redeemed ticket's bounds as they are now; anonymous once its user is gone or
    /// disabled, or the key or session that minted it is revoked.
    async fn ticket_now(&self, origin: &TicketOrigin, meta: &RequestMeta) -> Actor {
        if !self.auth_enabled() {
            return self.resolve(Presented::default(), meta.clone()).await;
        }
        let Some((subject, user)) = self.ticket_bounds(origin).await else {
            return Actor::anonymous(meta.clone());
        };
        Actor {
            principal: Principal::User(subject),
            user_id: Some(origin.user),
            name: user.entry.username.clone(),
            session: origin.session,
            api_key: origin.api_key,
            meta: meta.clone(),
        }
    }

    /// Something that may narrow someone's live access changed (a key or camera token revoked,
    /// a printer moved or deleted): every live socket re-checks.
    pub(crate) fn access_changed(&self) {
        // No receiver is fine: nothing live to re-check.
        let _ = self.revocations.send(Revocation::Access);
    }
}

/// Access was taken away somewhere: live sockets and streams re-check their credential
/// ([`LiveUpdates`]) and end when it no longer grants what they show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Everything of this user (password, rights, disable, delete).
    User(UserId),
    /// One session.
    Session(SessionId),
    /// Anything else that may narrow access: an API key or camera token revoked, a printer
    /// moved to another location or deleted.
    Access,
}

impl App {
    /// Live connections subscribe here and close when their user or session is revoked.
    #[must_use]
    pub fn subscribe_revocations(&self) -> broadcast::Receiver<Revocation> {
        self.revocations.subscribe()
    }

    /// Drops cached principals of these users and tells live connections to close.
    pub(crate) fn revoke_users(&self, users: &[UserId]) {
        for user in users {
            self.cache.forget_user(*user);
            // No receiver is fine: nothing live to close.
            let _ = self.revocations.send(Revocation::User(*user));
        }
    }

    pub(crate) fn revoke_session(&self, session: SessionId) {
        self.cache.forget_session(session);
        let _ = self.revocations.send(Revocation::Session(session));
    }
}
