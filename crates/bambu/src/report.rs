//! Status reports: everything a printer publishes on `device/<serial>/report`. `push_status`
//! frames are merged into one state (P1-series printers send only what changed; AMS units and
//! their trays merge by `id`); other frames are replies to commands. [`Report::status`] reads a
//! typed snapshot out of the merged state.
//!
//! The job identity (`gcode_file`, `subtask_name`, `task_id`/`subtask_id`/`project_id`/
//! `profile_id`, `gcode_start_time`, `print_error`, `hms`) is typed too, so the archive can tell
//! one job from the next and a print started elsewhere from one printwarden started.
//!
//! Invariants: unknown fields are kept (a later firmware's fields survive a merge) and ignored
//! by the typed view; numbers are accepted as JSON numbers or numeric strings, as printers send
//! both; malformed input is an error, never a panic; trailing NULs and non-UTF-8 bytes (seen
//! from some firmware) are tolerated.

use serde_json::{Map, Value};

/// Why a frame was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not an object.
    #[error("report is not a JSON object: {0}")]
    NotJson(String),
}

/// What a frame was.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A status push, merged into the state.
    Status,
    /// A reply to a command.
    Reply(Reply),
    /// Anything else (log lines, version info…), kept for the caller.
    Other(Value),
}

/// A printer's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Command class (`print`, `system`, `pushing`, `info`…).
    pub class: String,
    /// Command name.
    pub command: String,
    /// The echoed sequence id, when the printer echoed it.
    pub sequence_id: Option<String>,
    /// `success` / `failed` (compared case-insensitively), when present.
    pub result: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
}

impl Reply {
    /// Whether the printer reported success (a reply without `result` counts as success:
    /// some firmware answers without it).
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.result
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case("success"))
    }

    /// The printer refused because control commands need Developer Mode (firmware ≥ 2025).
    #[must_use]
    pub fn verify_failed(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.to_ascii_lowercase().contains("verify failed"))
    }
}

/// `gcode_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcodeState {
    /// Nothing to do.
    Idle,
    /// Downloading or preparing a file.
    Prepare,
    /// Slicing on the printer.
    Slicing,
    /// Printing.
    Running,
    /// Paused.
    Pause,
    /// Done.
    Finish,
    /// Stopped or failed.
    Failed,
    /// Not reported yet.
    Unknown,
    /// A value this version does not know.
    Other(String),
}

impl GcodeState {
    fn parse(s: &str) -> Self {
        match s {
            "IDLE" => Self::Idle,
            "PREPARE" => Self::Prepare,
            "SLICING" => Self::Slicing,
            "RUNNING" => Self::Running,
            "PAUSE" => Self::Pause,
            "FINISH" => Self::Finish,
            "FAILED" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Idle => "IDLE",
            Self::Prepare => "PREPARE",
            Self::Slicing => "SLICING",
            Self::Running => "RUNNING",
            Self::Pause => "PAUSE",
            Self::Finish => "FINISH",
            Self::Failed => "FAILED",
            Self::Unknown => "UNKNOWN",
            Self::Other(s) => s,
        }
    }

    /// A job is in progress: starting another must be refused (firmware answers "busy", and an
    /// A1 mini even cancels the running job).
    #[must_use]
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Self::Prepare | Self::Slicing | Self::Running | Self::Pause
        )
    }
}

/// A temperature and its target, °C.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Temperature {
    /// Current.
    pub current: Option<f64>,
    /// Target.
    pub target: Option<f64>,
}

/// One AMS tray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tray {
    /// Tray id within its unit.
    pub id: String,
    /// Material (`PLA`…), empty when no spool.
    pub material: String,
    /// `RRGGBBAA`.
    pub color: String,
    /// Remaining percent, when known.
    pub remain: Option<i64>,
}

/// One AMS unit.
#[derive(Debug, Clone, PartialEq)]
pub struct AmsUnit {
    /// Unit id.
    pub id: String,
    /// Humidity index.
    pub humidity: Option<String>,
    /// Temperature, °C.
    pub temperature: Option<f64>,
    /// Its trays.
    pub trays: Vec<Tray>,
}

