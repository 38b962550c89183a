//! The instance itself: the audit log and its event catalogue, runtime settings, TLS
//! certificates, the sealing key's status and rotation, health and status, the outbound (SSRF)
//! guard, first-start seeding, encrypted backups, and imports from other farm tools.

pub mod audit;
pub mod backup;
pub mod import;
pub(crate) mod instance;
pub mod keys;
pub mod outbound;
pub(crate) mod seed;
pub(crate) mod settings;
pub(crate) mod tls;
