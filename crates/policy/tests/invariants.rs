//! Property tests for the invariants of `pw_policy::authorize` (SPEC S1 and S3), over generated
//! principals, actions and targets rather than hand-picked examples.
//!
//! Guards: anonymous is denied and System / AuthDisabled are allowed everything; a disabled user
//! or an expired credential is denied everything; more rights never take access away; an API key
//! never exceeds its owner; `*_all` includes `*_own`; ownerless rows need `*_all`; `Perform` on
//! the instance needs exactly its permission; a key's printer list is never crossed; group scopes
//! reach exactly the printers they name, and only for printer-bound permissions.
//!
//! Why: every route and service asks this one function, so a regression here silently opens (or
//! closes) the whole API. Example tests pin known cases; these check the rules hold for every
//! combination the generators can reach. The scope rules are stated against the group grants
//! (a model), so they start biting on their own once printer-bound permissions are catalogued.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use pw_domain::{LocationId, Permission, PrinterId, PrinterScope, UserId};
use pw_policy::{
    Action, Credential, Decision, DenyReason, Principal, PrinterRef, Reach, Rights, Subject,
    Target, TicketPurpose, authorize,
};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// One group's grants: its permissions and its optional printer scope.
#[derive(Debug, Clone)]
struct Group {
    permissions: Vec<Permission>,
    scope: Option<PrinterScope>,
}

/// The groups a user belongs to, in membership order.
#[derive(Debug, Clone)]
struct Groups(Vec<Group>);

impl Groups {
    fn rights(&self) -> Rights {
        let mut rights = Rights::none();
        for g in &self.0 {
            rights.grant_group(g.permissions.iter().copied(), g.scope.as_ref());
        }
        rights
    }

    /// The rule the rights must implement, straight from the grants (SPEC S1 "Printer scope"):
    /// a permission reaches a printer when some group grants it unscoped, or grants it with a
    /// scope covering the printer, or grants it at all when the permission is not printer-bound.
    fn model_reaches(
        &self,
        p: Permission,
        printer: PrinterId,
        location: Option<LocationId>,
    ) -> bool {
        self.0.iter().any(|g| {
            g.permissions.contains(&p)
                && match &g.scope {
                    None => true,
                    Some(scope) => !p.is_printer_bound() || scope.covers(printer, location),
                }
        })
    }
}

fn ids() -> impl Strategy<Value = Vec<i64>> {
    subsequence(vec![1_i64, 2, 3, 4], 0..=4)
}

fn user_id() -> impl Strategy<Value = UserId> {
    (1_i64..=5).prop_map(UserId::from_db)
}

fn permission() -> impl Strategy<Value = Permission> {
    select(Permission::ALL)
}

fn permission_set() -> impl Strategy<Value = Vec<Permission>> {
    subsequence(Permission::ALL, 0..=Permission::ALL.len())
}

/// A valid scope: printers and locations 1..=4, naming at least one place.
fn scope() -> impl Strategy<Value = PrinterScope> {
    (ids(), ids())
        .prop_map(|(printers, locations)| PrinterScope {
            printers: printers.into_iter().map(PrinterId::from_db).collect(),
            locations: locations.into_iter().map(LocationId::from_db).collect(),
        })
        .prop_filter("a scope names at least one place", |s| {
            s.clone().validate().is_ok()
        })
}

fn group() -> impl Strategy<Value = Group> {
    (permission_set(), proptest::option::of(scope()))
        .prop_map(|(permissions, scope)| Group { permissions, scope })
}

fn groups() -> impl Strategy<Value = Groups> {
    proptest::collection::vec(group(), 0..=3).prop_map(Groups)
}

fn printer_set() -> impl Strategy<Value = BTreeSet<PrinterId>> {
    ids().prop_map(|v| v.into_iter().map(PrinterId::from_db).collect())
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        Just(Credential::Session),
        Just(Credential::ApiKey),
        Just(Credential::Ticket(TicketPurpose::Events)),
        Just(Credential::Ticket(TicketPurpose::Camera)),
    ]
}

