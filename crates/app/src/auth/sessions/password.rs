//! Passwords: changing one's own (re-checks the current one, revokes other sessions), the
//! strength rules, and argon2id hashing on the blocking pool behind the hashing semaphore.

use super::*;

impl App {
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
        Self::refuse_external_password(&row)?;
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
}
