//! Printers. The access code arrives sealed from the application and is stored
//! as given; the certificate fingerprints are hex text.

use pw_domain::{LocationId, PrinterId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::page::{Clause, PageAfter, PrinterFilter};
use crate::{PlateRow, Store, StoreError};

/// A stored printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterRow {
    /// Id.
    pub id: PrinterId,
    /// Display name.
    pub name: String,
    /// Serial (certificate CN, topic name).
    pub serial: String,
    /// Host name or address.
    pub host: String,
    /// MQTT port.
    pub mqtt_port: u16,
    /// FTPS port.
    pub ftps_port: u16,
    /// Camera port.
    pub camera_port: u16,
    /// Model name.
    pub model: String,
    /// Location.
    pub location_id: Option<LocationId>,
    /// The sealed access code.
    pub access_code: String,
    /// Pinned certificate fingerprint (hex).
    pub pinned_sha256: Option<String>,
    /// A different certificate presented since (hex), awaiting approval.
    pub presented_sha256: Option<String>,
    /// Who added it.
    pub created_by: Option<UserId>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Its location waives the plate-clear confirmation (read with the row; the printer's own
    /// waiver is in `printer_plates`).
    pub location_waives_plate_clear: bool,
}

/// Fields of a new printer.
#[derive(Debug, Clone)]
pub struct NewPrinter<'a> {
    /// Display name.
    pub name: &'a str,
    /// Serial.
    pub serial: &'a str,
    /// Host.
    pub host: &'a str,
    /// Ports.
    pub mqtt_port: u16,
    /// Ports.
    pub ftps_port: u16,
    /// Ports.
    pub camera_port: u16,
    /// Model.
    pub model: &'a str,
    /// Location.
    pub location_id: Option<LocationId>,
    /// Sealed access code.
    pub access_code: &'a str,
    /// Creator.
    pub created_by: Option<UserId>,
}

/// A change; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct PrinterPatch<'a> {
    /// Display name.
    pub name: Option<&'a str>,
    /// Host.
    pub host: Option<&'a str>,
    /// Ports.
    pub mqtt_port: Option<u16>,
    /// Ports.
    pub ftps_port: Option<u16>,
    /// Ports.
    pub camera_port: Option<u16>,
    /// Model.
    pub model: Option<&'a str>,
    /// `Some(None)` clears the location.
    pub location_id: Option<Option<LocationId>>,
    /// Sealed access code.
    pub access_code: Option<&'a str>,
}

// The location's plate-clear waiver rides along with every read of a printer, so the
// dispatcher and the printer's card see the effective waiver without a second query.
/// A printer row's columns (as [`from_row`] reads them), for [`SELECT`] and for queries that
/// read more beside them.
macro_rules! printer_columns {
    () => {
        "id, name, serial, host, mqtt_port, ftps_port, camera_port, model, \
         location_id, access_code, pinned_sha256, presented_sha256, created_by, created_at, \
         updated_at, COALESCE((SELECT l.waive_plate_clear FROM locations l \
         WHERE l.id = printers.location_id), 0) AS location_waiver"
    };
}

pub(crate) const SELECT: &str = concat!("SELECT ", printer_columns!(), " FROM printers");

/// What the dispatcher needs to know of a free printer, read in one query: its row, its plate
/// and whether an archive entry is still open on it.
const DISPATCH_STATE: &str = concat!(
    "SELECT ",
    printer_columns!(),
    ", COALESCE((SELECT pp.needs_clearing FROM printer_plates pp \
     WHERE pp.printer_id = printers.id), 0) AS plate_needs_clearing, \
     COALESCE((SELECT pp.waived FROM printer_plates pp WHERE pp.printer_id = printers.id), 0) \
     AS plate_waived, \
     CASE WHEN EXISTS (SELECT 1 FROM archives a WHERE a.printer_id = printers.id \
     AND a.outcome = 'printing') THEN 1 ELSE 0 END AS open_archive \
     FROM printers WHERE id = $1"
);

