//! Printers and locations as users manage them (S10): add, edit, remove, see live status,
//! send commands (each mapped to its permission), and approve a changed certificate.
//!
//! Invariants: every printer operation is authorized against the printer itself, so a group
//! scope or an API key's printer list narrows it, and a printer outside the caller's reach is a
//! 404 (lists simply leave it out); the access code is sealed per printer and never returned
//! (`has_access_code` only; an empty value on update keeps it); approving a certificate needs
//! the exact fingerprint the printer presented, so an approval cannot trust a certificate
//! nobody has seen.

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
    Connection, PrinterEvent, REPLY_TIMEOUT, Rendered, Request, access_code_context,
};
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

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
    /// RFC 3339.
    pub created_at: String,
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
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/v1/printers/{id}/commands`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandInput {
    /// Pause the job (`printers:control`).
    Pause,
    /// Resume the job (`printers:control`).
    Resume,
    /// Stop the job (`printers:control`).
    Stop,
    /// Chamber light (`printers:control`).
    Light {
        /// On or off.
        on: bool,
    },
    /// Speed level 1–4 (`printers:control`).
    Speed {
        /// 1 silent, 2 standard, 3 sport, 4 ludicrous.
        level: u8,
    },
    /// Nozzle temperature (`printers:gcode`).
    NozzleTemperature {
        /// °C, 0–320.
        celsius: u16,
    },
    /// Bed temperature (`printers:gcode`).
    BedTemperature {
        /// °C, 0–120.
        celsius: u16,
    },
    /// Home all axes (`printers:gcode`).
    Home,
    /// Raw G-code (`printers:gcode`).
    Gcode {
        /// One or more lines.
        gcode: String,
    },
    /// Load a tray (`printers:ams`).
    AmsLoad {
        /// AMS unit 0–3.
        ams: u32,
        /// Slot 0–3.
        slot: u32,
    },
    /// Unload the nozzle (`printers:ams`).
    AmsUnload,
    /// Re-read a tray's tag (`printers:ams`).
    AmsRfid {
        /// AMS unit 0–3.
        ams: u32,
        /// Slot 0–3.
        slot: u32,
    },
    /// Confirm the plate is clear after a print (`printers:clear_plate`).
    ClearPlate,
}

impl CommandInput {
    /// The permission this command needs.
    #[must_use]
    pub fn permission(&self) -> Permission {
        match self {
            Self::Pause | Self::Resume | Self::Stop | Self::Light { .. } | Self::Speed { .. } => {
                Permission::PrintersControl
            }
            Self::NozzleTemperature { .. }
            | Self::BedTemperature { .. }
            | Self::Home
            | Self::Gcode { .. } => Permission::PrintersGcode,
            Self::AmsLoad { .. } | Self::AmsUnload | Self::AmsRfid { .. } => {
                Permission::PrintersAms
            }
            Self::ClearPlate => Permission::PrintersClearPlate,
        }
    }

    fn into_command(self, nozzle: i32) -> Result<Command, AppError> {
        let bad = |m: &str| AppError::BadRequest(m.to_owned());
        Ok(match self {
            Self::Pause => Command::Pause,
            Self::Resume => Command::Resume,
            Self::Stop => Command::Stop,
            Self::Light { on } => Command::Light {
                node: LightNode::Chamber,
                on,
            },
            Self::Speed { level } => Command::Speed(
                Speed::from_level(level).ok_or_else(|| bad("level must be 1 to 4."))?,
            ),
            Self::NozzleTemperature { celsius } if celsius <= 320 => {
                Command::GcodeLine(format!("M104 S{celsius}"))
            }
            Self::BedTemperature { celsius } if celsius <= 120 => {
                Command::GcodeLine(format!("M140 S{celsius}"))
            }
            Self::NozzleTemperature { .. } => return Err(bad("celsius must be 0 to 320.")),
            Self::BedTemperature { .. } => return Err(bad("celsius must be 0 to 120.")),
            // Always a full G28: partial homing can crash H2/X1 beds.
            Self::Home => Command::GcodeLine("G28".to_owned()),
            Self::Gcode { gcode } => {
                let gcode = gcode.trim().to_owned();
                if gcode.is_empty()
                    || gcode.len() > 4096
                    || gcode.chars().any(|c| c.is_control() && c != '\n')
                {
                    return Err(bad("gcode must be 1–4096 characters of G-code lines."));
                }
                Command::GcodeLine(gcode)
            }
            Self::AmsLoad { ams, slot } if ams < 4 && slot < 4 => Command::AmsLoad {
                ams_id: ams,
                slot_id: slot,
                nozzle_temp: nozzle,
            },
            Self::AmsRfid { ams, slot } if ams < 4 && slot < 4 => Command::AmsRereadRfid {
                ams_id: ams,
                slot_id: slot,
            },
            Self::AmsLoad { .. } | Self::AmsRfid { .. } => {
                return Err(bad("ams and slot must be 0 to 3."));
            }
            Self::AmsUnload => Command::AmsUnload {
                nozzle_temp: nozzle,
            },
            Self::ClearPlate => Command::ClearPrintError,
        })
    }
}

/// What the printer answered to a command.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandOutcome {
    /// Whether the printer reported success (`false` with `reason` when it refused).
    pub ok: bool,
    /// The printer's reason for refusing.
    pub reason: Option<String>,
    /// True when the printer did not answer in time (the command was sent).
    pub timed_out: bool,
}

/// `GET /api/v1/printers/{id}/certificate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    /// `pinned`, `changed` or `unpinned`.
    pub state: String,
    /// The trusted certificate's SHA-256 (hex).
    pub pinned_sha256: Option<String>,
    /// A different certificate the printer presented (hex), awaiting approval.
    pub presented_sha256: Option<String>,
}

