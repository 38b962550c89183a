//! Sign-out: the session the request came with ends and live connections on it close.

use super::*;

impl App {
    /// `POST /api/v1/auth/logout`: ends the current session server-side.
    pub async fn logout(&self, actor: &Actor) -> Result<(), AppError> {
        if let (Some(user), Some(session)) = (actor.user_id, actor.session) {
            self.store.delete_session(user, session).await?;
            self.revoke_session(session);
            self.audit(
                actor,
                AuditEvent::AuthLogout,
                Some(("session", session.to_string())),
                true,
                serde_json::json!({}),
            )
            .await;
        }
        Ok(())
    }
}
