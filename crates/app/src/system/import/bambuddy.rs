//! Reads a Bambuddy database (SQLAlchemy models of maziggy/bambuddy 1.2.x: `users`,
//! `groups`, `user_groups`, `group_printers`, `group_locations`, `printers`, `print_archives`,
//! `library_folders`, `library_files`, `library_tags`, `library_file_tags` and `print_queue`)
//! and maps its `resource:action` permissions.
//!
//! Verified against maziggy/bambuddy: `backend/app/models/{archive,library,print_queue}.py`
//! (columns, `deleted_at` = in the trash, queue `status` values `pending`, `printing`,
//! `completed`, `failed`, `skipped`, `cancelled`), `backend/app/core/config.py` (`base_dir` is
//! the data directory that holds `bambuddy.db`; `archive_dir` is `<base_dir>/archive`),
//! `backend/app/services/archive.py` (archive files under `archive/<printer id>/<time>_<name>/`,
//! `file_path` and `thumbnail_path` stored relative to `base_dir`) and
//! `backend/app/api/routes/library.py` (library files under `archive/library/files/<uuid>.<ext>`
//! relative to `base_dir`; files of external folders keep an absolute path outside it).
//!
//! Invariant: a user is an administrator only the way Bambuddy itself decides it — the legacy
//! `role` is exactly `admin`, or they belong to the group named exactly `Administrators` —
//! and a group's rights map one string at a time through [`map_permission`], never by
//! resemblance.

use pw_domain::Permission as P;

use std::collections::BTreeMap;

