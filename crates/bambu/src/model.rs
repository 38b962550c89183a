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
}
