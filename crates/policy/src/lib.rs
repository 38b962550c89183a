//! The one place that says yes or no. Pure: no IO, no clock, no randomness (callers pass facts
//! in). Every HTTP route, CLI command and background action asks [`authorize`] — directly or via
//! [`check_route`] for the route table's coarse check — and nobody else decides access.
//!
//! Invariants: anything not explicitly allowed is denied; a disabled user or an expired
//! credential is denied everything; a principal that must enrol a second factor first is
//! denied everything but [`Action::Enrol`]; `*_all` includes `*_own`, ownerless rows need `*_all`;
//! a scoped grant reaches only printers inside its scope; an API key never exceeds its owner.
//! A denial never says more than "unauthenticated", "forbidden" or "not found" to the caller
//! (the precise reason is for the log).

mod grant;
mod principal;
mod rights;
mod route;
mod visibility;

pub use grant::{Locate, delegated, may_grant};
pub use principal::{Credential, Principal, Subject};
pub use rights::{Reach, Rights};
pub use route::{Access, Requirement, TicketPurpose, check_route};
pub use visibility::{
    PrinterSet, Visibility, global_visibility, owned_visibility, printer_visibility,
};

use pw_domain::{LocationId, Permission, PrinterId, UserId};

/// What a principal wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Anything that only needs a known, active principal (e.g. reading one's own profile).
    BeAuthenticated,
    /// What a session that must first meet its group's sign-in requirement may still do: set
    /// up the missing factor, read its own profile, sign out. Allowed to every active
    /// principal, and the only action a restricted one is allowed.
    Enrol,
    /// An operation guarded by one permission.
    Perform(Permission),
    /// An operation on an owned row: `own` lets the owner act (`None` = the owner needs no
    /// permission beyond being signed in), `all` lets anyone holding it act on any row.
    OnOwned {
        /// The `*_own` permission, if owners need one.
        own: Option<Permission>,
        /// The `*_all` permission.
        all: Permission,
    },
    /// An act that can hand the caller every right there is (restoring a backup replaces
    /// every account, so whoever restores may make themselves administrator): allowed only to
    /// a principal that already holds every permission, everywhere, through a credential not
    /// limited to a printer list. Threat: a holder of one administrator-grade permission
    /// (`system:backup`) escalating to all of them through a crafted backup.
    Administer,
}

/// A printer a target is bound to, with its location (for location scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterRef {
    /// The printer.
    pub printer: PrinterId,
    /// Its location, if it has one.
    pub location: Option<LocationId>,
}

/// What the action is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The instance as a whole, or "somewhere" (a route door, a list that is then filtered).
    /// A scoped grant counts as held here, so an action that must hold on *every* printer
    /// (creating a printer, say) must check [`Rights::holds_everywhere`] or name its target.
    Global,
    /// One printer (or something bound only to it: its camera, its files).
    Printer(PrinterRef),
    /// Every printer of a location, now and later (a queue item aimed at a location): held
    /// where the right reaches everywhere, or a scope names the location itself — never
    /// through printers that happen to stand there today, and never by an API key limited to
    /// a printer list.
    Location(LocationId),
    /// Any printer at all, now and later (a queue item aimed at a model or a printer group,
    /// whose printers are not the caller's to choose): held only where the right reaches
    /// everywhere, by a credential not limited to a printer list.
    EveryPrinter,
    /// A row with an owner (queue item, archive, library file, API key …), possibly bound to
    /// a printer. `owner: None` = ownerless.
    Owned {
        /// Who created it.
        owner: Option<UserId>,
        /// The printer it is bound to, if any.
        printer: Option<PrinterRef>,
    },
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
    /// The credential (an API key) is past its expiry.
    Expired,
    /// Known and active, but lacks the right.
    MissingPermission(Permission),
    /// Holds the right, but not for this printer (group scope or key printer list).
    OutOfScope(Permission),
    /// The row belongs to someone else and the principal lacks the `*_all` right.
    NotOwner,
    /// A group of the user requires a sign-in factor this credential has not shown; only
    /// enrolling it is allowed. Answered 403 with the requirement explained (it is the
    /// caller's own state, so saying it discloses nothing).
    EnrolFirst(pw_domain::SignInRequirement),
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
    match principal {
        // Background jobs and the CLI act for the operator who runs the process.
        Principal::System => Decision::Allow,
        // An admin switched authentication off: everything is allowed (audit still records).
        Principal::AuthDisabled => Decision::Allow,
        Principal::Anonymous => Decision::Deny(DenyReason::Unauthenticated),
        Principal::User(subject) => authorize_subject(subject, action, target),
    }
}

