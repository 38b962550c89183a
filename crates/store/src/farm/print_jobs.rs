//! Print jobs started through printwarden: which printer, which file, who started it, and how
//! it ended.
//!
//! Invariants: a printer has at most one open job — starting another closes the previous one
//! as `replaced` in the same transaction, so an outcome is never told to the wrong person; a
//! job records its starter's name at the time, so "started by" survives the account's deletion
//! (`started_by` then goes NULL through its foreign key).

use pw_domain::{LibraryFileId, PrinterId, UserId};
use sqlx::Row;

use crate::{Store, StoreError};

/// An open job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJobRow {
    /// Key.
    pub id: i64,
    /// Who started it (`None` once that account is deleted).
    pub started_by: Option<UserId>,
    /// Their name when they started it (kept after the account is deleted).
    pub started_by_name: Option<String>,
    /// The file.
    pub file_name: String,
    /// The library file it was printed from (`None`: sent in the request, or deleted since).
    pub library_file_id: Option<LibraryFileId>,
    /// The content's SHA-256 in the blob store, when printwarden keeps it.
    pub file_sha256: Option<String>,
    /// The plate started.
    pub plate: Option<i64>,
    /// The task id sent with the start command.
    pub task_id: Option<String>,
}

/// What a started job printed (see [`Store::set_print_job_file`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintJobFile<'a> {
    /// The library file, when printed from the library.
    pub library_file_id: Option<LibraryFileId>,
    /// The content's SHA-256 in the blob store.
    pub file_sha256: Option<&'a str>,
    /// The plate.
    pub plate: Option<i64>,
    /// The task id sent to the printer.
    pub task_id: Option<&'a str>,
}

fn job_row(r: &sqlx::any::AnyRow) -> Result<PrintJobRow, sqlx::Error> {
    Ok(PrintJobRow {
        id: r.try_get("id")?,
        started_by: r
            .try_get::<Option<i64>, _>("started_by")?
            .map(UserId::from_db),
        started_by_name: r.try_get("started_by_name")?,
        file_name: r.try_get("file_name")?,
        library_file_id: r
            .try_get::<Option<i64>, _>("library_file_id")?
            .map(LibraryFileId::from_db),
        file_sha256: r.try_get("file_sha256")?,
        plate: r.try_get("plate")?,
        task_id: r.try_get("task_id")?,
    })
}

impl Store {
    /// Records a job about to start on `printer` (closing any open one).
    pub async fn insert_print_job(
        &self,
        printer: PrinterId,
        started_by: Option<UserId>,
        started_by_name: &str,
        file_name: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE print_jobs SET ended_at = $1, outcome = 'replaced' \
             WHERE printer_id = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(printer.get())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO print_jobs (printer_id, started_by, started_by_name, file_name, \
             started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(printer.get())
        .bind(started_by.map(UserId::get))
        .bind(started_by_name)
        .bind(file_name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(row.try_get("id")?)
    }

    /// The content (blob hashes) the printer's open jobs keep: what a printer's deletion must
    /// release once its jobs are gone with it.
    pub async fn open_print_job_blobs(
        &self,
        printer: PrinterId,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT file_sha256 FROM print_jobs \
             WHERE printer_id = $1 AND ended_at IS NULL AND file_sha256 IS NOT NULL",
        )
        .bind(printer.get())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("file_sha256")?))
            .collect()
    }

    /// The printer's open job, if one was started through printwarden.
    pub async fn open_print_job(
        &self,
        printer: PrinterId,
    ) -> Result<Option<PrintJobRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_by, started_by_name, file_name, library_file_id, file_sha256, \
             plate, task_id FROM print_jobs \
             WHERE printer_id = $1 AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(printer.get())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(job_row).transpose()?)
    }

    /// The job printwarden started on `printer` with this task id (open or ended): how a
    /// printer's report names a job printwarden started.
    pub async fn print_job_with_task(
        &self,
        printer: PrinterId,
        task_id: &str,
    ) -> Result<Option<PrintJobRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_by, started_by_name, file_name, library_file_id, file_sha256, \
             plate, task_id FROM print_jobs \
             WHERE printer_id = $1 AND task_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(printer.get())
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(job_row).transpose()?)
    }

    /// The task id a job's start command carried.
    pub async fn print_job_task_id(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT task_id FROM print_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("task_id")?,
            None => None,
        })
    }

    /// Records what a job (still open) prints: set once, before its start command is sent.
    pub async fn set_print_job_file(
        &self,
        id: i64,
        file: &PrintJobFile<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE print_jobs SET library_file_id = $1, file_sha256 = $2, plate = $3, \
             task_id = $4 WHERE id = $5",
        )
        .bind(file.library_file_id.map(LibraryFileId::get))
        .bind(file.file_sha256)
        .bind(file.plate)
        .bind(file.task_id)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Closes a job with its outcome; false if it was closed already.
    pub async fn end_print_job(
        &self,
        id: i64,
        outcome: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE print_jobs SET ended_at = $1, outcome = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(outcome)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Forgets a job that never started (the start command failed).
    pub async fn delete_print_job(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM print_jobs WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
