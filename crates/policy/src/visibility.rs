//! Which rows of a list a principal may see, as a filter the store can run in SQL. Derived
//! from the same facts [`crate::authorize`] reads, so a list never shows a row `authorize`
//! would refuse and never hides one it would allow (a property test checks them row by row).
//!
//! Threat: a list that loads every row and filters in Rust is one forgotten `filter` away from
//! leaking rows outside a scope; and a paginated list filtered after `LIMIT` leaks counts
//! (short pages betray hidden rows). Filtering in the query closes both.

use std::collections::BTreeSet;

use pw_domain::{LocationId, Permission, PrinterId, UserId};

use crate::{Credential, Principal, Reach, Subject};

/// The rows of a list the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every row.
    All,
    /// Only rows owned by this user (ownerless rows stay hidden).
    Own(UserId),
    /// Only rows bound to printers in this set.
    Printers(PrinterSet),
    /// No row at all.
    None,
}

/// A set of printers: those named or standing in a named location, intersected with an API
/// key's printer list when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterSet {
    /// `None` = every printer (the permission is held everywhere); otherwise these printers
    /// and every printer in these locations.
    pub reach: Option<(BTreeSet<PrinterId>, BTreeSet<LocationId>)>,
    /// An API key's printer list: only these, whatever the reach.
    pub within: Option<BTreeSet<PrinterId>>,
}

impl PrinterSet {
    /// Whether a printer (standing in `location`) is in the set.
    #[must_use]
    pub fn contains(&self, printer: PrinterId, location: Option<LocationId>) -> bool {
        let reached = match &self.reach {
            None => true,
            Some((printers, locations)) => {
                printers.contains(&printer) || location.is_some_and(|l| locations.contains(&l))
            }
        };
        reached && self.within.as_ref().is_none_or(|w| w.contains(&printer))
    }
}

/// The subject, if it may act at all (a disabled account or expired credential sees nothing).
fn active(principal: &Principal) -> Result<Option<&Subject>, Visibility> {
    match principal {
        Principal::System | Principal::AuthDisabled => Ok(None),
        Principal::Anonymous => Err(Visibility::None),
        Principal::User(s) if s.disabled || s.expired => Err(Visibility::None),
        Principal::User(s) => Ok(Some(s)),
    }
}

/// The rows bound to one printer each (printers, their cameras …) that `permission` reaches:
/// agrees with `authorize(principal, Action::Perform(permission), &Target::Printer(row))`.
#[must_use]
pub fn printer_visibility(principal: &Principal, permission: Permission) -> Visibility {
    let subject = match active(principal) {
        Ok(Some(s)) => s,
        Ok(None) => return Visibility::All,
        Err(v) => return v,
    };
    let Some(reach) = subject.rights.reach(permission) else {
        return Visibility::None;
    };
    let reach = match reach {
        Reach::Everywhere => None,
        Reach::Scoped(scopes) => {
            let mut printers = BTreeSet::new();
            let mut locations = BTreeSet::new();
            for s in scopes {
                printers.extend(s.printers.iter().copied());
                locations.extend(s.locations.iter().copied());
            }
            Some((printers, locations))
        }
    };
    let within = subject.printer_restriction.clone();
    if reach.is_none() && within.is_none() {
        return Visibility::All;
    }
    Visibility::Printers(PrinterSet { reach, within })
}

/// Rows bound to no printer and to no owner (users, the audit log, webhooks): all or none,
/// as `authorize(principal, Action::Perform(permission), &Target::Global)` answers.
#[must_use]
pub fn global_visibility(principal: &Principal, permission: Permission) -> Visibility {
    match active(principal) {
        Ok(None) => Visibility::All,
        Err(v) => v,
        Ok(Some(s)) if s.rights.holds(permission) => Visibility::All,
        Ok(Some(_)) => Visibility::None,
    }
}

/// Owned rows bound to no printer (API keys, camera tokens): every row with `all`, the caller's
/// own with `own` (or with nothing, when `own` is `None`, for a session), as
/// `authorize(principal, Action::OnOwned { own, all }, &Target::Owned { owner, printer: None })`
/// answers.
#[must_use]
pub fn owned_visibility(
    principal: &Principal,
    own: Option<Permission>,
    all: Permission,
) -> Visibility {
    let subject = match active(principal) {
        Ok(Some(s)) => s,
        Ok(None) => return Visibility::All,
        Err(v) => return v,
    };
    if subject.rights.holds(all) {
        return Visibility::All;
    }
    let owner_may = match own {
        // Keys act only through their scopes: the "owners need nothing" path is closed.
        None => !matches!(
            subject.credential,
            Credential::ApiKey | Credential::CameraToken
        ),
        Some(own) => subject.rights.holds(own),
    };
    if owner_may {
        Visibility::Own(subject.user_id)
    } else {
        Visibility::None
    }
}
