//! Property tests: generated plates, filaments, objects, G-code headers and meshes read back
//! exactly; arbitrary bytes and mutated fixtures (bit flips, truncation, splices, size lies)
//! never panic and never get past the limits.

mod common;

use std::io::Cursor;

use common::*;
use proptest::prelude::*;
use pw_printfile::{Colour, Limits, PrintFile, inspect_bytes, parse_header, read_stl};

#[derive(Debug, Clone)]
struct GenFilament {
    id: u32,
    material: &'static str,
    colour: (u8, u8, u8, u8),
    used_g: u32,
    used_m: u32,
}

#[derive(Debug, Clone)]
struct GenPlate {
    index: u32,
    model: &'static str,
    prediction: u32,
    weight_cg: u32,
    filaments: Vec<GenFilament>,
    objects: Vec<(u64, String, bool)>,
}

fn filament() -> impl Strategy<Value = GenFilament> {
    (
        1u32..64,
        prop::sample::select(vec!["PLA", "PETG", "ABS", "TPU", "PLA-CF", "ASA"]),
        any::<(u8, u8, u8, u8)>(),
        0u32..100_000,
        0u32..100_000,
    )
        .prop_map(|(id, material, colour, used_g, used_m)| GenFilament {
            id,
            material,
            colour,
            used_g,
            used_m,
        })
}

