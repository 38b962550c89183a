//! The print archive: one row per print — started through printwarden or elsewhere — with its
//! printer, file, starter, times, outcome and the user's notes, tags and rating.
//!
//! Invariants: a printer has at most one open (`printing`) entry and a print job is archived at
//! most once (unique indexes), so a repeated report, a reconnect or a restart cannot create a
//! second entry — [`Store::open_archive`] answers `None` instead; an entry keeps the printer's
//! and the starter's names, so it reads right after either is deleted; list pages are keyset
//! pages newest first `(started_at, id)` with the visibility filter in the same query; the text
//! filter gives the same entries on both backends (a substring after the ASCII-only fold both
//! share), from trigram indexes where they can answer it (migration 0018: PostgreSQL `pg_trgm`
//! GIN indexes on the compared expressions, SQLite an FTS5 `trigram` table kept by triggers);
//! a text of 1–2 characters, which no index answers, is searched by a list page among at most
//! [`SHORT_TEXT_WINDOW`] entries, and the page says where it stopped, so no request reads the
//! whole archive and following the pages still finds every match exactly once.

use pw_domain::{LibraryFileId, PrinterId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::page::{Clause, OwnerFilter, PrinterFilter, Value};
use crate::{Backend, Store, StoreError};

/// One archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// Key.
    pub id: i64,
    /// The printer (`None` once it was removed).
    pub printer_id: Option<PrinterId>,
    /// Its location now (for location scopes), read through the printer.
    pub location_id: Option<i64>,
    /// The printer's name when the print ran.
    pub printer_name: String,
    /// The file printed.
    pub file_name: String,
    /// The plate, when known.
    pub plate: Option<i64>,
    /// The printer's job identity (matches the open entry again after a reconnect).
    pub job_key: Option<String>,
    /// `printwarden` or `elsewhere`.
    pub source: String,
    /// Who started it (`None`: outside printwarden, or the account was deleted).
    pub started_by: Option<UserId>,
    /// Their name at the time.
    pub started_by_name: Option<String>,
    /// The print job row, for prints started through printwarden.
    pub print_job_id: Option<i64>,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms, once ended.
    pub ended_at: Option<i64>,
    /// Seconds from start to end.
    pub duration_s: Option<i64>,
    /// `printing`, `finished`, `failed` or `cancelled`.
    pub outcome: String,
    /// The printer's error code (`MMMM_EEEE`), when it reported one.
    pub error_code: Option<String>,
    /// The error in words.
    pub error: Option<String>,
    /// JSON array of the filaments used.
    pub filaments: String,
    /// Free text.
    pub notes: String,
    /// JSON array of tags.
    pub tags: String,
    /// 1–5.
    pub rating: Option<i64>,
    /// SHA-256 of the printed file in the blob store, once linked.
    pub file_sha256: Option<String>,
    /// SHA-256 of the plate image in the blob store, once linked.
    pub thumbnail_sha256: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// The printer's job id (`task_id`, or `subtask_id`), when it reported one.
    pub job_id: Option<String>,
    /// The library file it was printed from (`None`: elsewhere, or deleted since).
    pub library_file_id: Option<LibraryFileId>,
    /// SHA-256 of the end-of-print camera frame in the blob store.
    pub snapshot_sha256: Option<String>,
    /// JSON array of the plate's filament use read from the printed file.
    pub file_filaments: Option<String>,
}

/// A new entry.
#[derive(Debug, Clone)]
pub struct NewArchive<'a> {
    /// The printer.
    pub printer_id: PrinterId,
    /// Its name now.
    pub printer_name: &'a str,
    /// The file.
    pub file_name: &'a str,
    /// The plate, when known.
    pub plate: Option<i64>,
    /// Job identity.
    pub job_key: Option<&'a str>,
    /// The printer's job id.
    pub job_id: Option<&'a str>,
    /// `printwarden` or `elsewhere`.
    pub source: &'a str,
    /// Starter.
    pub started_by: Option<UserId>,
    /// Starter's name.
    pub started_by_name: Option<&'a str>,
    /// The print job row.
    pub print_job_id: Option<i64>,
    /// Unix ms.
    pub started_at: i64,
    /// JSON array.
    pub filaments: &'a str,
}

/// How an entry ended.
#[derive(Debug, Clone)]
pub struct ArchiveEnd<'a> {
    /// `finished`, `failed` or `cancelled`.
    pub outcome: &'a str,
    /// Unix ms.
    pub ended_at: i64,
    /// `MMMM_EEEE`.
    pub error_code: Option<&'a str>,
    /// In words.
    pub error: Option<&'a str>,
    /// JSON array; `None` keeps the stored one.
    pub filaments: Option<&'a str>,
}

