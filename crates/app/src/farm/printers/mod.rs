//! Printers and locations as users manage them (S10): add, edit, remove, see live status,
//! send commands (each mapped to its permission), and approve a changed certificate.
//!
//! Invariants: every printer operation is authorized against the printer itself, so a group
//! scope or an API key's printer list narrows it, and a printer outside the caller's reach is a
//! 404 (lists simply leave it out); the access code is sealed per printer and never returned
//! (`has_access_code` only; an empty value on update keeps it); approving a certificate needs
//! the exact fingerprint the printer presented, so an approval cannot trust a certificate
//! nobody has seen. Every print start goes through `start.rs` (one claim per printer, the
//! print job recorded before the start command).

mod archive_link;
mod commands;
mod create;
mod delete;
mod files;
mod glance;
mod list;
mod plate;
mod rights;
mod rows;
mod start;
mod trust;
mod update;

pub use commands::{CommandInput, CommandOutcome};
pub use files::{MAX_PRINT_FILE, PrintUpload, PrinterDownload, PrinterFile};
pub use glance::Glance;
pub use rights::PrinterRights;
pub(crate) use rows::PrinterRows;
pub(crate) use start::{
    Printable, StartPrint, StartSettings, plain_gcode, plate_warnings, printer_file_name,
};
pub use trust::{CertificateView, TrustCertificate};

use pw_bambu::command::{Command, LightNode, Speed};
use pw_bambu::ftps::Ftps;
use pw_bambu::report::Status;
use pw_bambu::trust::{Fingerprint, PrinterVerifier};
use pw_credentials::SecretString;
use pw_domain::{LocationId, Permission, PrinterId};
use pw_policy::{Action, Decision, PrinterRef, Target, authorize};
use pw_store::{NewPrinter, PrinterPatch, PrinterRow};
use serde::{Deserialize, Serialize};

use crate::core::clock::rfc3339;
use crate::farm::fleet::{
    Connection, Live, PrinterEvent, REPLY_TIMEOUT, Request, access_code_context,
};

use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};
use archive_link::may_read_archive;

pub(crate) const DEFAULT_MQTT_PORT: u16 = 8883;
const DEFAULT_FTPS_PORT: u16 = 990;
const DEFAULT_CAMERA_PORT: u16 = 6000;

/// Temperatures: current and target, °C.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct TemperatureView {
    /// Current.
    pub current: Option<f64>,
    /// Target (0 = off).
    pub target: Option<f64>,
}

/// One AMS tray.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrayView {
    /// AMS unit id.
    pub ams: String,
    /// Tray id in the unit.
    pub tray: String,
    /// Material, empty when no spool.
    pub material: String,
    /// `RRGGBBAA`.
    pub color: String,
    /// Remaining percent, when known.
    pub remain: Option<i64>,
}

/// The live status of a connected printer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    /// `IDLE`, `PREPARE`, `RUNNING`, `PAUSE`, `FINISH`, `FAILED`…
    pub state: String,
    /// A job is in progress.
    pub busy: bool,
    /// Progress 0–100.
    pub percent: Option<u8>,
    /// Minutes left.
    pub remaining_minutes: Option<u32>,
    /// Current layer.
    pub layer: Option<u32>,
    /// Layers in the job.
    pub total_layers: Option<u32>,
    /// Job name.
    pub job_name: Option<String>,
    /// Nozzle.
    pub nozzle: TemperatureView,
    /// Bed.
    pub bed: TemperatureView,
    /// Chamber, °C.
    pub chamber: Option<f64>,
    /// Part fan, percent.
    pub part_fan: Option<u8>,
    /// Aux fan, percent.
    pub aux_fan: Option<u8>,
    /// Chamber fan, percent.
    pub chamber_fan: Option<u8>,
    /// The chamber light, when the printer reports it.
    pub light: Option<bool>,
    /// The external spool (outside the AMS), when the printer reports one.
    pub external_spool: Option<TrayView>,
    /// Speed level 1–4.
    pub speed_level: Option<u8>,
    /// HMS messages as 16 hex digits.
    pub hms: Vec<String>,
    /// Print error as `MMMM_EEEE`, when there is one.
    pub print_error: Option<String>,
    /// Wi-Fi signal.
    pub wifi_signal: Option<String>,
    /// AMS trays.
    pub trays: Vec<TrayView>,
}

