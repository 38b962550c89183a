//! The store's queries against a real database, one module per store feature (the same
//! folders as `src/`). Each test gets a fresh, migrated database from [`harness::fresh`]:
//! SQLite in a temporary directory, or with `PRINTWARDEN_TEST_DB=postgres` a new PostgreSQL
//! database on `PRINTWARDEN_TEST_PG_URL` (the CI's tests-postgres stage sets both), dropped
//! afterwards. A test never passes without a database: when PostgreSQL is asked for and
//! cannot be reached, it fails and says where it looked.
#![expect(clippy::unwrap_used, reason = "tests fail fast with the cause")]

mod accounts;
mod auth;
mod farm;
mod harness;
mod notify;
mod paging;
mod system;
