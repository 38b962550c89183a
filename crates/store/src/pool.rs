//! The connection pool. SQLite gets WAL, `synchronous=FULL`, foreign keys and a busy timeout on
//! every connection; PostgreSQL is used as configured by its URL.
//!
//! Invariant: the SQLite database file and its `-wal`/`-shm` companions are readable by the
//! owner only (0600) whatever the umask, before the first connection opens them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
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
    pub(crate) search: SearchTuning,
    /// Bumped after every write to printer rows through this store (see
    /// [`Store::printers_version`]); shared by the clones.
    printers_version: Arc<AtomicU64>,
}

/// The archive text search's two thresholds (see `farm/archive.rs`). Fixed in production;
/// tests set small ones ([`Store::with_search_tuning`]) to put a handful of entries on both
/// sides of each, where the benchmark needs 100,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchTuning {
    /// SQLite: at most this many matches are read through the search table and sorted; more,
    /// and the list walks the newest entries instead.
    pub sqlite_sort_max: i64,
    /// A list page with a text of 1–2 characters reads at most this many entries (of those the
    /// caller may see, after the other filters) before it answers.
    pub short_text_window: i64,
}

/// Creates the SQLite file 0600 if the URL lets sqlx create it (`mode=rwc`) and tightens an
/// existing file and its `-wal`/`-shm` companions to 0600.
///
/// Threat: the database holds password hashes, session and key digests and sealed secrets; a
/// file created under the default umask (0644) lets every local account read them. SQLite
/// gives the `-wal` and `-shm` files the main file's mode, so a 0600 main file keeps them
/// private too; existing ones (from an older version) are fixed here.
fn private_sqlite_files(url: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::str::FromStr;

    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    if url.contains(":memory:") || param("mode") == Some("memory") {
        return Ok(());
    }
    let path = options.get_filename().to_owned();
    let io = |source| StoreError::File {
        path: path.clone(),
        source,
    };
    if param("mode") == Some("rwc") && !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            // Another process created it between the check and the open: fixed just below.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::File {
                    path: file.clone(),
                    source,
                },
            )?;
            tracing::warn!(file = %file.display(), "database file was readable by others; set to 0600");
        }
    }
    Ok(())
}

/// How long a readiness probe waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Reads the one row `sql` selects with `key` bound to `$1` (none when no row matches),
    /// with `read`: the one-row lookup by id, printer or key that every table shares.
    pub(crate) async fn fetch_one_by<'k, K, T>(
        &self,
        sql: String,
        key: K,
        read: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, StoreError>
    where
        K: 'k + Send + sqlx::Encode<'k, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(read).transpose()?)
    }

    /// Connects (creating a SQLite file if needed). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite {
            private_sqlite_files(url)?;
        }
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
        Ok(Self {
            pool,
            backend,
            search: SearchTuning::default(),
            printers_version: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same store with other search thresholds (tests: both sides of a switch with a few
    /// entries). Values below 1 are taken as 1.
    #[must_use]
    pub fn with_search_tuning(mut self, tuning: SearchTuning) -> Self {
        self.search = SearchTuning {
            sqlite_sort_max: tuning.sqlite_sort_max.max(1),
            short_text_window: tuning.short_text_window.max(1),
        };
        self
    }

    /// A number that changes after every write to the printer rows made through this store
    /// (add, change, certificate state, delete, a deleted location, an import, re-sealing):
    /// what the application's printer-row cache compares to know it is still current.
    /// Another node's writes do not change it; the cache bounds that staleness by age.
    #[must_use]
    pub fn printers_version(&self) -> u64 {
        self.printers_version.load(Ordering::Acquire)
    }

    /// Called after a write to printer rows, committed or not (a spurious change only costs
    /// the cache one reload).
    pub(crate) fn printers_changed(&self) {
        self.printers_version.fetch_add(1, Ordering::AcqRel);
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