impl StatusView {
    fn of(s: &Status) -> Self {
        Self {
            state: s.gcode_state.as_str().to_owned(),
            busy: s.gcode_state.is_busy(),
            percent: s.percent,
            remaining_minutes: s.remaining_minutes,
            layer: s.layer,
            total_layers: s.total_layers,
            job_name: s.subtask_name.clone(),
            nozzle: TemperatureView {
                current: s.nozzle.current,
                target: s.nozzle.target,
            },
            bed: TemperatureView {
                current: s.bed.current,
                target: s.bed.target,
            },
            chamber: s.chamber,
            part_fan: s.part_fan,
            aux_fan: s.aux_fan,
            chamber_fan: s.chamber_fan,
            light: s.chamber_light,
            external_spool: s.external_spool.as_ref().map(|t| TrayView {
                ams: "external".to_owned(),
                tray: t.id.clone(),
                material: t.material.clone(),
                color: t.color.clone(),
                remain: t.remain,
            }),
            speed_level: s.speed_level,
            hms: s.hms.iter().map(pw_bambu::report::Hms::id).collect(),
            print_error: s
                .print_error
                .filter(|e| *e != 0)
                .map(|e| format!("{:04X}_{:04X}", e >> 16, e & 0xFFFF)),
            wifi_signal: s.wifi_signal.clone(),
            trays: s
                .ams
                .iter()
                .flat_map(|u| {
                    u.trays.iter().map(|t| TrayView {
                        ams: u.id.clone(),
                        tray: t.id.clone(),
                        material: t.material.clone(),
                        color: t.color.clone(),
                        remain: t.remain,
                    })
                })
                .collect(),
        }
    }
}

/// A printer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrinterView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: PrinterId,
    /// Display name.
    pub name: String,
    /// Serial.
    pub serial: String,
    /// Host.
    pub host: String,
    /// MQTT port.
    pub mqtt_port: u16,
    /// FTPS port.
    pub ftps_port: u16,
    /// Camera port.
    pub camera_port: u16,
    /// Model.
    pub model: String,
    /// Location.
    #[schema(value_type = Option<i64>)]
    pub location_id: Option<LocationId>,
    /// The access code is write-only; this says one is stored.
    pub has_access_code: bool,
    /// Connection state.
    pub connection: Connection,
    /// The one state the home page counts it under (printing, paused, finished and waiting
    /// for its plate to be cleared, idle, error, offline, certificate changed).
    pub glance: Glance,
    /// The state in plain words ("Printing", "Paused", "Finished — needs plate clearing",
    /// "Cancelled", "Failed: <reason>", "Offline"…).
    pub state_words: String,
    /// When the running job should end (unix milliseconds): the last report's time plus the
    /// minutes it said were left; null unless printing.
    pub ends_at_ms: Option<i64>,
    /// Why it is not online, in words.
    pub problem: Option<String>,
    /// Control commands are being refused: switch on LAN-only + Developer Mode on the printer.
    pub developer_mode_off: bool,
    /// `pinned`, `changed` or `unpinned`.
    pub certificate: String,
    /// Live status while connected.
    pub status: Option<StatusView>,
    /// When the server received the last status report (unix milliseconds).
    pub last_report_ms: Option<i64>,
    /// How often the connection to the printer was lost in the last hour (0 on a steady
    /// link): flapping shows here, not only in the log.
    pub connection_drops_last_hour: u32,
    /// RFC 3339.
    pub created_at: String,
    /// The archive entry of the job running now (`/archive/{id}` in the browser); null when
    /// none is open or the caller may not read that entry.
    pub archive_id: Option<i64>,
    /// `false` while a print has ended on the plate and nobody has confirmed it clear since
    /// (`POST /api/v1/printers/{id}/plate-cleared`); the queue starts nothing there until
    /// then, unless `waive_plate_clear`.
    pub plate_cleared: bool,
    /// The queue starts jobs here without the plate-clear confirmation (this printer's own
    /// setting).
    pub waive_plate_clear: bool,
    /// Its location waives the plate-clear confirmation for every printer there; the waiver
    /// in effect is this or `waive_plate_clear`.
    pub location_waives_plate_clear: bool,
    /// What the printer's model can do, from the one model table (`pw_bambu::model`); null
    /// when the model is not set or not known.
    pub capabilities: Option<CapabilitiesView>,
}

