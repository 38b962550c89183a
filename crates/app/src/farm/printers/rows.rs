//! The printer-row cache of the printer lists: every printer row, in the order the database
//! sorts them (`name, id`), held in memory so `GET /api/v1/printers` — polled by every
//! dashboard — reads no database while nothing changed. The live state was in memory already.
//!
//! Invariants:
//! - The cache holds rows, never an answer: each list applies the caller's visibility filter
//!   (the same `PrinterFilter` the SQL query takes) and the per-row authorization to the rows,
//!   so a fill by an administrator shows a scoped user nothing more.
//! - A write to printer rows through this process's store (add, edit, move, certificate state,
//!   delete, a deleted location, an import, re-sealing) changes the store's
//!   `printers_version`, and a cached copy of another version is never used: this node's
//!   changes show at once. Another node's changes show within [`MAX_AGE_MS`] (as the principal
//!   cache's revalidation).
//! - A page cursor names a row by its sort key; when that row is not in the cache (deleted
//!   since), the page is read from the database, whose comparison decides the position.
//! - Rows are used for views only (names, model, location, certificate state); nothing reads
//!   the sealed access code from here.

use std::sync::{Arc, PoisonError, RwLock};

use pw_store::{PrinterFilter, PrinterRow};

use crate::{App, AppError};

/// How old a cached copy may be before it is read again (bounds another node's changes).
pub(crate) const MAX_AGE_MS: i64 = 5_000;

#[derive(Debug)]
struct Cached {
    version: u64,
    loaded_at: i64,
    rows: Arc<Vec<PrinterRow>>,
}

/// Every printer row, cached (see the module notes).
#[derive(Debug, Default)]
pub(crate) struct PrinterRows {
    cached: RwLock<Option<Cached>>,
}

/// Whether `filter` lets `row` through: the SQL of `pw_store::page::Clause::printers`, on a row.
pub(crate) fn filter_allows(filter: &PrinterFilter, row: &PrinterRow) -> bool {
    match filter {
        PrinterFilter::All => true,
        PrinterFilter::Nothing => false,
        PrinterFilter::Set {
            everywhere,
            printers,
            locations,
            within,
        } => {
            let id = row.id.get();
            let reached = *everywhere
                || printers.contains(&id)
                || row
                    .location_id
                    .is_some_and(|l| locations.contains(&l.get()));
            reached && within.as_ref().is_none_or(|w| w.contains(&id))
        }
    }
}

impl App {
    /// Every printer row in the database's `(name, id)` order: from memory when the cached copy
    /// is of the store's current version and young enough, else read (and kept).
    pub(crate) async fn printer_rows(&self) -> Result<Arc<Vec<PrinterRow>>, AppError> {
        let now = self.clock.now_ms();
        // Read before the query: a write that lands while it runs changes the version, so the
        // copy read here is already stale when stored and the next list reads again.
        let version = self.store.printers_version();
        if let Some(c) = self
            .printer_rows
            .cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|c| c.version == version && (0..MAX_AGE_MS).contains(&(now - c.loaded_at)))
        {
            return Ok(Arc::clone(&c.rows));
        }
        let rows = Arc::new(self.store.printers_where(&PrinterFilter::All).await?);
        *self
            .printer_rows
            .cached
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            version,
            loaded_at: now,
            rows: Arc::clone(&rows),
        });
        Ok(rows)
    }

    /// The printers `filter` lets through, from the cache, in `(name, id)` order.
    pub(crate) async fn printers_filtered(
        &self,
        filter: &PrinterFilter,
    ) -> Result<Vec<PrinterRow>, AppError> {
        Ok(self
            .printer_rows()
            .await?
            .iter()
            .filter(|r| filter_allows(filter, r))
            .cloned()
            .collect())
    }

    /// Up to `fetch` printers `filter` lets through after the row `after` names, from the
    /// cache; `None` when that row is not cached (the caller reads the page from the database).
    pub(crate) async fn printers_after(
        &self,
        filter: &PrinterFilter,
        after: Option<&(String, i64)>,
        fetch: usize,
    ) -> Result<Option<Vec<PrinterRow>>, AppError> {
        let rows = self.printer_rows().await?;
        let start = match after {
            None => 0,
            Some((name, id)) => {
                match rows
                    .iter()
                    .position(|r| r.id.get() == *id && r.name == *name)
                {
                    Some(i) => i + 1,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(
            rows.iter()
                .skip(start)
                .filter(|r| filter_allows(filter, r))
                .take(fetch)
                .cloned()
                .collect(),
        ))
    }
}
