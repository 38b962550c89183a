//! Second factors (S4): TOTP enrolment with backup codes, the pre-auth challenge between a
//! correct password and a session, verification of TOTP / backup / emailed codes, and the
//! admin reset.
//!
//! Invariants: a code is accepted once — the TOTP step only moves forward and a backup code,
//! emailed code or challenge is deleted by the statement that accepts it, so a replayed or
//! raced code loses; the challenge cookie value and every code are stored only as digests
//! (threat: the anchors kept pre-auth tokens raw, so a database read was a sign-in); the
//! TOTP secret is sealed at rest; changing TOTP needs a current code, so a stolen session
//! alone cannot move the second factor to the attacker's phone.

use pw_credentials::one_time::{
    BACKUP_CODE_RANDOM_BYTES, EMAIL_CODE_RANDOM_BYTES, backup_codes_from, email_code_from,
    email_code_matches, match_backup_code, normalize_backup_code, normalize_email_code,
    one_time_digest,
};
use pw_credentials::password::Verified;
use pw_credentials::token::{TOKEN_BYTES, digest};
use pw_credentials::totp::{self, TOTP_SECRET_BYTES, TotpSecret};
use pw_credentials::{SecretString, qr::qr_svg};
use pw_domain::{Permission, UserId};
use pw_identity::mail::Mail;
use pw_policy::{Action, Target};
use pw_store::{MfaRow, Tries};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::{LoginOutcome, MfaState};
use crate::core::clock::random;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, RequestMeta};

/// How long the step between password and second factor lasts.
pub const CHALLENGE_LIFETIME_MS: i64 = 5 * 60_000;
/// Wrong tries before an emailed code is void.
pub(crate) const EMAIL_CODE_TRIES: i64 = 5;
/// How long an emailed code works.
const EMAIL_CODE_LIFETIME_MS: i64 = 10 * 60_000;
/// Codes mailed per user per window.
const EMAIL_SENDS: i64 = 3;
/// The window of [`EMAIL_SENDS`].
const EMAIL_SEND_WINDOW_MS: i64 = 10 * 60_000;
/// Sealing context of TOTP secrets.
const TOTP_CONTEXT: &str = "user_mfa.totp_secret";
/// Issuer shown in authenticator apps.
const ISSUER: &str = "printwarden";
/// Label of the key the one-time digests are peppered with.
const PEPPER_LABEL: &str = "printwarden one-time code pepper v1";

/// A second factor at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MfaMethod {
    /// A code from an authenticator app.
    Totp,
    /// A code sent by email.
    Email,
    /// One of the single-use backup codes.
    Backup,
}

/// `POST /api/v1/auth/mfa/totp/setup`: what the authenticator app needs. Shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpSetupView {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://` URI (what the QR code holds).
    pub otpauth_uri: String,
    /// The QR code as an inline SVG document.
    pub qr_svg: String,
}

/// Fresh backup codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupCodesView {
    /// Ten single-use codes.
    pub backup_codes: Vec<String>,
}

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

/// The methods a user's state offers.
pub(crate) fn methods_of(mfa: &MfaRow) -> Vec<MfaMethod> {
    let mut methods = Vec::new();
    if mfa.totp_secret.is_some() {
        methods.push(MfaMethod::Totp);
    }
    if mfa.email_enabled {
        methods.push(MfaMethod::Email);
    }
    if mfa.totp_secret.is_some() {
        methods.push(MfaMethod::Backup);
    }
    methods
}

impl From<&MfaRow> for MfaState {
    fn from(m: &MfaRow) -> Self {
        MfaState {
            totp: m.totp_secret.is_some(),
            email: m.email_enabled,
            passkeys: 0,
        }
    }
}

fn wrong_code() -> AppError {
    AppError::WrongSecret("The code is not correct, or it was already used.".into())
}

fn step_to_db(step: u64) -> Result<i64, AppError> {
    i64::try_from(step).map_err(|e| AppError::Internal(Box::new(e)))
}

impl App {
    /// The key one-time digests are peppered with: derived from the sealing key, so a copy of
    /// the database alone cannot brute-force 40-bit backup codes or 6-digit emailed codes.
    pub(crate) fn pepper(&self) -> [u8; 32] {
        self.config
            .sealing
            .as_ref()
            .map_or([0; 32], |k| k.derive(PEPPER_LABEL))
    }

