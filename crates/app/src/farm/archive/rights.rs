//! What a viewer may do with one archive entry, for the entry's page: its controls (notes,
//! tags, rating, photos; delete) render only for these rights.
//!
//! Invariant: the rights come from the same `pw_policy` decision the write use cases make
//! (`archive_allows` with the entry's owner and printer), never from the viewer's permission
//! list alone — `archives:update_own` on someone else's entry, or on a printer outside the
//! viewer's scope, shows no editor.

use pw_domain::Permission;
use serde::Serialize;

use super::ArchiveView;
use crate::{Actor, App, AppError};

/// The viewer's rights on one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArchiveRights {
    /// Change notes, tags and rating (and add photos).
    pub can_update: bool,
    /// Delete the entry.
    pub can_delete: bool,
}

impl App {
    /// `GET /archive/{id}`: the entry (404 unless the actor may read it) and what they may do
    /// with it.
    pub async fn archive_entry_with_rights(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(ArchiveView, ArchiveRights), AppError> {
        let row = self.archive_for(actor, id, None).await?;
        let rights = ArchiveRights {
            can_update: self.archive_allows(
                actor,
                &row,
                Permission::ArchivesUpdateOwn,
                Permission::ArchivesUpdateAll,
            ),
            can_delete: self.archive_allows(
                actor,
                &row,
                Permission::ArchivesDeleteOwn,
                Permission::ArchivesDeleteAll,
            ),
        };
        Ok((self.archive_view(row).await?, rights))
    }
}
