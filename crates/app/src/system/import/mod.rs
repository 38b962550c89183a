//! Imports from other farm tools (issue 22 item 4): `printwarden import bambuddy|3dprintforge|
//! filament-bridge <path>`. Each tool's reader (`bambuddy`, `forge`, `filament_bridge`) turns
//! its store into one neutral [`Source`]; this module plans the import against what exists
//! here, reports it in words, and writes it in one transaction.
//!
//! Invariants:
//! - nothing half-imported: a corrupt source (unknown schema, a password hash printwarden
//!   cannot verify, two users whose names differ only in case, an invalid printer) is refused
//!   before anything is written, and the write itself is one transaction;
//! - idempotent by natural keys (username, group name, printer serial): what exists here is
//!   reported and never overwritten, so a second run imports nothing new;
//! - never more rights than the source gave: each foreign permission maps through a fixed
//!   table to printwarden permissions or to nothing (reported), an existing group is only
//!   reused when it holds no more than the mapping, and only a user the source itself made an
//!   administrator joins `Administrators` (threat: an import as a privilege escalation path);
//! - secrets: password hashes are copied as they are (verified and rehashed to argon2id at the
//!   first sign-in), access codes are sealed for their new row, and no report line carries
//!   either.

mod bambuddy;
mod content;
mod filament_bridge;
mod forge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pw_credentials::password::is_supported_hash;
use pw_domain::{Email, GroupName, Permission, PrinterScope, SystemGroup, Username};
use pw_policy::{Action, Target};
use pw_store::{
    GroupRow, ImportBatch, ImportGroup, ImportGroupRef, ImportPrinter, ImportPrinterRef, ImportRef,
    ImportUser, SourceDb, StoreError,
};
use serde::Serialize;

use crate::auth::sessions::rights_of;
use crate::farm::fleet::access_code_context;
use crate::farm::printers::{DEFAULT_MQTT_PORT, parse_access_code, parse_host, parse_serial};
use crate::{Actor, App, AppError, AuditEvent, SecretString};

/// FTPS and camera ports of a Bambu printer (the sources keep no ports).
const FTPS_PORT: u16 = 990;
const CAMERA_PORT: u16 = 6000;

/// The tools printwarden imports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportTool {
    /// maziggy/bambuddy: its SQLite database (`bambuddy.db`).
    Bambuddy,
    /// skynett81/3dprintforge: its SQLite database (`data/dashboard.db`).
    #[serde(rename = "3dprintforge")]
    PrintForge,
    /// crzykidd/filament-bridge: its SQLite database.
    FilamentBridge,
}

impl ImportTool {
    /// The tool's name as people write it.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            ImportTool::Bambuddy => "Bambuddy",
            ImportTool::PrintForge => "3DPrintForge",
            ImportTool::FilamentBridge => "filament-bridge",
        }
    }
}

/// A source's role or group, as its reader understood it.
#[derive(Debug, Clone)]
pub(crate) struct SourceGroup {
    /// The source's key for it (to match memberships).
    pub key: String,
    /// Its name there.
    pub name: String,
    /// Its permission strings there.
    pub permissions: Vec<String>,
    /// The source itself treats members as administrators.
    pub admin: bool,
    /// `Some`: limited to these printers (the source's keys) there.
    pub restricted_to: Option<Vec<String>>,
}

/// A source's user.
#[derive(Debug, Clone)]
pub(crate) struct SourceUser {
    /// Login name as stored there.
    pub username: String,
    /// Address.
    pub email: Option<String>,
    /// The stored hash (`None`: no local password there, e.g. a directory account).
    pub hash: Option<String>,
    /// Able to sign in there.
    pub active: bool,
    /// The source itself says this user is an administrator.
    pub admin: bool,
    /// Keys of the groups they belong to.
    pub groups: Vec<String>,
    /// What the report says about their rights, beside the groups (in words).
    pub note: Option<String>,
}

