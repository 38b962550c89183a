//! System endpoints: encrypted backups, the audit log, security settings and the authentication
//! switch, the outbound allow-list, TLS certificates, the sealing key's status, instance probes
//! (health/ready/status), metrics and
//! the API documentation pages.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod docs;
pub(crate) mod instance;
pub(crate) mod keys;
pub(crate) mod metrics;
pub(crate) mod outbound;
pub(crate) mod settings;
pub(crate) mod tls;
