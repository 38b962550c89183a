//! Editing a user: identity, groups, password, disable; any change to what they may do revokes
//! their sessions in the same transaction and closes their live connections.

use super::*;

impl App {
    /// `PATCH /api/v1/users/{id}`.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        input: UpdateUser,
    ) -> Result<Done<UserView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersUpdate),
            &Target::Global,
        )?;
        let row = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        refuse_self(actor, id)?;
        let current_groups = self.store.groups_of_user(id).await?;
        self.check_may_grant(actor, &rights_of(&current_groups))
            .await?;
        // Only real changes count: re-sending the same flag or the same groups must not log the
        // user out everywhere.
        let disabled = input.disabled.filter(|d| *d != row.disabled);
        let group_ids = match &input.group_ids {
            Some(wanted) => {
                let mut wanted = wanted.clone();
                wanted.sort_unstable();
                wanted.dedup();
                let mut have: Vec<GroupId> = current_groups.iter().map(|g| g.id).collect();
                have.sort_unstable();
                (wanted != have).then_some(wanted)
            }
            None => None,
        };
        let email = match input.email.as_deref() {
            None => None,
            Some(raw) => Some(parse_email(Some(raw))?),
        };
        if let Some(Some(e)) = &email {
            self.check_identity_free(None, Some(e), Some(id)).await?;
        }
        if let Some(groups) = &group_ids {
            self.check_groups_exist(groups).await?;
            // Joining or leaving a group hands out or takes away its rights: the actor must hold
            // every one of them (threat: a delegated user manager adding themselves or a friend
            // to Administrators).
            let all = self.store.list_groups().await?;
            let touched: Vec<GroupRow> = all
                .into_iter()
                .filter(|g| groups.contains(&g.id) != current_groups.iter().any(|c| c.id == g.id))
                .collect();
            self.check_may_grant(actor, &rights_of(&touched)).await?;
            // Leaving a group with a sign-in requirement can lift it: only someone who may
            // change the requirement itself may do that (threat: a user manager without
            // group rights freeing an account from a required passkey).
            let lifts = touched.iter().any(|g| {
                g.sign_in_requirement != pw_domain::SignInRequirement::None
                    && !groups.contains(&g.id)
            });
            if lifts {
                self.require(
                    actor,
                    Action::Perform(Permission::GroupsUpdate),
                    &Target::Global,
                )?;
            }
        }
        let password_hash = match &input.password {
            Some(p) => {
                Self::refuse_external_password(&row)?;
                self.check_replacement_password(p, &row).await?;
                Some(self.hash(p).await?)
            }
            None => None,
        };
        let patch = UserPatch {
            email,
            password_hash,
            disabled,
            group_ids,
        };
        if !self
            .store
            .update_user(id, &patch, &Self::admin_check(), None, self.now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        if patch.email.is_some() {
            self.cache.forget_user(id);
        }
        let revoking =
            patch.password_hash.is_some() || patch.disabled.is_some() || patch.group_ids.is_some();
        let rotated = if revoking {
            self.after_change(actor, &[id]).await?
        } else {
            None
        };
        let target = Some(("user", id.to_string()));
        if patch.password_hash.is_some() {
            self.audit(
                actor,
                AuditEvent::AuthPasswordReset,
                target.clone(),
                true,
                serde_json::json!({"by": "admin"}),
            )
            .await;
        }
        self.audit(
            actor,
            AuditEvent::UserUpdate,
            target,
            true,
            serde_json::json!({
                "email": patch.email.is_some(),
                "password": patch.password_hash.is_some(),
                "disabled": patch.disabled,
                "group_ids": patch.group_ids,
            }),
        )
        .await;
        let user = self.get_user(&self.as_system_reader(actor), id).await?.user;
        Ok(Done {
            value: user,
            new_session_token: rotated,
        })
    }
}
