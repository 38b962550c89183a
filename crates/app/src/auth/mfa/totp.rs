//! Authenticator apps (TOTP): setup with a sealed secret, enabling with a first code, disabling,
//! and checking a code once per time step (no replay).

use super::*;

impl App {
    fn open_totp(&self, sealed: &str) -> Result<TotpSecret, AppError> {
        let hex_secret = self.open(sealed, TOTP_CONTEXT)?;
        let bytes =
            hex::decode(hex_secret.expose()).map_err(|e| AppError::Internal(Box::new(e)))?;
        TotpSecret::from_slice(&bytes)
            .ok_or_else(|| AppError::Internal("a stored TOTP secret has the wrong length".into()))
    }

    /// Checks a TOTP code against the active secret and spends its step.
    pub(crate) async fn check_totp(
        &self,
        user: UserId,
        mfa: &MfaRow,
        code: &str,
    ) -> Result<bool, AppError> {
        let Some(sealed) = &mfa.totp_secret else {
            return Ok(false);
        };
        let secret = self.open_totp(sealed)?;
        let last = mfa.totp_last_step.and_then(|s| u64::try_from(s).ok());
        let Some(step) = pw_credentials::totp::verify(&secret, code, self.now() / 1000, last)
        else {
            return Ok(false);
        };
        // The conditional update decides: of two requests with the same code, one wins.
        Ok(self.store.accept_totp_step(user, step_to_db(step)?).await?)
    }

    /// `POST /api/v1/auth/mfa/totp/setup`: a new secret awaiting confirmation. Replacing an
    /// active TOTP needs a current code of it first.
    pub async fn setup_totp(
        &self,
        actor: &Actor,
        current_code: Option<&str>,
    ) -> Result<TotpSetupView, AppError> {
        let user = Self::signed_in_user(actor)?;
        let row = self
            .store
            .user(user)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let mfa = self.store.user_mfa(user).await?;
        if mfa.totp_secret.is_some() {
            let Some(code) = current_code else {
                return Err(AppError::BadRequest(
                    "TOTP is already on: enter a current code from your authenticator app to replace it."
                        .into(),
                ));
            };
            if !self.check_totp(user, &mfa, code).await? {
                self.audit_mfa(actor, AuditEvent::AuthMfaTotpSetup, false)
                    .await;
                return Err(wrong_code());
            }
        }
        let secret = TotpSecret::from_bytes(random::<TOTP_SECRET_BYTES>()?);
        let sealed = self.seal(&hex::encode(secret.as_bytes()), TOTP_CONTEXT)?;
        self.store
            .set_totp_pending(user, &sealed, self.now())
            .await?;
        let uri = secret.otpauth_uri(ISSUER, row.username.as_str());
        let qr_svg = qr_svg(uri.expose())
            .ok_or_else(|| AppError::Internal("the otpauth URI does not fit a QR code".into()))?;
        self.audit_mfa(actor, AuditEvent::AuthMfaTotpSetup, true)
            .await;
        Ok(TotpSetupView {
            secret: secret.base32().expose().to_owned(),
            otpauth_uri: uri.expose().to_owned(),
            qr_svg,
        })
    }

    /// `POST /api/v1/auth/mfa/totp/enable`: confirms the pending secret with a current code
    /// and returns ten new backup codes (the only time they are shown).
    pub async fn enable_totp(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<BackupCodesView, AppError> {
        let user = Self::signed_in_user(actor)?;
        let mfa = self.store.user_mfa(user).await?;
        let Some(pending) = &mfa.totp_pending else {
            return Err(AppError::Conflict("Start the TOTP set-up first.".into()));
        };
        let secret = self.open_totp(pending)?;
        let last = mfa.totp_last_step.and_then(|s| u64::try_from(s).ok());
        let Some(step) = pw_credentials::totp::verify(&secret, code, self.now() / 1000, last)
        else {
            self.audit_mfa(actor, AuditEvent::AuthMfaTotpEnable, false)
                .await;
            return Err(wrong_code());
        };
        let (shown, digests) = self.new_backup_codes()?;
        let enabled = self
            .store
            .enable_totp(user, pending, step_to_db(step)?, &digests, self.now())
            .await?;
        if !enabled {
            return Err(wrong_code());
        }
        self.cache.forget_user(user);
        self.audit_mfa(actor, AuditEvent::AuthMfaTotpEnable, true)
            .await;
        // The current code just shown proves the factor within this session.
        self.raise_session(actor, pw_domain::SignInStrength::TwoFactor)
            .await;
        Ok(BackupCodesView {
            backup_codes: shown,
        })
    }

    /// `POST /api/v1/auth/mfa/totp/disable`: needs a current TOTP code or a backup code.
    pub async fn disable_totp(&self, actor: &Actor, code: &str) -> Result<(), AppError> {
        let user = Self::signed_in_user(actor)?;
        let mfa = self.store.user_mfa(user).await?;
        if mfa.totp_secret.is_none() {
            return Err(AppError::Conflict("TOTP is not on.".into()));
        }
        let ok = self.check_totp(user, &mfa, code).await? || self.check_backup(user, code).await?;
        if !ok {
            self.audit_mfa(actor, AuditEvent::AuthMfaTotpDisable, false)
                .await;
            return Err(wrong_code());
        }
        self.store.disable_totp(user, self.now()).await?;
        self.cache.forget_user(user);
        self.audit_mfa(actor, AuditEvent::AuthMfaTotpDisable, true)
            .await;
        Ok(())
    }
}
