//! 3MF projects, sliced (`.gcode.3mf`) or not: which plates exist and carry G-code (with the
//! `.md5` beside it), what slice_info says per plate, the project settings' essentials, object
//! names and the plate thumbnails (located and checked, never decoded). Every member is read
//! through [`crate::archive`]'s limits; no member name is ever used as a path, and members are
//! never opened as nested archives.
//!
//! Layout verified against `shared/reference/farm.md` §1.1–1.4 (facts gathered from Bambu Studio
//! exports and the Bambuddy/3DPrintForge readers): `Metadata/plate_N.gcode`,
//! `Metadata/plate_N.gcode.md5`, `Metadata/plate_N.png`, `Metadata/plate_N_small.png`,
//! `Metadata/slice_info.config`, `Metadata/project_settings.config`,
//! `Metadata/model_settings.config`, `3D/3dmodel.model`.

mod model;
mod settings;
mod slice_info;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Seek};

pub use settings::ProjectSettings;

use crate::Limits;
use crate::archive::{Entry, SafeArchive};
use crate::colour::Colour;
use crate::error::{Error, ErrorKind};
use crate::gcode::{self, GcodeHeader, parse_header};
use crate::gcode_thumbnail::{GcodeThumbnail, best_thumbnail, parse_thumbnails};

/// The eight bytes every PNG starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

const SLICE_INFO: &str = "Metadata/slice_info.config";
const PROJECT_SETTINGS: &str = "Metadata/project_settings.config";
const MODEL_SETTINGS: &str = "Metadata/model_settings.config";
const CORE_MODEL: &str = "3D/3dmodel.model";
const PROJECT_THUMBNAIL: &str = "Metadata/thumbnail.png";

/// A 3MF project as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// True when at least one plate carries G-code (a printable `.gcode.3mf`).
    pub sliced: bool,
    /// `X-BBL-Client-Type` from slice_info (`slicer`).
    pub client_type: Option<String>,
    /// `X-BBL-Client-Version` from slice_info (`02.08.02.61`).
    pub client_version: Option<String>,
    /// Plates by ascending index.
    pub plates: Vec<Plate>,
    /// `project_settings.config` essentials, when present and readable.
    pub settings: Option<ProjectSettings>,
    /// Objects of the model (from model_settings, else from the core model).
    pub objects: Vec<ModelObject>,
    /// The core model's `Title` metadata.
    pub title: Option<String>,
    /// The core model's `Designer` metadata.
    pub designer: Option<String>,
    /// `Metadata/thumbnail.png`, the project image some exports carry instead of plate images.
    pub thumbnail: Option<Thumbnail>,
    /// Members in the archive.
    pub entry_count: usize,
    /// Declared inflated size of all members.
    pub uncompressed_size: u64,
    /// Things that were odd but not fatal (a thumbnail that is not a PNG, …).
    pub warnings: Vec<Warning>,
}

/// One build plate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plate {
    /// 1-based plate number: selects `Metadata/plate_N.gcode` and the `project_file` `param`.
    pub index: u32,
    /// The plate's name in the slicer, when it has one.
    pub name: Option<String>,
    /// The printer model code it was sliced for (`C12` = P1S, `BL-P001` = X1C, `N2S` = A1, …).
    pub printer_model_id: Option<String>,
    /// Nozzle diameter in millimetres.
    pub nozzle_diameter: Option<f64>,
    /// The slicer's predicted print time in seconds.
    pub predicted_seconds: Option<u64>,
    /// Filament weight for the plate in grams.
    pub weight_g: Option<f64>,
    /// `label_object_enabled`: objects can be skipped mid-print only when true.
    pub label_objects: Option<bool>,
    /// Filaments the plate uses.
    pub filaments: Vec<Filament>,
    /// Objects on the plate; `id` is what `print.skip_objects` takes.
    pub objects: Vec<PlateObject>,
    /// The plate's G-code, when sliced.
    pub gcode: Option<PlateGcode>,
    /// `Metadata/plate_N.png` (about 512×512).
    pub thumbnail: Option<Thumbnail>,
    /// `Metadata/plate_N_small.png`.
    pub thumbnail_small: Option<Thumbnail>,
}

/// One filament a plate uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filament {
    /// 1-based filament slot in the project (ids can have gaps).
    pub id: Option<u32>,
    /// `tray_info_idx`, the Bambu filament catalogue id (`GFA00`).
    pub tray_info_idx: Option<String>,
    /// Material (`PLA`, `PETG`, …), the XML `type` attribute.
    pub material: Option<String>,
    pub colour: Option<Colour>,
    pub used_g: Option<f64>,
    pub used_m: Option<f64>,
}