/// An entry recorded by hand (`archives:create`): a print done outside printwarden.
#[derive(Debug, Clone)]
pub struct ManualArchive<'a> {
    /// The printer.
    pub printer_id: PrinterId,
    /// Its name.
    pub printer_name: &'a str,
    /// The file.
    pub file_name: &'a str,
    /// The plate.
    pub plate: Option<i64>,
    /// Who recorded it (its owner).
    pub started_by: Option<UserId>,
    /// Their name.
    pub started_by_name: &'a str,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub ended_at: i64,
    /// `finished`, `failed` or `cancelled`.
    pub outcome: &'a str,
    /// In words.
    pub error: Option<&'a str>,
    /// Free text.
    pub notes: &'a str,
    /// JSON array.
    pub tags: &'a str,
    /// 1–5.
    pub rating: Option<i64>,
    /// Unix ms.
    pub now: i64,
}

/// A change by a user; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ArchivePatch<'a> {
    /// Free text.
    pub notes: Option<&'a str>,
    /// JSON array.
    pub tags: Option<&'a str>,
    /// `Some(None)` clears the rating.
    pub rating: Option<Option<i64>>,
}

/// Who started the prints a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StarterMatch {
    /// This user (id).
    Id(i64),
    /// This name (kept after the account's deletion).
    Name(String),
}

/// What a list shows: the caller's visibility (rows `all` lets through, plus the caller's own
/// rows that `own` lets through) and the filters asked for, all run in SQL.
#[derive(Debug, Clone)]
pub struct ArchiveFilter {
    /// Printers whose entries the caller sees whoever started them (`*_all`).
    pub all: PrinterFilter,
    /// The caller and the printers whose entries they see when they started them (`*_own`).
    pub own: Option<(i64, PrinterFilter)>,
    /// `?printer_id=`.
    pub printer: Option<i64>,
    /// `?outcome=`.
    pub outcome: Option<String>,
    /// `?user=`.
    pub user: Option<StarterMatch>,
    /// `?q=`: a piece of the file name, printer name or notes (ASCII letters in any case, other
    /// characters as typed; `%` and `_` are plain characters).
    pub q: Option<String>,
    /// `?since=` (unix ms, inclusive).
    pub since: Option<i64>,
    /// `?until=` (unix ms, exclusive).
    pub until: Option<i64>,
}

impl ArchiveFilter {
    /// Nothing visible, no filter (a starting point).
    #[must_use]
    pub fn nothing() -> Self {
        Self {
            all: PrinterFilter::Nothing,
            own: None,
            printer: None,
            outcome: None,
            user: None,
            q: None,
            since: None,
            until: None,
        }
    }
}

pub(crate) const COLUMNS: &str = "a.id, a.printer_id, p.location_id, a.printer_name, a.file_name, a.plate, \
     a.job_key, a.source, a.started_by, a.started_by_name, a.print_job_id, a.started_at, \
     a.ended_at, a.duration_s, a.outcome, a.error_code, a.error, a.filaments, a.notes, a.tags, \
     a.rating, a.file_sha256, a.thumbnail_sha256, a.created_at, a.job_id, a.library_file_id, \
     a.snapshot_sha256, a.file_filaments";

pub(crate) const FROM: &str = "FROM archives a LEFT JOIN printers p ON p.id = a.printer_id";

pub(crate) fn from_row(r: &AnyRow) -> Result<ArchiveRow, sqlx::Error> {
    Ok(ArchiveRow {
        id: r.try_get("id")?,
        printer_id: r
            .try_get::<Option<i64>, _>("printer_id")?
            .map(PrinterId::from_db),
        location_id: r.try_get("location_id")?,
        printer_name: r.try_get("printer_name")?,
        file_name: r.try_get("file_name")?,
        plate: r.try_get("plate")?,
        job_key: r.try_get("job_key")?,
        source: r.try_get("source")?,
        started_by: r
            .try_get::<Option<i64>, _>("started_by")?
            .map(UserId::from_db),
        started_by_name: r.try_get("started_by_name")?,
        print_job_id: r.try_get("print_job_id")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        duration_s: r.try_get("duration_s")?,
        outcome: r.try_get("outcome")?,
        error_code: r.try_get("error_code")?,
        error: r.try_get("error")?,
        filaments: r.try_get("filaments")?,
        notes: r.try_get("notes")?,
        tags: r.try_get("tags")?,
        rating: r.try_get("rating")?,
        file_sha256: r.try_get("file_sha256")?,
        thumbnail_sha256: r.try_get("thumbnail_sha256")?,
        created_at: r.try_get("created_at")?,
        job_id: r.try_get("job_id")?,
        library_file_id: r
            .try_get::<Option<i64>, _>("library_file_id")?
            .map(LibraryFileId::from_db),
        snapshot_sha256: r.try_get("snapshot_sha256")?,
        file_filaments: r.try_get("file_filaments")?,
    })
}

