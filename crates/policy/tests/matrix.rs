//! Exhaustive decision tables for the policy engine, pinned as `insta` snapshots under
//! `tests/snapshots/`: one for `authorize` (representative principals × every action × the
//! targets that matter for it) and one for `check_route` (every route access mode × every
//! credential kind).
//!
//! Why: any change to who may do what — a new permission, a reordered check, a different deny
//! reason — shows up as a line-by-line diff of these tables that a reviewer must accept
//! (`cargo insta review`, or `INSTA_UPDATE=always`), instead of slipping through unnoticed.
//! Lines come out in a fixed order (principals, then actions in catalogue order, then targets),
//! so the tables are deterministic.

use std::collections::BTreeSet;

use pw_domain::{Permission, UserId};
use pw_policy::{
    Access, Action, Credential, Decision, DenyReason, Principal, Requirement, Rights, Subject,
    Target, TicketPurpose, authorize, check_route,
};

/// The user id of the admin (and of the admin's API keys).
const ADMIN: i64 = 1;
/// Someone none of the principals is.
const SOMEONE_ELSE: i64 = 99;

fn render_decision(decision: Decision) -> String {
    match decision {
        Decision::Allow => "allow".to_owned(),
        Decision::Deny(DenyReason::MissingPermission(p)) => {
            format!("deny(MissingPermission({p}))")
        }
        Decision::Deny(DenyReason::OutOfScope(p)) => format!("deny(OutOfScope({p}))"),
        Decision::Deny(reason) => format!("deny({reason:?})"),
    }
}

fn render_action(action: Action) -> String {
    match action {
        Action::BeAuthenticated => "be-authenticated".to_owned(),
        Action::Administer => "administer".to_owned(),
        Action::Enrol => "enrol".to_owned(),
        Action::Perform(p) => format!("perform {p}"),
        Action::OnOwned { own, all } => {
            let own = own.map_or_else(|| "-".to_owned(), |p| p.to_string());
            format!("on-owned own={own} all={all}")
        }
    }
}

fn line(who: &str, action: &str, target: &str, decision: Decision) -> String {
    format!(
        "{who:<24} {action:<48} {target:<14} -> {}",
        render_decision(decision)
    )
}

fn user(id: i64, credential: Credential, rights: Rights) -> Subject {
    Subject {
        credential,
        ..Subject::session(UserId::from_db(id), rights)
    }
}

fn principals() -> Vec<(&'static str, Principal)> {
    let users_read: BTreeSet<Permission> = [Permission::UsersRead].into();
    vec![
        ("anonymous", Principal::Anonymous),
        ("system", Principal::System),
        ("auth-disabled", Principal::AuthDisabled),
        (
            "admin-session",
            Principal::User(user(ADMIN, Credential::Session, Rights::all())),
        ),
        (
            "groups-reader-session",
            Principal::User(user(
                2,
                Credential::Session,
                Rights::everywhere([Permission::GroupsRead]),
            )),
        ),
        (
            "disabled-admin-session",
            Principal::User(Subject {
                disabled: true,
                ..user(3, Credential::Session, Rights::all())
            }),
        ),
        (
            "admin-key-users-read",
            Principal::User(user(
                ADMIN,
                Credential::ApiKey,
                Rights::all().restricted_to(&users_read),
            )),
        ),
        (
            "expired-admin-key",
            Principal::User(Subject {
                expired: true,
                ..user(ADMIN, Credential::ApiKey, Rights::all())
            }),
        ),
        (
            "admin-session-enrol-first",
            Principal::User(Subject {
                enrol_first: Some(pw_domain::SignInRequirement::Passkey),
                ..user(ADMIN, Credential::Session, Rights::all())
            }),
        ),
    ]
}