use super::{
    Mapped, ReadError, Source, SourceArchive, SourceFilament, SourceFolder, SourceGroup,
    SourceLibraryFile, SourcePrinter, SourceQueueItem, SourceUser, flag, opt, require_columns,
    text, time_ms,
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
    let mut names = BTreeMap::new();
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
        read_archives(db, &mut source, &names).await?;
    }
    if tables.iter().any(|t| t == "library_files") {
        read_library(db, &tables, &mut source, &names).await?;
    }
    if tables.iter().any(|t| t == "print_queue") {
        read_queue(db, &mut source, &names).await?;
    }
    for (table, what) in [
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

/// Bambuddy's tags of an archive entry: a comma-separated text (a JSON list is read too).
fn tag_list(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if raw.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(raw)
    {
        return list;
    }
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A `REAL` cell.
fn number(row: &[Option<String>], i: usize) -> Option<f64> {
    opt(row, i).and_then(|v| v.trim().parse::<f64>().ok())
}

async fn read_archives(
    db: &SourceDb,
    source: &mut Source,
    names: &BTreeMap<String, String>,
) -> Result<(), ReadError> {
    let printer_names: BTreeMap<String, String> = source
        .printers
        .iter()
        .map(|p| (p.key.clone(), p.name.clone()))
        .collect();
    let rows = db
        .rows(
            "print_archives",
            &[
                "id",
                "printer_id",
                "filename",
                "status",
                "started_at",
                "completed_at",
                "created_by_id",
                "notes",
                "print_name",
                "file_path",
                "thumbnail_path",
                "tags",
                "failure_reason",
                "filament_used_grams",
                "filament_type",
                "filament_color",
                "deleted_at",
                "timelapse_path",
                "photos",
                "is_favorite",
            ],
        )
        .await?;
    let (mut unfinished, mut trashed, mut media, mut favourites) = (0usize, 0usize, 0usize, 0usize);
    for r in &rows {
        if opt(r, 16).is_some() {
            trashed += 1;
            continue;
        }
        let (Some(outcome), Some(started)) =
            (outcome(&text(r, 3)), opt(r, 4).as_deref().and_then(time_ms))
        else {
            unfinished += 1;
            continue;
        };
        let ended = opt(r, 5).as_deref().and_then(time_ms).unwrap_or(started);
        let file = opt(r, 2).or_else(|| opt(r, 8)).unwrap_or_default();
        let printer = opt(r, 1).filter(|k| printer_names.contains_key(k));
        let printer_name = match (&printer, opt(r, 1)) {
            (Some(k), _) => printer_names.get(k).cloned().unwrap_or_default(),
            (None, Some(k)) => format!("Bambuddy printer {k}"),
            (None, None) => "unknown printer (Bambuddy)".to_owned(),
        };
        if opt(r, 17).is_some() || opt(r, 18).is_some_and(|p| p.trim() != "[]") {
            media += 1;
        }
        if flag(r, 19, false) {
            favourites += 1;
        }
        source.archives.push(SourceArchive {
            key: text(r, 0),
            printer,
            printer_name,
            file_name: file,
            started_at: started,
            ended_at: ended,
            outcome,
            started_by: opt(r, 6).and_then(|id| names.get(&id).cloned()),
            notes: text(r, 7),
            tags: tag_list(&text(r, 11)),
            error: opt(r, 12),
            filament: SourceFilament {
                grams: number(r, 13),
                kind: opt(r, 14),
                color: opt(r, 15),
            },
            file_path: opt(r, 9),
            thumbnail_path: opt(r, 10),
        });
    }
    if unfinished > 0 {
        source.unmapped.push(format!(
            "{unfinished} Bambuddy archive entr(ies) without a start time or a finished state: \
             left out"
        ));
    }
    if trashed > 0 {
        source.unmapped.push(format!(
            "{trashed} Bambuddy archive entr(ies) in its trash: left out"
        ));
    }
    if media > 0 {
        source.unmapped.push(format!(
            "the timelapses and photos of {media} Bambuddy archive entr(ies): not imported (the \
             entries, their printed files and plate images are)"
        ));
    }
    if favourites > 0 {
        source.unmapped.push(format!(
            "{favourites} Bambuddy archive entr(ies) marked as favourite: printwarden has no \
             favourites (tags and ratings instead)"
        ));
    }
    Ok(())
}

async fn read_library(
    db: &SourceDb,
    tables: &[String],
    source: &mut Source,
    names: &BTreeMap<String, String>,
) -> Result<(), ReadError> {
    require_columns(db, "library_files", &["id", "filename", "file_path"]).await?;
    let mut external_folders = Vec::new();
    if tables.iter().any(|t| t == "library_folders") {
        let rows = db
            .rows(
                "library_folders",
                &["id", "name", "parent_id", "is_external", "external_path"],
            )
            .await?;
        for r in &rows {
            if flag(r, 3, false) {
                external_folders.push(text(r, 0));
                source.unmapped.push(format!(
                    "Bambuddy folder `{}` is an external folder (a directory outside its data \
                     directory): not imported; upload its files to the library",
                    text(r, 1)
                ));
                continue;
            }
            source.folders.push(SourceFolder {
                key: text(r, 0),
                name: text(r, 1),
                parent: opt(r, 2),
            });
        }
    }
    // Tags (#1268 there): a global catalogue and a link table.
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if tables.iter().any(|t| t == "library_tags") && tables.iter().any(|t| t == "library_file_tags")
    {
        let catalogue: BTreeMap<String, String> = db
            .rows("library_tags", &["id", "name"])
            .await?
            .iter()
            .map(|r| (text(r, 0), text(r, 1)))
            .collect();
        for r in db.rows("library_file_tags", &["file_id", "tag_id"]).await? {
            if let Some(name) = catalogue.get(&text(&r, 1)) {
                tags.entry(text(&r, 0)).or_default().push(name.clone());
            }
        }
    }
    let rows = db
        .rows(
            "library_files",
            &[
                "id",
                "folder_id",
                "filename",
                "file_path",
                "created_by_id",
                "created_at",
                "deleted_at",
                "is_external",
            ],
        )
        .await?;
    let mut trashed = 0usize;
    for r in &rows {
        if opt(r, 6).is_some() {
            trashed += 1;
            continue;
        }
        let folder = opt(r, 1).filter(|f| !external_folders.contains(f));
        let key = text(r, 0);
        source.library.push(SourceLibraryFile {
            tags: tags.remove(&key).unwrap_or_default(),
            key,
            folder,
            name: text(r, 2),
            path: text(r, 3),
            owner: opt(r, 4).and_then(|id| names.get(&id).cloned()),
            created_at: opt(r, 5).as_deref().and_then(time_ms),
        });
    }
    if trashed > 0 {
        source.unmapped.push(format!(
            "{trashed} Bambuddy library file(s) in its trash: left out"
        ));
    }
    Ok(())
}

async fn read_queue(
    db: &SourceDb,
    source: &mut Source,
    names: &BTreeMap<String, String>,
) -> Result<(), ReadError> {
    require_columns(db, "print_queue", &["id", "status"]).await?;
    let rows = db
        .rows(
            "print_queue",
            &[
                "id",
                "status",
                "printer_id",
                "target_model",
                "target_location",
                "library_file_id",
                "archive_id",
                "plate_id",
                "position",
                "scheduled_time",
                "manual_start",
                "bed_levelling",
                "flow_cali",
                "timelapse",
                "use_ams",
                "ams_mapping",
                "created_by_id",
                "created_at",
            ],
        )
        .await?;
    let mut items = Vec::new();
    let mut other = 0usize;
    for r in &rows {
        if text(r, 1).trim() != "pending" {
            other += 1;
            continue;
        }
        let position = opt(r, 8)
            .and_then(|p| p.trim().parse::<i64>().ok())
            .unwrap_or(0);
        items.push((
            position,
            SourceQueueItem {
                key: text(r, 0),
                printer: opt(r, 2),
                model: opt(r, 3),
                location: opt(r, 4),
                library_file: opt(r, 5),
                archive: opt(r, 6),
                plate: opt(r, 7).and_then(|p| p.trim().parse::<i64>().ok()),
                not_before: opt(r, 9).as_deref().and_then(time_ms),
                manual_start: flag(r, 10, false),
                bed_levelling: flag(r, 11, true),
                flow_calibration: flag(r, 12, false),
                timelapse: flag(r, 13, false),
                use_ams: flag(r, 14, true),
                ams_mapping: opt(r, 15).is_some_and(|m| m.trim() != "[]"),
                created_by: opt(r, 16).and_then(|id| names.get(&id).cloned()),
                created_at: opt(r, 17).as_deref().and_then(time_ms),
            },
        ));
    }
    // Bambuddy's order: position, then id (rowid order kept by the stable sort).
    items.sort_by_key(|(p, _)| *p);
    source.queue = items.into_iter().map(|(_, i)| i).collect();
    if other > 0 {
        source.unmapped.push(format!(
            "{other} Bambuddy queue item(s) that are not waiting (printing, done, failed, skipped \
             or cancelled): left out; only pending items are imported"
        ));
    }
    Ok(())
}
