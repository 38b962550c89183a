//! Projects' rows: a named set of library files, queue items and archive entries with notes and
//! a due date, and the member tables that tie them together (one per kind, each row going with
//! its member by `ON DELETE CASCADE`).
//!
//! Invariants: members are always read through the caller's visibility of their own kind in
//! the same query (owner filter for files and queue items, the archive filter for entries), so
//! a project never hands out a member — or its progress — the caller cannot read; the
//! application computes the filters, the store only runs them. Adding members is idempotent
//! (`ON CONFLICT DO NOTHING`), and statement text depends only on the shape of a filter.

use pw_domain::{LibraryFileId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::farm::archive::{COLUMNS as ARCHIVE_COLUMNS, FROM as ARCHIVE_FROM, TextMatch, from_row};
use crate::farm::library::{FILE_COLUMNS, file_row};
use crate::farm::queue::{COLUMNS as QUEUE_COLUMNS, item_row};
use crate::page::{Clause, OwnerFilter, PageAfter, Value};
use crate::{ArchiveFilter, ArchiveRow, LibraryFileRow, QueueItemRow, Store, StoreError};

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Free text.
    pub notes: String,
    /// `YYYY-MM-DD`, when set.
    pub due: Option<String>,
    /// Who created it (`None` once the account is gone).
    pub created_by: Option<UserId>,
    /// Their name at the time.
    pub created_by_name: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A project to create.
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    /// Name.
    pub name: &'a str,
    /// Notes.
    pub notes: &'a str,
    /// `YYYY-MM-DD`.
    pub due: Option<&'a str>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Their name.
    pub created_by_name: Option<&'a str>,
    /// Unix ms.
    pub now: i64,
}

/// A change to a project: `None` keeps a field; `due: Some(None)` clears the date.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New notes.
    pub notes: Option<&'a str>,
    /// New due date, or cleared.
    pub due: Option<Option<&'a str>>,
}

/// One member to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectMember {
    /// A library file, with the copies the project plans of it (`None`: not counted).
    File(LibraryFileId, Option<i64>),
    /// A queue item.
    QueueItem(i64),
    /// An archive entry.
    Archive(i64),
}

/// A member library file with the copies planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFileRow {
    /// The file.
    pub file: LibraryFileRow,
    /// Copies planned.
    pub copies: Option<i64>,
    /// Unix ms.
    pub added_at: i64,
}

/// What a caller may see of each member kind (computed by the application).
#[derive(Debug, Clone)]
pub struct MemberVisibility {
    /// Library files, by owner.
    pub files: OwnerFilter,
    /// Queue items, by owner.
    pub queue: OwnerFilter,
    /// Archive entries: the archive visibility (its other filters unused).
    pub archives: ArchiveFilter,
}

const PROJECT_COLUMNS: &str =
    "id, name, notes, due, created_by, created_by_name, created_at, updated_at";

