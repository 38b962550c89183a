//! Password links (S5, Advanced Auth via Email): the set-password link a new account gets,
//! "Forgot password?" and the administrator's "send reset link".
//!
//! Invariants: no password ever travels by mail — only a single-use, one-hour link whose
//! SHA-256 alone is stored (a newer link kills the older one); "forgot password" answers the
//! same, in the same time, whether or not the address exists, because the lookup and the mail
//! happen off the request path (threat: account enumeration); only local accounts get links
//! (a directory or SSO account's password lives elsewhere).

use std::collections::BTreeMap;

use pw_credentials::SecretString;
use pw_credentials::token::{TOKEN_BYTES, digest};
use pw_domain::{Email, Permission, UserId};
use pw_policy::{Action, Target};
use pw_store::{UserPatch, UserRow};

use crate::core::clock::random;
use crate::notify::templates::TemplateName;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, RequestMeta};

/// How long a set-password or reset link works.
pub const LINK_LIFETIME_MS: i64 = 60 * 60_000;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkPurpose {
    /// A new account's first password.
    Set,
    /// A forgotten password.
    Reset,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Set => "set",
            LinkPurpose::Reset => "reset",
        }
    }

    fn page(self) -> &'static str {
        match self {
            LinkPurpose::Set => "set-password",
            LinkPurpose::Reset => "reset-password",
        }
    }

    fn template(self) -> TemplateName {
        match self {
            LinkPurpose::Set => TemplateName::Welcome,
            LinkPurpose::Reset => TemplateName::PasswordReset,
        }
    }
}

fn link_gone() -> AppError {
    AppError::BadRequest(
        "This link is invalid, was already used or has expired. Ask for a new one.".into(),
    )
}

impl App {
    /// Stores a new link for the user and mails it (in the background).
    async fn mail_link(&self, user: &UserRow, purpose: LinkPurpose) -> Result<(), AppError> {
        let Some(email) = &user.email else {
            return Err(AppError::Conflict(
                "This account has no email address.".into(),
            ));
        };
        let Some(base) = self.external_url().await? else {
            return Err(AppError::Conflict(
                "Mail is not set up on this server.".into(),
            ));
        };
        let token = hex::encode(random::<TOKEN_BYTES>()?);
        let now = self.now();
        self.store
            .insert_password_token(
                &hex::encode(digest(&token)),
                user.id,
                purpose.as_str(),
                now,
                now + LINK_LIFETIME_MS,
            )
            .await?;
        let vars = BTreeMap::from([
            ("username", user.username.as_str().to_owned()),
            ("link", format!("{base}/{}?token={token}", purpose.page())),
            ("instance", base.clone()),
            ("expires_minutes", (LINK_LIFETIME_MS / 60_000).to_string()),
        ]);
        self.send_template_later(purpose.template(), email.as_str().to_owned(), vars);
        Ok(())
    }

    /// After an administrator created `user` without a password: with Advanced Auth on, mail
    /// them a set-password link. Returns whether a link went out.
    pub(crate) async fn welcome_new_user(&self, user: UserId) -> Result<bool, AppError> {
        if !self.advanced_auth().await? {
            return Ok(false);
        }
        let Some(row) = self.store.user(user).await? else {
            return Ok(false);
        };
        if row.email.is_none() || row.auth_source != "local" {
            return Ok(false);
        }
        self.mail_link(&row, LinkPurpose::Set).await?;
        Ok(true)
    }

    /// `POST /api/v1/auth/forgot-password`: always the same answer; the work happens later.
    pub fn forgot_password(&self, email: &str, meta: RequestMeta) -> Result<(), AppError> {
        let email = Email::parse(email).map_err(|e| AppError::BadRequest(e.to_string()))?;
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.forgot_password_later(&email, &meta).await {
                tracing::warn!(error = %e, "a password reset request failed");
            }
        });
        Ok(())
    }

    async fn forgot_password_later(
        &self,
        email: &Email,
        meta: &RequestMeta,
    ) -> Result<(), AppError> {
        let sent = match self.store.user_by_email(&email.key()).await? {
            Some(user)
                if !user.disabled
                    && user.auth_source == "local"
                    && self.advanced_auth().await? =>
            {
                self.mail_link(&user, LinkPurpose::Reset).await?;
                true
            }
            _ => false,
        };
        self.audit_anonymous(
            meta,
            AuditEvent::AuthPasswordResetRequest,
            sent,
            serde_json::json!({ "email": email.as_str() }),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/users/{id}/password-reset`: an administrator mails the user a reset link.
    pub async fn send_reset_link(&self, actor: &Actor, id: UserId) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersUpdate),
            &Target::Global,
        )?;
        let user = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        self.check_may_act_on(actor, id).await?;
        if user.auth_source != "local" {
            return Err(AppError::Conflict(
                "This account signs in through its directory or SSO provider; its password is not kept here."
                    .into(),
            ));
        }
        if !self.advanced_auth().await? {
            return Err(AppError::Conflict(
                "Turn on Advanced Auth via Email in Settings → Email first.".into(),
            ));
        }
        self.mail_link(&user, LinkPurpose::Reset).await?;
        self.audit(
            actor,
            AuditEvent::UserPasswordResetLink,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/auth/reset-password`: sets the password from a link (set or reset),
    /// spends the link and ends every session of the account.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &SecretString,
        meta: RequestMeta,
    ) -> Result<(), AppError> {
        let digest = hex::encode(digest(token));
        let now = self.now();
        // Looked at first, spent only once the new password passes the rules: a too-short
        // password must not burn the link.
        let (user, _) = self
            .store
            .password_token(&digest, now)
            .await?
            .ok_or_else(link_gone)?;
        let row = self
            .store
            .user(user)
            .await?
            .filter(|u| !u.disabled && u.auth_source == "local")
            .ok_or_else(link_gone)?;
        self.check_replacement_password(new_password, &row).await?;
        let hash = self.hash(new_password).await?;
        let (_, purpose) = self
            .store
            .redeem_password_token(&digest, self.now())
            .await?
            .ok_or_else(link_gone)?;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..UserPatch::default()
        };
        self.store
            .update_user(user, &patch, &Self::admin_check(), None, self.now())
            .await?;
        self.revoke_users(&[user]);
        let actor = Actor {
            user_id: Some(user),
            name: std::sync::Arc::from(row.username.as_str()),
            ..Actor::anonymous(meta)
        };
        self.audit(
            &actor,
            AuditEvent::AuthPasswordReset,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({ "link": purpose }),
        )
        .await;
        Ok(())
    }
}
