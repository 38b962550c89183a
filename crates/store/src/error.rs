//! Store errors. The database's own message is a private cause: it may name tables, columns or
//! values, so it goes to the log and never into an HTTP response.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one we support.
    #[error("unsupported database URL: it must start with sqlite:, postgres:// or postgresql://")]
    UnsupportedUrl,
    /// The applied migrations do not match the ones this binary ships.
    #[error("{0}")]
    MigrationMismatch(String),
    /// A unique or foreign-key constraint refused the write.
    #[error("conflicting row")]
    Conflict,
    /// The write would leave no active administrator; it was rolled back.
    #[error("the last active administrator cannot be removed")]
    LastAdministrator,
    /// Anything the database said.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite file could not be created or made private.
    #[error("cannot create or protect the database file {}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The database did not answer in time.
    #[error("database did not answer in time")]
    Timeout,
    /// A backup or restore cannot go on; the sentence says why in plain words.
    #[error("{0}")]
    Backup(String),
}

impl StoreError {
    /// Maps constraint violations of a write to [`StoreError::Conflict`].
    pub(crate) fn from_write(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db)
                if db.is_unique_violation() || db.is_foreign_key_violation() =>
            {
                StoreError::Conflict
            }
            _ => StoreError::Database(e),
        }
    }

    /// True when the database could not be reached at all (closed pool, timeout, IO), as
    /// opposed to a query it refused.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout
                | StoreError::Database(
                    sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)
                )
        )
    }
}