fn project_row(r: &AnyRow) -> Result<ProjectRow, sqlx::Error> {
    Ok(ProjectRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        notes: r.try_get("notes")?,
        due: r.try_get("due")?,
        created_by: r
            .try_get::<Option<i64>, _>("created_by")?
            .map(UserId::from_db),
        created_by_name: r.try_get("created_by_name")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Creates a project.
    pub async fn insert_project(&self, new: &NewProject<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO projects (name, notes, due, created_by, created_by_name, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(new.name)
        .bind(new.notes)
        .bind(new.due)
        .bind(new.created_by.map(UserId::get))
        .bind(new.created_by_name)
        .bind(new.now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(row.try_get("id")?)
    }

    /// One project.
    pub async fn project(&self, id: i64) -> Result<Option<ProjectRow>, StoreError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        self.fetch_one_by(sql, id, project_row).await
    }

    /// One page of projects, newest first.
    pub async fn projects_page(&self, page: &PageAfter) -> Result<Vec<ProjectRow>, StoreError> {
        let mut c = Clause::default();
        c.before_id(page, "id");
        let limit = c.bind(Value::Int(page.fetch));
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects{} ORDER BY id DESC LIMIT {limit}",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, project_row).await
    }

    /// Changes a project; false if it is gone.
    pub async fn update_project(
        &self,
        id: i64,
        patch: &ProjectPatch<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (due_set, due) = match patch.due {
            Some(d) => (1_i64, d),
            None => (0, None),
        };
        let changed = sqlx::query(
            "UPDATE projects SET name = COALESCE($1, name), notes = COALESCE($2, notes), \
             due = CASE WHEN $3 = 1 THEN $4 ELSE due END, updated_at = $5 WHERE id = $6",
        )
        .bind(patch.name)
        .bind(patch.notes)
        .bind(due_set)
        .bind(due)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?
        .rows_affected();
        Ok(changed > 0)
    }

    /// Deletes a project (its member rows go with it; the members themselves stay).
    pub async fn delete_project(&self, id: i64) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_write)?
            .rows_affected();
        Ok(gone > 0)
    }

    /// How many members a project has, of every kind, visible or not (for the size limit).
    pub async fn count_project_members(&self, id: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM project_files WHERE project_id = $1) \
             + (SELECT COUNT(*) FROM project_queue_items WHERE project_id = $1) \
             + (SELECT COUNT(*) FROM project_archives WHERE project_id = $1) AS n",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Adds members in one transaction (already present ones are kept as they are, a file's
    /// planned copies updated); returns how many rows were written. The project must exist.
    pub async fn add_project_members(
        &self,
        id: i64,
        members: &[ProjectMember],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for m in members {
            let q = match *m {
                ProjectMember::File(file, copies) => sqlx::query(
                    "INSERT INTO project_files (project_id, library_file_id, copies, added_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, library_file_id) \
                     DO UPDATE SET copies = excluded.copies",
                )
                .bind(id)
                .bind(file.get())
                .bind(copies)
                .bind(now),
                ProjectMember::QueueItem(item) => sqlx::query(
                    "INSERT INTO project_queue_items (project_id, queue_item_id, added_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(item)
                .bind(now),
                ProjectMember::Archive(entry) => sqlx::query(
                    "INSERT INTO project_archives (project_id, archive_id, added_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(entry)
                .bind(now),
            };
            added += q
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?
                .rows_affected();
        }
        sqlx::query("UPDATE projects SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(added)
    }

    /// Removes one member; false if it was not one.
    pub async fn remove_project_member(
        &self,
        id: i64,
        member: ProjectMember,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (sql, member_id) = match member {
            ProjectMember::File(f, _) => (
                "DELETE FROM project_files WHERE project_id = $1 AND library_file_id = $2",
                f.get(),
            ),
            ProjectMember::QueueItem(q) => (
                "DELETE FROM project_queue_items WHERE project_id = $1 AND queue_item_id = $2",
                q,
            ),
            ProjectMember::Archive(a) => (
                "DELETE FROM project_archives WHERE project_id = $1 AND archive_id = $2",
                a,
            ),
        };
        let gone = sqlx::query(sql)
            .bind(id)
            .bind(member_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_write)?
            .rows_affected();
        if gone > 0 {
            sqlx::query("UPDATE projects SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_write)?;
        }
        Ok(gone > 0)
    }

    /// The member files `files` lets the caller see, by name.
    pub async fn project_files(
        &self,
        id: i64,
        files: OwnerFilter,
    ) -> Result<Vec<ProjectFileRow>, StoreError> {
        let mut c = Clause::default();
        let m = c.bind(Value::Int(id));
        c.and(&format!("pf.project_id = {m}"));
        c.owner(files, "f.owner_id");
        let sql = format!(
            "SELECT {FILE_COLUMNS}, pf.copies AS member_copies, pf.added_at AS member_added_at \
             FROM project_files pf JOIN library_files f ON f.id = pf.library_file_id{} \
             ORDER BY f.name_key, f.id",
            c.where_sql()
        );
        let rows = c
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ProjectFileRow {
                    file: file_row(r)?,
                    copies: r.try_get("member_copies")?,
                    added_at: r.try_get("member_added_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The member queue items `queue` lets the caller see, in dispatch order.
    pub async fn project_queue_items(
        &self,
        id: i64,
        queue: OwnerFilter,
    ) -> Result<Vec<QueueItemRow>, StoreError> {
        let mut c = Clause::default();
        let m = c.bind(Value::Int(id));
        c.and(&format!("pq.project_id = {m}"));
        c.owner(queue, "q.created_by");
        let sql = format!(
            "SELECT {QUEUE_COLUMNS} FROM project_queue_items pq \
             JOIN queue_items q ON q.id = pq.queue_item_id{} \
             ORDER BY q.priority DESC, q.position, q.id",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, item_row).await
    }

    /// The member archive entries `archives` lets the caller see, newest first.
    pub async fn project_archives(
        &self,
        id: i64,
        archives: &ArchiveFilter,
    ) -> Result<Vec<ArchiveRow>, StoreError> {
        let text = match &archives.q {
            Some(q) => self.text_match(q).await?,
            None => TextMatch::Like { collate_c: false },
        };
        let mut c = Clause::default();
        let m = c.bind(Value::Int(id));
        c.and(&format!(
            "a.id IN (SELECT pa.archive_id FROM project_archives pa WHERE pa.project_id = {m})"
        ));
        c.archives(archives, text);
        let sql = format!(
            "SELECT {ARCHIVE_COLUMNS} {ARCHIVE_FROM}{} ORDER BY a.started_at DESC, a.id DESC",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, from_row).await
    }
}