/// An object on a plate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlateObject {
    /// `identify_id`: the id `print.skip_objects` takes.
    pub id: Option<u64>,
    pub name: String,
    /// Marked as skipped in the file.
    pub skipped: bool,
}

/// An object of the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelObject {
    pub id: Option<u64>,
    pub name: String,
}

/// A plate's G-code member.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateGcode {
    /// The member name, e.g. `Metadata/plate_1.gcode` (the `project_file` `param`).
    pub entry: String,
    /// Inflated size in bytes.
    pub size: u64,
    /// The upper-case hex MD5 from `plate_N.gcode.md5`, when present and well-formed.
    pub md5: Option<String>,
    /// Facts from the G-code's first [`Limits::gcode_header_bytes`].
    pub header: GcodeHeader,
}

/// A PNG member, checked (signature, size cap) but not decoded. Fetch the bytes with
/// [`read_thumbnail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub entry: String,
    pub size: u64,
}

/// Something odd that did not stop the parse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A thumbnail member that does not start with the PNG signature (left out).
    ThumbnailNotPng { entry: String },
    /// A thumbnail larger than [`Limits::max_thumbnail_bytes`] (left out).
    ThumbnailTooLarge { entry: String },
    /// A `.md5` member that is not 32 hex digits (ignored).
    BadMd5 { entry: String },
    /// More plates, objects or filaments than this crate keeps; the rest were left out.
    Capped,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ThumbnailNotPng { entry } => write!(f, "{entry} is not a PNG image; left out"),
            Warning::ThumbnailTooLarge { entry } => {
                write!(f, "{entry} is too large for a thumbnail; left out")
            }
            Warning::BadMd5 { entry } => {
                write!(f, "{entry} does not hold an MD5 checksum; ignored")
            }
            Warning::Capped => write!(
                f,
                "The project lists more plates, objects or filaments than are shown"
            ),
        }
    }
}

