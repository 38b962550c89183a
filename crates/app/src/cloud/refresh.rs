//! Keeping Bambu Cloud links alive: a token is refreshed once three quarters of its lifetime
//! have passed, by the `cloud-refresh` task (and by a read that finds it due). A refusal marks
//! the link `expired` (the user signs in again; the password was never kept to do it for
//! them), a transient failure is retried on the next round.
//!
//! Invariant: a refresh replaces the tokens only if the stored access token is still the one
//! it read, so a refresher that lost a race (another request, another node) never overwrites
//! a newer pair, and never marks a link expired that someone else just refreshed.

use std::time::Duration;

use pw_domain::UserId;
use pw_store::CloudLinkRow;
use serde_json::json;

use super::client::{Call, CloudError, Region};
use super::{context, tokens_of};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App};

/// The longest the refresher sleeps between looks at the links.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// The shortest.
const MIN_SLEEP: Duration = Duration::from_secs(1);
/// When a link whose refresh failed for a passing reason is tried again.
const RETRY_FAILED: Duration = Duration::from_secs(30);

/// When a link's token should be refreshed: three quarters into its lifetime.
fn due_at(row: &CloudLinkRow) -> i64 {
    let start = row.refreshed_at.unwrap_or(row.linked_at);
    start + (row.expires_at - start).max(0) * 3 / 4
}

/// Whether the link's token is due for a refresh at `now`.
pub(super) fn due(row: &CloudLinkRow, now: i64) -> bool {
    now >= due_at(row)
}

