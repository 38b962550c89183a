//! User administration (S2 "Users"): list, view, create, update, delete, admin password reset.
//!
//! Invariants: nobody deletes or disables themselves; no path removes the last active
//! administrator (the store re-checks inside each transaction); every change to what a user
//! may do ends their sessions.

mod as_system;
mod create;
mod delete;
mod list;
mod update;

use std::sync::Arc;

use pw_credentials::SecretString;
use pw_domain::{GroupId, Permission, UserId, Username};
use pw_policy::{Action, Target};
use pw_store::{GroupRow, NewUser, UserPatch, UserRow};
use serde::Serialize;

use crate::accounts::owned::OwnedItems;
use crate::auth::sessions::rights_of;
use crate::auth::sessions::{GroupRef, bad, conflict_or, parse_email};
use crate::core::clock::rfc3339;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Done};

/// A user as the admin pages and API show it (never a hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Username.
    pub username: String,
    /// The name shown for the person (from the directory or identity provider, or set by a
    /// local user); null = show the username.
    pub display_name: Option<String>,
    /// Address.
    pub email: Option<String>,
    /// `local`.
    pub auth_source: String,
    /// Disabled accounts can do nothing.
    pub disabled: bool,
    /// Whether the account can sign in with a password.
    pub password_set: bool,
    /// A second factor (TOTP or emailed codes) is on.
    pub two_factor: bool,
    /// The user has linked a Bambu Cloud account (administrators see that, never its tokens).
    pub cloud_linked: bool,
    /// Groups.
    pub groups: Vec<GroupRef>,
    /// Active member of the system `Administrators` group (what the last-admin guard counts).
    pub is_admin: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What deleting a user would touch (the delete dialog's counts).
#[derive(Debug, Clone, Serialize)]
pub struct DeletePreview {
    /// The user.
    pub user: UserView,
    /// Their own content, per kind of the registry of owned item kinds ([`crate::accounts::owned`]).
    pub items: Vec<ItemCount>,
}

/// Items of one owned kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemCount {
    /// The kind's name in the registry.
    pub kind: String,
    /// How many.
    pub count: i64,
}

/// `POST /api/v1/users`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Initial password (absent: the account cannot sign in until one is set).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// Address.
    #[serde(default)]
    pub email: Option<String>,
    /// Groups.
    #[serde(default)]
    pub group_ids: Vec<GroupId>,
}

/// `PATCH /api/v1/users/{id}`; absent fields stay as they are.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New address; `""` removes it.
    #[serde(default)]
    pub email: Option<String>,
    /// New password (an admin reset: the user's sessions end).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// Disable or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The complete new set of groups.
    #[serde(default)]
    pub group_ids: Option<Vec<GroupId>>,
}

impl App {
    /// Whether the actor may act on another user's account at all: never on their own (admin
    /// routes never target yourself), and only when they hold every right that user holds
    /// (threat: a user manager taking over an administrator by deleting, resetting or
    /// re-passwording them).
    pub(crate) async fn check_may_act_on(&self, actor: &Actor, id: UserId) -> Result<(), AppError> {
        refuse_self(actor, id)?;
        self.check_may_grant(actor, &rights_of(&self.store.groups_of_user(id).await?))
            .await
    }

    async fn check_identity_free(
        &self,
        username: Option<&Username>,
        email: Option<&pw_domain::Email>,
        except: Option<UserId>,
    ) -> Result<(), AppError> {
        let (u, e) = self
            .store
            .identity_taken(
                username.map(Username::key).as_deref(),
                email.map(pw_domain::Email::key).as_deref(),
                except,
            )
            .await?;
        if u {
            return Err(AppError::Conflict("That username is already taken.".into()));
        }
        if e {
            return Err(AppError::Conflict(
                "That email address is already used by another account.".into(),
            ));
        }
        Ok(())
    }

    pub(crate) async fn check_groups_exist(&self, ids: &[GroupId]) -> Result<(), AppError> {
        let groups = self.store.list_groups().await?;
        if let Some(missing) = ids.iter().find(|id| !groups.iter().any(|g| g.id == **id)) {
            return Err(AppError::BadRequest(format!(
                "There is no group with id {missing}."
            )));
        }
        Ok(())
    }
}

/// Admin routes never target the caller's own account (threat: a `users:update` holder with a
/// stolen or unattended session resetting their own second factors or password without the
/// current one). Self-service lives on the Account page, which asks for the current password
/// or code.
pub(crate) fn refuse_self(actor: &Actor, id: UserId) -> Result<(), AppError> {
    if actor.user_id == Some(id) {
        return Err(AppError::Conflict(
            "You cannot change your own account here; use your Account page, which asks for \
             your current password or code."
                .into(),
        ));
    }
    Ok(())
}

/// The API view of a user, given all groups and which of them the user belongs to.
fn user_view(
    u: UserRow,
    groups: &[GroupRow],
    member_of: impl Fn(GroupId) -> bool,
    two_factor: bool,
) -> UserView {
    let mine: Vec<_> = groups.iter().filter(|g| member_of(g.id)).cloned().collect();
    UserView {
        id: u.id,
        username: u.username.as_str().to_owned(),
        display_name: u.display_name.clone(),
        email: u.email.as_ref().map(|e| e.as_str().to_owned()),
        auth_source: u.auth_source.clone(),
        disabled: u.disabled,
        password_set: u.password_hash.is_some(),
        two_factor,
        cloud_linked: false,
        // The last-administrator guard's rule, so the badge never promises what it does not
        // count: an active member of the system `Administrators` group.
        is_admin: !u.disabled
            && mine.iter().any(|g| {
                g.is_system
                    && pw_domain::SystemGroup::from_key(&g.name.key())
                        == Some(pw_domain::SystemGroup::Administrators)
            }),
        groups: mine
            .iter()
            .map(|g| GroupRef {
                id: g.id,
                name: g.name.as_str().to_owned(),
            })
            .collect(),
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
    }
}