/// A source's printer.
#[derive(Debug, Clone)]
pub(crate) struct SourcePrinter {
    /// The source's key for it.
    pub key: String,
    /// Name.
    pub name: String,
    /// Serial.
    pub serial: String,
    /// Address as stored (an optional `:port` is the MQTT port).
    pub address: String,
    /// The access code (plaintext in every source).
    pub access_code: SecretString,
    /// Model.
    pub model: String,
}

/// A finished print the source recorded.
#[derive(Debug, Clone)]
pub(crate) struct SourceArchive {
    /// The source's key for it.
    pub key: String,
    /// Key of its printer (`None`: the source no longer has it).
    pub printer: Option<String>,
    /// The printer's name, kept when the printer is not here.
    pub printer_name: String,
    /// File name.
    pub file_name: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub ended_at: i64,
    /// `finished`, `failed` or `cancelled`.
    pub outcome: &'static str,
    /// Username of who started it there.
    pub started_by: Option<String>,
    /// Free text.
    pub notes: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// The filament it used, as far as the source knows.
    pub filament: SourceFilament,
    /// The printed file, relative to the source's data directory.
    pub file_path: Option<String>,
    /// The plate image, relative to the source's data directory.
    pub thumbnail_path: Option<String>,
}

/// What a source knows about a print's filament: a total and the materials and colours
/// (comma-separated when several).
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFilament {
    /// Grams in all.
    pub grams: Option<f64>,
    /// `PLA` or `PLA, PETG`.
    pub kind: Option<String>,
    /// `#FF8000` or `#FF8000,#000000`.
    pub color: Option<String>,
}

/// A library folder of the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceFolder {
    /// The source's key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Parent's key (`None`: top level).
    pub parent: Option<String>,
}

/// A library file of the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceLibraryFile {
    /// The source's key.
    pub key: String,
    /// Folder's key (`None`: top level).
    pub folder: Option<String>,
    /// File name.
    pub name: String,
    /// Where its content is, relative to the source's data directory.
    pub path: String,
    /// Username of the uploader there.
    pub owner: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Unix ms.
    pub created_at: Option<i64>,
}

/// A waiting queue item of the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceQueueItem {
    /// The source's key.
    pub key: String,
    /// Target printer's key.
    pub printer: Option<String>,
    /// Target model.
    pub model: Option<String>,
    /// Target location (a name there).
    pub location: Option<String>,
    /// The library file's key.
    pub library_file: Option<String>,
    /// The archive entry's key (a reprint).
    pub archive: Option<String>,
    /// Plate.
    pub plate: Option<i64>,
    /// Unix ms.
    pub not_before: Option<i64>,
    /// Waits for a person to start it there.
    pub manual_start: bool,
    /// Options.
    pub bed_levelling: bool,
    /// Options.
    pub flow_calibration: bool,
    /// Options.
    pub timelapse: bool,
    /// Options.
    pub use_ams: bool,
    /// It had a filament → tray mapping.
    pub ams_mapping: bool,
    /// Username of who queued it.
    pub created_by: Option<String>,
    /// Unix ms.
    pub created_at: Option<i64>,
}

/// Everything a reader found, in neutral form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    /// The schema version read, in words.
    pub schema: String,
    /// Roles or groups.
    pub groups: Vec<SourceGroup>,
    /// Users.
    pub users: Vec<SourceUser>,
    /// Printers.
    pub printers: Vec<SourcePrinter>,
    /// Finished prints.
    pub archives: Vec<SourceArchive>,
    /// Library folders.
    pub folders: Vec<SourceFolder>,
    /// Library files.
    pub library: Vec<SourceLibraryFile>,
    /// Waiting queue items, in queue order.
    pub queue: Vec<SourceQueueItem>,
    /// What the source holds that has no equivalent here, in words.
    pub unmapped: Vec<String>,
}

