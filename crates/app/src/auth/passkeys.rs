//! Passkeys (WebAuthn, S4 and issue 19): registering several per user (after the password
//! again), listing, renaming and removing them, signing in with one alone (discoverable credentials,
//! user verification required), and using one as the second factor of a password sign-in.
//!
//! Invariants: every ceremony's challenge is random, server-side, lives five minutes, is
//! bound to the browser by an HttpOnly cookie (only its digest is stored) and is deleted by
//! the statement that reads it, so a replayed or raced response finds nothing; a registration
//! challenge is bound to the user and the session that asked for it, a second-factor one to
//! the user of the pending password step; the relying party is `public_url`'s origin (or,
//! without one, the request's own screened origin), so a response made for another origin or
//! RP id is refused; a signature counter that does not move forward refuses the sign-in and
//! is audited (threat: a cloned authenticator); nobody removes their last way to sign in.

use std::sync::Arc;

use pw_credentials::SecretString;
use pw_credentials::password::Verified;
use pw_credentials::token::{TOKEN_BYTES, digest};
use pw_credentials::webauthn::{
    self, ALGORITHMS, CHALLENGE_BYTES, RelyingParty, StoredCredential, USER_HANDLE_BYTES,
    WebauthnError, b64url, from_b64url,
};
use pw_domain::{SignInStrength, UserId};
use pw_store::{NewPasskey, PasskeyRow, StoreError};
use serde::{Deserialize, Serialize};

use crate::auth::mfa::OpenChallenge;
use crate::auth::sessions::LoginOutcome;
use crate::core::clock::random;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, RequestMeta};

/// How long a ceremony may take (the browser's `timeout` too).
pub const PASSKEY_CEREMONY_MS: i64 = 5 * 60_000;
/// Passkeys one account may register (threat: filling the table through one account).
pub const MAX_PASSKEYS: i64 = 20;
/// How recent a sign-in must be to stand in for the password of an account without one.
const REAUTH_WINDOW_MS: i64 = 5 * 60_000;
/// Longest passkey name, in characters.
const NAME_MAX: usize = 64;

/// A ceremony begun: the cookie value that binds it to this browser, and what
/// `navigator.credentials.create/get` needs.
#[derive(Debug)]
pub struct PasskeyCeremony {
    /// The cookie value (only its digest is stored).
    pub token: SecretString,
    /// The `publicKey` options for the browser, binary fields in base64url.
    pub options: serde_json::Value,
}

/// A new credential as the browser returns it (binary fields in base64url).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationCredential {
    /// The credential id.
    pub id: String,
    /// The authenticator's answer.
    pub response: AttestationResponse,
}

/// `AuthenticatorAttestationResponse`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttestationResponse {
    /// `clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `attestationObject`.
    pub attestation_object: String,
}

/// An assertion as the browser returns it (binary fields in base64url).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionCredential {
    /// The credential id.
    pub id: String,
    /// The authenticator's answer.
    pub response: AssertionResponse,
}

/// `AuthenticatorAssertionResponse`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssertionResponse {
    /// `clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `authenticatorData`.
    pub authenticator_data: String,
    /// `signature`.
    pub signature: String,
    /// `userHandle` (discoverable credentials).
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// One of the caller's passkeys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    /// Id.
    pub id: i64,
    /// The name given at registration.
    pub name: String,
    /// Registered (RFC 3339).
    pub created_at: String,
    /// Last sign-in with it (RFC 3339), null if never.
    pub last_used_at: Option<String>,
    /// May be synced between devices (a synced passkey).
    pub backup_eligible: bool,
    /// Was backed up at its last use.
    pub backed_up: bool,
}

fn view(row: &PasskeyRow) -> PasskeyView {
    PasskeyView {
        id: row.id,
        name: row.name.clone(),
        created_at: crate::core::clock::rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(crate::core::clock::rfc3339),
        backup_eligible: row.backup_eligible,
        backed_up: row.backup_state,
    }
}

fn ceremony_gone() -> AppError {
    AppError::BadRequest(
        "The passkey request has expired or was started in another browser. Try again.".into(),
    )
}

fn not_verified() -> AppError {
    AppError::BadRequest("The passkey could not be verified. Try again.".into())
}

