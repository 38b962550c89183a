//! The print queue's rows: items (what to print, where, how many, in which order, in which
//! state) and pauses (the whole queue, or one printer's lane). Lists are keyset pages in SQL
//! with the owner filter in the same query.
//!
//! Invariants: an item only moves from the state the caller expects (every transition is a
//! compare-and-set on `state`, so a cancel racing a claim has one winner); a claim moves exactly
//! one queued item to `dispatching` atomically — PostgreSQL locks the chosen row with
//! `FOR UPDATE SKIP LOCKED` (concurrent claimers take different rows), SQLite runs the choice and
//! the update in one `BEGIN IMMEDIATE` transaction (one writer at a time) — and a printer holds at
//! most one active (`dispatching`/`printing`) item, enforced by a unique index, so two
//! dispatchers (two threads or two processes on one database) never start two items on one
//! printer or one item twice. Statement text depends only on the shape of a filter.

use pw_domain::{LibraryFileId, LocationId, PrinterGroupId, PrinterId, UserId};
use sqlx::any::AnyRow;
use sqlx::{Connection, Row};

use crate::page::{Clause, OwnerFilter, Value};
use crate::{Backend, Store, StoreError};

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueState {
    /// Waiting for a printer.
    Queued,
    /// Claimed by a dispatcher: the file is being sent and started.
    Dispatching,
    /// Started on its printer.
    Printing,
    /// Every copy printed.
    Done,
    /// Parked with a reason (start failed too often, or the print failed).
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl QueueState {
    /// Every state, in life order.
    pub const ALL: [QueueState; 6] = [
        QueueState::Queued,
        QueueState::Dispatching,
        QueueState::Printing,
        QueueState::Done,
        QueueState::Failed,
        QueueState::Cancelled,
    ];

    /// The stored (and API) name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueState::Queued => "queued",
            QueueState::Dispatching => "dispatching",
            QueueState::Printing => "printing",
            QueueState::Done => "done",
            QueueState::Failed => "failed",
            QueueState::Cancelled => "cancelled",
        }
    }

    /// The state with this name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// Whether the item is over (no transition leaves these states).
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            QueueState::Done | QueueState::Failed | QueueState::Cancelled
        )
    }
}

/// Which printers may take an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueTarget {
    /// This printer (`None` once it was removed: the item waits until retargeted).
    Printer(Option<PrinterId>),
    /// Any printer of this model (compared case-insensitively: stored in upper case).
    Model(String),
    /// Any printer standing in this location (`None` once it was removed).
    Location(Option<LocationId>),
    /// Any member of this printer group (`None` once the group was deleted: the item waits,
    /// parked with the reason, until retargeted).
    Group(Option<PrinterGroupId>),
}

/// A target as its columns: kind, printer, model, location, group.
type TargetColumns = (
    &'static str,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

impl QueueTarget {
    fn columns(&self) -> TargetColumns {
        match self {
            QueueTarget::Printer(p) => ("printer", p.map(PrinterId::get), None, None, None),
            QueueTarget::Model(m) => ("model", None, Some(m.to_uppercase()), None, None),
            QueueTarget::Location(l) => ("location", None, None, l.map(LocationId::get), None),
            QueueTarget::Group(g) => ("group", None, None, None, g.map(PrinterGroupId::get)),
        }
    }
}

/// A stored queue item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItemRow {
    /// Id.
    pub id: i64,
    /// The library file (`None` once deleted, or for a reprint of a file not in the library).
    pub library_file_id: Option<LibraryFileId>,
    /// The archive entry reprinted, if this is a reprint.
    pub archive_id: Option<i64>,
    /// Hex SHA-256 of the content in the blob store.
    pub file_sha256: String,
    /// The file's name when queued.
    pub file_name: String,
    /// Plate (1-based).
    pub plate: i64,
    /// Which printers may take it.
    pub target: QueueTarget,
    /// Copies to print.
    pub copies: i64,
    /// Copies printed.
    pub copies_done: i64,
    /// Higher first.
    pub priority: i64,
    /// Order among equal priorities (lower first).
    pub position: i64,
    /// Unix ms before which it is not started.
    pub not_before: Option<i64>,
    /// Print options as JSON.
    pub options: String,
    /// AMS mapping as JSON, `None` = propose at dispatch.
    pub ams_mapping: Option<String>,
    /// State.
    pub state: QueueState,
    /// Why it failed or was parked, in words.
    pub reason: Option<String>,
    /// Who queued it; `None` = ownerless.
    pub created_by: Option<UserId>,
    /// Their name at the time (kept when the account goes).
    pub created_by_name: Option<String>,
    /// The printer that claimed it.
    pub printer_id: Option<PrinterId>,
    /// Dispatch attempts so far.
    pub attempts: i64,
    /// Unix ms before which a failed start is not retried.
    pub next_attempt_at: Option<i64>,
    /// Unix ms of the claim.
    pub claimed_at: Option<i64>,
    /// The archive entry of the run it started.
    pub run_archive_id: Option<i64>,
    /// The print job it started.
    pub print_job_id: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms it reached a final state.
    pub ended_at: Option<i64>,
}