/// A user subject with its groups (kept so properties can compare against the grants).
/// `flags` yields `(disabled, expired)`.
fn subject_with(
    flags: impl Strategy<Value = (bool, bool)>,
) -> impl Strategy<Value = (Subject, Groups)> {
    (
        user_id(),
        credential(),
        groups(),
        proptest::option::of(printer_set()),
        flags,
    )
        .prop_map(
            |(user_id, credential, groups, printer_restriction, (disabled, expired))| {
                let subject = Subject {
                    user_id,
                    credential,
                    rights: groups.rights(),
                    printer_restriction,
                    disabled,
                    expired,
                    enrol_first: None,
                };
                (subject, groups)
            },
        )
}

/// Any user subject; disabled and expired ones are included but rarer.
fn any_subject() -> impl Strategy<Value = (Subject, Groups)> {
    subject_with((prop::bool::weighted(0.2), prop::bool::weighted(0.2)))
}

/// An enabled user with an unexpired credential.
fn active_subject() -> impl Strategy<Value = (Subject, Groups)> {
    subject_with(Just((false, false)))
}

fn principal() -> impl Strategy<Value = Principal> {
    prop_oneof![
        1 => Just(Principal::Anonymous),
        1 => Just(Principal::System),
        1 => Just(Principal::AuthDisabled),
        5 => any_subject().prop_map(|(s, _)| Principal::User(s)),
    ]
}

fn on_owned() -> impl Strategy<Value = Action> {
    (proptest::option::of(permission()), permission())
        .prop_map(|(own, all)| Action::OnOwned { own, all })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => Just(Action::BeAuthenticated),
        3 => permission().prop_map(Action::Perform),
        3 => on_owned(),
    ]
}

fn printer_ref() -> impl Strategy<Value = PrinterRef> {
    (1_i64..=4, proptest::option::of(1_i64..=4)).prop_map(|(printer, location)| PrinterRef {
        printer: PrinterId::from_db(printer),
        location: location.map(LocationId::from_db),
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Global),
        printer_ref().prop_map(Target::Printer),
        (
            proptest::option::of(user_id()),
            proptest::option::of(printer_ref())
        )
            .prop_map(|(owner, printer)| Target::Owned { owner, printer }),
        (1_i64..=4).prop_map(|l| Target::Location(LocationId::from_db(l))),
        Just(Target::EveryPrinter),
    ]
}

/// Whether a key's printer list lets it touch this printer (no list = every printer).
fn restriction_allows(subject: &Subject, printer: PrinterId) -> bool {
    subject
        .printer_restriction
        .as_ref()
        .is_none_or(|allowed| allowed.contains(&printer))
}

fn user(subject: &Subject) -> Principal {
    Principal::User(subject.clone())
}

