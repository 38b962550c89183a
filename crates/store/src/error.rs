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
    /// A unique constraint refused the write.
    #[error("conflicting row")]
    Conflict,
    /// Anything the database said.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database did not answer in time.
    #[error("database did not answer in time")]
    Timeout,
}

impl StoreError {
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
