//! THE registry of sealed values (SPEC S8): every place in the database that holds a secret
//! sealed with the instance's key — table columns, whole settings and fields of JSON settings —
//! with the context each value is sealed for. The key status card, `printwarden keys rotate`,
//! the sealing of legacy plaintext rows at start and backups all walk [`SEALED`] and nothing
//! else.
//!
//! Invariant: a sealed column missing here is a secret that rotation leaves under the old key
//! (lost once the old key is gone) and that the status card never checks. The test
//! `every_secret_looking_column_is_registered` reads every migration and fails when a column
//! whose name looks like a secret is neither here nor in its list of unsealed columns (hashes,
//! digests) — add a new sealed column to both the migration and [`SEALED`].
//!
//! The store stays free of cryptography: it lists the stored texts ([`Store::sealed_values`])
//! and replaces them in one transaction, each only if it still holds what was read
//! ([`Store::replace_sealed`]); the application seals and opens.

use sqlx::Row;

use crate::{Store, StoreError};

/// Where one kind of sealed value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedAt {
    /// A nullable or non-null TEXT column of `table`, its rows identified by the integer
    /// column `id`.
    Column {
        /// Table.
        table: &'static str,
        /// Integer key column.
        id: &'static str,
        /// The sealed column.
        column: &'static str,
    },
    /// A whole `settings` value.
    Setting {
        /// The setting's key.
        key: &'static str,
    },
    /// One string field of the JSON object stored as a `settings` value.
    SettingField {
        /// The setting's key.
        key: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// The associated data a value is sealed with (see `pw_credentials::seal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// The same for every value of the kind.
    Fixed(&'static str),
    /// `{prefix}{row id}{suffix}`: binds the value to its row.
    PerRow(&'static str, &'static str),
}

/// One kind of sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedKind {
    /// Stable name, used in status reports (`printer_access_code`).
    pub kind: &'static str,
    /// Plain words for people ("Printer access codes").
    pub label: &'static str,
    /// Where the values are.
    pub at: SealedAt,
    context: Context,
}

impl SealedKind {
    /// The context the value of row `id` is sealed for (`id` is ignored by settings).
    #[must_use]
    pub fn context(&self, id: i64) -> String {
        match self.context {
            Context::Fixed(c) => c.to_owned(),
            Context::PerRow(prefix, suffix) => format!("{prefix}{id}{suffix}"),
        }
    }
}

/// Printer access codes (`printers.access_code`).
pub const PRINTER_ACCESS_CODE: SealedKind = SealedKind {
    kind: "printer_access_code",
    label: "Printer access codes",
    at: SealedAt::Column {
        table: "printers",
        id: "id",
        column: "access_code",
    },
    context: Context::PerRow("printer:", ":access_code"),
};

/// Webhook secrets, ntfy tokens and Discord URLs (`webhooks.secret`).
pub const WEBHOOK_SECRET: SealedKind = SealedKind {
    kind: "webhook_secret",
    label: "Webhook secrets",
    at: SealedAt::Column {
        table: "webhooks",
        id: "id",
        column: "secret",
    },
    context: Context::PerRow("webhook:", ":secret"),
};

/// Confirmed TOTP secrets (`user_mfa.totp_secret`).
pub const TOTP_SECRET: SealedKind = SealedKind {
    kind: "totp_secret",
    label: "Authenticator app (TOTP) secrets",
    at: SealedAt::Column {
        table: "user_mfa",
        id: "user_id",
        column: "totp_secret",
    },
    context: Context::Fixed("user_mfa.totp_secret"),
};

/// TOTP secrets of enrolments not yet confirmed (`user_mfa.totp_pending`).
pub const TOTP_PENDING: SealedKind = SealedKind {
    kind: "totp_pending",
    label: "Authenticator app secrets being set up",
    at: SealedAt::Column {
        table: "user_mfa",
        id: "user_id",
        column: "totp_pending",
    },
    context: Context::Fixed("user_mfa.totp_secret"),
};

