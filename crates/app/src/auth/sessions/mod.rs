//! Setup, login, logout, sessions, password change and principal resolution (S2).
//!
//! Invariants: an unknown user costs the same argon2id work as a known one (no enumeration by
//! timing); login always mints a new token and ends the session the request came with
//! (threat: session fixation); the cookie value is never stored, only its SHA-256.

use std::collections::BTreeSet;
use std::sync::Arc;

use pw_credentials::password::{
    Verified, check_new_password, hash_password, verify_dummy, verify_password,
};
use pw_credentials::token::{
    KeyKind, TOKEN_BYTES, digest, is_session_token, matches_digest, new_session_token, parse_key,
};
use pw_credentials::{SETUP_CODE_RANDOM_BYTES, SecretString, setup_code_from, setup_code_matches};
use pw_domain::{
    ApiKeyId, Email, GroupId, Permission, PrinterId, SessionId, SystemGroup, UserId, Username,
};
use pw_policy::{Credential, Principal, Rights, Subject};
use pw_store::{GroupRow, NewSession, NewUser, UserPatch};
use serde::Serialize;

use crate::auth::mfa::SignIn;
use crate::auth::tickets::TicketOrigin;
use crate::core::cache::{KeyEntry, REVALIDATE_MS, SessionEntry, TOUCH_EVERY_MS, UserEntry};
use crate::core::clock::{random, rfc3339};
use crate::farm::camera_tokens::CAMERA_KIND;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Done, Presented, RequestMeta};

/// `POST /api/v1/auth/setup`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The code from the console / `<data>/setup-code`.
    #[schema(value_type = String, format = Password)]
    pub setup_code: SecretString,
    /// The first administrator's name.
    pub username: String,
    /// Their password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Optional address.
    #[serde(default)]
    pub email: Option<String>,
}

/// A successful sign-in: who, and the new session token for the cookie.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The signed-in user.
    pub user: MeView,
    /// The cookie value.
    pub token: SecretString,
}

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeView {
    /// Null while authentication is off and nobody is signed in.
    pub id: Option<UserId>,
    /// Username.
    pub username: Option<String>,
    /// Address.
    pub email: Option<String>,
    /// `local`.
    pub auth_source: Option<String>,
    /// Groups.
    pub groups: Vec<GroupRef>,
    /// Effective permissions, in catalogue order.
    pub permissions: Vec<Permission>,
    /// Second factors.
    pub mfa: MfaState,
    /// True while authentication is switched off.
    pub auth_disabled: bool,
}

/// A group, by id and name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupRef {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
}

/// Which second factors are set up.
#[derive(Debug, Clone, Copy, Serialize, Default, utoipa::ToSchema)]
pub struct MfaState {
    /// TOTP enrolled.
    pub totp: bool,
    /// Email codes enabled.
    pub email: bool,
    /// Registered passkeys.
    pub passkeys: u32,
}

/// One row of `GET /api/v1/auth/sessions`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Id.
    pub id: SessionId,
    /// The session this request came with.
    pub current: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen_at: String,
    /// RFC 3339: the absolute end.
    pub expires_at: String,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// Browser at sign-in.
    pub user_agent: Option<String>,
}

const USER_AGENT_MAX: usize = 256;

/// The rights a set of groups grants. System groups carry their rights in code; an unknown
/// permission string in a row (a right removed from the catalogue) is ignored.
pub(crate) fn rights_of(groups: &[GroupRow]) -> Rights {
    let mut rights = Rights::none();
    for g in groups {
        let system = g
            .is_system
            .then(|| SystemGroup::from_key(&g.name.key()))
            .flatten();
        let permissions: Vec<Permission> = match system {
            Some(s) => s.permissions(),
            None => g
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect(),
        };
        let scope = g
            .scope
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        rights.grant_group(permissions, scope.as_ref());
    }
    rights
}

