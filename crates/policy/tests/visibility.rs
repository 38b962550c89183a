//! Property tests for the list filters (`printer_visibility`, `global_visibility`,
//! `owned_visibility`): for generated principals and rows, a row is in the filter exactly when
//! `authorize` allows the same principal the same action on it. A list built from the filter in
//! SQL therefore shows what a row-by-row check would show — no more (a leak), no less.

use proptest::prelude::*;
use pw_domain::{LocationId, Permission, PrinterId, PrinterScope, UserId};
use pw_policy::{
    Action, Credential, Principal, PrinterRef, Rights, Subject, Target, TicketPurpose, Visibility,
    authorize, global_visibility, owned_visibility, printer_visibility,
};

mod common;
use common::{PRINTERS, ids, rights};

fn principal() -> impl Strategy<Value = Principal> {
    let subject = (
        rights(),
        prop_oneof![
            Just(Credential::Session),
            Just(Credential::ApiKey),
            Just(Credential::CameraToken),
            Just(Credential::Ticket(TicketPurpose::Events)),
        ],
        proptest::option::of(ids(PRINTERS)),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        1_i64..=3,
    )
        .prop_map(|(rights, credential, list, disabled, expired, user)| {
            Principal::User(Subject {
                credential,
                printer_restriction: list.map(|v| v.into_iter().map(PrinterId::from_db).collect()),
                disabled,
                expired,
                ..Subject::session(UserId::from_db(user), rights)
            })
        });
    prop_oneof![
        8 => subject,
        1 => Just(Principal::Anonymous),
        1 => Just(Principal::System),
        1 => Just(Principal::AuthDisabled),
    ]
}

/// Printers 1..=6 in locations 1..=3 or none (6 is in no scope the generator can name).
fn printer_row() -> impl Strategy<Value = PrinterRef> {
    (1_i64..=6, proptest::option::of(1_i64..=4)).prop_map(|(p, l)| PrinterRef {
        printer: PrinterId::from_db(p),
        location: l.map(LocationId::from_db),
    })
}

fn permission() -> impl Strategy<Value = Permission> {
    proptest::sample::select(Permission::ALL)
}

fn shows_printer(v: &Visibility, row: &PrinterRef) -> bool {
    match v {
        Visibility::All => true,
        Visibility::None | Visibility::Own(_) => false,
        Visibility::Printers(set) => set.contains(row.printer, row.location),
    }
}

fn shows_owned(v: &Visibility, owner: Option<UserId>) -> bool {
    match v {
        Visibility::All => true,
        Visibility::Own(me) => owner == Some(*me),
        Visibility::None | Visibility::Printers(_) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn printer_filter_agrees_with_authorize(
        who in principal(),
        p in permission(),
        rows in proptest::collection::vec(printer_row(), 1..8),
    ) {
        let v = printer_visibility(&who, p);
        for row in &rows {
            let allowed = authorize(&who, Action::Perform(p), &Target::Printer(*row)).is_allowed();
            prop_assert_eq!(shows_printer(&v, row), allowed, "{:?} on {:?} with {:?}", p, row, v);
        }
    }

    #[test]
    fn global_filter_agrees_with_authorize(who in principal(), p in permission()) {
        let allowed = authorize(&who, Action::Perform(p), &Target::Global).is_allowed();
        let v = global_visibility(&who, p);
        prop_assert!(matches!(v, Visibility::All | Visibility::None));
        prop_assert_eq!(v == Visibility::All, allowed);
    }

    #[test]
    fn owned_filter_agrees_with_authorize(
        who in principal(),
        own in proptest::option::of(permission()),
        all in permission(),
        owners in proptest::collection::vec(proptest::option::of(1_i64..=4), 1..8),
    ) {
        let v = owned_visibility(&who, own, all);
        for owner in owners.into_iter().map(|o| o.map(UserId::from_db)) {
            let allowed = authorize(
                &who,
                Action::OnOwned { own, all },
                &Target::Owned { owner, printer: None },
            )
            .is_allowed();
            prop_assert_eq!(shows_owned(&v, owner), allowed, "owner {:?} with {:?}", owner, v);
        }
    }
}

/// The filter is not vacuous: a scoped reader sees their printer and not another.
#[test]
fn a_scoped_reader_sees_only_their_scope() {
    let mut rights = Rights::none();
    let scope = PrinterScope {
        printers: [PrinterId::from_db(1)].into(),
        locations: [LocationId::from_db(2)].into(),
    };
    rights.grant_group([Permission::PrintersRead], Some(&scope));
    let who = Principal::User(Subject::session(UserId::from_db(9), rights));
    let v = printer_visibility(&who, Permission::PrintersRead);
    let at = |p, l: Option<i64>| PrinterRef {
        printer: PrinterId::from_db(p),
        location: l.map(LocationId::from_db),
    };
    assert!(shows_printer(&v, &at(1, None)));
    assert!(shows_printer(&v, &at(5, Some(2))));
    assert!(!shows_printer(&v, &at(2, Some(1))));
}
