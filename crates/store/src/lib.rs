//! SQL storage for SQLite and PostgreSQL through sqlx's Any driver: one set of DML for both
//! backends, per-backend DDL in `migrations/{sqlite,postgres}/`. The store stores what it is
//! told; it makes no access decisions (that is `pw-policy`'s job, called by `pw-app`).
//!
//! Invariants: every value crosses this boundary as bool/integer/float/text/bytes (Any's
//! types); times are unix milliseconds; migrations are append-only and checksummed.

mod accounts;
mod auth;
mod cloud;
mod error;
mod farm;
mod migrate;
mod notify;
mod page;
mod pool;
pub(crate) mod system;

pub use accounts::admins::AdminCheck;
pub use accounts::groups::{GroupPatch, GroupRow, NewGroup};
pub use accounts::users::{NewUser, UserPatch, UserRow};
pub use auth::api_keys::{ApiKeyRow, NewApiKey};
pub use auth::mfa::{EmailCodeRow, MfaRow, Tries};
pub use auth::oidc::{OidcLinkRow, OidcProviderRow, OidcProviderWrite, OidcStateRow};
pub use auth::passkeys::{NewPasskey, PasskeyChallengeRow, PasskeyRow};
pub use auth::sessions::{NewSession, SessionRow};
pub use auth::tickets::TicketRow;
pub use cloud::links::{CloudLinkRow, NewCloudLink};
pub use error::StoreError;
pub use farm::archive::{
    ArchiveEnd, ArchiveFilter, ArchivePage, ArchivePatch, ArchivePhotoRow, ArchiveRow,
    ManualArchive, NewArchive, NewArchivePhoto, SHORT_TEXT_WINDOW, SQLITE_SEARCH_SORT_MAX,
    StarterMatch, short_text,
};
pub use farm::library::{
    LibraryAfter, LibraryFilePatch, LibraryFileQuery, LibraryFileRow, LibraryFolderRow,
    LibrarySort, LibraryUsage, NewLibraryFile,
};
pub use farm::locations::LocationRow;
pub use farm::plates::PlateRow;
pub use farm::print_jobs::{PrintJobFile, PrintJobRow};
pub use farm::printer_groups::PrinterGroupRow;
pub use farm::printers::{NewPrinter, PrinterPatch, PrinterRow};
pub use farm::projects::{
    MemberVisibility, NewProject, ProjectFileRow, ProjectMember, ProjectPatch, ProjectRow,
};
pub use farm::queue::{
    NewQueueItem, QueueItemPatch, QueueItemRow, QueuePauseRow, QueueQuery, QueueState, QueueStep,
    QueueTarget,
};
pub use migrate::{AppliedMigration, MIGRATIONS, Migration};
pub use notify::webhooks::{DeliveryRecord, NewWebhook, WebhookPatch, WebhookRow};
pub use page::{OwnerFilter, PageAfter, PrinterFilter};
pub use pool::{Backend, SearchTuning, Store};
pub use system::audit::{AuditFilter, AuditRow, NewAuditEvent};
pub use system::backup::{Cell, ColumnType, Restore, Rows, SetAside, Snapshot, TableShape};
pub use system::import::{
    ImportArchive, ImportBatch, ImportFolder, ImportGroup, ImportGroupRef, ImportLibraryFile,
    ImportPrinter, ImportPrinterRef, ImportQueueItem, ImportQueueTarget, ImportRef, ImportUser,
    ImportedIds, SourceDb,
};
/// The registry of sealed values: see [`sealed::SEALED`].
pub use system::sealed;

/// Reads a BOOLEAN column selected as `CASE WHEN col THEN 1 ELSE 0 END AS col`. sqlx's Any
/// driver cannot decode SQLite's BOOLEAN declared type, so every boolean is read as an integer.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}
