//! Backup and restore, the database half: a logical, backend-neutral copy of every table.
//! [`Snapshot`] reads every table inside one read transaction (SQLite: one WAL snapshot;
//! PostgreSQL: `REPEATABLE READ READ ONLY`), so the copy is consistent while the server keeps
//! writing. [`Restore`] writes such a copy into an empty database inside one transaction, so a
//! failed restore leaves no row behind. Rows cross this boundary as [`Cell`]s (integer, boolean,
//! text, float, bytes, null), never as backend-specific values, which is what lets a SQLite
//! backup restore into PostgreSQL and back.
//!
//! Invariants: the tables are discovered from the live schema (a new migration's table is
//! backed up without anyone remembering to list it); derived tables (SQLite's archive search
//! index, rebuilt by its triggers) and the migration ledger are not copied; tables are listed
//! parents first, by their foreign keys; a self-reference (a folder's parent) is inserted as
//! NULL and set once every row of the table is in.

mod restore;
mod set_aside;
mod snapshot;

pub use restore::Restore;
pub use set_aside::SetAside;
pub use snapshot::{Rows, Snapshot};

use sqlx::Row;

use crate::{Backend, StoreError};

/// A column's kind, as both backends agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// INTEGER / BIGINT.
    Int,
    /// BOOLEAN (SQLite stores 0/1).
    Bool,
    /// TEXT.
    Text,
    /// REAL / DOUBLE PRECISION.
    Float,
    /// BLOB / BYTEA.
    Bytes,
}

impl ColumnType {
    /// The name used in backup manifests.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Bool => "bool",
            ColumnType::Text => "text",
            ColumnType::Float => "float",
            ColumnType::Bytes => "bytes",
        }
    }

    /// Parses [`ColumnType::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Int, Self::Bool, Self::Text, Self::Float, Self::Bytes]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// From a declared type (SQLite's `pragma_table_info`, PostgreSQL's `data_type`).
    fn from_declared(declared: &str) -> Option<Self> {
        let d = declared.to_ascii_uppercase();
        if d.contains("BOOL") {
            Some(Self::Bool)
        } else if d.contains("INT") {
            Some(Self::Int)
        } else if d.contains("TEXT") || d.contains("CHAR") {
            Some(Self::Text)
        } else if d.contains("REAL") || d.contains("DOUBLE") || d.contains("FLOA") {
            Some(Self::Float)
        } else if d.contains("BLOB") || d.contains("BYTEA") {
            Some(Self::Bytes)
        } else {
            None
        }
    }
}

/// One value of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
    /// A float.
    Float(f64),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A table as the backup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// Its name.
    pub name: String,
    /// Columns in their order, with their kinds.
    pub columns: Vec<(String, ColumnType)>,
    /// The tables it references (foreign keys), itself excluded.
    pub parents: Vec<String>,
    /// Its columns that reference its own rows (inserted NULL, then set).
    pub self_refs: Vec<String>,
}

/// Whether a table is derived or bookkeeping, never copied: the migration ledger (the restore
/// runs the migrations itself) and SQLite's archive search index (its triggers rebuild it
/// from `archives`). Same filter as `Store::schema_columns`.
pub(crate) fn is_copied(table: &str) -> bool {
    table != "schema_migrations"
        && !table.starts_with("sqlite_")
        && !table.starts_with("archives_search")
}

/// Reads the copied tables' shapes, parents first.
pub(crate) async fn shapes(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<TableShape>, StoreError> {
    let names_sql = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid",
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    let names: Vec<String> = sqlx::query(names_sql)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::new();
    for name in names.into_iter().filter(|n| is_copied(n)) {
        let (columns_sql, fks_sql) = match backend {
            Backend::Sqlite => (
                "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
                "SELECT \"table\" AS parent, \"from\" AS col FROM pragma_foreign_key_list($1)",
            ),
            Backend::Postgres => (
                "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                "SELECT p.relname::text AS parent, a.attname::text AS col FROM pg_constraint c \
                 JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
                 WHERE c.contype = 'f' AND t.relname = $1 AND t.relnamespace = current_schema()::regnamespace",
            ),
        };
        let mut columns = Vec::new();
        for row in sqlx::query(columns_sql)
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?
        {
            let column: String = row.try_get("name")?;
            let declared: String = row.try_get("type")?;
            let Some(kind) = ColumnType::from_declared(&declared) else {
                return Err(StoreError::Backup(format!(
                    "column {name}.{column} has the type {declared}, which backups do not know"
                )));
            };
            columns.push((column, kind));
        }
        let mut parents = Vec::new();
        let mut self_refs = Vec::new();
        for row in sqlx::query(fks_sql)
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?
        {
            let parent: String = row.try_get("parent")?;
            let column: String = row.try_get("col")?;
            if parent == name {
                self_refs.push(column);
            } else if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        tables.push(TableShape {
            name,
            columns,
            parents,
            self_refs,
        });
    }
    parents_first(tables)
}

/// Orders tables so that every table comes after the tables it references (stable: among
/// the ready ones, the earlier one first). A cycle between tables is refused.
fn parents_first(mut pending: Vec<TableShape>) -> Result<Vec<TableShape>, StoreError> {
    let mut done: Vec<TableShape> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|t| {
            t.parents
                .iter()
                .all(|p| done.iter().any(|d| &d.name == p) || !pending.iter().any(|q| &q.name == p))
        });
        let Some(index) = ready else {
            let names: Vec<&str> = pending.iter().map(|t| t.name.as_str()).collect();
            return Err(StoreError::Backup(format!(
                "the tables {} reference each other in a cycle; backups cannot order them",
                names.join(", ")
            )));
        };
        done.push(pending.remove(index));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, parents: &[&str]) -> TableShape {
        TableShape {
            name: name.to_owned(),
            columns: Vec::new(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            self_refs: Vec::new(),
        }
    }

    #[test]
    fn parents_come_first_and_cycles_are_refused() {
        let ordered = parents_first(vec![
            shape("queue_items", &["archives", "printer_groups"]),
            shape("archives", &["printers"]),
            shape("printers", &[]),
            shape("printer_groups", &[]),
        ])
        .unwrap_or_default();
        let names: Vec<&str> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["printers", "archives", "printer_groups", "queue_items"]
        );
        assert!(parents_first(vec![shape("a", &["b"]), shape("b", &["a"])]).is_err());
    }

    #[test]
    fn declared_types_map_to_kinds() {
        for (declared, kind) in [
            ("BIGINT", ColumnType::Int),
            ("INTEGER", ColumnType::Int),
            ("bigint", ColumnType::Int),
            ("BOOLEAN", ColumnType::Bool),
            ("boolean", ColumnType::Bool),
            ("TEXT", ColumnType::Text),
            ("text", ColumnType::Text),
        ] {
            assert_eq!(
                ColumnType::from_declared(declared),
                Some(kind),
                "{declared}"
            );
            assert_eq!(ColumnType::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ColumnType::from_declared("JSONB"), None);
    }
}
