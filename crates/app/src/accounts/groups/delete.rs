//! Deleting a group; system groups stay, and the last administrator is kept.

use super::*;

impl App {
    /// `DELETE /api/v1/groups/{id}`.
    pub async fn delete_group(&self, actor: &Actor, id: GroupId) -> Result<Done<()>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsDelete),
            &Target::Global,
        )?;
        let current = self.store.group(id).await?.ok_or(AppError::NotFound)?;
        if current.is_system {
            return Err(AppError::Conflict(
                "System groups cannot be deleted.".into(),
            ));
        }
        // Deleting a group takes its rights from every member.
        self.check_may_grant(actor, &group_grant(&current)).await?;
        let affected = self
            .store
            .delete_group(id, &Self::admin_check(), actor.session)
            .await?
            .ok_or(AppError::NotFound)?;
        let rotated = self.after_change(actor, &affected).await?;
        self.audit(
            actor,
            AuditEvent::GroupDelete,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({"name": current.name.as_str(), "members": affected}),
        )
        .await;
        Ok(Done {
            value: (),
            new_session_token: rotated,
        })
    }
}
