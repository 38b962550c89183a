//! Keyset pages and row filters run in SQL. A page is "the rows after this sort key, in sort
//! order, at most n"; never `OFFSET`, so a row deleted between two pages neither repeats a row
//! nor skips one. A filter narrows rows to a set of printers, or to one owner, that the
//! application computed; the store only runs it (it makes no access decision).
//!
//! Invariant: the statement text depends only on the *number* of values bound, never on them.

use sqlx::AnyPool;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use crate::StoreError;

/// Where a page starts and how many rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAfter {
    /// The sort key of the last row of the previous page (text key, id); `None` = first page.
    pub after: Option<(String, i64)>,
    /// Rows to read (the application asks for one more than it shows, to know if more follow).
    pub fetch: i64,
}

/// The printers a list may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterFilter {
    /// Every printer.
    All,
    /// No printer.
    Nothing,
    /// Printers in `printers` or standing in `locations` (or every printer when `everywhere`),
    /// and, when `within` is given, only those in it.
    Set {
        /// Every printer before `within` applies.
        everywhere: bool,
        /// Named printers (ids).
        printers: Vec<i64>,
        /// Named locations (ids).
        locations: Vec<i64>,
        /// An API key's printer list (ids).
        within: Option<Vec<i64>>,
    },
}

/// The owned rows a list may show (API keys, camera tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter {
    /// Every row, whoever owns it.
    All,
    /// Only rows owned by this user (id).
    Only(i64),
    /// No row.
    Nothing,
}

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
}

/// A WHERE clause under construction with its numbered placeholders.
#[derive(Debug, Default)]
pub(crate) struct Clause {
    pub(crate) text: String,
    pub(crate) values: Vec<Value>,
}

impl Clause {
    /// Adds a value and returns its placeholder.
    pub(crate) fn bind(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }

    fn list(&mut self, column: &str, ids: &[i64]) -> String {
        if ids.is_empty() {
            return "1 = 0".into();
        }
        let marks: Vec<String> = ids.iter().map(|i| self.bind(Value::Int(*i))).collect();
        format!("{column} IN ({})", marks.join(", "))
    }

    /// `AND`s a condition.
    pub(crate) fn and(&mut self, condition: &str) {
        if !self.text.is_empty() {
            self.text.push_str(" AND ");
        }
        self.text.push('(');
        self.text.push_str(condition);
        self.text.push(')');
    }

    /// Restricts to the printers of `filter` (`id` and `location` are the row's columns).
    pub(crate) fn printers(&mut self, filter: &PrinterFilter, id: &str, location: &str) {
        match filter {
            PrinterFilter::All => {}
            PrinterFilter::Nothing => self.and("1 = 0"),
            PrinterFilter::Set {
                everywhere,
                printers,
                locations,
                within,
            } => {
                if !everywhere {
                    let named = self.list(id, printers);
                    let placed = self.list(location, locations);
                    self.and(&format!("{named} OR {placed}"));
                }
                if let Some(within) = within {
                    let only = self.list(id, within);
                    self.and(&only);
                }
            }
        }
    }

    /// Restricts to the rows `filter` lets through (`owner` is the row's owner column).
    pub(crate) fn owner(&mut self, filter: OwnerFilter, owner: &str) {
        match filter {
            OwnerFilter::All => {}
            OwnerFilter::Nothing => self.and("1 = 0"),
            OwnerFilter::Only(user) => {
                let mark = self.bind(Value::Int(user));
                self.and(&format!("{owner} = {mark}"));
            }
        }
    }

    /// Starts after `page.after` in the order `(key, id)`.
    pub(crate) fn after(&mut self, page: &PageAfter, key: &str, id: &str) {
        if let Some((k, i)) = &page.after {
            let k1 = self.bind(Value::Text(k.clone()));
            let k2 = self.bind(Value::Text(k.clone()));
            let i1 = self.bind(Value::Int(*i));
            self.and(&format!("{key} > {k1} OR ({key} = {k2} AND {id} > {i1})"));
        }
    }

    /// Starts after `page.after`'s id, for lists in id order (the text key is unused).
    pub(crate) fn after_id(&mut self, page: &PageAfter, id: &str) {
        if let Some((_, i)) = &page.after {
            let i1 = self.bind(Value::Int(*i));
            self.and(&format!("{id} > {i1}"));
        }
    }

    /// Starts after `page.after`'s id, for lists in descending id order (newest first).
    pub(crate) fn before_id(&mut self, page: &PageAfter, id: &str) {
        if let Some((_, i)) = &page.after {
            let i1 = self.bind(Value::Int(*i));
            self.and(&format!("{id} < {i1}"));
        }
    }

    /// `WHERE …` (or nothing).
    pub(crate) fn where_sql(&self) -> String {
        if self.text.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.text)
        }
    }

    /// Binds the collected values to a statement, in order.
    pub(crate) fn apply<'q>(
        &self,
        mut q: Query<'q, sqlx::Any, AnyArguments>,
    ) -> Query<'q, sqlx::Any, AnyArguments> {
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(t) => q.bind(t.clone()),
            };
        }
        q
    }
    /// Runs `sql` (built on this clause's placeholders) with the collected values and reads
    /// every row with `read`: the one way a filtered list or page comes back from the database.
    pub(crate) async fn fetch_all<T>(
        &self,
        pool: &AnyPool,
        sql: String,
        read: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(pool)
            .await?;
        Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
    }
}