/// The text filter's fold: ASCII letters to lower case, every other character as typed — what
/// SQLite's `lower()` and PostgreSQL's `lower(... COLLATE "C")` do to the searched columns, so
/// both backends compare the same strings (a Unicode fold on one side only would make `Über`
/// miss `Über` on SQLite, and differ between the backends).
fn fold(piece: &str) -> String {
    piece.to_ascii_lowercase()
}

/// `LIKE` pattern for a piece of text (folded), with `%`, `_` and `\` taken literally.
fn like(piece: &str) -> String {
    let mut out = String::from("%");
    for c in fold(piece).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// FTS5 phrase for a piece of text (folded): the whole piece in double quotes (doubled inside),
/// so no character is query syntax. With the trigram tokenizer a phrase of 3 or more
/// characters matches exactly the rows whose column contains the piece.
fn phrase(piece: &str) -> String {
    format!("\"{}\"", fold(piece).replace('"', "\"\""))
}

/// Fewer characters than this have no trigram: neither index can answer them.
const TRIGRAM: usize = 3;

/// SQLite: up to this many matching entries are read through the search table and sorted;
/// beyond, matches are common enough that walking the newest entries (`lower(..) LIKE`) fills
/// a page sooner (about 50 × entries / matches rows read) than sorting them all.
pub const SQLITE_SEARCH_SORT_MAX: i64 = 4000;

/// A list page searching for a text of 1–2 characters reads at most this many entries (those
/// the caller may see, after the other filters, newest first from the cursor) before it
/// answers. No index answers such a text on either backend, so without a bound a text that
/// matches nothing read every entry the caller may see (184 ms on SQLite, 129 ms on PostgreSQL
/// for 100,000; scripts/bench.sh archive); 5,000 entries take about 6 ms. The page then says
/// where the search stopped ([`ArchivePage::searched_to`]) and its cursor continues from there,
/// so following `next` still finds every match, once, in order.
pub const SHORT_TEXT_WINDOW: i64 = 5000;

impl Default for crate::SearchTuning {
    fn default() -> Self {
        Self {
            sqlite_sort_max: SQLITE_SEARCH_SORT_MAX,
            short_text_window: SHORT_TEXT_WINDOW,
        }
    }
}

/// Whether a text is too short for the trigram indexes (the list searches it in a window).
#[must_use]
pub fn short_text(q: &str) -> bool {
    q.chars().count() < TRIGRAM
}

/// One list page of entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePage {
    /// The entries found, newest first (at most the `fetch` asked for).
    pub rows: Vec<ArchiveRow>,
    /// Set when a search of 1–2 characters stopped at its window ([`SHORT_TEXT_WINDOW`])
    /// before it found `fetch` entries while older entries remain: `(started_at, id)` of the
    /// last entry it read. Every match up to it is in `rows`; the next page starts after it.
    pub searched_to: Option<(i64, i64)>,
}

/// How a list applies `?q=`: the same entries either way, only the path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMatch {
    /// `lower(column) LIKE '%q%'` on each searched column — PostgreSQL's trigram indexes are
    /// on exactly these expressions (`COLLATE "C"`); on SQLite a walk of the newest entries
    /// with plain `column LIKE '%q%'`, which folds ASCII letters exactly as `lower()` does
    /// (both ASCII-only without ICU) without making a lowered copy of every value it reads.
    Like {
        /// PostgreSQL: the indexed, ASCII-only fold.
        collate_c: bool,
    },
    /// SQLite: the entries the FTS5 trigram table finds (file name, notes); no printer name
    /// matches (checked first).
    Fts,
}

