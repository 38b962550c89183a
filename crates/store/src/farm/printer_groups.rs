//! Printer groups: named sets of printers ("PLA farm", "Big plates") that a queue item can
//! target. A name is unique case-insensitively (`name_key`); a printer may be in several
//! groups; members go with their printer or group (`ON DELETE CASCADE`).
//!
//! Invariants: member lists are read through a [`PrinterFilter`] in SQL, so a scoped reader
//! never receives a member outside their reach; a member change and a deletion are each one
//! transaction, and deleting a group parks its queued items in the same transaction (their
//! target goes empty and they get the reason in words) — an item is never left targeting a
//! group that no longer exists without saying so, and never retargeted.

use pw_domain::{PrinterGroupId, PrinterId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::farm::printers::{SELECT as PRINTER_SELECT, from_row as printer_row};
use crate::page::{Clause, PrinterFilter, Value};
use crate::{Backend, PrinterRow, Store, StoreError};

/// A stored printer group with the members a filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterGroupRow {
    /// Id.
    pub id: PrinterGroupId,
    /// Name.
    pub name: String,
    /// Members (as far as the reading filter reaches), by printer name.
    pub printer_ids: Vec<PrinterId>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

fn group_row(row: &AnyRow) -> Result<PrinterGroupRow, sqlx::Error> {
    Ok(PrinterGroupRow {
        id: PrinterGroupId::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        printer_ids: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Every group, by name, each with the members `filter` lets through.
    pub async fn list_printer_groups(
        &self,
        filter: &PrinterFilter,
    ) -> Result<Vec<PrinterGroupRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, updated_at FROM printer_groups ORDER BY name_key, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut groups = rows.iter().map(group_row).collect::<Result<Vec<_>, _>>()?;
        let members = self.printer_group_pairs(None, filter).await?;
        for g in &mut groups {
            g.printer_ids = members
                .iter()
                .filter(|(group, _)| *group == g.id)
                .map(|(_, p)| *p)
                .collect();
        }
        Ok(groups)
    }

    /// One group with the members `filter` lets through.
    pub async fn printer_group(
        &self,
        id: PrinterGroupId,
        filter: &PrinterFilter,
    ) -> Result<Option<PrinterGroupRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, created_at, updated_at FROM printer_groups WHERE id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut group) = row.as_ref().map(group_row).transpose()? else {
            return Ok(None);
        };
        group.printer_ids = self
            .printer_group_pairs(Some(id), filter)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        Ok(Some(group))
    }

    /// (group, printer) pairs of one group or of all, through the filter, by printer name.
    async fn printer_group_pairs(
        &self,
        group: Option<PrinterGroupId>,
        filter: &PrinterFilter,
    ) -> Result<Vec<(PrinterGroupId, PrinterId)>, StoreError> {
        let mut c = Clause::default();
        c.printers(filter, "p.id", "p.location_id");
        if let Some(g) = group {
            let mark = c.bind(Value::Int(g.get()));
            c.and(&format!("m.group_id = {mark}"));
        }
        let sql = format!(
            "SELECT m.group_id, m.printer_id FROM printer_group_members m \
             JOIN printers p ON p.id = m.printer_id{} ORDER BY m.group_id, p.name, p.id",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, |r| {
            Ok((
                PrinterGroupId::from_db(r.try_get("group_id")?),
                PrinterId::from_db(r.try_get("printer_id")?),
            ))
        })
        .await
    }

    /// Every member of a group, unfiltered (for the application's per-printer rights checks).
    pub async fn printer_group_members(
        &self,
        id: PrinterGroupId,
    ) -> Result<Vec<PrinterRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PRINTER_SELECT} WHERE id IN (SELECT printer_id FROM printer_group_members \
             WHERE group_id = $1) ORDER BY name, id"
        )))
        .bind(id.get())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(printer_row).collect::<Result<_, _>>()?)
    }

    /// The groups a printer is in, by name.
    pub async fn printer_groups_of(
        &self,
        printer: PrinterId,
    ) -> Result<Vec<(PrinterGroupId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.name FROM printer_groups g JOIN printer_group_members m \
             ON m.group_id = g.id WHERE m.printer_id = $1 ORDER BY g.name_key, g.id",
        )
        .bind(printer.get())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    PrinterGroupId::from_db(r.try_get("id")?),
                    r.try_get("name")?,
                ))
            })
            .collect()
    }

    /// Adds a group with these members; `Conflict` when the name exists (case-insensitively)
    /// or a printer does not.
    pub async fn insert_printer_group(
        &self,
        name: &str,
        printers: &[PrinterId],
        now: i64,
    ) -> Result<PrinterGroupId, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO printer_groups (name, name_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(name)
        .bind(name.to_lowercase())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let id = PrinterGroupId::from_db(row.try_get("id")?);
        add_members(&mut tx, id, printers).await?;
        tx.commit().await.map_err(StoreError::from_write)?;
        Ok(id)
    }

    /// Renames a group and adds and removes members, in one transaction; false when the group
    /// does not exist. `Conflict` when the new name is taken or an added printer does not exist.
    pub async fn update_printer_group(
        &self,
        id: PrinterGroupId,
        name: Option<&str>,
        add: &[PrinterId],
        remove: &[PrinterId],
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE printer_groups SET name = COALESCE($2, name), \
             name_key = COALESCE($3, name_key), updated_at = $4 WHERE id = $1",
        )
        .bind(id.get())
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for p in remove {
            sqlx::query(
                "DELETE FROM printer_group_members WHERE group_id = $1 AND printer_id = $2",
            )
            .bind(id.get())
            .bind(p.get())
            .execute(&mut *tx)
            .await?;
        }
        add_members(&mut tx, id, add).await?;
        tx.commit().await.map_err(StoreError::from_write)?;
        Ok(true)
    }

    /// Deletes a group and parks its queued items in the same transaction: their group
    /// target goes empty and `reason` says why. `None` when the group did not exist, else how
    /// many queued items were parked.
    pub async fn delete_printer_group(
        &self,
        id: PrinterGroupId,
        reason: &str,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let parked = sqlx::query(
            "UPDATE queue_items SET target_group_id = NULL, reason = $2, updated_at = $3 \
             WHERE target_kind = 'group' AND target_group_id = $1 AND state = 'queued'",
        )
        .bind(id.get())
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?
        .rows_affected();
        let done = sqlx::query("DELETE FROM printer_groups WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await.map_err(StoreError::from_write)?;
        Ok(Some(parked))
    }

    /// A write transaction: SQLite takes the write lock at once (no upgrade deadlock between
    /// two writers that both read first).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend() {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Adds printers to a group inside the caller's transaction (a member already there stays).
async fn add_members(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: PrinterGroupId,
    printers: &[PrinterId],
) -> Result<(), StoreError> {
    for p in printers {
        sqlx::query(
            "INSERT INTO printer_group_members (group_id, printer_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.get())
        .bind(p.get())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from_write)?;
    }
    Ok(())
}
