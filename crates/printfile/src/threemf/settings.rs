//! `Metadata/project_settings.config`: the slicer's full preset as JSON (about 500 keys, most of
//! them arrays of strings, one entry per filament or extruder — `shared/reference/farm.md` §1.3).
//! Only the essentials are kept: printer model and presets, nozzle diameters, layer height and
//! the configured filaments' types, colours and presets. Every key is optional; a value of an
//! unexpected shape is ignored. Invalid JSON is [`ErrorKind::MalformedJson`].

use serde_json::Value;

use crate::colour::Colour;
use crate::error::{Error, ErrorKind};
use crate::threemf::{number, text};

use super::slice_info::MAX_FILAMENTS;

/// The project's configured printer, process and filaments (all AMS slots, used or not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectSettings {
    /// `printer_model`, e.g. `Bambu Lab P1S`.
    pub printer_model: Option<String>,
    /// `printer_settings_id`, the printer preset name.
    pub printer_preset: Option<String>,
    /// `print_settings_id`, the process preset name.
    pub print_preset: Option<String>,
    /// `nozzle_diameter[]`, one per extruder.
    pub nozzle_diameters: Vec<f64>,
    /// `layer_height` in millimetres.
    pub layer_height: Option<f64>,
    /// `filament_type[]`.
    pub filament_types: Vec<String>,
    /// `filament_colour[]`; `None` where the text was not a colour.
    pub filament_colours: Vec<Option<Colour>>,
    /// `filament_settings_id[]`, the filament preset names.
    pub filament_presets: Vec<String>,
}

/// A scalar as text: strings as they are, numbers printed.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A key that is a scalar, or the first element of an array of scalars.
fn first(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::Array(items) => items.first().and_then(scalar),
        other => scalar(other),
    }
}

/// A key that is an array of scalars (a lone scalar counts as one element).
fn list(obj: &serde_json::Map<String, Value>, key: &str) -> Vec<String> {
    match obj.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .take(MAX_FILAMENTS)
            .filter_map(scalar)
            .collect(),
        Some(other) => scalar(other).into_iter().collect(),
        None => Vec::new(),
    }
}

pub(crate) fn parse(bytes: &[u8], entry: &str) -> Result<ProjectSettings, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::with_cause(
            ErrorKind::MalformedJson {
                entry: entry.to_owned(),
            },
            e,
        )
    })?;
    let Value::Object(obj) = value else {
        return Ok(ProjectSettings::default());
    };
    Ok(ProjectSettings {
        printer_model: first(&obj, "printer_model").as_deref().and_then(text),
        printer_preset: first(&obj, "printer_settings_id").as_deref().and_then(text),
        print_preset: first(&obj, "print_settings_id").as_deref().and_then(text),
        nozzle_diameters: list(&obj, "nozzle_diameter")
            .iter()
            .filter_map(|v| number(v))
            .collect(),
        layer_height: first(&obj, "layer_height").as_deref().and_then(number),
        filament_types: list(&obj, "filament_type")
            .iter()
            .map(|v| text(v).unwrap_or_default())
            .collect(),
        filament_colours: list(&obj, "filament_colour")
            .iter()
            .map(|v| Colour::parse(v))
            .collect(),
        filament_presets: list(&obj, "filament_settings_id")
            .iter()
            .map(|v| text(v).unwrap_or_default())
            .collect(),
    })
}