impl Clause {
    /// Restricts to the archive rows `filter` lets through (`text`: how `q` runs).
    pub(crate) fn archives(&mut self, filter: &ArchiveFilter, text: TextMatch) {
        // The visibility: (rows of the `*_all` printers) OR (own rows of the `*_own` printers),
        // built as two sub-clauses sharing this clause's placeholders. The common cases stay
        // plain conditions the planner can use an index for: `*_all` everywhere (no
        // condition) and owner-only (the owner column alone).
        let outer = std::mem::take(&mut self.text);
        let own = match &filter.own {
            Some((user, printers)) if filter.all != PrinterFilter::All => {
                self.owner(OwnerFilter::Only(*user), "a.started_by");
                self.printers(printers, "a.printer_id", "p.location_id");
                Some(std::mem::take(&mut self.text))
            }
            _ => None,
        };
        let all = match &filter.all {
            PrinterFilter::All => None,
            PrinterFilter::Nothing => Some(None),
            set => {
                self.printers(set, "a.printer_id", "p.location_id");
                Some(Some(std::mem::take(&mut self.text)))
            }
        };
        self.text = outer;
        match (all, own) {
            (None, _) => {}
            (Some(None), None) => self.and("1 = 0"),
            (Some(None), Some(own)) => self.and(&own),
            (Some(Some(all)), None) => self.and(&all),
            (Some(Some(all)), Some(own)) => self.and(&format!("({all}) OR ({own})")),
        }
        if let Some(printer) = filter.printer {
            let m = self.bind(Value::Int(printer));
            self.and(&format!("a.printer_id = {m}"));
        }
        if let Some(outcome) = &filter.outcome {
            let m = self.bind(Value::Text(outcome.clone()));
            self.and(&format!("a.outcome = {m}"));
        }
        match &filter.user {
            Some(StarterMatch::Id(id)) => {
                let m = self.bind(Value::Int(*id));
                self.and(&format!("a.started_by = {m}"));
            }
            Some(StarterMatch::Name(name)) => {
                let m = self.bind(Value::Text(name.clone()));
                self.and(&format!("a.started_by_name = {m}"));
            }
            None => {}
        }
        if let Some(q) = &filter.q {
            match text {
                TextMatch::Like { collate_c } => {
                    let column = |name: &str| {
                        if collate_c {
                            format!("lower({name} COLLATE \"C\")")
                        } else {
                            name.to_owned()
                        }
                    };
                    let pattern = like(q);
                    let m1 = self.bind(Value::Text(pattern.clone()));
                    let m2 = self.bind(Value::Text(pattern.clone()));
                    let m3 = self.bind(Value::Text(pattern));
                    self.and(&format!(
                        "{} LIKE {m1} ESCAPE '\\' OR {} LIKE {m2} ESCAPE '\\' \
                         OR {} LIKE {m3} ESCAPE '\\'",
                        column("a.file_name"),
                        column("a.printer_name"),
                        column("a.notes"),
                    ));
                }
                TextMatch::Fts => {
                    let m = self.bind(Value::Text(phrase(q)));
                    self.and(&format!(
                        "a.id IN (SELECT rowid FROM archives_search WHERE archives_search MATCH {m})"
                    ));
                }
            }
        }
        if let Some(since) = filter.since {
            let m = self.bind(Value::Int(since));
            self.and(&format!("a.started_at >= {m}"));
        }
        if let Some(until) = filter.until {
            let m = self.bind(Value::Int(until));
            self.and(&format!("a.started_at < {m}"));
        }
    }
}

/// Only entries older than `after` (`(started_at, id)` of the previous page's last row).
fn after_key(c: &mut Clause, after: Option<(i64, i64)>) {
    if let Some((at, id)) = after {
        // `started_at <= at` first, as its own condition: the planner turns it into an index
        // range bound. The equivalent `started_at < at OR (started_at = at AND id < id)`
        // is only a filter, so a page deep in walked every row before it (PostgreSQL read
        // 50,000 index entries for the page half-way through 100,000: 36 ms instead of
        // 0.04 ms; scripts/bench.sh archive).
        let a1 = c.bind(Value::Int(at));
        let a2 = c.bind(Value::Int(at));
        let i1 = c.bind(Value::Int(id));
        c.and(&format!("a.started_at <= {a1}"));
        c.and(&format!("a.started_at < {a2} OR a.id < {i1}"));
    }
}

impl Store {
    /// Opens an entry for a print that just started. `None` when the printer already has an
    /// open entry or the print job is archived already (the unique indexes say so).
    pub async fn open_archive(&self, new: &NewArchive<'_>) -> Result<Option<i64>, StoreError> {
        let result = sqlx::query(
            "INSERT INTO archives (printer_id, printer_name, file_name, plate, job_key, source, \
             started_by, started_by_name, print_job_id, started_at, outcome, filaments, created_at, \
             job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'printing', $11, $12, $13) \
             RETURNING id",
        )
        .bind(new.printer_id.get())
        .bind(new.printer_name)
        .bind(new.file_name)
        .bind(new.plate)
        .bind(new.job_key)
        .bind(new.source)
        .bind(new.started_by.map(UserId::get))
        .bind(new.started_by_name)
        .bind(new.print_job_id)
        .bind(new.started_at)
        .bind(new.filaments)
        .bind(new.started_at)
        .bind(new.job_id)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write);
        match result {
            Ok(row) => Ok(Some(row.try_get("id")?)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The printer's open entry, if any.
    pub async fn open_archive_of(
        &self,
        printer: PrinterId,
    ) -> Result<Option<ArchiveRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} {FROM} WHERE a.printer_id = $1 AND a.outcome = 'printing'");
        self.fetch_one_by(sql, printer.get(), from_row).await
    }

