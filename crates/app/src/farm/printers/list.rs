//! Reading printers: the paged list, the full list for the events socket, and one printer by id.
//! The lists read the row cache (`rows.rs`) and apply the visibility filter of the caller to
//! it — the same filter the SQL query applies when a page is read from the database. A printer
//! the caller may not see answers 404.

use super::*;

impl App {
    /// `GET /api/v1/printers`: the printers the caller may read.
    pub async fn list_printers(&self, actor: &Actor) -> Result<Vec<PrinterView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        let filter = crate::core::page::printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        Ok(self
            .printers_filtered(&filter)
            .await?
            .iter()
            // The query already filters; the row check stays as a second lock.
            .filter(|row| self.may(actor, Permission::PrintersRead, row))
            .map(|row| self.view_for(actor, row))
            .collect())
    }

    /// `GET /api/v1/printers?limit=&cursor=`: one page of the printers the caller may read,
    /// by name. The scope filter runs in the query, so pages are full and never count hidden
    /// printers.
    pub async fn printers_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<PrinterView>, AppError> {
        use crate::core::page::{Listing, PageRequest};
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(Listing::Printers, params)?;
        let filter = crate::core::page::printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        let fetch = usize::try_from(page.limit + 1).unwrap_or(usize::MAX);
        // From the row cache; from the database when the cursor's row is gone.
        let rows = match self
            .printers_after(&filter, page.after.as_ref(), fetch)
            .await?
        {
            Some(rows) => rows,
            None => self.store.printers_page(&filter, &page.store()).await?,
        };
        let (rows, next) = page.finish(Listing::Printers, rows, |r| (r.name.clone(), r.id.get()));
        Ok(crate::Page {
            items: rows
                .iter()
                .filter(|row| self.may(actor, Permission::PrintersRead, row))
                .map(|row| self.view_for(actor, row))
                .collect(),
            next,
        })
    }

    /// `GET /api/v1/printers/{id}`.
    pub async fn get_printer(&self, actor: &Actor, id: PrinterId) -> Result<PrinterView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersRead)
            .await?;
        Ok(self.view_for(actor, &row))
    }
}
