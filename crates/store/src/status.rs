//! Instance status queries: facts about the instance that public pages may show.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Whether at least one active member of the system `Administrators` group exists.
    pub async fn active_administrator_exists(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM users u \
             JOIN group_members m ON m.user_id = u.id \
             JOIN groups g ON g.id = m.group_id \
             WHERE g.name_key = 'administrators' AND g.is_system = $1 AND u.disabled = $2",
        )
        .bind(true)
        .bind(false)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }
}
