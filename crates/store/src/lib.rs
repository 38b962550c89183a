//! SQL storage for SQLite and PostgreSQL through sqlx's Any driver: one set of DML for both
//! backends, per-backend DDL in `migrations/{sqlite,postgres}/`. The store stores what it is
//! told; it makes no access decisions (that is `pw-policy`'s job, called by `pw-app`).
//!
//! Invariants: every value crosses this boundary as bool/integer/float/text/bytes (Any's
//! types); times are unix milliseconds; migrations are append-only and checksummed.

mod admins;
mod api_keys;
mod audit;
mod error;
mod groups;
mod mfa;
mod migrate;
mod page;
mod pool;
mod print_jobs;
mod printers;
mod sessions;
mod settings;
mod tickets;
mod users;
mod webhooks;

pub use admins::AdminCheck;
pub use api_keys::{ApiKeyRow, NewApiKey};
pub use audit::{AuditFilter, AuditRow, NewAuditEvent};
pub use error::StoreError;
pub use groups::{GroupPatch, GroupRow, NewGroup};
pub use mfa::{EmailCodeRow, MfaRow, Tries};
pub use migrate::{AppliedMigration, MIGRATIONS, Migration};
pub use page::{OwnerFilter, PageAfter, PrinterFilter};
pub use pool::{Backend, Store};
pub use print_jobs::PrintJobRow;
pub use printers::{LocationRow, NewPrinter, PrinterPatch, PrinterRow};
pub use sessions::{NewSession, SessionRow};
pub use tickets::TicketRow;
pub use users::{NewUser, UserPatch, UserRow};
pub use webhooks::{DeliveryRecord, NewWebhook, WebhookPatch, WebhookRow};

/// Reads a BOOLEAN column selected as `CASE WHEN col THEN 1 ELSE 0 END AS col`. sqlx's Any
/// driver cannot decode SQLite's BOOLEAN declared type, so every boolean is read as an integer.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}
