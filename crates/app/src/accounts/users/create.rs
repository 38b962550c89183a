//! Adding a user: identity checked free, groups checked to exist and grantable, password hashed.

use super::*;

impl App {
    /// `POST /api/v1/users`.
    pub async fn create_user(
        &self,
        actor: &Actor,
        input: CreateUser,
    ) -> Result<UserView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersCreate),
            &Target::Global,
        )?;
        let username = Username::parse(&input.username).map_err(bad)?;
        let email = parse_email(input.email.as_deref())?;
        self.check_identity_free(Some(&username), email.as_ref(), None)
            .await?;
        self.check_groups_exist(&input.group_ids).await?;
        // Creating an account in groups hands it their rights: the same grant rule as joining
        // them later (threat: a `users:create` holder creating a user in `Administrators`).
        let chosen: Vec<GroupRow> = self
            .store
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| input.group_ids.contains(&g.id))
            .collect();
        self.check_may_grant(actor, &rights_of(&chosen)).await?;
        let password_hash = match &input.password {
            Some(p) if !p.is_empty() => {
                self.check_password(p, &username).await?;
                Some(self.hash(p).await?)
            }
            _ => None,
        };
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username,
                    email,
                    password_hash,
                    auth_source: "local",
                    group_ids: input.group_ids.clone(),
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username or email is already taken."))?;
        let mut invited = false;
        if input.password.as_ref().is_none_or(|p| p.is_empty()) {
            // No password: with Advanced Auth the user chooses one through a mailed link.
            invited = self.welcome_new_user(id).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not send the set-password link");
                false
            });
        }
        self.audit(
            actor,
            AuditEvent::UserCreate,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({
                "username": input.username.trim(),
                "group_ids": input.group_ids,
                "set_password_link": invited,
            }),
        )
        .await;
        Ok(self.get_user(&self.as_system_reader(actor), id).await?.user)
    }
}
