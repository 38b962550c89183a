//! Security settings and the audit log.

pub(crate) mod audit;
pub(crate) mod settings;