/// Why a ceremony failed, for the audit log (never shown to the user).
fn reason(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::Malformed(_) => "malformed",
        WebauthnError::WrongType => "wrong ceremony type",
        WebauthnError::Challenge => "challenge mismatch",
        WebauthnError::Origin => "origin mismatch",
        WebauthnError::RpId => "rp id mismatch",
        WebauthnError::UserNotPresent => "user not present",
        WebauthnError::UserNotVerified => "user not verified",
        WebauthnError::Algorithm => "unsupported algorithm",
        WebauthnError::Signature => "bad signature",
        WebauthnError::Counter => "counter went backwards",
        WebauthnError::BackupEligibility => "backup eligibility changed",
    }
}

fn parse_name(raw: Option<&str>) -> Result<String, AppError> {
    let name = raw.map_or("", str::trim);
    if name.is_empty() {
        return Ok("Passkey".into());
    }
    if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "A passkey name has at most {NAME_MAX} characters and no control characters."
        )));
    }
    Ok(name.to_owned())
}

fn bytes_of(text: &str) -> Result<Vec<u8>, AppError> {
    from_b64url(text).map_err(|_| not_verified())
}

/// Which ceremony a challenge row serves.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Register,
    Login,
    Mfa,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::Mfa => "mfa",
        }
    }
}

impl App {
    /// The relying party: `public_url` when set, else the request's own origin (which the
    /// shield admitted by its Host allow-list). IP addresses cannot be WebAuthn RP ids.
    fn relying_party(&self, request_origin: Option<&str>) -> Result<RelyingParty, AppError> {
        self.config
            .public_origin
            .as_deref()
            .or(request_origin)
            .and_then(RelyingParty::from_origin)
            .ok_or_else(|| {
                AppError::Conflict(
                    "Passkeys need printwarden to be reached by a name, not an IP address. Open it by its name, or set public_url.".into(),
                )
            })
    }

    async fn begin_ceremony(
        &self,
        purpose: Purpose,
        user: Option<UserId>,
        actor: Option<&Actor>,
    ) -> Result<(SecretString, [u8; CHALLENGE_BYTES]), AppError> {
        let challenge = random::<CHALLENGE_BYTES>()?;
        let token = hex::encode(random::<TOKEN_BYTES>()?);
        let now = self.now();
        self.store
            .insert_passkey_challenge(
                &hex::encode(digest(&token)),
                purpose.as_str(),
                user,
                actor.and_then(|a| a.session),
                &b64url(&challenge),
                now,
                now + PASSKEY_CEREMONY_MS,
            )
            .await?;
        Ok((SecretString::new(token), challenge))
    }

    async fn take_ceremony(
        &self,
        token: &str,
        purpose: Purpose,
    ) -> Result<Option<pw_store::PasskeyChallengeRow>, AppError> {
        Ok(self
            .store
            .take_passkey_challenge(&hex::encode(digest(token)), purpose.as_str(), self.now())
            .await?)
    }