/// A refusal: the source cannot be imported as it is; nothing was written.
pub(crate) fn corrupt(tool: ImportTool, why: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(format!(
        "This {} store cannot be imported: {why}. Nothing was imported.",
        tool.label()
    ))
}

/// How one foreign permission maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapped {
    /// To these printwarden permissions.
    To(&'static [Permission]),
    /// To nothing; the reason in words.
    Nothing(&'static str),
}

/// What an import did or would do, in words and counts. Never a secret.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The tool.
    pub tool: ImportTool,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// The source's schema as read.
    pub schema: String,
    /// Users created (or to be created).
    pub users_created: usize,
    /// Groups created.
    pub groups_created: usize,
    /// Printers created.
    pub printers_created: usize,
    /// Archive entries created.
    pub archives_created: usize,
    /// Library folders created.
    pub folders_created: usize,
    /// Library files created.
    pub library_files_created: usize,
    /// Queue items created.
    pub queue_items_created: usize,
    /// Files of the source read (hashed; copied into the content store unless a dry run,
    /// and kept there when a row names them).
    pub files_read: usize,
    /// Their bytes.
    pub bytes_read: u64,
    /// Items refused or imported without a file, with the reason: a path leading outside the
    /// source's data directory, a missing file, a file that is not a print file, a queue item
    /// that cannot be mapped.
    pub problems: Vec<String>,
    /// What is (or would be) imported, one sentence each.
    pub imported: Vec<String>,
    /// What exists here already and was left as it is.
    pub skipped: Vec<String>,
    /// What has no equivalent in printwarden and was left out.
    pub no_equivalent: Vec<String>,
}

impl ImportReport {
    /// The report as plain text for the terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let head = if self.dry_run {
            "Dry run: nothing was written. This is what an import would do."
        } else {
            "Import done."
        };
        out.push_str(&format!(
            "{head}\nSource: {} ({}).\n{} user(s), {} group(s), {} printer(s), {} archive entr(ies) {}.\n",
            self.tool.label(),
            self.schema,
            self.users_created,
            self.groups_created,
            self.printers_created,
            self.archives_created,
            if self.dry_run {
                "would be imported"
            } else {
                "imported"
            }
        ));
        out.push_str(&format!(
            "{} library folder(s), {} library file(s), {} queue item(s) {}; {} file(s) ({} bytes) {}.\n",
            self.folders_created,
            self.library_files_created,
            self.queue_items_created,
            if self.dry_run {
                "would be imported"
            } else {
                "imported"
            },
            self.files_read,
            self.bytes_read,
            if self.dry_run {
                "read, nothing copied"
            } else {
                "read into the content store"
            }
        ));
        for (title, lines) in [
            (
                "Problems (these items were refused or imported without their file)",
                &self.problems,
            ),
            ("Imported", &self.imported),
            ("Already here, left as it is", &self.skipped),
            (
                "No equivalent in printwarden, left out",
                &self.no_equivalent,
            ),
        ] {
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("\n{title}:\n"));
            for l in lines {
                out.push_str(&format!("  - {l}\n"));
            }
        }
        out
    }
}

/// The planned write and its report.
struct Plan {
    batch: ImportBatch,
    access_codes: Vec<SecretString>,
    report: ImportReport,
}

/// The mapped permission set of a source group, and the report lines of what did not map.
fn map_group(
    tool: ImportTool,
    group: &SourceGroup,
    no_equivalent: &mut BTreeSet<String>,
) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for p in &group.permissions {
        match map_permission(tool, p) {
            Mapped::To(list) => out.extend(list.iter().copied()),
            Mapped::Nothing(why) => {
                no_equivalent.insert(format!(
                    "{} permission `{p}` (group `{}`): {why}",
                    tool.label(),
                    group.name
                ));
            }
        }
    }
    out
}

