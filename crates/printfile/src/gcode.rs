//! G-code header facts (estimated time, layers, filament weight/length/types/colours, printer
//! model, nozzle, layer height) read from comment lines only, from a bounded window: the first
//! [`Limits::gcode_header_bytes`] of the file (Bambu Studio's `; HEADER_BLOCK_START` and config
//! block live there) and, for a seekable plain `.gcode`, as many bytes from its end (PrusaSlicer
//! and OrcaSlicer write their summary after the last move). Never reads the whole file; every
//! value is optional and a line that does not parse is skipped.
//!
//! Line shapes understood (verified against the header shape documented in
//! `shared/reference/farm.md` §1.3 and the public slicers' exporters):
//! Bambu Studio `; total layer number: 150`, `; model printing time: 1h 2m; total estimated time:
//! 1h 9m 5s`, `; total filament weight [g] : 3.68`, `; total filament length [mm] : 1234.5`,
//! `; printer_model = Bambu Lab P1S`, `; filament_type = PLA;PETG`, `; filament_colour =
//! #FFFFFF;#000000`, `; nozzle_diameter = 0.4`, `; layer_height = 0.2`, `; max_z_height: 30.00`;
//! Prusa/Orca `; estimated printing time (normal mode) = 1d 2h 3m 4s`, `; filament used [g] = 1.2,
//! 3.4`, `; filament used [mm] = …`, `; total layers count = 150`; Cura `;TIME:6063`,
//! `;LAYER_COUNT:150`, `;Filament used: 1.2m`, `;Layer height: 0.2`, `;Generated with …`.

use std::io::{Read, Seek, SeekFrom};

use crate::Limits;
use crate::colour::Colour;
use crate::error::{Error, ErrorKind};
use crate::gcode_thumbnail::{GcodeThumbnailInfo, parse_thumbnails};

/// What a G-code file's comments say about the print. Every field may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcodeHeader {
    /// The slicer and version (`BambuStudio 02.00.03.54`, `OrcaSlicer 2.1.0`, …).
    pub generator: Option<String>,
    /// Total estimated print time in seconds.
    pub estimated_seconds: Option<u64>,
    /// Number of layers.
    pub layer_count: Option<u32>,
    /// Total filament weight in grams (the sum of [`GcodeHeader::filament_used_g`] when only that
    /// is given).
    pub filament_weight_g: Option<f64>,
    /// Total filament length in millimetres.
    pub filament_length_mm: Option<f64>,
    /// Grams per filament slot, in slot order, when the file lists them.
    pub filament_used_g: Vec<f64>,
    /// Material per filament slot (`PLA`, `PETG`, …).
    pub filament_types: Vec<String>,
    /// Colour per filament slot; `None` where the text was not a colour.
    pub filament_colours: Vec<Option<Colour>>,
    /// The printer model the file was sliced for (`Bambu Lab P1S`).
    pub printer_model: Option<String>,
    /// Nozzle diameter in millimetres (the first extruder's).
    pub nozzle_diameter: Option<f64>,
    /// Layer height in millimetres.
    pub layer_height: Option<f64>,
    /// Highest Z in millimetres.
    pub max_z_mm: Option<f64>,
    /// The embedded thumbnails (PNG/JPEG) found in the first [`Limits::gcode_thumbnail_bytes`]
    /// (filled by [`read_gcode`] and the 3MF reader; [`parse_header`] leaves it empty).
    pub thumbnails: Vec<GcodeThumbnailInfo>,
}

/// Longest comment line looked at; longer lines (thumbnails in base64 are long) are skipped.
const MAX_LINE: usize = 4096;
/// Longest text value kept (model names, material names).
const MAX_TEXT: usize = 128;
/// Most filament slots kept.
const MAX_SLOTS: usize = 64;

const SLICERS: [&str; 6] = [
    "BambuStudio",
    "OrcaSlicer",
    "PrusaSlicer",
    "SuperSlicer",
    "Snapmaker",
    "Cura_SteamEngine",
];

