//! Commands a client publishes on `device/<serial>/request`, serialised exactly as printers and
//! Bambu Studio spell them (bambu-protocol.md §1.6), each with the client's own sequence id so
//! the reply can be matched.
//!
//! Invariant: every field the firmware is picky about has the type it expects — `use_ams` a
//! JSON bool, ids and `param` strings, `ams_mapping` one int per filament with `-1` for
//! unmapped or external (raw 254/255 breaks an H2D), a fresh non-zero `task_id` below 2^31 per
//! start (a repeated one makes a P1S resume the last failed job and stay idle).

use serde_json::{Value, json};

/// Printing speed (`print_speed` / `spd_lvl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// 1.
    Silent,
    /// 2.
    Standard,
    /// 3.
    Sport,
    /// 4.
    Ludicrous,
}

impl Speed {
    fn level(self) -> u8 {
        match self {
            Self::Silent => 1,
            Self::Standard => 2,
            Self::Sport => 3,
            Self::Ludicrous => 4,
        }
    }

    /// From 1–4.
    #[must_use]
    pub fn from_level(level: u8) -> Option<Self> {
        Some(match level {
            1 => Self::Silent,
            2 => Self::Standard,
            3 => Self::Sport,
            4 => Self::Ludicrous,
            _ => return None,
        })
    }
}

/// Which light.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightNode {
    /// The chamber light.
    Chamber,
    /// The work (toolhead) light.
    Work,
}

impl LightNode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Chamber => "chamber_light",
            Self::Work => "work_light",
        }
    }
}

/// Starting a plate of a 3MF that is already on the printer (uploaded over FTPS to `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// File name on the printer, e.g. `benchy.gcode.3mf`.
    pub file: String,
    /// Plate number inside the 3MF (1-based).
    pub plate: u32,
    /// Job name shown on the printer.
    pub subtask_name: String,
    /// A fresh id per start, 1..2^31-1.
    pub task_id: u32,
    /// One global tray id per filament of the 3MF, `-1` for unmapped or the external spool.
    pub ams_mapping: Vec<i32>,
    /// Record a timelapse.
    pub timelapse: bool,
    /// Level the bed first.
    pub bed_leveling: bool,
    /// Calibrate flow.
    pub flow_cali: bool,
    /// Calibrate vibration.
    pub vibration_cali: bool,
    /// Inspect the first layer.
    pub layer_inspect: bool,
}

impl ProjectFile {
    /// `use_ams` must be true when any real tray is mapped and false when none is.
    #[must_use]
    pub fn use_ams(&self) -> bool {
        self.ams_mapping.iter().any(|t| *t >= 0)
    }
}

/// A command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask for a full status report.
    PushAll,
    /// Ask for module versions.
    GetVersion,
    /// Pause the job.
    Pause,
    /// Resume the job.
    Resume,
    /// Stop (cancel) the job.
    Stop,
    /// Switch a light.
    Light {
        /// Which.
        node: LightNode,
        /// On or off.
        on: bool,
    },
    /// Set the speed level.
    Speed(Speed),
    /// Raw G-code lines (temperatures, fans, homing…).
    GcodeLine(String),
    /// Load a tray (global id `ams*4 + slot`) into the nozzle.
    AmsLoad {
        /// AMS unit.
        ams_id: u32,
        /// Slot within the unit.
        slot_id: u32,
        /// Current nozzle temperature.
        nozzle_temp: i32,
    },
    /// Unload the filament in the nozzle.
    AmsUnload {
        /// Current nozzle temperature.
        nozzle_temp: i32,
    },
    /// Re-read a tray's RFID tag.
    AmsRereadRfid {
        /// AMS unit.
        ams_id: u32,
        /// Slot.
        slot_id: u32,
    },
    /// Clear the current print error (acknowledging a finished or failed job).
    ClearPrintError,
    /// Start a plate of an uploaded 3MF.
    ProjectFile(ProjectFile),
}

impl Command {
    /// Command class and name, as the reply will carry them.
    #[must_use]
    pub fn name(&self) -> (&'static str, &'static str) {
        match self {
            Self::PushAll => ("pushing", "pushall"),
            Self::GetVersion => ("info", "get_version"),
            Self::Pause => ("print", "pause"),
            Self::Resume => ("print", "resume"),
            Self::Stop => ("print", "stop"),
            Self::Light { .. } => ("system", "ledctrl"),
            Self::Speed(_) => ("print", "print_speed"),
            Self::GcodeLine(_) => ("print", "gcode_line"),
            Self::AmsLoad { .. } | Self::AmsUnload { .. } => ("print", "ams_change_filament"),
            Self::AmsRereadRfid { .. } => ("print", "ams_get_rfid"),
            Self::ClearPrintError => ("print", "clean_print_error"),
            Self::ProjectFile(_) => ("print", "project_file"),
        }
    }