/// A model's capabilities as the API shows them (the UI offers only what the model has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CapabilitiesView {
    /// `jpeg` (the port-6000 image stream of A1/P1) or `rtsps` (H.264 on port 322: X1, P2S,
    /// H2): both are shown (`rtsps` as fragmented MP4 over the camera WebSocket).
    pub camera: String,
    /// The port the real printer serves its camera on (6000 or 322).
    pub camera_port: u16,
    /// `led_node`s the printer takes (`chamber_light`, `chamber_light2` on H2).
    pub light_nodes: Vec<String>,
    /// The printer reports whether its door is open.
    pub door_sensor: bool,
    /// Filament units it takes (`AMS`, `AMS Lite`, `AMS 2 Pro`, `AMS HT`).
    pub ams: Vec<String>,
    /// Reports carry the whole state each time (X1); false: only what changed (P1/A1), so a
    /// quiet printer is normal.
    pub full_reports: bool,
}

impl CapabilitiesView {
    /// The view of a model named in any spelling; `None` when unknown.
    #[must_use]
    pub fn of_model(model: &str) -> Option<Self> {
        let caps = pw_bambu::model::Model::parse(model)?.caps();
        Some(Self {
            camera: caps.camera.as_str().to_owned(),
            camera_port: caps.camera.port(),
            light_nodes: caps.light_nodes.iter().map(|n| (*n).to_owned()).collect(),
            door_sensor: caps.door_sensor,
            ams: caps.ams.iter().map(|k| k.module().1.to_owned()).collect(),
            full_reports: caps.full_reports,
        })
    }
}

/// `POST /api/v1/printers`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrinter {
    /// Display name.
    pub name: String,
    /// Serial, as on the printer's label or screen.
    pub serial: String,
    /// Host name or IP address.
    pub host: String,
    /// LAN access code (from the printer's screen).
    #[schema(value_type = String, format = Password)]
    pub access_code: SecretString,
    /// Model, e.g. `P1S`.
    #[serde(default)]
    pub model: Option<String>,
    /// Location.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub location_id: Option<LocationId>,
    /// Default 8883.
    #[serde(default)]
    pub mqtt_port: Option<u16>,
    /// Default 990.
    #[serde(default)]
    pub ftps_port: Option<u16>,
    /// Default 6000.
    #[serde(default)]
    pub camera_port: Option<u16>,
}

/// `PATCH /api/v1/printers/{id}`: absent fields stay; an empty access code keeps the stored one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrinter {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Host.
    #[serde(default)]
    pub host: Option<String>,
    /// New access code; empty keeps the stored one.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub access_code: Option<SecretString>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Location (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub location_id: Option<Option<LocationId>>,
    /// MQTT port.
    #[serde(default)]
    pub mqtt_port: Option<u16>,
    /// FTPS port.
    #[serde(default)]
    pub ftps_port: Option<u16>,
    /// Camera port.
    #[serde(default)]
    pub camera_port: Option<u16>,
    /// Let the queue start jobs without someone confirming the plate clear after each print
    /// (for printers that clear their own plate); `false` requires the confirmation again.
    #[serde(default)]
    pub waive_plate_clear: Option<bool>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn certificate_state(row: &PrinterRow) -> &'static str {
    match (&row.pinned_sha256, &row.presented_sha256) {
        (_, Some(_)) => "changed",
        (Some(_), None) => "pinned",
        (None, None) => "unpinned",
    }
}

/// Whether `actor` may do `permission` on the printer `target`.
fn may_on(actor: &Actor, permission: Permission, target: PrinterRef) -> bool {
    matches!(
        authorize(
            &actor.principal,
            Action::Perform(permission),
            &Target::Printer(target)
        ),
        Decision::Allow
    )
}

fn printer_ref(row: &PrinterRow) -> PrinterRef {
    PrinterRef {
        printer: row.id,
        location: row.location_id,
    }
}

fn text_field(name: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || pw_domain::has_hidden_chars(v) {
        return Err(AppError::BadRequest(format!(
            "{name} must be 1–{max} characters without control or invisible formatting characters."
        )));
    }
    Ok(v.to_owned())
}

pub(crate) fn parse_serial(serial: &str) -> Result<String, AppError> {
    let s = serial.trim().to_ascii_uppercase();
    if !(6..=32).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AppError::BadRequest(
            "serial must be 6–32 letters and digits, as on the printer.".into(),
        ));
    }
    Ok(s)
}

pub(crate) fn parse_host(host: &str) -> Result<String, AppError> {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let ip = h.parse::<std::net::IpAddr>().is_ok();
    let name = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !(ip || name) {
        return Err(AppError::BadRequest(
            "host must be an IP address or a host name.".into(),
        ));
    }
    Ok(h)
}

