//! `printwarden migrate`: create the data directory if needed, apply pending migrations, say
//! what was applied.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Settings;

pub(super) async fn migrate(settings: Settings) -> ExitCode {
    if let Err(e) = crate::serve::tls::create_private_dir(&settings.data_dir) {
        let _ = writeln!(std::io::stderr(), "printwarden: {e}");
        return ExitCode::FAILURE;
    }
    let result = async {
        let store = pw_store::Store::connect(settings.database_url.expose()).await?;
        let applied = store.migrate().await;
        store.close().await;
        applied
    }
    .await;
    match result {
        Ok(applied) if applied.is_empty() => {
            let _ = writeln!(std::io::stdout(), "database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for m in applied {
                let _ = writeln!(std::io::stdout(), "applied {:04} {}", m.version, m.name);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: migrate failed: {e}");
            ExitCode::FAILURE
        }
    }
}
