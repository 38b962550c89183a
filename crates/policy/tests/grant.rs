//! Property tests for the one grant rule, `pw_policy::may_grant` (SPEC S1 "no-grant rule", S3
//! "a credential carries its bounds").
//!
//! Guards: whatever `may_grant` lets through never gives the receiver a right — or a printer —
//! the granter could not act on themselves, for every permission and every printer of a small
//! world, whatever the granter's groups, scopes, key printer list or account state; and the
//! rule is not vacuous: a granter can always hand out exactly what they hold (a session
//! granter) and never a permission they lack.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::subsequence;
use pw_domain::{LocationId, Permission, PrinterId, PrinterScope, UserId};
use pw_policy::{
    Action, Credential, Principal, PrinterRef, Rights, Subject, Target, authorize, delegated,
    may_grant,
};

mod common;
use common::{PRINTERS, ids, rights};

/// The world: printers 1..=4; 1 and 4 stand in location 1, 2 in location 2, 3 in none.
fn locate(printer: PrinterId) -> Option<LocationId> {
    match printer.get() {
        1 | 4 => Some(LocationId::from_db(1)),
        2 => Some(LocationId::from_db(2)),
        _ => None,
    }
}

fn world() -> Vec<PrinterRef> {
    (1..=4)
        .map(|i| {
            let printer = PrinterId::from_db(i);
            PrinterRef {
                printer,
                location: locate(printer),
            }
        })
        .collect()
}

fn granter() -> impl Strategy<Value = Subject> {
    (
        rights(),
        prop_oneof![Just(Credential::Session), Just(Credential::ApiKey)],
        proptest::option::of(ids(PRINTERS)),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(rights, credential, list, disabled, expired)| Subject {
            credential,
            printer_restriction: list.map(|v| v.into_iter().map(PrinterId::from_db).collect()),
            disabled,
            expired,
            ..Subject::session(UserId::from_db(1), rights)
        })
}

/// Whether a principal may do `p` on the instance and on each printer of the world.
fn can(principal: &Principal, p: Permission) -> Vec<bool> {
    std::iter::once(Target::Global)
        .chain(world().into_iter().map(Target::Printer))
        .map(|t| authorize(principal, Action::Perform(p), &t).is_allowed())
        .collect()
}

/// Nothing the receiver can do that the granter cannot.
fn assert_bounded(granter: &Subject, granted: &Rights) -> Result<(), TestCaseError> {
    let giver = Principal::User(granter.clone());
    let receiver = Principal::User(Subject::session(UserId::from_db(2), granted.clone()));
    for p in Permission::ALL {
        let theirs = can(&receiver, *p);
        let mine = can(&giver, *p);
        for (i, (t, m)) in theirs.iter().zip(&mine).enumerate() {
            prop_assert!(
                !t || *m,
                "{p} granted on target #{i} the granter cannot act on: {granter:?} gave {granted:?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Granting never yields a right (or a reach) the granter lacks.
    #[test]
    fn granting_never_exceeds_the_granter(granter in granter(), granted in rights()) {
        if may_grant(&Principal::User(granter.clone()), &granted, &locate).is_ok() {
            assert_bounded(&granter, &granted)?;
        }
    }

    /// A credential minted by the granter (key, camera token, ticket) stays inside them too.
    #[test]
    fn delegated_credentials_never_exceed_the_granter(
        granter in granter(),
        perms in subsequence(Permission::ALL, 0..=Permission::ALL.len()),
        list in proptest::option::of(ids(PRINTERS)),
    ) {
        let list: Option<BTreeSet<PrinterId>> =
            list.map(|v| v.into_iter().map(PrinterId::from_db).collect());
        let giver = Principal::User(granter.clone());
        let granted = delegated(&giver, perms.iter().copied(), list.as_ref());
        if may_grant(&giver, &granted, &locate).is_ok() {
            assert_bounded(&granter, &granted)?;
        }
    }

    /// Not vacuous: an active session user may hand out exactly what they hold, and never a
    /// permission they do not hold at all.
    #[test]
    fn own_rights_are_grantable_and_missing_ones_are_not(rights in rights()) {
        let granter = Principal::User(Subject::session(UserId::from_db(1), rights.clone()));
        prop_assert_eq!(may_grant(&granter, &rights, &locate), Ok(()));
        for p in Permission::ALL.iter().filter(|p| !rights.holds(**p)) {
            let one = Rights::everywhere([*p]);
            prop_assert_eq!(may_grant(&granter, &one, &locate), Err(*p));
        }
    }
}

#[test]
fn scoped_granters_cannot_grant_unscoped_and_key_lists_bound_grants() {
    let hall = PrinterScope {
        locations: [LocationId::from_db(1)].into(),
        printers: BTreeSet::new(),
    };
    let mut scoped = Rights::none();
    scoped.grant_group([Permission::PrintersControl], Some(&hall));
    let granter = Principal::User(Subject::session(UserId::from_db(1), scoped.clone()));
    // Everywhere is wider than the hall.
    let everywhere = Rights::everywhere([Permission::PrintersControl]);
    assert_eq!(
        may_grant(&granter, &everywhere, &locate),
        Err(Permission::PrintersControl)
    );
    // The hall itself, or a printer standing in it, is fine; a printer elsewhere is not.
    assert_eq!(may_grant(&granter, &scoped, &locate), Ok(()));
    let one = |id: i64| {
        let mut r = Rights::none();
        r.grant_group(
            [Permission::PrintersControl],
            Some(&PrinterScope {
                locations: BTreeSet::new(),
                printers: [PrinterId::from_db(id)].into(),
            }),
        );
        r
    };
    assert_eq!(may_grant(&granter, &one(4), &locate), Ok(()));
    assert!(may_grant(&granter, &one(2), &locate).is_err());
    // A key limited to printer 1 cannot grant a whole location, nor printer 4.
    let key = Principal::User(Subject {
        credential: Credential::ApiKey,
        printer_restriction: Some([PrinterId::from_db(1)].into()),
        ..Subject::session(UserId::from_db(1), Rights::all())
    });
    assert!(may_grant(&key, &scoped, &locate).is_err());
    assert!(may_grant(&key, &one(4), &locate).is_err());
    assert_eq!(may_grant(&key, &one(1), &locate), Ok(()));
    // …nor an instance-wide right: the receiver could use it on every printer's rows.
    assert_eq!(
        may_grant(&key, &Rights::everywhere([Permission::AuditRead]), &locate),
        Err(Permission::AuditRead)
    );
    // System and auth-off grant anything; anonymous nothing.
    assert_eq!(
        may_grant(&Principal::System, &Rights::all(), &locate),
        Ok(())
    );
    assert!(may_grant(&Principal::Anonymous, &everywhere, &locate).is_err());
    assert_eq!(
        may_grant(&Principal::Anonymous, &Rights::none(), &locate),
        Ok(())
    );
}