pub(crate) fn parse_access_code(code: &SecretString) -> Result<(), AppError> {
    let c = code.expose();
    if !(4..=64).contains(&c.len()) || !c.chars().all(|ch| ch.is_ascii_graphic()) {
        return Err(AppError::BadRequest(
            "Access code: type the 8-character LAN access code shown on the printer's screen (4–64 letters, digits or symbols, no spaces).".into(),
        ));
    }
    Ok(())
}

pub(crate) fn parse_port(name: &str, port: Option<u16>, default: u16) -> Result<u16, AppError> {
    match port.unwrap_or(default) {
        0 => Err(AppError::BadRequest(format!("{name} must be 1 to 65535."))),
        p => Ok(p),
    }
}

impl App {
    fn view(&self, row: &PrinterRow) -> PrinterView {
        let live = self.fleet.live(row.id);
        let plate = self.fleet.plate(row.id);
        self.view_of(row, &live, plate)
    }

    /// The view of a printer from its row, live state and plate (borrowed: the events socket's
    /// renderer reads the live state in place instead of copying its status per report).
    fn view_of(&self, row: &PrinterRow, live: &Live, plate: pw_store::PlateRow) -> PrinterView {
        let drops = live.drops_last_hour(self.now());
        let plate_waiting =
            plate.needs_clearing && !plate.waived && !row.location_waives_plate_clear;
        let (glance, state_words) =
            glance::glance(&live.connection, live.status.as_ref(), plate_waiting);
        let ends_at_ms = glance::ends_at_ms(live.status.as_ref(), live.last_report_ms);
        PrinterView {
            glance,
            state_words,
            ends_at_ms,
            id: row.id,
            name: row.name.clone(),
            serial: row.serial.clone(),
            host: row.host.clone(),
            mqtt_port: row.mqtt_port,
            ftps_port: row.ftps_port,
            camera_port: row.camera_port,
            model: row.model.clone(),
            location_id: row.location_id,
            has_access_code: !row.access_code.is_empty(),
            connection: live.connection.clone(),
            problem: live.problem.clone(),
            developer_mode_off: live.developer_mode_off,
            certificate: certificate_state(row).to_owned(),
            status: live.status.as_ref().map(StatusView::of),
            last_report_ms: live.last_report_ms,
            connection_drops_last_hour: drops,
            created_at: rfc3339(row.created_at),
            // Per viewer: filled by `view_for` when the caller may read the entry.
            archive_id: None,
            plate_cleared: !plate.needs_clearing,
            waive_plate_clear: plate.waived,
            location_waives_plate_clear: row.location_waives_plate_clear,
            capabilities: CapabilitiesView::of_model(&row.model),
        }
    }

    /// The events socket's message for an event, `{"type":"printer","printer":<PrinterView>}`
    /// as UTF-8 JSON, from memory and serialised once for all sockets (each gets a shared
    /// buffer): `None` when the printer is gone or the actor may not read it.
    pub fn printer_event_message(
        &self,
        actor: &Actor,
        event: &PrinterEvent,
    ) -> Option<bytes::Bytes> {
        let rendered = event
            .rendered
            .get_or_init(|| self.render_printer_event(event.printer));
        let rendered = rendered.as_ref()?;
        if !may_on(actor, Permission::PrintersRead, rendered.target) {
            return None;
        }
        Some(match &rendered.archive {
            Some((open, with_archive)) if may_read_archive(actor, open, rendered.target) => {
                with_archive.clone()
            }
            _ => rendered.message.clone(),
        })
    }

    /// Whether `actor` may do `permission` on this printer.
    pub(crate) fn may(&self, actor: &Actor, permission: Permission, row: &PrinterRow) -> bool {
        may_on(actor, permission, printer_ref(row))
    }

    /// The printer, if the actor may read it (404 otherwise, so its existence stays hidden);
    /// then `permission` on it (403).
    pub(crate) async fn printer_for(
        &self,
        actor: &Actor,
        id: PrinterId,
        permission: Permission,
    ) -> Result<PrinterRow, AppError> {
        let row = self.store.printer(id).await?.ok_or(AppError::NotFound)?;
        if !self.may(actor, Permission::PrintersRead, &row) {
            return Err(AppError::NotFound);
        }
        self.require(
            actor,
            Action::Perform(permission),
            &Target::Printer(printer_ref(&row)),
        )?;
        Ok(row)
    }

    async fn check_location(&self, id: Option<LocationId>) -> Result<(), AppError> {
        if let Some(id) = id
            && self.store.location(id).await?.is_none()
        {
            return Err(AppError::BadRequest(format!(
                "location_id: location {id} does not exist."
            )));
        }
        Ok(())
    }
}
