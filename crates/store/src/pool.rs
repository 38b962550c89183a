//! The connection pool. SQLite gets WAL, `synchronous=FULL`, foreign keys and a busy timeout on
//! every connection; PostgreSQL is used as configured by its URL.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::StoreError;

/// Which database engine a store talks to (DDL and a few functions differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For farms that outgrow one node.
    Postgres,
}

impl Backend {
    /// Recognises the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// A short name for logs and status pages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

/// How long a readiness probe waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Connects (creating a SQLite file if needed). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10));
        let options = match backend {
            // Durability: `synchronous=FULL` in WAL mode fsyncs the WAL at every commit, so an
            // acknowledged write survives a process crash *and* a power cut. Writes here are
            // rare (config, queue edits), reads dominate, so the fsync costs little.
            Backend::Sqlite => options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options.connect(url).await?;
        Ok(Self { pool, backend })
    }

    /// Which engine this is.
    #[must_use]
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, bounded in time, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(PING_TIMEOUT, query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Database(e)),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Closes the pool; later queries fail (used at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
