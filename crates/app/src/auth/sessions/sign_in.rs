//! Sign-in: password check (argon2id, equal cost for unknown users) or, for names without a
//! local account while LDAP is on, the directory (`auth::ldap`); then the second-factor
//! challenge when one is enabled, and a new session.
//!
//! Invariant: sign-in always mints a new token and ends the session the request came with
//! (threat: session fixation).

use super::*;

/// A successful sign-in: who, and the new session token for the cookie.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The signed-in user.
    pub user: MeView,
    /// The cookie value.
    pub token: SecretString,
}

impl App {
    /// `POST /api/v1/auth/login`. Every failure is the same `Unauthenticated`.
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
        previous_session: Option<&str>,
        meta: RequestMeta,
    ) -> Result<SignIn, AppError> {
        let user = self.user_by_login_name(username).await?;
        if self.ldap_applies(user.as_ref()).await? {
            // No local account of that name (local wins), or one the directory made. The
            // dummy verification keeps the timing of "is there a local account?" level.
            let _ = self.verify(password, None).await?;
            let row = self.ldap_sign_in(username, password, user, &meta).await?;
            return self
                .finish_login(
                    &row,
                    previous_session,
                    meta,
                    serde_json::json!({"source": "ldap"}),
                )
                .await;
        }
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
        self.finish_login(
            &user,
            previous_session,
            meta,
            serde_json::json!({"rehashed": rehash}),
        )
        .await
    }

    /// After the password was accepted (here or by the directory): end the session the browser
    /// came with, then a second-factor challenge or a new session.
    pub(crate) async fn finish_login(
        &self,
        user: &pw_store::UserRow,
        previous_session: Option<&str>,
        meta: RequestMeta,
        details: serde_json::Value,
    ) -> Result<SignIn, AppError> {
        self.end_previous_session(previous_session).await;
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
                details,
            )
            .await;
            return Ok(SignIn::Challenge(challenge));
        }
        self.audit(
            &actor,
            AuditEvent::AuthLogin,
            Some(("user", user.id.to_string())),
            true,
            details,
        )
        .await;
        self.open_session(user.id, &meta, SignInStrength::Password)
            .await
            .map(SignIn::Session)
    }

    /// Threat: session fixation — whatever session the browser came with ends at sign-in.
    pub(crate) async fn end_previous_session(&self, previous_session: Option<&str>) {
        if let Some(old) = previous_session.filter(|t| is_session_token(t)) {
            let key = digest(old);
            if let Ok(Some((row, _))) = self.store.session_by_digest(&hex::encode(key)).await {
                let _ = self.store.delete_session(row.user_id, row.id).await;
                self.revoke_session(row.id);
            }
            self.cache.drop_session_digest(&key);
        }
    }

    /// The account a sign-in name means: a username, or (when it has an @) an email address;
    /// both case-insensitive. A local username wins over an address.
    async fn user_by_login_name(&self, name: &str) -> Result<Option<pw_store::UserRow>, AppError> {
        // A name the current rules refuse may still belong to an account made before them
        // (non-ASCII letters were allowed): it signs in by its stored key.
        if name.contains('\0') {
            // No account has a NUL in its name, and PostgreSQL refuses NUL in text: answer
            // "nobody" instead of a database error.
            return Ok(None);
        }
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
        let typed = typed_name(username);
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
        strength: SignInStrength,
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
                strength,
            })
            .await?;
        // Fresh from the database: a sign-in must show the profile as it is now.
        let entry = self
            .load_user_entry(user)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut view = self.me_view(user, &entry);
        if !entry.requirement.met_by(strength) {
            // The sign-in was right but falls short of the group's rule: the session may
            // only set up the missing factor. Said now, so the browser goes there at once.
            view.enrol_first = Some(entry.requirement);
            let actor = Actor {
                user_id: Some(user),
                name: entry.username.clone(),
                ..Actor::anonymous(meta.clone())
            };
            self.audit(
                &actor,
                AuditEvent::AuthEnrolRequired,
                Some(("user", user.to_string())),
                true,
                serde_json::json!({
                    "requirement": entry.requirement.as_str(),
                    "signed_in_with": strength.as_str(),
                }),
            )
            .await;
        }
        Ok(LoginOutcome { user: view, token })
    }
}

/// The typed sign-in name as the audit log keeps it: at most 64 characters, control characters
/// (NUL above all, which PostgreSQL refuses in text) shown as U+FFFD.
pub(crate) fn typed_name(raw: &str) -> String {
    raw.chars()
        .take(64)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