fn plates() -> impl Strategy<Value = Vec<GenPlate>> {
    prop::collection::btree_set(1u32..200, 1..6).prop_flat_map(|indices| {
        let n = indices.len();
        (
            Just(indices.into_iter().collect::<Vec<_>>()),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["C11", "C12", "BL-P001", "N2S", "O1D"]),
                    any::<u32>(),
                    0u32..1_000_000,
                    prop::collection::vec(filament(), 0..5),
                    prop::collection::vec(
                        (any::<u64>(), "[A-Za-z0-9 _&<>\"'-]{1,20}", any::<bool>()),
                        0..5,
                    ),
                ),
                n,
            ),
        )
            .prop_map(|(indices, rest)| {
                indices
                    .into_iter()
                    .zip(rest)
                    .map(
                        |(index, (model, prediction, weight_cg, filaments, objects))| GenPlate {
                            index,
                            model,
                            prediction,
                            weight_cg,
                            filaments,
                            objects,
                        },
                    )
                    .collect()
            })
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn slice_info(plates: &[GenPlate]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<config><header><header_item key=\"X-BBL-Client-Type\" value=\"slicer\"/></header>",
    );
    for p in plates {
        s.push_str(&format!(
            "<plate><metadata key=\"index\" value=\"{}\"/><metadata key=\"printer_model_id\" value=\"{}\"/><metadata key=\"prediction\" value=\"{}\"/><metadata key=\"weight\" value=\"{}.{:02}\"/>",
            p.index, p.model, p.prediction, p.weight_cg / 100, p.weight_cg % 100
        ));
        for (id, name, skipped) in &p.objects {
            s.push_str(&format!(
                "<object identify_id=\"{id}\" name=\"{}\" skipped=\"{skipped}\"/>",
                escape(name)
            ));
        }
        for f in &p.filaments {
            let (r, g, b, a) = f.colour;
            s.push_str(&format!(
                "<filament id=\"{}\" type=\"{}\" color=\"#{r:02x}{g:02X}{b:02x}{a:02X}\" used_g=\"{}.{:02}\" used_m=\"{}.{:02}\"/>",
                f.id, f.material, f.used_g / 100, f.used_g % 100, f.used_m / 100, f.used_m % 100
            ));
        }
        s.push_str("</plate>");
    }
    s.push_str("</config>");
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn generated_slice_info_reads_back_exactly(plates in plates()) {
        let xml = slice_info(&plates);
        let mut members: Vec<(String, Vec<u8>)> = vec![("Metadata/slice_info.config".into(), xml.into_bytes())];
        for p in &plates {
            members.push((format!("Metadata/plate_{}.gcode", p.index), bambu_gcode(p.index, 1.0).into_bytes()));
        }
        let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        let bytes = zip(&refs);
        let Ok(PrintFile::SlicedProject(project)) = inspect_bytes(&bytes, None, &Limits::default()) else {
            panic!("not read as a sliced project");
        };
        let mut want = plates.clone();
        want.sort_by_key(|p| p.index);
        prop_assert_eq!(project.plates.len(), want.len());
        for (got, want) in project.plates.iter().zip(&want) {
            prop_assert_eq!(got.index, want.index);
            prop_assert_eq!(got.printer_model_id.as_deref(), Some(want.model));
            prop_assert_eq!(got.predicted_seconds, Some(u64::from(want.prediction)));
            prop_assert_eq!(got.weight_g, Some(f64::from(want.weight_cg) / 100.0));
            prop_assert_eq!(got.gcode.as_ref().and_then(|g| g.header.layer_count), Some(want.index));
            prop_assert_eq!(got.filaments.len(), want.filaments.len());
            for (gf, wf) in got.filaments.iter().zip(&want.filaments) {
                let (r, g, b, a) = wf.colour;
                prop_assert_eq!(gf.id, Some(wf.id));
                prop_assert_eq!(gf.material.as_deref(), Some(wf.material));
                prop_assert_eq!(gf.colour, Some(Colour { red: r, green: g, blue: b, alpha: a }));
                prop_assert_eq!(gf.used_g, Some(f64::from(wf.used_g) / 100.0));
                prop_assert_eq!(gf.used_m, Some(f64::from(wf.used_m) / 100.0));
            }
            let objects: Vec<_> = got.objects.iter().map(|o| (o.id, o.name.trim().to_owned(), o.skipped)).collect();
            let wanted: Vec<_> = want.objects.iter().map(|(id, n, s)| (Some(*id), n.trim().to_owned(), *s)).collect();
            prop_assert_eq!(objects, wanted);
        }
    }

    #[test]
    fn gcode_header_values_read_back(layers in 0u32..100_000, seconds in 0u64..10_000_000, grams in 0u32..1_000_000, types in prop::collection::vec("[A-Z]{2,5}", 1..5)) {
        let (d, h, m, s) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
        let text = format!(
            "; HEADER_BLOCK_START\n; model printing time: 1s; total estimated time: {d}d {h}h {m}m {s}s\n; total layer number: {layers}\n; total filament weight [g] : {}.{:02}\n; HEADER_BLOCK_END\n; filament_type = {}\nG28\n",
            grams / 100, grams % 100, types.join(";")
        );
        let header = parse_header(text.as_bytes());
        prop_assert_eq!(header.estimated_seconds, Some(seconds));
        prop_assert_eq!(header.layer_count, Some(layers));
        prop_assert_eq!(header.filament_weight_g, Some(f64::from(grams) / 100.0));
        prop_assert_eq!(header.filament_types, types);
    }

    #[test]
    fn stl_counts_and_boxes_match_the_mesh(tris in prop::collection::vec(prop::array::uniform3(prop::array::uniform3(-1000i32..1000)), 1..40)) {
        let tris: Vec<[[f32; 3]; 3]> = tris.iter().map(|t| t.map(|v| v.map(|c| c as f32 / 4.0))).collect();
        let mut min = [f32::MAX; 3];
        let mut max = [f32::MIN; 3];
        for v in tris.iter().flatten() {
            for i in 0..3 {
                min[i] = min[i].min(v[i]);
                max[i] = max[i].max(v[i]);
            }
        }
        for bytes in [binary_stl(&[0; 80], &tris), ascii_stl("p", &tris).into_bytes()] {
            let info = read_stl(Cursor::new(&bytes)).expect("valid stl");
            prop_assert_eq!(info.triangles, tris.len() as u64);
            let b = info.bounding_box.expect("box");
            prop_assert_eq!((b.min, b.max), (min, max));
        }
    }

    #[test]
    fn colours_print_back_canonically(r: u8, g: u8, b: u8, a: u8) {
        let c = Colour { red: r, green: g, blue: b, alpha: a };
        prop_assert_eq!(Colour::parse(&c.to_string()), Some(c));
        prop_assert_eq!(Colour::parse(&format!("{r:02x}{g:02x}{b:02x}{a:02x}")), Some(c));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), name in prop::sample::select(vec![None, Some("a.3mf"), Some("a.gcode"), Some("a.stl")])) {
        let _ = inspect_bytes(&bytes, name, &Limits::default());
        let _ = parse_header(&bytes);
    }

    #[test]
    fn mutated_projects_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        splice in any::<prop::sample::Index>(),
        how in 0u8..4,
    ) {
        let base = sliced_project();
        let mut bytes = base.clone();
        for (at, bits) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= bits;
        }
        match how {
            0 => bytes.truncate(cut.index(base.len())),
            1 => {
                // Splice the tail of the unsliced project into the middle.
                let other = unsliced_project();
                let at = splice.index(bytes.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[cut.index(other.len())..]);
            }
            2 => {
                // Lie about one member's size in both headers.
                let members = central_headers(&bytes).len().min(local_headers(&bytes).len());
                if members > 0 {
                    lie_about_size(&mut bytes, splice.index(members), u32::try_from(cut.index(usize::MAX >> 1)).unwrap_or(u32::MAX));
                }
            }
            _ => {}
        }
        let tight = Limits { max_total_uncompressed: 1 << 20, max_entry_uncompressed: 256 << 10, ..Limits::default() };
        for limits in [Limits::default(), tight] {
            if let Ok(PrintFile::SlicedProject(p) | PrintFile::Project(p)) = inspect_bytes(&bytes, Some("a.3mf"), &limits) {
                prop_assert!(p.uncompressed_size <= limits.max_total_uncompressed);
            }
        }
    }
}