impl App {
    /// Resolves the credentials of a request into an [`Actor`]. Fails closed: anything that
    /// cannot be verified is anonymous. Served from memory except when an entry is new or due
    /// for revalidation.
    pub async fn resolve(&self, presented: Presented<'_>, meta: RequestMeta) -> Actor {
        let now = self.now();
        let mut ticket_origin: Option<TicketOrigin> = None;
        let resolved = match (presented.api_key, presented.session, presented.ticket) {
            (Some(key), _, _) => self.resolve_key(key, now).await,
            (None, Some(token), _) => self.resolve_session(token, now).await,
            (None, None, Some(ticket)) => {
                self.resolve_ticket(ticket)
                    .await
                    .map(|(subject, user, origin)| {
                        // A ticket rides on the credential that minted it: a revoked session
                        // or key ends what the ticket opened.
                        ticket_origin = Some(origin);
                        (
                            subject,
                            user,
                            ticket_origin.as_ref().and_then(|o| o.session),
                        )
                    })
            }
            (None, None, None) => None,
        };
        let auth_on = self.auth_enabled();
        let api_key = match &resolved {
            Some((s, _, _))
                if matches!(s.credential, Credential::ApiKey | Credential::CameraToken) =>
            {
                presented
                    .api_key
                    .and_then(parse_key)
                    .map(|(_, id, _)| ApiKeyId::from_db(id))
            }
            _ => ticket_origin.as_ref().and_then(|o| o.api_key),
        };
        match resolved {
            Some((subject, user, session)) => Actor {
                principal: if auth_on {
                    Principal::User(subject)
                } else {
                    Principal::AuthDisabled
                },
                user_id: Some(user.id),
                name: user.entry.username.clone(),
                session,
                api_key,
                meta,
            },
            None if auth_on => Actor::anonymous(meta),
            None => Actor {
                principal: Principal::AuthDisabled,
                user_id: None,
                name: Arc::from("auth-disabled"),
                session: None,
                api_key: None,
                meta,
            },
        }
    }

    /// Compatibility with callers that only need the principal.
    pub async fn resolve_principal(&self, presented: Presented<'_>) -> Principal {
        self.resolve(presented, RequestMeta::default())
            .await
            .principal
    }

    async fn resolve_session(
        &self,
        token: &str,
        now: i64,
    ) -> Option<(Subject, Arc<UserEntryRef>, Option<SessionId>)> {
        if !is_session_token(token) {
            return None;
        }
        let key = digest(token);
        let idle = duration_ms(self.config.session_idle);
        let mut entry = match self.cache.session(&key) {
            Some(e) if now - e.checked_at < REVALIDATE_MS => e,
            _ => {
                let (row, stamp) = self
                    .store
                    .session_by_digest(&hex::encode(key))
                    .await
                    .ok()??;
                let previous = self.cache.session(&key);
                SessionEntry {
                    session: row.id,
                    user: row.user_id,
                    stamp,
                    expires_at: row.expires_at,
                    last_seen: previous
                        .map_or(row.last_seen_at, |p| p.last_seen.max(row.last_seen_at)),
                    checked_at: now,
                }
            }
        };
        if now >= entry.expires_at || now - entry.last_seen >= idle {
            self.cache.drop_session_digest(&key);
            let _ = self.store.delete_session(entry.user, entry.session).await;
            return None;
        }
        if now - entry.last_seen >= TOUCH_EVERY_MS {
            entry.last_seen = now;
            let store = self.store.clone();
            let session = entry.session;
            // Off the request path: a slow disk must not slow every authenticated request.
            tokio::spawn(async move {
                if let Err(e) = store.touch_session(session, now).await {
                    tracing::warn!(error = %e, "could not record session activity");
                }
            });
        }
        let user = self.user_entry(entry.user, entry.stamp).await?;
        if user.entry.disabled {
            return None;
        }
        self.cache.put_session(key, entry.clone());
        let subject = Subject::session(entry.user, user.entry.rights.clone());
        Some((subject, user, Some(entry.session)))
    }

    async fn resolve_ticket(
        &self,
        ticket: &str,
    ) -> Option<(Subject, Arc<UserEntryRef>, TicketOrigin)> {
        let origin = self.redeem_ticket(ticket).await?;
        let (subject, user) = self.ticket_bounds(&origin).await?;
        Some((subject, user, origin))
    }

