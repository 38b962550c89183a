//! Who is asking. A principal is resolved once per request by the HTTP layer (from a session
//! cookie, an API key header or a ticket) and then only read.

use std::collections::BTreeSet;

use pw_domain::{Permission, UserId};

/// How a user principal proved who they are. Routes declare which kinds they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A browser session cookie.
    Session,
    /// An API key header (`Authorization: Bearer pwk_…` or `X-API-Key`).
    ApiKey,
    /// A single-use ticket, valid only for the purpose it was issued for.
    Ticket(crate::TicketPurpose),
}

/// A signed-in user as policy sees them: id, effective permissions (already intersected with
/// an API key's scopes when the credential is a key) and whether the account is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user.
    pub user_id: UserId,
    /// How they authenticated.
    pub credential: Credential,
    /// Effective permissions for this request.
    pub permissions: BTreeSet<Permission>,
    /// A disabled account is denied everything, whatever it holds.
    pub disabled: bool,
}

impl Subject {
    /// Whether the subject holds `permission`.
    #[must_use]
    pub fn holds(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// The principal of a request or job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No (valid) credentials.
    Anonymous,
    /// A user, via session, API key or ticket.
    User(Subject),
    /// The process itself: CLI commands and background jobs.
    System,
    /// Authentication has been switched off by an administrator or `PRINTWARDEN_AUTH=disabled`.
    AuthDisabled,
}
