//! The parsed facts of a library file as stored (the `metadata` JSON column) and as shown
//! (`plates` of the API). Built once at upload from `pw-printfile`'s answer; thumbnails are
//! remembered by their member name and served from the stored file on demand. A plate without
//! a PNG member (a plain `.gcode`, or a 3MF plate whose G-code embeds its image) remembers that
//! its G-code carries one: the image is decoded from the G-code's first bytes when asked.
//!
//! Invariant: a stored value that does not decode (an older or damaged row) shows as "no
//! facts", never as an error: the file itself is still there to download.

use pw_domain::LibraryFileId;
use pw_printfile::{GcodeHeader, PrintFile, Project};
use serde::{Deserialize, Serialize};

/// One filament of a plate, as shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FilamentView {
    /// 1-based filament slot of the project.
    pub slot: u32,
    /// Material (`PLA`, `PETG` …); empty when the file does not say.
    #[serde(rename = "type")]
    pub material: String,
    /// `#RRGGBB` or `#RRGGBBAA`; empty when the file does not say.
    pub color: String,
    /// Grams used, if known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grams: Option<f64>,
    /// Metres used, if known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub meters: Option<f64>,
}

/// One plate, as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlateView {
    /// Plate number (1-based).
    pub index: u32,
    /// Plate name, if the project gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The printer model it was sliced for (the project's model name, or Bambu's model id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer_model: Option<String>,
    /// Bambu's model id from `slice_info.config` (e.g. `C12`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer_model_id: Option<String>,
    /// The model it was sliced for as a comparable key (`P1S` for `C12`, `Bambu Lab P1S` or
    /// `p1s`; see `printer_model_key`), so a page can warn before starting it on another
    /// model; empty when the file does not say.
    pub printer_model_key: String,
    /// Nozzle diameter in mm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nozzle_diameter: Option<f64>,
    /// Predicted print time in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_seconds: Option<u64>,
    /// Predicted filament weight in grams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_g: Option<f64>,
    /// Filaments used.
    pub filaments: Vec<FilamentView>,
    /// The plate image, PNG or JPEG (`Cache-Control: immutable`; the URL changes with the
    /// content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// One plate as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredPlate {
    pub(crate) index: u32,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) printer_model: Option<String>,
    #[serde(default)]
    pub(crate) printer_model_id: Option<String>,
    #[serde(default)]
    pub(crate) nozzle_diameter: Option<f64>,
    #[serde(default)]
    pub(crate) predicted_seconds: Option<u64>,
    #[serde(default)]
    pub(crate) weight_g: Option<f64>,
    #[serde(default)]
    pub(crate) filaments: Vec<FilamentView>,
    /// The thumbnail member and its inflated size.
    #[serde(default)]
    pub(crate) thumbnail: Option<(String, u64)>,
    /// No PNG member, but the G-code embeds an image.
    #[serde(default)]
    pub(crate) gcode_thumbnail: Option<GcodeThumbnailRef>,
}

/// Where a plate's embedded G-code image is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct GcodeThumbnailRef {
    /// The plate's G-code member in a 3MF; `None` for a plain `.gcode` file.
    #[serde(default)]
    pub(crate) entry: Option<String>,
}

/// The largest embedded image of a G-code header, if any.
fn has_thumbnail(h: &GcodeHeader) -> bool {
    !h.thumbnails.is_empty()
}

/// The facts as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredMeta {
    #[serde(default)]
    pub(crate) plates: Vec<StoredPlate>,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) objects: Vec<String>,
}

fn colour(c: Option<pw_printfile::Colour>) -> String {
    c.map(|c| c.to_string()).unwrap_or_default()
}

