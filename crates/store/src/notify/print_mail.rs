//! Per-user mail preferences: which print events a user wants a mail about. The rows belong to
//! the account (`ON DELETE CASCADE`).

use pw_domain::UserId;
use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// The print events the user wants mails about.
    pub async fn mail_preferences(&self, user: UserId) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT event FROM mail_preferences WHERE user_id = $1 ORDER BY event")
                .bind(user.get())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get("event"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Replaces the user's mail preferences.
    pub async fn set_mail_preferences(
        &self,
        user: UserId,
        events: &[&str],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mail_preferences WHERE user_id = $1")
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        for event in events {
            sqlx::query("INSERT INTO mail_preferences (user_id, event) VALUES ($1, $2)")
                .bind(user.get())
                .bind(*event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
