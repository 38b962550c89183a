//! Who is asking. A principal is resolved once per request by the HTTP layer (from a session
//! cookie, an API key header or a ticket) and then only read.

use std::collections::BTreeSet;

use pw_domain::{PrinterId, SignInRequirement, UserId};

use crate::Rights;

/// How a user principal proved who they are. Routes declare which kinds they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A browser session cookie.
    Session,
    /// An API key header (`Authorization: Bearer pwk_…` or `X-API-Key`).
    ApiKey,
    /// A single-use ticket, valid only for the purpose it was issued for.
    Ticket(crate::TicketPurpose),
    /// A long-lived camera token (`pwc_…`): camera routes only, whatever its owner holds.
    CameraToken,
}

/// A signed-in user as policy sees them. Every field is a fact the caller established (policy
/// has no clock): `expired` is computed by the resolver from the credential's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user.
    pub user_id: UserId,
    /// How they authenticated.
    pub credential: Credential,
    /// Effective rights for this request (already narrowed to an API key's scopes).
    pub rights: Rights,
    /// An API key limited to some printers: printer-bound actions outside them are refused.
    pub printer_restriction: Option<BTreeSet<PrinterId>>,
    /// A disabled account is denied everything, whatever it holds.
    pub disabled: bool,
    /// The credential is past its expiry: denied everything.
    pub expired: bool,
    /// A group requirement this credential does not meet (issue 19): a session that signed in
    /// without the required factor, or an API key whose owner has not set it up. Such a
    /// principal may only enrol ([`crate::Action::Enrol`]); everything else is refused.
    pub enrol_first: Option<SignInRequirement>,
}

impl Subject {
    /// A session subject with these rights (the common case).
    #[must_use]
    pub fn session(user_id: UserId, rights: Rights) -> Self {
        Self {
            user_id,
            credential: Credential::Session,
            rights,
            printer_restriction: None,
            disabled: false,
            expired: false,
            enrol_first: None,
        }
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

impl Principal {
    /// The user behind the principal, if any.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User(s) => Some(s.user_id),
            _ => None,
        }
    }
}
