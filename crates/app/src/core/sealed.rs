//! Secrets at rest (S8): every stored secret goes through [`App::seal`] and comes back through
//! [`App::open`]. The context names the field, so a sealed value copied into another column
//! does not open there.
//!
//! Invariant: with a sealing key nothing is written in plaintext; without one (read-only data
//! directory, logged loudly at start) values are stored as given and still open.

use pw_credentials::{SealingKey, SecretString, seal::is_sealed};

use crate::core::clock::random;
use crate::{App, AppError};

impl App {
    /// Seals `plaintext` for `context` (or keeps it as is when no sealing key exists).
    pub(crate) fn seal(&self, plaintext: &str, context: &str) -> Result<String, AppError> {
        match &self.config.sealing {
            Some(key) => Ok(key.seal(plaintext.as_bytes(), context, random()?)),
            None => Ok(plaintext.to_owned()),
        }
    }

    /// Opens a stored value sealed for `context`.
    pub(crate) fn open(&self, stored: &str, context: &str) -> Result<SecretString, AppError> {
        open_with(self.config.sealing.as_ref(), stored, context)
    }
}

/// Opens a stored value with `key` (what [`App::open`] does, for tasks that hold only the key).
pub(crate) fn open_with(
    key: Option<&SealingKey>,
    stored: &str,
    context: &str,
) -> Result<SecretString, AppError> {
    if !is_sealed(stored) {
        return Ok(SecretString::new(stored.to_owned()));
    }
    let key = key.ok_or_else(|| {
        AppError::Internal("a sealed secret exists but no sealing key is loaded".into())
    })?;
    let bytes = key
        .open(stored, context)
        .map_err(|e| AppError::Internal(Box::new(e)))?;
    String::from_utf8(bytes)
        .map(SecretString::new)
        .map_err(|e| AppError::Internal(Box::new(e)))
}
