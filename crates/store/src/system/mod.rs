//! Instance-wide records: the append-only audit log, the settings, and the registry of sealed
//! values ([`sealed::SEALED`]).

pub(crate) mod audit;
pub mod sealed;
pub(crate) mod settings;
