//! Test fixtures built by hand from the documented structure, never copied from a real file.
//!
//! Verified against: `shared/reference/farm.md` §1.1–1.4 (the `.gcode.3mf` container layout,
//! `slice_info.config` elements and attributes, `project_settings.config` keys,
//! `model_settings.config` plates and instances, the `plate_N.gcode` header lines), which were
//! gathered from Bambu Studio exports and the Bambuddy/3DPrintForge readers; the 3MF Core
//! Specification (`3D/3dmodel.model`, `<model><resources><object>`); and the STL format
//! (80-byte header, `u32` count, 50-byte triangles; ASCII `solid/facet/outer loop/vertex`).
//! Archives are written with the `zip` crate; the `patch_*` helpers then edit bytes of the
//! written ZIP to make the lies (sizes, names, flags) a hostile file would tell.
#![expect(
    clippy::unwrap_used,
    reason = "fixture builders fail fast with the cause"
)]
#![allow(
    dead_code,
    reason = "each test file uses a different part of the fixtures"
)]

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

/// A PNG signature followed by an IHDR chunk header: enough for a "PNG" nobody decodes.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x02\0\0\0\x02\0\x08\x06\0\0\0";

/// A ZIP of `(name, bytes)` members, deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(entries, CompressionMethod::Deflated)
}

/// A ZIP of `(name, bytes)` members with one compression method.
pub fn zip_with(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, bytes) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The slice_info of a two-plate P1S export (plate 1: two colours and two objects, plate 2: one).
pub const SLICE_INFO: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header>
    <header_item key="X-BBL-Client-Type" value="slicer"/>
    <header_item key="X-BBL-Client-Version" value="02.08.02.61"/>
  </header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="extruder_type" value="0"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="timelapse_type" value="0"/>
    <metadata key="prediction" value="3723"/>
    <metadata key="weight" value="12.34"/>
    <metadata key="outside" value="false"/>
    <metadata key="support_used" value="false"/>
    <metadata key="label_object_enabled" value="true"/>
    <metadata key="some_future_key" value="ignored"/>
    <object identify_id="139" name="Cube &amp; Co" skipped="false" />
    <object identify_id="160" name="Benchy" skipped="true" />
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FF8000" used_m="3.21" used_g="9.5" group_id="0" used_for_object="true"/>
    <filament id="4" tray_info_idx="GFG99" type="PETG" color="#00000080" used_m="0.90" used_g="2.84"/>
    <warning msg="bed_temperature_too_high_than_filament" level="1" error_code="1000C001"/>
    <layer_filament_lists><layer_filament_list filament_list="0 3" layer_ranges="0 9"/></layer_filament_lists>
  </plate>
  <plate>
    <metadata key="index" value="2"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="600"/>
    <metadata key="weight" value="1.5"/>
    <object identify_id="200" name="Clip" skipped="false"/>
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FF8000" used_m="0.5" used_g="1.5"/>
  </plate>
</config>
"##;

/// project_settings.config essentials (the real file has ~500 keys; unknown ones are ignored).
pub const PROJECT_SETTINGS: &str = r##"{
  "printer_model": "Bambu Lab P1S",
  "printer_settings_id": "Bambu Lab P1S 0.4 nozzle",
  "print_settings_id": "0.20mm Standard @BBL X1C",
  "nozzle_diameter": ["0.4"],
  "layer_height": "0.2",
  "filament_type": ["PLA", "PLA", "PLA", "PETG"],
  "filament_colour": ["#FF8000", "#FFFFFF", "nonsense", "#000000"],
  "filament_settings_id": ["Bambu PLA Basic @BBL X1C", "Generic PLA", "Generic PLA", "Generic PETG"],
  "flush_volumes_matrix": ["0", "1"],
  "bed_temperature": [55, 55],
  "unknown_object": {"nested": [1, 2, {"x": null}]}
}"##;

/// model_settings.config: objects with parts, two plates with instances.
pub const MODEL_SETTINGS: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<config>
  <object id="2">
    <metadata key="name" value="Cube &amp; Co"/>
    <metadata key="extruder" value="1"/>
    <part id="1" subtype="normal_part">
      <metadata key="name" value="part name, not the object"/>
      <metadata key="matrix" value="1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"/>
    </part>
  </object>
  <object id="3">
    <metadata key="name" value="Benchy"/>
  </object>
  <plate>
    <metadata key="plater_id" value="1"/>
    <metadata key="plater_name" value="Front"/>
    <metadata key="locked" value="false"/>
    <model_instance>
      <metadata key="object_id" value="2"/>
      <metadata key="instance_id" value="0"/>
      <metadata key="identify_id" value="139"/>
    </model_instance>
    <model_instance>
      <metadata key="object_id" value="3"/>
      <metadata key="instance_id" value="0"/>
      <metadata key="identify_id" value="160"/>
    </model_instance>
  </plate>
  <plate>
    <metadata key="plater_id" value="2"/>
    <metadata key="plater_name" value=""/>
  </plate>