    /// What a ticket grants *now*: the owner's current rights, ∩ the minting key's scopes and
    /// printer list (a revoked or expired key's tickets grant nothing), ∩ the rights its
    /// purpose needs, ∩ its printer; nothing once the minting session is gone. Used when the
    /// ticket is redeemed and at every re-check of the socket it opened.
    pub(crate) async fn ticket_bounds(
        &self,
        origin: &TicketOrigin,
    ) -> Option<(Subject, Arc<UserEntryRef>)> {
        if let Some(session) = origin.session {
            // Threat: a stream opened with a ticket outliving the sign-out that should end it.
            self.store.session_stamp(session).await.ok()??;
        }
        let stamp = self.store.user(origin.user).await.ok()??.security_stamp;
        let user = self.user_entry(origin.user, stamp).await?;
        if user.entry.disabled {
            return None;
        }
        let mut subject = Subject {
            credential: Credential::Ticket(origin.purpose),
            printer_restriction: origin.printers.clone(),
            ..Subject::session(origin.user, Rights::none())
        };
        let mut rights = user.entry.rights.clone();
        if let Some(id) = origin.api_key {
            let row = self.store.api_key(id).await.ok()??;
            if row.user_id != origin.user
                || row.kind == CAMERA_KIND
                || row.expires_at.is_some_and(|t| self.now() >= t)
            {
                return None;
            }
            let scopes: BTreeSet<Permission> = serde_json::from_str::<Vec<String>>(&row.scopes)
                .ok()?
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect();
            rights = rights.restricted_to(&scopes);
            if let Some(json) = row.printer_ids.as_deref() {
                let list = serde_json::from_str::<BTreeSet<PrinterId>>(json).ok()?;
                subject.printer_restriction = Some(match subject.printer_restriction.take() {
                    Some(mine) => mine.intersection(&list).copied().collect(),
                    None => list,
                });
            }
        }
        subject.rights =
            rights.restricted_to(&origin.purpose.permissions().iter().copied().collect());
        Some((subject, user))
    }

