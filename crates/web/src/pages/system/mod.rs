//! Security settings, backups and the audit log.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod settings;
