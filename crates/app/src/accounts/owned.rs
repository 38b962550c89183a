//! The registry of everything that names a user, and what deleting that user does to it: one
//! list that user deletion, the delete dialog's counts and the "added / started by" names
//! follow.
//!
//! Invariant: every column that names a user is listed in [`USER_LINKS`] with its fate (a test
//! compares the list with the live schema on both backends), and only a [`Fate::Content`] kind
//! is ever deleted with its user — through its own service, which authorizes, audits each item
//! and runs its side effects. Threat (audit finding 11): a blanket "delete every row with this
//! `created_by`" took printers and webhooks with their creator, without `printers:delete`,
//! without an audit line per item, and left the deleted printer's MQTT session running.

use std::future::Future;
use std::pin::Pin;

use crate::accounts::users::ItemCount;
use crate::{Actor, App, AppError};
use pw_domain::UserId;

/// What to do with a deleted user's own content (`DELETE /api/v1/users/{id}?items=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedItems {
    /// Keep it, ownerless; only `*_all` holders can act on it then.
    Keep,
    /// Delete it with the user, item by item through its own service.
    Delete,
}

/// A boxed future borrowing the application (the registry holds plain function pointers).
pub type ItemFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send + 'a>>;

/// One kind of a user's own content (library files, archives, queue items as they come):
/// counted in the delete dialog, kept ownerless or deleted with the user.
#[derive(Debug)]
pub struct ContentKind {
    /// Plural noun shown in the delete dialog, e.g. `library_files`.
    pub name: &'static str,
    /// How many items the user owns.
    pub count: for<'a> fn(&'a App, UserId) -> ItemFuture<'a, i64>,
    /// Refuses (`403`) unless the actor may delete every item of the user. Every kind is asked
    /// before any is deleted, so a refusal deletes nothing.
    pub authorize_delete: for<'a> fn(&'a App, &'a Actor, UserId) -> ItemFuture<'a, ()>,
    /// Deletes the user's items through the kind's own service: the same checks, one audit
    /// event per item and the same side effects as deleting each by hand. Returns how many.
    pub delete: for<'a> fn(&'a App, &'a Actor, UserId) -> ItemFuture<'a, u64>,
}

/// What happens to rows naming a user when that user is deleted.
#[derive(Debug)]
pub enum Fate {
    /// Part of the account (sessions, API keys and camera tokens, tickets, second factors,
    /// memberships, mail preferences): goes with it through `ON DELETE CASCADE`.
    Account,
    /// Farm infrastructure (printers, webhooks): stays, working, whoever added it; the link
    /// to the deleted user is cleared in the deletion's transaction.
    Infrastructure,
    /// History (print jobs, the audit log): stays; the link goes `NULL` (or is not a foreign
    /// key), and `name_column` keeps the name the user had at the time.
    History {
        /// The column holding the name.
        name_column: &'static str,
    },
    /// The user's own content: counted, then kept ownerless or deleted by its service.
    Content(&'static ContentKind),
}

/// A column that names a user.
#[derive(Debug)]
pub struct UserLink {
    /// Table.
    pub table: &'static str,
    /// Column holding the user's id.
    pub column: &'static str,
    /// What deleting the user does to the row.
    pub fate: Fate,
}

const fn link(table: &'static str, column: &'static str, fate: Fate) -> UserLink {
    UserLink {
        table,
        column,
        fate,
    }
}

/// Every column that names a user. Adding a table that names a user means adding it here,
/// with its fate; the schema test fails until then. Content kinds (library files, archives
/// and queue items as they come) go in as [`Fate::Content`].
pub const USER_LINKS: &[UserLink] = &[
    link("group_members", "user_id", Fate::Account),
    link("sessions", "user_id", Fate::Account),
    link("api_keys", "user_id", Fate::Account),
    link("tickets", "user_id", Fate::Account),
    link("user_mfa", "user_id", Fate::Account),
    link("backup_codes", "user_id", Fate::Account),
    link("email_codes", "user_id", Fate::Account),
    link("email_code_sends", "user_id", Fate::Account),
    link("mfa_challenges", "user_id", Fate::Account),
    link("passkey_users", "user_id", Fate::Account),
    link("passkeys", "user_id", Fate::Account),
    link("passkey_challenges", "user_id", Fate::Account),
    link("password_tokens", "user_id", Fate::Account),
    link("mail_preferences", "user_id", Fate::Account),
    link("oidc_links", "user_id", Fate::Account),
    link("oidc_states", "user_id", Fate::Account),
    link("cloud_links", "user_id", Fate::Account),
    link("printers", "created_by", Fate::Infrastructure),
    link("webhooks", "created_by", Fate::Infrastructure),
    link(
        "library_files",
        "owner_id",
        Fate::Content(&crate::farm::library::LIBRARY_FILES),
    ),
    link(
        "print_jobs",
        "started_by",
        Fate::History {
            name_column: "started_by_name",
        },
    ),
    link(
        "archives",
        "started_by",
        Fate::Content(&crate::farm::archive::ARCHIVES),
    ),
    link(
        "archive_photos",
        "added_by",
        Fate::History {
            name_column: "added_by_name",
        },
    ),
    link(
        "queue_items",
        "created_by",
        Fate::Content(&crate::farm::queue::QUEUE_ITEMS),
    ),
    link(
        "queue_pauses",
        "paused_by",
        Fate::History {
            name_column: "paused_by_name",
        },
    ),
    link(
        "projects",
        "created_by",
        Fate::History {
            name_column: "created_by_name",
        },
    ),
    link(
        "audit_events",
        "actor_id",
        Fate::History {
            name_column: "actor_name",
        },
    ),
];

/// Whether a column's name says it names a user (what the schema test looks for).
#[must_use]
pub fn names_a_user(column: &str) -> bool {
    column == "user_id" || column == "actor_id" || column == "owner_id" || column.ends_with("_by")
}

/// The content kinds, in registry order.
fn content_kinds() -> impl Iterator<Item = &'static ContentKind> {
    USER_LINKS.iter().filter_map(|l| match l.fate {
        Fate::Content(kind) => Some(kind),
        _ => None,
    })
}

