//! `Metadata/slice_info.config`: the slicer's per-plate summary (printer model id, nozzle,
//! predicted seconds, weight, filaments with tray/type/colour/grams/metres, objects with the ids
//! skip-objects uses). Structure as documented in `shared/reference/farm.md` §1.2: root
//! `<config>`, `<header><header_item key value/>`, then `<plate>` with `<metadata key value/>`,
//! `<object identify_id name skipped/>` and `<filament id tray_info_idx type color used_m
//! used_g/>`; older files put `<filament>` straight under `<config>` (read as plate 1). Unknown
//! elements and keys are ignored; counts are capped so a large member cannot grow memory.

use std::io::BufRead;

use crate::colour::Colour;
use crate::error::Error;
use crate::threemf::{Filament, PlateObject, number, text};
use crate::xml::{Ev, attr, walk};

/// Most plates, objects per plate and filaments per plate kept.
pub(crate) const MAX_PLATES: usize = 1000;
pub(crate) const MAX_OBJECTS: usize = 10_000;
pub(crate) const MAX_FILAMENTS: usize = 256;

/// One `<plate>` as slice_info describes it.
#[derive(Debug, Default, Clone)]
pub(crate) struct SlicedPlate {
    pub index: Option<u32>,
    pub printer_model_id: Option<String>,
    pub nozzle_diameter: Option<f64>,
    pub predicted_seconds: Option<u64>,
    pub weight_g: Option<f64>,
    pub label_objects: Option<bool>,
    pub filaments: Vec<Filament>,
    pub objects: Vec<PlateObject>,
}

#[derive(Debug, Default)]
pub(crate) struct SliceInfo {
    pub client_type: Option<String>,
    pub client_version: Option<String>,
    pub plates: Vec<SlicedPlate>,
    /// True when more plates/objects/filaments were present than kept.
    pub capped: bool,
}

fn filament(attrs: &[(String, String)]) -> Filament {
    Filament {
        id: attr(attrs, "id").and_then(|v| v.trim().parse().ok()),
        tray_info_idx: attr(attrs, "tray_info_idx").and_then(text),
        material: attr(attrs, "type").and_then(text),
        colour: attr(attrs, "color").and_then(Colour::parse),
        used_g: attr(attrs, "used_g").and_then(number),
        used_m: attr(attrs, "used_m").and_then(number),
    }
}

pub(crate) fn parse(input: &mut dyn BufRead, entry: &str) -> Result<SliceInfo, Error> {
    let mut info = SliceInfo::default();
    let mut plate: Option<SlicedPlate> = None;
    let mut loose = SlicedPlate::default();
    walk(input, entry, |ev| match ev {
        Ev::Open {
            name: "header_item",
            attrs,
            depth: 3,
        } => {
            let value = attr(attrs, "value").and_then(text);
            match attr(attrs, "key") {
                Some("X-BBL-Client-Type") => info.client_type = value,
                Some("X-BBL-Client-Version") => info.client_version = value,
                _ => {}
            }
        }
        Ev::Open {
            name: "plate",
            depth: 2,
            ..
        } => plate = Some(SlicedPlate::default()),
        Ev::Close {
            name: "plate",
            depth: 2,
        } => {
            if let Some(p) = plate.take() {
                if info.plates.len() < MAX_PLATES {
                    info.plates.push(p);
                } else {
                    info.capped = true;
                }
            }
        }
        Ev::Open {
            name,
            attrs,
            depth: 3,
        } => {
            let Some(p) = plate.as_mut() else { return };
            match name {
                "metadata" => {
                    let value = attr(attrs, "value").unwrap_or_default();
                    match attr(attrs, "key") {
                        Some("index") => p.index = value.trim().parse().ok(),
                        Some("printer_model_id") => p.printer_model_id = text(value),
                        Some("nozzle_diameters") => {
                            p.nozzle_diameter = value
                                .split([',', ' ', ';'])
                                .find(|s| !s.is_empty())
                                .and_then(number);
                        }
                        Some("prediction") => p.predicted_seconds = value.trim().parse().ok(),
                        Some("weight") => p.weight_g = number(value),
                        Some("label_object_enabled") => p.label_objects = value.trim().parse().ok(),
                        _ => {}
                    }
                }
                "object" => {
                    if p.objects.len() < MAX_OBJECTS {
                        p.objects.push(PlateObject {
                            id: attr(attrs, "identify_id").and_then(|v| v.trim().parse().ok()),
                            name: attr(attrs, "name").and_then(text).unwrap_or_default(),
                            skipped: attr(attrs, "skipped").is_some_and(|v| v.trim() == "true"),
                        });
                    } else {
                        info.capped = true;
                    }
                }
                "filament" => {
                    if p.filaments.len() < MAX_FILAMENTS {
                        p.filaments.push(filament(attrs));
                    } else {
                        info.capped = true;
                    }
                }
                _ => {}
            }
        }
        Ev::Open {
            name: "filament",
            attrs,
            depth: 2,
        } => {
            if loose.filaments.len() < MAX_FILAMENTS {
                loose.filaments.push(filament(attrs));
            } else {
                info.capped = true;
            }
        }
        _ => {}
    })?;
    if info.plates.is_empty() && !loose.filaments.is_empty() {
        loose.index = Some(1);
        info.plates.push(loose);
    }
    Ok(info)
}