/// `POST /api/v1/printers/{id}/certificate/trust`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustCertificate {
    /// The presented fingerprint being approved (hex, colons allowed).
    pub sha256: String,
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
            "access_code must be 4–64 visible ASCII characters (the printer shows 8).".into(),
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
        PrinterView {
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
            connection: live.connection,
            problem: live.problem,
            developer_mode_off: live.developer_mode_off,
            certificate: certificate_state(row).to_owned(),
            status: live.status.as_ref().map(StatusView::of),
            last_report_ms: live.last_report_ms,
            created_at: rfc3339(row.created_at),
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
        let rendered = event.rendered.get_or_init(|| {
            let (row, _) = self.fleet.snapshot(event.printer)?;
            let message = serde_json::json!({ "type": "printer", "printer": self.view(&row) });
            Some(Rendered {
                target: printer_ref(&row),
                message: serde_json::to_vec(&message).ok()?.into(),
            })
        });
        let rendered = rendered.as_ref()?;
        may_on(actor, Permission::PrintersRead, rendered.target).then(|| rendered.message.clone())
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

    /// `GET /api/v1/printers`: the printers the caller may read.
    pub async fn list_printers(&self, actor: &Actor) -> Result<Vec<PrinterView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        let filter = crate::core::page::printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        Ok(self
            .store
            .printers_where(&filter)
            .await?
            .iter()
            // The query already filters; the row check stays as a second lock.
            .filter(|row| self.may(actor, Permission::PrintersRead, row))
            .map(|row| self.view(row))
            .collect())
    }

    /// `GET /api/v1/printers?limit=&cursor=`: one page of the printers the caller may read,
    /// by name. The scope filter runs in the query, so pages are full and never count hidden
    /// printers.
    pub async fn printers_page(
        &self,
        actor: &Actor,
        params: &crate::PageParams,
    ) -> Result<crate::Page<PrinterView>, AppError> {
        use crate::core::page::{Listing, PageRequest};
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        let page = PageRequest::parse(Listing::Printers, params)?;
        let filter = crate::core::page::printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        let rows = self.store.printers_page(&filter, &page.store()).await?;
        let (rows, next) = page.finish(Listing::Printers, rows, |r| (r.name.clone(), r.id.get()));
        Ok(crate::Page {
            items: rows
                .iter()
                .filter(|row| self.may(actor, Permission::PrintersRead, row))
                .map(|row| self.view(row))
                .collect(),
            next,
        })
    }

    /// `GET /api/v1/printers/{id}`.
    pub async fn get_printer(&self, actor: &Actor, id: PrinterId) -> Result<PrinterView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersRead)
            .await?;
        Ok(self.view(&row))
    }

    /// `POST /api/v1/printers`.
    pub async fn create_printer(
        &self,
        actor: &Actor,
        input: CreatePrinter,
    ) -> Result<PrinterView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersCreate),
            &Target::Global,
        )?;
        let name = text_field("name", &input.name, 100)?;
        let serial = parse_serial(&input.serial)?;
        let host = parse_host(&input.host)?;
        parse_access_code(&input.access_code)?;
        let model = match input.model.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(m) => text_field("model", m, 32)?,
        };
        self.check_location(input.location_id).await?;
        let new = NewPrinter {
            name: &name,
            serial: &serial,
            host: &host,
            mqtt_port: parse_port("mqtt_port", input.mqtt_port, DEFAULT_MQTT_PORT)?,
            ftps_port: parse_port("ftps_port", input.ftps_port, DEFAULT_FTPS_PORT)?,
            camera_port: parse_port("camera_port", input.camera_port, DEFAULT_CAMERA_PORT)?,
            model: &model,
            location_id: input.location_id,
            access_code: "",
            created_by: actor.user_id,
        };
        let id = match self.store.insert_printer(&new, self.now()).await {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(format!(
                    "A printer with serial {serial} is already added."
                )));
            }
            other => other?,
        };
        // The sealing context names the row, so the code is sealed once the id exists.
        let sealed = self.seal(input.access_code.expose(), &access_code_context(id))?;
        self.store
            .update_printer(
                id,
                &PrinterPatch {
                    access_code: Some(&sealed),
                    ..PrinterPatch::default()
                },
                self.now(),
            )
            .await?;
        self.audit(
            actor,
            AuditEvent::PrinterCreate,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "name": name, "serial": serial, "host": host }),
        )
        .await;
        let row = self.store.printer(id).await?.ok_or(AppError::NotFound)?;
        self.supervise(row.clone());
        Ok(self.view(&row))
    }

    /// `PATCH /api/v1/printers/{id}`.
    pub async fn update_printer(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: UpdatePrinter,
    ) -> Result<PrinterView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersUpdate)
            .await?;
        let name = input
            .name
            .as_deref()
            .map(|n| text_field("name", n, 100))
            .transpose()?;
        let host = input.host.as_deref().map(parse_host).transpose()?;
        let model = match input.model.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(String::new()),
            Some(m) => Some(text_field("model", m, 32)?),
        };
        let code = input.access_code.filter(|c| !c.is_empty());
        if let Some(c) = &code {
            parse_access_code(c)?;
        }
        if let Some(location) = input.location_id {
            self.check_location(location).await?;
            // Moving a printer must not take it out of the caller's own reach unnoticed: they
            // need the right on the printer where it lands too.
            let moved = PrinterRow {
                location_id: location,
                ..row.clone()
            };
            if !self.may(actor, Permission::PrintersUpdate, &moved) {
                return Err(AppError::Forbidden);
            }
        }
        let sealed = code
            .map(|c| self.seal(c.expose(), &access_code_context(id)))
            .transpose()?;
        let port = |name: &str, p: Option<u16>| -> Result<Option<u16>, AppError> {
            p.map(|p| parse_port(name, Some(p), p)).transpose()
        };
        let patch = PrinterPatch {
            name: name.as_deref(),
            host: host.as_deref(),
            mqtt_port: port("mqtt_port", input.mqtt_port)?,
            ftps_port: port("ftps_port", input.ftps_port)?,
            camera_port: port("camera_port", input.camera_port)?,
            model: model.as_deref(),
            location_id: input.location_id,
            access_code: sealed.as_deref(),
        };
        if !self.store.update_printer(id, &patch, self.now()).await? {
            return Err(AppError::NotFound);
        }
        let reconnect = host.is_some() || sealed.is_some() || input.mqtt_port.is_some();
        self.audit(
            actor,
            AuditEvent::PrinterUpdate,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({
                "name": name, "host": host, "access_code_changed": sealed.is_some(),
                "location_id": input.location_id,
            }),
        )
        .await;
        let row = self.store.printer(id).await?.ok_or(AppError::NotFound)?;
        self.fleet.set_row(row.clone());
        if input.location_id.is_some() {
            // A move can take the printer out of a location-scoped viewer's reach.
            self.access_changed();
        }
        if reconnect {
            self.fleet.wake(id);
        }
        Ok(self.view(&row))
    }

    /// `DELETE /api/v1/printers/{id}`.
    pub async fn delete_printer(&self, actor: &Actor, id: PrinterId) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersDelete)
            .await?;
        self.fleet.stop(id);
        if !self.store.delete_printer(id).await? {
            return Err(AppError::NotFound);
        }
        // Its camera viewers and event sockets let go of it now.
        self.access_changed();
        self.audit(
            actor,
            AuditEvent::PrinterDelete,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "name": row.name, "serial": row.serial }),
        )
        .await;
        Ok(())
    }

    /// `POST /api/v1/printers/{id}/commands`: sends the command and waits briefly for the
    /// printer's answer.
    pub async fn printer_command(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: CommandInput,
    ) -> Result<CommandOutcome, AppError> {
        let permission = input.permission();
        let row = self.printer_for(actor, id, permission).await?;
        let live = self.fleet.live(id);
        if live.connection != Connection::Online {
            return Err(AppError::Conflict(format!(
                "{} is not connected{}.",
                row.name,
                live.problem.map(|p| format!(": {p}")).unwrap_or_default()
            )));
        }
        let nozzle = live
            .status
            .as_ref()
            .and_then(|s| s.nozzle.current)
            .map_or(0, |t| {
                #[expect(clippy::cast_possible_truncation, reason = "a nozzle temperature")]
                let t = t.round() as i32;
                t
            });
        let command = input.clone().into_command(nozzle)?;
        let (class, name) = command.name();
        let outcome = self.send_command(&row, command).await?;
        self.audit(
            actor,
            AuditEvent::PrinterCommand,
            Some(("printer", id.to_string())),
            outcome.ok,
            serde_json::json!({ "command": format!("{class}.{name}"), "reason": outcome.reason }),
        )
        .await;
        Ok(outcome)
    }

    /// `GET /api/v1/printers/{id}/certificate`.
    pub async fn printer_certificate(
        &self,
        actor: &Actor,
        id: PrinterId,
    ) -> Result<CertificateView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersRead)
            .await?;
        Ok(CertificateView {
            state: certificate_state(&row).to_owned(),
            pinned_sha256: row.pinned_sha256,
            presented_sha256: row.presented_sha256,
        })
    }

    /// `POST /api/v1/printers/{id}/certificate/trust`: pins the certificate the printer
    /// presented and lets the supervisor connect again.
    pub async fn trust_printer_certificate(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: TrustCertificate,
    ) -> Result<CertificateView, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersTrust)
            .await?;
        let wanted = pw_bambu::trust::Fingerprint::parse(input.sha256.trim())
            .ok_or_else(|| AppError::BadRequest("sha256 must be 64 hex digits.".into()))?
            .to_hex();
        let Some(presented) = row.presented_sha256.clone() else {
            return Err(AppError::Conflict(
                "The printer's certificate has not changed; there is nothing to approve.".into(),
            ));
        };
        if presented != wanted {
            return Err(AppError::Conflict(
                "That is not the fingerprint the printer presented; compare again.".into(),
            ));
        }
        self.store
            .set_printer_certificate(id, Some(&presented), None, self.now())
            .await?;
        self.audit(
            actor,
            AuditEvent::PrinterCertificateTrust,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "previous": row.pinned_sha256, "trusted": presented }),
        )
        .await;
        self.fleet.wake(id);
        Ok(CertificateView {
            state: "pinned".into(),
            pinned_sha256: Some(presented),
            presented_sha256: None,
        })
    }
}

