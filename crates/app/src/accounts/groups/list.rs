//! Reading groups and the permission catalogue.

use super::*;

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
                sign_in_requirement: g.sign_in_requirement,
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
}
