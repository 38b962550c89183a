//! Locations: named places printers stand in. A name is unique case-insensitively
//! (`name_key`); deleting a location leaves its printers running without one (`ON DELETE SET
//! NULL` on `printers.location_id`).

use pw_domain::LocationId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// A stored location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRow {
    /// Id.
    pub id: LocationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Unix ms.
    pub created_at: i64,
    /// Printers standing here start queued jobs without the plate-clear confirmation.
    pub waive_plate_clear: bool,
}

fn location_row(row: &AnyRow) -> Result<LocationRow, sqlx::Error> {
    Ok(LocationRow {
        id: LocationId::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        waive_plate_clear: row.try_get::<i64, _>("waive_plate_clear")? != 0,
    })
}

impl Store {
    /// Every location, by name.
    pub async fn list_locations(&self) -> Result<Vec<LocationRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, description, created_at, waive_plate_clear FROM locations \
             ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(location_row).collect::<Result<_, _>>()?)
    }

    /// One location.
    pub async fn location(&self, id: LocationId) -> Result<Option<LocationRow>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, description, created_at, waive_plate_clear FROM locations WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(location_row).transpose()?)
    }

    /// Adds a location; `Conflict` when the name exists (case-insensitively).
    pub async fn insert_location(
        &self,
        name: &str,
        description: &str,
        now: i64,
    ) -> Result<LocationId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO locations (name, name_key, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(LocationId::from_db(row.try_get("id")?))
    }

    /// Renames or re-describes a location.
    pub async fn update_location(
        &self,
        id: LocationId,
        name: Option<&str>,
        description: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE locations SET name = COALESCE($2, name), name_key = COALESCE($3, name_key), \
             description = COALESCE($4, description), updated_at = $5 WHERE id = $1",
        )
        .bind(id.get())
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(description)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets whether printers standing in the location start queued jobs without the
    /// plate-clear confirmation; false when the location does not exist.
    pub async fn set_location_waiver(
        &self,
        id: LocationId,
        waived: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE locations SET waive_plate_clear = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.get())
        .bind(i64::from(waived))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a location (its printers keep running, without a location).
    pub async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM locations WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await;
        // Its printers lost their location (ON DELETE SET NULL).
        self.printers_changed();
        Ok(done?.rows_affected() > 0)
    }
}
