//! Reads a Bambuddy database (SQLAlchemy models of maziggy/bambuddy 1.2.x: `users`,
//! `groups`, `user_groups`, `group_printers`, `group_locations`, `printers`, `print_archives`, and the counts of `library_files`
//! and `print_queue`) and maps its `resource:action` permissions.
//!
//! Invariant: a user is an administrator only the way Bambuddy itself decides it — the legacy
//! `role` is exactly `admin`, or they belong to the group named exactly `Administrators` —
//! and a group's rights map one string at a time through [`map_permission`], never by
//! resemblance.

use pw_domain::Permission as P;

use super::{
    Mapped, ReadError, Source, SourceArchive, SourceGroup, SourcePrinter, SourceUser, flag, opt,
    require_columns, text, time_ms,
};
use crate::SecretString;
use pw_store::SourceDb;

/// Bambuddy's built-in administrators' group (its `is_admin` compares the name exactly).
const ADMIN_GROUP: &str = "Administrators";

/// One Bambuddy permission string → printwarden's. Names that exist in both with the same
/// meaning map to themselves; the rest are listed with the reason they map to nothing.
pub(super) fn map_permission(p: &str) -> Mapped {
    match p {
        "printers:read" => Mapped::To(&[P::PrintersRead]),
        "printers:create" => Mapped::To(&[P::PrintersCreate]),
        "printers:update" => Mapped::To(&[P::PrintersUpdate]),
        "printers:delete" => Mapped::To(&[P::PrintersDelete]),
        "printers:control" => Mapped::To(&[P::PrintersControl]),
        "printers:files" => Mapped::To(&[P::PrintersFiles]),
        "printers:ams_rfid" => Mapped::To(&[P::PrintersAms]),
        "printers:clear_plate" => Mapped::To(&[P::PrintersClearPlate]),
        "archives:read_own" => Mapped::To(&[P::ArchivesReadOwn]),
        "archives:read_all" => Mapped::To(&[P::ArchivesReadAll]),
        "archives:create" => Mapped::To(&[P::ArchivesCreate]),
        "archives:update_own" => Mapped::To(&[P::ArchivesUpdateOwn]),
        "archives:update_all" => Mapped::To(&[P::ArchivesUpdateAll]),
        "archives:delete_own" => Mapped::To(&[P::ArchivesDeleteOwn]),
        "archives:delete_all" => Mapped::To(&[P::ArchivesDeleteAll]),
        "archives:reprint_own" => Mapped::To(&[P::ArchivesReprintOwn]),
        "archives:reprint_all" => Mapped::To(&[P::ArchivesReprintAll]),
        "archives:purge" => Mapped::To(&[P::ArchivesPurge]),
        "queue:read_own" => Mapped::To(&[P::QueueReadOwn]),
        "queue:read_all" => Mapped::To(&[P::QueueReadAll]),
        "queue:create" => Mapped::To(&[P::QueueCreate]),
        "queue:update_own" => Mapped::To(&[P::QueueUpdateOwn]),
        "queue:update_all" => Mapped::To(&[P::QueueUpdateAll]),
        "queue:delete_own" => Mapped::To(&[P::QueueDeleteOwn]),
        "queue:delete_all" => Mapped::To(&[P::QueueDeleteAll]),
        "library:read_own" => Mapped::To(&[P::LibraryReadOwn]),
        "library:read_all" => Mapped::To(&[P::LibraryReadAll]),
        "library:upload" => Mapped::To(&[P::LibraryUpload]),
        "library:update_own" => Mapped::To(&[P::LibraryUpdateOwn]),
        "library:update_all" => Mapped::To(&[P::LibraryUpdateAll]),
        "library:delete_own" => Mapped::To(&[P::LibraryDeleteOwn]),
        "library:delete_all" => Mapped::To(&[P::LibraryDeleteAll]),
        "library:purge" => Mapped::To(&[P::LibraryPurge]),
        "projects:read" => Mapped::To(&[P::ProjectsRead]),
        "projects:create" => Mapped::To(&[P::ProjectsCreate]),
        "projects:update" => Mapped::To(&[P::ProjectsUpdate]),
        "projects:delete" => Mapped::To(&[P::ProjectsDelete]),
        "camera:view" => Mapped::To(&[P::CameraView]),
        "notifications:read" => Mapped::To(&[P::NotificationsRead]),
        "notifications:create" => Mapped::To(&[P::NotificationsCreate]),
        "notifications:update" => Mapped::To(&[P::NotificationsUpdate]),
        "notifications:delete" => Mapped::To(&[P::NotificationsDelete]),
        "notifications:user_email" => Mapped::To(&[P::NotificationsUserEmail]),
        "system:read" => Mapped::To(&[P::SystemRead]),
        "settings:backup" => Mapped::To(&[P::SystemBackup]),
        "api_keys:create" => Mapped::To(&[P::ApiKeysCreate]),
        "users:read" => Mapped::To(&[P::UsersRead]),
        "groups:read" => Mapped::To(&[P::GroupsRead]),
        "users:create" | "users:update" | "users:delete" | "groups:create" | "groups:update"
        | "groups:delete" => Mapped::Nothing(
            "Bambuddy also requires the admin role for this, so it gave this group's members nothing",
        ),
        "queue:reorder" => Mapped::Nothing(
            "Bambuddy's server checks queue:update_all for reordering, so this alone allowed nothing",
        ),
        "archives:read" | "queue:read" | "library:read" => {
            Mapped::Nothing("a legacy string Bambuddy no longer checks")
        }
        "api_keys:read" | "api_keys:update" | "api_keys:delete" => Mapped::Nothing(
            "printwarden keeps key management to administrators (api_keys:read_all, api_keys:revoke_all)",
        ),
        _ => Mapped::Nothing("no equivalent in printwarden"),
    }
}