    /// Whether a print job is archived already.
    pub async fn print_job_archived(&self, print_job: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM archives WHERE print_job_id = $1")
            .bind(print_job)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Records the filaments seen so far on an open entry.
    pub async fn set_archive_filaments(&self, id: i64, filaments: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE archives SET filaments = $1 WHERE id = $2 AND outcome = 'printing'")
            .bind(filaments)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends an open entry (duration from its start); false if it was not open (ended already,
    /// or deleted).
    pub async fn end_archive(&self, id: i64, end: &ArchiveEnd<'_>) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE archives SET outcome = $1, ended_at = $2, \
             duration_s = CASE WHEN $3 > started_at THEN ($4 - started_at) / 1000 ELSE 0 END, \
             error_code = $5, error = $6, filaments = COALESCE($7, filaments) \
             WHERE id = $8 AND outcome = 'printing'",
        )
        .bind(end.outcome)
        .bind(end.ended_at)
        .bind(end.ended_at)
        .bind(end.ended_at)
        .bind(end.error_code)
        .bind(end.error)
        .bind(end.filaments)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Ends the open entries of removed printers (their `printer_id` went NULL); returns how
    /// many.
    pub async fn end_orphaned_archives(&self, now: i64, error: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE archives SET outcome = 'failed', ended_at = $1, \
             duration_s = CASE WHEN $2 > started_at THEN ($3 - started_at) / 1000 ELSE 0 END, \
             error = $4 WHERE printer_id IS NULL AND outcome = 'printing'",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records a print done outside printwarden, by hand.
    pub async fn insert_manual_archive(&self, m: &ManualArchive<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO archives (printer_id, printer_name, file_name, plate, source, started_by, \
             started_by_name, started_at, ended_at, duration_s, outcome, error, notes, tags, rating, \
             created_at) VALUES ($1, $2, $3, $4, 'elsewhere', $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15) RETURNING id",
        )
        .bind(m.printer_id.get())
        .bind(m.printer_name)
        .bind(m.file_name)
        .bind(m.plate)
        .bind(m.started_by.map(UserId::get))
        .bind(m.started_by_name)
        .bind(m.started_at)
        .bind(m.ended_at)
        .bind((m.ended_at - m.started_at).max(0) / 1000)
        .bind(m.outcome)
        .bind(m.error)
        .bind(m.notes)
        .bind(m.tags)
        .bind(m.rating)
        .bind(m.now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(row.try_get("id")?)
    }

    /// One entry.
    pub async fn archive(&self, id: i64) -> Result<Option<ArchiveRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} {FROM} WHERE a.id = $1");
        self.fetch_one_by(sql, id, from_row).await
    }

    /// One page of entries, newest first: those `filter` lets through, after `(started_at,
    /// id)` of the previous page's last row, at most `fetch` — every match, however many
    /// entries that reads (the CSV export; a list page is [`Store::archives_list`]).
    pub async fn archives_page(
        &self,
        filter: &ArchiveFilter,
        after: Option<(i64, i64)>,
        fetch: i64,
    ) -> Result<Vec<ArchiveRow>, StoreError> {
        let text = match &filter.q {
            Some(q) => self.text_match(q).await?,
            None => TextMatch::Like { collate_c: false },
        };
        let mut c = Clause::default();
        c.archives(filter, text);
        after_key(&mut c, after);
        self.archive_rows(c, filter.q.is_some(), fetch, &self.pool)
            .await
    }

    /// One list page: as [`Store::archives_page`], except that a text of 1–2 characters is
    /// searched among at most [`SHORT_TEXT_WINDOW`] entries after the cursor (those the filter
    /// lets through, text aside); the page then says how far it read
    /// ([`ArchivePage::searched_to`]). Both reads see one snapshot of the database, so the
    /// window's end and the matches before it agree even while entries are added or deleted.
    pub async fn archives_list(
        &self,
        filter: &ArchiveFilter,
        after: Option<(i64, i64)>,
        fetch: i64,
    ) -> Result<ArchivePage, StoreError> {
        let Some(q) = filter.q.as_deref().filter(|q| short_text(q)) else {
            return Ok(ArchivePage {
                rows: self.archives_page(filter, after, fetch).await?,
                searched_to: None,
            });
        };
        let text = self.text_match(q).await?;
        let window = self.search.short_text_window;
        let mut tx = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            // One snapshot for both statements (READ COMMITTED takes one per statement).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        // The window's last entry: the `window`-th the filter lets through without the text,
        // and whether any follows it (none: the window reaches the end, nothing to continue).
        // The key indexes alone answer it: they carry the printer and the starter too
        // (migration 0029), so a scoped reader's walk never reads an entry's row.
        let mut without_text = filter.clone();
        without_text.q = None;
        let mut c = Clause::default();
        c.archives(&without_text, text);
        after_key(&mut c, after);
        let offset = c.bind(Value::Int(window - 1));
        let sql = format!(
            "SELECT a.started_at, a.id {FROM}{} ORDER BY a.started_at DESC, a.id DESC \
             LIMIT 2 OFFSET {offset}",
            c.where_sql()
        );
        let edge = c
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&mut *tx)
            .await?;
        let end = match edge.as_slice() {
            [last, _] => Some((
                last.try_get::<i64, _>("started_at")?,
                last.try_get::<i64, _>("id")?,
            )),
            _ => None,
        };
        let mut c = Clause::default();
        c.archives(filter, text);
        after_key(&mut c, after);
        if let Some((at, id)) = end {
            // Not older than the window's last entry (the range bound first, as in the keyset).
            let a1 = c.bind(Value::Int(at));
            let a2 = c.bind(Value::Int(at));
            let i1 = c.bind(Value::Int(id));
            c.and(&format!("a.started_at >= {a1}"));
            c.and(&format!("a.started_at > {a2} OR a.id >= {i1}"));
        }
        let rows = self.archive_rows(c, true, fetch, &mut *tx).await?;
        tx.commit().await?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= fetch;
        Ok(ArchivePage {
            searched_to: if full { None } else { end },
            rows,
        })
    }

    /// Runs a page query built on `c` (filters and keyset), newest first, at most `fetch`.
    async fn archive_rows<'e, E>(
        &self,
        mut c: Clause,
        text: bool,
        fetch: i64,
        executor: E,
    ) -> Result<Vec<ArchiveRow>, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let limit = c.bind(Value::Int(fetch));
        let sql = format!(
            "SELECT {COLUMNS} {FROM}{} ORDER BY a.started_at DESC, a.id DESC LIMIT {limit}",
            c.where_sql()
        );
        let query = c.apply(sqlx::query(sqlx::AssertSqlSafe(sql)));
        // With text, planned for this text every time: PostgreSQL's plan for a statement it
        // keeps is, after five runs, one plan for any text — it then walked all of a reader's
        // entries for text that matches nothing (113 ms p99) instead of asking the trigram
        // index (0.3 ms). An unnamed statement is planned with its values.
        let query = if text { query.persistent(false) } else { query };
        let rows = query.fetch_all(executor).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Whether the archive text search has its trigram indexes: always on SQLite (its own FTS5,
    /// migration 0018); on PostgreSQL when `pg_trgm` was there for the migration to build them
    /// (without it, a search of 3 or more characters reads every entry the reader may see).
    pub async fn archive_search_indexed(&self) -> Result<bool, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(true);
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = 'archives' AND indexname IN ('archives_search_file', \
             'archives_search_printer', 'archives_search_notes')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? == 3)
    }

    /// Which path `?q=` takes for this text, in words (tests and diagnostics): `search table`
    /// or `walk` on SQLite, `trigram index or walk` on PostgreSQL (its planner decides).
    pub async fn archive_search_path(&self, q: &str) -> Result<&'static str, StoreError> {
        Ok(match self.text_match(q).await? {
            TextMatch::Fts => "search table",
            TextMatch::Like { collate_c: true } => "trigram index or walk",
            TextMatch::Like { collate_c: false } => "walk",
        })
    }

    /// How `?q=` runs on this backend for this piece of text.
    ///
    /// PostgreSQL: always the `LIKE` on the indexed expressions; its planner weighs the trigram
    /// indexes (rare text) against walking the newest entries (common text) from statistics.
    /// SQLite has no such estimate for a full-text table, so it is asked first: the search
    /// table when it finds at most [`SQLITE_SEARCH_SORT_MAX`] entries (the store's
    /// [`crate::SearchTuning`]) and no printer name matches, otherwise the walk. Fewer than 3
    /// characters: the walk on both — bounded by [`SHORT_TEXT_WINDOW`] on a list page.
    pub(crate) async fn text_match(&self, q: &str) -> Result<TextMatch, StoreError> {
        if self.backend() == Backend::Postgres {
            return Ok(TextMatch::Like { collate_c: true });
        }
        let walk = TextMatch::Like { collate_c: false };
        if short_text(q) {
            return Ok(walk);
        }
        let printers = sqlx::query(
            "SELECT COUNT(*) AS n FROM archives_search_printers \
             WHERE lower(name) LIKE $1 ESCAPE '\\'",
        )
        .bind(like(q))
        .fetch_one(&self.pool)
        .await?;
        if printers.try_get::<i64, _>("n")? > 0 {
            return Ok(walk);
        }
        let found = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT rowid FROM archives_search \
             WHERE archives_search MATCH $1 LIMIT $2) AS s",
        )
        .bind(phrase(q))
        .bind(self.search.sqlite_sort_max + 1)
        .fetch_one(&self.pool)
        .await?;
        Ok(
            if found.try_get::<i64, _>("n")? > self.search.sqlite_sort_max {
                walk
            } else {
                TextMatch::Fts
            },
        )
    }

    /// Changes notes, tags or rating; false if the entry is gone.
    pub async fn update_archive(
        &self,
        id: i64,
        patch: &ArchivePatch<'_>,
    ) -> Result<bool, StoreError> {
        let (rating_set, rating) = match patch.rating {
            Some(r) => (1_i64, r),
            None => (0, None),
        };
        let changed = sqlx::query(
            "UPDATE archives SET notes = COALESCE($1, notes), tags = COALESCE($2, tags), \
             rating = CASE WHEN $3 = 1 THEN $4 ELSE rating END WHERE id = $5",
        )
        .bind(patch.notes)
        .bind(patch.tags)
        .bind(rating_set)
        .bind(rating)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Deletes an entry; false if it was gone.
    pub async fn delete_archive(&self, id: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query("DELETE FROM archives WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Deletes every ended entry that started before `before` (unix ms); open entries stay.
    /// Returns how many, and the blobs the deleted entries and their photos named (to release
    /// once the rows are gone).
    pub async fn purge_archives(&self, before: i64) -> Result<(u64, Vec<String>), StoreError> {
        // Writes first, collecting what they free (`RETURNING`): a transaction that read
        // before writing could not take SQLite's write lock once another connection wrote.
        let mut tx = self.pool.begin().await?;
        let photos = sqlx::query(
            "DELETE FROM archive_photos WHERE archive_id IN (SELECT id FROM archives \
             WHERE started_at < $1 AND outcome <> 'printing') RETURNING sha256",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        let entries = sqlx::query(
            "DELETE FROM archives WHERE started_at < $1 AND outcome <> 'printing' \
             RETURNING file_sha256, thumbnail_sha256, snapshot_sha256",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut blobs: Vec<String> = Vec::new();
        for r in &photos {
            blobs.push(r.try_get("sha256")?);
        }
        for r in &entries {
            for column in ["file_sha256", "thumbnail_sha256", "snapshot_sha256"] {
                if let Some(sha) = r.try_get::<Option<String>, _>(column)? {
                    blobs.push(sha);
                }
            }
        }
        blobs.sort();
        blobs.dedup();
        Ok((entries.len() as u64, blobs))
    }

    /// How many entries a user started.
    pub async fn count_archives_of(&self, user: UserId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM archives WHERE started_by = $1")
            .bind(user.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The entries a user started (user deletion with `items=delete`).
    pub async fn archives_of(&self, user: UserId) -> Result<Vec<ArchiveRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} {FROM} WHERE a.started_by = $1 ORDER BY a.id"
        )))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The entry opened for a print job started through printwarden, if the printer has
    /// reported it yet (`(id, started_by)`; the start path returns it as `archive_id`).
    pub async fn archive_for_print_job(
        &self,
        print_job: i64,
    ) -> Result<Option<(i64, Option<UserId>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_by FROM archives WHERE print_job_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(print_job)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((
                    r.try_get::<i64, _>("id")?,
                    r.try_get::<Option<i64>, _>("started_by")?
                        .map(UserId::from_db),
                ))
            })
            .transpose()?)
    }

    /// Records the printer's job id on an entry that opened without one (a partial first
    /// report).
    pub async fn set_archive_job_id(&self, id: i64, job_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE archives SET job_id = $1 WHERE id = $2 AND job_id IS NULL")
            .bind(job_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Links an entry to its printed file (set once); false when the entry is gone or was
    /// linked already — the caller then releases the blob it meant to name.
    pub async fn set_archive_file(
        &self,
        id: i64,
        sha256: &str,
        library_file: Option<LibraryFileId>,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE archives SET file_sha256 = $1, library_file_id = $2 \
             WHERE id = $3 AND file_sha256 IS NULL",
        )
        .bind(sha256)
        .bind(library_file.map(LibraryFileId::get))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Records what the printed file says: the plate (kept when the report named one) and its
    /// filament use (JSON).
    pub async fn set_archive_file_facts(
        &self,
        id: i64,
        plate: Option<i64>,
        filaments: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE archives SET plate = COALESCE(plate, $1), file_filaments = $2 WHERE id = $3",
        )
        .bind(plate)
        .bind(filaments)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the entry's plate image (once); false when the entry is gone or has one.
    pub async fn set_archive_thumbnail(&self, id: i64, sha256: &str) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE archives SET thumbnail_sha256 = $1 WHERE id = $2 AND thumbnail_sha256 IS NULL",
        )
        .bind(sha256)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Sets the entry's end-of-print camera frame (once); false when the entry is gone or has
    /// one.
    pub async fn set_archive_snapshot(&self, id: i64, sha256: &str) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE archives SET snapshot_sha256 = $1 WHERE id = $2 AND snapshot_sha256 IS NULL",
        )
        .bind(sha256)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Every blob an entry names: its file, thumbnail, snapshot and photos (to release after
    /// the entry is deleted).
    pub async fn archive_blobs(&self, id: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT file_sha256 AS s FROM archives WHERE id = $1 AND file_sha256 IS NOT NULL \
             UNION SELECT thumbnail_sha256 AS s FROM archives WHERE id = $2 \
             AND thumbnail_sha256 IS NOT NULL \
             UNION SELECT snapshot_sha256 AS s FROM archives WHERE id = $3 \
             AND snapshot_sha256 IS NOT NULL \
             UNION SELECT sha256 AS s FROM archive_photos WHERE archive_id = $4",
        )
        .bind(id)
        .bind(id)
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>("s"))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Adds a photo to an entry; `None` when the entry is gone.
    pub async fn insert_archive_photo(
        &self,
        photo: &NewArchivePhoto<'_>,
    ) -> Result<Option<i64>, StoreError> {
        let result = sqlx::query(
            "INSERT INTO archive_photos (archive_id, sha256, kind, size, added_by, added_by_name, \
             added_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(photo.archive_id)
        .bind(photo.sha256)
        .bind(photo.kind)
        .bind(photo.size)
        .bind(photo.added_by.map(UserId::get))
        .bind(photo.added_by_name)
        .bind(photo.added_at)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write);
        match result {
            Ok(row) => Ok(Some(row.try_get("id")?)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How many photos an entry has.
    pub async fn count_archive_photos(&self, archive: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM archive_photos WHERE archive_id = $1")
            .bind(archive)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The photos of these entries, oldest first within each.
    pub async fn archive_photos(
        &self,
        archives: &[i64],
    ) -> Result<Vec<ArchivePhotoRow>, StoreError> {
        if archives.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (1..=archives.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PHOTO_COLUMNS} FROM archive_photos WHERE archive_id IN ({marks}) \
             ORDER BY archive_id, id"
        )));
        for id in archives {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(photo_row).collect::<Result<_, _>>()?)
    }

    /// One photo of an entry.
    pub async fn archive_photo(
        &self,
        archive: i64,
        photo: i64,
    ) -> Result<Option<ArchivePhotoRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PHOTO_COLUMNS} FROM archive_photos WHERE archive_id = $1 AND id = $2"
        )))
        .bind(archive)
        .bind(photo)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(photo_row).transpose()?)
    }

    /// Deletes one photo of an entry; false when it was gone.
    pub async fn delete_archive_photo(&self, archive: i64, photo: i64) -> Result<bool, StoreError> {
        let changed = sqlx::query("DELETE FROM archive_photos WHERE archive_id = $1 AND id = $2")
            .bind(archive)
            .bind(photo)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }
}

