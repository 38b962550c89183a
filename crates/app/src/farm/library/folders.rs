//! Library folders: a tree without owners (like Bambuddy's). Anyone who may read the library
//! sees the whole tree (folder names are not content); creating needs `library:upload`,
//! renaming or moving `library:update_all`, deleting an empty folder `library:delete_own` or
//! `_all`.
//!
//! Invariants: a move never makes a cycle (the store walks the new parent's chain in the same
//! transaction); a folder holding files or folders is never deleted — the caller is told to
//! empty it first (contents are not moved silently, so nobody's files change folder without
//! them seeing it).

use pw_domain::{LibraryFolderId, Permission};
use pw_policy::{Action, Target};
use serde::{Deserialize, Deserializer, Serialize};

use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

const NAME_MAX: usize = 100;

/// Deserialises a field that is present (even `null`) as `Some(value)`; absent stays `None`
/// through `#[serde(default)]`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// A folder.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LibraryFolderView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: LibraryFolderId,
    /// Name.
    pub name: String,
    /// Parent; `null` = the top level.
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<LibraryFolderId>,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /api/v1/library/folders`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLibraryFolder {
    /// Name (1–100 characters).
    pub name: String,
    /// Parent folder; absent or `null` = the top level.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<LibraryFolderId>,
}

/// `PATCH /api/v1/library/folders/{id}`: rename and/or move.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLibraryFolder {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New parent; `null` = the top level.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<LibraryFolderId>>,
}

pub(crate) fn folder_name(raw: &str) -> Result<String, AppError> {
    let n = raw.trim();
    if n.is_empty()
        || n.chars().count() > NAME_MAX
        || pw_domain::has_hidden_chars(n)
        || n.contains(['/', '\\'])
    {
        return Err(AppError::BadRequest(format!(
            "A folder name must be 1–{NAME_MAX} characters, without slashes or control characters."
        )));
    }
    Ok(n.to_owned())
}

fn view(row: pw_store::LibraryFolderRow) -> LibraryFolderView {
    LibraryFolderView {
        id: row.id,
        name: row.name,
        parent_id: row.parent_id,
        created_at: crate::rfc3339(row.created_at),
    }
}

impl App {
    /// `GET /api/v1/library/folders`: the whole tree, by name.
    pub async fn library_folders(&self, actor: &Actor) -> Result<Vec<LibraryFolderView>, AppError> {
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::LibraryReadOwn),
                all: Permission::LibraryReadAll,
            },
            &Target::Global,
        )?;
        Ok(self
            .store
            .library_folders()
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// `POST /api/v1/library/folders`.
    pub async fn create_library_folder(
        &self,
        actor: &Actor,
        input: CreateLibraryFolder,
    ) -> Result<LibraryFolderView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryUpload),
            &Target::Global,
        )?;
        let name = folder_name(&input.name)?;
        let id = match self
            .store
            .insert_library_folder(input.parent_id, &name, self.now())
            .await
        {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::BadRequest(
                    "The parent folder does not exist.".into(),
                ));
            }
            other => other?,
        };
        self.audit(
            actor,
            AuditEvent::LibraryFolderCreate,
            Some(("library_folder", id.to_string())),
            true,
            serde_json::json!({"name": name, "parent_id": input.parent_id}),
        )
        .await;
        let row = self
            .store
            .library_folder(id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(row))
    }

    /// `PATCH /api/v1/library/folders/{id}`: rename and/or move; a move into the folder itself
    /// or below it is refused.
    pub async fn update_library_folder(
        &self,
        actor: &Actor,
        id: LibraryFolderId,
        input: UpdateLibraryFolder,
    ) -> Result<LibraryFolderView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LibraryUpdateAll),
            &Target::Global,
        )?;
        let name = input.name.as_deref().map(folder_name).transpose()?;
        match self
            .store
            .update_library_folder(id, name.as_deref(), input.parent_id, self.now())
            .await
        {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(AppError::NotFound),
            Ok(Err(())) => {
                return Err(AppError::BadRequest(
                    "A folder cannot be moved into itself or into one of its own folders.".into(),
                ));
            }
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::BadRequest(
                    "The parent folder does not exist.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            actor,
            AuditEvent::LibraryFolderUpdate,
            Some(("library_folder", id.to_string())),
            true,
            serde_json::json!({"name": name, "parent_id": input.parent_id}),
        )
        .await;
        let row = self
            .store
            .library_folder(id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(row))
    }

    /// `DELETE /api/v1/library/folders/{id}`: only an empty folder.
    pub async fn delete_library_folder(
        &self,
        actor: &Actor,
        id: LibraryFolderId,
    ) -> Result<(), AppError> {
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::LibraryDeleteOwn),
                all: Permission::LibraryDeleteAll,
            },
            &Target::Global,
        )?;
        let row = self
            .store
            .library_folder(id)
            .await?
            .ok_or(AppError::NotFound)?;
        let refused = || {
            AppError::Conflict(
                "This folder is not empty. Move or delete its files and folders first.".into(),
            )
        };
        if !self.store.library_folder_is_empty(id).await? {
            return Err(refused());
        }
        match self.store.delete_library_folder(id).await {
            Ok(true) => {}
            Ok(false) => return Err(AppError::NotFound),
            Err(pw_store::StoreError::Conflict) => return Err(refused()),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            actor,
            AuditEvent::LibraryFolderDelete,
            Some(("library_folder", id.to_string())),
            true,
            serde_json::json!({"name": row.name}),
        )
        .await;
        Ok(())
    }
}
