//! Groups, their permissions (stored as `resource:action` strings) and their optional printer
//! scope (JSON). System groups carry their rights in code, not in rows, so they grow with the
//! catalogue; the store only keeps their identity and members.
//!
//! Invariant: every write that changes what members may do revokes the members' sessions in
//! the same transaction, runs under the last-administrator guard, and returns who was affected.

use pw_domain::{GroupId, GroupName, SessionId, SignInRequirement, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::accounts::admins::{AdminCheck, lock_admins, verify_admins};
use crate::accounts::users::add_member;
use crate::auth::sessions::{invalidate_users, touch_stamps};
use crate::{Store, StoreError};

/// A stored group.
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// Key.
    pub id: GroupId,
    /// Display name.
    pub name: GroupName,
    /// Free text.
    pub description: String,
    /// Seeded, not renamable, not deletable.
    pub is_system: bool,
    /// Printer scope as JSON, `None` = everywhere.
    pub scope: Option<String>,
    /// Stored permission strings (empty for system groups).
    pub permissions: Vec<String>,
    /// What members' sign-ins must prove (issue 19).
    pub sign_in_requirement: SignInRequirement,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Name.
    pub name: GroupName,
    /// Free text.
    pub description: String,
    /// Seeded system group?
    pub is_system: bool,
    /// Scope JSON.
    pub scope: Option<String>,
    /// Permission strings.
    pub permissions: Vec<&'static str>,
}

/// A change to a group; `None` fields stay.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    /// New name.
    pub name: Option<GroupName>,
    /// New description.
    pub description: Option<String>,
    /// The complete new permission set.
    pub permissions: Option<Vec<&'static str>>,
    /// New scope (`Some(None)` removes it).
    pub scope: Option<Option<String>>,
    /// New sign-in requirement.
    pub sign_in_requirement: Option<SignInRequirement>,
}

