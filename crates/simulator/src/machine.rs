//! One simulated printer's behaviour: the job state machine (IDLE → PREPARE → RUNNING ↔ PAUSE →
//! FINISH, or FAILED on stop, a missing file or an injected failure), temperatures moving
//! toward their targets, and the reports and replies a real printer would publish — full
//! objects like an X1, deltas like a P1 — with the job's identity as printers report it
//! (`gcode_file`, `subtask_name`, the ids echoed from `project_file`, `gcode_start_time`,
//! layers from the file's plate G-code header) and the firmware's quirks that clients must
//! survive (busy refusal, "verify failed" when Developer Mode is off, string-typed numbers,
//! P1S resetting `total_layer_num` at the end).
//!
//! Invariant: pure state; time comes in as `tick(seconds)` (the report clock, Unix seconds,
//! starts at the wall clock and moves only with ticks), so tests run a whole job in
//! microseconds. The files on the SD card are known by their facts ([`FileFacts`]), read by
//! the caller.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Printer models: the one table in `pw-bambu` ([`Model::caps`]) says how each behaves; the
/// simulator offers those with a simulated serial prefix
/// ([`pw_bambu::model::Capabilities::sim_serial_prefix`]).
pub use pw_bambu::model::Model;

/// The models the simulator offers (`X1C`, `X1E`, `P1P`, `P1S`, `P2S`, `A1MINI`, `A1`, `H2D`).
#[must_use]
pub fn simulated_models() -> Vec<Model> {
    Model::ALL
        .into_iter()
        .filter(|m| m.caps().sim_serial_prefix.is_some())
        .collect()
}

/// What the printer knows of one file on its card: per plate, the layer count of the plate's
/// G-code header (`; total layer number: N`), when the file is a sliced 3MF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// Plate index → layers.
    pub layers: BTreeMap<u32, u32>,
}

impl FileFacts {
    /// Reads a file's facts; anything that is not a readable sliced 3MF has none (the job then
    /// gets a plausible layer count).
    pub fn read<R: std::io::Read + std::io::Seek>(reader: R) -> Self {
        // The printer only needs the headers: no full CRC pass over a large upload.
        let limits = pw_printfile::Limits {
            verify_all_entries: false,
            ..pw_printfile::Limits::default()
        };
        let Ok(project) = pw_printfile::read_project(reader, &limits) else {
            return Self::default();
        };
        Self {
            layers: project
                .plates
                .iter()
                .filter_map(|p| Some((p.index, p.gcode.as_ref()?.header.layer_count?)))
                .filter(|(_, l)| *l > 0)
                .collect(),
        }
    }
}

/// Layers of a job whose file says nothing about them.
const PLAUSIBLE_LAYERS: u32 = 120;

/// The identity of a job as `project_file` gave it (and the printer reports it back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobIdentity {
    /// `subtask_name`.
    pub subtask_name: String,
    /// `task_id` (`"0"` when the sender gave none).
    pub task_id: String,
    /// `subtask_id`.
    pub subtask_id: String,
    /// `project_id`.
    pub project_id: String,
    /// `profile_id`.
    pub profile_id: String,
}

/// One `project_file` the printer received (the start log tests read to prove a job was
/// started once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRecord {
    /// The card path it named.
    pub path: String,
    /// The plate.
    pub plate: u32,
    /// `task_id` as sent.
    pub task_id: String,
    /// `ams_mapping` as sent.
    pub ams_mapping: Vec<i64>,
    /// Whether the printer took the job (false: busy, or a repeated task id ignored).
    pub accepted: bool,
}

/// A job's plan.
#[derive(Debug, Clone, PartialEq)]
struct Job {
    /// Card path (`cube.gcode.3mf`, `cache/x.gcode.3mf`).
    path: String,
    /// The plate started.
    plate: u32,
    identity: JobIdentity,
    total_layers: u32,
    /// Simulated seconds of printing.
    duration: f64,
    prepared: f64,
    printed: f64,
    /// Unix seconds at `project_file`.
    started_at: i64,
    /// The file was not on the card: the job fails once PREPARE tries to read it.
    missing: bool,
}

/// Behaviour switches (command line or control API).
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Seconds a job takes once running.
    pub job_seconds: f64,
    /// Seconds of PREPARE.
    pub prepare_seconds: f64,
    /// Fail the next job at this percent.
    pub fail_at: Option<u8>,
    /// With Developer Mode off, control commands are refused as 2025 firmware does.
    pub developer_mode: bool,
    /// False: the printer accepts MQTT logins and commands but publishes no report at all
    /// (seen on printers whose reporting hangs), for the "no report" outcome of a check.
    pub reports: bool,
    /// False: the broker stops answering PINGREQ (a link that hangs while TCP stays open), so
    /// tests can prove a client notices a dead connection by its keep-alive alone. Real
    /// brokers answer every PINGREQ, idle or not (MQTT 3.1.1 §3.12).
    pub answers_pings: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            job_seconds: 120.0,
            prepare_seconds: 3.0,
            fail_at: None,
            developer_mode: true,
            reports: true,
            answers_pings: true,
        }
    }
}

/// The printer.
#[derive(Debug, Clone)]
pub struct Machine {
    model: Model,
    /// Behaviour switches.
    pub behaviour: Behaviour,
    state: &'static str,
    job: Option<Job>,
    percent: u8,
    layer: u32,
    nozzle: (f64, f64),
    bed: (f64, f64),
    chamber: f64,
    part_fan: u8,
    speed: u8,
    /// `led_node` → `led_mode`, for the model's lights.
    lights: BTreeMap<String, String>,
    /// What the printer says about itself: serial (`get_version` `sn`), address (`net`) and
    /// the RTSPS url RTSPS models announce in `ipcam.rtsp_url`.
    pub identity: Identity,
    print_error: u32,
    hms: Vec<(u32, u32)>,
    push_counter: u64,
    last_sent: Map<String, Value>,
    /// Files on the printer's SD card (card paths) and what the printer read from them.
    pub files: BTreeMap<String, FileFacts>,
    last_task_id: Option<String>,
    /// Every `project_file` received, in order.
    pub starts: Vec<StartRecord>,
    /// The report clock, Unix seconds.
    clock: f64,
}

const VERIFY_FAILED_HMS: (u32, u32) = (0x0500_0500, 0x0001_0007);
/// What `stop` leaves in `print_error`: a cancel echo, not a fault (protocol notes §1.5.2
/// `print_error`: "Cancel echoes `0500_400E` / `0300_400C` are not faults"; §1.6 `print.stop`:
/// "After stop, printer goes to FAILED/IDLE and emits cancel echo codes; progress resets").
pub const CANCEL_ECHO: u32 = 0x0300_400C;
const BUSY: u32 = 0x0500_4004;
/// The SD card could not give the file (protocol notes §1.7: printing a file the card cannot
/// read gives `0500-C010`, the SD read/write error); with its HMS entry (`attr >> 16` =
/// `0500`, `code & 0xFFFF` = `C010`).
pub const SD_READ_ERROR: (u32, (u32, u32)) = (0x0500_C010, (0x0500_0100, 0x0002_C010));
/// What an injected failure (`fail_at`) reports: an AMS fault, `0700_8001`, with its HMS entry.
pub const INJECTED_FAILURE: (u32, (u32, u32)) = (0x0700_8001, (0x0700_0100, 0x0002_8001));

