//! Instance-wide records: the append-only audit log and the settings, and the logical copy
//! of every table that backups carry.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod settings;
