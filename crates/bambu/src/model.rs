//! Bambu Lab printer models under their many names: the model codes slicers write in
//! `slice_info.config` (`printer_model_id`, e.g. `C12`) and SSDP/the cloud announce
//! (`BL-P001`), the names of `project_settings.config` and G-code headers (`Bambu Lab P1S`),
//! and what people type when they add a printer (`P1S`, `X1 Carbon`, `a1 mini`). [`Model::parse`]
//! reads any of them, so "sliced for another printer" compares models, not spellings.
//!
//! Codes from bambu-protocol.md §1.10 (Bambuddy's emulator table, consistent with the cloud
//! `bind` example). Invariant: an unknown name is `None`, never a guess — a warning built on a
//! guess would cry wolf.

use std::fmt;

/// A printer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// X1 Carbon (`BL-P001`).
    X1C,
    /// X1 (`BL-P002`).
    X1,
    /// X1E (`C13`).
    X1E,
    /// P1P (`C11`).
    P1P,
    /// P1S (`C12`).
    P1S,
    /// P2S (`N7`).
    P2S,
    /// A1 mini (`N1`).
    A1Mini,
    /// A1 (`N2S`).
    A1,
    /// X2D (`N6`).
    X2D,
    /// A2L (`N9`).
    A2L,
    /// H2D (`O1D`).
    H2D,
    /// H2D Pro (`O1E`, `O2D`).
    H2DPro,
    /// H2C (`O1C`, `O1C2`).
    H2C,
    /// H2S (`O1S`).
    H2S,
}

impl Model {
    /// Reads a model code or name in any case, with or without `Bambu Lab`, spaces or dashes
    /// (`C12`, `BL-P001`, `Bambu Lab X1 Carbon`, `a1 mini`, `A1MINI`); `None` when unknown.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let lower = raw.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("bambu lab").unwrap_or(&lower);
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect();
        Some(match key.as_str() {
            "blp001" | "x1c" | "x1carbon" => Self::X1C,
            "blp002" | "x1" => Self::X1,
            "c13" | "x1e" => Self::X1E,
            "c11" | "p1p" => Self::P1P,
            "c12" | "p1s" => Self::P1S,
            "n7" | "p2s" => Self::P2S,
            "n1" | "a1mini" => Self::A1Mini,
            "n2s" | "a1" => Self::A1,
            "n6" | "x2d" => Self::X2D,
            "n9" | "a2l" => Self::A2L,
            "o1d" | "h2d" => Self::H2D,
            "o1e" | "o2d" | "h2dpro" => Self::H2DPro,
            "o1c" | "o1c2" | "h2c" => Self::H2C,
            "o1s" | "h2s" => Self::H2S,
            _ => return None,
        })
    }

    /// The name people use (`X1C`, `A1 mini`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::X1C => "X1C",
            Self::X1 => "X1",
            Self::X1E => "X1E",
            Self::P1P => "P1P",
            Self::P1S => "P1S",
            Self::P2S => "P2S",
            Self::A1Mini => "A1 mini",
            Self::A1 => "A1",
            Self::X2D => "X2D",
            Self::A2L => "A2L",
            Self::H2D => "H2D",
            Self::H2DPro => "H2D Pro",
            Self::H2C => "H2C",
            Self::H2S => "H2S",
        }
    }
}

/// How a model serves its camera on the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraKind {
    /// The "chamber image" stream: TLS on port 6000, an 80-byte auth packet, then a 16-byte
    /// header and a JPEG per frame (A1, A1 mini, P1P, P1S).
    ChamberImage,
    /// RTSP over TLS on port 322, H.264 (`rtsps://bblp:<code>@<ip>:322/streaming/live/1`,
    /// announced in the report's `ipcam.rtsp_url`): X1, X1C, X1E, P2S, X2D, H2 series.
    Rtsps,
}

impl CameraKind {
    /// The port a real printer serves it on.
    #[must_use]
    pub fn port(self) -> u16 {
        match self {
            Self::ChamberImage => 6000,
            Self::Rtsps => 322,
        }
    }

    /// The name the API and the UI use (`jpeg`, `rtsps`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChamberImage => "jpeg",
            Self::Rtsps => "rtsps",
        }
    }
}

/// A kind of filament unit a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmsKind {
    /// The original AMS (4 trays, RFID, humidity; unit ids 0–3).
    Ams,
    /// AMS Lite (A1 family; no enclosure, no remaining-filament estimate).
    AmsLite,
    /// AMS 2 Pro (`n3f/<id>` in `get_version`, with a dryer).
    Ams2Pro,
    /// AMS HT (one tray, unit ids 128–135, `n3s/<id>`).
    AmsHt,
}

impl AmsKind {
    /// The `get_version` module name prefix (`ams/0`, `n3f/0`, `n3s/128`) and product name.
    #[must_use]
    pub fn module(self) -> (&'static str, &'static str) {
        match self {
            Self::Ams => ("ams", "AMS"),
            Self::AmsLite => ("ams_f1", "AMS Lite"),
            Self::Ams2Pro => ("n3f", "AMS 2 Pro"),
            Self::AmsHt => ("n3s", "AMS HT"),
        }
    }
}

