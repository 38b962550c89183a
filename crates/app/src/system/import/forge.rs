//! Reads a 3DPrintForge database (`data/dashboard.db` of skynett81/3dprintforge, migration
//! version 45 or later: `schema_version`, `user_roles` (v34), `users` (v34/v45), `printers`)
//! and maps its seven permission strings through printwarden's presets of the same names.
//!
//! Invariant: only a role that lists `*` or `admin` makes administrators. A user without a
//! role is NOT one here, although 3DPrintForge treats such a user as a full administrator
//! (a documented flaw of that tool, not an intent of the operator): they are imported
//! without rights and the report says so.

use pw_domain::{PRESETS, Permission};

use super::{
    Mapped, ReadError, Source, SourceGroup, SourcePrinter, SourceUser, opt, require_columns, text,
};
use crate::SecretString;
use pw_store::SourceDb;

/// The oldest schema the reader knows (users with TOTP columns, roles, API keys).
const MIN_VERSION: i64 = 45;

fn preset(name: &str) -> &'static [Permission] {
    PRESETS
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.permissions)
        .unwrap_or(&[])
}

/// One 3DPrintForge permission string → printwarden's (through the seeded preset of the same
/// name, which was written for exactly these roles).
pub(super) fn map_permission(p: &str) -> Mapped {
    match p {
        "view" => Mapped::To(preset("view")),
        "print" => Mapped::To(preset("print")),
        "queue" => Mapped::To(preset("queue")),
        "controls" => Mapped::To(preset("controls")),
        "filament" => {
            Mapped::Nothing("printwarden has no filament inventory (spools, NFC, Spoolman, prices)")
        }
        "macros" => Mapped::Nothing("printwarden has no G-code macros"),
        _ => Mapped::Nothing("no equivalent in printwarden"),
    }
}

/// Whether a role's permission list makes administrators in 3DPrintForge.
fn is_admin_role(permissions: &[String]) -> bool {
    permissions.iter().any(|p| p == "*" || p == "admin")
}

pub(super) async fn read(db: &SourceDb) -> Result<Source, ReadError> {
    require_columns(db, "schema_version", &["version"]).await?;
    let version = db
        .rows("schema_version", &["version"])
        .await?
        .iter()
        .filter_map(|r| text(r, 0).trim().parse::<i64>().ok())
        .max()
        .unwrap_or(0);
    if version < MIN_VERSION {
        return Err(ReadError::Corrupt(format!(
            "its schema is version {version}; printwarden reads version {MIN_VERSION} and later \
             (start 3DPrintForge once with a newer release to upgrade it)"
        )));
    }
    require_columns(db, "user_roles", &["id", "name", "permissions"]).await?;
    require_columns(db, "users", &["id", "username", "password_hash", "role_id"]).await?;
    require_columns(
        db,
        "printers",
        &["id", "name", "ip", "serial", "access_code", "model"],
    )
    .await?;
    let mut source = Source {
        schema: format!("3DPrintForge database, schema version {version}"),
        ..Source::default()
    };
    let roles = db
        .rows("user_roles", &["id", "name", "permissions"])
        .await?;
    for r in &roles {
        let name = text(r, 1);
        let raw = text(r, 2);
        let permissions: Vec<String> = if raw.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&raw).map_err(|_| {
                ReadError::Corrupt(format!(
                    "the permissions of role `{name}` are not a JSON list of strings"
                ))
            })?
        };
        source.groups.push(SourceGroup {
            key: text(r, 0),
            admin: is_admin_role(&permissions),
            name,
            permissions,
            restricted_to: None,
        });
    }
    let users = db
        .rows("users", &["id", "username", "password_hash", "role_id"])
        .await?;
    for r in &users {
        let role = opt(r, 3);
        let known = role
            .as_ref()
            .is_some_and(|id| source.groups.iter().any(|g| &g.key == id));
        let note = (!known).then(|| {
            "no role in 3DPrintForge (which would have treated them as a full administrator); \
             imported without rights: add them to a group"
                .to_owned()
        });
        source.users.push(SourceUser {
            username: text(r, 1),
            email: None,
            // 3DPrintForge compares a value without the `scrypt:` prefix as plaintext; such a
            // value is refused by the format check instead of being imported as a "hash".
            hash: opt(r, 2),
            active: true,
            admin: false,
            groups: role.into_iter().collect(),
            note,
        });
    }
    let printers = db
        .rows(
            "printers",
            &["id", "name", "ip", "serial", "access_code", "model", "type"],
        )
        .await?;
    let mut other_brands = 0usize;
    for r in &printers {
        // `type` names the brand of later versions (Moonraker, Prusa, …); empty means Bambu.
        let kind = text(r, 6).to_ascii_lowercase();
        if !(kind.is_empty() || kind == "bambu" || kind == "bambulab") {
            other_brands += 1;
            continue;
        }
        source.printers.push(SourcePrinter {
            key: text(r, 0),
            name: text(r, 1),
            serial: text(r, 3),
            address: text(r, 2),
            access_code: SecretString::new(text(r, 4)),
            model: text(r, 5),
        });
    }
    if other_brands > 0 {
        source.unmapped.push(format!(
            "{other_brands} 3DPrintForge printer(s) of other brands: printwarden drives Bambu Lab \
             printers only"
        ));
    }
    source.unmapped.push(
        "3DPrintForge's print history, inventory, queue, TOTP secrets and API keys: not \
         imported (second factors are set up again here; API keys are created anew)"
            .to_owned(),
    );
    Ok(source)
}