/// One HMS (health management) message: `attr` and `code` as the 16-hex-digit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hms {
    /// Module and severity.
    pub attr: u32,
    /// Code.
    pub code: u32,
}

impl Hms {
    /// `AAAAAAAACCCCCCCC`, as the wiki lists them.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{:08X}{:08X}", self.attr, self.code)
    }

    /// "MQTT command verification failed": Developer Mode is off.
    #[must_use]
    pub fn is_verify_failed(&self) -> bool {
        self.id() == "0500050000010007"
    }

    /// The short form the wiki and the printer's screen use, `MMMM_EEEE` (`attr >> 16` and
    /// `code & 0xFFFF`), the same shape as [`error_code`] gives a `print_error`.
    #[must_use]
    pub fn short_code(&self) -> String {
        format!("{:04X}_{:04X}", self.attr >> 16, self.code & 0xFFFF)
    }

    /// A fault rather than a status echo (Bambuddy ignores codes below `0x4000`).
    #[must_use]
    pub fn is_fault(&self) -> bool {
        self.code & 0xFFFF >= 0x4000
    }
}

/// A `print_error` as `MMMM_EEEE` (high 16 bits module, low 16 bits code).
#[must_use]
pub fn error_code(print_error: u32) -> String {
    format!("{:04X}_{:04X}", print_error >> 16, print_error & 0xFFFF)
}

/// The codes a printer echoes when a job was cancelled (`0500_400E`, `0300_400C`): not faults.
#[must_use]
pub fn is_cancel_echo(print_error: u32) -> bool {
    matches!(print_error, 0x0500_400E | 0x0300_400C)
}

/// A `print_error` that is a real fault: non-zero, not a status echo (low half below
/// `0x4000`), not a cancel echo.
#[must_use]
pub fn is_fault(print_error: u32) -> bool {
    print_error & 0xFFFF >= 0x4000 && !is_cancel_echo(print_error)
}

/// A typed snapshot of the merged state.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Job state.
    pub gcode_state: GcodeState,
    /// Progress 0–100.
    pub percent: Option<u8>,
    /// Minutes left.
    pub remaining_minutes: Option<u32>,
    /// Current layer.
    pub layer: Option<u32>,
    /// Layers in the job.
    pub total_layers: Option<u32>,
    /// Nozzle.
    pub nozzle: Temperature,
    /// Bed.
    pub bed: Temperature,
    /// Chamber, °C.
    pub chamber: Option<f64>,
    /// Part cooling fan, percent.
    pub part_fan: Option<u8>,
    /// Aux fan, percent.
    pub aux_fan: Option<u8>,
    /// Chamber fan, percent.
    pub chamber_fan: Option<u8>,
    /// Speed level 1 (silent) – 4 (ludicrous).
    pub speed_level: Option<u8>,
    /// Job name.
    pub subtask_name: Option<String>,
    /// File being printed.
    pub gcode_file: Option<String>,
    /// `print_error` (0 = none).
    pub print_error: Option<u32>,
    /// HMS messages.
    pub hms: Vec<Hms>,
    /// e.g. `-45dBm`.
    pub wifi_signal: Option<String>,
    /// AMS units.
    pub ams: Vec<AmsUnit>,
    /// Loaded tray: global id, 254 external, 255 none.
    pub tray_now: Option<String>,
    /// Developer Mode, when the printer reports it (`fun` bit 0x20000000 clear = on).
    pub developer_mode: Option<bool>,
    /// `task_id` of the job: echoed from `project_file`; `"0"` for a plain local print.
    pub task_id: Option<String>,
    /// `subtask_id`, as `task_id`.
    pub subtask_id: Option<String>,
    /// `project_id`, as `task_id`.
    pub project_id: Option<String>,
    /// `profile_id`, as `task_id`.
    pub profile_id: Option<String>,
    /// When the job started (`gcode_start_time`), Unix seconds; `None` when absent or 0.
    pub gcode_start_time: Option<i64>,
    /// `mc_print_stage`, the coarse stage, as sent (firmware sends a string or a number).
    pub print_stage: Option<String>,
    /// `stg_cur`, the current stage id (0 printing, 16 paused by the user…); `None` when idle
    /// (-1 or 255) or absent.
    pub stage: Option<u32>,
    /// `print_type` (`local`, `cloud`, `idle`…; values vary by firmware).
    pub print_type: Option<String>,
    /// `gcode_file_prepare_percent`: download/prepare progress during PREPARE, 0–100.
    pub prepare_percent: Option<u8>,
    /// `nozzle_diameter` in mm, when the printer reports it (a start warns when a plate was
    /// sliced for another nozzle).
    pub nozzle_diameter: Option<f64>,
    /// The chamber light (`lights_report`, node `chamber_light`): on, off, or not reported.
    pub chamber_light: Option<bool>,
    /// The external spool (`vt_tray`, id 254), when the printer reports one.
    pub external_spool: Option<Tray>,
}

