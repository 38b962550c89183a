//! Reads a filament-bridge database (crzykidd/filament-bridge, Alembic revisions from
//! `9e504c864be4` on: the key/value table `bridge_config`, values JSON-encoded). It has one
//! account and no usernames, roles or printers: the account becomes the user
//! `filament-bridge` with its bcrypt hash.
//!
//! Invariant: that account gets no rights here. It administers a spool-sync tool, not a print
//! farm, so the source never said it may run printers (least privilege; the report tells the
//! operator to add it to a group).

use super::{ReadError, Source, SourceUser, require_columns, text};
use pw_store::SourceDb;

/// The username the single account gets.
pub(crate) const USERNAME: &str = "filament-bridge";

/// A `bridge_config` value: JSON-encoded text, or (older rows) the bare text.
fn decode(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        Ok(other) => other.to_string(),
        Err(_) => raw.to_owned(),
    }
}

pub(super) async fn read(db: &SourceDb) -> Result<Source, ReadError> {
    require_columns(db, "bridge_config", &["key", "value"]).await?;
    let revision = if db.tables().await?.iter().any(|t| t == "alembic_version") {
        db.rows("alembic_version", &["version_num"])
            .await?
            .first()
            .map(|r| text(r, 0))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mut source = Source {
        schema: if revision.is_empty() {
            "filament-bridge database (bridge_config)".to_owned()
        } else {
            format!("filament-bridge database, Alembic revision {revision}")
        },
        ..Source::default()
    };
    let rows = db.rows("bridge_config", &["key", "value"]).await?;
    let value = |key: &str| {
        rows.iter()
            .find(|r| text(r, 0) == key)
            .map(|r| decode(&text(r, 1)))
            .filter(|v| !v.is_empty())
    };
    match value("admin_password_hash") {
        Some(hash) => source.users.push(SourceUser {
            username: USERNAME.to_owned(),
            email: None,
            hash: Some(hash),
            active: true,
            admin: false,
            groups: Vec::new(),
            note: Some(
                "filament-bridge's only account administers spool syncing, not printers: \
                 imported without rights here, add it to a group"
                    .to_owned(),
            ),
        }),
        None => source.unmapped.push(
            "filament-bridge has no password set (authentication off or never set up): no \
             account to import"
                .to_owned(),
        ),
    }
    if value("api_token").is_some() {
        source.unmapped.push(
            "filament-bridge's API token: stored in plaintext there and without an owner or \
             scopes; not imported — create an API key here instead"
                .to_owned(),
        );
    }
    source.unmapped.push(
        "filament-bridge's Spoolman and FilamentDB links, mappings and sync log: printwarden \
         has no filament inventory"
            .to_owned(),
    );
    Ok(source)
}
