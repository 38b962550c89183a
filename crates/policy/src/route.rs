//! Route access modes: what the route table declares for each route, and the coarse check the
//! HTTP middleware runs before any handler. The fine check (owner, printer scope) happens again
//! in the service against the concrete row, through the same [`crate::authorize`].

use pw_domain::Permission;

use crate::{Action, Credential, Decision, DenyReason, Principal, Target, authorize};

/// What an authenticated route needs beyond authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Any active, authenticated principal.
    Authenticated,
    /// Any active, authenticated principal, including a session that must first set up the
    /// second factor its group requires: the few routes enrolling needs (own profile, own
    /// second-factor and passkey set-up, the Account page, sign-out).
    Enrol,
    /// One permission.
    Permission(Permission),
}

/// The purpose a ticket is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketPurpose {
    /// The live events WebSocket.
    Events,
    /// A camera stream.
    Camera,
}

impl TicketPurpose {
    /// The only rights a ticket of this purpose ever carries (∩ its minting credential's
    /// bounds): the events socket reads printers; a camera stream reads its printer and views
    /// its camera. Threat: an events ticket opening a camera, or any ticket used as the
    /// owner's full rights.
    #[must_use]
    pub const fn permissions(self) -> &'static [Permission] {
        match self {
            TicketPurpose::Events => &[Permission::PrintersRead],
            TicketPurpose::Camera => &[Permission::PrintersRead, Permission::CameraView],
        }
    }
}

/// The auth mode of one route, as written in the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, including anonymous callers. The reason is mandatory documentation.
    Public {
        /// Why this route may be public.
        reason: &'static str,
    },
    /// A browser session only.
    Session(Requirement),
    /// A session or an API key.
    SessionOrKey(Requirement),
    /// A single-use ticket of the given purpose (or a session).
    Ticket(TicketPurpose),
    /// A printer's camera: the session cookie, an API key (header or `?token=`), a session
    /// token as `?token=`, or a `camera` ticket. With `first_message`, a request without any
    /// of them passes the door to a WebSocket that must authenticate with its first message
    /// within seconds (the handler closes it otherwise); the printer's `camera:view` is checked
    /// by the application either way.
    Camera {
        /// Anonymous upgrades wait for first-message authentication.
        first_message: bool,
    },
}

impl Access {
    /// The permission this route names, if any.
    #[must_use]
    pub const fn permission(&self) -> Option<Permission> {
        match self {
            Access::Session(Requirement::Permission(p))
            | Access::SessionOrKey(Requirement::Permission(p)) => Some(*p),
            _ => None,
        }
    }

    fn accepts(&self, credential: Credential) -> bool {
        match self {
            Access::Public { .. } => true,
            Access::Session(_) => credential == Credential::Session,
            Access::SessionOrKey(_) => {
                matches!(credential, Credential::Session | Credential::ApiKey)
            }
            // Threat: a ticket issued for the events socket replayed against a camera stream.
            Access::Ticket(purpose) => {
                credential == Credential::Session || credential == Credential::Ticket(*purpose)
            }
            // Threat: a camera token pasted into a Home Assistant config leaks; it must open
            // nothing but camera streams, so only camera routes accept it.
            Access::Camera { .. } => matches!(
                credential,
                Credential::Session
                    | Credential::ApiKey
                    | Credential::CameraToken
                    | Credential::Ticket(TicketPurpose::Camera)
            ),
        }
    }
}

/// The route table's coarse check: is this principal, with this kind of credential, allowed
/// through the door of a route declared with `access`?
#[must_use]
pub fn check_route(principal: &Principal, access: &Access) -> Decision {
    if let Access::Public { .. } = access {
        return Decision::Allow;
    }
    if let (
        Access::Camera {
            first_message: true,
        },
        Principal::Anonymous,
    ) = (access, principal)
    {
        // The socket's handler demands credentials in the first message.
        return Decision::Allow;
    }
    if let Principal::User(subject) = principal
        && !access.accepts(subject.credential)
    {
        return Decision::Deny(DenyReason::CredentialNotAccepted);
    }
    let action = match access {
        Access::Session(Requirement::Permission(p))
        | Access::SessionOrKey(Requirement::Permission(p)) => Action::Perform(*p),
        Access::Session(Requirement::Enrol) | Access::SessionOrKey(Requirement::Enrol) => {
            Action::Enrol
        }
        _ => Action::BeAuthenticated,
    };
    authorize(principal, action, &Target::Global)
}

#[cfg(test)]
mod tests {
    use pw_domain::UserId;

    use super::*;
    use crate::{Rights, Subject};

    fn user(credential: Credential, perms: &[Permission], disabled: bool) -> Principal {
        Principal::User(Subject {
            credential,
            disabled,
            ..Subject::session(
                UserId::from_db(1),
                Rights::everywhere(perms.iter().copied()),
            )
        })
    }

    const READ: Access = Access::SessionOrKey(Requirement::Permission(Permission::SystemRead));

    #[test]
    fn public_routes_admit_everyone() {
        let public = Access::Public { reason: "probe" };
        assert!(check_route(&Principal::Anonymous, &public).is_allowed());
        assert!(check_route(&user(Credential::ApiKey, &[], true), &public).is_allowed());
    }