/// The SMTP password (field `password_sealed` of the `email.smtp` setting).
pub const SMTP_PASSWORD: SealedKind = SealedKind {
    kind: "smtp_password",
    label: "Mail server (SMTP) password",
    at: SealedAt::SettingField {
        key: "email.smtp",
        field: "password_sealed",
    },
    context: Context::Fixed("settings.email.password"),
};

/// The LDAP bind password (field `bind_password_sealed` of the `auth.ldap` setting).
pub const LDAP_BIND_PASSWORD: SealedKind = SealedKind {
    kind: "ldap_bind_password",
    label: "Directory (LDAP) bind password",
    at: SealedAt::SettingField {
        key: "auth.ldap",
        field: "bind_password_sealed",
    },
    context: Context::Fixed("settings.ldap.bind_password"),
};

/// OpenID Connect client secrets (`oidc_providers.client_secret`, NULL for a public client).
pub const OIDC_CLIENT_SECRET: SealedKind = SealedKind {
    kind: "oidc_client_secret",
    label: "OpenID Connect client secrets",
    at: SealedAt::Column {
        table: "oidc_providers",
        id: "id",
        column: "client_secret",
    },
    context: Context::PerRow("oidc_provider:", ":client_secret"),
};

/// The pepper of one-time code digests (backup codes, emailed codes), setting `keys.pepper`.
/// Stored sealed so that it survives a key rotation: the digests cannot be recomputed.
pub const ONE_TIME_PEPPER: SealedKind = SealedKind {
    kind: "one_time_pepper",
    label: "Pepper of backup and emailed codes",
    at: SealedAt::Setting { key: "keys.pepper" },
    context: Context::Fixed("settings.keys.pepper"),
};

/// The passphrase of scheduled backups (field `passphrase_sealed` of the `backup.schedule`
/// setting): the server must open it unattended, so it is sealed, never hashed.
pub const BACKUP_PASSPHRASE: SealedKind = SealedKind {
    kind: "backup_passphrase",
    label: "Passphrase of scheduled backups",
    at: SealedAt::SettingField {
        key: "backup.schedule",
        field: "passphrase_sealed",
    },
    context: Context::Fixed("settings.backup.passphrase"),
};

/// Bambu Cloud access tokens (`cloud_links.access_token`, one per linked user): a token is a
/// password to the user's Bambu account and printers.
pub const CLOUD_ACCESS_TOKEN: SealedKind = SealedKind {
    kind: "cloud_access_token",
    label: "Bambu Cloud access tokens",
    at: SealedAt::Column {
        table: "cloud_links",
        id: "user_id",
        column: "access_token",
    },
    context: Context::PerRow("cloud_link:", ":access_token"),
};

/// Bambu Cloud refresh tokens (`cloud_links.refresh_token`, NULL when Bambu gave none).
pub const CLOUD_REFRESH_TOKEN: SealedKind = SealedKind {
    kind: "cloud_refresh_token",
    label: "Bambu Cloud refresh tokens",
    at: SealedAt::Column {
        table: "cloud_links",
        id: "user_id",
        column: "refresh_token",
    },
    context: Context::PerRow("cloud_link:", ":refresh_token"),
};

/// Every kind of sealed value. Status, rotation, the sealing of legacy rows and backups use
/// this list and nothing else.
pub const SEALED: &[SealedKind] = &[
    PRINTER_ACCESS_CODE,
    WEBHOOK_SECRET,
    TOTP_SECRET,
    TOTP_PENDING,
    SMTP_PASSWORD,
    LDAP_BIND_PASSWORD,
    OIDC_CLIENT_SECRET,
    ONE_TIME_PEPPER,
    BACKUP_PASSPHRASE,
    CLOUD_ACCESS_TOKEN,
    CLOUD_REFRESH_TOKEN,
];

