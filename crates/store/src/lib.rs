//! SQL storage for SQLite and PostgreSQL through sqlx's Any driver: one set of DML for both
//! backends, per-backend DDL in `migrations/{sqlite,postgres}/`. The store stores what it is
//! told; it makes no access decisions (that is `pw-policy`'s job, called by `pw-app`).
//!
//! Invariants: every value crosses this boundary as bool/integer/float/text/bytes (Any's
//! types); times are unix milliseconds; migrations are append-only and checksummed.

mod error;
mod migrate;
mod pool;
mod status;

pub use error::StoreError;
pub use migrate::{AppliedMigration, MIGRATIONS, Migration};
pub use pool::{Backend, Store};
