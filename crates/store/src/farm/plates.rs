//! Printers' plates for the queue's dispatcher: whether a printer's plate must be confirmed
//! clear before the next queued job starts there, and whether the printer waives that check.
//!
//! Invariant: the state is persisted (a restart does not forget a plate with a finished print
//! on it); a printer without a row has a clear plate and no waiver. Rows go with the printer.

use pw_domain::PrinterId;
use sqlx::Row;

use crate::{Store, StoreError};

/// One printer's plate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlateRow {
    /// A print ended on it and nobody confirmed the plate clear since.
    pub needs_clearing: bool,
    /// The printer starts queued jobs without the confirmation.
    pub waived: bool,
}

impl Store {
    /// The plate of a printer (clear and not waived without a row).
    pub async fn plate(&self, printer: PrinterId) -> Result<PlateRow, StoreError> {
        let row =
            sqlx::query("SELECT needs_clearing, waived FROM printer_plates WHERE printer_id = $1")
                .bind(printer.get())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => PlateRow {
                needs_clearing: r.try_get::<i64, _>("needs_clearing")? != 0,
                waived: r.try_get::<i64, _>("waived")? != 0,
            },
            None => PlateRow::default(),
        })
    }

    /// Every stored plate (printers without a row have a clear plate and no waiver): loaded
    /// once at startup into the fleet's memory.
    pub async fn plates(&self) -> Result<Vec<(PrinterId, PlateRow)>, StoreError> {
        let rows = sqlx::query("SELECT printer_id, needs_clearing, waived FROM printer_plates")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    PrinterId::from_db(r.try_get::<i64, _>("printer_id")?),
                    PlateRow {
                        needs_clearing: r.try_get::<i64, _>("needs_clearing")? != 0,
                        waived: r.try_get::<i64, _>("waived")? != 0,
                    },
                ))
            })
            .collect()
    }

    /// Marks a printer's plate as needing clearing (`true`, a print ended) or cleared.
    pub async fn set_plate_needs_clearing(
        &self,
        printer: PrinterId,
        needs_clearing: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO printer_plates (printer_id, needs_clearing, waived, updated_at) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (printer_id) DO UPDATE \
             SET needs_clearing = $2, updated_at = $3",
        )
        .bind(printer.get())
        .bind(i64::from(needs_clearing))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Sets whether a printer waives the plate-clear confirmation.
    pub async fn set_plate_waived(
        &self,
        printer: PrinterId,
        waived: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO printer_plates (printer_id, needs_clearing, waived, updated_at) \
             VALUES ($1, 0, $2, $3) ON CONFLICT (printer_id) DO UPDATE \
             SET waived = $2, updated_at = $3",
        )
        .bind(printer.get())
        .bind(i64::from(waived))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }
}