/// What `gcode_file` says while a LAN-started 3MF prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcodeFileForm {
    /// The 3MF as named by the start (`cube.gcode.3mf`, `/cache/x.gcode.3mf`): P1/A1.
    ProjectFile,
    /// The plate G-code the printer unpacked, `/data/Metadata/plate_<N>.gcode`: X1 series.
    UnpackedPlate,
}

/// What a model can do and how it speaks: the one table the client, the simulator and the
/// UI read (protocol notes `docs/PROTOCOL.md` §"Model capabilities" cite the sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `product_name` of the `ota` module in `info.get_version`.
    pub product_name: &'static str,
    /// Camera.
    pub camera: CameraKind,
    /// `led_node`s `system.ledctrl` takes; firmware refuses others.
    pub light_nodes: &'static [&'static str],
    /// Reports the door (`home_flag` bit 23 on X1, `stat` on newer models).
    pub door_sensor: bool,
    /// Filament units it takes (empty: none).
    pub ams: &'static [AmsKind],
    /// Publishes its whole state every report (X1); false: only what changed (P1/A1).
    pub full_reports: bool,
    /// Sends `fun` (the Developer Mode bit); P1/A1 firmware does not.
    pub reports_fun: bool,
    /// The `project_file` url printwarden sends for a file it uploaded to the card's root
    /// (`{file}` is replaced by the file name).
    pub lan_print_url: &'static str,
    /// `gcode_file` while such a job prints.
    pub gcode_file: GcodeFileForm,
    /// The broker drops a client that subscribes to the request topic (P1/A1).
    pub drops_request_subscribers: bool,
    /// Serial prefix of simulated printers (six characters: the model's real three-character
    /// prefix, then `00A`/`09A` as in real serials; docs/PROTOCOL.md "Serial prefixes");
    /// `None`: not simulated.
    pub sim_serial_prefix: Option<&'static str>,
}

const CHAMBER: &[&str] = &["chamber_light"];
const X1_LIGHTS: &[&str] = &["chamber_light", "work_light"];
const H2_LIGHTS: &[&str] = &["chamber_light", "chamber_light2"];
const AMS: &[AmsKind] = &[AmsKind::Ams];
const AMS_LITE: &[AmsKind] = &[AmsKind::AmsLite];
const AMS_NEW: &[AmsKind] = &[AmsKind::Ams, AmsKind::Ams2Pro, AmsKind::AmsHt];
const URL: &str = "ftp://{file}";

const fn caps(product_name: &'static str, camera: CameraKind) -> Capabilities {
    Capabilities {
        product_name,
        camera,
        light_nodes: CHAMBER,
        door_sensor: false,
        ams: AMS,
        full_reports: false,
        reports_fun: false,
        lan_print_url: URL,
        gcode_file: GcodeFileForm::ProjectFile,
        drops_request_subscribers: true,
        sim_serial_prefix: None,
    }
}

const fn x1(product_name: &'static str, prefix: Option<&'static str>) -> Capabilities {
    Capabilities {
        light_nodes: X1_LIGHTS,
        door_sensor: true,
        full_reports: true,
        reports_fun: true,
        gcode_file: GcodeFileForm::UnpackedPlate,
        drops_request_subscribers: false,
        sim_serial_prefix: prefix,
        ..caps(product_name, CameraKind::Rtsps)
    }
}

const fn h2(product_name: &'static str, prefix: Option<&'static str>) -> Capabilities {
    Capabilities {
        light_nodes: H2_LIGHTS,
        ams: AMS_NEW,
        ..x1(product_name, prefix)
    }
}

impl Model {
    /// Every model, in table order.
    pub const ALL: [Self; 14] = [
        Self::X1C,
        Self::X1,
        Self::X1E,
        Self::P1P,
        Self::P1S,
        Self::P2S,
        Self::A1Mini,
        Self::A1,
        Self::X2D,
        Self::A2L,
        Self::H2D,
        Self::H2DPro,
        Self::H2C,
        Self::H2S,
    ];

