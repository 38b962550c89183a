//! The file library's rows: folders (a tree without owners) and files (name, kind, size, the
//! SHA-256 of their content in the blob store, uploader and their name, tags, parsed metadata).
//! Lists are keyset pages in SQL with the owner filter in the same query.
//!
//! Invariants: a folder's parent chain never loops (`move_library_folder` refuses a parent
//! inside the folder, checked and written in one transaction); a folder holding files or
//! folders is never deleted (`ON DELETE RESTRICT`, reported as `Conflict`); the statement text
//! depends only on the shape of the filter, never on caller values.

use pw_domain::{LibraryFileId, LibraryFolderId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::page::{Clause, OwnerFilter, Value};
use crate::{Store, StoreError};

/// A stored library file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryFileRow {
    /// Id.
    pub id: LibraryFileId,
    /// Folder, `None` = the top level.
    pub folder_id: Option<LibraryFolderId>,
    /// Display name.
    pub name: String,
    /// `gcode.3mf`, `3mf`, `gcode` or `stl`.
    pub kind: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the content (the blob's name).
    pub sha256: String,
    /// Uploader; `None` = ownerless.
    pub owner_id: Option<UserId>,
    /// The uploader's name at upload time (kept when the account is deleted).
    pub owner_name: Option<String>,
    /// JSON array of tags.
    pub tags: String,
    /// Parsed facts as JSON.
    pub metadata: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A file to record.
#[derive(Debug, Clone)]
pub struct NewLibraryFile<'a> {
    /// Folder.
    pub folder_id: Option<LibraryFolderId>,
    /// Display name.
    pub name: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256.
    pub sha256: &'a str,
    /// Uploader.
    pub owner_id: Option<UserId>,
    /// Uploader's name.
    pub owner_name: Option<&'a str>,
    /// Parsed facts as JSON.
    pub metadata: &'a str,
    /// Unix ms.
    pub now: i64,
}

/// A change to a file (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct LibraryFilePatch<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New folder (`Some(None)` = the top level).
    pub folder_id: Option<Option<LibraryFolderId>>,
    /// New tags: the JSON array and the lower-cased search text.
    pub tags: Option<(&'a str, &'a str)>,
}

/// How a file list is sorted; each ends with the id so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySort {
    /// Name (case-insensitively); `true` = Z→A.
    Name(bool),
    /// Upload time; `true` = newest first.
    Date(bool),
    /// Size; `true` = largest first.
    Size(bool),
}

impl LibrarySort {
    fn column(self) -> &'static str {
        match self {
            LibrarySort::Name(_) => "f.name_key",
            LibrarySort::Date(_) => "f.created_at",
            LibrarySort::Size(_) => "f.size",
        }
    }

    fn descending(self) -> bool {
        match self {
            LibrarySort::Name(d) | LibrarySort::Date(d) | LibrarySort::Size(d) => d,
        }
    }
}

/// Where a file page starts: the sort key of the previous page's last row and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibraryAfter {
    /// A text key (name sort).
    Text(String, i64),
    /// A number key (date or size sort).
    Number(i64, i64),
}

/// Which files a list shows.
#[derive(Debug, Clone)]
pub struct LibraryFileQuery {
    /// Owner visibility, computed by the application.
    pub owner: OwnerFilter,
    /// `None` = every folder; `Some(None)` = the top level; `Some(Some(id))` = that folder.
    pub folder: Option<Option<LibraryFolderId>>,
    /// Lower-cased free text matched inside names and tags.
    pub text: Option<String>,
    /// Order.
    pub sort: LibrarySort,
    /// Start after this row.
    pub after: Option<LibraryAfter>,
    /// Rows to read.
    pub fetch: i64,
}

/// A stored folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryFolderRow {
    /// Id.
    pub id: LibraryFolderId,
    /// Parent, `None` = the top level.
    pub parent_id: Option<LibraryFolderId>,
    /// Name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
}

