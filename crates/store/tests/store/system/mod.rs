//! `src/system/`: the audit log, settings and imports.

mod audit;
mod import;
mod settings;
