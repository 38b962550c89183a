//! Recovery commands run by the operator as the process (CLI): reset a password, reset second
//! factors, create an administrator. Each is audited as `system`.

use super::*;

impl App {
    /// CLI `admin reset-password`: sets a password as the system, ends every session.
    pub async fn reset_password_as_system(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<UserId, AppError> {
        let row = self.user_named(username).await?;
        self.check_replacement_password(password, &row).await?;
        let hash = self.hash(password).await?;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..UserPatch::default()
        };
        self.store
            .update_user(row.id, &patch, &Self::admin_check(), None, self.now())
            .await?;
        self.revoke_users(&[row.id]);
        self.audit(
            &Actor::system(),
            AuditEvent::AuthPasswordReset,
            Some(("user", row.id.to_string())),
            true,
            serde_json::json!({"by": "cli"}),
        )
        .await;
        Ok(row.id)
    }

    /// The user with this login name (CLI commands name users).
    async fn user_named(&self, username: &str) -> Result<UserRow, AppError> {
        let name = Username::parse(username).map_err(bad)?;
        self.store
            .user_by_username(&name.key())
            .await?
            .ok_or(AppError::NotFound)
    }

    /// CLI `admin reset-mfa`: removes the user's second factors and ends their sessions.
    pub async fn reset_mfa_as_system(&self, username: &str) -> Result<UserId, AppError> {
        let row = self.user_named(username).await?;
        self.store.reset_mfa(row.id).await?;
        self.revoke_users(&[row.id]);
        self.audit(
            &Actor::system(),
            AuditEvent::UserMfaReset,
            Some(("user", row.id.to_string())),
            true,
            serde_json::json!({"by": "cli"}),
        )
        .await;
        Ok(row.id)
    }

    /// CLI `admin create-admin`: a new member of `Administrators`, created by the system.
    pub async fn create_admin_as_system(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<UserId, AppError> {
        let name = Username::parse(username).map_err(bad)?;
        self.check_identity_free(Some(&name), None, None).await?;
        self.check_password(password, &name).await?;
        let hash = self.hash(password).await?;
        let admins = self
            .system_group(pw_domain::SystemGroup::Administrators)
            .await?;
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: name,
                    email: None,
                    password_hash: Some(hash),
                    auth_source: "local",
                    group_ids: vec![admins],
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username is already taken."))?;
        *self.setup_code.lock().await = None;
        self.remove_setup_code_file();
        self.audit(
            &Actor::system(),
            AuditEvent::UserCreate,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({"username": username.trim(), "by": "cli", "administrator": true}),
        )
        .await;
        Ok(id)
    }

    /// Re-reading what one just wrote needs no second permission check (a user who may
    /// create users sees the one they created even without `users:read`).
    pub(crate) fn as_system_reader(&self, actor: &Actor) -> Actor {
        Actor {
            principal: pw_policy::Principal::System,
            name: Arc::clone(&actor.name),
            ..actor.clone()
        }
    }
}