/// A photo of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePhotoRow {
    /// Key.
    pub id: i64,
    /// The entry.
    pub archive_id: i64,
    /// The image in the blob store.
    pub sha256: String,
    /// `jpeg`, `png` or `webp` (from the content).
    pub kind: String,
    /// Bytes.
    pub size: i64,
    /// Who added it (`None` once the account is deleted).
    pub added_by: Option<UserId>,
    /// Their name at the time.
    pub added_by_name: Option<String>,
    /// Unix ms.
    pub added_at: i64,
}

/// A photo to add.
#[derive(Debug, Clone)]
pub struct NewArchivePhoto<'a> {
    /// The entry.
    pub archive_id: i64,
    /// The image in the blob store.
    pub sha256: &'a str,
    /// `jpeg`, `png` or `webp`.
    pub kind: &'a str,
    /// Bytes.
    pub size: i64,
    /// Who adds it.
    pub added_by: Option<UserId>,
    /// Their name.
    pub added_by_name: Option<&'a str>,
    /// Unix ms.
    pub added_at: i64,
}

const PHOTO_COLUMNS: &str = "id, archive_id, sha256, kind, size, added_by, added_by_name, added_at";

fn photo_row(r: &AnyRow) -> Result<ArchivePhotoRow, sqlx::Error> {
    Ok(ArchivePhotoRow {
        id: r.try_get("id")?,
        archive_id: r.try_get("archive_id")?,
        sha256: r.try_get("sha256")?,
        kind: r.try_get("kind")?,
        size: r.try_get("size")?,
        added_by: r
            .try_get::<Option<i64>, _>("added_by")?
            .map(UserId::from_db),
        added_by_name: r.try_get("added_by_name")?,
        added_at: r.try_get("added_at")?,
    })
}
