//! Instance-wide records: the append-only audit log and the settings.

pub(crate) mod audit;
pub(crate) mod settings;
