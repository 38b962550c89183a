//! Principal resolution: a session cookie, an API key or camera token, or a ticket becomes the
//! principal policy judges, served from the principal cache when its stamps are current.
//!
//! Invariant: it fails closed — anything it cannot read, verify or match resolves to anonymous;
//! a credential short of its user's group sign-in requirement carries it (`enrol_first`), so
//! policy lets it enrol and nothing else.

use super::*;

/// A cached user plus the id it was loaded for.
#[derive(Debug)]
pub(crate) struct UserEntryRef {
    pub id: UserId,
    pub entry: Arc<UserEntry>,
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
                    strength: row.strength,
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
        let requirement = user.entry.requirement;
        let subject = Subject {
            enrol_first: (!requirement.met_by(entry.strength)).then_some(requirement),
            ..Subject::session(entry.user, user.entry.rights.clone())
        };
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
        // Tickets are minted only by credentials that met the requirement; one minted before
        // it was set (by a key) still follows the key rule.
        subject.enrol_first = account_falls_short(&user.entry);
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
            enrol_first: account_falls_short(&user.entry),
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
    pub(super) async fn load_user_entry(
        &self,
        user: UserId,
    ) -> Result<Option<Arc<UserEntry>>, AppError> {
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
            display_name: row.display_name.clone(),
            auth_source: row.auth_source.clone(),
            mfa: MfaState::from(&self.store.user_mfa(user).await?),
            requirement: groups
                .iter()
                .map(|g| g.sign_in_requirement)
                .max()
                .unwrap_or_default(),
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
}

/// The requirement an API key, camera token or ticket of this user falls short of: such a
/// credential proves no sign-in, so it acts only while its owner's account has the required
/// factor set up (threat: a key made before the requirement — or a user who never enrols —
/// going around it). Until then it is refused everything, as it cannot enrol.
pub(crate) fn account_falls_short(entry: &UserEntry) -> Option<SignInRequirement> {
    let mfa = entry.mfa;
    let has = if mfa.passkeys > 0 {
        SignInStrength::Passkey
    } else if mfa.totp || mfa.email {
        SignInStrength::TwoFactor
    } else {
        SignInStrength::Password
    };
    (!entry.requirement.met_by(has)).then_some(entry.requirement)
}
