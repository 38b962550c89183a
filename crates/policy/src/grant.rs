//! The one grant rule: nobody hands out a right — or a reach of a right — they do not hold
//! themselves. Every path that gives someone rights asks [`may_grant`]: a user's groups at
//! creation and on update, group membership, a group's permissions and scope (create, update,
//! clone, delete), an API key's scopes and printer list, a camera token, a ticket, a webhook's
//! event filter.
//!
//! Threat: a delegated manager (`users:create`, `groups:update`, `api_keys:create`,
//! `notifications:create`) escalating by creating an account in `Administrators`, a group with
//! rights they lack, a key wider than the one that minted it, or a webhook that receives what
//! they may not read. Taking a right away is judged like granting it (removing a right you do
//! not hold from others is as much a decision above your rank).

use std::collections::BTreeSet;

use pw_domain::{LocationId, Permission, PrinterId, PrinterScope};

use crate::{Principal, Reach, Rights, Subject};

/// Where the granted printers are, for scopes that name printers: a granter whose reach is a
/// location covers a printer inside it. `None` = the printer is in no location (or unknown).
pub type Locate<'a> = &'a dyn Fn(PrinterId) -> Option<LocationId>;

/// May `granter` hand out `granted`? `Err(p)` names the first permission (in catalogue order)
/// the granter cannot give with the requested reach.
///
/// The granter's reach is their rights narrowed by their credential: an API key's scopes are
/// already in `rights`; its printer list bounds it on every printer, so such a key can only
/// grant printer-bound rights scoped to printers on its list, and no instance-wide right.
///
/// The process itself and an instance with authentication switched off may grant anything;
/// an anonymous, disabled or expired principal grants nothing.
pub fn may_grant(
    granter: &Principal,
    granted: &Rights,
    locate: Locate<'_>,
) -> Result<(), Permission> {
    let subject = match granter {
        Principal::System | Principal::AuthDisabled => return Ok(()),
        Principal::Anonymous => {
            return match granted.permissions().next() {
                Some(p) => Err(p),
                None => Ok(()),
            };
        }
        Principal::User(s) => s,
    };
    for p in granted.permissions() {
        let Some(wanted) = granted.reach(p) else {
            continue;
        };
        if subject.disabled || subject.expired || !covers(subject, p, wanted, locate) {
            return Err(p);
        }
    }
    Ok(())
}

/// Whether the subject's reach for `p` contains the whole of `wanted`.
fn covers(subject: &Subject, p: Permission, wanted: &Reach, locate: Locate<'_>) -> bool {
    let Some(held) = subject.rights.reach(p) else {
        return false;
    };
    // A key's printer list bounds every right on anything bound to a printer (policy applies
    // it to all printer targets), so whatever such a key grants must carry the same list.
    let restriction = subject.printer_restriction.as_ref();
    match wanted {
        Reach::Everywhere => matches!(held, Reach::Everywhere) && restriction.is_none(),
        Reach::Scoped(scopes) => scopes
            .iter()
            .all(|s| scope_within(s, held, restriction, locate)),
    }
}

/// Whether every printer a granted scope can ever reach is reached by the granter.
fn scope_within(
    scope: &PrinterScope,
    held: &Reach,
    restriction: Option<&BTreeSet<PrinterId>>,
    locate: Locate<'_>,
) -> bool {
    // A location grows with every printer moved into it, so only a granter holding that whole
    // location (and bound by no printer list) may grant it.
    let locations_ok = scope.locations.iter().all(|l| {
        restriction.is_none()
            && match held {
                Reach::Everywhere => true,
                Reach::Scoped(mine) => mine.iter().any(|m| m.locations.contains(l)),
            }
    });
    let printers_ok = scope.printers.iter().all(|printer| {
        restriction.is_none_or(|r| r.contains(printer))
            && match held {
                Reach::Everywhere => true,
                Reach::Scoped(mine) => mine.iter().any(|m| m.covers(*printer, locate(*printer))),
            }
    });
    locations_ok && printers_ok
}

/// The rights a credential minted by `granter` would carry: `permissions`, each with the
/// granter's own reach (the owner's rights bound it again at every use), narrowed to
/// `printers` when given. A permission the granter lacks is asked for everywhere, so
/// [`may_grant`] names it.
#[must_use]
pub fn delegated(
    granter: &Principal,
    permissions: impl IntoIterator<Item = Permission>,
    printers: Option<&BTreeSet<PrinterId>>,
) -> Rights {
    let mut out = Rights::none();
    let list = printers.map(|ps| PrinterScope {
        locations: BTreeSet::new(),
        printers: ps.clone(),
    });
    for p in permissions {
        let reach = match (&list, p.is_printer_bound()) {
            (Some(scope), true) => Reach::Scoped(vec![scope.clone()]),
            _ => match granter {
                Principal::User(s) => s.rights.reach(p).cloned().unwrap_or(Reach::Everywhere),
                _ => Reach::Everywhere,
            },
        };
        out.insert(p, reach);
    }
    out
}
