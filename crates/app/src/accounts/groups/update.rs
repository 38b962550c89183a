//! Editing a group's name, description, permissions, printer scope and sign-in requirement;
//! members whose rights or requirement change have their sessions revoked in the same
//! transaction.

use super::*;

impl App {
    /// `PATCH /api/v1/groups/{id}`.
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        input: GroupPatchInput,
    ) -> Result<Done<GroupView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsUpdate),
            &Target::Global,
        )?;
        let current = self.store.group(id).await?.ok_or(AppError::NotFound)?;
        let only_requirement = input.name.is_none()
            && input.description.is_none()
            && input.permissions.is_none()
            && input.scope.is_none();
        if current.is_system && !only_requirement {
            // Their sign-in requirement is the exception: requiring a passkey of every
            // administrator is the most useful place for one.
            return Err(AppError::Conflict(
                "System groups cannot be changed (only their sign-in requirement); clone it to make an editable copy.".into(),
            ));
        }
        // Only a real change ends sessions.
        let sign_in_requirement = input
            .sign_in_requirement
            .filter(|r| *r != current.sign_in_requirement);
        let name = input
            .name
            .as_deref()
            .map(GroupName::parse)
            .transpose()
            .map_err(bad)?;
        if let Some(n) = &name {
            self.check_name_free(n, Some(id)).await?;
        }
        let before = group_permissions(&current);
        let old_scope = stored_scope(&current);
        let new_scope = match &input.scope {
            Some(s) => s
                .clone()
                .map(PrinterScope::validate)
                .transpose()
                .map_err(bad)?,
            None => old_scope.clone(),
        };
        if input.scope.is_some() && new_scope != old_scope {
            // Widening or narrowing where a group's rights reach is granting or taking them:
            // the actor must hold the group's rights both where they reached and where they
            // will reach.
            let after = input.permissions.clone().unwrap_or_else(|| before.clone());
            self.check_may_grant(actor, &group_rights(&before, old_scope.as_ref()))
                .await?;
            self.check_may_grant(actor, &group_rights(&after, new_scope.as_ref()))
                .await?;
        } else if let Some(p) = &input.permissions {
            // Both what is added and what is removed: removing a right you do not hold from
            // others is as much a decision above your rank as granting it.
            let changed: Vec<Permission> = p
                .iter()
                .filter(|x| !before.contains(x))
                .chain(before.iter().filter(|x| !p.contains(x)))
                .copied()
                .collect();
            self.check_may_grant(actor, &group_rights(&changed, old_scope.as_ref()))
                .await?;
        }
        let patch = GroupPatch {
            name,
            description: input
                .description
                .map(|d| description(Some(d)))
                .transpose()?,
            permissions: input.permissions.as_deref().map(permission_strings),
            scope: input.scope.map(scope_json).transpose()?,
            sign_in_requirement,
        };
        let affected = self
            .store
            .update_group(id, &patch, &Self::admin_check(), actor.session, self.now())
            .await
            .map_err(|e| conflict_or(e, "A group with that name already exists."))?
            .ok_or(AppError::NotFound)?;
        if patch.name.is_some() {
            // Renames are rare; dropping every cached principal is simpler than finding the
            // members, and each reloads with one query.
            self.cache.clear();
        }
        let rotated = self.after_change(actor, &affected).await?;
        self.audit(
            actor,
            AuditEvent::GroupUpdate,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({
                "name": patch.name.as_ref().map(GroupName::as_str),
                "permissions": patch.permissions,
                "scope": patch.scope,
                "sign_in_requirement": patch.sign_in_requirement.map(SignInRequirement::as_str),
                "sign_in_requirement_before": patch
                    .sign_in_requirement
                    .map(|_| current.sign_in_requirement.as_str()),
                "sessions_revoked_for": affected,
            }),
        )
        .await;
        let value = self.get_group(&self.as_system_reader(actor), id).await?;
        Ok(Done {
            value,
            new_session_token: rotated,
        })
    }
}