/// A Bambuddy print status → the archive's outcome (`None`: not a finished print).
fn outcome(status: &str) -> Option<&'static str> {
    match status.trim().to_ascii_lowercase().as_str() {
        "completed" | "finished" | "success" => Some("finished"),
        "failed" | "error" => Some("failed"),
        "cancelled" | "canceled" | "stopped" | "aborted" => Some("cancelled"),
        _ => None,
    }
}

pub(super) async fn read(db: &SourceDb) -> Result<Source, ReadError> {
    require_columns(
        db,
        "users",
        &["id", "username", "password_hash", "role", "is_active"],
    )
    .await?;
    require_columns(db, "groups", &["id", "name", "permissions", "is_system"]).await?;
    require_columns(db, "user_groups", &["user_id", "group_id"]).await?;
    require_columns(
        db,
        "printers",
        &[
            "id",
            "name",
            "serial_number",
            "ip_address",
            "access_code",
            "model",
        ],
    )
    .await?;
    let tables = db.tables().await?;
    let mut source = Source {
        schema: "Bambuddy 1.2 database (users, groups, user_groups, printers, print_archives)"
            .to_owned(),
        ..Source::default()
    };

    // Groups, with the name Bambuddy's own admin check uses.
    let group_rows = db
        .rows(
            "groups",
            &[
                "id",
                "name",
                "permissions",
                "is_system",
                "restrict_printers",
            ],
        )
        .await?;
    let mut admin_group_ids = Vec::new();
    // Bambuddy's printer limits (#1727): absent in older databases, where nothing is limited.
    let group_printers = if tables.iter().any(|t| t == "group_printers") {
        db.rows("group_printers", &["group_id", "printer_id"])
            .await?
    } else {
        Vec::new()
    };
    let group_locations = if tables.iter().any(|t| t == "group_locations") {
        db.rows("group_locations", &["group_id", "location"])
            .await?
    } else {
        Vec::new()
    };
    for r in &group_rows {
        let id = text(r, 0);
        let name = text(r, 1);
        let raw = text(r, 2);
        let permissions: Vec<String> = if raw.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&raw).map_err(|_| {
                ReadError::Corrupt(format!(
                    "the permissions of group `{name}` are not a JSON list of strings"
                ))
            })?
        };
        let admin = name == ADMIN_GROUP;
        if admin {
            admin_group_ids.push(id.clone());
        }
        let restricted_to = flag(r, 4, false).then(|| {
            group_printers
                .iter()
                .filter(|m| text(m, 0) == id)
                .map(|m| text(m, 1))
                .collect::<Vec<String>>()
        });
        if restricted_to.is_some() && group_locations.iter().any(|m| text(m, 0) == id) {
            source.unmapped.push(format!(
                "the locations group `{name}` is limited to: printwarden's locations are not \
                 imported, so the group reaches only the printers it lists by name"
            ));
        }
        source.groups.push(SourceGroup {
            key: id,
            name,
            permissions,
            admin,
            restricted_to,
        });
    }
    let memberships = db.rows("user_groups", &["user_id", "group_id"]).await?;
    let user_rows = db
        .rows(
            "users",
            &[
                "id",
                "username",
                "email",
                "password_hash",
                "role",
                "is_active",
                "auth_source",
            ],
        )
        .await?;
    let mut names = std::collections::BTreeMap::new();
    for r in &user_rows {
        let id = text(r, 0);
        let username = text(r, 1);
        names.insert(id.clone(), username.clone());
        let groups: Vec<String> = memberships
            .iter()
            .filter(|m| text(m, 0) == id)
            .map(|m| text(m, 1))
            .collect();
        // Exactly as Bambuddy decides it; `Admin`, `administrator` or a look-alike group name
        // is not an administrator there either.
        let admin = text(r, 4) == "admin" || groups.iter().any(|g| admin_group_ids.contains(g));
        let hash = match opt(r, 6).as_deref() {
            Some("ldap") | Some("oidc") => None,
            _ => opt(r, 3),
        };
        source.users.push(SourceUser {
            username,
            email: opt(r, 2),
            hash,
            active: flag(r, 5, true),
            admin,
            groups,
            note: None,
        });
    }

    let printer_rows = db
        .rows(
            "printers",
            &[
                "id",
                "name",
                "serial_number",
                "ip_address",
                "access_code",
                "model",
            ],
        )
        .await?;
    for r in &printer_rows {
        let code = text(r, 4);
        if code.starts_with("fernet:") {
            return Err(ReadError::Corrupt(format!(
                "the access code of printer `{}` is encrypted with Bambuddy's own key, which is \
                 not part of its database",
                text(r, 1)
            )));
        }
        source.printers.push(SourcePrinter {
            key: text(r, 0),
            name: text(r, 1),
            serial: text(r, 2),
            address: text(r, 3),
            access_code: SecretString::new(code),
            model: text(r, 5),
        });
    }

    if tables.iter().any(|t| t == "print_archives") {
        let rows = db
            .rows(
                "print_archives",
                &[
                    "printer_id",
                    "filename",
                    "status",
                    "started_at",
                    "completed_at",
                    "created_by_id",
                    "notes",
                    "print_name",
                ],
            )
            .await?;
        let mut unfinished = 0usize;
        for r in &rows {
            let (Some(printer), Some(outcome), Some(started)) = (
                opt(r, 0),
                outcome(&text(r, 2)),
                opt(r, 3).as_deref().and_then(time_ms),
            ) else {
                unfinished += 1;
                continue;
            };
            let ended = opt(r, 4).as_deref().and_then(time_ms).unwrap_or(started);
            let file = opt(r, 1).or_else(|| opt(r, 7)).unwrap_or_default();
            source.archives.push(SourceArchive {
                printer,
                file_name: file,
                started_at: started,
                ended_at: ended,
                outcome,
                started_by: opt(r, 5).and_then(|id| names.get(&id).cloned()),
                notes: text(r, 6),
            });
        }
        if unfinished > 0 {
            source.unmapped.push(format!(
                "{unfinished} Bambuddy archive entr(ies) without a printer, a start time or a \
                 finished state: left out"
            ));
        }
        source.unmapped.push(
            "the files, thumbnails, timelapses and photos of Bambuddy's archive: only the \
             entries are imported (the files stay in Bambuddy's data directory)"
                .to_owned(),
        );
    }
    for (table, what) in [
        ("library_files", "library file(s)"),
        ("print_queue", "queue item(s)"),
        ("api_keys", "API key(s)"),
        ("smart_plugs", "smart plug(s)"),
        ("spools", "spool(s)"),
    ] {
        if tables.iter().any(|t| t == table) {
            let n = db.rows(table, &["rowid"]).await?.len();
            if n > 0 {
                source.unmapped.push(format!(
                    "{n} Bambuddy {what}: {}",
                    match table {
                        "library_files" | "print_queue" =>
                            "not imported by this version (their files live in Bambuddy's data \
                             directory); add them again here",
                        "api_keys" =>
                            "only hashes are stored, so they cannot work here; create new keys",
                        _ => "no equivalent in printwarden",
                    }
                ));
            }
        }
    }
    Ok(source)
}