/// A printer file being downloaded (threat, audit finding 13: buffering whole files, up to
/// 256 MiB per request, let a few parallel downloads exhaust the server's memory). The HTTP
/// layer pulls [`PrinterDownload::next_chunk`] only as fast as the client takes the bytes, so
/// at most one chunk per download is in memory.
#[derive(Debug)]
pub struct PrinterDownload {
    printer: PrinterId,
    printer_name: String,
    size: u64,
    download: Option<pw_bambu::ftps::Download>,
}

/// Bytes read from the printer per chunk.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

impl PrinterDownload {
    /// The file's size, as the printer announced it (the response's `Content-Length`).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk, `None` after the last one (once the printer confirmed the transfer).
    /// An error mid-way means the client gets fewer bytes than `size` and can tell.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, AppError> {
        let Some(download) = self.download.as_mut() else {
            return Ok(None);
        };
        let mut chunk = vec![0u8; DOWNLOAD_CHUNK];
        let result = match download.read(&mut chunk).await {
            Ok(0) => match self.download.take() {
                Some(d) => d.finish().await.map(|()| None),
                None => Ok(None),
            },
            Ok(n) => {
                chunk.truncate(n);
                Ok(Some(bytes::Bytes::from(chunk)))
            }
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            self.download = None;
            tracing::warn!(printer = %self.printer, error = %e, "download failed");
            AppError::Conflict(format!("{}'s file store: {e}", self.printer_name))
        })
    }
}

