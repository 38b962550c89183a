//! Print jobs started through printwarden: recorded before the start command (so the
//! printer's first report finds who started it) and forgotten when the command fails. What the
//! starter is told about the job lives in [`crate::notify::print_mail`].

use pw_domain::PrinterId;

use crate::{Actor, App, AppError};

impl App {
    /// Records a job about to start (before the start command, so its first report finds it).
    pub(crate) async fn record_print_job(
        &self,
        printer: PrinterId,
        actor: &Actor,
        file: &str,
    ) -> Result<i64, AppError> {
        Ok(self
            .store
            .insert_print_job(printer, actor.user_id, &actor.name, file, self.now())
            .await?)
    }

    /// Forgets a job whose start command failed.
    pub(crate) async fn forget_print_job(&self, id: i64) {
        if let Err(e) = self.store.delete_print_job(id).await {
            tracing::warn!(error = %e, "could not forget a print job that did not start");
        }
    }
}