</config>
"##;

/// The core model part with Title/Designer metadata and an inline (tiny) mesh.
pub const CORE_MODEL: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02" xmlns:BambuStudio="http://schemas.bambulab.com/package/2021">
  <metadata name="Application">BambuStudio-02.08.02.61</metadata>
  <metadata name="BambuStudio:3mfVersion">1</metadata>
  <metadata name="Title">Desk &amp; organiser</metadata>
  <metadata name="Designer">maker42</metadata>
  <resources>
    <object id="2" name="Cube &amp; Co" type="model">
      <mesh>
        <vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/></vertices>
        <triangles><triangle v1="0" v2="1" v3="2"/></triangles>
      </mesh>
    </object>
    <object id="3" name="Benchy" type="model"><components><component objectid="2"/></components></object>
  </resources>
  <build><item objectid="2"/><item objectid="3"/></build>
</model>
"##;

pub const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/><Default Extension="png" ContentType="image/png"/><Default Extension="gcode" ContentType="text/x.gcode"/></Types>"#;

pub const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel-1" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>"#;

/// A Bambu Studio plate G-code: header block, config block, then moves.
pub fn bambu_gcode(layers: u32, weight: f64) -> String {
    format!(
        "; HEADER_BLOCK_START\n\
         ; BambuStudio 02.08.02.61\n\
         ; model printing time: 58m 3s; total estimated time: 1h 2m 3s\n\
         ; total layer number: {layers}\n\
         ; total filament length [mm] : 3210.00,900.00\n\
         ; total filament volume [cm^3] : 7.72\n\
         ; total filament weight [g] : {weight}\n\
         ; filament_density: 1.26,1.27\n\
         ; filament_diameter: 1.75,1.75\n\
         ; max_z_height: 24.80\n\
         ; HEADER_BLOCK_END\n\
         \n\
         ; HEADER_BLOCK_START\n\
         ; thumbnail begin 300x300 3888\n\
         ; iVBORw0KGgoAAAANSUhEUgAAASwAAAEsCAYAAAB5fY51AAA\n\
         ; thumbnail end\n\
         ; HEADER_BLOCK_END\n\
         \n\
         ; CONFIG_BLOCK_START\n\
         ; curr_bed_type = Textured PEI Plate\n\
         ; filament_colour = #FF8000;#000000\n\
         ; filament_type = PLA;PETG\n\
         ; layer_height = 0.2\n\
         ; nozzle_diameter = 0.4\n\
         ; printer_model = Bambu Lab P1S\n\
         ; CONFIG_BLOCK_END\n\
         \n\
         M73 P0 R62\n\
         G28\n\
         M104 S220\n\
         G1 X10 Y10 Z0.2 E1.0\n"
    )
}

/// The full two-plate sliced project: every member a Bambu Studio "export all plates" writes
/// that this crate reads, plus a few it ignores. Sliced for a P1S (`C12`, `Bambu Lab P1S`);
/// plate 1's G-code says 124 layers, plate 2's 10.
pub fn sliced_project() -> Vec<u8> {
    sliced_project_for("C12", "Bambu Lab P1S", 0)
}

/// [`sliced_project`] sliced for another printer — `model_id` in slice_info (`BL-P001`),
/// `model_name` in the project settings (`Bambu Lab X1 Carbon`) — with `padding` bytes of
/// incompressible noise in a member readers ignore (a large upload that is still a valid file).
/// Also shared by the server's API tests (`crates/server/tests/api`).
pub fn sliced_project_for(model_id: &str, model_name: &str, padding: usize) -> Vec<u8> {
    sliced_project_with(model_id, model_name, padding, PNG, PNG)
}

/// [`sliced_project`] with its own plate images (`Metadata/plate_1.png`, `Metadata/plate_2.png`),
/// so a test can tell which plate's picture it was served.
pub fn sliced_project_with_images(plate_1: &[u8], plate_2: &[u8]) -> Vec<u8> {
    sliced_project_with("C12", "Bambu Lab P1S", 0, plate_1, plate_2)
}

