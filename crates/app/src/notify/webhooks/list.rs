//! Reading webhooks: the paged list (filtered in SQL) and the full list.

use super::*;

impl App {
    /// `GET /api/v1/webhooks`.
    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<WebhookView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::NotificationsRead),
            &Target::Global,
        )?;
        Ok(self
            .store
            .list_webhooks()
            .await?
            .into_iter()
            .map(|r| view(r, &self.backlog, self.now()))
            .collect())
    }

    /// `GET /api/v1/webhooks?limit=&cursor=`: one page of webhooks, oldest first.
    pub async fn webhooks_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<WebhookView>, AppError> {
        use crate::core::page::{Listing, PageRequest};
        self.require(
            actor,
            Action::Perform(Permission::NotificationsRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(Listing::Webhooks, params)?;
        let rows = self.store.webhooks_page(&page.store()).await?;
        let (rows, next) = page.finish(Listing::Webhooks, rows, |r| (String::new(), r.id.get()));
        Ok(crate::Page {
            items: rows
                .into_iter()
                .map(|r| view(r, &self.backlog, self.now()))
                .collect(),
            next,
        })
    }
}
