//! One-time codes by email: sending (rate limited per user), setup, enabling, disabling, and
//! checking a code (bounded tries, short lifetime).

use super::*;

impl App {
    /// Checks an emailed code for `purpose`, spending it on success and counting a wrong try
    /// otherwise (the fifth voids it).
    pub(crate) async fn check_email_code(
        &self,
        user: UserId,
        purpose: &str,
        code: &str,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let Some(row) = self.store.email_code(user, purpose, now).await? else {
            return Ok(false);
        };
        let stored = hex::decode(&row.digest)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .unwrap_or([0; 32]);
        if email_code_matches(&self.pepper(), code, &stored) {
            return Ok(self
                .store
                .use_email_code(user, purpose, &row.digest, now)
                .await?);
        }
        if self
            .store
            .fail_email_code(user, purpose, EMAIL_CODE_TRIES)
            .await?
            == Tries::Exhausted
        {
            tracing::info!(user = %user, "emailed code voided after too many wrong tries");
        }
        Ok(false)
    }

    /// Mails a fresh code for `purpose` ('enable' or 'login'), voiding the previous one; at
    /// most three sends per ten minutes per user.
    async fn send_email_code(&self, user: UserId, purpose: &str) -> Result<(), AppError> {
        let row = self.store.user(user).await?.ok_or(AppError::NotFound)?;
        let Some(email) = row.email else {
            return Err(AppError::Conflict(
                "Add an email address to your account first.".into(),
            ));
        };
        if !self.mail_configured().await? {
            return Err(AppError::Conflict(
                "Mail is not set up on this server.".into(),
            ));
        }
        let now = self.now();
        let window = now - EMAIL_SEND_WINDOW_MS;
        if self.store.email_code_sends(user, window).await? >= EMAIL_SENDS {
            return Err(AppError::RateLimited(
                "Three codes were sent in the last 10 minutes. Use the newest one, or wait.".into(),
            ));
        }
        let code = email_code_from(random::<EMAIL_CODE_RANDOM_BYTES>()?);
        let normalized = normalize_email_code(code.expose())
            .ok_or_else(|| AppError::Internal("a generated code is malformed".into()))?;
        self.store
            .store_email_code(
                user,
                purpose,
                &self.hex_digest(&normalized),
                now + EMAIL_CODE_LIFETIME_MS,
                now,
                window,
            )
            .await?;
        let minutes = EMAIL_CODE_LIFETIME_MS / 60_000;
        self.deliver(&Mail {
            to: email.as_str().to_owned(),
            subject: format!("Your printwarden code: {}", code.expose()),
            text: format!(
                "Your printwarden code is {}.\n\nIt works once, for {minutes} minutes. If you did not ask for it, change your password.\n",
                code.expose()
            ),
            html: None,
        })
        .await?;
        Ok(())
    }

    /// `POST /api/v1/auth/mfa/email/setup`: mails a code that turns emailed codes on.
    pub async fn setup_email_otp(&self, actor: &Actor) -> Result<(), AppError> {
        let user = Self::signed_in_user(actor)?;
        self.send_email_code(user, "enable").await?;
        self.audit_mfa(actor, AuditEvent::AuthMfaEmailSetup, true)
            .await;
        Ok(())
    }

    /// `POST /api/v1/auth/mfa/email/enable`: the mailed code turns emailed codes on.
    pub async fn enable_email_otp(&self, actor: &Actor, code: &str) -> Result<(), AppError> {
        let user = Self::signed_in_user(actor)?;
        if !self.check_email_code(user, "enable", code).await? {
            self.audit_mfa(actor, AuditEvent::AuthMfaEmailEnable, false)
                .await;
            return Err(wrong_code());
        }
        self.store.set_email_mfa(user, true, self.now()).await?;
        self.cache.forget_user(user);
        self.audit_mfa(actor, AuditEvent::AuthMfaEmailEnable, true)
            .await;
        // The mailed code just typed proves the factor within this session.
        self.raise_session(actor, pw_domain::SignInStrength::TwoFactor)
            .await;
        Ok(())
    }

    /// `POST /api/v1/auth/mfa/email/disable`: needs the account's password (a stolen session
    /// alone cannot remove a second factor).
    pub async fn disable_email_otp(
        &self,
        actor: &Actor,
        password: &SecretString,
    ) -> Result<(), AppError> {
        let user = Self::signed_in_user(actor)?;
        let row = self
            .store
            .user(user)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !matches!(
            self.verify(password, row.password_hash.clone()).await?,
            Verified::Valid { .. }
        ) {
            self.audit_mfa(actor, AuditEvent::AuthMfaEmailDisable, false)
                .await;
            return Err(AppError::WrongSecret("The password is not correct.".into()));
        }
        self.store.set_email_mfa(user, false, self.now()).await?;
        self.cache.forget_user(user);
        self.audit_mfa(actor, AuditEvent::AuthMfaEmailDisable, true)
            .await;
        Ok(())
    }

    /// `POST /api/v1/auth/mfa/email/send`: during sign-in, mails a code for the challenge.
    pub async fn send_challenge_code(&self, challenge: &OpenChallenge) -> Result<(), AppError> {
        let mfa = self.store.user_mfa(challenge.user).await?;
        if !mfa.email_enabled {
            return Err(AppError::Conflict(
                "Emailed codes are not on for this account.".into(),
            ));
        }
        self.send_email_code(challenge.user, "login").await
    }
}