fn from_row(row: &AnyRow) -> Result<GroupRow, sqlx::Error> {
    Ok(GroupRow {
        id: GroupId::from_db(row.try_get("id")?),
        name: GroupName::from_db(row.try_get("name")?),
        description: row.try_get("description")?,
        is_system: crate::flag(row, "is_system")?,
        scope: row.try_get("scope")?,
        permissions: Vec::new(),
        sign_in_requirement: SignInRequirement::from_db(
            &row.try_get::<String, _>("sign_in_requirement")?,
        ),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Group columns plus one permission per row (NULL for a group without stored permissions).
const JOINED_COLUMNS: &str = "g.id AS id, g.name AS name, g.description AS description, \
     CASE WHEN g.is_system THEN 1 ELSE 0 END AS is_system, g.scope AS scope, \
     g.sign_in_requirement AS sign_in_requirement, g.created_at AS created_at, \
     g.updated_at AS updated_at, p.permission AS permission";

/// Folds `group × permission` rows, ordered by group, into groups.
fn fold_joined(rows: &[AnyRow]) -> Result<Vec<GroupRow>, sqlx::Error> {
    let mut groups: Vec<GroupRow> = Vec::new();
    for row in rows {
        let id = GroupId::from_db(row.try_get("id")?);
        if groups.last().is_none_or(|g| g.id != id) {
            groups.push(from_row(row)?);
        }
        if let (Some(group), Some(permission)) = (
            groups.last_mut(),
            row.try_get::<Option<String>, _>("permission")?,
        ) {
            group.permissions.push(permission);
        }
    }
    Ok(groups)
}

async fn members_in(
    tx: &mut Transaction<'static, Any>,
    group: GroupId,
) -> Result<Vec<UserId>, StoreError> {
    let rows = sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
        .bind(group.get())
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| Ok(UserId::from_db(r.try_get("user_id")?)))
        .collect()
}

async fn set_permissions(
    tx: &mut Transaction<'static, Any>,
    group: GroupId,
    permissions: &[&'static str],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM group_permissions WHERE group_id = $1")
        .bind(group.get())
        .execute(&mut **tx)
        .await?;
    for p in permissions {
        sqlx::query(
            "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2) \
             ON CONFLICT (group_id, permission) DO NOTHING",
        )
        .bind(group.get())
        .bind(*p)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Every group with its stored permissions, system groups first, then by name. One query:
    /// group lists are read on hot paths (user lists, principal reloads).
    pub async fn list_groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOINED_COLUMNS} FROM groups g \
             LEFT JOIN group_permissions p ON p.group_id = g.id \
             ORDER BY g.is_system DESC, g.name_key, g.id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(fold_joined(&rows)?)
    }

    /// The groups a user belongs to, with their permissions (one query).
    pub async fn groups_of_user(&self, user: UserId) -> Result<Vec<GroupRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOINED_COLUMNS} FROM group_members m \
             JOIN groups g ON g.id = m.group_id \
             LEFT JOIN group_permissions p ON p.group_id = g.id \
             WHERE m.user_id = $1 \
             ORDER BY g.is_system DESC, g.name_key, g.id"
        )))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await?;
        Ok(fold_joined(&rows)?)
    }

    /// One group.
    pub async fn group(&self, id: GroupId) -> Result<Option<GroupRow>, StoreError> {
        Ok(self.list_groups().await?.into_iter().find(|g| g.id == id))
    }

    /// The members of a group.
    pub async fn group_members(&self, id: GroupId) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
            .bind(id.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(UserId::from_db(r.try_get("user_id")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Creates a group. A taken name → [`StoreError::Conflict`].
    pub async fn insert_group(&self, new: &NewGroup, now: i64) -> Result<GroupId, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO groups (name, name_key, description, is_system, scope, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(new.name.as_str())
        .bind(new.name.key())
        .bind(new.description.as_str())
        .bind(new.is_system)
        .bind(new.scope.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let id = GroupId::from_db(row.try_get("id")?);
        set_permissions(&mut tx, id, &new.permissions).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Applies a patch; a permission, scope or sign-in requirement change revokes every
    /// member's sessions. Returns
    /// the affected members, or `None` when the group does not exist.
    pub async fn update_group(
        &self,
        id: GroupId,
        patch: &GroupPatch,
        check: &AdminCheck,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Option<Vec<UserId>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_admins(&mut tx, self.backend()).await?;
        let n = sqlx::query("UPDATE groups SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        if let Some(name) = &patch.name {
            sqlx::query("UPDATE groups SET name = $1, name_key = $2 WHERE id = $3")
                .bind(name.as_str())
                .bind(name.key())
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            // Members' cached profiles show the group's name.
            let members = members_in(&mut tx, id).await?;
            touch_stamps(&mut tx, &members).await?;
        }
        if let Some(description) = &patch.description {
            sqlx::query("UPDATE groups SET description = $1 WHERE id = $2")
                .bind(description.as_str())
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(scope) = &patch.scope {
            sqlx::query("UPDATE groups SET scope = $1 WHERE id = $2")
                .bind(scope.as_deref())
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(permissions) = &patch.permissions {
            set_permissions(&mut tx, id, permissions).await?;
        }
        if let Some(requirement) = patch.sign_in_requirement {
            sqlx::query("UPDATE groups SET sign_in_requirement = $1 WHERE id = $2")
                .bind(requirement.as_str())
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        }
        let mut affected = Vec::new();
        // A new sign-in requirement changes what members' sessions may do, like a right: their
        // sessions end and the next sign-in is judged by the new rule.
        if patch.permissions.is_some()
            || patch.scope.is_some()
            || patch.sign_in_requirement.is_some()
        {
            affected = members_in(&mut tx, id).await?;
            invalidate_users(&mut tx, &affected, keep).await?;
        }
        verify_admins(&mut tx, check).await?;
        tx.commit().await?;
        Ok(Some(affected))
    }

    /// Deletes a group; its members lose its rights (sessions revoked). `None` when missing.
    pub async fn delete_group(
        &self,
        id: GroupId,
        check: &AdminCheck,
        keep: Option<SessionId>,
    ) -> Result<Option<Vec<UserId>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_admins(&mut tx, self.backend()).await?;
        let affected = members_in(&mut tx, id).await?;
        invalidate_users(&mut tx, &affected, keep).await?;
        let n = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        verify_admins(&mut tx, check).await?;
        tx.commit().await?;
        Ok(Some(affected))
    }

    /// Adds or removes one member (revoking that user's sessions). Returns false when the
    /// membership already was as asked.
    pub async fn set_membership(
        &self,
        group: GroupId,
        user: UserId,
        member: bool,
        check: &AdminCheck,
        keep: Option<SessionId>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_admins(&mut tx, self.backend()).await?;
        let was =
            sqlx::query("SELECT 1 AS x FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.get())
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if was == member {
            return Ok(false);
        }
        if member {
            add_member(&mut tx, group, user).await?;
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.get())
                .bind(user.get())
                .execute(&mut *tx)
                .await?;
        }
        invalidate_users(&mut tx, &[user], keep).await?;
        verify_admins(&mut tx, check).await?;
        tx.commit().await?;
        Ok(true)
    }
}