/// A file on a printer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrinterFile {
    /// Name in the printer's root.
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// Largest file served by a download.
pub const MAX_DOWNLOAD: u64 = 256 * 1024 * 1024;

/// A name as printers store them: no directories, no control characters.
fn parse_stored_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 255
        || n.contains(['/', '\\'])
        || n == "."
        || n == ".."
        || n.chars().any(char::is_control)
    {
        return Err(AppError::BadRequest(
            "name must be a file name without directories or control characters.".into(),
        ));
    }
    Ok(n.to_owned())
}

/// Largest file accepted for upload-and-print.
pub const MAX_PRINT_FILE: u64 = 512 * 1024 * 1024;

/// `POST /api/v1/printers/{id}/print?file=…&plate=…` (the body is the file).
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PrintUpload {
    /// File name on the printer, ending in `.3mf` (e.g. `benchy.gcode.3mf`).
    pub file: String,
    /// Plate to print (default 1).
    #[serde(default)]
    pub plate: Option<u32>,
}

fn parse_file_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    let ok = (5..=100).contains(&n.len())
        && n.to_ascii_lowercase().ends_with(".3mf")
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '));
    if !ok {
        return Err(AppError::BadRequest(
            "file must be a .3mf name of 5–100 letters, digits, spaces, dots, dashes or underscores."
                .into(),
        ));
    }
    Ok(n.to_owned())
}