    /// Re-authentication before a passkey is added or removed: the account's password, or for
    /// an account without one a sign-in within [`REAUTH_WINDOW_MS`] (threat: a stolen session
    /// cookie planting the attacker's passkey for later, or removing the owner's).
    pub(crate) async fn confirm_password(
        &self,
        actor: &Actor,
        password: &SecretString,
        event: AuditEvent,
    ) -> Result<pw_store::UserRow, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        // Only a browser session manages passkeys; the route table already keeps API keys
        // out, and this keeps it so if a row is ever loosened.
        if actor.session.is_none() || actor.api_key.is_some() {
            return Err(AppError::Forbidden);
        }
        let row = self
            .store
            .user(user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated)?;
        if row.password_hash.is_none() {
            // An account without a password (a passkey-only or directory-made one) proves
            // itself by a sign-in moments ago instead: its session must be that fresh.
            let now = self.now();
            let sessions = self
                .store
                .list_sessions(user, now - REAUTH_WINDOW_MS, now)
                .await?;
            let fresh = sessions
                .iter()
                .any(|s| Some(s.id) == actor.session && now - s.created_at <= REAUTH_WINDOW_MS);
            if fresh {
                return Ok(row);
            }
            self.audit(
                actor,
                event,
                Some(("user", user.to_string())),
                false,
                serde_json::json!({"reason": "sign-in not recent"}),
            )
            .await;
            return Err(AppError::Conflict(
                "Sign out and in again first: this change needs a sign-in from the last five minutes.".into(),
            ));
        }
        if !matches!(
            self.verify(password, row.password_hash.clone()).await?,
            Verified::Valid { .. }
        ) {
            self.audit(
                actor,
                event,
                Some(("user", user.to_string())),
                false,
                serde_json::json!({"reason": "wrong password"}),
            )
            .await;
            return Err(AppError::WrongSecret("The password is not correct.".into()));
        }
        Ok(row)
    }

    /// `POST /api/v1/auth/passkeys/register/options`: after the password, the options for
    /// `navigator.credentials.create` (a discoverable credential with user verification).
    pub async fn passkey_register_options(
        &self,
        actor: &Actor,
        password: &SecretString,
        request_origin: Option<&str>,
    ) -> Result<PasskeyCeremony, AppError> {
        let rp = self.relying_party(request_origin)?;
        let row = self
            .confirm_password(actor, password, AuditEvent::AuthPasskeyRegister)
            .await?;
        let existing = self.store.passkeys_of(row.id).await?;
        if i64::try_from(existing.len()).unwrap_or(i64::MAX) >= MAX_PASSKEYS {
            return Err(AppError::Conflict(format!(
                "An account can have at most {MAX_PASSKEYS} passkeys. Remove one first."
            )));
        }
        let handle = self
            .store
            .passkey_handle(row.id, &b64url(&random::<USER_HANDLE_BYTES>()?))
            .await?;
        let (token, challenge) = self
            .begin_ceremony(Purpose::Register, Some(row.id), Some(actor))
            .await?;
        let exclude: Vec<_> = existing
            .iter()
            .map(|p| serde_json::json!({"type": "public-key", "id": p.credential_id}))
            .collect();
        let params: Vec<_> = ALGORITHMS
            .iter()
            .map(|alg| serde_json::json!({"type": "public-key", "alg": alg}))
            .collect();
        let options = serde_json::json!({
            "rp": {"id": rp.id, "name": "printwarden"},
            "user": {"id": handle, "name": row.username.as_str(), "displayName": row.username.as_str()},
            "challenge": b64url(&challenge),
            "pubKeyCredParams": params,
            "timeout": PASSKEY_CEREMONY_MS,
            "attestation": "none",
            "excludeCredentials": exclude,
            "authenticatorSelection": {
                "residentKey": "required",
                "requireResidentKey": true,
                "userVerification": "required",
            },
        });
        Ok(PasskeyCeremony { token, options })
    }

    /// `POST /api/v1/auth/passkeys/register`: verifies the new credential against the
    /// challenge of this browser, user and session, and stores it.
    pub async fn passkey_register(
        &self,
        actor: &Actor,
        token: Option<&str>,
        name: Option<&str>,
        credential: &RegistrationCredential,
        request_origin: Option<&str>,
    ) -> Result<PasskeyView, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        if actor.session.is_none() || actor.api_key.is_some() {
            return Err(AppError::Forbidden);
        }
        let name = parse_name(name)?;
        let rp = self.relying_party(request_origin)?;
        let fail = |reason: &'static str| async move {
            self.audit(
                actor,
                AuditEvent::AuthPasskeyRegister,
                Some(("user", user.to_string())),
                false,
                serde_json::json!({"reason": reason}),
            )
            .await;
        };
        let Some(taken) = (match token {
            Some(t) => self.take_ceremony(t, Purpose::Register).await?,
            None => None,
        }) else {
            fail("no live challenge").await;
            return Err(ceremony_gone());
        };
        // Bound to who asked and where: another session of the same user (another browser)
        // cannot finish it (threat: a challenge carried to another session).
        if taken.user_id != Some(user) || taken.session_id != actor.session {
            fail("challenge of another session").await;
            return Err(ceremony_gone());
        }
        let challenge = bytes_of(&taken.challenge)?;
        let verified = webauthn::verify_registration(
            &rp,
            &challenge,
            &bytes_of(&credential.response.client_data_json)?,
            &bytes_of(&credential.response.attestation_object)?,
            true,
        );
        let new = match verified {
            Ok(new) if b64url(&new.id) == credential.id => new,
            Ok(_) => {
                fail("credential id mismatch").await;
                return Err(not_verified());
            }
            Err(e) => {
                fail(reason(&e)).await;
                return Err(not_verified());
            }
        };
        let row = self.store.user(user).await?.filter(|u| !u.disabled);
        if row.is_none() {
            return Err(AppError::Unauthenticated);
        }
        let now = self.now();
        let id = match self
            .store
            .insert_passkey(&NewPasskey {
                user_id: user,
                credential_id: &b64url(&new.id),
                public_key: &b64url(&new.public_key),
                algorithm: new.algorithm,
                name: &name,
                sign_count: i64::from(new.sign_count),
                backup_eligible: new.backup_eligible,
                backup_state: new.backup_state,
                aaguid: &hex::encode(new.aaguid),
                now,
            })
            .await
        {
            Ok(id) => id,
            Err(StoreError::Conflict) => {
                fail("credential registered already").await;
                return Err(AppError::Conflict(
                    "This passkey is registered already.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.cache.forget_user(user);
        // The new passkey just signed this session's challenge: the session has shown a
        // passkey (a group requiring one is met without signing in again).
        self.raise_session(actor, SignInStrength::Passkey).await;
        self.audit(
            actor,
            AuditEvent::AuthPasskeyRegister,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"passkey": id, "name": name, "backup_eligible": new.backup_eligible}),
        )
        .await;
        let rows = self.store.passkeys_of(user).await?;
        rows.iter()
            .find(|p| p.id == id)
            .map(view)
            .ok_or(AppError::NotFound)
    }

    /// `GET /api/v1/auth/passkeys`: the caller's passkeys.
    pub async fn passkeys(&self, actor: &Actor) -> Result<Vec<PasskeyView>, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        Ok(self
            .store
            .passkeys_of(user)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// `POST /api/v1/auth/passkeys/{id}/delete`: after the password; refused when it is the
    /// account's last way to sign in (no password, not a directory account, no other passkey).
    pub async fn delete_passkey(
        &self,
        actor: &Actor,
        id: i64,
        password: &SecretString,
    ) -> Result<(), AppError> {
        let row = self
            .confirm_password(actor, password, AuditEvent::AuthPasskeyDelete)
            .await?;
        let mine = self.store.passkeys_of(row.id).await?;
        if !mine.iter().any(|p| p.id == id) {
            // Another user's passkey is "not found", never "forbidden" (no enumeration).
            return Err(AppError::NotFound);
        }
        let other_way = row.password_hash.is_some() || row.auth_source != "local";
        if !other_way && mine.len() <= 1 {
            self.audit(
                actor,
                AuditEvent::AuthPasskeyDelete,
                Some(("user", row.id.to_string())),
                false,
                serde_json::json!({"passkey": id, "reason": "last way to sign in"}),
            )
            .await;
            return Err(AppError::Conflict(
                "This is your last way to sign in. Add another passkey or set a password first."
                    .into(),
            ));
        }
        if !self.store.delete_passkey(row.id, id).await? {
            return Err(AppError::NotFound);
        }
        self.cache.forget_user(row.id);
        self.audit(
            actor,
            AuditEvent::AuthPasskeyDelete,
            Some(("user", row.id.to_string())),
            true,
            serde_json::json!({"passkey": id}),
        )
        .await;
        Ok(())
    }

    /// `PATCH /api/v1/auth/passkeys/{id}`: a new name for one of the caller's own passkeys
    /// (the rules of registration). Another user's id is "not found" (threat: probing or
    /// renaming someone else's credential by id).
    pub async fn rename_passkey(
        &self,
        actor: &Actor,
        id: i64,
        name: Option<&str>,
    ) -> Result<PasskeyView, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let name = parse_name(name)?;
        if !self.store.rename_passkey(user, id, &name).await? {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::AuthPasskeyRename,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"passkey": id, "name": name}),
        )
        .await;
        let rows = self.store.passkeys_of(user).await?;
        rows.iter()
            .find(|p| p.id == id)
            .map(view)
            .ok_or(AppError::NotFound)
    }

    /// `POST /api/v1/auth/passkeys/login/options`: options for a passwordless sign-in with a
    /// discoverable credential (no user named yet, user verification required).
    pub async fn passkey_login_options(
        &self,
        request_origin: Option<&str>,
    ) -> Result<PasskeyCeremony, AppError> {
        let rp = self.relying_party(request_origin)?;
        let (token, challenge) = self.begin_ceremony(Purpose::Login, None, None).await?;
        let options = serde_json::json!({
            "rpId": rp.id,
            "challenge": b64url(&challenge),
            "timeout": PASSKEY_CEREMONY_MS,
            "userVerification": "required",
            "allowCredentials": [],
        });
        Ok(PasskeyCeremony { token, options })
    }

    /// `POST /api/v1/auth/mfa/passkey/options`: during the second step of a password sign-in,
    /// options naming the pending user's passkeys.
    pub async fn passkey_mfa_options(
        &self,
        challenge: &OpenChallenge,
        request_origin: Option<&str>,
    ) -> Result<PasskeyCeremony, AppError> {
        let rp = self.relying_party(request_origin)?;
        let keys = self.store.passkeys_of(challenge.user).await?;
        if keys.is_empty() {
            return Err(AppError::Conflict(
                "This account has no passkey. Use another method.".into(),
            ));
        }
        let (token, bytes) = self
            .begin_ceremony(Purpose::Mfa, Some(challenge.user), None)
            .await?;
        let allow: Vec<_> = keys
            .iter()
            .map(|p| serde_json::json!({"type": "public-key", "id": p.credential_id}))
            .collect();
        let options = serde_json::json!({
            "rpId": rp.id,
            "challenge": b64url(&bytes),
            "timeout": PASSKEY_CEREMONY_MS,
            "userVerification": "preferred",
            "allowCredentials": allow,
        });
        Ok(PasskeyCeremony { token, options })
    }

    /// `POST /api/v1/auth/passkeys/login`: a passwordless sign-in. Every refusal is the same
    /// `Unauthenticated` to the caller; the audit log keeps the reason.
    pub async fn passkey_login(
        &self,
        token: Option<&str>,
        credential: &AssertionCredential,
        previous_session: Option<&str>,
        meta: RequestMeta,
        request_origin: Option<&str>,
    ) -> Result<LoginOutcome, AppError> {
        let rp = self.relying_party(request_origin)?;
        let taken = match token {
            Some(t) => self.take_ceremony(t, Purpose::Login).await?,
            None => None,
        };
        let Some(taken) = taken else {
            self.passkey_refused(&meta, None, None, "no live challenge", "login")
                .await;
            return Err(AppError::Unauthenticated);
        };
        let row = self
            .assert_passkey(&rp, &taken, credential, None, &meta, "login")
            .await?;
        let user = row.user_id;
        // The discoverable credential names its user; it must be the credential's owner.
        let handle_ok = match &credential.response.user_handle {
            Some(h) => self.store.user_by_passkey_handle(h).await? == Some(user),
            None => true,
        };
        let account = self.store.user(user).await?.filter(|u| !u.disabled);
        let Some(account) = account.filter(|_| handle_ok) else {
            let why = if handle_ok {
                "disabled user"
            } else {
                "user handle mismatch"
            };
            self.passkey_refused(&meta, Some(user), Some(row.id), why, "login")
                .await;
            return Err(AppError::Unauthenticated);
        };
        self.end_previous_session(previous_session).await;
        let actor = Actor {
            user_id: Some(user),
            name: Arc::from(account.username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthLogin,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"method": "passkey", "passkey": row.id}),
        )
        .await;
        self.open_session(user, &meta, SignInStrength::Passkey)
            .await
    }

    /// `POST /api/v1/auth/mfa/passkey/verify`: finishes a password sign-in's second step with
    /// one of that user's passkeys.
    pub async fn complete_challenge_with_passkey(
        &self,
        challenge: &OpenChallenge,
        token: Option<&str>,
        credential: &AssertionCredential,
        meta: RequestMeta,
        request_origin: Option<&str>,
    ) -> Result<LoginOutcome, AppError> {
        let rp = self.relying_party(request_origin)?;
        let user = challenge.user;
        let taken = match token {
            Some(t) => self.take_ceremony(t, Purpose::Mfa).await?,
            None => None,
        };
        let Some(taken) = taken.filter(|t| t.user_id == Some(user)) else {
            self.passkey_refused(&meta, Some(user), None, "no live challenge", "mfa")
                .await;
            return Err(ceremony_gone());
        };
        let row = self
            .assert_passkey(&rp, &taken, credential, Some(user), &meta, "mfa")
            .await?;
        let account = self
            .store
            .user(user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated)?;
        if !self.consume_open_challenge(challenge).await? {
            return Err(AppError::Unauthenticated);
        }
        let actor = Actor {
            user_id: Some(user),
            name: Arc::from(account.username.as_str()),
            ..Actor::anonymous(meta.clone())
        };
        self.audit(
            &actor,
            AuditEvent::AuthLogin,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"mfa": "passkey", "passkey": row.id}),
        )
        .await;
        self.open_session(user, &meta, SignInStrength::Passkey)
            .await
    }

    /// Verifies an assertion against the stored credential it names and moves its counter.
    /// `owner`: the second-factor step's user, who must own the credential (and then user
    /// presence suffices); `None` for a passwordless sign-in, which needs user verification.
    async fn assert_passkey(
        &self,
        rp: &RelyingParty,
        taken: &pw_store::PasskeyChallengeRow,
        credential: &AssertionCredential,
        owner: Option<UserId>,
        meta: &RequestMeta,
        step: &'static str,
    ) -> Result<PasskeyRow, AppError> {
        let unknown = || AppError::Unauthenticated;
        let require_uv = owner.is_none();
        let Some(row) = self.store.passkey_by_credential(&credential.id).await? else {
            self.passkey_refused(meta, owner, None, "unknown credential", step)
                .await;
            return Err(unknown());
        };
        if let Some(owner) = owner.filter(|o| *o != row.user_id) {
            // Threat: finishing one account's password step with another account's passkey.
            self.passkey_refused(
                meta,
                Some(owner),
                Some(row.id),
                "another user's passkey",
                step,
            )
            .await;
            return Err(unknown());
        }
        let challenge = from_b64url(&taken.challenge).map_err(|_| unknown())?;
        let public_key = from_b64url(&row.public_key).map_err(|_| unknown())?;
        let stored = u32::try_from(row.sign_count).unwrap_or(u32::MAX);
        let decoded = (
            from_b64url(&credential.response.client_data_json),
            from_b64url(&credential.response.authenticator_data),
            from_b64url(&credential.response.signature),
        );
        let (Ok(client_data), Ok(auth_data), Ok(sig)) = decoded else {
            self.passkey_refused(meta, Some(row.user_id), Some(row.id), "malformed", step)
                .await;
            return Err(unknown());
        };
        let result = webauthn::verify_assertion(
            rp,
            &challenge,
            StoredCredential {
                public_key: &public_key,
                sign_count: stored,
                backup_eligible: row.backup_eligible,
            },
            &client_data,
            &auth_data,
            &sig,
            require_uv,
        );
        let assertion = match result {
            Ok(a) => a,
            Err(WebauthnError::Counter) => {
                let presented = auth_data
                    .get(33..37)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string())
                    .unwrap_or_default();
                self.audit_anonymous_user(
                    meta,
                    row.user_id,
                    AuditEvent::AuthPasskeyCloned,
                    serde_json::json!({"passkey": row.id, "stored": row.sign_count, "presented": presented}),
                )
                .await;
                return Err(unknown());
            }
            Err(e) => {
                self.passkey_refused(meta, Some(row.user_id), Some(row.id), reason(&e), step)
                    .await;
                return Err(unknown());
            }
        };
        // Compare and swap: of two assertions verified against the same counter, one wins.
        if !self
            .store
            .use_passkey(
                row.id,
                row.sign_count,
                i64::from(assertion.sign_count),
                assertion.backup_state,
                self.now(),
            )
            .await?
        {
            self.passkey_refused(meta, Some(row.user_id), Some(row.id), "counter raced", step)
                .await;
            return Err(unknown());
        }
        Ok(row)
    }

    async fn passkey_refused(
        &self,
        meta: &RequestMeta,
        user: Option<UserId>,
        passkey: Option<i64>,
        why: &'static str,
        step: &'static str,
    ) {
        let details = serde_json::json!({"passkey": passkey, "reason": why, "step": step});
        match user {
            Some(u) => {
                self.audit_anonymous_user(meta, u, AuditEvent::AuthPasskeyRefused, details)
                    .await;
            }
            None => {
                self.audit_anonymous(meta, AuditEvent::AuthPasskeyRefused, false, details)
                    .await;
            }
        }
    }

    /// A refusal that names the account it was about (no one is signed in yet).
    async fn audit_anonymous_user(
        &self,
        meta: &RequestMeta,
        user: UserId,
        event: AuditEvent,
        details: serde_json::Value,
    ) {
        let actor = Actor::anonymous(meta.clone());
        self.audit(
            &actor,
            event,
            Some(("user", user.to_string())),
            false,
            details,
        )
        .await;
    }
}