impl Machine {
    /// An idle printer.
    #[must_use]
    pub fn new(model: Model, behaviour: Behaviour) -> Self {
        Self {
            model,
            behaviour,
            state: "IDLE",
            job: None,
            percent: 0,
            layer: 0,
            nozzle: (25.0, 0.0),
            bed: (24.0, 0.0),
            chamber: 24.0,
            part_fan: 0,
            speed: 2,
            lights: model
                .caps()
                .light_nodes
                .iter()
                .map(|n| ((*n).to_owned(), "on".to_owned()))
                .collect(),
            identity: Identity::default(),
            print_error: 0,
            hms: Vec::new(),
            push_counter: 0,
            last_sent: Map::new(),
            files: BTreeMap::new(),
            last_task_id: None,
            starts: Vec::new(),
            clock: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    /// The report clock, Unix seconds.
    #[must_use]
    pub fn clock(&self) -> i64 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "Unix seconds fit an i64 for the next few billion years"
        )]
        let secs = self.clock.floor() as i64;
        secs
    }

    /// The current (or last) job's identity.
    #[must_use]
    pub fn job(&self) -> Option<&JobIdentity> {
        self.job.as_ref().map(|j| &j.identity)
    }

    /// Fails the running job now with `print_error` and these HMS entries (what a real fault
    /// does: FAILED, the error and the HMS list in the next report, progress reset); `false`
    /// when no job is running.
    pub fn fail(&mut self, print_error: u32, hms: &[(u32, u32)]) -> bool {
        if !self.busy() {
            return false;
        }
        self.finish("FAILED", print_error);
        for h in hms {
            if !self.hms.contains(h) {
                self.hms.push(*h);
            }
        }
        true
    }

    /// Finishes the running job now, as if its printing time had run out (a test's fast-forward
    /// through a long print: the next report says FINISH at 100 % on the last layer, exactly as
    /// at the natural end); `false` when no job is preparing or running (a paused job waits for
    /// its resume, a missing file still fails).
    pub fn finish_now(&mut self) -> bool {
        if !matches!(self.state, "PREPARE" | "RUNNING") {
            return false;
        }
        let prepare = self.behaviour.prepare_seconds;
        let Some(job) = self.job.as_mut() else {
            return false;
        };
        if job.missing {
            return false;
        }
        job.prepared = job.prepared.max(prepare);
        job.printed = job.duration;
        self.state = "RUNNING";
        self.tick(0.0);
        self.state == "FINISH"
    }

    /// `gcode_state`.
    #[must_use]
    pub fn state(&self) -> &'static str {
        self.state
    }

    /// Progress percent.
    #[must_use]
    pub fn percent(&self) -> u8 {
        self.percent
    }

    fn busy(&self) -> bool {
        matches!(self.state, "PREPARE" | "RUNNING" | "PAUSE")
    }

    /// Advances simulated time.
    pub fn tick(&mut self, seconds: f64) {
        let approach = |(cur, target): (f64, f64), rate: f64| {
            let goal = if target > 0.0 { target } else { 25.0 };
            let step = rate * seconds;
            let next = if (goal - cur).abs() <= step {
                goal
            } else if goal > cur {
                cur + step
            } else {
                cur - step
            };
            (next, target)
        };
        self.clock += seconds;
        self.nozzle = approach(self.nozzle, 8.0);
        self.bed = approach(self.bed, 2.0);
        let speed_factor = match self.speed {
            1 => 0.5,
            3 => 1.24,
            4 => 1.66,
            _ => 1.0,
        };
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match self.state {
            "PREPARE" if job.missing => {
                let (error, hms) = SD_READ_ERROR;
                self.fail(error, &[hms]);
            }
            "PREPARE" => {
                job.prepared += seconds;
                if job.prepared >= self.behaviour.prepare_seconds {
                    self.state = "RUNNING";
                    self.nozzle.1 = 220.0;
                    self.bed.1 = 60.0;
                    self.part_fan = 15;
                }
            }
            "RUNNING" => {
                job.printed += seconds * speed_factor;
                let fraction = (job.printed / job.duration).clamp(0.0, 1.0);
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "fraction is clamped to 0..=1"
                )]
                let percent = (fraction * 100.0).floor() as u8;
                self.percent = percent;
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "fraction is clamped to 0..=1 and layers are few"
                )]
                let layer = ((fraction * f64::from(job.total_layers)).ceil() as u32).max(1);
                self.layer = layer.min(job.total_layers);
                if let Some(at) = self.behaviour.fail_at
                    && self.percent >= at
                {
                    self.behaviour.fail_at = None;
                    let (error, hms) = INJECTED_FAILURE;
                    self.fail(error, &[hms]);
                } else if fraction >= 1.0 {
                    self.finish("FINISH", 0);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, state: &'static str, error: u32) {
        self.state = state;
        self.print_error = error;
        self.nozzle.1 = 0.0;
        self.bed.1 = 0.0;
        self.part_fan = 0;
        if state == "FAILED" {
            self.percent = 0;
        }
    }

    fn remaining_minutes(&self) -> u32 {
        match (&self.job, self.state) {
            (Some(job), "PREPARE" | "RUNNING" | "PAUSE") => {
                let left = (job.duration - job.printed).max(0.0) / 60.0;
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "non-negative and small"
                )]
                let minutes = left.ceil() as u32;
                minutes
            }
            _ => 0,
        }
    }

    /// The complete `print` object (what `pushall` returns).
    #[must_use]
    pub fn full(&self) -> Map<String, Value> {
        let job = self.job.as_ref();
        let round = |v: f64| (v * 10.0).round() / 10.0;
        let prepare = job.map_or(0.0, |j| {
            (j.prepared / self.behaviour.prepare_seconds.max(0.001) * 100.0).min(100.0)
        });
        let mut fun: u64 = 0x3EC1_CFFF_9CFF;
        if !self.behaviour.developer_mode {
            fun |= 0x2000_0000;
        }
        // P1S firmware resets `total_layer_num` to 0 at the end of a job (protocol notes §1.5.2).
        let ended = matches!(self.state, "FINISH" | "FAILED");
        let total_layers = match job {
            Some(_) if ended && matches!(self.model, Model::P1S | Model::P1P) => 0,
            Some(j) => j.total_layers,
            None => 0,
        };
        let id = |f: fn(&JobIdentity) -> &String| {
            job.map_or_else(|| "0".to_owned(), |j| f(&j.identity).clone())
        };
        let print = json!({
            "gcode_state": self.state,
            "mc_percent": self.percent,
            "mc_remaining_time": self.remaining_minutes(),
            "mc_print_stage": if self.busy() { "2" } else { "1" },
            "mc_print_sub_stage": 0,
            "layer_num": self.layer,
            "total_layer_num": total_layers,
            "gcode_file": job.map_or(String::new(), |j| j.gcode_file(self.model)),
            "subtask_name": job.map_or(String::new(), |j| j.identity.subtask_name.clone()),
            "task_id": id(|i| &i.task_id),
            "subtask_id": id(|i| &i.subtask_id),
            "project_id": id(|i| &i.project_id),
            "profile_id": id(|i| &i.profile_id),
            "gcode_start_time": job.map_or(0, |j| j.started_at).to_string(),
            "print_type": if job.is_some() { "local" } else { "idle" },
            "gcode_file_prepare_percent": format!("{prepare:.0}"),
            "nozzle_temper": round(self.nozzle.0),
            "nozzle_target_temper": self.nozzle.1,
            "bed_temper": round(self.bed.0),
            "bed_target_temper": self.bed.1,
            "chamber_temper": self.chamber,
            "cooling_fan_speed": self.part_fan.to_string(),
            "big_fan1_speed": "0",
            "big_fan2_speed": "0",
            "heatbreak_fan_speed": if self.busy() { "15" } else { "0" },
            "spd_lvl": self.speed,
            "spd_mag": 100,
            "print_error": self.print_error,
            "hms": self.hms.iter().map(|(a, c)| json!({"attr": a, "code": c})).collect::<Vec<_>>(),
            "wifi_signal": "-48dBm",
            "fun": format!("{fun:X}"),
            "lights_report": self.lights.iter().map(|(node, mode)| json!({"node": node, "mode": mode})).collect::<Vec<_>>(),
            "stg_cur": if self.state == "PAUSE" { 16 } else if self.busy() { 0 } else { 255 },
            "sdcard": true,
            "nozzle_diameter": "0.4",
            "ams": self.ams_block(),
            "vt_tray": external_spool(),
        });
        let mut print = match print {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        print.extend(self.client_fields());
        if !self.model.caps().reports_fun {
            // P1/A1 firmware sends no `fun` (model table).
            print.remove("fun");
        }
        print
    }

    /// The fields independent clients read besides the job (docs/PROTOCOL.md "Report fields
    /// clients read"), in the shapes OpenBambuAPI's `push_status` example shows.
    fn client_fields(&self) -> Map<String, Value> {
        let caps = self.model.caps();
        let busy = self.busy();
        let x1 = caps.full_reports;
        // `net.info[].ip`: IPv4 as a u32 with the first octet in the low byte.
        let ip = u32::from_le_bytes(self.identity.address.octets());
        let mut ipcam = json!({
            "ipcam_dev": "1", "ipcam_record": "enable", "timelapse": "disable",
            "resolution": if x1 { "1080p" } else { "720p" }, "tutk_server": "disable",
            "mode_bits": 3,
        });
        if caps.camera == pw_bambu::model::CameraKind::Rtsps {
            ipcam["rtsp_url"] = self.identity.rtsp_url.clone().into();
        }
        let fields = json!({
            // Bit 8: SD card present and fine (ha-bambulab `Home_Flag_Values`).
            "home_flag": 0x100,
            "ipcam": ipcam,
            "net": {"conf": 16, "info": [{"ip": ip, "mask": 255}, {"ip": 0, "mask": 0}]},
            "upgrade_state": {
                "sequence_id": 0, "progress": "0", "status": "IDLE", "consistency_request": false,
                "dis_state": 0, "err_code": 0, "force_upgrade": false, "message": "",
                "module": "null", "new_version_state": 2, "cur_state_code": 0,
                "ota_new_version_number": "", "ahb_new_version_number": "",
                "ams_new_version_number": "", "new_ver_list": [],
            },
            "stg": if busy { json!([2, 13, 1]) } else { json!([]) },
            "s_obj": [],
            "nozzle_type": if x1 { "hardened_steel" } else { "stainless_steel" },
            "hw_switch_state": 1,
            "xcam": {
                "first_layer_inspector": x1, "spaghetti_detector": true,
                "printing_monitor": true, "buildplate_marker_detector": true,
                "allow_skip_parts": false, "print_halt": true,
                "halt_print_sensitivity": "medium",
            },
            "xcam_status": "0",
            "ams_status": 0,
            "ams_rfid_status": 6,
            "lifecycle": "product",
            "online": {"ahb": false, "rfid": false, "version": 7},
            "upload": {
                "status": "idle", "progress": 0, "message": "Good", "sequence_id": "0903",
                "file_size": 0, "finish_size": 0, "oss_url": "", "speed": 0,
                "task_id": "", "time_remaining": 0, "trouble_id": "",
            },
            "queue_number": 0, "queue_total": 0, "queue_est": 0, "queue_sts": 0,
            // The part fan's level (0–15) scaled to 0–255 in the low byte [?: packing of
            // the other fans not verified].
            "fan_gear": u32::from(self.part_fan) * 17,
            "fail_reason": "0",
            "mc_print_error_code": "0",
            "mess_production_state": "active",
            "print_gcode_action": 0,
            "print_real_action": 0,
        });
        match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// `print.ams`: the units with their trays as printers report them, and the bitmaps.
    fn ams_block(&self) -> Value {
        let kind = self.model.caps().ams.first().copied();
        let lite = kind == Some(pw_bambu::model::AmsKind::AmsLite);
        let busy = self.busy();
        let trays: Vec<Value> = [
            ("PLA", "PLA Basic", "GFA00", "F72323FF", 82, "A00-R0"),
            ("PLA", "PLA Basic", "GFA00", "FFFFFFFF", 40, "A00-W1"),
            ("PETG", "PETG HF", "GFG02", "161616FF", 100, "G02-K0"),
            ("PLA", "PLA Matte", "GFA01", "2850E0FF", 7, "A01-B6"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (kind, brand, idx, color, remain, name))| {
            let petg = *kind == "PETG";
            json!({
                "id": i.to_string(), "state": 11,
                "tray_id_name": name, "tray_info_idx": idx, "tray_type": kind,
                "tray_sub_brands": brand, "tray_color": color, "cols": [color], "ctype": 0,
                "tray_weight": "1000", "tray_diameter": "1.75",
                "tray_temp": if petg { "65" } else { "55" }, "tray_time": "8",
                "bed_temp_type": "1", "bed_temp": if petg { "70" } else { "35" },
                "nozzle_temp_max": if petg { "260" } else { "230" },
                "nozzle_temp_min": if petg { "230" } else { "190" },
                "drying_temp": "0", "drying_time": "0",
                "xcam_info": "000000000000000000000000",
                "tray_uuid": format!("{:032X}", 0xA5A5_0000_u64 + i as u64),
                "tag_uid": format!("{:016X}", 0x5A5A_0000_u64 + i as u64),
                "remain": remain, "k": 0.02, "n": 1.0, "cali_idx": -1,
            })
        })
        .collect();
        json!({
            "ams": [{
                "id": "0", "humidity": "4", "humidity_raw": "31", "temp": if lite { "0.0" } else { "24.3" },
                "dry_time": 0, "info": if lite { "1003" } else { "1001" }, "tray": trays,
            }],
            "ams_exist_bits": "1",
            "tray_exist_bits": "f",
            "tray_is_bbl_bits": "f",
            "tray_read_done_bits": "f",
            "tray_reading_bits": "0",
            "tray_now": "0",
            "tray_pre": "0",
            "tray_tar": if busy { "0" } else { "255" },
            "version": 4,
            "insert_flag": true,
            "power_on_flag": false,
            "ams_new_detect_flag": false,
        })
    }

    /// The `info.get_version` module list: firmware (`ota`), the boards, and one entry per
    /// AMS unit (docs/PROTOCOL.md `info.get_version`).
    #[must_use]
    pub fn modules(&self) -> Vec<Value> {
        let caps = self.model.caps();
        let sn = &self.identity.serial;
        let x1 = caps.full_reports;
        let module = |name: &str, product: &str, sw: &str, hw: &str, sn: &str| {
            json!({"name": name, "project_name": "", "sw_ver": sw, "hw_ver": hw, "sn": sn,
                   "product_name": product, "visible": true, "flag": 0})
        };
        let mut out = vec![
            module(
                "ota",
                &format!("Bambu Lab {}", caps.product_name),
                if x1 { "01.08.02.00" } else { "01.07.00.00" },
                "",
                sn,
            ),
            module(
                if x1 { "rv1126" } else { "esp32" },
                "",
                if x1 { "00.00.19.15" } else { "01.10.21.72" },
                if x1 { "AP05" } else { "AP04" },
                sn,
            ),
            module(
                "mc",
                "",
                "00.00.10.48",
                if x1 { "MC07" } else { "MC02" },
                &format!("{sn}-MC"),
            ),
            module(
                "th",
                "",
                "00.00.03.79",
                if x1 { "TH07" } else { "TH01" },
                &format!("{sn}-TH"),
            ),
        ];
        if let Some(kind) = caps.ams.first() {
            let (prefix, product) = kind.module();
            out.push(module(
                &format!("{prefix}/0"),
                product,
                "00.00.06.49",
                "AMS08",
                &format!("006{}00001", &sn.get(..3).unwrap_or("000")),
            ));
        }
        out
    }

    fn envelope(&mut self, mut print: Map<String, Value>) -> Vec<u8> {
        self.push_counter += 1;
        print.insert("command".into(), "push_status".into());
        print.insert("msg".into(), 0.into());
        print.insert("sequence_id".into(), self.push_counter.to_string().into());
        // Real printers pretty-print their reports.
        serde_json::to_vec_pretty(&json!({ "print": print })).unwrap_or_default()
    }

    /// A full report frame (on subscribe and `pushall`).
    pub fn full_frame(&mut self) -> Vec<u8> {
        let full = self.full();
        self.last_sent = full.clone();
        self.envelope(full)
    }

    /// The periodic frame: everything (X1) or only what changed (P1/A1); `None` when a delta
    /// would be empty.
    pub fn periodic_frame(&mut self) -> Option<Vec<u8>> {
        if !self.behaviour.reports {
            return None;
        }
        let full = self.full();
        if self.model.caps().full_reports {
            self.last_sent = full.clone();
            return Some(self.envelope(full));
        }
        let delta: Map<String, Value> = full
            .iter()
            .filter(|(k, v)| self.last_sent.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.last_sent = full;
        (!delta.is_empty()).then(|| self.envelope(delta))
    }

    /// Handles one request payload (every top-level command object in it); returns the frames
    /// to publish on the report topic, in order.
    pub fn handle(&mut self, payload: &[u8]) -> Vec<Vec<u8>> {
        let Ok(request) = pw_bambu::report::parse_payload(payload) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (class, body) in request {
            let Some(command) = body.get("command").and_then(Value::as_str) else {
                continue;
            };
            let seq = body
                .get("sequence_id")
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            if class == "pushing" && matches!(command, "pushall" | "start") {
                if self.behaviour.reports {
                    out.push(self.full_frame());
                }
                continue;
            }
            let control = class == "print" || (class == "system" && command == "ledctrl");
            let (result, reason) = if control && !self.behaviour.developer_mode {
                if (class.as_str(), command) == ("print", "project_file") {
                    self.record_start(&body, false);
                }
                if !self.hms.contains(&VERIFY_FAILED_HMS) {
                    self.hms.push(VERIFY_FAILED_HMS);
                }
                ("failed", "mqtt message verify failed".to_owned())
            } else {
                match self.command(&class, command, &body) {
                    Ok(()) => ("success", String::new()),
                    Err(reason) => ("failed", reason),
                }
            };
            let mut reply = match &body {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            if (class.as_str(), command) == ("info", "get_version") {
                reply.insert("module".into(), self.modules().into());
            }
            reply.insert("sequence_id".into(), seq.into());
            reply.insert("result".into(), result.into());
            reply.insert("reason".into(), reason.into());
            out.push(serde_json::to_vec(&json!({ class: reply })).unwrap_or_default());
        }
        out
    }

    fn command(&mut self, class: &str, command: &str, body: &Value) -> Result<(), String> {
        let param = body
            .get("param")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (class, command) {
            ("info", "get_version") => Ok(()),
            ("print", "pause") if self.state == "RUNNING" => {
                self.state = "PAUSE";
                Ok(())
            }
            ("print", "resume") if self.state == "PAUSE" => {
                self.state = "RUNNING";
                Ok(())
            }
            ("print", "pause" | "resume") => Err(format!("cannot {command} while {}", self.state)),
            // A stopped job ends FAILED with the cancel echo and its progress reset (see
            // `CANCEL_ECHO`); the file and the job's identity stay in the report.
            ("print", "stop") if self.busy() => {
                self.finish("FAILED", CANCEL_ECHO);
                Ok(())
            }
            ("print", "stop") => Err("no job to stop".to_owned()),
            ("print", "print_speed") => match param.parse::<u8>() {
                Ok(l @ 1..=4) => {
                    self.speed = l;
                    Ok(())
                }
                _ => Err("bad speed level".to_owned()),
            },
            ("print", "clean_print_error") => {
                self.print_error = 0;
                Ok(())
            }
            ("print", "gcode_line") => {
                for line in param.lines() {
                    let mut words = line.split_whitespace();
                    let code = words.next().unwrap_or_default();
                    let s = words
                        .find_map(|w| w.strip_prefix('S'))
                        .and_then(|v| v.parse::<f64>().ok());
                    match (code, s) {
                        ("M104", Some(t)) => self.nozzle.1 = t,
                        ("M140", Some(t)) => self.bed.1 = t,
                        _ => {}
                    }
                }
                Ok(())
            }
            // `led_node` must be one of the model's lights (the model table); firmware answers
            // others with a failure (the exact reason text is not documented, docs/PROTOCOL.md).
            ("system", "ledctrl") => {
                let node = body
                    .get("led_node")
                    .and_then(Value::as_str)
                    .unwrap_or("chamber_light");
                let mode = body.get("led_mode").and_then(Value::as_str).unwrap_or("");
                if !self.model.has_light(node) {
                    return Err(format!("unknown led_node {node}"));
                }
                if !matches!(mode, "on" | "off" | "flashing") {
                    return Err(format!("unknown led_mode {mode}"));
                }
                self.lights.insert(node.to_owned(), mode.to_owned());
                Ok(())
            }
            ("print", "ams_change_filament" | "ams_get_rfid") => Ok(()),
            ("print", "project_file") => {
                let before = self.job.clone();
                let result = self.start(body);
                let accepted = result.is_ok() && self.job != before;
                self.record_start(body, accepted);
                result
            }
            _ => Err(format!("unsupported command {class}.{command}")),
        }
    }

    fn record_start(&mut self, body: &Value, accepted: bool) {
        let text = |key: &str| match body.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let url = text("url");
        let path = crate::sdcard::path_from_url(&url)
            .unwrap_or_else(|| crate::sdcard::resolve("", &text("file")));
        let plate = text("param")
            .strip_prefix("Metadata/plate_")
            .and_then(|p| p.strip_suffix(".gcode"))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        let ams_mapping = body
            .get("ams_mapping")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        self.starts.push(StartRecord {
            path,
            plate,
            task_id: text("task_id"),
            ams_mapping,
            accepted,
        });
    }

    fn start(&mut self, body: &Value) -> Result<(), String> {
        if self.busy() {
            self.print_error = BUSY;
            return Err("device busy".to_owned());
        }
        let text = |key: &str| {
            body.get(key).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        // The url names the file on the card (`ftp://name`, `ftp:///path`,
        // `file:///mnt/sdcard/path`); `file` alone is a name in the root.
        let url = text("url").unwrap_or_default();
        let path = crate::sdcard::path_from_url(&url)
            .or_else(|| {
                text("file")
                    .map(|f| crate::sdcard::resolve("", &f))
                    .filter(|f| !f.is_empty())
            })
            .ok_or_else(|| "project_file names no file".to_owned())?;
        let plate = text("param")
            .as_deref()
            .and_then(|p| p.strip_prefix("Metadata/plate_"))
            .and_then(|p| p.strip_suffix(".gcode"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| "param must name a plate: Metadata/plate_N.gcode".to_owned())?;
        if body.get("use_ams").is_some_and(|v| !v.is_boolean()) {
            return Err("use_ams must be a boolean".to_owned());
        }
        let task = text("task_id");
        // A repeated task id is read as "continue the last job" by P1S firmware: it stays idle.
        if task.is_some() && task.as_deref() != Some("0") && task == self.last_task_id {
            return Ok(());
        }
        self.last_task_id.clone_from(&task);
        let name = path.rsplit('/').next().unwrap_or(&path);
        let identity = JobIdentity {
            subtask_name: text("subtask_name")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| subtask_of(name)),
            task_id: task.unwrap_or_else(|| "0".to_owned()),
            subtask_id: text("subtask_id").unwrap_or_else(|| "0".to_owned()),
            project_id: text("project_id").unwrap_or_else(|| "0".to_owned()),
            profile_id: text("profile_id").unwrap_or_else(|| "0".to_owned()),
        };
        let facts = self.files.get(&path);
        let started_at = self.clock();
        // A missing file is not refused here: the printer takes the job, and PREPARE fails on
        // reading the card (Bambuddy sees such starts as FAILED straight from PREPARE, farm
        // notes §2.1 "rejected start").
        self.job = Some(Job {
            total_layers: facts
                .and_then(|f| f.layers.get(&plate).copied())
                .unwrap_or(PLAUSIBLE_LAYERS),
            missing: facts.is_none(),
            path,
            plate,
            identity,
            duration: self.behaviour.job_seconds,
            prepared: 0.0,
            printed: 0.0,
            started_at,
        });
        self.state = "PREPARE";
        self.percent = 0;
        self.layer = 0;
        self.print_error = 0;
        self.hms.retain(|h| *h == VERIFY_FAILED_HMS);
        Ok(())
    }
}

/// What a simulated printer says about itself.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Serial (`sn` of the firmware and board modules).
    pub serial: String,
    /// Its address (`net.info[0].ip`).
    pub address: std::net::Ipv4Addr,
    /// `ipcam.rtsp_url` on RTSPS models.
    pub rtsp_url: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            serial: String::new(),
            address: std::net::Ipv4Addr::LOCALHOST,
            rtsp_url: "rtsps://127.0.0.1/streaming/live/1".to_owned(),
        }
    }
}

/// `vt_tray`, the external spool (id 254), empty as on a printer fed from the AMS.
fn external_spool() -> Value {
    json!({
        "id": "254", "tray_id_name": "", "tray_info_idx": "", "tray_type": "",
        "tray_sub_brands": "", "tray_color": "00000000", "tray_weight": "0",
        "tray_diameter": "0.00", "tray_temp": "0", "tray_time": "0", "bed_temp_type": "0",
        "bed_temp": "0", "nozzle_temp_max": "0", "nozzle_temp_min": "0",
        "xcam_info": "000000000000000000000000", "tray_uuid": "00000000000000000000000000000000",
        "tag_uid": "0000000000000000", "remain": 0, "k": 0.02, "n": 1.0, "cali_idx": -1,
        "cols": [], "ctype": 0,
    })
}

/// The job name a printer shows for a file: its name without `.gcode.3mf`/`.3mf`/`.gcode`.
#[must_use]
pub fn subtask_of(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let cut = [".gcode.3mf", ".3mf", ".gcode"]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map_or(0, |ext| ext.len());
    name.get(..name.len() - cut).unwrap_or(name).to_owned()
}

impl Job {
    /// `gcode_file` as reported: on P1/A1 the name for a file in the card's root, the absolute
    /// path for one in a directory (`/cache/x.gcode.3mf`); on X1 the unpacked plate.
    fn gcode_file(&self, model: Model) -> String {
        // X1 firmware unpacks the plate and reports its G-code (model table).
        if model.caps().gcode_file == pw_bambu::model::GcodeFileForm::UnpackedPlate {
            return format!("/data/Metadata/plate_{}.gcode", self.plate);
        }
        if self.path.contains('/') {
            format!("/{}", self.path)
        } else {
            self.path.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use pw_bambu::command::{Command, ProjectFile};
    use pw_bambu::report::{Frame, GcodeState, Report};

    use super::*;

    fn send(m: &mut Machine, c: &Command, seq: u64) -> Vec<Frame> {
        let mut r = Report::new();
        m.handle(&serde_json::to_vec(&c.payload(seq)).unwrap())
            .iter()
            .map(|f| r.apply(f).unwrap())
            .collect()
    }

    fn start(name: &str, task_id: u32) -> Command {
        Command::ProjectFile(ProjectFile {
            file: name.into(),
            plate: 1,
            subtask_name: "cube".into(),
            task_id,
            ams_mapping: vec![0],
            timelapse: false,
            bed_leveling: false,
            flow_cali: false,
            vibration_cali: false,
            layer_inspect: false,
        })
    }

    #[test]
    fn a_job_goes_through_prepare_running_pause_and_finish() {
        let mut m = Machine::new(Model::P1S, Behaviour::default());
        m.files
            .insert("cube.gcode.3mf".into(), FileFacts::default());
        let Frame::Reply(r) = &send(&mut m, &start("cube.gcode.3mf", 2), 8)[0] else {
            panic!()
        };
        assert!(r.succeeded() && r.sequence_id.as_deref() == Some("8"));
        assert_eq!(m.state(), "PREPARE");
        let Frame::Reply(busy) = &send(&mut m, &start("cube.gcode.3mf", 3), 9)[0] else {
            panic!()
        };
        assert_eq!(busy.reason.as_deref(), Some("device busy"));
        m.tick(3.0);
        assert_eq!(m.state(), "RUNNING");
        m.tick(60.0);
        assert_eq!(m.percent(), 50);
        send(&mut m, &Command::Pause, 10);
        assert_eq!(m.state(), "PAUSE");
        m.tick(30.0);
        assert_eq!(m.percent(), 50, "paused jobs do not progress");
        send(&mut m, &Command::Resume, 11);
        m.tick(61.0);
        assert_eq!((m.state(), m.percent()), ("FINISH", 100));
    }

    #[test]
    fn p1_reports_are_deltas_that_merge_back_into_the_full_state() {
        let mut m = Machine::new(Model::P1S, Behaviour::default());
        m.files.insert("a.gcode.3mf".into(), FileFacts::default());
        let mut report = Report::new();
        report.apply(&m.full_frame()).unwrap();
        send(&mut m, &start("a.gcode.3mf", 5), 1);
        for _ in 0..10 {
            m.tick(1.0);
            if let Some(delta) = m.periodic_frame() {
                let v: Value = serde_json::from_slice(&delta).unwrap();
                assert!(v["print"].as_object().unwrap().len() < m.full().len() + 3);
                report.apply(&delta).unwrap();
            }
        }
        let s = report.status();
        assert_eq!(s.gcode_state, GcodeState::Running);
        assert_eq!(s.percent, Some(m.percent()));
        assert_eq!(s.ams[0].trays.len(), 4);
        assert!(m.periodic_frame().is_none() || m.state() == "RUNNING");
    }

    #[test]
    fn a_mute_printer_answers_commands_but_publishes_no_report() {
        let mut m = Machine::new(
            Model::X1C,
            Behaviour {
                reports: false,
                ..Behaviour::default()
            },
        );
        assert!(
            send(&mut m, &Command::PushAll, 1).is_empty(),
            "no answer to pushall"
        );
        m.tick(1.0);
        assert!(m.periodic_frame().is_none());
        let Frame::Reply(r) = &send(&mut m, &Command::Pause, 2)[0] else {
            panic!()
        };
        assert_eq!(
            r.sequence_id.as_deref(),
            Some("2"),
            "commands are still answered"
        );
    }

    #[test]
    fn developer_mode_off_refuses_control_and_latches_hms() {
        let mut m = Machine::new(
            Model::X1C,
            Behaviour {
                developer_mode: false,
                ..Behaviour::default()
            },
        );
        let frames = send(&mut m, &Command::Pause, 3);
        let Frame::Reply(r) = &frames[0] else {
            panic!()
        };
        assert!(r.verify_failed());
        let mut report = Report::new();
        report.apply(&m.full_frame()).unwrap();
        let s = report.status();
        assert!(s.hms.iter().any(pw_bambu::report::Hms::is_verify_failed));
        assert_eq!(s.developer_mode, Some(false));
        // Status still works.
        assert!(matches!(
            send(&mut m, &Command::PushAll, 4)[0],
            Frame::Status
        ));
    }

    #[test]
    fn stop_fails_the_job_and_an_injected_failure_fails_it_too() {
        let mut m = Machine::new(Model::A1, Behaviour::default());
        m.files.insert("x.gcode.3mf".into(), FileFacts::default());
        send(&mut m, &start("x.gcode.3mf", 1), 1);
        m.tick(10.0);
        send(&mut m, &Command::Stop, 2);
        assert_eq!((m.state(), m.percent()), ("FAILED", 0));
        m.behaviour.fail_at = Some(30);
        send(&mut m, &start("x.gcode.3mf", 2), 3);
        m.tick(3.0);
        m.tick(40.0);
        assert_eq!(m.state(), "FAILED");
    }

    fn project_file(m: &mut Machine, body: &Value) -> pw_bambu::report::Reply {
        let mut r = Report::new();
        let payload = serde_json::to_vec(&json!({ "print": body })).unwrap();
        match r.apply(&m.handle(&payload)[0]).unwrap() {
            Frame::Reply(reply) => reply,
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn status(m: &mut Machine) -> pw_bambu::report::Status {
        let mut r = Report::new();
        r.apply(&m.full_frame()).unwrap();
        r.status()
    }

    #[test]
    fn a_missing_file_is_taken_then_fails_in_prepare_with_the_sd_error() {
        let mut m = Machine::new(Model::P1S, Behaviour::default());
        let reply = project_file(
            &mut m,
            &json!({"command": "project_file", "sequence_id": "4",
                    "param": "Metadata/plate_1.gcode", "url": "ftp:///cache/gone.gcode.3mf",
                    "task_id": "77", "use_ams": false}),
        );
        assert!(reply.succeeded(), "the printer acknowledges the job");
        assert_eq!(m.state(), "PREPARE");
        m.tick(0.5);
        let s = status(&mut m);
        assert_eq!(s.gcode_state, GcodeState::Failed);
        assert_eq!(s.fault_code().as_deref(), Some("0500_C010"));
        assert_eq!(s.hms.len(), 1);
        assert_eq!(s.hms[0].short_code(), "0500_C010");
        assert_eq!(s.gcode_file.as_deref(), Some("/cache/gone.gcode.3mf"));
        assert_eq!(s.subtask_name.as_deref(), Some("gone"));
        assert_eq!(s.task_id.as_deref(), Some("77"));
    }

    #[test]
    fn reports_carry_the_job_identity_and_the_plate_layers() {
        for model in [Model::X1C, Model::P1S] {
            let mut m = Machine::new(model, Behaviour::default());
            let idle = status(&mut m);
            assert_eq!((idle.job_key(), idle.gcode_start_time), (None, None));
            assert_eq!(idle.print_type.as_deref(), Some("idle"));
            m.files.insert(
                "model/cube.gcode.3mf".into(),
                FileFacts {
                    layers: [(1, 50), (2, 75)].into_iter().collect(),
                },
            );
            let clock = m.clock();
            let reply = project_file(
                &mut m,
                &json!({"command": "project_file", "sequence_id": "1",
                        "param": "Metadata/plate_2.gcode",
                        "url": "file:///mnt/sdcard/model/cube.gcode.3mf",
                        "subtask_name": "Cube plate 2", "task_id": 123_456_789,
                        "subtask_id": "123456790", "project_id": "11", "profile_id": "12",
                        "use_ams": false}),
            );
            assert!(reply.succeeded());
            m.tick(3.0);
            m.tick(60.0);
            let s = status(&mut m);
            assert_eq!(s.gcode_state, GcodeState::Running);
            let file = if model == Model::X1C {
                "/data/Metadata/plate_2.gcode"
            } else {
                "/model/cube.gcode.3mf"
            };
            assert_eq!(
                s.gcode_file.as_deref(),
                Some(file),
                "X1 reports the unpacked plate"
            );
            assert_eq!(s.subtask_name.as_deref(), Some("Cube plate 2"));
            assert_eq!(s.task_id.as_deref(), Some("123456789"));
            assert_eq!(s.subtask_id.as_deref(), Some("123456790"));
            assert_eq!(s.project_id.as_deref(), Some("11"));
            assert_eq!(s.profile_id.as_deref(), Some("12"));
            assert_eq!(s.gcode_start_time, Some(clock));
            assert_eq!(s.total_layers, Some(75), "plate 2's header");
            assert_eq!(s.layer, Some(38));
            assert_eq!(s.remaining_minutes, Some(1));
            assert_eq!(s.print_stage.as_deref(), Some("2"));
            assert_eq!(s.print_type.as_deref(), Some("local"));
            assert_eq!(s.stage, Some(0));
            m.tick(61.0);
            let s = status(&mut m);
            assert_eq!(s.gcode_state, GcodeState::Finish);
            assert_eq!(
                s.subtask_name.as_deref(),
                Some("Cube plate 2"),
                "kept after the end"
            );
            let reset = if model == Model::P1S { 0 } else { 75 };
            assert_eq!(
                s.total_layers,
                Some(reset),
                "P1S resets the total at the end"
            );
        }
    }

    #[test]
    fn a_stop_ends_failed_with_the_cancel_echo_and_a_fault_carries_hms() {
        let mut m = Machine::new(Model::X1C, Behaviour::default());
        m.files.insert("x.gcode.3mf".into(), FileFacts::default());
        send(&mut m, &start("x.gcode.3mf", 1), 1);
        m.tick(10.0);
        send(&mut m, &Command::Stop, 2);
        let s = status(&mut m);
        assert!(s.was_cancelled(), "{:?}", s.print_error);
        assert_eq!((s.percent, s.fault_code()), (Some(0), None));
        assert!(s.hms.is_empty());
        assert_eq!(s.task_id.as_deref(), Some("1"));

        send(&mut m, &start("x.gcode.3mf", 3), 4);
        m.tick(5.0);
        assert!(m.fail(0x0300_8003, &[(0x0300_0100, 0x0001_8003)]));
        let s = status(&mut m);
        assert_eq!(s.gcode_state, GcodeState::Failed);
        assert_eq!(s.fault_code().as_deref(), Some("0300_8003"));
        assert_eq!(s.hms[0].short_code(), "0300_8003");
        assert!(!m.fail(1, &[]), "nothing is running");
        send(&mut m, &start("x.gcode.3mf", 4), 5);
        let s = status(&mut m);
        assert!(
            s.hms.is_empty() && s.print_error == Some(0),
            "a new job clears them"
        );
    }

    #[test]
    fn subtask_names_drop_the_print_file_extension() {
        assert_eq!(subtask_of("Benchy.gcode.3mf"), "Benchy");
        assert_eq!(subtask_of("plate.3MF"), "plate");
        assert_eq!(subtask_of("a.gcode"), "a");
        assert_eq!(subtask_of("notes.txt"), "notes.txt");
    }

    fn print_of(frame: &[u8]) -> Map<String, Value> {
        let v: Value = serde_json::from_slice(frame).unwrap();
        v["print"].as_object().unwrap().clone()
    }

    #[test]
    fn get_version_lists_firmware_boards_and_ams_units_per_model() {
        for (model, board, ams) in [
            (Model::X1C, "rv1126", ("ams/0", "AMS")),
            (Model::P1S, "esp32", ("ams/0", "AMS")),
            (Model::A1, "esp32", ("ams_f1/0", "AMS Lite")),
        ] {
            let mut m = Machine::new(model, Behaviour::default());
            m.identity.serial = "01P00A000000001".into();
            let frames = m.handle(br#"{"info":{"command":"get_version","sequence_id":"7"},"pushing":{"command":"pushall","sequence_id":"8"}}"#);
            assert_eq!(frames.len(), 2, "every top-level command is answered");
            let reply: Value = serde_json::from_slice(&frames[0]).unwrap();
            let info = &reply["info"];
            assert_eq!(
                (info["sequence_id"].as_str(), info["result"].as_str()),
                (Some("7"), Some("success"))
            );
            let modules = info["module"].as_array().unwrap();
            let named = |n: &str| modules.iter().find(|m| m["name"] == n).unwrap().clone();
            let ota = named("ota");
            assert_eq!(ota["sn"], "01P00A000000001");
            assert!(ota["sw_ver"].as_str().unwrap().split('.').count() == 4);
            assert_eq!(
                Model::parse(ota["product_name"].as_str().unwrap()),
                Some(model),
                "product_name names the model"
            );
            assert!(!named(board)["hw_ver"].as_str().unwrap().is_empty());
            assert_eq!(named(ams.0)["product_name"], ams.1);
            for m in modules {
                for key in ["name", "sw_ver", "hw_ver", "sn", "product_name"] {
                    assert!(m[key].is_string(), "{model}: {key} of {m}");
                }
            }
        }
    }

    #[test]
    fn ams_and_client_fields_are_reported_as_printers_do_and_still_parse() {
        let mut m = Machine::new(Model::X1C, Behaviour::default());
        let full = print_of(&m.full_frame());
        let ams = &full["ams"];
        for key in [
            "tray_tar",
            "tray_pre",
            "tray_now",
            "tray_is_bbl_bits",
            "tray_read_done_bits",
            "tray_exist_bits",
            "ams_exist_bits",
        ] {
            assert!(ams[key].is_string(), "{key}");
        }
        assert!(
            ams["version"].is_number()
                && ams["insert_flag"].is_boolean()
                && ams["power_on_flag"].is_boolean()
        );
        let unit = &ams["ams"][0];
        for key in ["humidity", "humidity_raw", "temp", "info"] {
            assert!(unit[key].is_string(), "{key}");
        }
        assert!(unit["dry_time"].is_number());
        let tray = &unit["tray"][0];
        assert_eq!(tray["state"], 11);
        assert_eq!(tray["tray_uuid"].as_str().unwrap().len(), 32);
        assert_eq!(tray["tag_uid"].as_str().unwrap().len(), 16);
        for key in [
            "tray_info_idx",
            "tray_weight",
            "tray_diameter",
            "tray_temp",
            "nozzle_temp_min",
            "nozzle_temp_max",
            "bed_temp",
            "tray_sub_brands",
        ] {
            assert!(tray[key].is_string(), "{key}");
        }
        assert!(tray["k"].is_number() && tray["n"].is_number() && tray["cols"].is_array());
        assert!(tray["ctype"].is_number());
        assert_eq!(full["vt_tray"]["id"], "254");
        for key in [
            "home_flag",
            "ipcam",
            "net",
            "upgrade_state",
            "print_type",
            "mc_print_stage",
            "mc_print_sub_stage",
            "stg",
            "stg_cur",
            "s_obj",
            "nozzle_type",
            "hw_switch_state",
            "xcam",
            "ams_status",
            "ams_rfid_status",
            "lifecycle",
            "online",
            "upload",
            "task_id",
            "subtask_id",
            "project_id",
            "profile_id",
            "gcode_start_time",
            "queue_number",
            "queue_total",
            "queue_est",
            "queue_sts",
            "fan_gear",
            "fun",
        ] {
            assert!(full.contains_key(key), "X1C reports {key}");
        }
        assert_eq!(
            full["home_flag"].as_u64().unwrap() & 0x100,
            0x100,
            "SD card present"
        );
        assert!(
            full["ipcam"]["rtsp_url"]
                .as_str()
                .unwrap()
                .starts_with("rtsps://")
        );
        assert_eq!(
            full["net"]["info"][0]["ip"], 16_777_343,
            "127.0.0.1, first octet low"
        );
        // printwarden's own parser reads it all.
        let mut r = Report::new();
        r.apply(&m.full_frame()).unwrap();
        let s = r.status();
        assert_eq!(s.ams[0].trays.len(), 4);
        assert_eq!(s.ams[0].trays[0].material, "PLA");
        assert_eq!(s.tray_now.as_deref(), Some("0"));
        assert_eq!(s.developer_mode, Some(true));

        let mut p1 = Machine::new(Model::P1S, Behaviour::default());
        let full = print_of(&p1.full_frame());
        assert!(!full.contains_key("fun"), "P1 firmware sends no fun");
        assert!(
            full["ipcam"].get("rtsp_url").is_none(),
            "JPEG camera: no rtsp_url"
        );
        let mut r = Report::new();
        r.apply(&p1.full_frame()).unwrap();
        assert_eq!(r.status().developer_mode, None);
    }

    #[test]
    fn ledctrl_honours_the_node_and_refuses_unknown_ones() {
        let light = |node: &str, mode: &str| {
            serde_json::to_vec(&json!({"system": {"command": "ledctrl", "sequence_id": "3",
                "led_node": node, "led_mode": mode, "led_on_time": 500, "led_off_time": 500,
                "loop_times": 1, "interval_time": 1000}}))
            .unwrap()
        };
        let mut m = Machine::new(Model::X1C, Behaviour::default());
        let reply = |frames: Vec<Vec<u8>>| -> Value { serde_json::from_slice(&frames[0]).unwrap() };
        let r = reply(m.handle(&light("work_light", "off")));
        assert_eq!(r["system"]["result"], "success");
        let lights = print_of(&m.full_frame())["lights_report"].clone();
        assert!(
            lights
                .as_array()
                .unwrap()
                .contains(&json!({"node": "work_light", "mode": "off"}))
        );
        assert!(
            lights
                .as_array()
                .unwrap()
                .contains(&json!({"node": "chamber_light", "mode": "on"}))
        );
        let r = reply(m.handle(&light("chamber_light2", "on")));
        assert_eq!(
            r["system"]["result"], "failed",
            "an X1C has no second chamber light"
        );
        let mut p1 = Machine::new(Model::P1S, Behaviour::default());
        let r = reply(p1.handle(&light("work_light", "on")));
        assert_eq!(r["system"]["result"], "failed");
        let r = reply(p1.handle(&light("chamber_light", "disco")));
        assert_eq!(r["system"]["result"], "failed");
        // bambulabs-api's command-less `{"system":{"led_mode":"on"}}` is ignored.
        assert!(p1.handle(br#"{"system":{"led_mode":"on"}}"#).is_empty());
        assert!(
            p1.handle(b"not json").is_empty(),
            "malformed payloads get no answer"
        );
    }

    #[test]
    fn project_file_takes_every_url_form_and_the_file_field() {
        for (url, file, path) in [
            (Some("ftp://a.gcode.3mf"), None, "a.gcode.3mf"),
            (Some("ftp:///cache/a.gcode.3mf"), None, "cache/a.gcode.3mf"),
            (
                Some("file:///sdcard/model/a.gcode.3mf"),
                None,
                "model/a.gcode.3mf",
            ),
            (Some("file:///mnt/sdcard/a.gcode.3mf"), None, "a.gcode.3mf"),
            (
                Some("file:///mnt/sdcard"),
                Some("a.gcode.3mf"),
                "a.gcode.3mf",
            ),
            (None, Some("cache/a.gcode.3mf"), "cache/a.gcode.3mf"),
        ] {
            let mut m = Machine::new(Model::P1S, Behaviour::default());
            m.files.insert(path.to_owned(), FileFacts::default());
            let mut body = json!({"command": "project_file", "sequence_id": "1",
                                  "param": "Metadata/plate_1.gcode", "use_ams": false});
            if let Some(u) = url {
                body["url"] = u.into();
            }
            if let Some(f) = file {
                body["file"] = f.into();
            }
            assert!(project_file(&mut m, &body).succeeded(), "{url:?} {file:?}");
            assert_eq!(m.starts[0].path, path, "{url:?} {file:?}");
            m.tick(1.0);
            assert_eq!(m.state(), "PREPARE", "the file was found: {url:?}");
        }
    }
}