fn from_project(p: &Project) -> StoredMeta {
    let model_name = p.settings.as_ref().and_then(|s| s.printer_model.clone());
    let plates = p
        .plates
        .iter()
        .map(|plate| StoredPlate {
            index: plate.index,
            name: plate.name.clone(),
            printer_model: model_name
                .clone()
                .or_else(|| plate.printer_model_id.clone()),
            printer_model_id: plate.printer_model_id.clone(),
            nozzle_diameter: plate.nozzle_diameter,
            predicted_seconds: plate.predicted_seconds,
            weight_g: plate.weight_g,
            filaments: plate
                .filaments
                .iter()
                .enumerate()
                .map(|(i, f)| FilamentView {
                    slot: f
                        .id
                        .unwrap_or_else(|| u32::try_from(i + 1).unwrap_or(u32::MAX)),
                    material: f.material.clone().unwrap_or_default(),
                    color: colour(f.colour),
                    grams: f.used_g,
                    meters: f.used_m,
                })
                .collect(),
            thumbnail: plate
                .thumbnail
                .as_ref()
                .or(plate.thumbnail_small.as_ref())
                .map(|t| (t.entry.clone(), t.size)),
            gcode_thumbnail: plate
                .gcode
                .as_ref()
                .filter(|g| {
                    plate.thumbnail.is_none()
                        && plate.thumbnail_small.is_none()
                        && has_thumbnail(&g.header)
                })
                .map(|g| GcodeThumbnailRef {
                    entry: Some(g.entry.clone()),
                }),
        })
        .collect();
    StoredMeta {
        plates,
        title: p.title.clone(),
        objects: p.objects.iter().map(|o| o.name.clone()).collect(),
    }
}

fn from_gcode(h: &GcodeHeader) -> StoredMeta {
    let filaments = h
        .filament_types
        .iter()
        .enumerate()
        .map(|(i, t)| FilamentView {
            slot: u32::try_from(i + 1).unwrap_or(u32::MAX),
            material: t.clone(),
            color: colour(h.filament_colours.get(i).copied().flatten()),
            grams: h.filament_used_g.get(i).copied(),
            meters: None,
        })
        .collect();
    StoredMeta {
        plates: vec![StoredPlate {
            index: 1,
            printer_model: h.printer_model.clone(),
            nozzle_diameter: h.nozzle_diameter,
            predicted_seconds: h.estimated_seconds,
            weight_g: h.filament_weight_g,
            filaments,
            gcode_thumbnail: has_thumbnail(h).then(GcodeThumbnailRef::default),
            ..StoredPlate::default()
        }],
        ..StoredMeta::default()
    }
}

impl StoredMeta {
    /// The facts of a parsed file.
    pub(crate) fn from_file(file: &PrintFile) -> Self {
        match file {
            PrintFile::SlicedProject(p) | PrintFile::Project(p) => from_project(p),
            PrintFile::Gcode(h) => from_gcode(h),
            PrintFile::Stl(s) => StoredMeta {
                objects: s.name.clone().into_iter().collect(),
                ..StoredMeta::default()
            },
        }
    }

    /// The stored JSON, or no facts when it does not decode.
    pub(crate) fn parse(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The JSON to store.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The plate with this number.
    pub(crate) fn plate(&self, index: u32) -> Option<&StoredPlate> {
        self.plates.iter().find(|p| p.index == index)
    }

    /// The plates as shown, with thumbnail URLs bound to the content hash.
    pub(crate) fn plate_views(&self, id: LibraryFileId, sha256: &str) -> Vec<PlateView> {
        let version = sha256.get(..16).unwrap_or(sha256);
        self.plates
            .iter()
            .map(|p| PlateView {
                index: p.index,
                name: p.name.clone(),
                printer_model: p.printer_model.clone(),
                printer_model_id: p.printer_model_id.clone(),
                printer_model_key: super::printer_model_key(
                    p.printer_model_id
                        .as_deref()
                        .or(p.printer_model.as_deref())
                        .unwrap_or(""),
                ),
                nozzle_diameter: p.nozzle_diameter,
                predicted_seconds: p.predicted_seconds,
                weight_g: p.weight_g,
                filaments: p.filaments.clone(),
                thumbnail_url: (p.thumbnail.is_some() || p.gcode_thumbnail.is_some()).then(|| {
                    format!(
                        "/api/v1/library/files/{id}/plates/{}/thumbnail?v={version}",
                        p.index
                    )
                }),
            })
            .collect()
    }
}