fn authorize_subject(subject: &Subject, action: Action, target: &Target) -> Decision {
    if subject.disabled {
        return Decision::Deny(DenyReason::Disabled);
    }
    if subject.expired {
        return Decision::Deny(DenyReason::Expired);
    }
    // Threat: a phished password opening everything on an account whose group demands a
    // second factor. Until it is met, the credential reaches only what enrolling needs.
    if let Some(requirement) = subject.enrol_first {
        return if action == Action::Enrol {
            Decision::Allow
        } else {
            Decision::Deny(DenyReason::EnrolFirst(requirement))
        };
    }
    let printer = match target {
        Target::Global => None,
        Target::Printer(p) => Some(*p),
        Target::Owned { printer, .. } => *printer,
        Target::Location(_) | Target::EveryPrinter => {
            // Only an action may be aimed at printers not known yet; anything else aimed
            // there is refused (fail closed).
            return match action {
                Action::Perform(permission) => reaches_many(subject, permission, target),
                _ => Decision::Deny(DenyReason::NotOwner),
            };
        }
    };
    match action {
        Action::Administer => administer(subject),
        Action::BeAuthenticated | Action::Enrol => {
            if within_restriction(subject, printer) {
                Decision::Allow
            } else {
                Decision::Deny(DenyReason::NotOwner)
            }
        }
        Action::Perform(permission) => reaches(subject, permission, printer),
        Action::OnOwned { own, all } => {
            let all_decision = reaches(subject, all, printer);
            if all_decision.is_allowed() {
                return all_decision;
            }
            let owner = match target {
                Target::Owned { owner, .. } => *owner,
                // A door check ("may this caller act on *some* rows?"): owners may.
                Target::Global | Target::Printer(_) => Some(subject.user_id),
                // Returned above: only `Perform` reaches these.
                Target::Location(_) | Target::EveryPrinter => None,
            };
            if owner != Some(subject.user_id) {
                // Ownerless rows and other people's rows need `*_all`.
                return match all_decision {
                    Decision::Deny(DenyReason::OutOfScope(p)) => {
                        Decision::Deny(DenyReason::OutOfScope(p))
                    }
                    _ => Decision::Deny(DenyReason::NotOwner),
                };
            }
            match own {
                // An API key acts only through the permissions it was scoped to, so the
                // "owners need nothing" path is closed to keys: they need `all`.
                None if matches!(
                    subject.credential,
                    Credential::ApiKey | Credential::CameraToken
                ) =>
                {
                    all_decision
                }
                None if within_restriction(subject, printer) => Decision::Allow,
                None => Decision::Deny(DenyReason::OutOfScope(all)),
                Some(own) => reaches(subject, own, printer),
            }
        }
    }
}

/// [`Action::Administer`]: every permission, everywhere, no printer list.
fn administer(subject: &Subject) -> Decision {
    if let Some(missing) = Permission::ALL
        .iter()
        .find(|p| !subject.rights.holds_everywhere(**p))
    {
        return Decision::Deny(DenyReason::MissingPermission(*missing));
    }
    if subject.printer_restriction.is_some() {
        return Decision::Deny(DenyReason::OutOfScope(Permission::SystemBackup));
    }
    Decision::Allow
}

/// Whether the subject holds `permission` for the printer (or anywhere, for no printer).
fn reaches(subject: &Subject, permission: Permission, printer: Option<PrinterRef>) -> Decision {
    let Some(reach) = subject.rights.reach(permission) else {
        return Decision::Deny(DenyReason::MissingPermission(permission));
    };
    let Some(p) = printer else {
        return Decision::Allow;
    };
    let in_scope = match reach {
        Reach::Everywhere => true,
        Reach::Scoped(_) => subject.rights.holds_on(permission, p.printer, p.location),
    };
    if !in_scope {
        return Decision::Deny(DenyReason::OutOfScope(permission));
    }
    if within_restriction(subject, printer) {
        Decision::Allow
    } else {
        Decision::Deny(DenyReason::OutOfScope(permission))
    }
}

/// Whether the subject holds `permission` on every printer `target` may come to mean
/// ([`Target::Location`], [`Target::EveryPrinter`]).
fn reaches_many(subject: &Subject, permission: Permission, target: &Target) -> Decision {
    let Some(reach) = subject.rights.reach(permission) else {
        return Decision::Deny(DenyReason::MissingPermission(permission));
    };
    let covered = match (reach, target) {
        (Reach::Everywhere, _) => true,
        (Reach::Scoped(scopes), Target::Location(location)) => {
            scopes.iter().any(|s| s.locations.contains(location))
        }
        (Reach::Scoped(_), _) => false,
    };
    if covered && subject.printer_restriction.is_none() {
        Decision::Allow
    } else {
        Decision::Deny(DenyReason::OutOfScope(permission))
    }
}

/// An API key limited to some printers acts on nothing bound to another printer.
fn within_restriction(subject: &Subject, printer: Option<PrinterRef>) -> bool {
    match (&subject.printer_restriction, printer) {
        (Some(allowed), Some(p)) => allowed.contains(&p.printer),
        _ => true,
    }
}
