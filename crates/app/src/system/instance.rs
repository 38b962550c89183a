//! Instance-level facts for public pages and probes: version, whether setup is pending, and
//! whether the database answers.

use crate::{App, AppError};

/// What the public landing page and `/api/v1/auth/status` may say about this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The running version.
    pub version: &'static str,
    /// True until an active administrator exists.
    pub setup_required: bool,
    /// False while authentication is switched off.
    pub auth_enabled: bool,
    /// True when HTTPS uses the generated local CA.
    pub local_ca: bool,
}

/// The answer of the readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The database answers.
    Ready,
    /// The database does not answer.
    NotReady,
}

impl App {
    /// Public facts about the instance. Deliberately needs no principal: nothing here is
    /// secret, and the landing page must work before anyone can sign in.
    pub async fn instance_status(&self) -> Result<InstanceStatus, AppError> {
        let setup_required = !self.administrator_exists().await?;
        Ok(InstanceStatus {
            version: self.config.version,
            setup_required,
            auth_enabled: self.auth_enabled(),
            // An uploaded certificate is usually publicly trusted: no CA to import then.
            local_ca: self.config.local_ca && !self.serving_upload(),
        })
    }

    /// Whether the instance can serve requests (the database answers in time).
    pub async fn readiness(&self) -> Readiness {
        match self.store.ping().await {
            Ok(()) => Readiness::Ready,
            Err(e) => {
                tracing::warn!(error = %e, "readiness probe: database unavailable");
                Readiness::NotReady
            }
        }
    }
}