fn map_permission(tool: ImportTool, p: &str) -> Mapped {
    match tool {
        ImportTool::Bambuddy => bambuddy::map_permission(p),
        ImportTool::PrintForge => forge::map_permission(p),
        ImportTool::FilamentBridge => Mapped::Nothing("filament-bridge has no permissions"),
    }
}

/// `127.0.0.1` or `host:port` (the port is the MQTT port; printers behind a port forward).
fn split_address(tool: ImportTool, address: &str) -> Result<(String, u16), AppError> {
    let a = address.trim();
    let (host, port) = match a.rsplit_once(':') {
        // One colon: `host:port`. More: an IPv6 address without a port.
        Some((h, p)) if !h.contains(':') => {
            let port = p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                corrupt(tool, format!("the printer address `{a}` has a bad port"))
            })?;
            (h, port)
        }
        _ => (a, DEFAULT_MQTT_PORT),
    };
    let host = parse_host(host)
        .map_err(|_| corrupt(tool, format!("the printer address `{a}` is not an address")))?;
    Ok((host, port))
}

/// Reads and checks the source (no writes anywhere).
async fn read_source(tool: ImportTool, path: &Path) -> Result<Source, AppError> {
    if !path.is_file() {
        return Err(AppError::BadRequest(format!(
            "There is no file at {}: give the path of the {} database file.",
            path.display(),
            tool.label()
        )));
    }
    let db = SourceDb::open(path).await.map_err(|e| {
        tracing::info!(error = %e, "import source did not open");
        corrupt(tool, "the file is not an SQLite database")
    })?;
    let read = match tool {
        ImportTool::Bambuddy => bambuddy::read(&db).await,
        ImportTool::PrintForge => forge::read(&db).await,
        ImportTool::FilamentBridge => filament_bridge::read(&db).await,
    };
    db.close().await;
    read.map_err(|e| match e {
        ReadError::Corrupt(why) => corrupt(tool, why),
        ReadError::Store(e) => {
            tracing::info!(error = %e, "import source could not be read");
            corrupt(tool, "its tables could not be read")
        }
    })
}

/// Why a reader stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The source is not what the reader expects; the words say why.
    Corrupt(String),
    /// The file could not be read.
    Store(StoreError),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