impl Status {
    /// The job's `print_error` as `MMMM_EEEE`, when it is a fault (not 0, a status echo or a
    /// cancel echo).
    #[must_use]
    pub fn fault_code(&self) -> Option<String> {
        self.print_error.filter(|e| is_fault(*e)).map(error_code)
    }

    /// The job ended because someone stopped it: FAILED with a cancel echo.
    #[must_use]
    pub fn was_cancelled(&self) -> bool {
        self.gcode_state == GcodeState::Failed && self.print_error.is_some_and(is_cancel_echo)
    }

    /// The HMS messages that are faults (status echoes left out).
    pub fn hms_faults(&self) -> impl Iterator<Item = &Hms> {
        self.hms.iter().filter(|h| h.is_fault())
    }

    /// The printer's job id when it names one: `task_id`, or `subtask_id` when the task is
    /// `"0"`/absent; `None` for a plain local print that carries no ids.
    #[must_use]
    pub fn job_key(&self) -> Option<&str> {
        [&self.task_id, &self.subtask_id]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .find(|v| !v.is_empty() && *v != "0")
    }
}

/// The merged report state of one printer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    state: Map<String, Value>,
}

/// Parses a payload: lossy UTF-8, trailing NULs and whitespace trimmed.
pub fn parse_payload(payload: &[u8]) -> Result<Map<String, Value>, ReportError> {
    let text = String::from_utf8_lossy(payload);
    let text = text.trim_end_matches(['\0', ' ', '\n', '\r', '\t']);
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ReportError::NotJson("not an object".to_owned())),
        Err(e) => Err(ReportError::NotJson(e.to_string())),
    }
}

