//! Deleting a user: what names them follows the owned-items registry, the last administrator
//! is kept, and their sessions and live connections end.

use super::*;

impl App {
    /// `DELETE /api/v1/users/{id}?items=keep|delete`.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: UserId,
        items: OwnedItems,
    ) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersDelete),
            &Target::Global,
        )?;
        if actor.user_id == Some(id) {
            return Err(AppError::Conflict(
                "You cannot delete your own account.".into(),
            ));
        }
        let row = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        self.check_may_act_on(actor, id).await?;
        // Only the user's own content goes with them, each kind through its own service
        // (authorized, audited per item); printers, webhooks and history stay. See
        // `crate::accounts::owned`.
        let deleted = match items {
            OwnedItems::Keep => Vec::new(),
            OwnedItems::Delete => self.delete_owned_items(actor, id).await?,
        };
        if !self.delete_account_row(id).await? {
            return Err(AppError::NotFound);
        }
        self.revoke_users(&[id]);
        let deleted: serde_json::Map<String, serde_json::Value> = deleted
            .into_iter()
            .map(|(kind, n)| (kind.to_owned(), n.into()))
            .collect();
        self.audit(
            actor,
            AuditEvent::UserDelete,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({
                "username": row.username.as_str(),
                "items": match items { OwnedItems::Keep => "keep", OwnedItems::Delete => "delete" },
                "deleted": deleted,
            }),
        )
        .await;
        Ok(())
    }
}
