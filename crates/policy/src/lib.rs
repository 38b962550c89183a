//! The one place that says yes or no. Pure: no IO, no clock, no randomness (callers pass facts
//! in). Every HTTP route, CLI command and background action asks [`authorize`] — directly or via
//! [`check_route`] for the route table's coarse check — and nobody else decides access.
//!
//! Invariants: anything not explicitly allowed is denied; a denial never says more than
//! "unauthenticated" or "forbidden" to the caller (the precise reason is for the log).

mod principal;
mod route;

pub use principal::{Credential, Principal, Subject};
pub use route::{Access, Requirement, TicketPurpose, check_route};

use pw_domain::Permission;

/// What a principal wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Anything that only needs a known, active principal (e.g. reading one's own profile).
    BeAuthenticated,
    /// An operation guarded by one permission.
    Perform(Permission),
}

/// What the action is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The instance as a whole (settings, user administration, system status).
    Global,
}

/// Why a request was refused. Logged, never shown beyond its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No credentials, or credentials that identify nobody.
    Unauthenticated,
    /// The credential kind is not accepted by this route (e.g. an API key on a session-only
    /// route). Answered like `Unauthenticated`: the key is not a valid credential *here*.
    CredentialNotAccepted,
    /// The principal's account is disabled.
    Disabled,
    /// Known and active, but lacks the right.
    MissingPermission(Permission),
}

/// The answer of [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, with the private reason.
    Deny(DenyReason),
}

impl Decision {
    /// True for [`Decision::Allow`].
    #[must_use]
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// The single authorization function.
#[must_use]
pub fn authorize(principal: &Principal, action: Action, target: &Target) -> Decision {
    let Target::Global = target;
    match principal {
        // Background jobs and the CLI act for the operator who runs the process.
        Principal::System => Decision::Allow,
        // An admin switched authentication off: everything is allowed (audit still records).
        Principal::AuthDisabled => Decision::Allow,
        Principal::Anonymous => Decision::Deny(DenyReason::Unauthenticated),
        Principal::User(subject) => {
            if subject.disabled {
                return Decision::Deny(DenyReason::Disabled);
            }
            match action {
                Action::BeAuthenticated => Decision::Allow,
                Action::Perform(permission) if subject.holds(permission) => Decision::Allow,
                Action::Perform(permission) => {
                    Decision::Deny(DenyReason::MissingPermission(permission))
                }
            }
        }
    }
}