    /// The model's capabilities (the table).
    #[must_use]
    pub const fn caps(self) -> Capabilities {
        use CameraKind::{ChamberImage, Rtsps};
        match self {
            Self::X1C => x1("X1 Carbon", Some("00M09A")),
            Self::X1 => x1("X1", None),
            Self::X1E => x1("X1E", Some("03W00A")),
            Self::P1P => Capabilities {
                sim_serial_prefix: Some("01S00A"),
                ..caps("P1P", ChamberImage)
            },
            Self::P1S => Capabilities {
                sim_serial_prefix: Some("01P00A"),
                ..caps("P1S", ChamberImage)
            },
            Self::P2S => Capabilities {
                door_sensor: true,
                ams: AMS_NEW,
                reports_fun: true,
                sim_serial_prefix: Some("22E00A"),
                ..caps("P2S", Rtsps)
            },
            Self::A1Mini => Capabilities {
                ams: AMS_LITE,
                sim_serial_prefix: Some("0309DA"),
                ..caps("A1 mini", ChamberImage)
            },
            Self::A1 => Capabilities {
                ams: AMS_LITE,
                sim_serial_prefix: Some("03919A"),
                ..caps("A1", ChamberImage)
            },
            Self::X2D => h2("X2D", None),
            Self::A2L => Capabilities {
                ams: AMS_LITE,
                ..caps("A2L", Rtsps)
            },
            Self::H2D => h2("H2D", Some("09400A")),
            Self::H2DPro => h2("H2D Pro", None),
            Self::H2C => h2("H2C", None),
            Self::H2S => h2("H2S", None),
        }
    }

    /// The name `printwarden simulate --models` and `printers.json` use (`X1C`, `A1MINI`):
    /// [`Model::name`] without spaces, upper case.
    #[must_use]
    pub fn token(self) -> String {
        self.name().replace(' ', "").to_ascii_uppercase()
    }

    /// The `project_file` url for a file in the card's root, in the form this model's
    /// clients send.
    #[must_use]
    pub fn print_url(self, file: &str) -> String {
        self.caps().lan_print_url.replace("{file}", file)
    }

    /// Whether `led_node` is one of this model's lights.
    #[must_use]
    pub fn has_light(self, node: &str) -> bool {
        self.caps().light_nodes.contains(&node)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_read_as_one_model() {
        for (raw, model) in [
            ("C12", Model::P1S),
            ("Bambu Lab P1S", Model::P1S),
            ("p1s", Model::P1S),
            ("BL-P001", Model::X1C),
            ("Bambu Lab X1 Carbon", Model::X1C),
            ("X1C", Model::X1C),
            ("BL-P002", Model::X1),
            ("N1", Model::A1Mini),
            ("Bambu Lab A1 mini", Model::A1Mini),
            ("A1MINI", Model::A1Mini),
            ("N2S", Model::A1),
            ("O1E", Model::H2DPro),
            (" h2d pro ", Model::H2DPro),
        ] {
            assert_eq!(Model::parse(raw), Some(model), "{raw}");
        }
        for unknown in ["", "Prusa MK4", "X1 Carbon 2", "C1"] {
            assert_eq!(Model::parse(unknown), None, "{unknown}");
        }
        assert_eq!(Model::A1Mini.to_string(), "A1 mini");
    }

    #[test]
    fn the_table_answers_per_model() {
        let x1c = Model::X1C.caps();
        assert_eq!((x1c.camera, x1c.camera.port()), (CameraKind::Rtsps, 322));
        assert!(x1c.full_reports && x1c.reports_fun && x1c.door_sensor);
        assert_eq!(x1c.gcode_file, GcodeFileForm::UnpackedPlate);
        assert!(!x1c.drops_request_subscribers);
        for model in [Model::P1S, Model::P1P, Model::A1, Model::A1Mini] {
            let c = model.caps();
            assert_eq!(
                (c.camera, c.camera.port()),
                (CameraKind::ChamberImage, 6000)
            );
            assert!(
                !c.full_reports && !c.reports_fun && !c.door_sensor,
                "{model}"
            );
            assert!(c.drops_request_subscribers);
        }
        assert_eq!(Model::A1.caps().ams, [AmsKind::AmsLite]);
        assert!(Model::H2D.has_light("chamber_light2") && !Model::P1S.has_light("chamber_light2"));
        assert!(!Model::P1S.has_light("disco"));
        assert_eq!(Model::P1S.print_url("a.gcode.3mf"), "ftp://a.gcode.3mf");
        assert_eq!(Model::A1Mini.token(), "A1MINI");
        for m in Model::ALL {
            assert_eq!(Model::parse(&m.token()), Some(m), "the token reads back");
            assert_eq!(Model::parse(m.name()), Some(m));
        }
        let simulated: Vec<_> = Model::ALL
            .into_iter()
            .filter(|m| m.caps().sim_serial_prefix.is_some())
            .map(Model::token)
            .collect();
        assert_eq!(
            simulated,
            ["X1C", "X1E", "P1P", "P1S", "P2S", "A1MINI", "A1", "H2D"]
        );
        // The first three characters are the real model prefix (docs/PROTOCOL.md "Serial
        // prefixes"): what clients such as bambu-printer-manager read the model from.
        for (model, real) in [
            (Model::X1C, "00M"),
            (Model::X1E, "03W"),
            (Model::P1P, "01S"),
            (Model::P1S, "01P"),
            (Model::P2S, "22E"),
            (Model::A1Mini, "030"),
            (Model::A1, "039"),
            (Model::H2D, "094"),
        ] {
            let prefix = model.caps().sim_serial_prefix.unwrap_or_default();
            assert_eq!((prefix.len(), &prefix[..3]), (6, real), "{model}");
        }
    }
}