    /// The JSON payload with `sequence_id`.
    #[must_use]
    pub fn payload(&self, sequence_id: u64) -> Value {
        let (class, command) = self.name();
        let seq = sequence_id.to_string();
        let body = match self {
            Self::PushAll => {
                json!({"command": command, "sequence_id": seq, "version": 1, "push_target": 1})
            }
            Self::GetVersion => json!({"command": command, "sequence_id": seq}),
            Self::Pause | Self::Resume | Self::Stop | Self::ClearPrintError => {
                json!({"command": command, "sequence_id": seq, "param": ""})
            }
            Self::Light { node, on } => json!({
                "command": command, "sequence_id": seq, "led_node": node.as_str(),
                "led_mode": if *on { "on" } else { "off" },
                "led_on_time": 500, "led_off_time": 500, "loop_times": 0, "interval_time": 0,
            }),
            Self::Speed(s) => {
                json!({"command": command, "sequence_id": seq, "param": s.level().to_string()})
            }
            Self::GcodeLine(g) => {
                let mut param = g.clone();
                if !param.ends_with('\n') {
                    param.push('\n');
                }
                json!({"command": command, "sequence_id": seq, "param": param})
            }
            Self::AmsLoad {
                ams_id,
                slot_id,
                nozzle_temp,
            } => json!({
                "command": command, "sequence_id": seq, "ams_id": ams_id, "slot_id": slot_id,
                "target": ams_id * 4 + slot_id, "curr_temp": nozzle_temp, "tar_temp": -1,
            }),
            Self::AmsUnload { nozzle_temp } => json!({
                "command": command, "sequence_id": seq, "ams_id": 255, "slot_id": 255,
                "target": 255, "curr_temp": nozzle_temp, "tar_temp": nozzle_temp,
            }),
            Self::AmsRereadRfid { ams_id, slot_id } => {
                json!({"command": command, "sequence_id": seq, "ams_id": ams_id, "slot_id": slot_id})
            }
            Self::ProjectFile(p) => json!({
                "command": command,
                "sequence_id": seq,
                "param": format!("Metadata/plate_{}.gcode", p.plate),
                "url": format!("ftp://{}", p.file),
                "file": p.file,
                "md5": "",
                "subtask_name": p.subtask_name,
                "project_id": "0",
                "profile_id": "0",
                "task_id": p.task_id.to_string(),
                "subtask_id": "0",
                "timelapse": p.timelapse,
                "bed_leveling": p.bed_leveling,
                "auto_bed_leveling": if p.bed_leveling { 1 } else { 0 },
                "flow_cali": p.flow_cali,
                "extrude_cali_flag": if p.flow_cali { 1 } else { 0 },
                "extrude_cali_manual_mode": 0,
                "vibration_cali": p.vibration_cali,
                "layer_inspect": p.layer_inspect,
                "nozzle_offset_cali": 0,
                "bed_type": "auto",
                "use_ams": p.use_ams(),
                "ams_mapping": p.ams_mapping,
                "cfg": "0",
            }),
        };
        json!({ class: body })
    }
}

/// Sequence ids for one connection: increasing, starting at `start`.
#[derive(Debug, Clone)]
pub struct Sequence(u64);

impl Sequence {
    /// Starts at `start` (use something recognisable, so our commands stand out in logs).
    #[must_use]
    pub fn new(start: u64) -> Self {
        Self(start)
    }

    /// The next id.
    pub fn next_id(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_spelled_as_the_firmware_expects() {
        assert_eq!(
            Command::Pause.payload(17),
            json!({"print": {"command": "pause", "sequence_id": "17", "param": ""}})
        );
        assert_eq!(
            Command::PushAll.payload(1),
            json!({"pushing": {"command": "pushall", "sequence_id": "1", "version": 1, "push_target": 1}})
        );
        assert_eq!(
            Command::Speed(Speed::Sport).payload(2)["print"]["param"],
            "3"
        );
        let light = Command::Light {
            node: LightNode::Chamber,
            on: false,
        }
        .payload(3);
        assert_eq!(light["system"]["led_mode"], "off");
        assert_eq!(light["system"]["led_node"], "chamber_light");
        assert_eq!(light["system"]["loop_times"], 0);
        assert_eq!(
            Command::GcodeLine("M104 S200".into()).payload(4)["print"]["param"],
            "M104 S200\n"
        );
        let unload = Command::AmsUnload { nozzle_temp: 215 }.payload(5);
        assert_eq!(unload["print"]["target"], 255);
        assert_eq!(unload["print"]["tar_temp"], 215);
        let load = Command::AmsLoad {
            ams_id: 1,
            slot_id: 2,
            nozzle_temp: 210,
        }
        .payload(6);
        assert_eq!(load["print"]["target"], 6);
        assert_eq!(load["print"]["tar_temp"], -1);
    }

    #[test]
    fn project_file_has_the_picky_types() {
        let mut p = ProjectFile {
            file: "benchy.gcode.3mf".into(),
            plate: 1,
            subtask_name: "benchy".into(),
            task_id: 123_456,
            ams_mapping: vec![-1, -1],
            timelapse: false,
            bed_leveling: true,
            flow_cali: false,
            vibration_cali: false,
            layer_inspect: false,
        };
        let v = Command::ProjectFile(p.clone()).payload(9);
        let body = &v["print"];
        assert_eq!(body["param"], "Metadata/plate_1.gcode");
        assert_eq!(body["url"], "ftp://benchy.gcode.3mf");
        assert_eq!(
            body["use_ams"], false,
            "external spool only: use_ams must be false"
        );
        assert!(body["use_ams"].is_boolean());
        assert_eq!(body["task_id"], "123456");
        assert_eq!(body["auto_bed_leveling"], 1);
        assert_eq!(body["ams_mapping"], json!([-1, -1]));
        p.ams_mapping = vec![2, -1];
        assert_eq!(
            Command::ProjectFile(p).payload(10)["print"]["use_ams"],
            true
        );
    }

    #[test]
    fn sequence_ids_increase() {
        let mut s = Sequence::new(20_000);
        assert_eq!((s.next_id(), s.next_id()), (20_001, 20_002));
    }
}
