//! Queue items' use cases: create from a library file, reprint an archive entry, list, read,
//! change while queued, cancel or delete, reorder. Input is parsed once here and refused in
//! plain words.
//!
//! Invariants: see the module above — every read and write checks `_own`/`_all` on the item
//! (404 when unreadable); a change applies only while the item is still queued (the store's
//! compare-and-set, so a change racing a claim loses cleanly with a 409).

use std::collections::HashMap;

use pw_domain::{LibraryFileId, LocationId, Permission, PrinterGroupId, PrinterId};
use pw_policy::{Action, PrinterRef, Target, owned_visibility};
use pw_store::{
    NewQueueItem, QueueItemPatch, QueueItemRow, QueueQuery, QueueState, QueueStep, QueueTarget,
};
use serde::Deserialize;

use super::ams::{self, AmsAssignment, Need};
use super::waiting::{self, Facts};
use super::{PrintOptions, PrintOptionsInput, QueueItemView, target_key, view};
use crate::core::clock::parse_rfc3339;
use crate::core::page::{Listing, PageParams, PageRequest, owner_filter};
use crate::farm::fleet::Connection;
use crate::farm::library::meta::StoredMeta;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError, Page};

/// Most copies of one item.
const COPIES_MAX: i64 = 1_000;
/// Priorities run from −1000 to 1000 (higher first).
const PRIORITY_MAX: i64 = 1_000;
/// Most items one reorder names.
const REORDER_MAX: usize = 1_000;
/// Longest model name.
const MODEL_MAX: usize = 32;

/// Which printers may take an item: exactly one of the fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueTargetInput {
    /// This printer.
    #[serde(default)]
    pub printer_id: Option<i64>,
    /// Any printer of this model (as the printers list it, e.g. `X1C`; any case).
    #[serde(default)]
    pub model: Option<String>,
    /// Any printer in this location.
    #[serde(default)]
    pub location_id: Option<i64>,
    /// Any member of this printer group.
    #[serde(default)]
    pub group_id: Option<i64>,
}

/// `POST /api/v1/queue`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueueItem {
    /// The library file (a sliced `.gcode.3mf` or `.gcode`).
    pub file_id: i64,
    /// The plate (default 1).
    #[serde(default)]
    pub plate: Option<i64>,
    /// Which printers may take it.
    pub target: QueueTargetInput,
    /// Copies (1–1000, default 1).
    #[serde(default)]
    pub copies: Option<i64>,
    /// −1000 to 1000, higher first (default 0).
    #[serde(default)]
    pub priority: Option<i64>,
    /// RFC 3339: do not start before.
    #[serde(default)]
    pub not_before: Option<String>,
    /// Filament → tray; absent = proposed from the printer's trays when the job starts.
    #[serde(default)]
    pub ams_mapping: Option<Vec<AmsAssignment>>,
    /// Print options (absent ones take their defaults).
    #[serde(default)]
    pub options: Option<PrintOptionsInput>,
}

