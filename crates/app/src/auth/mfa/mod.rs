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

mod backup_codes;
mod challenge;
mod email_otp;
mod totp;

pub use challenge::{ChallengeIssued, OpenChallenge, SignIn};

use pw_credentials::one_time::{
    BACKUP_CODE_RANDOM_BYTES, EMAIL_CODE_RANDOM_BYTES, backup_codes_from, email_code_from,
    email_code_matches, match_backup_code, normalize_backup_code, normalize_email_code,
    one_time_digest,
};
use pw_credentials::password::Verified;
use pw_credentials::token::{TOKEN_BYTES, digest};
use pw_credentials::totp::{TOTP_SECRET_BYTES, TotpSecret};
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
pub(crate) const TOTP_CONTEXT: &str = "user_mfa.totp_secret";
/// Issuer shown in authenticator apps.
const ISSUER: &str = "printwarden";

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
    /// A registered passkey (`/api/v1/auth/mfa/passkey/*`, not a typed code).
    Passkey,
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
    if mfa.passkeys > 0 {
        methods.push(MfaMethod::Passkey);
    }
    methods
}

impl From<&MfaRow> for MfaState {
    fn from(m: &MfaRow) -> Self {
        MfaState {
            totp: m.totp_secret.is_some(),
            email: m.email_enabled,
            passkeys: u32::try_from(m.passkeys).unwrap_or(u32::MAX),
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
        self.pepper
    }

    fn hex_digest(&self, normalized: &str) -> String {
        hex::encode(one_time_digest(&self.pepper(), normalized))
    }

    fn signed_in_user(actor: &Actor) -> Result<UserId, AppError> {
        actor.user_id.ok_or(AppError::Unauthenticated)
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