impl App {
    /// Refreshes one link; the new row when it worked.
    pub(super) async fn refresh_link(&self, row: &CloudLinkRow) -> Option<CloudLinkRow> {
        let user = row.user_id;
        let region = Region::parse(&row.region).unwrap_or(Region::Global);
        let refresh = match row
            .refresh_token
            .as_deref()
            .map(|r| self.open(r, &context(user, "refresh_token")))
        {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                tracing::error!(error = %e, "Bambu Cloud: a refresh token does not open");
                return None;
            }
            None => {
                if row.expires_at <= self.now() {
                    self.link_expired(user, "the token expired and Bambu gave no refresh token")
                        .await;
                }
                return None;
            }
        };
        let answer = self
            .cloud
            .upstream
            .call(
                user,
                region,
                &Call::post(
                    "/v1/user-service/user/refreshtoken",
                    json!({"refreshToken": refresh.expose()}),
                ),
            )
            .await;
        drop(refresh);
        let failure = match answer {
            Ok(a) if a.status == 200 => match tokens_of(&a.json) {
                Some(tokens) => return self.store_refreshed(row, tokens).await,
                None => CloudError::Failed("Bambu Cloud's refresh answer held no token".into()),
            },
            Ok(a) if a.status == 401 || a.status == 400 => CloudError::SignedOut,
            Ok(a) => CloudError::Failed(format!("Bambu Cloud answered HTTP {}", a.status)),
            Err(e) => e,
        };
        // Someone else may have refreshed meanwhile (their refresh consumed the token ours
        // sent): then the link is fine.
        if let Ok(Some(now)) = self.store.cloud_link(user).await
            && now.access_token != row.access_token
        {
            return Some(now);
        }
        match failure {
            CloudError::SignedOut => {
                self.link_expired(user, "Bambu refused the refresh; sign in again")
                    .await;
            }
            other => {
                let reason = other.message();
                let first = row.last_error.is_none();
                if let Err(e) = self.store.mark_cloud_link(user, false, &reason).await {
                    tracing::warn!(error = %e, "Bambu Cloud: could not record a failed refresh");
                }
                if first {
                    self.audit_refresh_failed(user, &reason, false).await;
                }
            }
        }
        None
    }

    async fn store_refreshed(
        &self,
        row: &CloudLinkRow,
        tokens: super::Tokens,
    ) -> Option<CloudLinkRow> {
        let user = row.user_id;
        let now = self.now();
        let sealed = (|| {
            let access = self.seal(tokens.access.expose(), &context(user, "access_token"))?;
            let refresh = tokens
                .refresh
                .as_ref()
                .map(|r| self.seal(r.expose(), &context(user, "refresh_token")))
                .transpose()?;
            Ok::<_, crate::AppError>((access, refresh))
        })();
        let (access, refresh) = match sealed {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "Bambu Cloud: could not seal refreshed tokens");
                return None;
            }
        };
        match self
            .store
            .replace_cloud_tokens(
                user,
                &row.access_token,
                &access,
                // Bambu may leave the refresh token out: keep the one we have.
                refresh.as_deref().or(row.refresh_token.as_deref()),
                now + tokens.expires_in.saturating_mul(1000),
                tokens
                    .refresh_expires_in
                    .map(|s| now + s.saturating_mul(1000))
                    .or(row.refresh_expires_at),
                now,
            )
            .await
        {
            Ok(_) => self.store.cloud_link(user).await.ok().flatten(),
            Err(e) => {
                tracing::warn!(error = %e, "Bambu Cloud: could not store refreshed tokens");
                None
            }
        }
    }

    /// Marks a link expired (Bambu refused its token) and audits it.
    pub(super) async fn link_expired(&self, user: UserId, reason: &str) {
        match self.store.cloud_link(user).await {
            Ok(Some(row)) if row.state == "expired" => return,
            Ok(None) => return,
            _ => {}
        }
        if let Err(e) = self.store.mark_cloud_link(user, true, reason).await {
            tracing::warn!(error = %e, "Bambu Cloud: could not mark a link expired");
        }
        self.cloud.upstream.forget(user);
        self.audit_refresh_failed(user, reason, true).await;
    }

    async fn audit_refresh_failed(&self, user: UserId, reason: &str, expired: bool) {
        let mut actor = Actor::system();
        actor.name = std::sync::Arc::from("cloud-refresh");
        self.audit(
            &actor,
            AuditEvent::CloudRefreshFailed,
            Some(("user", user.to_string())),
            false,
            json!({"reason": reason, "expired": expired}),
        )
        .await;
    }

    /// The `cloud-refresh` task: refreshes every link that is due, then sleeps until the next
    /// one is (at most a minute, woken early when a link changes).
    pub(crate) async fn run_cloud_refresh(self) {
        loop {
            let now = self.now();
            let mut next = MAX_SLEEP;
            match self.store.cloud_links_live().await {
                Ok(rows) => {
                    for row in rows {
                        let row = if due(&row, now) {
                            match self.refresh_link(&row).await {
                                Some(fresh) => fresh,
                                None => {
                                    // A failing refresh is tried again in half a minute.
                                    next = next.min(RETRY_FAILED);
                                    continue;
                                }
                            }
                        } else {
                            row
                        };
                        let wait = u64::try_from(due_at(&row) - self.now()).unwrap_or(0);
                        next = next.min(Duration::from_millis(wait));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Bambu Cloud: could not read the links"),
            }
            let next = next.max(MIN_SLEEP);
            tokio::select! {
                () = tokio::time::sleep(next) => {}
                () = self.cloud.wake.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(linked: i64, refreshed: Option<i64>, expires: i64) -> CloudLinkRow {
        CloudLinkRow {
            user_id: UserId::from_db(1),
            email: String::new(),
            region: "global".into(),
            cloud_uid: None,
            access_token: String::new(),
            refresh_token: None,
            expires_at: expires,
            refresh_expires_at: None,
            linked_at: linked,
            refreshed_at: refreshed,
            state: "linked".into(),
            last_error: None,
        }
    }

    #[test]
    fn a_token_is_due_three_quarters_into_its_life() {
        let r = row(0, None, 4000);
        assert!(!due(&r, 2999));
        assert!(due(&r, 3000));
        let r = row(0, Some(4000), 8000);
        assert!(!due(&r, 6999));
        assert!(due(&r, 7000));
    }
}
