//! User accounts and group membership. Every write that could take away the last active
//! administrator runs in one transaction with the check (see [`crate::accounts::admins`]), so
//! no path — delete, disable, membership change, group edit — can commit a farm without an
//! administrator.
//!
//! Invariant: any write that changes what a user may do bumps their `security_stamp` and
//! deletes their sessions in the same transaction; the affected ids are returned so the
//! application can drop its caches and notify live connections.

use pw_domain::{Email, GroupId, SessionId, UserId, Username};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::page::{Clause, PageAfter, Value};

use crate::accounts::admins::{AdminCheck, lock_admins, verify_admins};
use crate::auth::sessions::{invalidate_users, touch_stamps};
use crate::{Store, StoreError};

/// A stored user.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Key.
    pub id: UserId,
    /// Display form of the login name.
    pub username: Username,
    /// Contact address.
    pub email: Option<Email>,
    /// PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    /// `local`, later `ldap` / `oidc`.
    pub auth_source: String,
    /// A disabled user can do nothing.
    pub disabled: bool,
    /// Bumped whenever the user's rights or credentials change.
    pub security_stamp: i64,
    /// The name shown for the person (`None`: the username is shown).
    pub display_name: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Contact address.
    pub email: Option<Email>,
    /// PHC string.
    pub password_hash: Option<String>,
    /// `local` for now.
    pub auth_source: &'static str,
    /// Initial groups.
    pub group_ids: Vec<GroupId>,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New address (`Some(None)` clears it).
    pub email: Option<Option<Email>>,
    /// New PHC string.
    pub password_hash: Option<String>,
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// The complete new set of groups.
    pub group_ids: Option<Vec<GroupId>>,
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: UserId::from_db(row.try_get("id")?),
        username: Username::from_db(row.try_get("username")?),
        email: row
            .try_get::<Option<String>, _>("email")?
            .map(Email::from_db),
        password_hash: row.try_get("password_hash")?,
        auth_source: row.try_get("auth_source")?,
        disabled: crate::flag(row, "disabled")?,
        security_stamp: row.try_get("security_stamp")?,
        display_name: row.try_get("display_name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) const USER_COLUMNS: &str = "id, username, email, password_hash, auth_source, \
     CASE WHEN disabled THEN 1 ELSE 0 END AS disabled, security_stamp, display_name, created_at, \
     updated_at";

impl Store {
    /// Creates a user with their groups. Unique username/email → [`StoreError::Conflict`].
    pub async fn insert_user(&self, new: &NewUser, now: i64) -> Result<UserId, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             auth_source, disabled, security_stamp, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) RETURNING id",
        )
        .bind(new.username.as_str())
        .bind(new.username.key())
        .bind(new.email.as_ref().map(Email::as_str))
        .bind(new.email.as_ref().map(Email::key))
        .bind(new.password_hash.as_deref())
        .bind(new.auth_source)
        .bind(false)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let id = UserId::from_db(row.try_get("id")?);
        for group in &new.group_ids {
            add_member(&mut tx, *group, id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.fetch_one_by(sql, id.get(), user_from_row).await
    }

    /// One user by the case-folded login key.
    pub async fn user_by_username(&self, key: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = $1");
        self.fetch_one_by(sql, key, user_from_row).await
    }

    /// One user by the case-folded email key.
    pub async fn user_by_email(&self, key: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1");
        self.fetch_one_by(sql, key, user_from_row).await
    }

    /// Whether a username or email key is already taken (by someone other than `except`).
    pub async fn identity_taken(
        &self,
        username_key: Option<&str>,
        email_key: Option<&str>,
        except: Option<UserId>,
    ) -> Result<(bool, bool), StoreError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM users WHERE username_key = $1 AND id <> $3) AS u, \
             (SELECT COUNT(*) FROM users WHERE email_key = $2 AND id <> $3) AS e",
        )
        .bind(username_key.unwrap_or(""))
        .bind(email_key.unwrap_or(""))
        .bind(except.map_or(0, UserId::get))
        .fetch_one(&self.pool)
        .await?;
        let u: i64 = row.try_get("u")?;
        let e: i64 = row.try_get("e")?;
        Ok((
            username_key.is_some() && u > 0,
            email_key.is_some() && e > 0,
        ))
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username_key"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Sets the name shown for a user (`None` clears it). Only a real change writes, and it
    /// bumps the stamp (cached profiles show the name) without ending sessions: a name is no
    /// right. Returns whether it changed.
    pub async fn set_display_name(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<Option<String>> =
            sqlx::query("SELECT display_name FROM users WHERE id = $1")
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("display_name"))
                .transpose()?;
        let Some(current) = current else {
            return Ok(false);
        };
        if current.as_deref() == name {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
            .bind(name)
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        touch_stamps(&mut tx, &[user]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every user with the ids of their groups, by name (one query).
    pub async fn list_users_with_groups(&self) -> Result<Vec<(UserRow, Vec<GroupId>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id AS id, u.username AS username, u.email AS email, \
             u.password_hash AS password_hash, u.auth_source AS auth_source, \
             CASE WHEN u.disabled THEN 1 ELSE 0 END AS disabled, \
             u.security_stamp AS security_stamp, u.created_at AS created_at, \
             u.updated_at AS updated_at, u.display_name AS display_name, \
             m.group_id AS group_id \
             FROM users u LEFT JOIN group_members m ON m.user_id = u.id \
             ORDER BY u.username_key, u.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut users: Vec<(UserRow, Vec<GroupId>)> = Vec::new();
        for row in &rows {
            let id = UserId::from_db(row.try_get("id")?);
            if users.last().is_none_or(|(u, _)| u.id != id) {
                users.push((user_from_row(row)?, Vec::new()));
            }
            if let (Some((_, groups)), Some(group)) =
                (users.last_mut(), row.try_get::<Option<i64>, _>("group_id")?)
            {
                groups.push(GroupId::from_db(group));
            }
        }
        Ok(users)
    }

    /// One page of users with the ids of their groups and each row's sort key, in the order
    /// `(username_key, id)`.
    pub async fn users_page(
        &self,
        page: &PageAfter,
    ) -> Result<Vec<(UserRow, Vec<GroupId>, String)>, StoreError> {
        let mut c = Clause::default();
        c.after(page, "username_key", "id");
        let limit = c.bind(Value::Int(page.fetch));
        let sql = format!(
            "SELECT {USER_COLUMNS}, username_key FROM users{} ORDER BY username_key, id LIMIT {limit}",
            c.where_sql()
        );
        let rows = c
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        let mut ids = Clause::default();
        let mut marks = Vec::with_capacity(rows.len());
        for row in &rows {
            let user = user_from_row(row)?;
            let key: String = row.try_get("username_key")?;
            marks.push(ids.bind(Value::Int(user.id.get())));
            users.push((user, Vec::new(), key));
        }
        if marks.is_empty() {
            return Ok(users);
        }
        let sql = format!(
            "SELECT user_id, group_id FROM group_members WHERE user_id IN ({}) \
             ORDER BY user_id, group_id",
            marks.join(", ")
        );
        let members = ids
            .apply(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        for m in &members {
            let user = UserId::from_db(m.try_get("user_id")?);
            let group = GroupId::from_db(m.try_get("group_id")?);
            if let Some((_, groups, _)) = users.iter_mut().find(|(u, _, _)| u.id == user) {
                groups.push(group);
            }
        }
        Ok(users)
    }

    /// Every membership as `(user, group)`.
    pub async fn memberships(&self) -> Result<Vec<(UserId, GroupId)>, StoreError> {
        let rows = sqlx::query("SELECT user_id, group_id FROM group_members")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId::from_db(r.try_get("user_id")?),
                    GroupId::from_db(r.try_get("group_id")?),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Applies a patch. Changing the email bumps the security stamp (cached profiles reload).
    /// Changing the password, the disabled flag or the groups bumps the
    /// security stamp and deletes the user's sessions (except `keep_session`, the caller's own
    /// when they change their own password). Refuses to leave no administrator.
    pub async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        check: &AdminCheck,
        keep_session: Option<SessionId>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_admins(&mut tx, self.backend()).await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        if let Some(email) = &patch.email {
            sqlx::query(
                "UPDATE users SET email = $1, email_key = $2, updated_at = $3, \
                 security_stamp = security_stamp + 1 WHERE id = $4",
            )
            .bind(email.as_ref().map(Email::as_str))
            .bind(email.as_ref().map(Email::key))
            .bind(now)
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        }
        if let Some(hash) = &patch.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash.as_str())
                .bind(now)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(disabled) = patch.disabled {
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled)
                .bind(now)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(groups) = &patch.group_ids {
            sqlx::query("DELETE FROM group_members WHERE user_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            for group in groups {
                add_member(&mut tx, *group, id).await?;
            }
        }
        if patch.password_hash.is_some() || patch.disabled.is_some() || patch.group_ids.is_some() {
            invalidate_users(&mut tx, &[id], keep_session).await?;
        }
        verify_admins(&mut tx, check).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces a password hash with an upgraded one of the *same* password (rehash on
    /// login). Not a password change: sessions stay, the stamp does not move.
    pub async fn rehash_password(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a user. The rows of `disown` (`(table, column)` pairs from the application's
    /// registry of what names a user: farm infrastructure such as printers and webhooks, and
    /// the user's own content that is kept) stay and lose the link, in the same transaction;
    /// rows that are part of the account go through their foreign keys' `ON DELETE CASCADE`,
    /// print jobs keep the starter's name (`ON DELETE SET NULL`). Nothing is deleted by a
    /// blanket "every table with a creator" sweep: deleting content is the business of each
    /// kind's own service. Refuses to remove the last administrator. Returns false when the
    /// user does not exist.
    pub async fn delete_user(
        &self,
        id: UserId,
        disown: &[(&'static str, &'static str)],
        check: &AdminCheck,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_admins(&mut tx, self.backend()).await?;
        for (table, column) in disown {
            // Names come from code, but are spliced into SQL: only plain identifiers.
            if !is_plain_identifier(table) || !is_plain_identifier(column) {
                return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                    "not a plain identifier: {table}.{column}"
                ))));
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE \"{table}\" SET \"{column}\" = NULL WHERE \"{column}\" = $1"
            )))
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        }
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        verify_admins(&mut tx, check).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Table and column names are spliced into SQL: accept only plain identifiers so a strange
/// name can never change a statement's meaning.
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) async fn add_member(
    tx: &mut Transaction<'static, Any>,
    group: GroupId,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
         ON CONFLICT (group_id, user_id) DO NOTHING",
    )
    .bind(group.get())
    .bind(user.get())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}