// ---------------------------------------------------------------------------------------------
// Principals that are not users
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn anonymous_is_denied_and_system_and_auth_disabled_are_allowed_everything(
        action in action(),
        target in target(),
    ) {
        prop_assert_eq!(
            authorize(&Principal::Anonymous, action, &target),
            Decision::Deny(DenyReason::Unauthenticated)
        );
        prop_assert_eq!(authorize(&Principal::System, action, &target), Decision::Allow);
        prop_assert_eq!(authorize(&Principal::AuthDisabled, action, &target), Decision::Allow);
    }

    #[test]
    fn only_system_auth_disabled_and_active_users_are_ever_allowed(
        principal in principal(),
        action in action(),
        target in target(),
    ) {
        if authorize(&principal, action, &target).is_allowed() {
            let may_be_allowed = match &principal {
                Principal::System | Principal::AuthDisabled => true,
                Principal::Anonymous => false,
                Principal::User(s) => !s.disabled && !s.expired,
            };
            prop_assert!(may_be_allowed, "{principal:?} was allowed {action:?} on {target:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A group's sign-in requirement not met (issue 19)
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn a_subject_that_must_enrol_is_allowed_enrolling_and_nothing_else(
        (subject, _) in any_subject(),
        requirement in prop_oneof![
            Just(pw_domain::SignInRequirement::TwoFactor),
            Just(pw_domain::SignInRequirement::Passkey),
        ],
        action in action(),
        target in target(),
    ) {
        let subject = Subject {
            enrol_first: Some(requirement),
            disabled: false,
            expired: false,
            ..subject
        };
        let principal = user(&subject);
        // Whatever it holds, on whatever target: refused, with the requirement as the reason.
        prop_assert_eq!(
            authorize(&principal, action, &target),
            Decision::Deny(DenyReason::EnrolFirst(requirement))
        );
        prop_assert_eq!(
            authorize(&principal, Action::Enrol, &Target::Global),
            Decision::Allow
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Disabled accounts and expired credentials
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn disabled_users_and_expired_credentials_are_denied_everything(
        (subject, _) in any_subject(),
        (disabled, expired) in prop_oneof![Just((true, false)), Just((false, true)), Just((true, true))],
        action in action(),
        target in target(),
    ) {
        let subject = Subject { disabled, expired, ..subject };
        // Disabled is the stronger fact and is reported first.
        let reason = if disabled { DenyReason::Disabled } else { DenyReason::Expired };
        let principal = user(&subject);
        prop_assert_eq!(authorize(&principal, action, &target), Decision::Deny(reason));
        prop_assert_eq!(
            authorize(&principal, Action::BeAuthenticated, &target),
            Decision::Deny(reason)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rights only add up; API keys only narrow
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn granting_another_group_never_turns_allow_into_deny(
        (subject, groups) in any_subject(),
        extra in group(),
        action in action(),
        target in target(),
    ) {
        let mut more = groups.clone();
        more.0.push(extra);
        let richer = Subject { rights: more.rights(), ..subject.clone() };
        if authorize(&user(&subject), action, &target).is_allowed() {
            prop_assert!(
                authorize(&user(&richer), action, &target).is_allowed(),
                "an extra group took {action:?} on {target:?} away"
            );
        }
    }

    #[test]
    fn an_api_key_never_exceeds_its_owner(
        owner_id in user_id(),
        groups in groups(),
        scopes in permission_set(),
        key_printers in proptest::option::of(printer_set()),
        owner_disabled in prop::bool::weighted(0.2),
        key_expired in prop::bool::weighted(0.2),
        action in action(),
        target in target(),
    ) {
        let owner_rights = groups.rights();
        let scopes: BTreeSet<Permission> = scopes.into_iter().collect();
        let owner = Subject {
            disabled: owner_disabled,
            ..Subject::session(owner_id, owner_rights.clone())
        };
        let key = Subject {
            credential: Credential::ApiKey,
            rights: owner_rights.restricted_to(&scopes),
            printer_restriction: key_printers,
            expired: key_expired,
            ..owner.clone()
        };
        // The key's rights are scopes ∩ owner's rights (SPEC S3) …
        for p in key.rights.permissions() {
            prop_assert!(scopes.contains(&p) && owner_rights.holds(p), "{p} leaked into the key");
            prop_assert_eq!(key.rights.reach(p), owner_rights.reach(p));
        }
        // … so the key is allowed nothing its owner is denied.
        if authorize(&user(&key), action, &target).is_allowed() {
            prop_assert!(
                authorize(&user(&owner), action, &target).is_allowed(),
                "the key may {action:?} on {target:?} but its owner may not"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn all_permission_on_other_rows_implies_access_to_own_rows(
        (subject, _) in any_subject(),
        action in on_owned(),
        other in proptest::option::of(user_id()),
        printer in proptest::option::of(printer_ref()),
    ) {
        prop_assume!(other != Some(subject.user_id));
        let principal = user(&subject);
        let others_row = Target::Owned { owner: other, printer };
        let own_row = Target::Owned { owner: Some(subject.user_id), printer };
        if authorize(&principal, action, &others_row).is_allowed() {
            prop_assert!(
                authorize(&principal, action, &own_row).is_allowed(),
                "{action:?} allowed on {others_row:?} but not on {own_row:?}"
            );
        }
    }

    #[test]
    fn ownerless_rows_need_the_all_permission(
        (subject, _) in active_subject(),
        own in proptest::option::of(permission()),
        all in permission(),
        printer in proptest::option::of(printer_ref()),
    ) {
        let rights = &subject.rights;
        let reaches_all = rights.holds(all)
            && printer.is_none_or(|p| {
                rights.holds_on(all, p.printer, p.location) && restriction_allows(&subject, p.printer)
            });
        let decision = authorize(
            &user(&subject),
            Action::OnOwned { own, all },
            &Target::Owned { owner: None, printer },
        );
        let expected = if reaches_all {
            Decision::Allow
        } else if rights.holds(all) {
            Decision::Deny(DenyReason::OutOfScope(all))
        } else {
            Decision::Deny(DenyReason::NotOwner)
        };
        prop_assert_eq!(decision, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Perform
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn perform_on_global_is_allowed_iff_the_active_user_holds_the_permission(
        (subject, _) in any_subject(),
        p in permission(),
    ) {
        let decision = authorize(&user(&subject), Action::Perform(p), &Target::Global);
        let expected = if subject.disabled {
            Decision::Deny(DenyReason::Disabled)
        } else if subject.expired {
            Decision::Deny(DenyReason::Expired)
        } else if subject.rights.holds(p) {
            Decision::Allow
        } else {
            Decision::Deny(DenyReason::MissingPermission(p))
        };
        prop_assert_eq!(decision, expected);
    }

    #[test]
    fn perform_on_a_printer_needs_reach_there_and_the_key_printer_list(
        (subject, _) in active_subject(),
        p in permission(),
        printer in printer_ref(),
    ) {
        let rights = &subject.rights;
        let decision = authorize(&user(&subject), Action::Perform(p), &Target::Printer(printer));
        let expected = if !rights.holds(p) {
            Decision::Deny(DenyReason::MissingPermission(p))
        } else if rights.holds_on(p, printer.printer, printer.location)
            && restriction_allows(&subject, printer.printer)
        {
            Decision::Allow
        } else {
            Decision::Deny(DenyReason::OutOfScope(p))
        };
        prop_assert_eq!(decision, expected);
    }

    #[test]
    fn a_printer_restriction_never_reaches_a_printer_outside_the_list(
        (subject, _) in active_subject(),
        listed in printer_set(),
        printer in printer_ref(),
        owner in proptest::option::of(user_id()),
        on_printer in any::<bool>(),
        action in action(),
    ) {
        let mut listed = listed;
        listed.remove(&printer.printer);
        let subject = Subject { printer_restriction: Some(listed), ..subject };
        let target = if on_printer {
            Target::Printer(printer)
        } else {
            Target::Owned { owner, printer: Some(printer) }
        };
        let decision = authorize(&user(&subject), action, &target);
        prop_assert!(!decision.is_allowed(), "{action:?} on {target:?} crossed the printer list");
    }
}

// ---------------------------------------------------------------------------------------------
// Scopes (PrinterScope::covers, Rights::holds_on)
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn a_scope_covers_exactly_its_printers_and_the_printers_in_its_locations(
        scope in scope(),
        printer in 1_i64..=4,
        location in proptest::option::of(1_i64..=4),
    ) {
        let (printer, location) = (PrinterId::from_db(printer), location.map(LocationId::from_db));
        let expected = scope.printers.contains(&printer)
            || location.is_some_and(|l| scope.locations.contains(&l));
        prop_assert_eq!(scope.covers(printer, location), expected);
    }

    #[test]
    fn rights_reach_exactly_what_the_groups_grant(
        groups in groups(),
        p in permission(),
        printer in 1_i64..=4,
        location in proptest::option::of(1_i64..=4),
    ) {
        let (printer, location) = (PrinterId::from_db(printer), location.map(LocationId::from_db));
        let rights = groups.rights();
        let granted = groups.0.iter().any(|g| g.permissions.contains(&p));
        prop_assert_eq!(rights.holds(p), granted);
        prop_assert_eq!(rights.holds_on(p, printer, location), groups.model_reaches(p, printer, location));
        // A scoped reach is exactly the union of the scopes of the groups that grant it.
        let everywhere = groups.0.iter().any(|g| {
            g.permissions.contains(&p) && (g.scope.is_none() || !p.is_printer_bound())
        });
        prop_assert_eq!(rights.holds_everywhere(p), everywhere);
        match rights.reach(p) {
            None | Some(Reach::Everywhere) => {}
            Some(Reach::Scoped(scopes)) => {
                prop_assert!(p.is_printer_bound(), "{p} is instance-wide but got a scoped reach");
                prop_assert_eq!(
                    scopes.iter().any(|s| s.covers(printer, location)),
                    rights.holds_on(p, printer, location)
                );
            }
        }
    }
}

/// `users:read` is instance-wide: a group scope (meant for printers) must not narrow it, so a
/// scoped group's member can still use it on the instance and on any printer-bound target.
#[test]
fn a_group_scope_does_not_narrow_instance_wide_permissions() {
    assert!(!Permission::UsersRead.is_printer_bound());
    let scope = PrinterScope {
        printers: [PrinterId::from_db(1)].into(),
        locations: [LocationId::from_db(1)].into(),
    }
    .validate()
    .unwrap();
    let mut rights = Rights::none();
    rights.grant_group([Permission::UsersRead], Some(&scope));
    assert_eq!(
        rights.reach(Permission::UsersRead),
        Some(&Reach::Everywhere)
    );
    assert!(rights.holds_everywhere(Permission::UsersRead));

    let member = Principal::User(Subject::session(UserId::from_db(1), rights));
    let outside = PrinterRef {
        printer: PrinterId::from_db(2),
        location: Some(LocationId::from_db(2)),
    };
    assert!(!scope.covers(outside.printer, outside.location));
    for target in [
        Target::Global,
        Target::Printer(outside),
        Target::Owned {
            owner: None,
            printer: Some(outside),
        },
    ] {
        assert_eq!(
            authorize(&member, Action::Perform(Permission::UsersRead), &target),
            Decision::Allow,
            "{target:?}"
        );
    }
}

proptest! {
    /// Printers not known yet (a queue item aimed at a location, a model or a group): the right
    /// must reach every printer the target may ever mean — a scope naming the location itself
    /// for [`Target::Location`], an unscoped grant for [`Target::EveryPrinter`]; printers of
    /// the location listed one by one do not count (another may be added there tomorrow), and
    /// an API key limited to a printer list never aims that far. Anything but `Perform` aimed
    /// there is refused.
    #[test]
    fn printers_not_known_yet_need_a_reach_over_all_of_them(
        (subject, groups) in active_subject(),
        p in permission(),
        location in 1_i64..=4,
        every in any::<bool>(),
        other in prop_oneof![Just(Action::BeAuthenticated), on_owned()],
    ) {
        let location = LocationId::from_db(location);
        let target = if every { Target::EveryPrinter } else { Target::Location(location) };
        let reaches_all = groups.0.iter().any(|g| {
            g.permissions.contains(&p)
                && match &g.scope {
                    None => true,
                    Some(scope) => {
                        !p.is_printer_bound() || (!every && scope.locations.contains(&location))
                    }
                }
        });
        let expected = reaches_all && subject.printer_restriction.is_none();
        prop_assert_eq!(
            authorize(&user(&subject), Action::Perform(p), &target).is_allowed(),
            expected
        );
        prop_assert!(!authorize(&user(&subject), other, &target).is_allowed());
    }
}