fn sliced_project_with(
    model_id: &str,
    model_name: &str,
    padding: usize,
    plate_1: &[u8],
    plate_2: &[u8],
) -> Vec<u8> {
    let g1 = bambu_gcode(124, 12.34);
    let g2 = bambu_gcode(10, 1.5);
    let slice_info = SLICE_INFO.replace("\"C12\"", &format!("\"{model_id}\""));
    let settings = PROJECT_SETTINGS.replace("Bambu Lab P1S\",", &format!("{model_name}\","));
    // xorshift: noise deflate cannot shrink, so the archive really is that large.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..padding)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/project_settings.config", settings.as_bytes()),
        ("Metadata/model_settings.config", MODEL_SETTINGS.as_bytes()),
        ("Metadata/slice_info.config", slice_info.as_bytes()),
        ("Metadata/plate_1.gcode", g1.as_bytes()),
        (
            "Metadata/plate_1.gcode.md5",
            b"0123456789abcdef0123456789abcdef\n",
        ),
        ("Metadata/plate_1.png", plate_1),
        ("Metadata/plate_1_small.png", PNG),
        ("Metadata/plate_no_light_1.png", PNG),
        ("Metadata/top_1.png", PNG),
        ("Metadata/pick_1.png", PNG),
        ("Metadata/plate_1.json", br#"{"bbox_all":[0,0,1,1]}"#),
        ("Metadata/plate_2.gcode", g2.as_bytes()),
        ("Metadata/plate_2.png", plate_2),
        ("Metadata/cut_information.xml", b"<objects/>"),
    ];
    if padding > 0 {
        entries.push(("Auxiliaries/noise.bin", &noise));
    }
    zip(&entries)
}

/// An unsliced project: the model, settings and plate images, no G-code, no slice_info.
pub fn unsliced_project() -> Vec<u8> {
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        (
            "Metadata/project_settings.config",
            PROJECT_SETTINGS.as_bytes(),
        ),
        ("Metadata/model_settings.config", MODEL_SETTINGS.as_bytes()),
        ("Metadata/plate_1.png", PNG),
        ("Metadata/thumbnail.png", PNG),
    ])
}

/// Replace every occurrence of `from` with `to` (same length) in the archive bytes: names live
/// in both the local header and the central directory.
pub fn patch_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    hits
}

/// Offsets of every central-directory header (`PK\1\2`).
pub fn central_headers(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect()
}

/// Offsets of every local header (`PK\3\4`).
pub fn local_headers(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .map(|(i, _)| i)
        .collect()
}

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Claim `size` as the inflated size of member `n` in both headers (the lie of a zip bomb).
pub fn lie_about_size(bytes: &mut [u8], n: usize, size: u32) {
    let local = local_headers(bytes)[n];
    put_u32(bytes, local + 22, size);
    let central = central_headers(bytes)[n];
    put_u32(bytes, central + 24, size);
}

/// A binary STL of the given triangles.
pub fn binary_stl(header: &[u8; 80], triangles: &[[[f32; 3]; 3]]) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(&(triangles.len() as u32).to_le_bytes());
    for t in triangles {
        out.extend_from_slice(&[0u8; 12]);
        for v in t {
            for c in v {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// An ASCII STL of the given triangles.
pub fn ascii_stl(name: &str, triangles: &[[[f32; 3]; 3]]) -> String {
    let mut s = format!("solid {name}\n");
    for t in triangles {
        s.push_str("  facet normal 0 0 1\n    outer loop\n");
        for v in t {
            s.push_str(&format!("      vertex {} {} {}\n", v[0], v[1], v[2]));
        }
        s.push_str("    endloop\n  endfacet\n");
    }
    s.push_str(&format!("endsolid {name}\n"));
    s
}

/// A thumbnail block as PrusaSlicer/OrcaSlicer/Bambu Studio write it: `; TAG begin WxH LEN`,
/// the base64 in comment lines of 78 characters, `; TAG end` (TAG is `thumbnail`,
/// `thumbnail_JPG` or `thumbnail_QOI`).
pub fn thumbnail_block(tag: &str, width: u32, height: u32, data: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut s = format!(";\n; {tag} begin {width}x{height} {}\n", b64.len());
    for chunk in b64.as_bytes().chunks(78) {
        s.push_str("; ");
        s.push_str(std::str::from_utf8(chunk).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("; {tag} end\n;\n"));
    s
}

/// A PrusaSlicer-style `.gcode` with a 16×16 PNG, a 300×300 QOI (skipped) and a 220×124 PNG.
pub fn prusa_gcode_with_thumbnails() -> String {
    let mut big = PNG.to_vec();
    big.extend_from_slice(&[0x42; 2000]);
    format!(
        "; generated by PrusaSlicer 2.7.1+linux-x64 on 2024-01-01 at 10:00:00 UTC\n\n{}{}{}\
         ; external perimeters extrusion width = 0.45mm\nG28\nG1 X10 Y10 E1\n\
         ; estimated printing time (normal mode) = 12m 5s\n",
        thumbnail_block("thumbnail", 16, 16, PNG),
        thumbnail_block("thumbnail_QOI", 300, 300, b"qoif\0\0\0\x10"),
        thumbnail_block("thumbnail", 220, 124, &big),
    )
}
