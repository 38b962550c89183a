//! The write side of a restore: rows of a backup into an empty database, in one transaction.
//!
//! Invariants: the database must hold no row in any copied table (a restore never merges
//! into live data); every row keeps its id (sealed secrets are bound to their row, and every
//! reference between rows is by id); the id sequences continue after the largest id the
//! original had handed out; nothing is visible until [`Restore::finish`] commits.

use std::collections::HashMap;

use sqlx::Row;

use super::snapshot::quoted;
use super::{Cell, ColumnType, TableShape};
use crate::{Backend, Store, StoreError};

/// At most this many bound values per INSERT (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS: usize = 4000;

/// An open restore transaction.
#[derive(Debug)]
pub struct Restore {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    shapes: Vec<TableShape>,
    /// Self-references to set once their table is complete: (table, column, id, value).
    fixups: Vec<(String, String, i64, Cell)>,
}

impl Store {
    /// Starts a restore into this database, which must be migrated and hold no rows.
    pub async fn begin_restore(&self) -> Result<Restore, StoreError> {
        let mut tx = self.pool.begin().await?;
        let shapes = super::shapes(&mut tx, self.backend()).await?;
        for table in &shapes {
            let any: Option<sqlx::any::AnyRow> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT 1 AS one FROM {} LIMIT 1",
                quoted(&table.name)
            )))
            .fetch_optional(&mut *tx)
            .await?;
            if any.is_some() {
                return Err(StoreError::Backup(format!(
                    "the target database is not empty (table {} has rows); restore only into an empty database",
                    table.name
                )));
            }
        }
        Ok(Restore {
            tx,
            backend: self.backend(),
            shapes,
            fixups: Vec::new(),
        })
    }
}

fn mismatch(table: &str, column: &str, want: ColumnType, cell: &Cell) -> StoreError {
    StoreError::Backup(format!(
        "a value of {table}.{column} is not of the kind {} the database expects ({cell:?})",
        want.name()
    ))
}

impl Restore {
    /// The target database's tables, parents first.
    #[must_use]
    pub fn tables(&self) -> &[TableShape] {
        &self.shapes
    }

