//! User administration (S2 "Users"): list, view, create, update, delete, admin password reset.
//!
//! Invariants: nobody deletes or disables themselves; no path removes the last active
//! administrator (the store re-checks inside each transaction); every change to what a user
//! may do ends their sessions.

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
    /// `GET /api/v1/users`.
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersRead),
            &Target::Global,
        )?;
        let users = self.store.list_users_with_groups().await?;
        let groups = self.store.list_groups().await?;
        let guarded = self.store.users_with_second_factor().await?;
        Ok(users
            .into_iter()
            .map(|(u, ids)| {
                let two_factor = guarded.contains(&u.id);
                user_view(u, &groups, |g| ids.contains(&g), two_factor)
            })
            .collect())
    }

    /// `GET /api/v1/users?limit=&cursor=`: one page of users by username.
    pub async fn users_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<UserView>, AppError> {
        use crate::core::page::{Listing, PageRequest};
        self.require(
            actor,
            Action::Perform(Permission::UsersRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(Listing::Users, params)?;
        let rows = self.store.users_page(&page.store()).await?;
        let (rows, next) = page.finish(Listing::Users, rows, |(u, _, key)| {
            (key.clone(), u.id.get())
        });
        let groups = self.store.list_groups().await?;
        let guarded = self.store.users_with_second_factor().await?;
        Ok(crate::Page {
            items: rows
                .into_iter()
                .map(|(u, ids, _)| {
                    let two_factor = guarded.contains(&u.id);
                    user_view(u, &groups, |g| ids.contains(&g), two_factor)
                })
                .collect(),
            next,
        })
    }

    /// `GET /api/v1/users/{id}` with the counts the delete dialog needs.
    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<DeletePreview, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersRead),
            &Target::Global,
        )?;
        let row = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        let user = self
            .user_views(vec![row])
            .await?
            .into_iter()
            .next()
            .ok_or(AppError::NotFound)?;
        let items = self.owned_item_counts(id).await?;
        Ok(DeletePreview { user, items })
    }

    async fn user_views(&self, users: Vec<UserRow>) -> Result<Vec<UserView>, AppError> {
        let groups = self.store.list_groups().await?;
        let memberships = self.store.memberships().await?;
        let guarded = self.store.users_with_second_factor().await?;
        Ok(users
            .into_iter()
            .map(|u| {
                let id = u.id;
                user_view(
                    u,
                    &groups,
                    |g| memberships.contains(&(id, g)),
                    guarded.contains(&id),
                )
            })
            .collect())
    }

    /// `POST /api/v1/users`.
    pub async fn create_user(
        &self,
        actor: &Actor,
        input: CreateUser,
    ) -> Result<UserView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersCreate),
            &Target::Global,
        )?;
        let username = Username::parse(&input.username).map_err(bad)?;
        let email = parse_email(input.email.as_deref())?;
        self.check_identity_free(Some(&username), email.as_ref(), None)
            .await?;
        self.check_groups_exist(&input.group_ids).await?;
        // Creating an account in groups hands it their rights: the same grant rule as joining
        // them later (threat: a `users:create` holder creating a user in `Administrators`).
        let chosen: Vec<GroupRow> = self
            .store
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| input.group_ids.contains(&g.id))
            .collect();
        self.check_may_grant(actor, &rights_of(&chosen)).await?;
        let password_hash = match &input.password {
            Some(p) if !p.is_empty() => {
                self.check_password(p, &username).await?;
                Some(self.hash(p).await?)
            }
            _ => None,
        };
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username,
                    email,
                    password_hash,
                    auth_source: "local",
                    group_ids: input.group_ids.clone(),
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username or email is already taken."))?;
        let mut invited = false;
        if input.password.as_ref().is_none_or(|p| p.is_empty()) {
            // No password: with Advanced Auth the user chooses one through a mailed link.
            invited = self.welcome_new_user(id).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not send the set-password link");
                false
            });
        }
        self.audit(
            actor,
            AuditEvent::UserCreate,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({
                "username": input.username.trim(),
                "group_ids": input.group_ids,
                "set_password_link": invited,
            }),
        )
        .await;
        Ok(self.get_user(&self.as_system_reader(actor), id).await?.user)
    }

    /// `PATCH /api/v1/users/{id}`.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        input: UpdateUser,
    ) -> Result<Done<UserView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersUpdate),
            &Target::Global,
        )?;
        let row = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        refuse_self(actor, id)?;
        let current_groups = self.store.groups_of_user(id).await?;
        self.check_may_grant(actor, &rights_of(&current_groups))
            .await?;
        // Only real changes count: re-sending the same flag or the same groups must not log the
        // user out everywhere.
        let disabled = input.disabled.filter(|d| *d != row.disabled);
        let group_ids = match &input.group_ids {
            Some(wanted) => {
                let mut wanted = wanted.clone();
                wanted.sort_unstable();
                wanted.dedup();
                let mut have: Vec<GroupId> = current_groups.iter().map(|g| g.id).collect();
                have.sort_unstable();
                (wanted != have).then_some(wanted)
            }
            None => None,
        };
        let email = match input.email.as_deref() {
            None => None,
            Some(raw) => Some(parse_email(Some(raw))?),
        };
        if let Some(Some(e)) = &email {
            self.check_identity_free(None, Some(e), Some(id)).await?;
        }
        if let Some(groups) = &group_ids {
            self.check_groups_exist(groups).await?;
            // Joining or leaving a group hands out or takes away its rights: the actor must hold
            // every one of them (threat: a delegated user manager adding themselves or a friend
            // to Administrators).
            let all = self.store.list_groups().await?;
            let touched: Vec<GroupRow> = all
                .into_iter()
                .filter(|g| groups.contains(&g.id) != current_groups.iter().any(|c| c.id == g.id))
                .collect();
            self.check_may_grant(actor, &rights_of(&touched)).await?;
        }
        let password_hash = match &input.password {
            Some(p) => {
                self.check_replacement_password(p, &row).await?;
                Some(self.hash(p).await?)
            }
            None => None,
        };
        let patch = UserPatch {
            email,
            password_hash,
            disabled,
            group_ids,
        };
        if !self
            .store
            .update_user(id, &patch, &Self::admin_check(), None, self.now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        if patch.email.is_some() {
            self.cache.forget_user(id);
        }
        let revoking =
            patch.password_hash.is_some() || patch.disabled.is_some() || patch.group_ids.is_some();
        let rotated = if revoking {
            self.after_change(actor, &[id]).await?
        } else {
            None
        };
        let target = Some(("user", id.to_string()));
        if patch.password_hash.is_some() {
            self.audit(
                actor,
                AuditEvent::AuthPasswordReset,
                target.clone(),
                true,
                serde_json::json!({"by": "admin"}),
            )
            .await;
        }
        self.audit(
            actor,
            AuditEvent::UserUpdate,
            target,
            true,
            serde_json::json!({
                "email": patch.email.is_some(),
                "password": patch.password_hash.is_some(),
                "disabled": patch.disabled,
                "group_ids": patch.group_ids,
            }),
        )
        .await;
        let user = self.get_user(&self.as_system_reader(actor), id).await?.user;
        Ok(Done {
            value: user,
            new_session_token: rotated,
        })
    }

    /// `DELETE /api/v1/users/{id}?items=keep|delete`.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: UserId,
        items: OwnedItems,
    ) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::UsersDelete),
            &Target::Global,
        )?;
        if actor.user_id == Some(id) {
            return Err(AppError::Conflict(
                "You cannot delete your own account.".into(),
            ));
        }
        let row = self.store.user(id).await?.ok_or(AppError::NotFound)?;
        self.check_may_act_on(actor, id).await?;
        // Only the user's own content goes with them, each kind through its own service
        // (authorized, audited per item); printers, webhooks and history stay. See
        // `crate::accounts::owned`.
        let deleted = match items {
            OwnedItems::Keep => Vec::new(),
            OwnedItems::Delete => self.delete_owned_items(actor, id).await?,
        };
        if !self.delete_account_row(id).await? {
            return Err(AppError::NotFound);
        }
        self.revoke_users(&[id]);
        let deleted: serde_json::Map<String, serde_json::Value> = deleted
            .into_iter()
            .map(|(kind, n)| (kind.to_owned(), n.into()))
            .collect();
        self.audit(
            actor,
            AuditEvent::UserDelete,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({
                "username": row.username.as_str(),
                "items": match items { OwnedItems::Keep => "keep", OwnedItems::Delete => "delete" },
                "deleted": deleted,
            }),
        )
        .await;
        Ok(())
    }

    /// CLI `admin reset-password`: sets a password as the system, ends every session.
    pub async fn reset_password_as_system(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<UserId, AppError> {
        let row = self.user_named(username).await?;
        self.check_replacement_password(password, &row).await?;
        let hash = self.hash(password).await?;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..UserPatch::default()
        };
        self.store
            .update_user(row.id, &patch, &Self::admin_check(), None, self.now())
            .await?;
        self.revoke_users(&[row.id]);
        self.audit(
            &Actor::system(),
            AuditEvent::AuthPasswordReset,
            Some(("user", row.id.to_string())),
            true,
            serde_json::json!({"by": "cli"}),
        )
        .await;
        Ok(row.id)
    }

    /// Whether the actor may act on another user's account at all: never on their own (admin
    /// routes never target yourself), and only when they hold every right that user holds
    /// (threat: a user manager taking over an administrator by deleting, resetting or
    /// re-passwording them).
    pub(crate) async fn check_may_act_on(&self, actor: &Actor, id: UserId) -> Result<(), AppError> {
        refuse_self(actor, id)?;
        self.check_may_grant(actor, &rights_of(&self.store.groups_of_user(id).await?))
            .await
    }

    /// The user with this login name (CLI commands name users).
    async fn user_named(&self, username: &str) -> Result<UserRow, AppError> {
        let name = Username::parse(username).map_err(bad)?;
        self.store
            .user_by_username(&name.key())
            .await?
            .ok_or(AppError::NotFound)
    }

    /// CLI `admin reset-mfa`: removes the user's second factors and ends their sessions.
    pub async fn reset_mfa_as_system(&self, username: &str) -> Result<UserId, AppError> {
        let row = self.user_named(username).await?;
        self.store.reset_mfa(row.id).await?;
        self.revoke_users(&[row.id]);
        self.audit(
            &Actor::system(),
            AuditEvent::UserMfaReset,
            Some(("user", row.id.to_string())),
            true,
            serde_json::json!({"by": "cli"}),
        )
        .await;
        Ok(row.id)
    }

    /// CLI `admin create-admin`: a new member of `Administrators`, created by the system.
    pub async fn create_admin_as_system(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<UserId, AppError> {
        let name = Username::parse(username).map_err(bad)?;
        self.check_identity_free(Some(&name), None, None).await?;
        self.check_password(password, &name).await?;
        let hash = self.hash(password).await?;
        let admins = self
            .system_group(pw_domain::SystemGroup::Administrators)
            .await?;
        let id = self
            .store
            .insert_user(
                &NewUser {
                    username: name,
                    email: None,
                    password_hash: Some(hash),
                    auth_source: "local",
                    group_ids: vec![admins],
                },
                self.now(),
            )
            .await
            .map_err(|e| conflict_or(e, "That username is already taken."))?;
        *self.setup_code.lock().await = None;
        self.remove_setup_code_file();
        self.audit(
            &Actor::system(),
            AuditEvent::UserCreate,
            Some(("user", id.to_string())),
            true,
            serde_json::json!({"username": username.trim(), "by": "cli", "administrator": true}),
        )
        .await;
        Ok(id)
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

    /// Re-reading what one just wrote needs no second permission check (a user who may
    /// create users sees the one they created even without `users:read`).
    pub(crate) fn as_system_reader(&self, actor: &Actor) -> Actor {
        Actor {
            principal: pw_policy::Principal::System,
            name: Arc::clone(&actor.name),
            ..actor.clone()
        }
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
        email: u.email.as_ref().map(|e| e.as_str().to_owned()),
        auth_source: u.auth_source.clone(),
        disabled: u.disabled,
        password_set: u.password_hash.is_some(),
        two_factor,
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
