//! The consistent read side of a backup: one read transaction for every table, the schema
//! versions and the id sequences.
//!
//! Threat: a backup taken while prints end and users upload must not pair an archive entry
//! with a printer row from another moment (a dangling reference that a restore would refuse);
//! every read here sees the database as of the transaction's first read.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Cell, ColumnType, TableShape};
use crate::{Backend, Store, StoreError};

/// A read transaction over the whole database; dropped or [`Snapshot::finish`]ed, it ends.
#[derive(Debug)]
pub struct Snapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

/// The rows of one table, read one at a time.
pub struct Rows<'a> {
    stream: BoxStream<'a, Result<AnyRow, sqlx::Error>>,
    columns: &'a [(String, ColumnType)],
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("columns", &self.columns)
            .finish()
    }
}

/// Quotes an identifier that came from the database's own catalogue.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Opens the read transaction a backup copies from (SQLite: a WAL read snapshot taken at
    /// the first read; PostgreSQL: `REPEATABLE READ READ ONLY`). Writers are not blocked.
    pub async fn backup_snapshot(&self) -> Result<Snapshot, StoreError> {
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        let tx = self.pool.begin_with(begin).await?;
        Ok(Snapshot {
            tx,
            backend: self.backend(),
        })
    }
}

impl Snapshot {
    /// The engine copied from.
    #[must_use]
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// The applied migrations, in order (the first read: it fixes the snapshot).
    pub async fn schema_versions(&mut self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?)
    }

    /// Every copied table, parents first.
    pub async fn tables(&mut self) -> Result<Vec<TableShape>, StoreError> {
        super::shapes(&mut self.tx, self.backend).await
    }

    /// The last id handed out per table with an id sequence (it may exceed the largest id
    /// left: deleted rows' ids are not handed out again after a restore either).
    pub async fn sequences(
        &mut self,
        tables: &[TableShape],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut out = Vec::new();
        match self.backend {
            Backend::Sqlite => {
                let has_table: Option<AnyRow> = sqlx::query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
                )
                .fetch_optional(&mut *self.tx)
                .await?;
                if has_table.is_some() {
                    for row in sqlx::query("SELECT name, seq FROM sqlite_sequence ORDER BY name")
                        .fetch_all(&mut *self.tx)
                        .await?
                    {
                        let name: String = row.try_get("name")?;
                        if tables.iter().any(|t| t.name == name) {
                            out.push((name, row.try_get::<i64, _>("seq")?));
                        }
                    }
                }
            }
            Backend::Postgres => {
                for table in tables
                    .iter()
                    .filter(|t| t.columns.iter().any(|(c, _)| c == "id"))
                {
                    let seq: Option<String> =
                        sqlx::query("SELECT pg_get_serial_sequence($1, 'id') AS s")
                            .bind(&table.name)
                            .fetch_one(&mut *self.tx)
                            .await?
                            .try_get("s")?;
                    let Some(seq) = seq else { continue };
                    // `seq` is what PostgreSQL itself named (schema-qualified, quoted).
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT last_value, CASE WHEN is_called THEN 1 ELSE 0 END AS called FROM {seq}"
                    )))
                    .fetch_one(&mut *self.tx)
                    .await?;
                    let last: i64 = row.try_get("last_value")?;
                    let called: i64 = row.try_get("called")?;
                    let used = if called != 0 { last } else { last - 1 };
                    if used > 0 {
                        out.push((table.name.clone(), used));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Streams one table's rows (cells in the shape's column order).
    pub fn rows<'a>(&'a mut self, table: &'a TableShape) -> Rows<'a> {
        let select: Vec<String> = table
            .columns
            .iter()
            .map(|(name, kind)| {
                let q = quoted(name);
                match kind {
                    // sqlx's Any driver cannot decode SQLite's BOOLEAN: read 0/1 on both.
                    ColumnType::Bool => {
                        format!("CASE WHEN {q} IS NULL THEN NULL WHEN {q} THEN 1 ELSE 0 END AS {q}")
                    }
                    _ => q,
                }
            })
            .collect();
        let sql = format!("SELECT {} FROM {}", select.join(", "), quoted(&table.name));
        let stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *self.tx);
        Rows {
            stream,
            columns: &table.columns,
        }
    }

    /// Ends the read transaction.
    pub async fn finish(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Rows<'_> {
    /// The next row, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<Cell>>, StoreError> {
        let Some(row) = self.stream.try_next().await? else {
            return Ok(None);
        };
        let mut cells = Vec::with_capacity(self.columns.len());
        for (i, (_, kind)) in self.columns.iter().enumerate() {
            let cell = match kind {
                ColumnType::Int => row.try_get::<Option<i64>, _>(i)?.map(Cell::Int),
                ColumnType::Bool => row
                    .try_get::<Option<i64>, _>(i)?
                    .map(|v| Cell::Bool(v != 0)),
                ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Cell::Text),
                ColumnType::Float => row.try_get::<Option<f64>, _>(i)?.map(Cell::Float),
                ColumnType::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Cell::Bytes),
            };
            cells.push(cell.unwrap_or(Cell::Null));
        }
        Ok(Some(cells))
    }
}