/// A finite, non-negative number from text.
pub(crate) fn number(value: &str) -> Option<f64> {
    let v = value.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// Trimmed, non-empty, free of control characters, at most 256 characters.
pub(crate) fn text(value: &str) -> Option<String> {
    let t: String = value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// `Metadata/plate_N<suffix>` → N (decimal, 1..=999 999 999, no sign or leading zero).
fn plate_number(name: &str, suffix: &str) -> Option<u32> {
    let digits = name.strip_prefix("Metadata/plate_")?.strip_suffix(suffix)?;
    if digits.is_empty()
        || digits.len() > 9
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// What kind of 3MF the archive is, from its member names alone (nothing inflated).
pub(crate) fn classify(entries: &[Entry]) -> Result<bool, Error> {
    let sliced = entries
        .iter()
        .any(|e| plate_number(&e.name, ".gcode").is_some());
    let model = entries
        .iter()
        .any(|e| e.name.eq_ignore_ascii_case(CORE_MODEL));
    if !sliced && !model {
        return Err(Error::with_cause(
            ErrorKind::NotA3mf,
            format!("{} members, no model or plate G-code", entries.len()),
        ));
    }
    Ok(sliced)
}

/// Read a 3MF project. See the module docs for what is read and the limits it runs under.
pub fn read_project<R: Read + Seek>(reader: R, limits: &Limits) -> Result<Project, Error> {
    let mut archive = SafeArchive::open(reader, limits)?;
    let sliced = classify(archive.entries())?;
    if limits.verify_all_entries {
        archive.verify_all()?;
    }
    let mut warnings = Vec::new();

    let info = match archive.entry(SLICE_INFO) {
        Some(_) => Some(
            archive.with_entry(SLICE_INFO, limits.max_metadata_bytes, |r| {
                slice_info::parse(r, SLICE_INFO)
            })?,
        ),
        None => None,
    };
    let settings = match archive.entry(PROJECT_SETTINGS) {
        Some(_) => {
            let bytes = archive.read_all(PROJECT_SETTINGS, limits.max_metadata_bytes)?;
            Some(settings::parse(&bytes, PROJECT_SETTINGS)?)
        }
        None => None,
    };
    let model_settings = match archive.entry(MODEL_SETTINGS) {
        Some(_) => Some(
            archive.with_entry(MODEL_SETTINGS, limits.max_metadata_bytes, |r| {
                model::parse_model_settings(r, MODEL_SETTINGS)
            })?,
        ),
        None => None,
    };
    let core_name = archive
        .entries()
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(CORE_MODEL))
        .map(|e| e.name.clone());
    let core = match core_name {
        Some(name) => Some(archive.with_entry(&name, limits.max_model_bytes, |r| {
            model::parse_core_model(r, &name)
        })?),
        None => None,
    };

    // Plates: union of slice_info, plate G-code, model_settings and plate thumbnails.
    let mut plates: BTreeMap<u32, Plate> = BTreeMap::new();
    let mut capped = false;
    // Plate numbers start at 1 (Bambu Studio refuses to load a plate 0); 0 is left out.
    let mut plate = |plates: &mut BTreeMap<u32, Plate>, index: u32| -> Option<u32> {
        if index == 0 {
            None
        } else if plates.contains_key(&index) || plates.len() < slice_info::MAX_PLATES {
            plates.entry(index).or_insert_with(|| Plate {
                index,
                ..Plate::default()
            });
            Some(index)
        } else {
            capped = true;
            None
        }
    };
    let (mut client_type, mut client_version) = (None, None);
    if let Some(info) = info {
        client_type = info.client_type;
        client_version = info.client_version;
        if info.capped {
            warnings.push(Warning::Capped);
        }
        for (position, p) in info.plates.into_iter().enumerate() {
            let index = p
                .index
                .unwrap_or(u32::try_from(position + 1).unwrap_or(u32::MAX));
            let Some(index) = plate(&mut plates, index) else {
                continue;
            };
            if let Some(slot) = plates.get_mut(&index) {
                // A repeated index keeps the first plate's facts.
                if slot.printer_model_id.is_none()
                    && slot.filaments.is_empty()
                    && slot.objects.is_empty()
                {
                    slot.printer_model_id = p.printer_model_id;
                    slot.nozzle_diameter = p.nozzle_diameter;
                    slot.predicted_seconds = p.predicted_seconds;
                    slot.weight_g = p.weight_g;
                    slot.label_objects = p.label_objects;
                    slot.filaments = p.filaments;
                    slot.objects = p.objects;
                }
            }
        }
    }
    let mut objects = Vec::new();
    if let Some(ms) = model_settings {
        let names: BTreeMap<u64, String> = ms
            .objects
            .iter()
            .filter_map(|o| Some((o.id?, o.name.clone())))
            .collect();
        for p in ms.plates {
            let Some(index) = p.index else { continue };
            let Some(index) = plate(&mut plates, index) else {
                continue;
            };
            if let Some(slot) = plates.get_mut(&index) {
                if slot.name.is_none() {
                    slot.name = p.name;
                }
                if slot.objects.is_empty() {
                    slot.objects = p
                        .instances
                        .iter()
                        .map(|(object_id, identify_id)| PlateObject {
                            id: *identify_id,
                            name: object_id
                                .and_then(|id| names.get(&id).cloned())
                                .unwrap_or_default(),
                            skipped: false,
                        })
                        .collect();
                }
            }
        }
        objects = ms.objects;
    }
    let (mut title, mut designer) = (None, None);
    if let Some(core) = core {
        title = core.title;
        designer = core.designer;
        if objects.is_empty() {
            objects = core.objects;
        }
    }

    let names: Vec<Entry> = archive.entries().to_vec();
    for e in &names {
        if let Some(index) = plate_number(&e.name, ".gcode") {
            let Some(index) = plate(&mut plates, index) else {
                continue;
            };
            let prefix = archive.read_prefix(
                &e.name,
                limits.gcode_header_bytes.max(limits.gcode_thumbnail_bytes),
            )?;
            let md5_name = format!("{}.md5", e.name);
            let md5 = match archive.entry(&md5_name) {
                Some(_) => {
                    let raw = archive.read_prefix(&md5_name, 256)?;
                    let text = String::from_utf8_lossy(&raw).trim().to_ascii_uppercase();
                    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                        Some(text)
                    } else {
                        warnings.push(Warning::BadMd5 { entry: md5_name });
                        None
                    }
                }
                None => None,
            };
            if let Some(slot) = plates.get_mut(&index) {
                slot.gcode = Some(PlateGcode {
                    entry: e.name.clone(),
                    size: e.size,
                    md5,
                    header: GcodeHeader {
                        thumbnails: parse_thumbnails(&prefix, limits)
                            .iter()
                            .map(GcodeThumbnail::info)
                            .collect(),
                        ..parse_header(gcode::prefix(&prefix, limits.gcode_header_bytes))
                    },
                });
            }
        }
    }
    for e in &names {
        let (index, small) = match (
            plate_number(&e.name, ".png"),
            plate_number(&e.name, "_small.png"),
        ) {
            (Some(i), _) => (i, false),
            (None, Some(i)) => (i, true),
            (None, None) => continue,
        };
        let Some(index) = plate(&mut plates, index) else {
            continue;
        };
        let Some(thumb) = check_png(&mut archive, e, limits, &mut warnings)? else {
            continue;
        };
        if let Some(slot) = plates.get_mut(&index) {
            if small {
                slot.thumbnail_small = Some(thumb);
            } else {
                slot.thumbnail = Some(thumb);
            }
        }
    }
    let thumbnail = match archive.entry(PROJECT_THUMBNAIL).cloned() {
        Some(e) => check_png(&mut archive, &e, limits, &mut warnings)?,
        None => None,
    };
    if capped && !warnings.contains(&Warning::Capped) {
        warnings.push(Warning::Capped);
    }
    let entries = archive.entries();
    Ok(Project {
        sliced,
        client_type,
        client_version,
        plates: plates.into_values().collect(),
        settings,
        objects,
        title,
        designer,
        thumbnail,
        entry_count: entries.len(),
        uncompressed_size: entries
            .iter()
            .map(|e| e.size)
            .fold(0u64, u64::saturating_add),
        warnings,
    })
}

fn check_png<R: Read + Seek>(
    archive: &mut SafeArchive<R>,
    e: &Entry,
    limits: &Limits,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Thumbnail>, Error> {
    if e.size > limits.max_thumbnail_bytes {
        warnings.push(Warning::ThumbnailTooLarge {
            entry: e.name.clone(),
        });
        return Ok(None);
    }
    let head = archive.read_prefix(&e.name, PNG_SIGNATURE.len() as u64)?;
    if head != PNG_SIGNATURE {
        warnings.push(Warning::ThumbnailNotPng {
            entry: e.name.clone(),
        });
        return Ok(None);
    }
    Ok(Some(Thumbnail {
        entry: e.name.clone(),
        size: e.size,
    }))
}

/// The bytes of a thumbnail found by [`read_project`] (same archive): size-capped by
/// [`Limits::max_thumbnail_bytes`] while inflating, PNG signature checked, not decoded.
pub fn read_thumbnail<R: Read + Seek>(
    reader: R,
    thumbnail: &Thumbnail,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let mut archive = SafeArchive::open(reader, limits)?;
    if archive.entry(&thumbnail.entry).is_none() {
        return Err(Error::with_cause(
            ErrorKind::Corrupt,
            format!("{} is not in this archive", thumbnail.entry),
        ));
    }
    let bytes = archive.read_all(&thumbnail.entry, limits.max_thumbnail_bytes)?;
    if !bytes.starts_with(&PNG_SIGNATURE) {
        return Err(Error::with_cause(
            ErrorKind::Corrupt,
            format!("{} is not a PNG", thumbnail.entry),
        ));
    }
    Ok(bytes)
}

/// The best thumbnail embedded in a plate's G-code (`entry`, e.g. `Metadata/plate_1.gcode`),
/// for a plate without a PNG member: the member's first [`Limits::gcode_thumbnail_bytes`]
/// inflated, never more.
pub fn read_plate_gcode_thumbnail<R: Read + Seek>(
    reader: R,
    entry: &str,
    limits: &Limits,
) -> Result<Option<GcodeThumbnail>, Error> {
    let mut archive = SafeArchive::open(reader, limits)?;
    if archive.entry(entry).is_none() {
        return Err(Error::with_cause(
            ErrorKind::Corrupt,
            format!("{entry} is not in this archive"),
        ));
    }
    let prefix = archive.read_prefix(entry, limits.gcode_thumbnail_bytes)?;
    Ok(best_thumbnail(parse_thumbnails(&prefix, limits)))
}

#[cfg(test)]
mod tests {
    use super::plate_number;

    #[test]
    fn plate_numbers_are_strict() {
        assert_eq!(plate_number("Metadata/plate_1.gcode", ".gcode"), Some(1));
        assert_eq!(plate_number("Metadata/plate_12.png", ".png"), Some(12));
        assert_eq!(
            plate_number("Metadata/plate_3_small.png", "_small.png"),
            Some(3)
        );
        assert_eq!(plate_number("Metadata/plate_3_small.png", ".png"), None);
        for bad in [
            "Metadata/plate_.gcode",
            "Metadata/plate_01.gcode",
            "Metadata/plate_+1.gcode",
            "Metadata/plate_1.gcode.md5",
            "plate_1.gcode",
            "Metadata/plate_9999999999.gcode",
        ] {
            assert_eq!(plate_number(bad, ".gcode"), None, "{bad}");
        }
    }
}