    /// Inserts rows into `table`; `columns` names each row's cells, in order.
    pub async fn insert(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Cell>],
    ) -> Result<(), StoreError> {
        let Some(shape) = self.shapes.iter().find(|t| t.name == table) else {
            return Err(StoreError::Backup(format!(
                "the backup holds a table {table} that this database does not have"
            )));
        };
        let mut kinds = Vec::with_capacity(columns.len());
        for column in columns {
            let Some((_, kind)) = shape.columns.iter().find(|(c, _)| c == column) else {
                return Err(StoreError::Backup(format!(
                    "the backup's table {table} has a column {column} that this database does not have"
                )));
            };
            kinds.push(*kind);
        }
        let self_ref: Vec<bool> = columns
            .iter()
            .map(|c| shape.self_refs.contains(c))
            .collect();
        let id_index = columns.iter().position(|c| c == "id");
        if self_ref.iter().any(|s| *s) && id_index.is_none() {
            return Err(StoreError::Backup(format!(
                "table {table} references itself but has no id column; it cannot be restored"
            )));
        }
        let per_batch = (MAX_BINDS / columns.len().max(1)).max(1);
        let column_list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        for batch in rows.chunks(per_batch) {
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                quoted(table),
                column_list.join(", ")
            );
            let mut n = 0usize;
            for (r, _) in batch.iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for c in 0..columns.len() {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    n += 1;
                    sql.push_str(&format!("${n}"));
                }
                sql.push(')');
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in batch {
                if row.len() != columns.len() {
                    return Err(StoreError::Backup(format!(
                        "a row of table {table} has {} values for {} columns",
                        row.len(),
                        columns.len()
                    )));
                }
                for (c, cell) in row.iter().enumerate() {
                    let (Some(kind), Some(name)) = (kinds.get(c), columns.get(c)) else {
                        continue;
                    };
                    let cell = if self_ref.get(c) == Some(&true) && *cell != Cell::Null {
                        let id = match id_index.and_then(|i| row.get(i)) {
                            Some(Cell::Int(id)) => *id,
                            _ => {
                                return Err(StoreError::Backup(format!(
                                    "a row of table {table} has no integer id"
                                )));
                            }
                        };
                        self.fixups
                            .push((table.to_owned(), name.clone(), id, cell.clone()));
                        &Cell::Null
                    } else {
                        cell
                    };
                    query = match (kind, cell) {
                        (ColumnType::Int, Cell::Int(v)) => query.bind(Some(*v)),
                        (ColumnType::Int, Cell::Bool(b)) => query.bind(Some(i64::from(*b))),
                        (ColumnType::Int, Cell::Null) => query.bind(None::<i64>),
                        (ColumnType::Bool, Cell::Bool(b)) => query.bind(Some(*b)),
                        (ColumnType::Bool, Cell::Int(v)) => query.bind(Some(*v != 0)),
                        (ColumnType::Bool, Cell::Null) => query.bind(None::<bool>),
                        (ColumnType::Text, Cell::Text(s)) => query.bind(Some(s.clone())),
                        (ColumnType::Text, Cell::Null) => query.bind(None::<String>),
                        (ColumnType::Float, Cell::Float(f)) => query.bind(Some(*f)),
                        #[expect(
                            clippy::cast_precision_loss,
                            reason = "an integer in a float column"
                        )]
                        (ColumnType::Float, Cell::Int(v)) => query.bind(Some(*v as f64)),
                        (ColumnType::Float, Cell::Null) => query.bind(None::<f64>),
                        (ColumnType::Bytes, Cell::Bytes(b)) => query.bind(Some(b.clone())),
                        (ColumnType::Bytes, Cell::Null) => query.bind(None::<Vec<u8>>),
                        (kind, cell) => return Err(mismatch(table, name, *kind, cell)),
                    };
                }
            }
            query.execute(&mut *self.tx).await.map_err(|e| {
                StoreError::Backup(format!("rows of table {table} could not be inserted: {e}"))
            })?;
        }
        Ok(())
    }

    /// Sets the self-references, continues the id sequences after `sequences` (the last id
    /// the original handed out per table) or the largest restored id, and commits.
    pub async fn finish(mut self, sequences: &[(String, i64)]) -> Result<(), StoreError> {
        for (table, column, id, value) in std::mem::take(&mut self.fixups) {
            let sql = format!(
                "UPDATE {} SET {} = $1 WHERE id = $2",
                quoted(&table),
                quoted(&column)
            );
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let query = match value {
                Cell::Int(v) => query.bind(v),
                Cell::Text(s) => query.bind(s),
                other => {
                    return Err(StoreError::Backup(format!(
                        "{table}.{column} references a row with a value of an unexpected kind ({other:?})"
                    )));
                }
            };
            query.bind(id).execute(&mut *self.tx).await.map_err(|e| {
                StoreError::Backup(format!("{table}.{column} could not be set: {e}"))
            })?;
        }
        let wanted: HashMap<&str, i64> = sequences.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        let with_id: Vec<String> = self
            .shapes
            .iter()
            .filter(|t| {
                t.columns
                    .iter()
                    .any(|(c, k)| c == "id" && *k == ColumnType::Int)
            })
            .map(|t| t.name.clone())
            .collect();
        for table in with_id {
            let largest: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COALESCE(MAX(id), 0) AS m FROM {}",
                quoted(&table)
            )))
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("m")?;
            let last = largest.max(wanted.get(table.as_str()).copied().unwrap_or(0));
            if last < 1 {
                continue;
            }
            match self.backend {
                Backend::Sqlite => {
                    let autoincrement: i64 = sqlx::query(
                        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1 \
                         AND sql LIKE '%AUTOINCREMENT%'",
                    )
                    .bind(&table)
                    .fetch_one(&mut *self.tx)
                    .await?
                    .try_get("n")?;
                    if autoincrement == 0 {
                        continue;
                    }
                    sqlx::query("DELETE FROM sqlite_sequence WHERE name = $1")
                        .bind(&table)
                        .execute(&mut *self.tx)
                        .await?;
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                        .bind(&table)
                        .bind(last)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Backend::Postgres => {
                    let seq: Option<String> =
                        sqlx::query("SELECT pg_get_serial_sequence($1, 'id') AS s")
                            .bind(&table)
                            .fetch_one(&mut *self.tx)
                            .await?
                            .try_get("s")?;
                    if let Some(seq) = seq {
                        sqlx::query("SELECT setval($1::regclass, $2, true)")
                            .bind(seq)
                            .bind(last)
                            .execute(&mut *self.tx)
                            .await?;
                    }
                }
            }
        }
        self.tx.commit().await?;
        Ok(())
    }
}
