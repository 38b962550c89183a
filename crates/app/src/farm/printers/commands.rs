//! Control commands (pause, resume, stop, light, speed…): each needs its own permission on
//! the printer, is refused while Developer Mode is off, and waits a bounded time for the reply.

use super::*;

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

impl App {
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

    /// Hands a command to the printer's supervisor and waits briefly for the reply.
    pub(crate) async fn send_command(
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