fn port(row: &AnyRow, col: &str) -> Result<u16, sqlx::Error> {
    let v: i64 = row.try_get(col)?;
    u16::try_from(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub(crate) fn from_row(row: &AnyRow) -> Result<PrinterRow, sqlx::Error> {
    Ok(PrinterRow {
        id: PrinterId::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        serial: row.try_get("serial")?,
        host: row.try_get("host")?,
        mqtt_port: port(row, "mqtt_port")?,
        ftps_port: port(row, "ftps_port")?,
        camera_port: port(row, "camera_port")?,
        model: row.try_get("model")?,
        location_id: row
            .try_get::<Option<i64>, _>("location_id")?
            .map(LocationId::from_db),
        access_code: row.try_get("access_code")?,
        pinned_sha256: row.try_get("pinned_sha256")?,
        presented_sha256: row.try_get("presented_sha256")?,
        created_by: row
            .try_get::<Option<i64>, _>("created_by")?
            .map(UserId::from_db),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        location_waives_plate_clear: row.try_get::<i64, _>("location_waiver")? != 0,
    })
}

impl Store {
    /// Every printer, by name.
    pub async fn list_printers(&self) -> Result<Vec<PrinterRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY name, id")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Every printer the filter lets through, by name (live state, the fleet, the CLI).
    pub async fn printers_where(
        &self,
        filter: &PrinterFilter,
    ) -> Result<Vec<PrinterRow>, StoreError> {
        let mut c = Clause::default();
        c.printers(filter, "id", "location_id");
        let sql = format!("{SELECT}{} ORDER BY name, id", c.where_sql());
        c.fetch_all(&self.pool, sql, from_row).await
    }

    /// One page of the printers the filter lets through, in the order `(name, id)`.
    pub async fn printers_page(
        &self,
        filter: &PrinterFilter,
        page: &PageAfter,
    ) -> Result<Vec<PrinterRow>, StoreError> {
        let mut c = Clause::default();
        c.printers(filter, "id", "location_id");
        c.after(page, "name", "id");
        let limit = c.bind(crate::page::Value::Int(page.fetch));
        let sql = format!("{SELECT}{} ORDER BY name, id LIMIT {limit}", c.where_sql());
        c.fetch_all(&self.pool, sql, from_row).await
    }

    /// One printer.
    pub async fn printer(&self, id: PrinterId) -> Result<Option<PrinterRow>, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        self.fetch_one_by(sql, id.get(), from_row).await
    }

    /// A printer's row, its plate and whether an archive entry is open on it (the print the
    /// archive watcher has not seen end), in one read: what the queue's dispatcher checks
    /// before it claims an item for a free printer. `None` when the printer does not exist.
    pub async fn printer_dispatch_state(
        &self,
        id: PrinterId,
    ) -> Result<Option<(PrinterRow, PlateRow, bool)>, StoreError> {
        let row = sqlx::query(DISPATCH_STATE)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let plate = PlateRow {
            needs_clearing: row.try_get::<i64, _>("plate_needs_clearing")? != 0,
            waived: row.try_get::<i64, _>("plate_waived")? != 0,
        };
        let open_archive = row.try_get::<i64, _>("open_archive")? != 0;
        Ok(Some((from_row(&row)?, plate, open_archive)))
    }

    /// Adds a printer; `Conflict` when the serial exists.
    pub async fn insert_printer(
        &self,
        new: &NewPrinter<'_>,
        now: i64,
    ) -> Result<PrinterId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO printers (name, serial, host, mqtt_port, ftps_port, camera_port, model, \
             location_id, access_code, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(new.name)
        .bind(new.serial)
        .bind(new.host)
        .bind(i64::from(new.mqtt_port))
        .bind(i64::from(new.ftps_port))
        .bind(i64::from(new.camera_port))
        .bind(new.model)
        .bind(new.location_id.map(LocationId::get))
        .bind(new.access_code)
        .bind(new.created_by.map(UserId::get))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        self.printers_changed();
        Ok(PrinterId::from_db(row.try_get("id")?))
    }

    /// Applies a change; false when the printer does not exist. A new host or access code
    /// keeps the pinned certificate: the serial (the certificate's subject) did not change.
    pub async fn update_printer(
        &self,
        id: PrinterId,
        patch: &PrinterPatch<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE printers SET name = COALESCE($2, name), host = COALESCE($3, host), \
             mqtt_port = COALESCE($4, mqtt_port), ftps_port = COALESCE($5, ftps_port), \
             camera_port = COALESCE($6, camera_port), model = COALESCE($7, model), \
             location_id = CASE WHEN $8 = 1 THEN $9 ELSE location_id END, \
             access_code = COALESCE($10, access_code), updated_at = $11 WHERE id = $1",
        )
        .bind(id.get())
        .bind(patch.name)
        .bind(patch.host)
        .bind(patch.mqtt_port.map(i64::from))
        .bind(patch.ftps_port.map(i64::from))
        .bind(patch.camera_port.map(i64::from))
        .bind(patch.model)
        .bind(i64::from(patch.location_id.is_some()))
        .bind(patch.location_id.flatten().map(LocationId::get))
        .bind(patch.access_code)
        .bind(now)
        .execute(&self.pool)
        .await;
        self.printers_changed();
        let done = done.map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the certificate trust state: the pin, and a presented certificate that differs.
    pub async fn set_printer_certificate(
        &self,
        id: PrinterId,
        pinned: Option<&str>,
        presented: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE printers SET pinned_sha256 = $2, presented_sha256 = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(pinned)
        .bind(presented)
        .bind(now)
        .execute(&self.pool)
        .await;
        self.printers_changed();
        done?;
        Ok(())
    }

    /// Removes a printer; false when it did not exist.
    pub async fn delete_printer(&self, id: PrinterId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM printers WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await;
        self.printers_changed();
        Ok(done?.rows_affected() > 0)
    }
}