impl App {
    /// Uploads a sliced file over FTPS and starts it: `queue:create` and `printers:control` on
    /// the printer; refused while it is busy (a printer busy with a job may cancel it on a
    /// second start).
    pub async fn upload_and_print(
        &self,
        actor: &Actor,
        id: PrinterId,
        input: PrintUpload,
        length: Option<u64>,
        content: impl tokio::io::AsyncRead + Unpin + Send,
    ) -> Result<CommandOutcome, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersControl)
            .await?;
        self.require(
            actor,
            Action::Perform(Permission::QueueCreate),
            &Target::Printer(printer_ref(&row)),
        )?;
        let file = parse_file_name(&input.file)?;
        let plate = input.plate.unwrap_or(1);
        if !(1..=64).contains(&plate) {
            return Err(AppError::BadRequest("plate must be 1 to 64.".into()));
        }
        let length = match length {
            Some(l) if (1..=MAX_PRINT_FILE).contains(&l) => l,
            Some(0) | None => {
                return Err(AppError::BadRequest(
                    "Send the file as the request body with a Content-Length.".into(),
                ));
            }
            Some(_) => {
                return Err(AppError::BadRequest(format!(
                    "The file is larger than {} MiB.",
                    MAX_PRINT_FILE / 1024 / 1024
                )));
            }
        };
        let live = self.fleet.live(id);
        if live.connection != Connection::Online {
            return Err(AppError::Conflict(format!(
                "{} is not connected.",
                row.name
            )));
        }
        let busy = live
            .status
            .as_ref()
            .is_some_and(|s| s.gcode_state.is_busy());
        // Check and claim in one step: a second call in parallel finds the claim (409), so
        // it can neither upload over the first nor cancel its job with a second start.
        let Some(claim) = self.fleet.claims.claim(id, busy) else {
            return Err(AppError::Conflict(format!(
                "{} is busy with a job; wait until it finishes.",
                row.name
            )));
        };
        let mut ftps = self.ftps(&row).await?;
        let upload = async {
            let sent = ftps
                .upload(
                    &file,
                    tokio::io::AsyncReadExt::take(content, length),
                    |_| {},
                )
                .await?;
            ftps.quit().await;
            Ok::<u64, pw_bambu::ftps::FtpsError>(sent)
        };
        let sent = upload.await.map_err(|e| {
            tracing::warn!(printer = %id, error = %e, "upload failed");
            AppError::Conflict(format!("Upload to {} failed: {e}", row.name))
        })?;
        if sent != length {
            return Err(AppError::BadRequest(format!(
                "The body ended after {sent} of {length} bytes."
            )));
        }
        let task_id =
            crate::core::clock::random::<4>().map(|b| u32::from_le_bytes(b) % 0x7FFF_FFFE + 1)?;
        let command = Command::ProjectFile(pw_bambu::command::ProjectFile {
            file: file.clone(),
            plate,
            subtask_name: file
                .trim_end_matches(".3mf")
                .trim_end_matches(".gcode")
                .to_owned(),
            task_id,
            // The external spool: mapping AMS trays comes with the queue.
            ams_mapping: vec![-1],
            timelapse: false,
            bed_leveling: true,
            flow_cali: false,
            vibration_cali: false,
            layer_inspect: false,
        });
        let job = self.record_print_job(id, actor, &file).await?;
        let outcome = match self.send_command(&row, command).await {
            Ok(o) => o,
            Err(e) => {
                self.forget_print_job(job).await;
                return Err(e);
            }
        };
        if outcome.ok {
            claim.started();
        } else {
            self.forget_print_job(job).await;
        }
        self.audit(
            actor,
            AuditEvent::PrinterPrint,
            Some(("printer", id.to_string())),
            outcome.ok,
            serde_json::json!({ "file": file, "bytes": sent, "plate": plate, "reason": outcome.reason }),
        )
        .await;
        Ok(outcome)
    }

    /// A logged-in FTPS session with the printer's pinned certificate.
    async fn ftps(&self, row: &PrinterRow) -> Result<Ftps, AppError> {
        let Some(pin) = row.pinned_sha256.as_deref().and_then(Fingerprint::parse) else {
            return Err(AppError::Conflict(format!(
                "{} is not trusted yet.",
                row.name
            )));
        };
        let code = self.open(&row.access_code, &access_code_context(row.id))?;
        let verifier = PrinterVerifier::new(&row.serial, Some(pin), self.printer_roots());
        Ftps::connect(&row.host, row.ftps_port, &row.serial, &code, &verifier)
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))
    }

    /// `GET /api/v1/printers/{id}/files`: the files in the printer's root.
    pub async fn printer_files(
        &self,
        actor: &Actor,
        id: PrinterId,
    ) -> Result<Vec<PrinterFile>, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let mut ftps = self.ftps(&row).await?;
        let files = ftps
            .list()
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))?;
        ftps.quit().await;
        Ok(files
            .into_iter()
            .map(|(name, size)| PrinterFile { name, size })
            .collect())
    }

    /// `GET /api/v1/printers/{id}/files/{name}`: opens one file (at most [`MAX_DOWNLOAD`]
    /// bytes) for streaming; the caller pulls it chunk by chunk.
    pub async fn download_printer_file(
        &self,
        actor: &Actor,
        id: PrinterId,
        name: &str,
    ) -> Result<PrinterDownload, AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let name = parse_stored_name(name)?;
        let mut ftps = self.ftps(&row).await?;
        let store_error = |e: pw_bambu::ftps::FtpsError| {
            AppError::Conflict(format!("{}'s file store: {e}", row.name))
        };
        let Some(size) = ftps.size(&name).await.map_err(store_error)? else {
            return Err(AppError::NotFound);
        };
        if size > MAX_DOWNLOAD {
            return Err(AppError::Conflict(format!(
                "{name} is larger than {} MiB.",
                MAX_DOWNLOAD / 1024 / 1024
            )));
        }
        let download = ftps.open_download(&name, size).await.map_err(store_error)?;
        Ok(PrinterDownload {
            printer: id,
            printer_name: row.name,
            size,
            download: Some(download),
        })
    }

    /// `DELETE /api/v1/printers/{id}/files/{name}`.
    pub async fn delete_printer_file(
        &self,
        actor: &Actor,
        id: PrinterId,
        name: &str,
    ) -> Result<(), AppError> {
        let row = self
            .printer_for(actor, id, Permission::PrintersFiles)
            .await?;
        let name = parse_stored_name(name)?;
        if self.printing_file(&row, &name).await? {
            // Threat to the job, not to security: a deleted file under a running print makes
            // the printer fail it mid-way, wasting hours and filament.
            return Err(AppError::Conflict(format!(
                "{} is printing {name}; stop the print before deleting its file.",
                row.name
            )));
        }
        let mut ftps = self.ftps(&row).await?;
        let deleted = ftps
            .delete(&name)
            .await
            .map_err(|e| AppError::Conflict(format!("{}'s file store: {e}", row.name)))?;
        ftps.quit().await;
        if !deleted {
            return Err(AppError::NotFound);
        }
        self.audit(
            actor,
            AuditEvent::PrinterFileDelete,
            Some(("printer", id.to_string())),
            true,
            serde_json::json!({ "file": name }),
        )
        .await;
        Ok(())
    }

    /// Whether the printer is busy with `name`: its report names the file, or the job
    /// printwarden started there is that file.
    async fn printing_file(&self, row: &PrinterRow, name: &str) -> Result<bool, AppError> {
        let live = self.fleet.live(row.id);
        let Some(status) = live.status.as_ref().filter(|s| s.gcode_state.is_busy()) else {
            return Ok(false);
        };
        let reported = status
            .gcode_file
            .as_deref()
            .and_then(|f| f.rsplit('/').next())
            .is_some_and(|f| f == name);
        if reported {
            return Ok(true);
        }
        Ok(self
            .store
            .open_print_job(row.id)
            .await?
            .is_some_and(|job| job.file_name == name))
    }

    /// Hands a command to the printer's supervisor and waits briefly for the reply.
    async fn send_command(
        &self,
        row: &PrinterRow,
        command: Command,
    ) -> Result<CommandOutcome, AppError> {
        let sender = self
            .fleet
            .commands(row.id)
            .ok_or_else(|| AppError::Conflict(format!("{} is not connected.", row.name)))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        sender
            .send(Request { command, reply: tx })
            .await
            .map_err(|_| AppError::Conflict(format!("{} is not connected.", row.name)))?;
        Ok(match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(Ok(Some(reply)))) => CommandOutcome {
                ok: reply.succeeded(),
                reason: reply.reason.clone(),
                timed_out: false,
            },
            Ok(Ok(Err(e))) => return Err(AppError::Conflict(e)),
            Ok(Ok(Ok(None)) | Err(_)) | Err(_) => CommandOutcome {
                ok: true,
                reason: None,
                timed_out: true,
            },
        })
    }
}
