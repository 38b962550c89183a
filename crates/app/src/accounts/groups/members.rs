//! Adding a user to a group or removing them; their rights change, so their sessions are revoked.

use super::*;

impl App {
    /// `PUT` / `DELETE /api/v1/groups/{id}/members/{user_id}`.
    pub async fn set_group_member(
        &self,
        actor: &Actor,
        group: GroupId,
        user: UserId,
        member: bool,
    ) -> Result<Done<()>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsUpdate),
            &Target::Global,
        )?;
        let g = self.store.group(group).await?.ok_or(AppError::NotFound)?;
        if self.store.user(user).await?.is_none() {
            return Err(AppError::NotFound);
        }
        // Joining or leaving hands out or takes away the group's rights, with its scope.
        self.check_may_grant(actor, &group_grant(&g)).await?;
        let keep = if actor.user_id == Some(user) {
            actor.session
        } else {
            None
        };
        let changed = self
            .store
            .set_membership(group, user, member, &Self::admin_check(), keep)
            .await?;
        let mut rotated = None;
        if changed {
            rotated = self.after_change(actor, &[user]).await?;
            self.audit(
                actor,
                if member {
                    AuditEvent::GroupMemberAdd
                } else {
                    AuditEvent::GroupMemberRemove
                },
                Some(("group", group.to_string())),
                true,
                serde_json::json!({"user_id": user, "group": g.name.as_str()}),
            )
            .await;
        }
        Ok(Done {
            value: (),
            new_session_token: rotated,
        })
    }
}