/// An item to queue.
#[derive(Debug, Clone)]
pub struct NewQueueItem<'a> {
    /// The library file.
    pub library_file_id: Option<LibraryFileId>,
    /// The archive entry reprinted.
    pub archive_id: Option<i64>,
    /// Hex SHA-256 of the content.
    pub file_sha256: &'a str,
    /// The file's name.
    pub file_name: &'a str,
    /// Plate.
    pub plate: i64,
    /// Target.
    pub target: &'a QueueTarget,
    /// Copies.
    pub copies: i64,
    /// Priority.
    pub priority: i64,
    /// Not before (unix ms).
    pub not_before: Option<i64>,
    /// Options JSON.
    pub options: &'a str,
    /// AMS mapping JSON.
    pub ams_mapping: Option<&'a str>,
    /// Owner.
    pub created_by: Option<UserId>,
    /// Owner's name.
    pub created_by_name: Option<&'a str>,
    /// Unix ms.
    pub now: i64,
}

/// A change to a queued item (absent fields stay). Applies only while the item is queued.
#[derive(Debug, Clone, Default)]
pub struct QueueItemPatch<'a> {
    /// Copies.
    pub copies: Option<i64>,
    /// Priority.
    pub priority: Option<i64>,
    /// Not before (`Some(None)` clears it).
    pub not_before: Option<Option<i64>>,
    /// Target.
    pub target: Option<&'a QueueTarget>,
    /// Options JSON.
    pub options: Option<&'a str>,
    /// AMS mapping JSON (`Some(None)` clears it).
    pub ams_mapping: Option<Option<&'a str>>,
}

/// What a state transition writes besides the state (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct QueueStep<'a> {
    /// Why, in words (`Some(None)` clears it).
    pub reason: Option<Option<&'a str>>,
    /// When to retry (`Some(None)` clears it).
    pub next_attempt_at: Option<Option<i64>>,
    /// Forget the claiming printer (the item goes back to waiting, or ends).
    pub release_printer: bool,
    /// The run's archive entry.
    pub run_archive_id: Option<i64>,
    /// The run's print job.
    pub print_job_id: Option<i64>,
    /// Count one more copy printed.
    pub copy_done: bool,
    /// Take back the attempt the claim counted (the printer never got the job).
    pub uncount_attempt: bool,
}

/// Which items a list shows.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    /// Owner visibility, computed by the application.
    pub owner: OwnerFilter,
    /// Only this state.
    pub state: Option<QueueState>,
    /// Only items targeting or claimed by this printer.
    pub printer: Option<PrinterId>,
    /// Start after this item's sort key: (priority, position, id).
    pub after: Option<(i64, i64, i64)>,
    /// Rows to read.
    pub fetch: i64,
}

/// A pause of the whole queue (`printer_id: None`) or of one printer's lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePauseRow {
    /// The printer whose lane is paused; `None` = the whole queue.
    pub printer_id: Option<PrinterId>,
    /// Who paused it.
    pub paused_by: Option<UserId>,
    /// Their name at the time.
    pub paused_by_name: Option<String>,
    /// Unix ms.
    pub paused_at: i64,
}

pub(crate) const COLUMNS: &str = "q.id, q.library_file_id, q.archive_id, q.file_sha256, q.file_name, q.plate, \
     q.target_kind, q.target_printer_id, q.target_model, q.target_location_id, \
     q.target_group_id, q.copies, \
     q.copies_done, q.priority, q.position, q.not_before, q.options, q.ams_mapping, q.state, \
     q.reason, q.created_by, q.created_by_name, q.printer_id, q.attempts, q.next_attempt_at, \
     q.claimed_at, q.run_archive_id, q.print_job_id, q.created_at, q.updated_at, q.ended_at";

