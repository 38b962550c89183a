//! `printwarden admin …`: recovery commands that work on the database directly (also while
//! the server runs). A password is read from standard input or generated and printed once;
//! it never appears in process arguments.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Settings;

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create a new member of Administrators. The password is read from one line of standard
    /// input, or else generated and printed once.
    CreateAdmin {
        /// The new administrator's username.
        username: String,
        /// Read the password from standard input instead of printing a generated one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (from standard input, or generated and printed once) and end all
    /// their sessions.
    ResetPassword {
        /// Whose password.
        username: String,
        /// Read the password from standard input instead of printing a generated one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factors (TOTP, backup codes, email codes) and end their sessions.
    ResetMfa {
        /// Whose second factors.
        username: String,
    },
}

/// A password for the operator: from stdin (one line), or generated and printed once.
fn password_for(from_stdin: bool) -> Result<(pw_app::SecretString, bool), String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if pw.is_empty() {
            return Err("no password on stdin".to_owned());
        }
        return Ok((pw_app::SecretString::new(pw), false));
    }
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    // 20 characters from 31 unambiguous ones (~99 bits): easy to type from a screen.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let pw: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok((pw_app::SecretString::new(pw), true))
}

/// Opens the configured database (migrated) and an application on it, for `admin` commands.
async fn admin_app(settings: &Settings) -> Result<(pw_store::Store, pw_app::App), String> {
    crate::serve::tls::create_private_dir(&settings.data_dir).map_err(|e| e.to_string())?;
    let store = pw_store::Store::connect(settings.database_url.expose())
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let app = pw_app::App::start(store.clone(), crate::serve::app_config(settings, None))
        .await
        .map_err(|e| e.to_string())?;
    Ok((store, app))
}

/// What an `admin` command does to the named user.
enum AdminOp<'a> {
    CreateAdmin(&'a pw_app::SecretString),
    ResetPassword(&'a pw_app::SecretString),
    ResetMfa,
}

/// Runs one `admin` operation; the error is the sentence to print.
async fn admin_op(settings: &Settings, username: &str, op: AdminOp<'_>) -> Result<(), String> {
    let (store, app) = admin_app(settings).await?;
    let outcome = match op {
        AdminOp::CreateAdmin(password) => app.create_admin_as_system(username, password).await,
        AdminOp::ResetPassword(password) => app.reset_password_as_system(username, password).await,
        AdminOp::ResetMfa => app.reset_mfa_as_system(username).await,
    };
    store.close().await;
    outcome.map(|_| ()).map_err(|e| match e {
        pw_app::AppError::NotFound => format!("there is no user `{username}`"),
        other => other.to_string(),
    })
}

async fn admin_reset_mfa(settings: Settings, username: &str) -> ExitCode {
    match admin_op(&settings, username, AdminOp::ResetMfa).await {
        Ok(_) => {
            let _ = writeln!(
                std::io::stdout(),
                "removed the second factors of `{username}`; all of their sessions have ended"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) async fn admin(settings: Settings, action: AdminAction) -> ExitCode {
    let (username, from_stdin, create) = match &action {
        AdminAction::CreateAdmin {
            username,
            password_stdin,
        } => (username.clone(), *password_stdin, true),
        AdminAction::ResetPassword {
            username,
            password_stdin,
        } => (username.clone(), *password_stdin, false),
        AdminAction::ResetMfa { username } => return admin_reset_mfa(settings, username).await,
    };
    let (password, generated) = match password_for(from_stdin) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            return ExitCode::from(2);
        }
    };
    let op = if create {
        AdminOp::CreateAdmin(&password)
    } else {
        AdminOp::ResetPassword(&password)
    };
    match admin_op(&settings, &username, op).await {
        Ok(_) => {
            let mut out = std::io::stdout();
            let what = if create {
                "created administrator"
            } else {
                "reset the password of"
            };
            let _ = writeln!(out, "{what} `{username}`");
            if generated {
                let _ = writeln!(out, "one-time password: {}", password.expose());
                let _ = writeln!(out, "sign in and change it now (Account → Password)");
            }
            if !create {
                let _ = writeln!(out, "all of their sessions have ended");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "printwarden: {e}");
            ExitCode::FAILURE
        }
    }
}
