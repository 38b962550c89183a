//! System endpoints: instance probes (health/ready/status), metrics, TLS certificates and
//! the API documentation pages.

pub(crate) mod docs;
pub(crate) mod instance;
pub(crate) mod metrics;
pub(crate) mod tls;
