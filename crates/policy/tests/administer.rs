//! `Action::Administer`: only a principal holding every permission everywhere, through a
//! credential without a printer list, passes (the web restore's rule: restoring replaces every
//! account, so it must not be a way up for anyone who is not already at the top).

use std::collections::BTreeSet;

use pw_domain::{Permission, PrinterId, PrinterScope, UserId};
use pw_policy::{Action, Decision, DenyReason, Principal, Rights, Subject, Target, authorize};

fn subject(rights: Rights) -> Subject {
    Subject::session(UserId::from_db(7), rights)
}

fn decide(subject: Subject) -> Decision {
    authorize(
        &Principal::User(subject),
        Action::Administer,
        &Target::Global,
    )
}

#[test]
fn every_permission_everywhere_is_needed_and_enough() {
    assert_eq!(decide(subject(Rights::all())), Decision::Allow);
    for missing in Permission::ALL {
        let rights = Rights::everywhere(Permission::ALL.iter().copied().filter(|p| p != missing));
        assert_eq!(
            decide(subject(rights)),
            Decision::Deny(DenyReason::MissingPermission(*missing)),
            "everything but {missing}"
        );
    }
    assert!(matches!(
        decide(subject(Rights::everywhere([Permission::SystemBackup]))),
        Decision::Deny(DenyReason::MissingPermission(_))
    ));
}

#[test]
fn a_scoped_grant_or_a_printer_list_is_not_everything() {
    let mut scoped = Rights::none();
    scoped.grant_group(
        Permission::ALL.iter().copied(),
        Some(&PrinterScope::default()),
    );
    assert!(
        Permission::ALL.iter().any(|p| p.is_printer_bound()),
        "printer-bound permissions exist, so a scoped grant is less than everything"
    );
    assert!(!decide(subject(scoped)).is_allowed());
    let limited = Subject {
        printer_restriction: Some(BTreeSet::from([PrinterId::from_db(1)])),
        ..subject(Rights::all())
    };
    assert!(!decide(limited).is_allowed());
}

#[test]
fn disabled_and_anonymous_are_refused_system_is_not() {
    let disabled = Subject {
        disabled: true,
        ..subject(Rights::all())
    };
    assert_eq!(decide(disabled), Decision::Deny(DenyReason::Disabled));
    assert_eq!(
        authorize(&Principal::Anonymous, Action::Administer, &Target::Global),
        Decision::Deny(DenyReason::Unauthenticated)
    );
    assert!(authorize(&Principal::System, Action::Administer, &Target::Global).is_allowed());
}