    async fn resolve_key(
        &self,
        key: &str,
        now: i64,
    ) -> Option<(Subject, Arc<UserEntryRef>, Option<SessionId>)> {
        let (kind, raw_id, secret) = parse_key(key)?;
        let id = ApiKeyId::from_db(raw_id);
        let mut entry = match self.cache.key(id) {
            Some(e) if now - e.checked_at < REVALIDATE_MS => e,
            _ => {
                let row = self.store.api_key(id).await.ok()??;
                let scopes: BTreeSet<Permission> = serde_json::from_str::<Vec<String>>(&row.scopes)
                    .ok()?
                    .iter()
                    .filter_map(|p| Permission::parse(p))
                    .collect();
                let printers = match row.printer_ids.as_deref() {
                    Some(json) => Some(serde_json::from_str::<BTreeSet<PrinterId>>(json).ok()?),
                    None => None,
                };
                KeyEntry {
                    camera: row.kind == CAMERA_KIND,
                    user: row.user_id,
                    digest: hex::decode(&row.secret_digest).ok()?,
                    scopes,
                    printers,
                    expires_at: row.expires_at,
                    last_used: row.last_used_at,
                    checked_at: now,
                }
            }
        };
        // Constant-time: the id is public, the secret is what is being guessed.
        if !matches_digest(secret, &entry.digest) {
            return None;
        }
        // The prefix must name the row's kind: a camera token re-prefixed `pwk_` is no key.
        if entry.camera != (kind == KeyKind::Camera) {
            return None;
        }
        if entry.expires_at.is_some_and(|t| now >= t) {
            return None;
        }
        let stamp = self.current_stamp(entry.user, &entry).await?;
        let user = self.user_entry(entry.user, stamp).await?;
        if user.entry.disabled {
            return None;
        }
        if entry.last_used.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            entry.last_used = Some(now);
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(id, now).await {
                    tracing::warn!(error = %e, "could not record API key use");
                }
            });
        }
        self.cache.put_key(id, entry.clone());
        let subject = Subject {
            credential: if entry.camera {
                Credential::CameraToken
            } else {
                Credential::ApiKey
            },
            rights: user.entry.rights.restricted_to(&entry.scopes),
            printer_restriction: entry.printers.clone(),
            ..Subject::session(entry.user, Rights::none())
        };
        Some((subject, user, None))
    }

    /// The owner's stamp for a key: the cached user's when the key entry is fresh, else read.
    async fn current_stamp(&self, user: UserId, entry: &KeyEntry) -> Option<i64> {
        match self.cache.user(user) {
            Some(u) if self.now() - entry.checked_at < REVALIDATE_MS => Some(u.stamp),
            _ => self.store.user(user).await.ok()?.map(|u| u.security_stamp),
        }
    }

    /// The cached user with rights, reloaded when the stamp moved.
    pub(crate) async fn user_entry(&self, user: UserId, stamp: i64) -> Option<Arc<UserEntryRef>> {
        if let Some(entry) = self.cache.user(user)
            && entry.stamp == stamp
        {
            return Some(Arc::new(UserEntryRef { id: user, entry }));
        }
        let entry = self.load_user_entry(user).await.ok()??;
        Some(Arc::new(UserEntryRef { id: user, entry }))
    }

    /// Reads a user and their groups (two queries) into the cache.
    async fn load_user_entry(&self, user: UserId) -> Result<Option<Arc<UserEntry>>, AppError> {
        let Some(row) = self.store.user(user).await? else {
            return Ok(None);
        };
        let groups = self.store.groups_of_user(user).await?;
        let entry = Arc::new(UserEntry {
            stamp: row.security_stamp,
            username: Arc::from(row.username.as_str()),
            disabled: row.disabled,
            rights: rights_of(&groups),
            email: row.email.as_ref().map(|e| e.as_str().to_owned()),
            auth_source: row.auth_source.clone(),
            mfa: MfaState::from(&self.store.user_mfa(user).await?),
            groups: groups
                .iter()
                .map(|g| GroupRef {
                    id: g.id,
                    name: g.name.as_str().to_owned(),
                })
                .collect(),
        });
        self.cache.put_user(user, entry.clone());
        Ok(Some(entry))
    }

    /// `POST /api/v1/auth/setup`: claims the instance with the one-time code.
    pub async fn setup(
        &self,
        req: SetupRequest,
        meta: RequestMeta,
    ) -> Result<LoginOutcome, AppError> {
        // Held for the whole operation: two setups racing with the right code cannot both win.
        let mut code = self.setup_code.lock().await;
        if self.administrator_exists().await? {
            return Err(AppError::Conflict(
                "This instance is already set up.".into(),
            ));
        }
        let valid = code
            .as_ref()
            .is_some_and(|c| setup_code_matches(c, req.setup_code.expose()));
        if !valid {
            self.audit_anonymous(
                &meta,
                AuditEvent::AuthSetup,
                false,
                serde_json::json!({"reason": "wrong setup code"}),
            )
            .await;
            return Err(AppError::Forbidden);
        }
        let username = Username::parse(&req.username).map_err(bad)?;
        let email = parse_email(req.email.as_deref())?;
        self.check_password(&req.password, &username).await?;
        let hash = self.hash(&req.password).await?;
        let admins = self.system_group(SystemGroup::Administrators).await?;
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: username.clone(),
                    email,
                    password_hash: Some(hash),
                    auth_source: "local",
                    group_ids: vec![admins],
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username or email is already taken."))?;
        *code = None;
        self.remove_setup_code_file();
        let actor = Actor {
            user_id: Some(id),
            name: Arc::from(username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthSetup,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        self.open_session(id, &meta).await
    }

    /// `POST /api/v1/auth/login`. Every failure is the same `Unauthenticated`.
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
        previous_session: Option<&str>,
        meta: RequestMeta,
    ) -> Result<SignIn, AppError> {
        let user = self.user_by_login_name(username).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = self.verify(password, stored).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            self.audit_login_failure(username, &meta).await;
            return Err(AppError::Unauthenticated);
        };
        let Verified::Valid { rehash } = verified else {
            self.audit_login_failure(username, &meta).await;
            return Err(AppError::Unauthenticated);
        };
        if rehash {
            // Imported PBKDF2/scrypt/bcrypt hashes become argon2id at the first good login.
            match self.hash(password).await {
                Ok(hash) => {
                    if let Err(e) = self.store.rehash_password(user.id, &hash).await {
                        tracing::warn!(error = %e, "could not store the upgraded password hash");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not upgrade the password hash"),
            }
        }
        // Threat: session fixation — whatever session the browser came with ends here.
        if let Some(old) = previous_session.filter(|t| is_session_token(t)) {
            let key = digest(old);
            if let Ok(Some((row, _))) = self.store.session_by_digest(&hex::encode(key)).await {
                let _ = self.store.delete_session(row.user_id, row.id).await;
                self.revoke_session(row.id);
            }
            self.cache.drop_session_digest(&key);
        }
        let actor = Actor {
            user_id: Some(user.id),
            name: Arc::from(user.username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        if let Some(challenge) = self.challenge_if_needed(user.id).await? {
            // The password was right; the session waits for the second factor.
            self.audit(
                &actor,
                AuditEvent::AuthMfaChallenge,
                Some(("user", user.id.to_string())),
                true,
                serde_json::json!({"rehashed": rehash}),
            )
            .await;
            return Ok(SignIn::Challenge(challenge));
        }
        self.audit(
            &actor,
            AuditEvent::AuthLogin,
            Some(("user", user.id.to_string())),
            true,
            serde_json::json!({"rehashed": rehash}),
        )
        .await;
        self.open_session(user.id, &meta).await.map(SignIn::Session)
    }

    /// The account a sign-in name means: a username, or (when it has an @) an email address;
    /// both case-insensitive. A local username wins over an address.
    async fn user_by_login_name(&self, name: &str) -> Result<Option<pw_store::UserRow>, AppError> {
        // A name the current rules refuse may still belong to an account made before them
        // (non-ASCII letters were allowed): it signs in by its stored key.
        let key = Username::parse(name).map_or_else(|_| name.trim().to_lowercase(), |u| u.key());
        if !key.is_empty()
            && let Some(row) = self.store.user_by_username(&key).await?
        {
            return Ok(Some(row));
        }
        match Email::parse(name) {
            Ok(e) if name.contains('@') => Ok(self.store.user_by_email(&e.key()).await?),
            _ => Ok(None),
        }
    }

    async fn audit_login_failure(&self, username: &str, meta: &RequestMeta) {
        let typed: String = username.chars().take(64).collect();
        self.audit_anonymous(
            meta,
            AuditEvent::AuthLogin,
            false,
            serde_json::json!({"username": typed}),
        )
        .await;
    }

    pub(crate) async fn open_session(
        &self,
        user: UserId,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome, AppError> {
        let now = self.now();
        let (token, key) = new_session_token(random::<TOKEN_BYTES>()?);
        let user_agent: Option<String> = meta
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(USER_AGENT_MAX).collect());
        self.store
            .insert_session(&NewSession {
                user_id: user,
                token_digest: &hex::encode(key),
                now,
                expires_at: now + duration_ms(self.config.session_absolute),
                ip: meta.ip.as_deref(),
                user_agent: user_agent.as_deref(),
            })
            .await?;
        // Fresh from the database: a sign-in must show the profile as it is now.
        let entry = self
            .load_user_entry(user)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(LoginOutcome {
            user: self.me_view(user, &entry),
            token,
        })
    }

    /// `GET /api/v1/auth/me`.
    pub async fn me(&self, actor: &Actor) -> Result<MeView, AppError> {
        match actor.user_id {
            Some(id) => {
                // The cache entry resolve() just validated: no database round trip.
                let entry = match self.cache.user(id) {
                    Some(entry) => entry,
                    None => self
                        .load_user_entry(id)
                        .await?
                        .ok_or(AppError::Unauthenticated)?,
                };
                let mut view = self.me_view(id, &entry);
                // An API key sees what it may actually do: its scopes ∩ the owner's rights.
                if let Principal::User(subject) = &actor.principal
                    && subject.credential == Credential::ApiKey
                {
                    view.permissions = subject.rights.permissions().collect();
                }
                Ok(view)
            }
            None if actor.principal == Principal::AuthDisabled => Ok(MeView {
                id: None,
                username: None,
                email: None,
                auth_source: None,
                groups: Vec::new(),
                permissions: Permission::ALL.to_vec(),
                mfa: MfaState::default(),
                auth_disabled: true,
            }),
            None => Err(AppError::Unauthenticated),
        }
    }

    fn me_view(&self, id: UserId, entry: &UserEntry) -> MeView {
        let permissions = if self.auth_enabled() {
            entry.rights.permissions().collect()
        } else {
            Permission::ALL.to_vec()
        };
        MeView {
            id: Some(id),
            username: Some(entry.username.to_string()),
            email: entry.email.clone(),
            auth_source: Some(entry.auth_source.clone()),
            groups: entry.groups.clone(),
            permissions,
            mfa: entry.mfa,
            auth_disabled: !self.auth_enabled(),
        }
    }

    /// `POST /api/v1/auth/logout`: ends the current session server-side.
    pub async fn logout(&self, actor: &Actor) -> Result<(), AppError> {
        if let (Some(user), Some(session)) = (actor.user_id, actor.session) {
            self.store.delete_session(user, session).await?;
            self.revoke_session(session);
            self.audit(
                actor,
                AuditEvent::AuthLogout,
                Some(("session", session.to_string())),
                true,
                serde_json::json!({}),
            )
            .await;
        }
        Ok(())
    }

    /// `GET /api/v1/auth/sessions`: the caller's live sessions.
    pub async fn list_sessions(&self, actor: &Actor) -> Result<Vec<SessionView>, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let now = self.now();
        let cutoff = now - duration_ms(self.config.session_idle);
        let rows = self.store.list_sessions(user, cutoff, now).await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionView {
                id: r.id,
                current: actor.session == Some(r.id),
                created_at: rfc3339(r.created_at),
                last_seen_at: rfc3339(r.last_seen_at),
                expires_at: rfc3339(r.expires_at),
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// Once an administrator exists the setup code is worthless; its file goes too so nobody
    /// mistakes it for a live secret.
    pub(crate) fn remove_setup_code_file(&self) {
        if let Some(path) = &self.config.setup_code_file
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not delete the setup-code file");
        }
    }

    /// Deletes sessions past their idle or absolute limit (they are already refused; this
    /// keeps the table from growing with every abandoned browser). Returns how many went.
    pub async fn sweep_expired_sessions(&self) -> Result<u64, AppError> {
        let now = self.now();
        let cutoff = now - duration_ms(self.config.session_idle);
        Ok(self.store.delete_expired_sessions(cutoff, now).await?)
    }

    /// `DELETE /api/v1/auth/sessions/{id}`: one of the caller's own sessions.
    pub async fn revoke_own_session(&self, actor: &Actor, id: SessionId) -> Result<(), AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        if !self.store.delete_session(user, id).await? {
            return Err(AppError::NotFound);
        }
        self.revoke_session(id);
        self.audit(
            actor,
            AuditEvent::SessionRevoke,
            Some(("session", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/auth/sessions/revoke-others`.
    pub async fn revoke_other_sessions(&self, actor: &Actor) -> Result<(), AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let others: Vec<SessionId> = self
            .store
            .list_sessions(user, i64::MIN, i64::MIN)
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(*id) != actor.session)
            .collect();
        let n = self.store.delete_sessions_of(user, actor.session).await?;
        for id in others {
            self.revoke_session(id);
        }
        self.audit(
            actor,
            AuditEvent::SessionRevoke,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"others": n}),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/auth/password`: the caller's own password. Needs the current one unless
    /// authentication is switched off (the recovery path). Other sessions end; the current one
    /// gets a new token.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: Option<&SecretString>,
        new: &SecretString,
    ) -> Result<Done<()>, AppError> {
        let user_id = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let row = self
            .store
            .user(user_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if actor.principal != Principal::AuthDisabled {
            let Some(current) = current else {
                return Err(AppError::BadRequest("Enter your current password.".into()));
            };
            if !matches!(
                self.verify(current, row.password_hash.clone()).await?,
                Verified::Valid { .. }
            ) {
                self.audit(
                    actor,
                    AuditEvent::AuthPasswordChange,
                    Some(("user", user_id.to_string())),
                    false,
                    serde_json::json!({"reason": "wrong current password"}),
                )
                .await;
                return Err(AppError::WrongSecret(
                    "The current password is not correct.".into(),
                ));
            }
        }
        self.check_replacement_password(new, &row).await?;
        let hash = self.hash(new).await?;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..UserPatch::default()
        };
        self.store
            .update_user(
                user_id,
                &patch,
                &Self::admin_check(),
                actor.session,
                self.now(),
            )
            .await?;
        let rotated = self.after_change(actor, &[user_id]).await?;
        self.audit(
            actor,
            AuditEvent::AuthPasswordChange,
            Some(("user", user_id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(Done {
            value: (),
            new_session_token: rotated,
        })
    }

    /// After a change that revoked `users`' sessions: drop caches, notify, and when the actor
    /// was among them and kept their session, give that session a new token.
    pub(crate) async fn after_change(
        &self,
        actor: &Actor,
        users: &[UserId],
    ) -> Result<Option<SecretString>, AppError> {
        self.revoke_users(users);
        match (actor.user_id, actor.session) {
            (Some(me), Some(session)) if users.contains(&me) => {
                let (token, key) = new_session_token(random::<TOKEN_BYTES>()?);
                if self
                    .store
                    .rotate_session(session, &hex::encode(key), self.now())
                    .await?
                {
                    Ok(Some(token))
                } else {
                    Ok(None)
                }
            }
            _ => Ok(None),
        }
    }

    pub(crate) async fn check_password(
        &self,
        password: &SecretString,
        username: &Username,
    ) -> Result<(), AppError> {
        let min = self.security_settings().min_password_length;
        check_new_password(password.expose(), username.as_str(), min).map_err(|e| {
            let text = e.to_string();
            let mut chars = text.chars();
            let sentence = chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default();
            AppError::BadRequest(format!("{sentence}."))
        })
    }

    /// [`App::check_password`] for a password that replaces `row`'s, and not the current one
    /// (NIST SP 800-63B: a "change" to the same password changes nothing, and one that leaked
    /// stays leaked). Costs one more verification, on every path that sets a password: the
    /// account's own change, an administrator's, the CLI's and a reset link.
    pub(crate) async fn check_replacement_password(
        &self,
        new: &SecretString,
        row: &pw_store::UserRow,
    ) -> Result<(), AppError> {
        self.check_password(new, &row.username).await?;
        if row.password_hash.is_some()
            && matches!(
                self.verify(new, row.password_hash.clone()).await?,
                Verified::Valid { .. }
            )
        {
            return Err(AppError::BadRequest(
                "The new password is the same as the current one. Choose a different one.".into(),
            ));
        }
        Ok(())
    }

    /// argon2id on the blocking pool, bounded by the hashing semaphore.
    pub(crate) async fn hash(&self, password: &SecretString) -> Result<String, AppError> {
        let _permit = self.hashing.acquire().await.map_err(internal)?;
        let salt = random::<{ pw_credentials::password::SALT_LEN }>()?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_password(password.expose(), salt))
            .await
            .map_err(internal)?
            .ok_or_else(|| AppError::BadRequest("The password is too long.".into()))
    }

    /// Verifies on the blocking pool; no stored hash costs a dummy verification of equal work.
    pub(crate) async fn verify(
        &self,
        password: &SecretString,
        stored: Option<String>,
    ) -> Result<Verified, AppError> {
        let _permit = self.hashing.acquire().await.map_err(internal)?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(hash) => verify_password(password.expose(), &hash),
            None => {
                verify_dummy(password.expose());
                Verified::Invalid
            }
        })
        .await
        .map_err(internal)
    }

    pub(crate) async fn system_group(&self, which: SystemGroup) -> Result<GroupId, AppError> {
        self.store
            .list_groups()
            .await?
            .into_iter()
            .find(|g| g.is_system && g.name.key() == which.name().to_lowercase())
            .map(|g| g.id)
            .ok_or_else(|| {
                AppError::Internal(format!("system group {} is missing", which.name()).into())
            })
    }
}

/// A cached user plus the id it was loaded for.
#[derive(Debug)]
pub(crate) struct UserEntryRef {
    pub id: UserId,
    pub entry: Arc<UserEntry>,
}

pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn bad(e: pw_domain::Invalid) -> AppError {
    AppError::BadRequest(e.0.to_owned())
}

pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::Internal(Box::new(e))
}

pub(crate) fn parse_email(raw: Option<&str>) -> Result<Option<Email>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Email::parse(s).map(Some).map_err(bad),
    }
}

/// A unique-constraint conflict becomes a 409 with `message`; anything else stays as it is.
pub(crate) fn conflict_or(e: pw_store::StoreError, message: &str) -> AppError {
    match e {
        pw_store::StoreError::Conflict => AppError::Conflict(message.into()),
        other => other.into(),
    }
}

impl App {
    /// While no administrator exists, makes a fresh one-time setup code from `random` and
    /// returns it for the operator (console and 0600 file); returns `None` once set up.
    /// Each start issues a new code, so a code seen in an old log is worthless.
    pub async fn issue_setup_code(
        &self,
        random: [u8; SETUP_CODE_RANDOM_BYTES],
    ) -> Result<Option<SecretString>, AppError> {
        if self.administrator_exists().await? {
            *self.setup_code.lock().await = None;
            return Ok(None);
        }
        let code = setup_code_from(random);
        *self.setup_code.lock().await = Some(code.clone());
        Ok(Some(code))
    }

    pub(crate) async fn administrator_exists(&self) -> Result<bool, AppError> {
        Ok(self
            .store
            .count_administrators(&Self::admin_check())
            .await?
            > 0)
    }
}