/// Deep merge: objects key by key, arrays replaced, except AMS units (`ams.ams`) and trays
/// (`tray`), which merge element-wise by their `id`.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        let merge_by_id = key == "ams" || key == "tray";
        match (into.get_mut(&key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (Some(Value::Array(old)), Value::Array(new)) if merge_by_id => merge_list(old, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn merge_list(old: &mut Vec<Value>, new: Vec<Value>) {
    for item in new {
        let id = item.get("id").cloned();
        let existing = id
            .as_ref()
            .and_then(|id| old.iter_mut().find(|o| o.get("id") == Some(id)));
        match (existing, item) {
            (Some(Value::Object(o)), Value::Object(n)) => merge(o, n),
            (_, item) => old.push(item),
        }
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn uint<T: TryFrom<i64>>(v: Option<&Value>) -> Option<T> {
    let f = num(v)?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "wire values are small integers, sometimes sent as floats or strings; finite by num()"
    )]
    let i = f as i64;
    T::try_from(i).ok()
}

/// A 32-bit code (`print_error`, HMS `attr`/`code`): a JSON number or numeric string, and a
/// negative value read as its two's-complement bits (some firmware sends codes signed).
fn code32(v: Option<&Value>) -> Option<u32> {
    let i: i64 = uint(v)?;
    u32::try_from(i)
        .ok()
        .or_else(|| i32::try_from(i).ok().map(i32::cast_unsigned))
}

/// An id echoed from `project_file` (string or number), empty left out.
fn id_text(v: Option<&Value>) -> Option<String> {
    let t = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!t.is_empty()).then_some(t)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Fan level 0–15 as a percentage.
/// One tray of an AMS unit, or the external spool (`vt_tray`).
fn tray(t: &Value) -> Tray {
    Tray {
        id: text(t.get("id")).unwrap_or_default(),
        material: text(t.get("tray_type")).unwrap_or_default(),
        color: text(t.get("tray_color")).unwrap_or_default(),
        remain: uint(t.get("remain")).filter(|r: &i64| *r >= 0),
    }
}

fn fan(v: Option<&Value>) -> Option<u8> {
    let level: u32 = uint(v)?;
    u8::try_from(level.min(15) * 100 / 15).ok()
}

impl Report {
    /// An empty state.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one frame from the report topic.
    pub fn apply(&mut self, payload: &[u8]) -> Result<Frame, ReportError> {
        let mut frame = parse_payload(payload)?;
        let command = frame
            .get("print")
            .and_then(|p| p.get("command"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if command.as_deref() == Some("push_status") {
            // Some firmware puts `wifi_signal`/`fun` at the top level; fold them into `print`.
            for key in ["wifi_signal", "fun"] {
                if let Some(v) = frame.remove(key)
                    && let Some(Value::Object(p)) = frame.get_mut("print")
                {
                    p.entry(key.to_owned()).or_insert(v);
                }
            }
            merge(&mut self.state, frame);
            return Ok(Frame::Status);
        }
        for (class, body) in &frame {
            if let Some(command) = body.get("command").and_then(Value::as_str) {
                return Ok(Frame::Reply(Reply {
                    class: class.clone(),
                    command: command.to_owned(),
                    sequence_id: text(body.get("sequence_id")),
                    result: text(body.get("result")),
                    reason: text(body.get("reason")).filter(|r| !r.is_empty()),
                }));
            }
        }
        Ok(Frame::Other(Value::Object(frame)))
    }

    /// Forgets everything (a new connection starts from a `pushall`).
    pub fn clear(&mut self) {
        self.state.clear();
    }

    /// The merged `print` object.
    #[must_use]
    pub fn raw(&self) -> &Map<String, Value> {
        &self.state
    }

    /// The typed snapshot.
    #[must_use]
    pub fn status(&self) -> Status {
        let empty = Map::new();
        let p = self
            .state
            .get("print")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let ams = p
            .get("ams")
            .and_then(|a| a.get("ams"))
            .and_then(Value::as_array)
            .map(|units| {
                units
                    .iter()
                    .map(|u| AmsUnit {
                        id: text(u.get("id")).unwrap_or_default(),
                        humidity: text(u.get("humidity")),
                        temperature: num(u.get("temp")),
                        trays: u
                            .get("tray")
                            .and_then(Value::as_array)
                            .map(|trays| trays.iter().map(tray).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let hms = p
            .get("hms")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|h| {
                        Some(Hms {
                            attr: code32(h.get("attr"))?,
                            code: code32(h.get("code"))?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let developer_mode = text(p.get("fun"))
            .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .map(|bits| bits & 0x2000_0000 == 0);
        Status {
            gcode_state: p
                .get("gcode_state")
                .and_then(Value::as_str)
                .map_or(GcodeState::Unknown, GcodeState::parse),
            percent: uint::<i64>(p.get("mc_percent"))
                .map(|v| v.clamp(0, 100))
                .and_then(|v| u8::try_from(v).ok()),
            remaining_minutes: uint(p.get("mc_remaining_time")),
            layer: uint(p.get("layer_num")),
            total_layers: uint(p.get("total_layer_num")),
            nozzle: Temperature {
                current: num(p.get("nozzle_temper")),
                target: num(p.get("nozzle_target_temper")),
            },
            bed: Temperature {
                current: num(p.get("bed_temper")),
                target: num(p.get("bed_target_temper")),
            },
            chamber: num(p.get("chamber_temper")),
            part_fan: fan(p.get("cooling_fan_speed")),
            aux_fan: fan(p.get("big_fan1_speed")),
            chamber_fan: fan(p.get("big_fan2_speed")),
            speed_level: uint(p.get("spd_lvl")),
            subtask_name: text(p.get("subtask_name")).filter(|s| !s.is_empty()),
            gcode_file: text(p.get("gcode_file")).filter(|s| !s.is_empty()),
            print_error: code32(p.get("print_error")),
            hms,
            wifi_signal: text(p.get("wifi_signal")),
            ams,
            tray_now: p
                .get("ams")
                .and_then(|a| a.get("tray_now"))
                .and_then(|v| text(Some(v))),
            developer_mode,
            task_id: id_text(p.get("task_id")),
            subtask_id: id_text(p.get("subtask_id")),
            project_id: id_text(p.get("project_id")),
            profile_id: id_text(p.get("profile_id")),
            gcode_start_time: uint::<i64>(p.get("gcode_start_time")).filter(|t| *t > 0),
            print_stage: id_text(p.get("mc_print_stage")),
            stage: uint::<i64>(p.get("stg_cur"))
                .filter(|s| !matches!(s, -1 | 255))
                .and_then(|s| u32::try_from(s).ok()),
            print_type: text(p.get("print_type")).filter(|s| !s.is_empty()),
            prepare_percent: uint::<i64>(p.get("gcode_file_prepare_percent"))
                .map(|v| v.clamp(0, 100))
                .and_then(|v| u8::try_from(v).ok()),
            nozzle_diameter: num(p.get("nozzle_diameter")).filter(|d| *d > 0.0),
            chamber_light: p
                .get("lights_report")
                .and_then(Value::as_array)
                .and_then(|lights| {
                    lights
                        .iter()
                        .find(|l| l.get("node").and_then(Value::as_str) == Some("chamber_light"))
                })
                .and_then(|l| l.get("mode").and_then(Value::as_str))
                // "flashing" is on as far as a person in the room can tell.
                .map(|mode| mode != "off"),
            external_spool: p.get("vt_tray").filter(|t| t.is_object()).map(tray),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(print: &Value) -> Vec<u8> {
        let mut p = print.clone();
        p["command"] = "push_status".into();
        serde_json::to_vec(&serde_json::json!({ "print": p })).unwrap()
    }

    #[test]
    fn the_chamber_light_and_the_external_spool_are_read() {
        let mut r = Report::new();
        r.apply(&push(&serde_json::json!({
            "lights_report": [{"node": "work_light", "mode": "on"}, {"node": "chamber_light", "mode": "off"}],
            "vt_tray": {"id": "254", "tray_type": "PETG", "tray_color": "FF0000FF", "remain": 35},
        })))
        .unwrap();
        let s = r.status();
        assert_eq!(s.chamber_light, Some(false));
        let spool = s.external_spool.unwrap();
        assert_eq!((spool.material.as_str(), spool.remain), ("PETG", Some(35)));
        r.apply(&push(&serde_json::json!({
            "lights_report": [{"node": "chamber_light", "mode": "flashing"}],
        })))
        .unwrap();
        assert_eq!(r.status().chamber_light, Some(true));
        assert_eq!(Report::new().status().chamber_light, None);
    }

    #[test]
    fn p1_deltas_merge_into_one_state_with_trays_by_id() {
        let mut r = Report::new();
        r.apply(&push(&serde_json::json!({
            "gcode_state": "RUNNING", "mc_percent": 10, "mc_remaining_time": 42,
            "layer_num": 3, "total_layer_num": 120, "nozzle_temper": 219.5,
            "nozzle_target_temper": 220, "bed_temper": "59.8", "bed_target_temper": "60",
            "cooling_fan_speed": "15", "spd_lvl": 2, "subtask_name": "benchy",
            "wifi_signal": "-45dBm", "fun": "3EC1CFFF9CFF",
            "ams": {"tray_now": "1", "ams": [{"id": "0", "humidity": "4", "temp": "22.1", "tray": [
                {"id": "0", "tray_type": "PLA", "tray_color": "FF0000FF", "remain": 80},
                {"id": "1", "tray_type": "PETG", "tray_color": "00FF00FF", "remain": -1}
            ]}]}
        })))
        .unwrap();
        // A delta: progress, one tray's remain, nothing else.
        r.apply(&push(&serde_json::json!({
            "mc_percent": 11, "ams": {"ams": [{"id": "0", "tray": [{"id": "0", "remain": 79}]}]}
        })))
        .unwrap();
        let s = r.status();
        assert_eq!(s.gcode_state, GcodeState::Running);
        assert!(s.gcode_state.is_busy());
        assert_eq!(s.percent, Some(11));
        assert_eq!(s.remaining_minutes, Some(42));
        assert_eq!((s.layer, s.total_layers), (Some(3), Some(120)));
        assert_eq!(s.nozzle.current, Some(219.5));
        assert_eq!(s.bed.target, Some(60.0));
        assert_eq!(s.part_fan, Some(100));
        assert_eq!(s.speed_level, Some(2));
        assert_eq!(s.ams.len(), 1);
        assert_eq!(s.ams[0].trays.len(), 2, "the delta did not drop tray 1");
        assert_eq!(s.ams[0].trays[0].remain, Some(79));
        assert_eq!(s.ams[0].trays[0].material, "PLA");
        assert_eq!(s.ams[0].trays[1].remain, None);
        assert_eq!(s.tray_now.as_deref(), Some("1"));
        assert_eq!(s.developer_mode, Some(true));
    }

    #[test]
    fn replies_are_told_apart_and_verify_failures_recognised() {
        let mut r = Report::new();
        let f = r
            .apply(br#"{"print":{"command":"pause","sequence_id":"17","result":"success","reason":""}}"#)
            .unwrap();
        let Frame::Reply(reply) = f else {
            panic!("not a reply: {f:?}")
        };
        assert_eq!(reply.sequence_id.as_deref(), Some("17"));
        assert!(reply.succeeded() && !reply.verify_failed());
        let Frame::Reply(refused) = r
            .apply(b"{\"print\":{\"command\":\"project_file\",\"sequence_id\":3,\"result\":\"FAILED\",\"reason\":\"mqtt message verify failed\"}}\0")
            .unwrap()
        else {
            panic!("not a reply")
        };
        assert_eq!(refused.sequence_id.as_deref(), Some("3"));
        assert!(!refused.succeeded() && refused.verify_failed());
        assert_eq!(
            r.status().gcode_state,
            GcodeState::Unknown,
            "replies are not state"
        );
        let hms = Hms {
            attr: 0x0500_0500,
            code: 0x0001_0007,
        };
        assert!(hms.is_verify_failed());
        assert!(r.apply(b"[1,2]").is_err());
        assert!(r.apply(b"\xff\xfe").is_err());
    }

    /// An X1-style full report of a job started from a slicer: every identity field typed,
    /// whatever the firmware's spelling of numbers.
    #[test]
    fn an_x1_full_report_types_the_job_identity() {
        let mut r = Report::new();
        r.apply(&push(&serde_json::json!({
            "gcode_state": "RUNNING", "mc_percent": "37", "mc_remaining_time": 51,
            "layer_num": 12, "total_layer_num": "240",
            "gcode_file": "/cache/benchy.gcode.3mf", "subtask_name": "benchy",
            "task_id": "812345678", "subtask_id": 812345679, "project_id": "0",
            "profile_id": "", "gcode_start_time": "1765080000", "mc_print_stage": "2",
            "stg_cur": 0, "print_type": "local", "gcode_file_prepare_percent": "100",
            "print_error": 0, "hms": [], "nozzle_diameter": "0.4"
        })))
        .unwrap();
        let s = r.status();
        assert_eq!(s.nozzle_diameter, Some(0.4));
        assert_eq!(s.gcode_file.as_deref(), Some("/cache/benchy.gcode.3mf"));
        assert_eq!(s.subtask_name.as_deref(), Some("benchy"));
        assert_eq!(s.task_id.as_deref(), Some("812345678"));
        assert_eq!(
            s.subtask_id.as_deref(),
            Some("812345679"),
            "a number is read as its digits"
        );
        assert_eq!(s.project_id.as_deref(), Some("0"));
        assert_eq!(s.profile_id, None, "empty is absent");
        assert_eq!(s.job_key(), Some("812345678"));
        assert_eq!(s.gcode_start_time, Some(1_765_080_000));
        assert_eq!((s.layer, s.total_layers), (Some(12), Some(240)));
        assert_eq!((s.percent, s.remaining_minutes), (Some(37), Some(51)));
        assert_eq!(s.print_stage.as_deref(), Some("2"));
        assert_eq!(s.stage, Some(0));
        assert_eq!(s.print_type.as_deref(), Some("local"));
        assert_eq!(s.prepare_percent, Some(100));
        assert_eq!((s.print_error, s.fault_code()), (Some(0), None));
        assert!(!s.was_cancelled());
    }

    /// P1-style deltas: the identity arrives once, later frames carry only what changed, and a
    /// failure brings `print_error` and HMS entries (signed or string-typed on some firmware).
    #[test]
    fn p1_deltas_keep_the_identity_and_add_the_failure() {
        let mut r = Report::new();
        r.apply(&push(&serde_json::json!({
            "gcode_state": "PREPARE", "gcode_file": "cube.gcode.3mf", "subtask_name": "cube",
            "task_id": "0", "subtask_id": "0", "gcode_start_time": 0, "stg_cur": 255
        })))
        .unwrap();
        let s = r.status();
        assert_eq!(s.job_key(), None, "a local print carries no ids");
        assert_eq!((s.gcode_start_time, s.stage), (None, None));
        r.apply(&push(&serde_json::json!({
            "gcode_state": "RUNNING", "layer_num": 3, "total_layer_num": 80,
            "gcode_start_time": 1_765_080_000_i64, "stg_cur": 0
        })))
        .unwrap();
        r.apply(&push(&serde_json::json!({
            "gcode_state": "FAILED", "print_error": "117473281",
            "hms": [{"attr": 117_506_304, "code": "131073"}, {"attr": -1, "code": 0x4001},
                    {"attr": "bad"}, 7]
        })))
        .unwrap();
        let s = r.status();
        assert_eq!(s.subtask_name.as_deref(), Some("cube"));
        assert_eq!(s.gcode_file.as_deref(), Some("cube.gcode.3mf"));
        assert_eq!(s.gcode_start_time, Some(1_765_080_000));
        assert_eq!(s.total_layers, Some(80));
        assert_eq!(s.print_error, Some(0x0700_8001));
        assert_eq!(s.fault_code().as_deref(), Some("0700_8001"));
        assert_eq!(s.hms.len(), 2, "malformed entries are skipped");
        assert_eq!(s.hms[0].short_code(), "0701_0001");
        assert!(!s.hms[0].is_fault(), "a status echo");
        assert_eq!(s.hms[1].attr, u32::MAX, "a signed attr is read as its bits");
        assert_eq!(s.hms_faults().count(), 1);
        // A stop: the cancel echo is not a fault.
        r.apply(&push(
            &serde_json::json!({"print_error": 0x0300_400C, "hms": []}),
        ))
        .unwrap();
        let s = r.status();
        assert!(s.was_cancelled());
        assert_eq!(s.fault_code(), None);
        assert!(is_cancel_echo(0x0500_400E) && !is_fault(0x0500_400E));
        assert_eq!(error_code(0x0500_C010), "0500_C010");
    }

    proptest::proptest! {
        /// Arbitrary JSON, in any shape a broken or hostile printer could send, never panics
        /// the merge or the typed view.
        #[test]
        fn arbitrary_reports_never_panic(frames in proptest::collection::vec(json(), 1..6)) {
            let mut r = Report::new();
            for f in frames {
                let wrapped = serde_json::json!({"print": f.clone()});
                let mut body = f.as_object().cloned().unwrap_or_default();
                body.insert("command".into(), "push_status".into());
                let push = serde_json::json!({"print": body});
                let _ = r.apply(&serde_json::to_vec(&push).unwrap());
                let _ = r.apply(&serde_json::to_vec(&wrapped).unwrap());
                let _ = r.apply(&serde_json::to_vec(&f).unwrap());
                let _ = r.status();
            }
        }
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        // The fields the typed view reads, so arbitrary values land on them often.
        const KEYS: &[&str] = &[
            "ams",
            "tray",
            "id",
            "mc_percent",
            "hms",
            "attr",
            "code",
            "gcode_state",
            "fun",
            "remain",
            "layer_num",
            "total_layer_num",
            "mc_remaining_time",
            "gcode_file",
            "subtask_name",
            "task_id",
            "subtask_id",
            "project_id",
            "profile_id",
            "print_error",
            "gcode_start_time",
            "mc_print_stage",
            "stg_cur",
            "print_type",
            "gcode_file_prepare_percent",
            "nozzle_diameter",
        ];
        let keys = prop_oneof![
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(keys.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