/// `PATCH /api/v1/queue/{id}`: only while queued; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQueueItem {
    /// Copies (1–1000).
    #[serde(default)]
    pub copies: Option<i64>,
    /// −1000 to 1000.
    #[serde(default)]
    pub priority: Option<i64>,
    /// RFC 3339; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub not_before: Option<Option<String>>,
    /// A new target.
    #[serde(default)]
    pub target: Option<QueueTargetInput>,
    /// Options to change.
    #[serde(default)]
    pub options: Option<PrintOptionsInput>,
    /// A new mapping; null = propose when the job starts.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<AmsAssignment>>)]
    pub ams_mapping: Option<Option<Vec<AmsAssignment>>>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/v1/queue/reorder`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderQueue {
    /// The new order of these items (at most 1000); the positions they hold between them are
    /// handed out again in this order, other items keep theirs.
    pub ids: Vec<i64>,
}

/// `POST /api/v1/archives/{id}/reprint`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReprintInput {
    /// The printer; absent = the printer it ran on.
    #[serde(default)]
    pub printer_id: Option<i64>,
}

/// `POST /api/v1/queue/ams-mapping`: what the queue would map, for the add-to-queue dialog.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmsProposalInput {
    /// The library file.
    pub file_id: i64,
    /// The plate (default 1).
    #[serde(default)]
    pub plate: Option<i64>,
    /// The printer whose trays to map to.
    pub printer_id: i64,
}

/// `GET /api/v1/queue` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueListQuery {
    /// Only this state.
    #[serde(default)]
    pub state: Option<String>,
    /// Only items for (or on) this printer.
    #[serde(default)]
    pub printer_id: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

fn check_copies(copies: i64) -> Result<i64, AppError> {
    if (1..=COPIES_MAX).contains(&copies) {
        Ok(copies)
    } else {
        Err(AppError::BadRequest(format!(
            "Copies must be 1 to {COPIES_MAX}."
        )))
    }
}

fn check_priority(priority: i64) -> Result<i64, AppError> {
    if (-PRIORITY_MAX..=PRIORITY_MAX).contains(&priority) {
        Ok(priority)
    } else {
        Err(AppError::BadRequest(format!(
            "The priority must be -{PRIORITY_MAX} to {PRIORITY_MAX} (higher prints first)."
        )))
    }
}

fn parse_not_before(value: &str) -> Result<i64, AppError> {
    parse_rfc3339(value.trim()).ok_or_else(|| {
        AppError::BadRequest(
            "not_before must be an RFC 3339 time, e.g. 2026-11-23T14:00:00Z.".into(),
        )
    })
}

fn mapping_json(mapping: &[AmsAssignment]) -> Result<String, AppError> {
    serde_json::to_string(mapping).map_err(|e| AppError::Internal(Box::new(e)))
}

fn options_json(options: PrintOptions) -> Result<String, AppError> {
    serde_json::to_string(&options).map_err(|e| AppError::Internal(Box::new(e)))
}

/// What the plate needs, for the AMS mapping.
pub(super) fn needs_of(meta: &StoredMeta, plate: i64) -> Vec<Need> {
    u32::try_from(plate)
        .ok()
        .and_then(|p| meta.plate(p))
        .map(|p| {
            p.filaments
                .iter()
                .map(|f| Need {
                    slot: f.slot,
                    material: f.material.clone(),
                    color: f.color.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl App {
    /// Resolves a target the caller names: a printer they may read (and queue to), a model,
    /// an existing location or an existing printer group. Unknown or unreadable ones are a 400 that says "does not
    /// exist" alike.
    async fn queue_target(
        &self,
        actor: &Actor,
        input: &QueueTargetInput,
    ) -> Result<QueueTarget, AppError> {
        let model = input
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let named = usize::from(input.printer_id.is_some())
            + usize::from(model.is_some())
            + usize::from(input.location_id.is_some())
            + usize::from(input.group_id.is_some());
        if named != 1 {
            return Err(AppError::BadRequest(
                "Name exactly one target: a printer (printer_id), a printer model (model), a location (location_id) or a printer group (group_id).".into(),
            ));
        }
        if let Some(id) = input.group_id {
            // Like a model, a group is not bound to printers the caller chose: its members
            // change under other people's hands, so queueing to it needs `queue:create` on
            // every printer (a printer-scoped operator aims at their printers or locations).
            self.require(
                actor,
                Action::Perform(Permission::QueueCreate),
                &Target::EveryPrinter,
            )?;
            let group = PrinterGroupId::from_db(id);
            if id <= 0
                || self
                    .store
                    .printer_group(group, &pw_store::PrinterFilter::Nothing)
                    .await?
                    .is_none()
            {
                return Err(AppError::BadRequest(format!(
                    "printer group {id} does not exist."
                )));
            }
            return Ok(QueueTarget::Group(Some(group)));
        }
        if let Some(id) = input.printer_id {
            let printer = self.store.printer(PrinterId::from_db(id)).await?;
            let printer = printer
                .filter(|row| id > 0 && self.may(actor, Permission::PrintersRead, row))
                .ok_or_else(|| AppError::BadRequest(format!("printer {id} does not exist.")))?;
            self.require(
                actor,
                Action::Perform(Permission::QueueCreate),
                &Target::Printer(PrinterRef {
                    printer: printer.id,
                    location: printer.location_id,
                }),
            )?;
            return Ok(QueueTarget::Printer(Some(printer.id)));
        }
        if let Some(model) = model {
            if model.chars().count() > MODEL_MAX
                || !model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.'))
            {
                return Err(AppError::BadRequest(format!(
                    "The model must be a printer model such as X1C or P1S (up to {MODEL_MAX} letters, digits, spaces, dots, dashes)."
                )));
            }
            // Threat: a printer-scoped operator queueing "any P1S" would print on every P1S
            // of the farm, at sites outside their scope. A model target needs `queue:create`
            // on every printer.
            self.require(
                actor,
                Action::Perform(Permission::QueueCreate),
                &Target::EveryPrinter,
            )?;
            return Ok(QueueTarget::Model(model.to_uppercase()));
        }
        let id = input.location_id.unwrap_or_default();
        if id <= 0
            || self
                .store
                .location(LocationId::from_db(id))
                .await?
                .is_none()
        {
            return Err(AppError::BadRequest(format!(
                "location {id} does not exist."
            )));
        }
        // Every printer there, now and later: the scope must name the location itself.
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Location(LocationId::from_db(id)),
        )?;
        Ok(QueueTarget::Location(Some(LocationId::from_db(id))))
    }

    /// Checks a mapping against the plate and, when the target is one printer reporting its
    /// trays, against those trays.
    fn check_mapping(
        &self,
        needs: &[Need],
        target: &QueueTarget,
        mapping: &[AmsAssignment],
    ) -> Result<(), AppError> {
        if mapping.len() > 64 {
            return Err(AppError::BadRequest(
                "The AMS mapping can name at most 64 filaments.".into(),
            ));
        }
        let trays = match target {
            QueueTarget::Printer(Some(p)) => self
                .fleet
                .live(*p)
                .status
                .as_ref()
                .map(ams::trays_of)
                .filter(|t| !t.is_empty()),
            _ => None,
        };
        ams::validate(needs, trays.as_deref(), mapping).map_err(AppError::BadRequest)
    }

    /// `POST /api/v1/queue`: queues a plate of a library file the caller may read.
    pub async fn create_queue_item(
        &self,
        actor: &Actor,
        input: CreateQueueItem,
    ) -> Result<QueueItemView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Global,
        )?;
        if input.file_id <= 0 {
            return Err(AppError::BadRequest(format!(
                "file {} does not exist.",
                input.file_id
            )));
        }
        // Threat (Bambuddy's add-to-queue IDOR): queueing a file needs read access to it.
        let file = match self
            .library_file_for(
                actor,
                LibraryFileId::from_db(input.file_id),
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await
        {
            Ok(file) => file,
            Err(AppError::NotFound) => {
                return Err(AppError::BadRequest(format!(
                    "file {} does not exist.",
                    input.file_id
                )));
            }
            Err(e) => return Err(e),
        };
        let plate = input.plate.unwrap_or(1);
        let meta = StoredMeta::parse(&file.metadata);
        match file.kind.as_str() {
            "gcode.3mf" | "gcode" => {}
            "3mf" => {
                return Err(AppError::BadRequest(
                    "This project is not sliced: slice it in your slicer and upload the .gcode.3mf.".into(),
                ));
            }
            _ => {
                return Err(AppError::BadRequest(
                    "This file cannot be printed as it is: slice it and upload the .gcode.3mf."
                        .into(),
                ));
            }
        }
        if u32::try_from(plate)
            .ok()
            .and_then(|p| meta.plate(p))
            .is_none()
        {
            return Err(AppError::BadRequest(format!(
                "The file has no plate {plate}{}.",
                if meta.plates.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; its plates are {}",
                        meta.plates
                            .iter()
                            .map(|p| p.index.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )));
        }
        let target = self.queue_target(actor, &input.target).await?;
        let copies = check_copies(input.copies.unwrap_or(1))?;
        let priority = check_priority(input.priority.unwrap_or(0))?;
        let not_before = input
            .not_before
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(parse_not_before)
            .transpose()?;
        let mapping = match &input.ams_mapping {
            Some(m) => {
                self.check_mapping(&needs_of(&meta, plate), &target, m)?;
                Some(mapping_json(m)?)
            }
            None => None,
        };
        let options = options_json(
            input
                .options
                .unwrap_or_default()
                .apply(PrintOptions::default()),
        )?;
        let id = self
            .store
            .insert_queue_item(&NewQueueItem {
                library_file_id: Some(file.id),
                archive_id: None,
                file_sha256: &file.sha256,
                file_name: &file.name,
                plate,
                target: &target,
                copies,
                priority,
                not_before,
                options: &options,
                ams_mapping: mapping.as_deref(),
                created_by: actor.user_id,
                created_by_name: actor.user_id.map(|_| &*actor.name),
                now: self.now(),
            })
            .await?;
        self.audit(
            actor,
            AuditEvent::QueueCreate,
            Some(("queue_item", id.to_string())),
            true,
            serde_json::json!({
                "file": file.name,
                "plate": plate,
                "target": target_key(&target),
                "copies": copies,
                "reprint_of": null,
            }),
        )
        .await;
        self.created_queue_item(actor, id).await
    }

    /// `POST /api/v1/queue/ams-mapping`: proposes a tray for each filament of a plate from a
    /// printer's live trays (same material, nearest colour), with the reason per filament.
    pub async fn propose_ams_mapping(
        &self,
        actor: &Actor,
        input: AmsProposalInput,
    ) -> Result<Vec<ams::Proposal>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Global,
        )?;
        let file = match self
            .library_file_for(
                actor,
                LibraryFileId::from_db(input.file_id.max(1)),
                Permission::LibraryReadOwn,
                Permission::LibraryReadAll,
            )
            .await
        {
            Ok(file) if input.file_id > 0 => file,
            Ok(_) | Err(AppError::NotFound) => {
                return Err(AppError::BadRequest(format!(
                    "file {} does not exist.",
                    input.file_id
                )));
            }
            Err(e) => return Err(e),
        };
        let target = self
            .queue_target(
                actor,
                &QueueTargetInput {
                    printer_id: Some(input.printer_id),
                    ..QueueTargetInput::default()
                },
            )
            .await?;
        let QueueTarget::Printer(Some(printer)) = target else {
            return Err(AppError::NotFound);
        };
        let plate = input.plate.unwrap_or(1);
        let meta = StoredMeta::parse(&file.metadata);
        if u32::try_from(plate)
            .ok()
            .and_then(|p| meta.plate(p))
            .is_none()
        {
            return Err(AppError::BadRequest(format!(
                "The file has no plate {plate}."
            )));
        }
        let trays = self
            .fleet
            .live(printer)
            .status
            .as_ref()
            .map(ams::trays_of)
            .unwrap_or_default();
        if trays.is_empty() {
            return Err(AppError::Conflict(
                "This printer has not reported any AMS trays (it is offline, or has no AMS)."
                    .into(),
            ));
        }
        Ok(ams::propose(&needs_of(&meta, plate), &trays))
    }

    /// `POST /api/v1/archives/{id}/reprint`: queues the file an archive entry printed, kept by
    /// its content hash (a deleted library file does not break it).
    pub async fn reprint_archive(
        &self,
        actor: &Actor,
        archive_id: i64,
        input: ReprintInput,
    ) -> Result<QueueItemView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Global,
        )?;
        let entry = self
            .archive_for(
                actor,
                archive_id,
                Some((
                    Permission::ArchivesReprintOwn,
                    Permission::ArchivesReprintAll,
                )),
            )
            .await?;
        let Some(sha) = entry.file_sha256.clone() else {
            return Err(AppError::Conflict(
                "This print's file was not kept, so it cannot be reprinted from the archive; queue the file from the library instead.".into(),
            ));
        };
        let printer = match (input.printer_id, entry.printer_id) {
            (Some(p), _) => p,
            (None, Some(p)) => p.get(),
            (None, None) => {
                return Err(AppError::BadRequest(
                    "The printer this ran on was removed: name a printer (printer_id).".into(),
                ));
            }
        };
        let target = self
            .queue_target(
                actor,
                &QueueTargetInput {
                    printer_id: Some(printer),
                    ..QueueTargetInput::default()
                },
            )
            .await?;
        let plate = entry.plate.filter(|p| *p >= 1).unwrap_or(1);
        let options = options_json(PrintOptions::default())?;
        // The library file with this content while the library still holds it (the entry's
        // own link, or any file with the same bytes for a print fetched from a printer): its
        // stored plate facts let the dispatcher propose the AMS mapping, and the new entry
        // links it again. The bytes printed are the kept ones by hash either way.
        let library_file_id = match entry.library_file_id {
            Some(file) => Some(file),
            None => self.store.library_file_with_content(&sha).await?,
        };
        let id = self
            .store
            .insert_queue_item(&NewQueueItem {
                library_file_id,
                archive_id: Some(entry.id),
                file_sha256: &sha,
                file_name: &entry.file_name,
                plate,
                target: &target,
                copies: 1,
                priority: 0,
                not_before: None,
                options: &options,
                ams_mapping: None,
                created_by: actor.user_id,
                created_by_name: actor.user_id.map(|_| &*actor.name),
                now: self.now(),
            })
            .await?;
        self.audit(
            actor,
            AuditEvent::QueueCreate,
            Some(("queue_item", id.to_string())),
            true,
            serde_json::json!({
                "file": entry.file_name,
                "plate": plate,
                "target": target_key(&target),
                "copies": 1,
                "reprint_of": entry.id,
            }),
        )
        .await;
        self.created_queue_item(actor, id).await
    }

    /// The "why is this waiting" words for queued rows, with the facts gathered once per
    /// printer and location.
    async fn waiting_words(
        &self,
        actor: &Actor,
        rows: &[QueueItemRow],
    ) -> Result<Vec<Option<String>>, AppError> {
        if rows.iter().all(|r| r.state != QueueState::Queued) {
            return Ok(vec![None; rows.len()]);
        }
        let pauses = self.store.queue_pauses().await?;
        let queue_paused = pauses.iter().any(|p| p.printer_id.is_none());
        let mut printers: HashMap<PrinterId, waiting::Target> = HashMap::new();
        let mut places: HashMap<LocationId, waiting::Target> = HashMap::new();
        // Printers whose plate must be confirmed clear before the queue starts there.
        let mut plates: HashMap<PrinterId, bool> = HashMap::new();
        // Printers whose plate needs clearing but whose check is waived, and by whom.
        let mut waivers: HashMap<PrinterId, String> = HashMap::new();
        let mut groups: HashMap<PrinterGroupId, waiting::Target> = HashMap::new();
        let now = self.now();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if row.state != QueueState::Queued {
                out.push(None);
                continue;
            }
            let (target, lane_paused) = match &row.target {
                QueueTarget::Printer(Some(p)) => {
                    if !printers.contains_key(p) {
                        let t = match self.store.printer(*p).await? {
                            None => waiting::Target::Gone,
                            Some(printer) => {
                                let live = self.fleet.live(*p);
                                let busy = live
                                    .status
                                    .as_ref()
                                    .is_some_and(|s| s.gcode_state.is_busy())
                                    || self.store.active_queue_item_on(*p).await?.is_some();
                                // A printer's name is shown only to who may see the printer.
                                let name = if self.may(actor, Permission::PrintersRead, &printer) {
                                    printer.name
                                } else {
                                    "its printer".to_owned()
                                };
                                let plate = self.store.plate(*p).await?;
                                let by_location = printer.location_waives_plate_clear;
                                plates.insert(
                                    *p,
                                    plate.needs_clearing && !plate.waived && !by_location,
                                );
                                if plate.needs_clearing && (plate.waived || by_location) {
                                    let by = match printer.location_id {
                                        Some(l) if by_location && !plate.waived => {
                                            self.store.location(l).await?.map_or_else(
                                                || "its location".to_owned(),
                                                |l| format!("location {}", l.name),
                                            )
                                        }
                                        _ => "this printer".to_owned(),
                                    };
                                    waivers.insert(*p, by);
                                }
                                waiting::Target::Printer {
                                    name,
                                    online: live.connection == Connection::Online,
                                    busy,
                                }
                            }
                        };
                        printers.insert(*p, t);
                    }
                    (
                        printers.get(p).cloned().unwrap_or_default(),
                        pauses.iter().any(|x| x.printer_id == Some(*p)),
                    )
                }
                QueueTarget::Location(Some(l)) => {
                    if !places.contains_key(l) {
                        let t = match self.store.location(*l).await? {
                            Some(loc) => waiting::Target::Location(loc.name),
                            None => waiting::Target::Gone,
                        };
                        places.insert(*l, t);
                    }
                    (places.get(l).cloned().unwrap_or_default(), false)
                }
                QueueTarget::Group(Some(g)) => {
                    if !groups.contains_key(g) {
                        let t = match self
                            .store
                            .printer_group(*g, &pw_store::PrinterFilter::Nothing)
                            .await?
                        {
                            Some(group) => waiting::Target::Group {
                                name: group.name,
                                members: self.store.printer_group_members(*g).await?.len(),
                            },
                            None => waiting::Target::Gone,
                        };
                        groups.insert(*g, t);
                    }
                    (groups.get(g).cloned().unwrap_or_default(), false)
                }
                QueueTarget::Group(None) => (
                    waiting::Target::Parked(row.reason.clone().unwrap_or_else(|| {
                        "Its printer group was deleted: choose another target.".to_owned()
                    })),
                    false,
                ),
                QueueTarget::Model(m) => (waiting::Target::Model(m.clone()), false),
                QueueTarget::Printer(None) | QueueTarget::Location(None) => {
                    (waiting::Target::Gone, false)
                }
            };
            out.push(Some(waiting::waiting_for(&Facts {
                queue_paused,
                lane_paused,
                now,
                not_before: row.not_before,
                retry: row.next_attempt_at.map(|at| (at, row.reason.clone())),
                target,
                plate_not_cleared: match &row.target {
                    QueueTarget::Printer(Some(p)) => plates.get(p).copied().unwrap_or(false),
                    _ => false,
                },
                plate_waived_by: match &row.target {
                    QueueTarget::Printer(Some(p)) => waivers.get(p).cloned(),
                    _ => None,
                },
            })));
        }
        Ok(out)
    }

    /// `GET /api/v1/queue`: one page of the items the caller may read, in dispatch order.
    pub async fn list_queue(
        &self,
        actor: &Actor,
        q: &QueueListQuery,
    ) -> Result<Page<QueueItemView>, AppError> {
        self.require(
            actor,
            Action::OnOwned {
                own: Some(Permission::QueueReadOwn),
                all: Permission::QueueReadAll,
            },
            &Target::Global,
        )?;
        let owner = owner_filter(&owned_visibility(
            &actor.principal,
            Some(Permission::QueueReadOwn),
            Permission::QueueReadAll,
        ));
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let state = match text(&q.state) {
            None => None,
            Some(s) => Some(QueueState::parse(&s).ok_or_else(|| {
                AppError::BadRequest(
                    "state must be queued, dispatching, printing, done, failed or cancelled."
                        .into(),
                )
            })?),
        };
        let printer = match text(&q.printer_id) {
            None => None,
            Some(p) => Some(p.parse::<PrinterId>().map_err(|_| {
                AppError::BadRequest("printer_id must be a printer's id (a number).".into())
            })?),
        };
        let page = PageRequest::parse(
            Listing::QueueItems,
            &PageParams {
                limit: q.limit.clone(),
                cursor: q.cursor.clone(),
            },
        )?;
        let after = match &page.after {
            None => None,
            Some((key, id)) => {
                let bad = || {
                    AppError::BadRequest(
                        "The page cursor is not valid; start again from the first page.".into(),
                    )
                };
                let (priority, position) = key.split_once('/').ok_or_else(bad)?;
                Some((
                    priority.parse::<i64>().map_err(|_| bad())?,
                    position.parse::<i64>().map_err(|_| bad())?,
                    *id,
                ))
            }
        };
        let rows = self
            .store
            .queue_items_page(&QueueQuery {
                owner,
                state,
                printer,
                after,
                fetch: page.store().fetch,
            })
            .await?;
        let (rows, next) = page.finish(Listing::QueueItems, rows, |r| {
            (format!("{}/{}", r.priority, r.position), r.id)
        });
        let words = self.waiting_words(actor, &rows).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .zip(words)
                .map(|(row, w)| view(row, w))
                .collect(),
            next,
        })
    }

    /// The item just created, for its creator (who may hold `queue:create` without a read
    /// right: they see what they added, once).
    async fn created_queue_item(&self, actor: &Actor, id: i64) -> Result<QueueItemView, AppError> {
        let row = self.store.queue_item(id).await?.ok_or(AppError::NotFound)?;
        let words = self
            .waiting_words(actor, std::slice::from_ref(&row))
            .await?;
        Ok(view(row, words.into_iter().next().flatten()))
    }

    /// `GET /api/v1/queue/{id}`.
    pub async fn queue_item(&self, actor: &Actor, id: i64) -> Result<QueueItemView, AppError> {
        let row = self.queue_item_for(actor, id, None).await?;
        let words = self
            .waiting_words(actor, std::slice::from_ref(&row))
            .await?;
        Ok(view(row, words.into_iter().next().flatten()))
    }

    /// `PATCH /api/v1/queue/{id}`: copies, priority, time, target, options, mapping — while
    /// the item is queued.
    pub async fn update_queue_item(
        &self,
        actor: &Actor,
        id: i64,
        input: UpdateQueueItem,
    ) -> Result<QueueItemView, AppError> {
        let row = self
            .queue_item_for(
                actor,
                id,
                Some((Permission::QueueUpdateOwn, Permission::QueueUpdateAll)),
            )
            .await?;
        let not_queued = || {
            AppError::Conflict(
                "Only a queued item can be changed; this one has been taken by a printer or has ended."
                    .into(),
            )
        };
        if row.state != QueueState::Queued {
            return Err(not_queued());
        }
        let copies = input.copies.map(check_copies).transpose()?;
        if copies.is_some_and(|c| c < row.copies_done) {
            return Err(AppError::BadRequest(format!(
                "{} copies are printed already; copies cannot be fewer.",
                row.copies_done
            )));
        }
        let priority = input.priority.map(check_priority).transpose()?;
        let not_before = match &input.not_before {
            None => None,
            Some(None) => Some(None),
            Some(Some(t)) if t.trim().is_empty() => Some(None),
            Some(Some(t)) => Some(Some(parse_not_before(t)?)),
        };
        let target = match &input.target {
            Some(t) => Some(self.queue_target(actor, t).await?),
            None => None,
        };
        let options = match input.options {
            Some(o) => Some(options_json(
                o.apply(serde_json::from_str(&row.options).unwrap_or_default()),
            )?),
            None => None,
        };
        let mapping = match &input.ams_mapping {
            None => None,
            Some(None) => Some(None),
            Some(Some(m)) => {
                let needs = match row.library_file_id {
                    Some(f) => match self.store.library_file(f).await? {
                        Some(file) => needs_of(&StoredMeta::parse(&file.metadata), row.plate),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                if needs.is_empty() {
                    return Err(AppError::BadRequest(
                        "The filaments of this item's file are not known here; leave the mapping out to have it proposed when the job starts.".into(),
                    ));
                }
                self.check_mapping(&needs, target.as_ref().unwrap_or(&row.target), m)?;
                Some(Some(mapping_json(m)?))
            }
        };
        let mut fields = Vec::new();
        for (name, set) in [
            ("copies", copies.is_some()),
            ("priority", priority.is_some()),
            ("not_before", not_before.is_some()),
            ("target", target.is_some()),
            ("options", options.is_some()),
            ("ams_mapping", mapping.is_some()),
        ] {
            if set {
                fields.push(name);
            }
        }
        if !self
            .store
            .update_queue_item(
                row.id,
                &QueueItemPatch {
                    copies,
                    priority,
                    not_before,
                    target: target.as_ref(),
                    options: options.as_deref(),
                    ams_mapping: mapping.as_ref().map(Option::as_deref),
                },
                self.now(),
            )
            .await?
        {
            return Err(not_queued());
        }
        self.audit(
            actor,
            AuditEvent::QueueUpdate,
            Some(("queue_item", row.id.to_string())),
            true,
            serde_json::json!({ "fields": fields }),
        )
        .await;
        self.queue_item(actor, id).await
    }

    /// `DELETE /api/v1/queue/{id}`: a queued item is cancelled (it stays in the list as
    /// cancelled, with who did it in the audit log); an ended one is deleted; one a printer is
    /// working on is cancelled and its print stopped on the printer.
    pub async fn delete_queue_item(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        let row = self
            .queue_item_for(
                actor,
                id,
                Some((Permission::QueueDeleteOwn, Permission::QueueDeleteAll)),
            )
            .await?;
        match row.state {
            QueueState::Queued => {
                if self
                    .queue_transition(
                        actor,
                        &row,
                        QueueState::Queued,
                        QueueState::Cancelled,
                        &QueueStep::default(),
                    )
                    .await?
                {
                    Ok(())
                } else {
                    Err(AppError::Conflict(
                        "A printer took this item just now; it can no longer be cancelled from the queue.".into(),
                    ))
                }
            }
            QueueState::Dispatching | QueueState::Printing => {
                self.cancel_active_queue_item(actor, &row).await
            }
            QueueState::Done | QueueState::Failed | QueueState::Cancelled => {
                self.delete_queue_row(actor, &row).await
            }
        }
    }

    /// Cancels an item a printer has taken: the item first (a compare-and-set, so a start not
    /// yet sent is fenced off and never sent), then the print on the printer through the stop
    /// command — only when the printer runs this item's job (never another job). Audited as
    /// `queue.cancel` and `printer.command`.
    async fn cancel_active_queue_item(
        &self,
        actor: &Actor,
        row: &QueueItemRow,
    ) -> Result<(), AppError> {
        if !self
            .queue_transition(
                actor,
                row,
                row.state,
                QueueState::Cancelled,
                &QueueStep::default(),
            )
            .await?
        {
            return Err(AppError::Conflict(
                "The item changed state just now; look at it again.".into(),
            ));
        }
        let (Some(printer), Some(job)) = (row.printer_id, row.print_job_id) else {
            return Ok(());
        };
        let Some(task) = self.store.print_job_task_id(job).await? else {
            return Ok(());
        };
        let live = self.fleet.live(printer);
        let runs_it = live
            .status
            .as_ref()
            .is_some_and(|s| s.gcode_state.is_busy() && s.job_key() == Some(task.as_str()));
        if !runs_it {
            return Ok(());
        }
        let Some(printer_row) = self.store.printer(printer).await? else {
            return Ok(());
        };
        let outcome = self
            .send_command(&printer_row, pw_bambu::command::Command::Stop)
            .await?;
        self.audit(
            actor,
            AuditEvent::PrinterCommand,
            Some(("printer", printer.to_string())),
            outcome.ok,
            serde_json::json!({ "command": "print.stop", "reason": outcome.reason }),
        )
        .await;
        if !outcome.ok {
            return Err(AppError::Conflict(format!(
                "The item is cancelled, but {} refused to stop the print{}",
                printer_row.name,
                outcome
                    .reason
                    .map_or_else(|| ".".to_owned(), |r| format!(": {r}."))
            )));
        }
        Ok(())
    }

    /// `POST /api/v1/queue/reorder`: the given items, each readable by the caller, take the
    /// positions they hold between them in the given order.
    pub async fn reorder_queue(&self, actor: &Actor, input: ReorderQueue) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::QueueReorder),
            &Target::Global,
        )?;
        if input.ids.is_empty() || input.ids.len() > REORDER_MAX {
            return Err(AppError::BadRequest(format!(
                "Name 1 to {REORDER_MAX} queue items, in their new order."
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(input.ids.len());
        for id in &input.ids {
            if *id <= 0 || !seen.insert(*id) {
                return Err(AppError::BadRequest(
                    "Each queue item must be named once, by its id.".into(),
                ));
            }
        }
        for id in &input.ids {
            // Unreadable items are not found, as anywhere else.
            self.queue_item_for(actor, *id, None).await?;
        }
        if !self
            .store
            .reorder_queue_items(&input.ids, self.now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::QueueReorder,
            None,
            true,
            serde_json::json!({ "ids": input.ids }),
        )
        .await;
        Ok(())
    }
}