/// Read the header facts of a plain `.gcode` file: its first and its last
/// [`Limits::gcode_header_bytes`] bytes, never more.
pub fn read_gcode<R: Read + Seek>(mut reader: R, limits: &Limits) -> Result<GcodeHeader, Error> {
    let io = |e: std::io::Error| Error::with_cause(ErrorKind::Io, e);
    let len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    let window = limits.gcode_header_bytes;
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut head = Vec::new();
    (&mut reader)
        .take(window.max(limits.gcode_thumbnail_bytes))
        .read_to_end(&mut head)
        .map_err(io)?;
    let mut header = parse_header(prefix(&head, window));
    header.thumbnails = parse_thumbnails(&head, limits)
        .iter()
        .map(|t| t.info())
        .collect();
    if len > window {
        let start = len.saturating_sub(window).max(window);
        reader.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut tail = Vec::new();
        (&mut reader)
            .take(window)
            .read_to_end(&mut tail)
            .map_err(io)?;
        header.fill_from(parse_header(&tail));
    }
    Ok(header)
}

/// The first `n` bytes of `bytes` (all of them when shorter).
pub(crate) fn prefix(bytes: &[u8], n: u64) -> &[u8] {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    bytes.get(..n).unwrap_or(bytes)
}

/// Parse header facts from a window of G-code text (invalid UTF-8 is replaced, never an error).
pub fn parse_header(bytes: &[u8]) -> GcodeHeader {
    let mut h = GcodeHeader::default();
    let mut used_mm: Vec<f64> = Vec::new();
    let mut cura_metres: Option<f64> = None;
    for raw in bytes.split(|b| *b == b'\n') {
        if raw.len() > MAX_LINE {
            continue;
        }
        let line = String::from_utf8_lossy(raw);
        let Some(comment) = line.trim().strip_prefix(';') else {
            continue;
        };
        let comment = comment.trim();
        if comment.is_empty() {
            continue;
        }
        if h.generator.is_none()
            && let Some(name) = generator(comment)
        {
            h.generator = Some(name);
            continue;
        }
        // Bambu Studio: "model printing time: 1h 2m; total estimated time: 1h 9m 5s".
        if let Some(pos) = comment.find("total estimated time:") {
            set(
                &mut h.estimated_seconds,
                duration(&comment[pos + "total estimated time:".len()..]),
            );
            continue;
        }
        let Some((key, value)) = split_key(comment) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "estimated printing time (normal mode)" | "estimated printing time" => {
                set(&mut h.estimated_seconds, duration(value));
            }
            "time" => set(&mut h.estimated_seconds, value.parse::<u64>().ok()),
            "total layer number" | "total layers count" | "layer_count" => {
                set(&mut h.layer_count, value.parse::<u32>().ok());
            }
            "total filament weight [g]" | "total filament used [g]" => {
                set(&mut h.filament_weight_g, sum(value));
            }
            "filament used [g]" if h.filament_used_g.is_empty() => {
                h.filament_used_g = numbers(value)
            }
            "total filament length [mm]" => set(&mut h.filament_length_mm, sum(value)),
            "filament used [mm]" if used_mm.is_empty() => used_mm = numbers(value),
            "filament used" if cura_metres.is_none() => {
                let metres: Vec<f64> = value
                    .split(',')
                    .filter_map(|v| number(v.trim().trim_end_matches('m')))
                    .collect();
                if !metres.is_empty() {
                    cura_metres = Some(metres.iter().sum());
                }
            }
            "filament_type" if h.filament_types.is_empty() => {
                h.filament_types = value
                    .split(';')
                    .take(MAX_SLOTS)
                    .map(|t| text(t).unwrap_or_default())
                    .collect();
            }
            "filament_colour" if h.filament_colours.is_empty() => {
                h.filament_colours = value
                    .split(';')
                    .take(MAX_SLOTS)
                    .map(Colour::parse)
                    .collect();
            }
            "printer_model" => set(&mut h.printer_model, text(value)),
            "nozzle_diameter" => set(
                &mut h.nozzle_diameter,
                value.split(',').next().and_then(number),
            ),
            "layer_height" | "layer height" => set(&mut h.layer_height, number(value)),
            "max_z_height" => set(&mut h.max_z_mm, number(value)),
            _ => {}
        }
    }
    if h.filament_weight_g.is_none() && !h.filament_used_g.is_empty() {
        h.filament_weight_g = Some(h.filament_used_g.iter().sum());
    }
    if h.filament_length_mm.is_none() {
        if !used_mm.is_empty() {
            h.filament_length_mm = Some(used_mm.iter().sum());
        } else if let Some(m) = cura_metres {
            h.filament_length_mm = Some(m * 1000.0);
        }
    }
    h
}

