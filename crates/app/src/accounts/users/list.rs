//! Reading users: the paged list (filtered in SQL), one user, and their views with groups.

use super::*;

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
        let cloud = self.store.cloud_linked_users().await?;
        Ok(users
            .into_iter()
            .map(|(u, ids)| {
                let two_factor = guarded.contains(&u.id);
                let linked = cloud.contains(&u.id);
                let mut view = user_view(u, &groups, |g| ids.contains(&g), two_factor);
                view.cloud_linked = linked;
                view
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
        let cloud = self.store.cloud_linked_users().await?;
        Ok(crate::Page {
            items: rows
                .into_iter()
                .map(|(u, ids, _)| {
                    let two_factor = guarded.contains(&u.id);
                    let linked = cloud.contains(&u.id);
                    let mut view = user_view(u, &groups, |g| ids.contains(&g), two_factor);
                    view.cloud_linked = linked;
                    view
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
        let cloud = self.store.cloud_linked_users().await?;
        Ok(users
            .into_iter()
            .map(|u| {
                let id = u.id;
                let mut view = user_view(
                    u,
                    &groups,
                    |g| memberships.contains(&(id, g)),
                    guarded.contains(&id),
                );
                view.cloud_linked = cloud.contains(&id);
                view
            })
            .collect())
    }
}
