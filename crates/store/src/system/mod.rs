//! Instance-wide records: the append-only audit log, the settings, the registry of sealed
//! values ([`sealed::SEALED`]), the logical copy of every table that backups carry, and the
//! one-transaction write of an import from another farm tool.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod import;
pub mod sealed;
pub(crate) mod settings;