/// What the library holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibraryUsage {
    /// File rows.
    pub files: i64,
    /// Distinct contents (blobs).
    pub blobs: i64,
    /// Bytes of the distinct contents (what the disk holds).
    pub stored_bytes: i64,
    /// Bytes of every file as listed (what it would take without deduplication).
    pub listed_bytes: i64,
}

pub(crate) const FILE_COLUMNS: &str = "f.id, f.folder_id, f.name, f.kind, f.size, f.sha256, f.owner_id, \
     f.owner_name, f.tags, f.metadata, f.created_at, f.updated_at";

pub(crate) fn file_row(row: &AnyRow) -> Result<LibraryFileRow, sqlx::Error> {
    Ok(LibraryFileRow {
        id: LibraryFileId::from_db(row.try_get("id")?),
        folder_id: row
            .try_get::<Option<i64>, _>("folder_id")?
            .map(LibraryFolderId::from_db),
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        owner_id: row
            .try_get::<Option<i64>, _>("owner_id")?
            .map(UserId::from_db),
        owner_name: row.try_get("owner_name")?,
        tags: row.try_get("tags")?,
        metadata: row.try_get("metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn folder_row(row: &AnyRow) -> Result<LibraryFolderRow, sqlx::Error> {
    Ok(LibraryFolderRow {
        id: LibraryFolderId::from_db(row.try_get("id")?),
        parent_id: row
            .try_get::<Option<i64>, _>("parent_id")?
            .map(LibraryFolderId::from_db),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `LIKE` pattern for "contains `text`", with `\`, `%` and `_` escaped.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Records an uploaded file.
    pub async fn insert_library_file(
        &self,
        new: &NewLibraryFile<'_>,
    ) -> Result<LibraryFileId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO library_files (folder_id, name, name_key, kind, size, sha256, owner_id, \
             owner_name, tags, tags_key, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', '', $9, $10, $10) RETURNING id",
        )
        .bind(new.folder_id.map(LibraryFolderId::get))
        .bind(new.name)
        .bind(new.name.to_lowercase())
        .bind(new.kind)
        .bind(new.size)
        .bind(new.sha256)
        .bind(new.owner_id.map(UserId::get))
        .bind(new.owner_name)
        .bind(new.metadata)
        .bind(new.now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(LibraryFileId::from_db(row.try_get("id")?))
    }

    /// One file.
    pub async fn library_file(
        &self,
        id: LibraryFileId,
    ) -> Result<Option<LibraryFileRow>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM library_files f WHERE f.id = $1");
        self.fetch_one_by(sql, id.get(), file_row).await
    }

    /// One page of files in the query's order.
    pub async fn library_files_page(
        &self,
        q: &LibraryFileQuery,
    ) -> Result<Vec<LibraryFileRow>, StoreError> {
        let mut c = Clause::default();
        c.owner(q.owner, "f.owner_id");
        match q.folder {
            None => {}
            Some(None) => c.and("f.folder_id IS NULL"),
            Some(Some(folder)) => {
                let mark = c.bind(Value::Int(folder.get()));
                c.and(&format!("f.folder_id = {mark}"));
            }
        }
        if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
            let pattern = contains_pattern(text);
            let m1 = c.bind(Value::Text(pattern.clone()));
            let m2 = c.bind(Value::Text(pattern));
            c.and(&format!(
                "f.name_key LIKE {m1} ESCAPE '\\' OR f.tags_key LIKE {m2} ESCAPE '\\'"
            ));
        }
        let column = q.sort.column();
        let (cmp, dir) = if q.sort.descending() {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(after) = &q.after {
            let (k1, k2, i1) = match after {
                LibraryAfter::Text(k, i) => (
                    c.bind(Value::Text(k.clone())),
                    c.bind(Value::Text(k.clone())),
                    c.bind(Value::Int(*i)),
                ),
                LibraryAfter::Number(k, i) => (
                    c.bind(Value::Int(*k)),
                    c.bind(Value::Int(*k)),
                    c.bind(Value::Int(*i)),
                ),
            };
            c.and(&format!(
                "{column} {cmp} {k1} OR ({column} = {k2} AND f.id {cmp} {i1})"
            ));
        }
        let limit = c.bind(Value::Int(q.fetch));
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM library_files f{} ORDER BY {column} {dir}, f.id {dir} \
             LIMIT {limit}",
            c.where_sql()
        );
        c.fetch_all(&self.pool, sql, file_row).await
    }

    /// Renames, moves or re-tags a file; false when it does not exist. `Conflict` when the
    /// target folder does not exist.
    pub async fn update_library_file(
        &self,
        id: LibraryFileId,
        patch: &LibraryFilePatch<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE library_files SET name = COALESCE($2, name), \
             name_key = COALESCE($3, name_key), \
             folder_id = CASE WHEN $4 = 1 THEN $5 ELSE folder_id END, \
             tags = COALESCE($6, tags), tags_key = COALESCE($7, tags_key), updated_at = $8 \
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(patch.name)
        .bind(patch.name.map(str::to_lowercase))
        .bind(i64::from(patch.folder_id.is_some()))
        .bind(patch.folder_id.flatten().map(LibraryFolderId::get))
        .bind(patch.tags.map(|t| t.0))
        .bind(patch.tags.map(|t| t.1))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a file row; false when it was gone already.
    pub async fn delete_library_file(&self, id: LibraryFileId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM library_files WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many rows name this blob: library files, archive entries (printed file, thumbnail,
    /// snapshot), archive photos, and print jobs still open (a start in flight names its file
    /// until the printer reports it). The one count every release of a blob goes by; a blob
    /// with 0 may be deleted (under the app's reference lock).
    pub async fn blob_references(&self, sha256: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM library_files WHERE sha256 = $1) \
             + (SELECT COUNT(*) FROM archives WHERE file_sha256 = $2) \
             + (SELECT COUNT(*) FROM archives WHERE thumbnail_sha256 = $3) \
             + (SELECT COUNT(*) FROM archives WHERE snapshot_sha256 = $4) \
             + (SELECT COUNT(*) FROM archive_photos WHERE sha256 = $5) \
             + (SELECT COUNT(*) FROM print_jobs WHERE file_sha256 = $6 AND ended_at IS NULL) \
             AS n",
        )
        .bind(sha256)
        .bind(sha256)
        .bind(sha256)
        .bind(sha256)
        .bind(sha256)
        .bind(sha256)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// A library file with this content (the oldest), if any: an archive entry of a print
    /// started elsewhere links it when the printer's file is one the library has.
    pub async fn library_file_with_content(
        &self,
        sha256: &str,
    ) -> Result<Option<LibraryFileId>, StoreError> {
        let row = sqlx::query("SELECT MIN(id) AS id FROM library_files WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(row
            .try_get::<Option<i64>, _>("id")?
            .map(LibraryFileId::from_db))
    }

    /// The ids of a user's files (or of the ownerless ones, for `None`), oldest first.
    pub async fn library_file_ids_of(
        &self,
        owner: Option<UserId>,
    ) -> Result<Vec<LibraryFileId>, StoreError> {
        let rows = match owner {
            Some(user) => {
                sqlx::query("SELECT id FROM library_files WHERE owner_id = $1 ORDER BY id")
                    .bind(user.get())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT id FROM library_files WHERE owner_id IS NULL ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| Ok(LibraryFileId::from_db(r.try_get("id")?)))
            .collect()
    }

    /// Every file id, oldest first (purge of everything).
    pub async fn library_file_ids(&self) -> Result<Vec<LibraryFileId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM library_files ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(LibraryFileId::from_db(r.try_get("id")?)))
            .collect()
    }

    /// How many files a user owns.
    pub async fn count_library_files_of(&self, owner: UserId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM library_files WHERE owner_id = $1")
            .bind(owner.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Files, distinct contents and their bytes.
    pub async fn library_usage(&self) -> Result<LibraryUsage, StoreError> {
        let listed =
            sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM library_files")
                .fetch_one(&self.pool)
                .await?;
        let stored = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM \
             (SELECT sha256, MAX(size) AS size FROM library_files GROUP BY sha256) b",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(LibraryUsage {
            files: listed.try_get("n")?,
            listed_bytes: listed.try_get("bytes")?,
            blobs: stored.try_get("n")?,
            stored_bytes: stored.try_get("bytes")?,
        })
    }

    /// Every folder, by name.
    pub async fn library_folders(&self) -> Result<Vec<LibraryFolderRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, parent_id, name, created_at FROM library_folders ORDER BY name_key, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(folder_row).collect::<Result<_, _>>()?)
    }

    /// One folder.
    pub async fn library_folder(
        &self,
        id: LibraryFolderId,
    ) -> Result<Option<LibraryFolderRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, parent_id, name, created_at FROM library_folders WHERE id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(folder_row).transpose()?)
    }

    /// Adds a folder; `Conflict` when the parent does not exist.
    pub async fn insert_library_folder(
        &self,
        parent: Option<LibraryFolderId>,
        name: &str,
        now: i64,
    ) -> Result<LibraryFolderId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO library_folders (parent_id, name, name_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(parent.map(LibraryFolderId::get))
        .bind(name)
        .bind(name.to_lowercase())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(LibraryFolderId::from_db(row.try_get("id")?))
    }

    /// Renames a folder and/or moves it under `parent` (`Some(None)` = the top level). In one
    /// transaction: the new parent's chain is walked up and the move refused (`Ok(Err(()))`)
    /// when it passes through the folder itself (a cycle). `Ok(Ok(false))` = no such folder.
    pub async fn update_library_folder(
        &self,
        id: LibraryFolderId,
        name: Option<&str>,
        parent: Option<Option<LibraryFolderId>>,
        now: i64,
    ) -> Result<Result<bool, ()>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(Some(mut cursor)) = parent {
            // Serialise concurrent moves on PostgreSQL: two moves that are each fine alone
            // (A under B, B under A) must not both pass their walk.
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("LOCK TABLE library_folders IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            } else {
                // SQLite: take the write lock before reading.
                sqlx::query("UPDATE library_folders SET updated_at = updated_at WHERE id = $1")
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await?;
            }
            let mut steps = 0;
            loop {
                if cursor == id {
                    return Ok(Err(()));
                }
                steps += 1;
                if steps > 10_000 {
                    return Ok(Err(()));
                }
                let row = sqlx::query("SELECT parent_id FROM library_folders WHERE id = $1")
                    .bind(cursor.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict);
                };
                match row.try_get::<Option<i64>, _>("parent_id")? {
                    Some(up) => cursor = LibraryFolderId::from_db(up),
                    None => break,
                }
            }
        }
        let done = sqlx::query(
            "UPDATE library_folders SET name = COALESCE($2, name), \
             name_key = COALESCE($3, name_key), \
             parent_id = CASE WHEN $4 = 1 THEN $5 ELSE parent_id END, updated_at = $6 \
             WHERE id = $1",
        )
        .bind(id.get())
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(i64::from(parent.is_some()))
        .bind(parent.flatten().map(LibraryFolderId::get))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        tx.commit().await?;
        Ok(Ok(done.rows_affected() > 0))
    }

    /// Whether a folder holds files or folders.
    pub async fn library_folder_is_empty(&self, id: LibraryFolderId) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM library_files WHERE folder_id = $1) + \
             (SELECT COUNT(*) FROM library_folders WHERE parent_id = $2) AS n",
        )
        .bind(id.get())
        .bind(id.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? == 0)
    }

    /// Deletes an empty folder; `Conflict` when it holds something (a file or folder arrived
    /// since the caller looked), false when it does not exist.
    pub async fn delete_library_folder(&self, id: LibraryFolderId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM library_folders WHERE id = $1")
            .bind(id.get())
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                // SQLite reports an `ON DELETE RESTRICT` refusal as a trigger constraint
                // (extended code 1811), which sqlx does not classify as a foreign-key error.
                sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY constraint") => {
                    StoreError::Conflict
                }
                _ => StoreError::from_write(e),
            })?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
