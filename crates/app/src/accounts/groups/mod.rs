//! Groups and the permission catalogue (S1): list, view, create, clone, edit, delete,
//! membership, printer scope.
//!
//! Invariants: system groups keep their name, rights and existence (clone them to customise);
//! nobody grants a right they do not hold themselves — through a group's permissions or by
//! adding someone to a group (threat: privilege escalation by a delegated group manager);
//! every change to what members may do ends their sessions and runs under the
//! last-administrator guard.

use pw_domain::{GroupId, GroupName, Permission, PrinterScope, SystemGroup, UserId};
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
    /// `GET /api/v1/permissions`.
    pub fn list_permissions(&self, actor: &Actor) -> Result<Vec<PermissionCategoryView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsRead),
            &Target::Global,
        )?;
        Ok(Permission::by_category()
            .into_iter()
            .map(|(c, ps)| PermissionCategoryView {
                category: c.label,
                key: c.key,
                permissions: ps
                    .iter()
                    .map(|p| PermissionView {
                        name: p.as_str(),
                        label: p.label(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// `GET /api/v1/groups`.
    pub async fn list_groups(&self, actor: &Actor) -> Result<Vec<GroupView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsRead),
            &Target::Global,
        )?;
        let groups = self.store.list_groups().await?;
        let users = self.store.list_users().await?;
        let memberships = self.store.memberships().await?;
        Ok(groups
            .iter()
            .map(|g| GroupView {
                id: g.id,
                name: g.name.as_str().to_owned(),
                description: g.description.clone(),
                is_system: g.is_system,
                permissions: group_permissions(g),
                scope: g
                    .scope
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok()),
                members: users
                    .iter()
                    .filter(|u| memberships.contains(&(u.id, g.id)))
                    .map(|u| Member {
                        id: u.id,
                        username: u.username.as_str().to_owned(),
                    })
                    .collect(),
                created_at: rfc3339(g.created_at),
                updated_at: rfc3339(g.updated_at),
            })
            .collect())
    }

    /// `GET /api/v1/groups/{id}`.
    pub async fn get_group(&self, actor: &Actor, id: GroupId) -> Result<GroupView, AppError> {
        self.list_groups(actor)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(AppError::NotFound)
    }

    /// `POST /api/v1/groups`.
    pub async fn create_group(
        &self,
        actor: &Actor,
        input: GroupInput,
    ) -> Result<GroupView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsCreate),
            &Target::Global,
        )?;
        let name = GroupName::parse(&input.name).map_err(bad)?;
        self.check_name_free(&name, None).await?;
        let scope = input
            .scope
            .map(PrinterScope::validate)
            .transpose()
            .map_err(bad)?;
        // A scoped group grants its printer rights only inside the scope: a scoped granter may
        // create it; an unscoped one would be wider than they are.
        self.check_may_grant(actor, &group_rights(&input.permissions, scope.as_ref()))
            .await?;
        let new = NewGroup {
            name,
            description: description(input.description)?,
            is_system: false,
            scope: scope_json(scope)?,
            permissions: permission_strings(&input.permissions),
        };
        let id = self
            .store
            .insert_group(&new, self.now())
            .await
            .map_err(|e| conflict_or(e, "A group with that name already exists."))?;
        self.audit(
            actor,
            AuditEvent::GroupCreate,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({"name": new.name.as_str(), "permissions": new.permissions, "scope": new.scope}),
        )
        .await;
        self.get_group(&self.as_system_reader(actor), id).await
    }

    /// `POST /api/v1/groups/{id}/clone`: an editable copy (of any group, system ones too).
    pub async fn clone_group(
        &self,
        actor: &Actor,
        id: GroupId,
        name: Option<String>,
    ) -> Result<GroupView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsCreate),
            &Target::Global,
        )?;
        let source = self.get_group(&self.as_system_reader(actor), id).await?;
        let name = match name {
            Some(n) => n,
            None => self.free_copy_name(&source.name).await?,
        };
        self.create_group(
            actor,
            GroupInput {
                name,
                description: Some(source.description.clone()),
                permissions: source.permissions.clone(),
                scope: source.scope.clone(),
            },
        )
        .await
    }

    async fn free_copy_name(&self, base: &str) -> Result<String, AppError> {
        let taken: Vec<String> = self
            .store
            .list_groups()
            .await?
            .iter()
            .map(|g| g.name.key())
            .collect();
        let stem: String = base.chars().take(50).collect();
        (1..1000)
            .map(|i| {
                if i == 1 {
                    format!("{stem} (copy)")
                } else {
                    format!("{stem} (copy {i})")
                }
            })
            .find(|n| !taken.contains(&n.to_lowercase()))
            .ok_or_else(|| AppError::Conflict("Choose a name for the copy.".into()))
    }

    /// `PATCH /api/v1/groups/{id}`.
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        input: GroupPatchInput,
    ) -> Result<Done<GroupView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsUpdate),
            &Target::Global,
        )?;
        let current = self.store.group(id).await?.ok_or(AppError::NotFound)?;
        if current.is_system {
            return Err(AppError::Conflict(
                "System groups cannot be changed; clone it to make an editable copy.".into(),
            ));
        }
        let name = input
            .name
            .as_deref()
            .map(GroupName::parse)
            .transpose()
            .map_err(bad)?;
        if let Some(n) = &name {
            self.check_name_free(n, Some(id)).await?;
        }
        let before = group_permissions(&current);
        let old_scope = stored_scope(&current);
        let new_scope = match &input.scope {
            Some(s) => s
                .clone()
                .map(PrinterScope::validate)
                .transpose()
                .map_err(bad)?,
            None => old_scope.clone(),
        };
        if input.scope.is_some() && new_scope != old_scope {
            // Widening or narrowing where a group's rights reach is granting or taking them:
            // the actor must hold the group's rights both where they reached and where they
            // will reach.
            let after = input.permissions.clone().unwrap_or_else(|| before.clone());
            self.check_may_grant(actor, &group_rights(&before, old_scope.as_ref()))
                .await?;
            self.check_may_grant(actor, &group_rights(&after, new_scope.as_ref()))
                .await?;
        } else if let Some(p) = &input.permissions {
            // Both what is added and what is removed: removing a right you do not hold from
            // others is as much a decision above your rank as granting it.
            let changed: Vec<Permission> = p
                .iter()
                .filter(|x| !before.contains(x))
                .chain(before.iter().filter(|x| !p.contains(x)))
                .copied()
                .collect();
            self.check_may_grant(actor, &group_rights(&changed, old_scope.as_ref()))
                .await?;
        }
        let patch = GroupPatch {
            name,
            description: input
                .description
                .map(|d| description(Some(d)))
                .transpose()?,
            permissions: input.permissions.as_deref().map(permission_strings),
            scope: input.scope.map(scope_json).transpose()?,
        };
        let affected = self
            .store
            .update_group(id, &patch, &Self::admin_check(), actor.session, self.now())
            .await
            .map_err(|e| conflict_or(e, "A group with that name already exists."))?
            .ok_or(AppError::NotFound)?;
        if patch.name.is_some() {
            // Renames are rare; dropping every cached principal is simpler than finding the
            // members, and each reloads with one query.
            self.cache.clear();
        }
        let rotated = self.after_change(actor, &affected).await?;
        self.audit(
            actor,
            AuditEvent::GroupUpdate,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({
                "name": patch.name.as_ref().map(GroupName::as_str),
                "permissions": patch.permissions,
                "scope": patch.scope,
                "sessions_revoked_for": affected,
            }),
        )
        .await;
        let value = self.get_group(&self.as_system_reader(actor), id).await?;
        Ok(Done {
            value,
            new_session_token: rotated,
        })
    }

    /// `DELETE /api/v1/groups/{id}`.
    pub async fn delete_group(&self, actor: &Actor, id: GroupId) -> Result<Done<()>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsDelete),
            &Target::Global,
        )?;
        let current = self.store.group(id).await?.ok_or(AppError::NotFound)?;
        if current.is_system {
            return Err(AppError::Conflict(
                "System groups cannot be deleted.".into(),
            ));
        }
        // Deleting a group takes its rights from every member.
        self.check_may_grant(actor, &group_grant(&current)).await?;
        let affected = self
            .store
            .delete_group(id, &Self::admin_check(), actor.session)
            .await?
            .ok_or(AppError::NotFound)?;
        let rotated = self.after_change(actor, &affected).await?;
        self.audit(
            actor,
            AuditEvent::GroupDelete,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({"name": current.name.as_str(), "members": affected}),
        )
        .await;
        Ok(Done {
            value: (),
            new_session_token: rotated,
        })
    }

    /// `PUT` / `DELETE /api/v1/groups/{id}/members/{user_id}`.
    pub async fn set_group_member(
        &self,
        actor: &Actor,
        group: GroupId,
        user: UserId,
        member: bool,
    ) -> Result<Done<()>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsUpdate),
            &Target::Global,
        )?;
        let g = self.store.group(group).await?.ok_or(AppError::NotFound)?;
        if self.store.user(user).await?.is_none() {
            return Err(AppError::NotFound);
        }
        // Joining or leaving hands out or takes away the group's rights, with its scope.
        self.check_may_grant(actor, &group_grant(&g)).await?;
        let keep = if actor.user_id == Some(user) {
            actor.session
        } else {
            None
        };
        let changed = self
            .store
            .set_membership(group, user, member, &Self::admin_check(), keep)
            .await?;
        let mut rotated = None;
        if changed {
            rotated = self.after_change(actor, &[user]).await?;
            self.audit(
                actor,
                if member {
                    AuditEvent::GroupMemberAdd
                } else {
                    AuditEvent::GroupMemberRemove
                },
                Some(("group", group.to_string())),
                true,
                serde_json::json!({"user_id": user, "group": g.name.as_str()}),
            )
            .await;
        }
        Ok(Done {
            value: (),
            new_session_token: rotated,
        })
    }

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
