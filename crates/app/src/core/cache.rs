//! The principal cache: what an authenticated request needs (session → user → rights, API key
//! → owner → scopes) held in memory so the hot path costs no database round trip.
//!
//! Invariants: only credentials that were found valid in the database are cached (junk tokens
//! cannot grow it); every entry is revalidated against the database at most
//! [`REVALIDATE_MS`] after it was last checked (this bounds how stale another node's change
//! can be); changes made by this process evict the affected entries at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use pw_domain::{ApiKeyId, Permission, PrinterId, SessionId, UserId};
use pw_policy::Rights;

/// How long a cached credential is trusted before the database is asked again.
pub(crate) const REVALIDATE_MS: i64 = 5_000;
/// `last_seen_at` / `last_used_at` are written at most this often.
pub(crate) const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub(crate) struct SessionEntry {
    pub session: SessionId,
    pub user: UserId,
    pub stamp: i64,
    pub expires_at: i64,
    pub last_seen: i64,
    pub checked_at: i64,
    /// What the sign-in proved (raised in place when the user sets up a factor in it).
    pub strength: pw_domain::SignInStrength,
}

#[derive(Debug)]
pub(crate) struct UserEntry {
    pub stamp: i64,
    pub username: Arc<str>,
    pub disabled: bool,
    pub rights: Rights,
    /// Profile facts for `GET /auth/me`; every change to them bumps the stamp.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub auth_source: String,
    pub mfa: crate::auth::sessions::MfaState,
    pub groups: Vec<crate::auth::sessions::GroupRef>,
    /// The strictest sign-in requirement of the user's groups.
    pub requirement: pw_domain::SignInRequirement,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    /// A camera token (`pwc_`), not an API key.
    pub camera: bool,
    pub user: UserId,
    pub digest: Vec<u8>,
    pub scopes: BTreeSet<Permission>,
    pub printers: Option<BTreeSet<PrinterId>>,
    pub expires_at: Option<i64>,
    pub last_used: Option<i64>,
    pub checked_at: i64,
}

#[derive(Debug, Default)]
pub(crate) struct PrincipalCache {
    sessions: RwLock<HashMap<[u8; 32], SessionEntry>>,
    users: RwLock<HashMap<UserId, Arc<UserEntry>>>,
    keys: RwLock<HashMap<ApiKeyId, KeyEntry>>,
}

impl PrincipalCache {
    pub fn session(&self, digest: &[u8; 32]) -> Option<SessionEntry> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .cloned()
    }

    pub fn put_session(&self, digest: [u8; 32], entry: SessionEntry) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest, entry);
    }

    pub fn drop_session_digest(&self, digest: &[u8; 32]) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(digest);
    }

    pub fn user(&self, user: UserId) -> Option<Arc<UserEntry>> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .cloned()
    }

    pub fn put_user(&self, user: UserId, entry: Arc<UserEntry>) {
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user, entry);
    }

    pub fn key(&self, id: ApiKeyId) -> Option<KeyEntry> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    pub fn put_key(&self, id: ApiKeyId, entry: KeyEntry) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, entry);
    }

    pub fn forget_key(&self, id: ApiKeyId) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    pub fn forget_user(&self, user: UserId) {
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&user);
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.user != user);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.user != user);
    }

    pub fn forget_session(&self, session: SessionId) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.session != session);
    }

    /// Everything (the authentication switch flipped, settings that affect every principal).
    pub fn clear(&self) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