    #[test]
    fn anonymous_is_unauthenticated_on_every_protected_mode() {
        for access in [
            READ,
            Access::Session(Requirement::Authenticated),
            Access::Ticket(TicketPurpose::Events),
        ] {
            assert_eq!(
                check_route(&Principal::Anonymous, &access),
                Decision::Deny(DenyReason::Unauthenticated)
            );
        }
    }

    #[test]
    fn permission_is_required_and_sufficient() {
        let holder = user(Credential::Session, &[Permission::SystemRead], false);
        let other = user(Credential::Session, &[], false);
        assert!(check_route(&holder, &READ).is_allowed());
        assert_eq!(
            check_route(&other, &READ),
            Decision::Deny(DenyReason::MissingPermission(Permission::SystemRead))
        );
    }

    #[test]
    fn disabled_users_are_always_denied() {
        let disabled = user(Credential::Session, &[Permission::SystemRead], true);
        assert_eq!(
            check_route(&disabled, &READ),
            Decision::Deny(DenyReason::Disabled)
        );
        let session_only = Access::Session(Requirement::Authenticated);
        assert_eq!(
            check_route(&disabled, &session_only),
            Decision::Deny(DenyReason::Disabled)
        );
    }

    #[test]
    fn credential_kinds_are_enforced_per_mode() {
        let key = user(Credential::ApiKey, &[Permission::SystemRead], false);
        let ticket = user(
            Credential::Ticket(TicketPurpose::Camera),
            &[Permission::SystemRead],
            false,
        );
        let session_only = Access::Session(Requirement::Authenticated);
        assert_eq!(
            check_route(&key, &session_only),
            Decision::Deny(DenyReason::CredentialNotAccepted)
        );
        assert_eq!(
            check_route(&ticket, &READ),
            Decision::Deny(DenyReason::CredentialNotAccepted)
        );
        assert!(check_route(&key, &READ).is_allowed());
        assert!(check_route(&ticket, &Access::Ticket(TicketPurpose::Camera)).is_allowed());
        assert_eq!(
            check_route(&ticket, &Access::Ticket(TicketPurpose::Events)),
            Decision::Deny(DenyReason::CredentialNotAccepted),
            "a ticket only opens the door it was issued for"
        );
        let camera = user(Credential::CameraToken, &[Permission::CameraView], false);
        let stream = Access::Camera {
            first_message: false,
        };
        assert!(check_route(&camera, &stream).is_allowed());
        for other in [
            READ,
            Access::Session(Requirement::Authenticated),
            Access::SessionOrKey(Requirement::Authenticated),
            Access::Ticket(TicketPurpose::Camera),
        ] {
            assert_eq!(
                check_route(&camera, &other),
                Decision::Deny(DenyReason::CredentialNotAccepted),
                "a camera token opens camera routes only: {other:?}"
            );
        }
    }

    #[test]
    fn a_principal_that_must_enrol_reaches_enrolment_routes_only() {
        use pw_domain::SignInRequirement;
        let restricted = |credential| {
            Principal::User(Subject {
                credential,
                enrol_first: Some(SignInRequirement::TwoFactor),
                ..Subject::session(
                    UserId::from_db(1),
                    Rights::everywhere(Permission::ALL.iter().copied()),
                )
            })
        };
        let session = restricted(Credential::Session);
        let enrol = Access::Session(Requirement::Enrol);
        assert!(check_route(&session, &enrol).is_allowed());
        for other in [
            READ,
            Access::Session(Requirement::Authenticated),
            Access::SessionOrKey(Requirement::Authenticated),
            Access::Session(Requirement::Permission(Permission::PrintersRead)),
            Access::Ticket(TicketPurpose::Events),
        ] {
            assert_eq!(
                check_route(&session, &other),
                Decision::Deny(DenyReason::EnrolFirst(SignInRequirement::TwoFactor)),
                "{other:?}"
            );
        }
        // Every fine check refuses too, whatever the rights: the door is not the only guard.
        assert_eq!(
            authorize(
                &session,
                Action::OnOwned {
                    own: None,
                    all: Permission::ApiKeysRevokeAll
                },
                &Target::Owned {
                    owner: Some(UserId::from_db(1)),
                    printer: None
                }
            ),
            Decision::Deny(DenyReason::EnrolFirst(SignInRequirement::TwoFactor))
        );
        // A key cannot enrol (session-only routes), so a restricted key reaches nothing.
        let key = restricted(Credential::ApiKey);
        assert_eq!(
            check_route(&key, &enrol),
            Decision::Deny(DenyReason::CredentialNotAccepted)
        );
        assert!(!check_route(&key, &READ).is_allowed());
        // An unrestricted principal passes enrolment routes like any signed-in one.
        let normal = user(Credential::Session, &[], false);
        assert!(check_route(&normal, &enrol).is_allowed());
        assert!(!check_route(&Principal::Anonymous, &enrol).is_allowed());
    }

    #[test]
    fn system_and_auth_disabled_pass_everything() {
        for p in [Principal::System, Principal::AuthDisabled] {
            assert!(check_route(&p, &READ).is_allowed());
            assert!(check_route(&p, &Access::Session(Requirement::Authenticated)).is_allowed());
        }
    }
}