/// The same columns without the table alias (for `RETURNING`).
fn returning() -> String {
    COLUMNS.replace("q.", "")
}

pub(crate) fn item_row(row: &AnyRow) -> Result<QueueItemRow, sqlx::Error> {
    let kind: String = row.try_get("target_kind")?;
    let target = match kind.as_str() {
        "model" => QueueTarget::Model(
            row.try_get::<Option<String>, _>("target_model")?
                .unwrap_or_default(),
        ),
        "location" => QueueTarget::Location(
            row.try_get::<Option<i64>, _>("target_location_id")?
                .map(LocationId::from_db),
        ),
        "group" => QueueTarget::Group(
            row.try_get::<Option<i64>, _>("target_group_id")?
                .map(PrinterGroupId::from_db),
        ),
        _ => QueueTarget::Printer(
            row.try_get::<Option<i64>, _>("target_printer_id")?
                .map(PrinterId::from_db),
        ),
    };
    let state: String = row.try_get("state")?;
    Ok(QueueItemRow {
        id: row.try_get("id")?,
        library_file_id: row
            .try_get::<Option<i64>, _>("library_file_id")?
            .map(LibraryFileId::from_db),
        archive_id: row.try_get("archive_id")?,
        file_sha256: row.try_get("file_sha256")?,
        file_name: row.try_get("file_name")?,
        plate: row.try_get("plate")?,
        target,
        copies: row.try_get("copies")?,
        copies_done: row.try_get("copies_done")?,
        priority: row.try_get("priority")?,
        position: row.try_get("position")?,
        not_before: row.try_get("not_before")?,
        options: row.try_get("options")?,
        ams_mapping: row.try_get("ams_mapping")?,
        // An unknown state (a newer release's) reads as failed: never dispatched again.
        state: QueueState::parse(&state).unwrap_or(QueueState::Failed),
        reason: row.try_get("reason")?,
        created_by: row
            .try_get::<Option<i64>, _>("created_by")?
            .map(UserId::from_db),
        created_by_name: row.try_get("created_by_name")?,
        printer_id: row
            .try_get::<Option<i64>, _>("printer_id")?
            .map(PrinterId::from_db),
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        claimed_at: row.try_get("claimed_at")?,
        run_archive_id: row.try_get("run_archive_id")?,
        print_job_id: row.try_get("print_job_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// The scope key of a pause row.
fn pause_key(printer: Option<PrinterId>) -> String {
    printer.map_or_else(|| "queue".to_owned(), |p| format!("printer:{p}"))
}

// The choice of a printer's next item (claim and peek share it), in SQL fragments over $1
// printer, $2 model, $3 location, $4 now, $5 the lane's pause key.
const TARGETS: &str = "((q.target_kind = 'printer' AND q.target_printer_id = $1) \
       OR (q.target_kind = 'model' AND q.target_model = $2) \
       OR (q.target_kind = 'location' AND q.target_location_id = $3) \
       OR (q.target_kind = 'group' AND q.target_group_id IN \
           (SELECT m.group_id FROM printer_group_members m WHERE m.printer_id = $1)))";
const STARTABLE: &str = "(q.not_before IS NULL OR q.not_before <= $4) \
     AND (q.next_attempt_at IS NULL OR q.next_attempt_at <= $4)";
const FREE: &str = "NOT EXISTS (SELECT 1 FROM queue_pauses p WHERE p.scope_key = 'queue' \
                     OR p.scope_key = $5) \
     AND NOT EXISTS (SELECT 1 FROM queue_items a WHERE a.printer_id = $1 \
                     AND a.state IN ('dispatching', 'printing'))";
const ORDER: &str = "ORDER BY q.priority DESC, q.position, q.id";

/// The id of the item a printer would claim next (no lock), over the same binds.
fn next_candidate_sql() -> String {
    // 1. The candidate: the best startable item of each target kind, each found by walking
    //    that kind's ordered index (migration 0022) to its first startable item, then the
    //    best of the (at most) four (printer, model, location, printer group: the group
    //    branch walks `queue_items_next_for_group` once per group the printer is in). The
    //    same item the single query in 3 picks when no other claimer holds it, without reading the whole queue: written as one query
    //    with the targets OR-ed, SQLite walked every queued item and sorted them
    //    (`SEARCH q USING INDEX queue_items_state (state=?)`, `USE TEMP B-TREE FOR ORDER BY`)
    //    and PostgreSQL, for a printer nothing targets, read all 10,000 queued rows of the
    //    benchmark's farm (`Bitmap Heap Scan ... Rows Removed by Filter: 10000`, 35 ms).
    //    Plans now (`scripts/bench.sh dispatch`'s farm): SQLite `SEARCH q USING INDEX
    //    queue_items_next_for_printer (target_printer_id=?)`, `..._for_model (target_model=?)`,
    //    `..._for_location (target_location_id=?)`, no sort inside a branch; PostgreSQL
    //    `Limit -> Merge Append` over one `Limit -> Index Scan` per kind (0.3 ms for a
    //    printer nothing targets; for a common model it may walk `queue_items_queued`).
    // 2. The claim (`claim_next_queue_item`): that item again with every condition, locked on
    //    PostgreSQL.
    // 3. Only when another claimer holds the candidate (or it changed in between): the
    //    single query over every target, which skips locked rows to the next best.
    let branch = |alias: &str, target: &str| {
        format!(
            "SELECT * FROM (SELECT q.id, q.priority, q.position FROM queue_items q \
             WHERE q.state = 'queued' AND {target} AND {STARTABLE} {ORDER} LIMIT 1) {alias}"
        )
    };
    format!(
        "SELECT c.id FROM ({} UNION ALL {} UNION ALL {} UNION ALL {}) c WHERE {FREE} \
         ORDER BY c.priority DESC, c.position, c.id LIMIT 1",
        branch(
            "b1",
            "q.target_kind = 'printer' AND q.target_printer_id = $1"
        ),
        branch("b2", "q.target_kind = 'model' AND q.target_model = $2"),
        branch(
            "b3",
            "q.target_kind = 'location' AND q.target_location_id = $3"
        ),
        branch(
            "b4",
            "q.target_kind = 'group' AND q.target_group_id IN \
             (SELECT m.group_id FROM printer_group_members m WHERE m.printer_id = $1)"
        ),
    )
}

impl Store {
    /// Queues an item at the end of the order.
    pub async fn insert_queue_item(&self, new: &NewQueueItem<'_>) -> Result<i64, StoreError> {
        let (kind, printer, model, location, group) = new.target.columns();
        let row = sqlx::query(
            "INSERT INTO queue_items (library_file_id, archive_id, file_sha256, file_name, plate, \
             target_kind, target_printer_id, target_model, target_location_id, copies, priority, \
             position, not_before, options, ams_mapping, state, created_by, created_by_name, \
             created_at, updated_at, target_group_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM queue_items), $12, $13, $14, 'queued', \
             $15, $16, $17, $17, $18) RETURNING id",
        )
        .bind(new.library_file_id.map(LibraryFileId::get))
        .bind(new.archive_id)
        .bind(new.file_sha256)
        .bind(new.file_name)
        .bind(new.plate)
        .bind(kind)
        .bind(printer)
        .bind(model)
        .bind(location)
        .bind(new.copies)
        .bind(new.priority)
        .bind(new.not_before)
        .bind(new.options)
        .bind(new.ams_mapping)
        .bind(new.created_by.map(UserId::get))
        .bind(new.created_by_name)
        .bind(new.now)
        .bind(group)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(row.try_get("id")?)
    }

    /// One item.
    pub async fn queue_item(&self, id: i64) -> Result<Option<QueueItemRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM queue_items q WHERE q.id = $1");
        self.fetch_one_by(sql, id, item_row).await
    }

    /// One page of items in dispatch order (priority high first, then position, then id).
    pub async fn queue_items_page(&self, q: &QueueQuery) -> Result<Vec<QueueItemRow>, StoreError> {
        let mut c = Clause::default();
        c.owner(q.owner, "q.created_by");
        if let Some(state) = q.state {
            let mark = c.bind(Value::Text(state.as_str().to_owned()));
            c.and(&format!("q.state = {mark}"));
        }
        if let Some(printer) = q.printer {
            let m1 = c.bind(Value::Int(printer.get()));
            let m2 = c.bind(Value::Int(printer.get()));
            c.and(&format!(
                "q.target_printer_id = {m1} OR q.printer_id = {m2}"
            ));
        }
        if let Some((priority, position, id)) = q.after {
            let p1 = c.bind(Value::Int(priority));
            let p2 = c.bind(Value::Int(priority));
            let s1 = c.bind(Value::Int(position));
            let s2 = c.bind(Value::Int(position));
            let i1 = c.bind(Value::Int(id));
            c.and(&format!(
                "q.priority < {p1} OR (q.priority = {p2} AND (q.position > {s1} OR \
                 (q.position = {s2} AND q.id > {i1})))"
            ));
        }
        let limit = c.bind(Value::Int(q.fetch));
        let sql = format!(
            "SELECT {COLUMNS} FROM queue_items q{} ORDER BY q.priority DESC, q.position, q.id \
             LIMIT {limit}",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, item_row).await
    }

    /// Changes a queued item; false when it does not exist or is no longer queued (a claim or
    /// a cancel came first). `Conflict` when a named printer or location does not exist.
    pub async fn update_queue_item(
        &self,
        id: i64,
        patch: &QueueItemPatch<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let target = patch.target.map(QueueTarget::columns);
        let done = sqlx::query(
            "UPDATE queue_items SET copies = COALESCE($2, copies), \
             priority = COALESCE($3, priority), \
             not_before = CASE WHEN $4 = 1 THEN $5 ELSE not_before END, \
             target_kind = CASE WHEN $6 = 1 THEN $7 ELSE target_kind END, \
             target_printer_id = CASE WHEN $6 = 1 THEN $8 ELSE target_printer_id END, \
             target_model = CASE WHEN $6 = 1 THEN $9 ELSE target_model END, \
             target_location_id = CASE WHEN $6 = 1 THEN $10 ELSE target_location_id END, \
             options = COALESCE($11, options), \
             ams_mapping = CASE WHEN $12 = 1 THEN $13 ELSE ams_mapping END, \
             target_group_id = CASE WHEN $6 = 1 THEN $15 ELSE target_group_id END, \
             reason = CASE WHEN $6 = 1 AND target_kind = 'group' AND target_group_id IS NULL \
               THEN NULL ELSE reason END, \
             updated_at = $14 \
             WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(patch.copies)
        .bind(patch.priority)
        .bind(i64::from(patch.not_before.is_some()))
        .bind(patch.not_before.flatten())
        .bind(i64::from(target.is_some()))
        .bind(target.as_ref().map(|t| t.0))
        .bind(target.as_ref().and_then(|t| t.1))
        .bind(target.as_ref().and_then(|t| t.2.clone()))
        .bind(target.as_ref().and_then(|t| t.3))
        .bind(patch.options)
        .bind(i64::from(patch.ams_mapping.is_some()))
        .bind(patch.ams_mapping.flatten())
        .bind(now)
        .bind(target.as_ref().and_then(|t| t.4))
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves an item from `from` to `to` (compare-and-set): false when it is not in `from`
    /// (someone else moved it first). A final state stamps `ended_at` and releases the printer.
    pub async fn set_queue_item_state(
        &self,
        id: i64,
        from: QueueState,
        to: QueueState,
        step: &QueueStep<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let release = step.release_printer || to.is_final() || to == QueueState::Queued;
        // Back in the queue, the item's next run gets its own print job (the start fence
        // below needs it empty).
        let requeued = to == QueueState::Queued;
        let done = sqlx::query(
            "UPDATE queue_items SET state = $3, \
             reason = CASE WHEN $4 = 1 THEN $5 ELSE reason END, \
             next_attempt_at = CASE WHEN $6 = 1 THEN $7 ELSE next_attempt_at END, \
             printer_id = CASE WHEN $8 = 1 THEN NULL ELSE printer_id END, \
             claimed_at = CASE WHEN $8 = 1 THEN NULL ELSE claimed_at END, \
             run_archive_id = COALESCE($9, run_archive_id), \
             print_job_id = CASE WHEN $14 = 1 THEN NULL ELSE COALESCE($10, print_job_id) END, \
             copies_done = copies_done + $11, \
             attempts = CASE WHEN attempts > 0 THEN attempts - $15 ELSE 0 END, \
             ended_at = CASE WHEN $12 = 1 THEN $13 ELSE ended_at END, \
             updated_at = $13 \
             WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(i64::from(step.reason.is_some()))
        .bind(step.reason.flatten())
        .bind(i64::from(step.next_attempt_at.is_some()))
        .bind(step.next_attempt_at.flatten())
        .bind(i64::from(release))
        .bind(step.run_archive_id)
        .bind(step.print_job_id)
        .bind(i64::from(step.copy_done))
        .bind(i64::from(to.is_final()))
        .bind(now)
        .bind(i64::from(requeued))
        .bind(i64::from(step.uncount_attempt))
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Claims the best queued item this printer may take — targeted at it, at its model, at
    /// its location or at a group it is a member of; neither the queue nor its lane paused; `not_before` and
    /// `next_attempt_at` passed; the printer holding no active item — by priority, then
    /// position, then id, and moves it to `dispatching` with the printer recorded and one
    /// more attempt counted. `model` is the printer's, in any case. `None` when nothing matches (or another claimer took the printer
    /// first). Atomic: see the module's invariants.
    pub async fn claim_next_queue_item(
        &self,
        printer: PrinterId,
        model: &str,
        location: Option<LocationId>,
        now: i64,
    ) -> Result<Option<QueueItemRow>, StoreError> {
        // Durability: a claim's commit does not wait for the disk (SQLite: `synchronous =
        // NORMAL` for this transaction, PostgreSQL: `synchronous_commit = off`); the flush is
        // most of a dispatch decision's time. Losing it is harmless: a power cut (or a
        // database crash) can only take back a claim whose start was not fenced yet — the
        // fence (`fence_queue_start`) is a fully durable commit written after the claim in
        // the same log, so flushing it flushes the claim too, and the start command is only
        // sent once the fence is on disk. A lost claim is an item queued again, nothing more.
        let mut conn = RelaxedSync::acquire(self).await?;
        let claimed = self
            .claim_on(conn.connection(), printer, model, location, now)
            .await;
        conn.restore().await;
        claimed
    }

    /// The claim itself, on one connection (see [`Store::claim_next_queue_item`]).
    async fn claim_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        printer: PrinterId,
        model: &str,
        location: Option<LocationId>,
        now: i64,
    ) -> Result<Option<QueueItemRow>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE OF q SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let candidate_sql = next_candidate_sql();
        let pick = |only: &str| {
            format!(
                "SELECT q.id FROM queue_items q WHERE q.state = 'queued' AND {TARGETS} \
                 AND {STARTABLE} AND {FREE}{only} {ORDER} LIMIT 1{lock}"
            )
        };
        let model = model.to_uppercase();
        let pause = pause_key(Some(printer));
        let mut tx = match self.backend() {
            // One writer from the first statement on: the choice and the update cannot
            // interleave with another claimer's.
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                // The claim's commit need not wait for the disk (see `claim_next_queue_item`).
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let candidate = sqlx::query(sqlx::AssertSqlSafe(candidate_sql))
            .bind(printer.get())
            .bind(&model)
            .bind(location.map(LocationId::get))
            .bind(now)
            .bind(&pause)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let candidate: i64 = candidate.try_get("id")?;
        let mut picked = sqlx::query(sqlx::AssertSqlSafe(pick(" AND q.id = $6")))
            .bind(printer.get())
            .bind(&model)
            .bind(location.map(LocationId::get))
            .bind(now)
            .bind(&pause)
            .bind(candidate)
            .fetch_optional(&mut *tx)
            .await?;
        if picked.is_none() {
            picked = sqlx::query(sqlx::AssertSqlSafe(pick("")))
                .bind(printer.get())
                .bind(&model)
                .bind(location.map(LocationId::get))
                .bind(now)
                .bind(&pause)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let Some(picked) = picked else {
            return Ok(None);
        };
        let id: i64 = picked.try_get("id")?;
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE queue_items SET state = 'dispatching', printer_id = $2, claimed_at = $3, \
             attempts = attempts + 1, updated_at = $3 WHERE id = $1 AND state = 'queued' \
             RETURNING {}",
            returning()
        )))
        .bind(id)
        .bind(printer.get())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await;
        let row = match updated {
            Ok(row) => row,
            // Another claimer gave this printer an item first (the one-active-item index).
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let item = item_row(&row)?;
        tx.commit().await.map_err(StoreError::from_write)?;
        Ok(Some(item))
    }

    /// The item the printer would claim next, without claiming it (what a printer whose
    /// plate waits for clearing holds up).
    pub async fn peek_next_queue_item(
        &self,
        printer: PrinterId,
        model: &str,
        location: Option<LocationId>,
        now: i64,
    ) -> Result<Option<QueueItemRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM queue_items q WHERE q.id = ({})",
            next_candidate_sql()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(printer.get())
            .bind(model.to_uppercase())
            .bind(location.map(LocationId::get))
            .bind(now)
            .bind(pause_key(Some(printer)))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(item_row).transpose()?)
    }

    /// The start fence: records the print job of a claimed item's start, only while the item
    /// is still `dispatching` under the same claim (`claimed_at`) without a job. False means
    /// the claim was taken back (a restart's reconciliation, a cancel): the caller must not
    /// send the start command. Together with reconciliation this makes a start happen at most
    /// once per claim, however many dispatchers run.
    /// `updated_at` becomes `now`: how long the printer has had to show the job is counted
    /// from here, not from the claim (the upload between them may take minutes).
    pub async fn fence_queue_start(
        &self,
        id: i64,
        claimed_at: i64,
        print_job_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queue_items SET print_job_id = $3, updated_at = $4 WHERE id = $1 \
             AND state = 'dispatching' AND claimed_at = $2 AND print_job_id IS NULL",
        )
        .bind(id)
        .bind(claimed_at)
        .bind(print_job_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes back a claim whose start was never fenced (no print job recorded): the item goes
    /// back to `queued` without counting the attempt. False when the start was fenced
    /// meanwhile or the item moved on.
    pub async fn unclaim_queue_item(
        &self,
        id: i64,
        claimed_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE queue_items SET state = 'queued', printer_id = NULL, claimed_at = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $3 \
             WHERE id = $1 AND state = 'dispatching' AND claimed_at = $2 \
             AND print_job_id IS NULL",
        )
        .bind(id)
        .bind(claimed_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Every item a printer is working on (`dispatching` or `printing`), oldest claim first.
    pub async fn active_queue_items(&self) -> Result<Vec<QueueItemRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM queue_items q WHERE q.state IN ('dispatching', 'printing') \
             ORDER BY q.claimed_at, q.id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(item_row).collect::<Result<_, _>>()?)
    }

    /// Gives the listed items the positions they hold between them, in the listed order (the
    /// other items keep theirs), in one transaction. False when an id does not exist.
    pub async fn reorder_queue_items(&self, ids: &[i64], now: i64) -> Result<bool, StoreError> {
        let mut tx = match self.backend() {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let mut positions = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT position FROM queue_items WHERE id = $1{}",
                if self.backend() == Backend::Postgres {
                    " FOR UPDATE"
                } else {
                    ""
                }
            )))
            .bind(*id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(false);
            };
            positions.push(row.try_get::<i64, _>("position")?);
        }
        positions.sort_unstable();
        for (id, position) in ids.iter().zip(positions) {
            sqlx::query("UPDATE queue_items SET position = $2, updated_at = $3 WHERE id = $1")
                .bind(*id)
                .bind(position)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes an item; false when it was gone already.
    pub async fn delete_queue_item(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM queue_items WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A user's items (or the ownerless ones, for `None`), oldest first.
    pub async fn queue_items_of(
        &self,
        owner: Option<UserId>,
    ) -> Result<Vec<QueueItemRow>, StoreError> {
        let rows =
            match owner {
                Some(user) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM queue_items q WHERE q.created_by = $1 ORDER BY q.id"
                    )))
                    .bind(user.get())
                    .fetch_all(&self.pool)
                    .await?
                }
                None => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM queue_items q WHERE q.created_by IS NULL ORDER BY q.id"
                )))
                .fetch_all(&self.pool)
                .await?,
            };
        Ok(rows.iter().map(item_row).collect::<Result<_, _>>()?)
    }

    /// How many items a user owns.
    pub async fn count_queue_items_of(&self, owner: UserId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM queue_items WHERE created_by = $1")
            .bind(owner.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The active item (dispatching or printing) on a printer, if any.
    pub async fn active_queue_item_on(
        &self,
        printer: PrinterId,
    ) -> Result<Option<QueueItemRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM queue_items q WHERE q.printer_id = $1 \
             AND q.state IN ('dispatching', 'printing')"
        )))
        .bind(printer.get())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(item_row).transpose()?)
    }

    /// Pauses the whole queue (`None`) or one printer's lane; false when it was paused
    /// already (the first pause and its author stay). `Conflict` when the printer does not
    /// exist.
    pub async fn pause_queue(
        &self,
        printer: Option<PrinterId>,
        by: Option<UserId>,
        by_name: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO queue_pauses (scope_key, printer_id, paused_by, paused_by_name, paused_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope_key) DO NOTHING",
        )
        .bind(pause_key(printer))
        .bind(printer.map(PrinterId::get))
        .bind(by.map(UserId::get))
        .bind(by_name)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Resumes the whole queue (`None`) or one printer's lane; false when it was not paused.
    pub async fn resume_queue(&self, printer: Option<PrinterId>) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM queue_pauses WHERE scope_key = $1")
            .bind(pause_key(printer))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every pause: the whole queue's first, then the lanes by printer.
    pub async fn queue_pauses(&self) -> Result<Vec<QueuePauseRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT printer_id, paused_by, paused_by_name, paused_at FROM queue_pauses \
             ORDER BY CASE WHEN printer_id IS NULL THEN 0 ELSE 1 END, printer_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueuePauseRow {
                    printer_id: r
                        .try_get::<Option<i64>, _>("printer_id")?
                        .map(PrinterId::from_db),
                    paused_by: r
                        .try_get::<Option<i64>, _>("paused_by")?
                        .map(UserId::from_db),
                    paused_by_name: r.try_get("paused_by_name")?,
                    paused_at: r.try_get("paused_at")?,
                })
            })
            .collect()
    }
}

