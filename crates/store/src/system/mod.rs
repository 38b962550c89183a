//! Instance-wide records: the append-only audit log, the settings, the registry of sealed
//! values ([`sealed::SEALED`]), and the logical copy of every table that backups carry.

pub(crate) mod audit;
pub(crate) mod backup;
pub mod sealed;
pub(crate) mod settings;
