//! Groups and the permission catalogue (S1): list, view, create, clone, edit, delete,
//! membership, printer scope.
//!
//! Invariants: system groups keep their name, rights and existence (clone them to customise);
//! nobody grants a right they do not hold themselves — through a group's permissions or by
//! adding someone to a group (threat: privilege escalation by a delegated group manager);
//! every change to what members may do ends their sessions and runs under the
//! last-administrator guard.

mod create;
mod delete;
mod list;
mod members;
mod update;

use pw_domain::{
    GroupId, GroupName, Permission, PrinterScope, SignInRequirement, SystemGroup, UserId,
};
use std::collections::BTreeMap;

use pw_domain::{LocationId, PrinterId};
use pw_policy::{Action, Principal, Reach, Rights, Target, may_grant};
use pw_store::{GroupPatch, GroupRow, NewGroup};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::{bad, conflict_or};
use crate::core::clock::rfc3339;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Done};

/// A group as the API and pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Seeded system group: fixed name and rights, cannot be deleted.
    pub is_system: bool,
    /// Its rights, in catalogue order.
    pub permissions: Vec<Permission>,
    /// Printer scope; `null` = everywhere.
    pub scope: Option<PrinterScope>,
    /// What members' sign-ins must prove: `none`, `two_factor` (an authenticator app,
    /// emailed codes or a passkey) or `passkey`. The strictest of a user's groups applies.
    pub sign_in_requirement: SignInRequirement,
    /// Members.
    pub members: Vec<Member>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A member, by id and name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Id.
    pub id: UserId,
    /// Username.
    pub username: String,
}

/// One category of `GET /api/v1/permissions`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PermissionCategoryView {
    /// Category label.
    pub category: &'static str,
    /// Category key.
    pub key: &'static str,
    /// Its permissions.
    pub permissions: Vec<PermissionView>,
}

/// One permission.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PermissionView {
    /// `resource:action`.
    pub name: &'static str,
    /// Human label.
    pub label: &'static str,
}

/// `POST /api/v1/groups`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Rights.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Printer scope; absent = everywhere.
    #[serde(default)]
    pub scope: Option<PrinterScope>,
}

/// `PATCH /api/v1/groups/{id}`; absent fields stay.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatchInput {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// The complete new set of rights.
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
    /// New scope; `null` removes it (everywhere).
    #[serde(default, deserialize_with = "present")]
    pub scope: Option<Option<PrinterScope>>,
    /// New sign-in requirement (`none`, `two_factor`, `passkey`); the only field a system
    /// group accepts. Members' sessions end, like at any rights change.
    #[serde(default)]
    pub sign_in_requirement: Option<SignInRequirement>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

const DESCRIPTION_MAX: usize = 500;

fn description(raw: Option<String>) -> Result<String, AppError> {
    let d = raw.unwrap_or_default().trim().to_owned();
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(AppError::BadRequest(
            "The description must be at most 500 characters.".into(),
        ));
    }
    Ok(d)
}

fn scope_json(scope: Option<PrinterScope>) -> Result<Option<String>, AppError> {
    scope
        .map(|s| {
            let s = s.validate().map_err(bad)?;
            serde_json::to_string(&s).map_err(|e| AppError::Internal(Box::new(e)))
        })
        .transpose()
}

fn permission_strings(p: &[Permission]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = p.iter().map(|p| p.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub(crate) fn group_permissions(g: &GroupRow) -> Vec<Permission> {
    match g
        .is_system
        .then(|| SystemGroup::from_key(&g.name.key()))
        .flatten()
    {
        Some(s) => s.permissions(),
        None => {
            let mut v: Vec<Permission> = g
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect();
            v.sort();
            v
        }
    }
}

/// A stored group's scope (`None` = everywhere).
pub(crate) fn stored_scope(g: &GroupRow) -> Option<PrinterScope> {
    g.scope
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
}

/// What a stored group hands its members.
pub(crate) fn group_grant(g: &GroupRow) -> Rights {
    group_rights(&group_permissions(g), stored_scope(g).as_ref())
}

/// What one group hands its members: its permissions with its scope.
pub(crate) fn group_rights(permissions: &[Permission], scope: Option<&PrinterScope>) -> Rights {
    let mut r = Rights::none();
    r.grant_group(permissions.iter().copied(), scope);
    r
}

impl App {
    async fn check_name_free(
        &self,
        name: &GroupName,
        except: Option<GroupId>,
    ) -> Result<(), AppError> {
        let key = name.key();
        if self
            .store
            .list_groups()
            .await?
            .iter()
            .any(|g| g.name.key() == key && Some(g.id) != except)
        {
            return Err(AppError::Conflict(
                "A group with that name already exists.".into(),
            ));
        }
        Ok(())
    }

    /// Refuses to let an actor hand out (or take away) a right — or a reach of one — they do
    /// not hold themselves: the application's door to [`pw_policy::may_grant`], which every
    /// path that gives rights goes through (users, membership, groups, keys, camera tokens,
    /// tickets, webhook filters).
    pub(crate) async fn check_may_grant(
        &self,
        actor: &Actor,
        granted: &Rights,
    ) -> Result<(), AppError> {
        match self.ungrantable(actor, granted).await? {
            None => Ok(()),
            Some(p) => {
                tracing::info!(permission = %p, "refused: granting a right the actor does not hold");
                Err(AppError::Forbidden)
            }
        }
    }

    /// The first right in `granted` the actor may not hand out (with that reach), if any.
    pub(crate) async fn ungrantable(
        &self,
        actor: &Actor,
        granted: &Rights,
    ) -> Result<Option<Permission>, AppError> {
        // Locations only matter for scopes naming printers; read them once per check.
        let names_printers = granted.permissions().any(|p| {
            matches!(granted.reach(p), Some(Reach::Scoped(s)) if s.iter().any(|s| !s.printers.is_empty()))
        });
        let located: BTreeMap<PrinterId, Option<LocationId>> =
            if names_printers && matches!(actor.principal, Principal::User(_)) {
                self.store
                    .list_printers()
                    .await?
                    .into_iter()
                    .map(|r| (r.id, r.location_id))
                    .collect()
            } else {
                BTreeMap::new()
            };
        Ok(may_grant(&actor.principal, granted, &|p| {
            located.get(&p).copied().flatten()
        })
        .err())
    }
}