/// A pooled connection whose SQLite commits skip the disk flush (`synchronous = NORMAL`) until
/// [`RelaxedSync::restore`]; used only for queue claims (see
/// [`Store::claim_next_queue_item`] for why that is safe). A connection that is dropped
/// before it is restored — an error, a cancelled future — is closed instead of going back to
/// the pool, so no other write ever runs with the relaxed setting. PostgreSQL needs none of
/// this (its setting is `SET LOCAL`, for the one transaction).
struct RelaxedSync {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    sqlite: bool,
    restored: bool,
}

impl RelaxedSync {
    async fn acquire(store: &Store) -> Result<Self, StoreError> {
        let conn = store.pool.acquire().await?;
        let sqlite = store.backend() == Backend::Sqlite;
        let mut me = Self {
            conn,
            sqlite,
            restored: !sqlite,
        };
        if sqlite {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *me.conn)
                .await?;
        }
        Ok(me)
    }

    fn connection(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.conn
    }

    /// Back to full durability; a connection that cannot be restored is closed.
    async fn restore(&mut self) {
        if self.sqlite && !self.restored {
            self.restored = sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *self.conn)
                .await
                .is_ok();
        }
    }
}

impl Drop for RelaxedSync {
    fn drop(&mut self) {
        if !self.restored {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_store(dir: &std::path::Path) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn synchronous(conn: &mut sqlx::AnyConnection) -> i64 {
        sqlx::query("PRAGMA synchronous")
            .fetch_one(conn)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// A relaxed connection is back to `synchronous = FULL` (2) when it returns to the pool,
    /// and one dropped before that is closed, never reused.
    #[tokio::test]
    async fn a_relaxed_claim_connection_never_goes_back_to_the_pool_relaxed() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(dir.path()).await;
        let mut relaxed = RelaxedSync::acquire(&store).await.unwrap();
        assert_eq!(
            synchronous(relaxed.connection()).await,
            1,
            "NORMAL while claiming"
        );
        relaxed.restore().await;
        assert_eq!(
            synchronous(relaxed.connection()).await,
            2,
            "FULL once restored"
        );
        drop(relaxed);
        let open = store.pool.size();
        assert!(open >= 1);

        let mut cut = RelaxedSync::acquire(&store).await.unwrap();
        assert_eq!(synchronous(cut.connection()).await, 1);
        // As an error or a cancelled claim would leave it.
        drop(cut);
        // The pool closes it in the background; wait for that.
        for _ in 0..100 {
            if store.pool.size() < open {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            store.pool.size() < open,
            "the relaxed connection was closed, not pooled"
        );
        // Every connection left in the pool is fully durable.
        let mut held = Vec::new();
        for _ in 0..store.pool.size() {
            let mut conn = store.pool.acquire().await.unwrap();
            assert_eq!(synchronous(&mut conn).await, 2);
            held.push(conn);
        }
    }
}