    fn hex_digest(&self, normalized: &str) -> String {
        hex::encode(one_time_digest(&self.pepper(), normalized))
    }

    fn open_totp(&self, sealed: &str) -> Result<TotpSecret, AppError> {
        let hex_secret = self.open(sealed, TOTP_CONTEXT)?;
        let bytes =
            hex::decode(hex_secret.expose()).map_err(|e| AppError::Internal(Box::new(e)))?;
        TotpSecret::from_slice(&bytes)
            .ok_or_else(|| AppError::Internal("a stored TOTP secret has the wrong length".into()))
    }

    fn signed_in_user(actor: &Actor) -> Result<UserId, AppError> {
        actor.user_id.ok_or(AppError::Unauthenticated)
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
        let Some(step) = totp::verify(&secret, code, self.now() / 1000, last) else {
            return Ok(false);
        };
        // The conditional update decides: of two requests with the same code, one wins.
        Ok(self.store.accept_totp_step(user, step_to_db(step)?).await?)
    }

    /// Checks a backup code against every stored one and spends it.
    async fn check_backup(&self, user: UserId, code: &str) -> Result<bool, AppError> {
        let rows = self.store.backup_codes(user).await?;
        let stored: Vec<[u8; 32]> = rows
            .iter()
            .map(|(_, d)| {
                hex::decode(d)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .unwrap_or([0; 32])
            })
            .collect();
        let Some(index) = match_backup_code(&self.pepper(), code, &stored) else {
            return Ok(false);
        };
        let Some((id, _)) = rows.get(index) else {
            return Ok(false);
        };
        Ok(self.store.use_backup_code(user, *id).await?)
    }

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

    fn new_backup_codes(&self) -> Result<(Vec<String>, Vec<String>), AppError> {
        let codes = backup_codes_from(&random::<BACKUP_CODE_RANDOM_BYTES>()?);
        let mut shown = Vec::with_capacity(codes.len());
        let mut digests = Vec::with_capacity(codes.len());
        for code in codes {
            let normalized = normalize_backup_code(code.expose())
                .ok_or_else(|| AppError::Internal("a generated backup code is malformed".into()))?;
            digests.push(self.hex_digest(&normalized));
            shown.push(code.expose().to_owned());
        }
        Ok((shown, digests))
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
        let Some(step) = totp::verify(&secret, code, self.now() / 1000, last) else {
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

    /// `POST /api/v1/auth/mfa/backup-codes/regenerate`: a current TOTP code buys a new set;
    /// the old set dies in the same transaction.
    pub async fn regenerate_backup_codes(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<BackupCodesView, AppError> {
        let user = Self::signed_in_user(actor)?;
        let mfa = self.store.user_mfa(user).await?;
        if mfa.totp_secret.is_none() {
            return Err(AppError::Conflict(
                "Backup codes come with TOTP; set it up first.".into(),
            ));
        }
        if !self.check_totp(user, &mfa, code).await? {
            self.audit_mfa(actor, AuditEvent::AuthMfaBackupRegenerate, false)
                .await;
            return Err(wrong_code());
        }
        let (shown, digests) = self.new_backup_codes()?;
        self.store.replace_backup_codes(user, &digests).await?;
        self.audit_mfa(actor, AuditEvent::AuthMfaBackupRegenerate, true)
            .await;
        Ok(BackupCodesView {
            backup_codes: shown,
        })
    }

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
        self.open_session(user, &meta).await
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

    /// `POST /api/v1/users/{id}/mfa/reset`: removes every second factor of the user and ends
    /// their sessions (they lost their phone; an administrator vouches for them).
    pub async fn reset_mfa(&self, actor: &Actor, id: UserId) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersUpdate),
            &Target::Global,
        )?;
        self.store.user(id).await?.ok_or(AppError::NotFound)?;
        self.check_may_act_on(actor, id).await?;
        self.store.reset_mfa(id).await?;
        self.revoke_users(&[id]);
        self.audit(
            actor,
            AuditEvent::UserMfaReset,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    async fn audit_mfa(&self, actor: &Actor, event: AuditEvent, success: bool) {
        let target = actor.user_id.map(|u| ("user", u.to_string()));
        self.audit(actor, event, target, success, serde_json::json!({}))
            .await;
    }
}