/// Columns whose rows stay when their user is deleted but lose the link: infrastructure, and
/// content that is kept (or was created while the deletion ran).
fn disowned_columns() -> Vec<(&'static str, &'static str)> {
    USER_LINKS
        .iter()
        .filter(|l| matches!(l.fate, Fate::Infrastructure | Fate::Content(_)))
        .map(|l| (l.table, l.column))
        .collect()
}

impl App {
    /// The delete dialog's counts: one line per content kind.
    pub(crate) async fn owned_item_counts(&self, user: UserId) -> Result<Vec<ItemCount>, AppError> {
        let mut counts = Vec::new();
        for kind in content_kinds() {
            counts.push(ItemCount {
                kind: kind.name.to_owned(),
                count: (kind.count)(self, user).await?,
            });
        }
        Ok(counts)
    }

    /// Deletes a user's own content through each kind's service, after every kind agreed the
    /// actor may (so a refusal deletes nothing). Returns `(kind, deleted)` per kind.
    pub(crate) async fn delete_owned_items(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<Vec<(&'static str, u64)>, AppError> {
        for kind in content_kinds() {
            (kind.authorize_delete)(self, actor, user).await?;
        }
        let mut deleted = Vec::new();
        for kind in content_kinds() {
            deleted.push((kind.name, (kind.delete)(self, actor, user).await?));
        }
        Ok(deleted)
    }

    /// Deletes the account row and what belongs to it; infrastructure and kept content lose
    /// the link in the same transaction.
    pub(crate) async fn delete_account_row(&self, user: UserId) -> Result<bool, AppError> {
        Ok(self
            .store
            .delete_user(user, &disowned_columns(), &Self::admin_check())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_is_listed_once_and_named_as_a_user_column() {
        let mut seen = std::collections::BTreeSet::new();
        for l in USER_LINKS {
            assert!(
                seen.insert((l.table, l.column)),
                "{}.{} twice",
                l.table,
                l.column
            );
            assert!(names_a_user(l.column), "{}.{}", l.table, l.column);
        }
    }

    #[test]
    fn printers_and_webhooks_are_never_deleted_with_their_creator() {
        for table in ["printers", "webhooks"] {
            let l = USER_LINKS.iter().find(|l| l.table == table).unwrap();
            assert!(matches!(l.fate, Fate::Infrastructure), "{table}");
        }
        assert!(disowned_columns().contains(&("printers", "created_by")));
        assert!(content_kinds().all(|k| k.name != "printers" && k.name != "webhooks"));
    }
}
