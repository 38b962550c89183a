//! The second step of sign-in: a challenge opened after the password when a second factor is
//! enabled, and completing it with any enabled method to get the session.

use super::*;

/// A correct password for a user with a second factor: the challenge cookie value and the
/// methods they can finish with.
#[derive(Debug)]
pub struct ChallengeIssued {
    /// The cookie value (only its digest is stored).
    pub token: SecretString,
    /// What the user can answer with.
    pub methods: Vec<MfaMethod>,
}

/// The outcome of a correct password.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in.
    Session(LoginOutcome),
    /// A second factor is needed first.
    Challenge(ChallengeIssued),
}

/// A live challenge, opened from its cookie (the user is known for rate limiting).
#[derive(Debug, Clone)]
pub struct OpenChallenge {
    digest: String,
    /// Whose sign-in this is.
    pub user: UserId,
}

impl App {
    /// After a correct password: a challenge when the user has a second factor.
    pub(crate) async fn challenge_if_needed(
        &self,
        user: UserId,
    ) -> Result<Option<ChallengeIssued>, AppError> {
        let mfa = self.store.user_mfa(user).await?;
        if !mfa.any_enabled() {
            return Ok(None);
        }
        let token = hex::encode(random::<TOKEN_BYTES>()?);
        let now = self.now();
        self.store
            .insert_challenge(
                &hex::encode(digest(&token)),
                user,
                now,
                now + CHALLENGE_LIFETIME_MS,
            )
            .await?;
        Ok(Some(ChallengeIssued {
            token: SecretString::new(token),
            methods: methods_of(&mfa),
        }))
    }

    /// The live challenge behind a cookie value; `Unauthenticated` when there is none.
    pub async fn open_challenge(&self, token: &str) -> Result<OpenChallenge, AppError> {
        let digest = hex::encode(digest(token));
        let user = self
            .store
            .challenge_user(&digest, self.now())
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(OpenChallenge { digest, user })
    }

    /// Consumes a live challenge once its second factor was accepted: true for exactly one
    /// caller.
    pub(crate) async fn consume_open_challenge(
        &self,
        challenge: &OpenChallenge,
    ) -> Result<bool, AppError> {
        Ok(self
            .store
            .consume_challenge(&challenge.digest, self.now())
            .await?)
    }

    /// The methods a live challenge can be finished with, for the sign-in page's second step
    /// when the first one happened elsewhere (an identity provider's callback);
    /// `Unauthenticated` when the challenge is gone.
    pub async fn challenge_methods(&self, token: &str) -> Result<Vec<MfaMethod>, AppError> {
        let challenge = self.open_challenge(token).await?;
        Ok(methods_of(&self.store.user_mfa(challenge.user).await?))
    }

    /// `POST /api/v1/auth/mfa/verify`: checks the code and, on success, consumes the
    /// challenge and opens the session. `BadRequest` for a wrong code (the challenge stays
    /// for another try), `Unauthenticated` when the challenge is gone.
    pub async fn complete_challenge(
        &self,
        challenge: &OpenChallenge,
        method: MfaMethod,
        code: &str,
        meta: RequestMeta,
    ) -> Result<LoginOutcome, AppError> {
        let user = challenge.user;
        let row = self
            .store
            .user(user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated)?;
        let mfa = self.store.user_mfa(user).await?;
        let ok = match method {
            MfaMethod::Totp => self.check_totp(user, &mfa, code).await?,
            MfaMethod::Backup => mfa.totp_secret.is_some() && self.check_backup(user, code).await?,
            MfaMethod::Email => {
                mfa.email_enabled && self.check_email_code(user, "login", code).await?
            }
            // A passkey answers with a signed assertion (`complete_challenge_with_passkey`),
            // never with a typed code.
            MfaMethod::Passkey => false,
        };
        let actor = Actor {
            user_id: Some(user),
            name: std::sync::Arc::from(row.username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        if !ok {
            self.audit(
                &actor,
                AuditEvent::AuthMfaVerify,
                Some(("user", user.to_string())),
                false,
                serde_json::json!({ "method": method }),
            )
            .await;
            return Err(wrong_code());
        }
        // Atomic: of two requests racing with the same challenge, one gets the session.
        if !self
            .store
            .consume_challenge(&challenge.digest, self.now())
            .await?
        {
            return Err(AppError::Unauthenticated);
        }
        self.audit(
            &actor,
            AuditEvent::AuthLogin,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({ "mfa": method }),
        )
        .await;
        self.open_session(user, &meta, pw_domain::SignInStrength::TwoFactor)
            .await
    }
}
