//! `src/system/`: the audit log and settings.

mod audit;
mod settings;