/// Checks that `table` has every column in `required`.
pub(crate) async fn require_columns(
    db: &SourceDb,
    table: &str,
    required: &[&str],
) -> Result<(), ReadError> {
    let present = db.columns(table).await?;
    if present.is_empty() {
        return Err(ReadError::Corrupt(format!("it has no `{table}` table")));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    if !missing.is_empty() {
        return Err(ReadError::Corrupt(format!(
            "its `{table}` table lacks the column(s) {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// A cell as text (`""` for NULL).
pub(crate) fn text(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

/// A cell as an optional non-empty text.
pub(crate) fn opt(row: &[Option<String>], i: usize) -> Option<String> {
    row.get(i)
        .cloned()
        .flatten()
        .filter(|s| !s.trim().is_empty())
}

/// A cell as a boolean (`1`/`true`); NULL is `default`.
pub(crate) fn flag(row: &[Option<String>], i: usize, default: bool) -> bool {
    match row.get(i).cloned().flatten() {
        None => default,
        Some(v) => matches!(v.trim(), "1" | "true" | "TRUE" | "True"),
    }
}

/// A SQLAlchemy or SQLite time (`2026-05-01 12:00:00[.ffffff]`, or RFC 3339) as unix ms,
/// read as UTC when it carries no offset.
pub(crate) fn time_ms(value: &str) -> Option<i64> {
    let v = value.trim().replacen(' ', "T", 1);
    let has_offset = v.ends_with('Z') || v.get(19..).is_some_and(|t| t.contains(['+', '-']));
    let v = if has_offset { v } else { format!("{v}Z") };
    crate::parse_rfc3339(&v)
}

impl App {
    /// `printwarden import <tool> <path> [--dry-run]`: reads the source, plans against what
    /// exists here, and (unless `dry_run`) writes the plan in one transaction. The actor must
    /// be able to hand out every right an import can grant (it can make administrators), so
    /// in practice it is the CLI's system actor or an administrator.
    pub async fn import_from(
        &self,
        actor: &Actor,
        tool: ImportTool,
        path: &Path,
        dry_run: bool,
    ) -> Result<ImportReport, AppError> {
        for p in [
            Permission::UsersCreate,
            Permission::GroupsCreate,
            Permission::PrintersCreate,
            Permission::ArchivesCreate,
            Permission::LibraryUpload,
            Permission::QueueCreate,
        ] {
            self.require(actor, Action::Perform(p), &Target::Global)?;
        }
        let groups = self.store.list_groups().await?;
        let admins: Vec<GroupRow> = groups
            .iter()
            .filter(|g| {
                g.is_system && g.name.key() == SystemGroup::Administrators.name().to_lowercase()
            })
            .cloned()
            .collect();
        self.check_may_grant(actor, &rights_of(&admins)).await?;
        let source = read_source(tool, path).await?;
        // Bambuddy records its files relative to its data directory, the one holding its
        // database.
        let root = path
            .parent()
            .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
        let mut files = content::Files::new(
            &root,
            self.library_blobs.as_deref(),
            dry_run,
            self.config.library.max_upload_bytes,
        );
        // Held from the first stored blob until the rows naming it are written (or the blobs
        // released again): no release elsewhere can take content this import is about to name.
        let held = self.blob_refs().await;
        let planned = self.plan(tool, source, &groups, dry_run, &mut files).await;
        let plan = match planned {
            Ok(plan) => plan,
            Err(e) => {
                self.release_blobs(&held, &files.stored).await?;
                return Err(e);
            }
        };
        if dry_run {
            return Ok(plan.report);
        }
        let Plan {
            batch,
            access_codes,
            mut report,
        } = plan;
        let mut seal_error = None;
        let ids = self
            .store
            .apply_import(
                &batch,
                |id, i| {
                    let code = access_codes.get(i).ok_or(StoreError::Conflict)?;
                    self.seal(code.expose(), &access_code_context(id))
                        .map_err(|e| {
                            seal_error = Some(e.to_string());
                            StoreError::Conflict
                        })
                },
                self.now(),
            )
            .await;
        // What this run stored and no row names (all of it when the write failed; a file read
        // for an item refused after reading, such as a text file that is no print file) goes
        // again.
        self.release_blobs(&held, &files.stored).await?;
        drop(held);
        let ids = match ids {
            Ok(ids) => ids,
            Err(StoreError::Conflict) => {
                if let Some(e) = seal_error {
                    tracing::warn!(error = %e, "import: sealing an access code failed");
                    return Err(AppError::Internal("sealing an access code failed".into()));
                }
                return Err(AppError::Conflict(
                    "Something with the same name or serial was added here while the import ran. \
                     Nothing was imported; run the import again."
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        report.archives_created = ids.archives;
        report.folders_created = ids.folders;
        report.library_files_created = ids.library;
        report.queue_items_created = ids.queue;
        for (g, id) in batch.groups.iter().zip(&ids.groups) {
            self.audit(
                actor,
                AuditEvent::GroupCreate,
                Some(("group", id.to_string())),
                true,
                serde_json::json!({ "name": g.name.as_str(), "permissions": g.permissions, "import": tool }),
            )
            .await;
        }
        for (u, id) in batch.users.iter().zip(&ids.users) {
            self.audit(
                actor,
                AuditEvent::UserCreate,
                Some(("user", id.to_string())),
                true,
                serde_json::json!({ "username": u.username.as_str(), "import": tool }),
            )
            .await;
        }
        for (p, id) in batch.printers.iter().zip(&ids.printers) {
            self.audit(
                actor,
                AuditEvent::PrinterCreate,
                Some(("printer", id.to_string())),
                true,
                serde_json::json!({ "name": p.name, "serial": p.serial, "host": p.host, "import": tool }),
            )
            .await;
        }
        Ok(report)
    }

    async fn plan(
        &self,
        tool: ImportTool,
        source: Source,
        groups: &[GroupRow],
        dry_run: bool,
        files: &mut content::Files<'_>,
    ) -> Result<Plan, AppError> {
        let mut report = ImportReport {
            tool,
            dry_run,
            schema: source.schema.clone(),
            users_created: 0,
            groups_created: 0,
            printers_created: 0,
            archives_created: 0,
            folders_created: 0,
            library_files_created: 0,
            queue_items_created: 0,
            files_read: 0,
            bytes_read: 0,
            problems: Vec::new(),
            imported: Vec::new(),
            skipped: Vec::new(),
            no_equivalent: source.unmapped.clone(),
        };
        let mut no_equivalent = BTreeSet::new();
        let mut batch = ImportBatch::default();

        // 1. Check the whole source first: a refusal writes nothing.
        let mut seen = BTreeMap::new();
        for u in &source.users {
            let name = Username::parse(&u.username).map_err(|e| {
                corrupt(
                    tool,
                    format!("the username `{}` is not valid here ({e})", u.username),
                )
            })?;
            if let Some(other) = seen.insert(name.key(), u.username.clone()) {
                return Err(corrupt(
                    tool,
                    format!(
                        "the usernames `{other}` and `{}` differ only in case, and printwarden \
                         compares names without case",
                        u.username
                    ),
                ));
            }
            if let Some(h) = &u.hash
                && !is_supported_hash(h)
            {
                return Err(corrupt(
                    tool,
                    format!(
                        "the password of `{}` is stored in a format printwarden cannot verify \
                         (known: PBKDF2-SHA256 of passlib, 3DPrintForge scrypt, bcrypt, argon2id)",
                        u.username
                    ),
                ));
            }
        }
        let mut serials = BTreeSet::new();
        let mut printers = Vec::new();
        for p in &source.printers {
            let serial = parse_serial(&p.serial).map_err(|_| {
                corrupt(
                    tool,
                    format!("the printer `{}` has no valid serial", p.name),
                )
            })?;
            if !serials.insert(serial.clone()) {
                return Err(corrupt(tool, format!("the serial {serial} appears twice")));
            }
            let (host, port) = split_address(tool, &p.address)?;
            parse_access_code(&p.access_code).map_err(|_| {
                corrupt(
                    tool,
                    format!("the printer `{}` has no valid access code", p.name),
                )
            })?;
            printers.push((p, serial, host, port));
        }

        // 2. Printers by serial (before groups: a scoped group names them).
        let mut codes = Vec::new();
        let mut printer_index = BTreeMap::new();
        let mut existing_printers = BTreeMap::new();
        let mut printers_here = BTreeMap::new();
        let here = self.store.list_printers().await?;
        for (p, serial, host, port) in printers {
            if let Some(x) = here.iter().find(|x| x.serial == serial) {
                existing_printers.insert(p.key.clone(), x.id);
                printers_here.insert(p.key.clone(), (x.id, x.name.clone()));
                report.skipped.push(format!(
                    "printer `{}` ({serial}): a printer with that serial exists here already; not \
                     changed (its archive entries and queue items go to it)",
                    p.name
                ));
                continue;
            }
            let name: String = p.name.trim().chars().take(100).collect();
            let name = if name.is_empty() {
                serial.clone()
            } else {
                name
            };
            report.imported.push(format!(
                "printer `{name}` ({serial}) at {host}:{port}; its access code sealed, its \
                 certificate pinned at first contact"
            ));
            printer_index.insert(p.key.clone(), batch.printers.len());
            codes.push(p.access_code.clone());
            batch.printers.push(ImportPrinter {
                name,
                serial,
                host,
                model: p.model.chars().take(32).collect(),
                ports: (port, FTPS_PORT, CAMERA_PORT),
            });
        }
        // 3. Groups: mapped rights; administrators' groups become `Administrators`.
        let admin_group = groups
            .iter()
            .find(|g| {
                g.is_system
                    && SystemGroup::from_key(&g.name.key()) == Some(SystemGroup::Administrators)
            })
            .map(|g| g.id)
            .ok_or_else(|| AppError::Internal("the Administrators group is missing".into()))?;
        let mut group_refs: BTreeMap<String, Option<ImportGroupRef>> = BTreeMap::new();
        for g in &source.groups {
            if g.admin {
                group_refs.insert(g.key.clone(), Some(ImportGroupRef::Existing(admin_group)));
                report.imported.push(format!(
                    "{} group `{}` makes its members administrators there: they join Administrators",
                    tool.label(),
                    g.name
                ));
                continue;
            }
            // A group limited to some printers keeps that limit as a printer scope; one
            // whose printers are all missing is left out (an empty scope would mean
            // "everywhere").
            let scope: Option<Vec<ImportPrinterRef>> = g.restricted_to.as_ref().map(|keys| {
                keys.iter()
                    .filter_map(|k| {
                        printer_index
                            .get(k)
                            .map(|i| ImportPrinterRef::New(*i))
                            .or_else(|| {
                                existing_printers
                                    .get(k)
                                    .map(|id| ImportPrinterRef::Existing(*id))
                            })
                    })
                    .collect()
            });
            if scope.as_ref().is_some_and(Vec::is_empty) {
                group_refs.insert(g.key.clone(), None);
                no_equivalent.insert(format!(
                    "{} group `{}` is limited to printers none of which is imported; left out, \
                     its members are imported without it",
                    tool.label(),
                    g.name
                ));
                continue;
            }
            let mapped = map_group(tool, g, &mut no_equivalent);
            let local = format!("{} ({})", g.name.trim(), tool.label());
            let name = GroupName::parse(&local).map_err(|e| {
                corrupt(
                    tool,
                    format!("the group name `{}` is not valid here ({e})", g.name),
                )
            })?;
            if let Some(existing) = groups.iter().find(|x| x.name.key() == name.key()) {
                // Reused only when it holds no more than the mapping: an administrator may
                // have widened it since, and new members must not inherit that.
                let holds: BTreeSet<Permission> = existing
                    .permissions
                    .iter()
                    .filter_map(|p| Permission::parse(p))
                    .collect();
                // Its scope may be no wider than the mapping's: none only where the source
                // had no limit, else printers that the mapping names (all exist by now).
                let reach_ok = match (&scope, &existing.scope) {
                    (None, None) => true,
                    (Some(refs), Some(json)) => serde_json::from_str::<PrinterScope>(json)
                        .is_ok_and(|s| {
                            s.locations.is_empty()
                                && s.printers
                                    .iter()
                                    .all(|id| refs.contains(&ImportPrinterRef::Existing(*id)))
                        }),
                    _ => false,
                };
                let same_kind =
                    !existing.is_system && reach_ok && existing.permissions.len() == holds.len();
                if same_kind && holds.is_subset(&mapped) {
                    group_refs.insert(g.key.clone(), Some(ImportGroupRef::Existing(existing.id)));
                    report.skipped.push(format!(
                        "group `{local}` exists already and was kept as it is"
                    ));
                } else {
                    group_refs.insert(g.key.clone(), None);
                    report.skipped.push(format!(
                        "group `{local}` exists here with other rights: left as it is, and new \
                         members from {} do not join it",
                        tool.label()
                    ));
                }
                continue;
            }
            let permissions: Vec<&'static str> = mapped.iter().map(|p| p.as_str()).collect();
            group_refs.insert(g.key.clone(), Some(ImportGroupRef::New(batch.groups.len())));
            report.imported.push(format!(
                "group `{local}` with {} permission(s): {}{}",
                permissions.len(),
                if permissions.is_empty() {
                    "none".to_owned()
                } else {
                    permissions.join(", ")
                },
                match &scope {
                    Some(refs) =>
                        format!(", limited to {} printer(s) as in the source", refs.len()),
                    None => String::new(),
                }
            ));
            batch.groups.push(ImportGroup {
                name,
                description: format!("Imported from {} (group `{}`).", tool.label(), g.name),
                permissions,
                scope,
            });
        }

        // 4. Users: never over a local account of the same name.
        let mut user_refs = BTreeMap::new();
        let mut emails = BTreeSet::new();
        for u in &source.users {
            let username = Username::parse(&u.username).map_err(|e| {
                corrupt(
                    tool,
                    format!("the username `{}` is not valid ({e})", u.username),
                )
            })?;
            if let Some(local) = self.store.user_by_username(&username.key()).await? {
                // The same account imported before and not signed in since (its hash is still
                // the source's): what the source says they own stays theirs. Any other local
                // account of that name is someone else's, and owns nothing from the source.
                if u.hash.is_some() && local.password_hash == u.hash {
                    user_refs.insert(u.username.clone(), ImportRef::Existing(local.id));
                }
                report.skipped.push(format!(
                    "user `{}`: a user of that name exists here already; not overwritten (their \
                     password and rights here stay as they are)",
                    u.username
                ));
                continue;
            }
            let Some(hash) = u.hash.clone() else {
                no_equivalent.insert(format!(
                    "user `{}` has no local password in {} (a directory or single sign-on \
                     account): not imported",
                    u.username,
                    tool.label()
                ));
                continue;
            };
            let mut refs = Vec::new();
            if u.admin {
                refs.push(ImportGroupRef::Existing(admin_group));
            }
            for key in &u.groups {
                if let Some(Some(r)) = group_refs.get(key)
                    && !refs.contains(r)
                {
                    refs.push(*r);
                }
            }
            let email = match u.email.as_deref().map(Email::parse) {
                // Free here and not taken by an earlier user of the same source (two
                // addresses differing only in case would be one here).
                Some(Ok(e))
                    if !emails.contains(&e.key())
                        && self.store.user_by_email(&e.key()).await?.is_none() =>
                {
                    emails.insert(e.key());
                    Some(e)
                }
                Some(_) => {
                    report.skipped.push(format!(
                        "user `{}`: their email address is invalid or used here already; imported without it",
                        u.username
                    ));
                    None
                }
                None => None,
            };
            let admin = refs.contains(&ImportGroupRef::Existing(admin_group));
            report.imported.push(format!(
                "user `{}`{}{}{}",
                u.username,
                if admin { " as an administrator" } else { "" },
                if u.active {
                    ""
                } else {
                    " (disabled, as in the source)"
                },
                u.note
                    .as_deref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            ));
            user_refs.insert(u.username.clone(), ImportRef::New(batch.users.len()));
            batch.users.push(ImportUser {
                username,
                email,
                password_hash: hash,
                disabled: !u.active,
                groups: refs,
            });
        }

        // 5. Archive entries, library and queue, with their files.
        let places = content::Places {
            new_printers: printer_index,
            printers_here,
            users: user_refs,
        };
        self.plan_content(tool, &source, &places, &mut batch, &mut report, files)
            .await?;
        report.files_read = files.count;
        report.bytes_read = files.bytes;
        report.users_created = batch.users.len();
        report.groups_created = batch.groups.len();
        report.printers_created = batch.printers.len();
        report.archives_created = batch.archives.len();
        report.folders_created = batch.folders.len();
        report.library_files_created = batch.library.len();
        report.queue_items_created = batch.queue.len();
        report.no_equivalent.extend(no_equivalent);
        Ok(Plan {
            batch,
            access_codes: codes,
            report,
        })
    }
}