#[test]
fn authorize_decision_matrix() {
    let mut out = Vec::new();
    for (who, principal) in principals() {
        let global_actions = [Action::BeAuthenticated, Action::Enrol]
            .into_iter()
            .chain(Permission::ALL.iter().copied().map(Action::Perform));
        for action in global_actions {
            let decision = authorize(&principal, action, &Target::Global);
            out.push(line(who, &render_action(action), "global", decision));
        }

        let revoke = Action::OnOwned {
            own: None,
            all: Permission::ApiKeysRevokeAll,
        };
        // Principals without a user (anonymous, system, auth-disabled) own nothing, so they
        // get no own-row line.
        let own_row = principal.user_id().map(|me| ("own-row", Some(me)));
        let rows = own_row.into_iter().chain([
            ("others-row", Some(UserId::from_db(SOMEONE_ELSE))),
            ("ownerless-row", None),
        ]);
        for (label, owner) in rows {
            let target = Target::Owned {
                owner,
                printer: None,
            };
            let decision = authorize(&principal, revoke, &target);
            out.push(line(who, &render_action(revoke), label, decision));
        }
    }
    let table = out.join("\n");
    insta::assert_snapshot!("authorize_decision_matrix", table);
}

fn render_access(access: &Access) -> String {
    let requirement = |r: &Requirement| match r {
        Requirement::Authenticated => "authenticated".to_owned(),
        Requirement::Enrol => "enrol".to_owned(),
        Requirement::Permission(p) => p.to_string(),
    };
    match access {
        Access::Public { .. } => "public".to_owned(),
        Access::Session(r) => format!("session({})", requirement(r)),
        Access::SessionOrKey(r) => format!("session-or-key({})", requirement(r)),
        Access::Ticket(TicketPurpose::Events) => "ticket(events)".to_owned(),
        Access::Ticket(TicketPurpose::Camera) => "ticket(camera)".to_owned(),
        Access::Camera {
            first_message: false,
        } => "camera".to_owned(),
        Access::Camera {
            first_message: true,
        } => "camera(first message)".to_owned(),
    }
}

fn render_credential(credential: Credential) -> &'static str {
    match credential {
        Credential::Session => "session",
        Credential::ApiKey => "api-key",
        Credential::Ticket(TicketPurpose::Events) => "ticket-events",
        Credential::Ticket(TicketPurpose::Camera) => "ticket-camera",
        Credential::CameraToken => "camera-token",
    }
}

#[test]
fn check_route_matrix() {
    let accesses = [
        Access::Public { reason: "snapshot" },
        Access::Session(Requirement::Authenticated),
        Access::Session(Requirement::Enrol),
        Access::SessionOrKey(Requirement::Enrol),
        Access::Session(Requirement::Permission(Permission::SystemRead)),
        Access::Session(Requirement::Permission(Permission::UsersRead)),
        Access::SessionOrKey(Requirement::Authenticated),
        Access::SessionOrKey(Requirement::Permission(Permission::SystemRead)),
        Access::SessionOrKey(Requirement::Permission(Permission::UsersRead)),
        Access::Ticket(TicketPurpose::Events),
        Access::Ticket(TicketPurpose::Camera),
        Access::Camera {
            first_message: false,
        },
        Access::Camera {
            first_message: true,
        },
    ];
    let credentials = [
        Credential::Session,
        Credential::ApiKey,
        Credential::Ticket(TicketPurpose::Events),
        Credential::Ticket(TicketPurpose::Camera),
        Credential::CameraToken,
    ];
    // For each credential kind: an active user holding only `system:read`, and a disabled one
    // holding everything (to show which of "wrong credential" and "disabled" wins).
    let mut callers: Vec<(String, Principal)> = vec![
        ("anonymous".to_owned(), Principal::Anonymous),
        ("system".to_owned(), Principal::System),
        ("auth-disabled".to_owned(), Principal::AuthDisabled),
    ];
    for credential in credentials {
        let kind = render_credential(credential);
        callers.push((
            format!("{kind} system-reader"),
            Principal::User(user(
                2,
                credential,
                Rights::everywhere([Permission::SystemRead]),
            )),
        ));
        callers.push((
            format!("{kind} admin-enrol-first"),
            Principal::User(Subject {
                enrol_first: Some(pw_domain::SignInRequirement::TwoFactor),
                ..user(ADMIN, credential, Rights::all())
            }),
        ));
        callers.push((
            format!("{kind} disabled-admin"),
            Principal::User(Subject {
                disabled: true,
                ..user(ADMIN, credential, Rights::all())
            }),
        ));
    }

    let mut out = Vec::new();
    for access in &accesses {
        for (who, principal) in &callers {
            let decision = render_decision(check_route(principal, access));
            let access = render_access(access);
            out.push(format!("{access:<40} {who:<28} -> {decision}"));
        }
    }
    let table = out.join("\n");
    insta::assert_snapshot!("check_route_matrix", table);
}
