//! A user's own sessions: the list, ending one or all others, and the sweep of expired ones.

use super::*;

/// One row of `GET /api/v1/auth/sessions`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Id.
    pub id: SessionId,
    /// The session this request came with.
    pub current: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen_at: String,
    /// RFC 3339: the absolute end.
    pub expires_at: String,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// Browser at sign-in.
    pub user_agent: Option<String>,
}

impl App {
    /// `GET /api/v1/auth/sessions`: the caller's live sessions.
    pub async fn list_sessions(&self, actor: &Actor) -> Result<Vec<SessionView>, AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let now = self.now();
        let cutoff = now - duration_ms(self.config.session_idle);
        let rows = self.store.list_sessions(user, cutoff, now).await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionView {
                id: r.id,
                current: actor.session == Some(r.id),
                created_at: rfc3339(r.created_at),
                last_seen_at: rfc3339(r.last_seen_at),
                expires_at: rfc3339(r.expires_at),
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// Deletes sessions past their idle or absolute limit (they are already refused; this
    /// keeps the table from growing with every abandoned browser). Returns how many went.
    pub async fn sweep_expired_sessions(&self) -> Result<u64, AppError> {
        let now = self.now();
        let cutoff = now - duration_ms(self.config.session_idle);
        Ok(self.store.delete_expired_sessions(cutoff, now).await?)
    }

    /// The [`Task::SessionSweep`](crate::Task::SessionSweep) loop: sweeps at once, then hourly.
    pub(crate) async fn sweep_sessions_hourly(self) {
        let mut every = tokio::time::interval(crate::core::tasks::SESSION_SWEEP_INTERVAL);
        loop {
            every.tick().await;
            match self.sweep_expired_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "expired-session sweep failed; next try in an hour")
                }
            }
        }
    }

    /// `DELETE /api/v1/auth/sessions/{id}`: one of the caller's own sessions.
    pub async fn revoke_own_session(&self, actor: &Actor, id: SessionId) -> Result<(), AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        if !self.store.delete_session(user, id).await? {
            return Err(AppError::NotFound);
        }
        self.revoke_session(id);
        self.audit(
            actor,
            AuditEvent::SessionRevoke,
            Some(("session", id.to_string())),
            true,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/auth/sessions/revoke-others`.
    pub async fn revoke_other_sessions(&self, actor: &Actor) -> Result<(), AppError> {
        let user = actor.user_id.ok_or(AppError::Unauthenticated)?;
        let others: Vec<SessionId> = self
            .store
            .list_sessions(user, i64::MIN, i64::MIN)
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(*id) != actor.session)
            .collect();
        let n = self.store.delete_sessions_of(user, actor.session).await?;
        for id in others {
            self.revoke_session(id);
        }
        self.audit(
            actor,
            AuditEvent::SessionRevoke,
            Some(("user", user.to_string())),
            true,
            serde_json::json!({"others": n}),
        )
        .await;
        Ok(())
    }
}
