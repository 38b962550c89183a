//! The database a test runs on, shared by the store's own tests and the server harness
//! (`pw-testkit`): the backend `PRINTWARDEN_TEST_DB` selects, and a fresh PostgreSQL database
//! per test, created on `PRINTWARDEN_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped with its value.
//!
//! Invariant: a test that asks for PostgreSQL never silently runs without it — an unreachable
//! server or an unknown `PRINTWARDEN_TEST_DB` value fails the test with a message that says
//! what to start or set.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness fails fast with a message"
)]

use sqlx::Connection;

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which database backend tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDb {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

impl TestDb {
    /// From `PRINTWARDEN_TEST_DB` (`postgres`, `sqlite` or unset for SQLite).
    #[must_use]
    pub fn from_env() -> Self {
        match std::env::var("PRINTWARDEN_TEST_DB").as_deref() {
            Ok("postgres") => Self::Postgres,
            Ok("sqlite" | "") | Err(_) => Self::Sqlite,
            Ok(other) => panic!("PRINTWARDEN_TEST_DB={other}: expected postgres or sqlite"),
        }
    }
}

/// The administrative URL fresh databases are created on.
#[must_use]
pub fn pg_admin_url() -> String {
    std::env::var("PRINTWARDEN_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

/// A PostgreSQL database `pw_test_<random>` that exists for one test.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    /// URL of the database.
    pub url: String,
}

impl PgDatabase {
    /// Creates `pw_test_<random>`.
    pub async fn create() -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("random");
        let name = format!("pw_test_{}", hex::encode(bytes));
        let admin = pg_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {admin} is not reachable: {e} \
                     (start it, or set PRINTWARDEN_TEST_PG_URL)"
                )
            });
        // `name` is `pw_test_` + hex from the OS RNG: no caller-controlled text reaches the SQL.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop runs inside the test's runtime; use a private one on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