/// One stored value of a [`SealedKind`] (sealed, or legacy plaintext).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Its kind.
    pub kind: SealedKind,
    /// The row's id (0 for settings).
    pub row: i64,
    /// The stored text.
    pub stored: String,
}

impl std::fmt::Debug for SealedValue {
    /// Never prints the stored text: it may be legacy plaintext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue")
            .field("kind", &self.kind.kind)
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

/// Why [`Store::replace_sealed`] rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// A value changed between reading and replacing it (someone wrote meanwhile).
    #[error(
        "a sealed value changed while it was being replaced ({kind}, row {row}); nothing was changed"
    )]
    Changed {
        /// Its kind.
        kind: &'static str,
        /// Its row.
        row: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Every stored value of every registered kind (`NULL`s skipped).
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>, StoreError> {
        let mut out = Vec::new();
        for kind in SEALED {
            match kind.at {
                SealedAt::Column { table, id, column } => {
                    // Names are constants of this module, never input.
                    let sql = format!(
                        "SELECT {id} AS id, {column} AS v FROM {table} WHERE {column} IS NOT NULL ORDER BY {id}"
                    );
                    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await?
                    {
                        out.push(SealedValue {
                            kind: *kind,
                            row: row.try_get("id")?,
                            stored: row.try_get("v")?,
                        });
                    }
                }
                SealedAt::Setting { key } => {
                    if let Some(stored) = self.setting(key).await? {
                        out.push(SealedValue {
                            kind: *kind,
                            row: 0,
                            stored,
                        });
                    }
                }
                SealedAt::SettingField { key, field } => {
                    if let Some(stored) = self
                        .setting(key)
                        .await?
                        .as_deref()
                        .and_then(|json| json_field(json, field))
                    {
                        out.push(SealedValue {
                            kind: *kind,
                            row: 0,
                            stored,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Replaces each `(value, new text)` in ONE transaction, each only if the database still
    /// holds the text that was read; otherwise nothing is changed. `after_each` runs after
    /// every replacement, inside the transaction (progress, and the crash test of rotation).
    pub async fn replace_sealed(
        &self,
        changes: &[(SealedValue, String)],
        now: i64,
        mut after_each: impl FnMut(usize),
    ) -> Result<(), ReplaceError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        for (done, (old, new)) in changes.iter().enumerate() {
            let changed = || ReplaceError::Changed {
                kind: old.kind.kind,
                row: old.row,
            };
            match old.kind.at {
                SealedAt::Column { table, id, column } => {
                    let sql = format!(
                        "UPDATE {table} SET {column} = $1 WHERE {id} = $2 AND {column} = $3"
                    );
                    let hit = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(new)
                        .bind(old.row)
                        .bind(&old.stored)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?
                        .rows_affected();
                    if hit != 1 {
                        return Err(changed());
                    }
                }
                SealedAt::Setting { key } => {
                    let hit = sqlx::query(
                        "UPDATE settings SET value = $1, updated_at = $2 WHERE key = $3 AND value = $4",
                    )
                    .bind(new)
                    .bind(now)
                    .bind(key)
                    .bind(&old.stored)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?
                    .rows_affected();
                    if hit != 1 {
                        return Err(changed());
                    }
                }
                SealedAt::SettingField { key, field } => {
                    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                    let json: Option<String> = row
                        .map(|r| r.try_get("value"))
                        .transpose()
                        .map_err(StoreError::from)?;
                    let Some(json) = json else {
                        return Err(changed());
                    };
                    let Ok(serde_json::Value::Object(mut object)) =
                        serde_json::from_str::<serde_json::Value>(&json)
                    else {
                        return Err(changed());
                    };
                    if object.get(field).and_then(|v| v.as_str()) != Some(old.stored.as_str()) {
                        return Err(changed());
                    }
                    object.insert(field.to_owned(), serde_json::Value::String(new.clone()));
                    let text = serde_json::Value::Object(object).to_string();
                    sqlx::query("UPDATE settings SET value = $1, updated_at = $2 WHERE key = $3")
                        .bind(text)
                        .bind(now)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                }
            }
            after_each(done + 1);
        }
        let done = tx.commit().await;
        // Printer access codes are among the re-sealed values.
        self.printers_changed();
        done.map_err(StoreError::from)?;
        Ok(())
    }

    /// Writes a registered whole-setting value if none exists yet (first writer wins, so two
    /// starts at once agree on one value); returns the stored text afterwards.
    pub async fn init_sealed_setting(
        &self,
        kind: &SealedKind,
        value: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let SealedAt::Setting { key } = kind.at else {
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "{} is not stored as a whole setting",
                kind.kind
            ))));
        };
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(self.setting(key).await?.unwrap_or_default())
    }
}

/// The string field `field` of a JSON object (none when absent, null or not a string).
fn json_field(json: &str, field: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()?
        .get(field)?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MIGRATIONS;

    /// Columns whose names look like secrets but are not sealed, with the reason. A new entry
    /// here needs the same care as a new sealed column: is it really not a secret?
    const NOT_SEALED: &[(&str, &str, &str)] = &[
        (
            "users",
            "password_hash",
            "a password hash (argon2id / imported), not reversible",
        ),
        ("sessions", "token_digest", "SHA-256 of the session token"),
        ("api_keys", "secret_digest", "SHA-256 of the key's secret"),
    ];

    /// Fragments of column names that suggest a secret.
    const SECRET_WORDS: &[&str] = &[
        "secret",
        "password",
        "passphrase",
        "access_code",
        "token",
        "credential",
        "private_key",
        "api_key",
        "bind_pw",
    ];

    /// A column name that suggests a secret (references to other rows, `…_id`, do not).
    fn looks_secret(column: &str) -> bool {
        !column.ends_with("_id") && SECRET_WORDS.iter().any(|w| column.contains(w))
    }

    /// `(table, column)` for every column the migrations create or add (SQLite dialect; the
    /// PostgreSQL files define the same columns, checked below).
    fn columns(sql: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let lines: Vec<String> = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or("").trim().to_owned())
            .collect();
        let mut table: Option<String> = None;
        for line in &lines {
            let lower = line.to_lowercase();
            let words: Vec<&str> = lower.split_whitespace().collect();
            if let Some(t) = table.clone() {
                if line.starts_with(')') {
                    table = None;
                    continue;
                }
                let Some(first) = words.first() else { continue };
                if [
                    "primary",
                    "unique",
                    "foreign",
                    "check",
                    "constraint",
                    ")",
                    "(",
                ]
                .contains(first)
                {
                    continue;
                }
                out.push((t, first.trim_matches('"').trim_end_matches(',').to_owned()));
                continue;
            }
            if words.len() >= 3 && words[0] == "create" && words.contains(&"table") {
                // CREATE [VIRTUAL] TABLE [IF NOT EXISTS] name (
                let name = words
                    .iter()
                    .skip_while(|w| **w != "table")
                    .nth(1)
                    .map(|w| {
                        if *w == "if" {
                            words
                                .iter()
                                .skip_while(|w| **w != "exists")
                                .nth(1)
                                .copied()
                                .unwrap_or("")
                        } else {
                            w
                        }
                    })
                    .unwrap_or("")
                    .trim_end_matches('(')
                    .to_owned();
                if lower.contains("virtual") {
                    continue;
                }
                if !line.trim_end().ends_with(");") {
                    table = Some(name);
                }
            } else if words.len() >= 6
                && words[0] == "alter"
                && words[1] == "table"
                && words[3] == "add"
                && words[4] == "column"
            {
                out.push((
                    words[2].to_owned(),
                    words[5].trim_end_matches([';', ',']).to_owned(),
                ));
            }
        }
        out
    }

    fn all_columns(postgres: bool) -> Vec<(String, String)> {
        MIGRATIONS
            .iter()
            .flat_map(|m| columns(if postgres { m.postgres } else { m.sqlite }))
            .collect()
    }

    #[test]
    fn the_column_reader_finds_known_columns() {
        // Proves the scan below sees something: known sealed and unsealed columns.
        for postgres in [false, true] {
            let cols = all_columns(postgres);
            for (t, c) in [
                ("printers", "access_code"),
                ("webhooks", "secret"),
                ("user_mfa", "totp_pending"),
                ("users", "password_hash"),
                ("settings", "value"),
            ] {
                assert!(
                    cols.contains(&(t.to_owned(), c.to_owned())),
                    "{t}.{c} not found (postgres: {postgres})"
                );
            }
            assert!(cols.len() > 100, "only {} columns read", cols.len());
        }
    }

    #[test]
    fn every_secret_looking_column_is_registered() {
        let registered: Vec<(&str, &str)> = SEALED
            .iter()
            .filter_map(|k| match k.at {
                SealedAt::Column { table, column, .. } => Some((table, column)),
                _ => None,
            })
            .collect();
        let mut missing = Vec::new();
        for postgres in [false, true] {
            for (table, column) in all_columns(postgres) {
                if !looks_secret(&column) {
                    continue;
                }
                let known = registered.contains(&(table.as_str(), column.as_str()))
                    || NOT_SEALED
                        .iter()
                        .any(|(t, c, _)| *t == table && *c == column);
                if !known && !missing.contains(&(table.clone(), column.clone())) {
                    missing.push((table, column));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{missing:?} look like secrets but are not in pw_store::sealed::SEALED (nor in NOT_SEALED \
             with a reason): a sealed column missing from the registry is skipped by key rotation and \
             lost with the old key"
        );
    }

    #[test]
    fn a_new_sealed_column_fails_the_scan() {
        // The scan above, against a migration that adds a sealed column without registering it.
        let cols = columns(
            "CREATE TABLE ldap_servers (\n    id INTEGER PRIMARY KEY,\n    bind_password TEXT\n);\n\
             ALTER TABLE printers ADD COLUMN cloud_token TEXT;",
        );
        assert_eq!(
            cols,
            vec![
                ("ldap_servers".to_owned(), "id".to_owned()),
                ("ldap_servers".to_owned(), "bind_password".to_owned()),
                ("printers".to_owned(), "cloud_token".to_owned()),
            ]
        );
        let flagged: Vec<_> = cols.iter().filter(|(_, c)| looks_secret(c)).collect();
        assert_eq!(flagged.len(), 2);
    }

    #[test]
    fn every_registered_column_exists_in_both_schemas() {
        for postgres in [false, true] {
            let cols = all_columns(postgres);
            for kind in SEALED {
                if let SealedAt::Column { table, id, column } = kind.at {
                    for c in [id, column] {
                        assert!(
                            cols.contains(&(table.to_owned(), c.to_owned())),
                            "{table}.{c} of {} not in the migrations (postgres: {postgres})",
                            kind.kind
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_unsealed_exception_exists() {
        let cols = all_columns(false);
        let stale: Vec<_> = NOT_SEALED
            .iter()
            .filter(|(t, c, _)| !cols.contains(&((*t).to_owned(), (*c).to_owned())))
            .collect();
        assert!(stale.is_empty(), "no such columns: {stale:?}");
    }

    #[test]
    fn kinds_are_unique_and_contexts_bind_rows() {
        let mut names: Vec<&str> = SEALED.iter().map(|k| k.kind).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SEALED.len());
        assert_eq!(PRINTER_ACCESS_CODE.context(12), "printer:12:access_code");
        assert_eq!(WEBHOOK_SECRET.context(3), "webhook:3:secret");
        assert_eq!(SMTP_PASSWORD.context(0), "settings.email.password");
    }
}