impl GcodeHeader {
    /// Take every fact this header lacks from `other` (the head wins over the tail).
    fn fill_from(&mut self, other: GcodeHeader) {
        fn or<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        fn or_vec<T>(a: &mut Vec<T>, b: Vec<T>) {
            if a.is_empty() {
                *a = b;
            }
        }
        or(&mut self.generator, other.generator);
        or(&mut self.estimated_seconds, other.estimated_seconds);
        or(&mut self.layer_count, other.layer_count);
        or(&mut self.filament_weight_g, other.filament_weight_g);
        or(&mut self.filament_length_mm, other.filament_length_mm);
        or_vec(&mut self.filament_used_g, other.filament_used_g);
        or_vec(&mut self.filament_types, other.filament_types);
        or_vec(&mut self.filament_colours, other.filament_colours);
        or(&mut self.printer_model, other.printer_model);
        or(&mut self.nozzle_diameter, other.nozzle_diameter);
        or(&mut self.layer_height, other.layer_height);
        or(&mut self.max_z_mm, other.max_z_mm);
        or_vec(&mut self.thumbnails, other.thumbnails);
    }

    /// True when no fact was found.
    pub fn is_empty(&self) -> bool {
        *self == GcodeHeader::default()
    }
}

/// The first value wins: headers come before repeated config blocks.
fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// `key: value` or `key = value`, whichever separator comes first.
fn split_key(comment: &str) -> Option<(&str, &str)> {
    let pos = comment.find([':', '='])?;
    let key = comment[..pos].trim();
    let value = comment[pos + 1..].trim();
    (!key.is_empty()).then_some((key, value))
}

/// `generated by OrcaSlicer 2.1.0 on …`, `Generated with Cura_SteamEngine 5.7.1`,
/// `BambuStudio 02.00.03.54`.
fn generator(comment: &str) -> Option<String> {
    let lower = comment.to_ascii_lowercase();
    for prefix in ["generated by ", "generated with "] {
        if lower.starts_with(prefix) {
            let rest = &comment[prefix.len()..];
            let rest = rest.split(" on ").next().unwrap_or(rest);
            return text(rest);
        }
    }
    if SLICERS.iter().any(|s| comment.starts_with(s)) && !comment.contains(['=', ':']) {
        return text(comment);
    }
    None
}

/// A finite, non-negative number.
fn number(value: &str) -> Option<f64> {
    let v = value.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// Comma-separated numbers; an unparseable item makes the whole list unknown.
fn numbers(value: &str) -> Vec<f64> {
    let parsed: Option<Vec<f64>> = value.split(',').take(MAX_SLOTS).map(number).collect();
    parsed.unwrap_or_default()
}

/// One number, or the sum of a comma-separated list (multi-filament totals).
fn sum(value: &str) -> Option<f64> {
    let items = numbers(value);
    (!items.is_empty()).then(|| items.iter().sum())
}

/// Trimmed, non-empty, free of control characters, at most [`MAX_TEXT`] characters.
fn text(value: &str) -> Option<String> {
    let t: String = value
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// `1d 2h 3m 4s`, `2h 3m`, `45s` (blanks optional) → seconds.
pub(crate) fn duration(value: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits: Option<u64> = None;
    let mut any = false;
    for c in value.trim().chars() {
        if let Some(d) = c.to_digit(10) {
            digits = Some(
                digits
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            ' ' => continue,
            _ => return None,
        };
        let n = digits.take()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    (any && digits.is_none()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1d 2h 3m 4s"), Some(93_784));
        assert_eq!(duration("2h3m"), Some(7_380));
        assert_eq!(duration(" 45s "), Some(45));
        assert_eq!(duration("12"), None);
        assert_eq!(duration(""), None);
        assert_eq!(duration("1x"), None);
        assert_eq!(duration("99999999999999999999s"), None);
    }

    #[test]
    fn key_split_takes_the_first_separator() {
        assert_eq!(
            split_key("total filament weight [g] : 3.68"),
            Some(("total filament weight [g]", "3.68"))
        );
        assert_eq!(
            split_key("filament used [g] = 1.2, 3.4"),
            Some(("filament used [g]", "1.2, 3.4"))
        );
        assert_eq!(split_key("TIME:6063"), Some(("TIME", "6063")));
        assert_eq!(split_key("no separator"), None);
    }
}
