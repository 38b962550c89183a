//! 3MF projects end to end over hand-built archives (see `common` for the structure they follow):
//! every field read, and every refusal (not a ZIP, truncated, bombs, traversal names, malformed
//! XML/JSON, too many entries) with its plain-words message.
#![expect(clippy::panic, reason = "test helpers fail fast with the cause")]

mod common;

use std::io::Cursor;

use common::*;
use pw_printfile::{
    Colour, ErrorKind, FileKind, Limits, PrintFile, Project, Warning, detect_kind, inspect_bytes,
    read_plate_gcode_thumbnail, read_project, read_thumbnail,
};
use zip::CompressionMethod;

fn project(bytes: &[u8]) -> Project {
    match inspect_bytes(bytes, Some("x.gcode.3mf"), &Limits::default()) {
        Ok(PrintFile::SlicedProject(p) | PrintFile::Project(p)) => p,
        other => panic!("not a project: {other:?}"),
    }
}

fn refused(bytes: &[u8], limits: &Limits) -> ErrorKind {
    match read_project(Cursor::new(bytes), limits) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e.kind().clone(),
    }
}

fn colour(s: &str) -> Option<Colour> {
    Colour::parse(s)
}

#[test]
fn sliced_project_every_plate_field() {
    let bytes = sliced_project();
    let p = project(&bytes);
    assert!(p.sliced);
    assert_eq!(p.client_type.as_deref(), Some("slicer"));
    assert_eq!(p.client_version.as_deref(), Some("02.08.02.61"));
    assert_eq!(p.plates.len(), 2);
    assert_eq!(p.entry_count, 17);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    let one = &p.plates[0];
    assert_eq!(one.index, 1);
    assert_eq!(one.name.as_deref(), Some("Front"));
    assert_eq!(one.printer_model_id.as_deref(), Some("C12"));
    assert_eq!(one.nozzle_diameter, Some(0.4));
    assert_eq!(one.predicted_seconds, Some(3723));
    assert_eq!(one.weight_g, Some(12.34));
    assert_eq!(one.label_objects, Some(true));
    assert_eq!(one.filaments.len(), 2);
    let f = &one.filaments[0];
    assert_eq!(
        (f.id, f.tray_info_idx.as_deref(), f.material.as_deref()),
        (Some(1), Some("GFA00"), Some("PLA"))
    );
    assert_eq!(
        (f.colour, f.used_g, f.used_m),
        (colour("#FF8000"), Some(9.5), Some(3.21))
    );
    let f = &one.filaments[1];
    assert_eq!(
        (f.id, f.material.as_deref(), f.colour),
        (Some(4), Some("PETG"), colour("#00000080"))
    );
    assert_eq!(
        f.colour.map(|c| c.to_string()).as_deref(),
        Some("#00000080")
    );
    assert_eq!((f.used_g, f.used_m), (Some(2.84), Some(0.9)));
    let ids: Vec<_> = one
        .objects
        .iter()
        .map(|o| (o.id, o.name.as_str(), o.skipped))
        .collect();
    assert_eq!(
        ids,
        vec![(Some(139), "Cube & Co", false), (Some(160), "Benchy", true)]
    );

    let gcode = one.gcode.as_ref().expect("plate 1 gcode");
    assert_eq!(gcode.entry, "Metadata/plate_1.gcode");
    assert_eq!(gcode.size, bambu_gcode(124, 12.34).len() as u64);
    assert_eq!(
        gcode.md5.as_deref(),
        Some("0123456789ABCDEF0123456789ABCDEF")
    );
    assert_eq!(gcode.header.layer_count, Some(124));
    assert_eq!(gcode.header.estimated_seconds, Some(3723));
    assert_eq!(gcode.header.filament_weight_g, Some(12.34));
    assert_eq!(gcode.header.printer_model.as_deref(), Some("Bambu Lab P1S"));
    assert_eq!(
        one.thumbnail.as_ref().map(|t| t.entry.as_str()),
        Some("Metadata/plate_1.png")
    );
    assert_eq!(
        one.thumbnail_small.as_ref().map(|t| t.entry.as_str()),
        Some("Metadata/plate_1_small.png")
    );
    assert_eq!(
        one.thumbnail.as_ref().map(|t| t.size),
        Some(PNG.len() as u64)
    );

    let two = &p.plates[1];
    assert_eq!((two.index, two.name.as_deref()), (2, None));
    assert_eq!(
        (two.predicted_seconds, two.weight_g),
        (Some(600), Some(1.5))
    );
    assert_eq!(two.objects.len(), 1);
    assert_eq!(two.objects[0].id, Some(200));
    let g2 = two.gcode.as_ref().expect("plate 2 gcode");
    assert_eq!((g2.md5.as_deref(), g2.header.layer_count), (None, Some(10)));
    assert!(two.thumbnail.is_some() && two.thumbnail_small.is_none());

    let s = p.settings.as_ref().expect("settings");
    assert_eq!(s.printer_model.as_deref(), Some("Bambu Lab P1S"));
    assert_eq!(
        s.printer_preset.as_deref(),
        Some("Bambu Lab P1S 0.4 nozzle")
    );
    assert_eq!(s.print_preset.as_deref(), Some("0.20mm Standard @BBL X1C"));
    assert_eq!(s.nozzle_diameters, vec![0.4]);
    assert_eq!(s.layer_height, Some(0.2));
    assert_eq!(s.filament_types, vec!["PLA", "PLA", "PLA", "PETG"]);
    assert_eq!(
        s.filament_colours,
        vec![
            colour("#FF8000"),
            colour("#FFFFFF"),
            None,
            colour("#000000")
        ]
    );
    assert_eq!(s.filament_presets.len(), 4);

    let names: Vec<_> = p.objects.iter().map(|o| (o.id, o.name.as_str())).collect();
    assert_eq!(names, vec![(Some(2), "Cube & Co"), (Some(3), "Benchy")]);
    assert_eq!(p.title.as_deref(), Some("Desk & organiser"));
    assert_eq!(p.designer.as_deref(), Some("maker42"));
}

#[test]
fn kinds_by_content_not_name() {
    let limits = Limits::default();
    let kind = |bytes: &[u8], name| {
        detect_kind(Cursor::new(bytes), name, &limits).map_err(|e| e.kind().clone())
    };
    assert_eq!(
        kind(&sliced_project(), Some("a.3mf")),
        Ok(FileKind::SlicedProject)
    );
    assert_eq!(kind(&sliced_project(), None), Ok(FileKind::SlicedProject));
    assert_eq!(
        kind(&unsliced_project(), Some("a.gcode.3mf")),
        Ok(FileKind::Project)
    );
    assert_eq!(
        kind(&unsliced_project(), Some("renamed.gcode")),
        Ok(FileKind::Project)
    );
    assert_eq!(
        kind(b"G28\nG1 X1\n", Some("a.3mf")),
        Err(ErrorKind::NotAZip)
    );
    assert_eq!(kind(b"G28\nG1 X1\n", None), Ok(FileKind::Gcode));
    assert_eq!(kind(b"", Some("a.3mf")), Err(ErrorKind::Empty));
    assert_eq!(kind(b"hello world", None), Err(ErrorKind::UnknownKind));
    assert_eq!(
        FileKind::from_name("Part.GCODE.3MF"),
        Some(FileKind::SlicedProject)
    );
    assert_eq!(FileKind::SlicedProject.extension(), "gcode.3mf");
}

#[test]
fn unsliced_project_objects_plates_and_thumbnails() {
    let bytes = unsliced_project();
    let PrintFile::Project(p) =
        inspect_bytes(&bytes, Some("x.3mf"), &Limits::default()).expect("parses")
    else {
        panic!("not an unsliced project")
    };
    assert!(!p.sliced);
    assert_eq!(p.plates.len(), 2);
    let one = &p.plates[0];
    assert!(one.gcode.is_none());
    assert_eq!(one.name.as_deref(), Some("Front"));
    let objects: Vec<_> = one
        .objects
        .iter()
        .map(|o| (o.id, o.name.as_str()))
        .collect();
    assert_eq!(
        objects,
        vec![(Some(139), "Cube & Co"), (Some(160), "Benchy")]
    );
    assert!(one.thumbnail.is_some());
    assert_eq!(
        p.thumbnail.as_ref().map(|t| t.entry.as_str()),
        Some("Metadata/thumbnail.png")
    );
    let thumb = p.thumbnail.clone().expect("thumbnail");
    assert_eq!(
        read_thumbnail(Cursor::new(&bytes), &thumb, &Limits::default()).expect("bytes"),
        PNG
    );
}

#[test]
fn core_model_alone_gives_object_names() {
    let bytes = zip(&[("3D/3dmodel.model", CORE_MODEL.as_bytes())]);
    let p = project(&bytes);
    let names: Vec<_> = p.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, vec!["Cube & Co", "Benchy"]);
    assert!(p.plates.is_empty());
}

#[test]
fn old_slice_info_without_plates_is_plate_one() {
    let info = r##"<config><header/><filament id="1" type="PLA" color="#112233" used_g="4" used_m="1.2"/></config>"##;
    let bytes = zip(&[
        ("Metadata/slice_info.config", info.as_bytes()),
        ("Metadata/plate_1.gcode", b"G28\n"),
    ]);
    let p = project(&bytes);
    assert_eq!(p.plates.len(), 1);
    assert_eq!(p.plates[0].filaments[0].colour, colour("#112233"));
    assert_eq!(p.plates[0].filaments[0].used_g, Some(4.0));
}

#[test]
fn single_plate_export_of_plate_five() {
    // A plate numbered 0 is not a plate (Bambu Studio refuses to load one): left out.
    let info = r#"<config><plate><metadata key="index" value="5"/><metadata key="prediction" value="42"/></plate><plate><metadata key="index" value="0"/></plate></config>"#;
    let bytes = zip(&[
        ("Metadata/slice_info.config", info.as_bytes()),
        ("Metadata/plate_5.gcode", b"G28\n"),
    ]);
    let p = project(&bytes);
    assert_eq!(p.plates.len(), 1);
    assert_eq!(
        (p.plates[0].index, p.plates[0].predicted_seconds),
        (5, Some(42))
    );
    assert!(p.plates[0].gcode.is_some());
}

#[test]
fn gcode_without_slice_info_still_makes_plates() {
    let bytes = zip(&[
        ("Metadata/plate_3.gcode", bambu_gcode(7, 1.0).as_bytes()),
        ("Metadata/plate_1.gcode", b"G28\n"),
    ]);
    let p = project(&bytes);
    let indices: Vec<_> = p.plates.iter().map(|p| p.index).collect();
    assert_eq!(indices, vec![1, 3]);
    assert_eq!(
        p.plates[1]
            .gcode
            .as_ref()
            .and_then(|g| g.header.layer_count),
        Some(7)
    );
}

#[test]
fn bad_thumbnails_and_md5_are_warnings() {
    let limits = Limits {
        max_thumbnail_bytes: 64,
        ..Limits::default()
    };
    let big = [PNG, &[0u8; 100][..]].concat();
    let bytes = zip(&[
        ("Metadata/plate_1.gcode", b"G28\n"),
        ("Metadata/plate_1.gcode.md5", b"not an md5"),
        ("Metadata/plate_1.png", b"GIF89a not a png"),
        ("Metadata/plate_1_small.png", &big),
    ]);
    let p = read_project(Cursor::new(&bytes), &limits).expect("parses");
    assert!(p.plates[0].thumbnail.is_none() && p.plates[0].thumbnail_small.is_none());
    assert_eq!(p.plates[0].gcode.as_ref().and_then(|g| g.md5.clone()), None);
    assert_eq!(
        p.warnings,
        vec![
            Warning::BadMd5 {
                entry: "Metadata/plate_1.gcode.md5".into()
            },
            Warning::ThumbnailNotPng {
                entry: "Metadata/plate_1.png".into()
            },
            Warning::ThumbnailTooLarge {
                entry: "Metadata/plate_1_small.png".into()
            },
        ]
    );
    assert_eq!(
        p.warnings[1].to_string(),
        "Metadata/plate_1.png is not a PNG image; left out"
    );
}

#[test]
fn stored_members_read_like_deflated_ones() {
    let g = bambu_gcode(3, 0.5);
    let bytes = zip_with(
        &[
            ("Metadata/slice_info.config", SLICE_INFO.as_bytes()),
            ("Metadata/plate_1.gcode", g.as_bytes()),
        ],
        CompressionMethod::Stored,
    );
    let p = project(&bytes);
    assert_eq!(p.plates[0].printer_model_id.as_deref(), Some("C12"));
}

// ---- refusals ----

#[test]
fn a_3mf_that_is_not_a_zip() {
    let e = inspect_bytes(b"solid cube\nfacet", Some("cube.3mf"), &Limits::default())
        .expect_err("refused");
    assert_eq!(e.kind(), &ErrorKind::NotAZip);
    assert_eq!(e.to_string(), "This .3mf file is not a valid ZIP archive");
    assert_eq!(
        refused(b"\x89PNG not a zip", &Limits::default()),
        ErrorKind::NotAZip
    );
    assert_eq!(refused(b"", &Limits::default()), ErrorKind::NotAZip);
}

#[test]
fn a_zip_that_is_not_a_3mf() {
    let bytes = zip(&[("readme.txt", b"hi")]);
    assert_eq!(refused(&bytes, &Limits::default()), ErrorKind::NotA3mf);
    assert_eq!(refused(&zip(&[]), &Limits::default()), ErrorKind::NotA3mf);
}

#[test]
fn truncated_archives_at_every_length() {
    let bytes = sliced_project();
    for cut in (1..bytes.len()).step_by(7) {
        let e = read_project(Cursor::new(&bytes[..cut]), &Limits::default())
            .expect_err("truncated must fail");
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::NotAZip),
            "cut {cut}: {e:?}"
        );
    }
    let e = read_project(Cursor::new(&bytes[..bytes.len() - 30]), &Limits::default())
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "The archive is damaged or incomplete (was the upload cut short?)"
    );
}

#[test]
fn zip_bomb_by_declared_ratio() {
    let zeros = vec![0u8; 4 << 20];
    let bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/plate_1.gcode", &zeros),
    ]);
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("bomb");
    assert_eq!(
        e.kind(),
        &ErrorKind::CompressionRatio {
            name: "Metadata/plate_1.gcode".into(),
            limit: 200
        }
    );
    assert!(e.to_string().contains("as zip bombs do; refused"), "{e}");
}

#[test]
fn zip_bomb_lying_about_its_size_is_stopped_while_inflating() {
    // 4 MiB of zeros declared as 100 bytes: only the counting reader can see the truth.
    let zeros = vec![0u8; 4 << 20];
    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/junk.bin", &zeros),
    ]);
    lie_about_size(&mut bytes, 1, 100);
    // The ZIP reader itself stops one read past the declared size; the counting reader around it
    // is the second fence (unit-tested in `archive`).
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("bomb");
    assert_eq!(e.kind(), &ErrorKind::Corrupt, "{e:?}");
    assert!(
        e.cause()
            .is_some_and(|c| c.contains("larger than its declared")),
        "{e:?}"
    );
}

#[test]
fn a_metadata_member_lying_about_its_size_is_capped() {
    let big = format!("<config>{}</config>", "<x/>".repeat(100_000));
    let bytes = zip(&[
        ("Metadata/slice_info.config", big.as_bytes()),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    let limits = Limits {
        max_metadata_bytes: 64 << 10,
        ..Limits::default()
    };
    let e = read_project(Cursor::new(&bytes), &limits).expect_err("capped");
    assert_eq!(
        e.kind(),
        &ErrorKind::EntryTooLarge {
            name: "Metadata/slice_info.config".into(),
            limit: 64 << 10
        }
    );
    // A member lying about its size with verification off: the ZIP reader's own check trips
    // while the XML is streamed, reported as damage, not as bad XML.
    let mut bytes = bytes;
    lie_about_size(&mut bytes, 0, 10);
    let limits = Limits {
        verify_all_entries: false,
        ..Limits::default()
    };
    let e = read_project(Cursor::new(&bytes), &limits).expect_err("lie");
    assert_eq!(e.kind(), &ErrorKind::Corrupt, "{e:?}");
}

#[test]
fn huge_declared_total_is_refused_before_inflating() {
    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("a.bin", &[1u8; 10]),
        ("b.bin", &[2u8; 10]),
        ("c.bin", &[3u8; 10]),
    ]);
    for n in 1..4 {
        let central = central_headers(&bytes)[n];
        put_u32(&mut bytes, central + 24, 900 << 20);
        put_u32(&mut bytes, central + 20, 9 << 20);
    }
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("too large");
    assert_eq!(e.kind(), &ErrorKind::TooLarge { limit: 2 << 30 });
    assert_eq!(
        e.to_string(),
        "The archive would expand to more than 2 GiB; refused"
    );
    // The actual total, counted while verifying, is held to the same limit.
    let honest = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("a.bin", &[7u8; 300_000]),
        ("b.bin", &[7u8; 300_000]),
    ]);
    let limits = Limits {
        max_total_uncompressed: 500_000,
        max_ratio: u64::MAX,
        ..Limits::default()
    };
    assert_eq!(
        refused(&honest, &limits),
        ErrorKind::TooLarge { limit: 500_000 }
    );
}

#[test]
fn entry_declared_over_the_per_entry_cap() {
    let bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/plate_1.gcode", &[b'G'; 5000]),
    ]);
    let limits = Limits {
        max_entry_uncompressed: 4096,
        ..Limits::default()
    };
    let e = read_project(Cursor::new(&bytes), &limits).expect_err("too large");
    assert_eq!(
        e.kind(),
        &ErrorKind::EntryTooLarge {
            name: "Metadata/plate_1.gcode".into(),
            limit: 4096
        }
    );
    assert_eq!(
        e.to_string(),
        "The file Metadata/plate_1.gcode inside the archive would expand to more than 4 KiB; refused"
    );
}

#[test]
fn too_many_entries() {
    let names: Vec<String> = (0..40).map(|i| format!("Metadata/f{i}.txt")).collect();
    let mut members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    members.push(("3D/3dmodel.model", CORE_MODEL.as_bytes()));
    let bytes = zip(&members);
    let limits = Limits {
        max_entries: 32,
        ..Limits::default()
    };
    let e = read_project(Cursor::new(&bytes), &limits).expect_err("too many");
    assert_eq!(e.kind(), &ErrorKind::TooManyEntries { limit: 32 });
    assert_eq!(
        e.to_string(),
        "The archive holds more than 32 files; refused"
    );
    assert!(read_project(Cursor::new(&bytes), &Limits::default()).is_ok());
}

#[test]
fn traversal_and_other_unsafe_names() {
    for (placeholder, evil) in [
        (&b"xx/xx/evil.txt"[..], &b"../../evil.txt"[..]),
        (b"Metadata/xx/xxx", b"Metadata/../../"),
        (b"xetc/passwd", b"/etc/passwd"),
        (b"xx/windows", b"C:/windows"),
        (b"Metadata_x.txt", b"Metadata\\x.txt"),
        (b"nulxname", b"nul\0name"),
    ] {
        let name = std::str::from_utf8(placeholder).expect("ascii");
        let mut bytes = zip(&[
            ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
            (name, b"payload"),
        ]);
        assert_eq!(patch_all(&mut bytes, placeholder, evil), 2);
        let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("unsafe");
        assert!(
            matches!(e.kind(), ErrorKind::UnsafeEntryName { .. }),
            "{evil:?}: {e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("The archive holds a file with an unsafe name ("),
            "{e}"
        );
        assert!(!e.to_string().contains('\0'));
    }
}

#[test]
fn duplicate_names_are_refused() {
    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/a.txt", b"1"),
        ("Metadata/b.txt", b"2"),
    ]);
    assert_eq!(
        patch_all(&mut bytes, b"Metadata/b.txt", b"Metadata/a.txt"),
        2
    );
    assert_eq!(
        refused(&bytes, &Limits::default()),
        ErrorKind::DuplicateEntry
    );
}

#[test]
fn encrypted_and_unsupported_methods_are_refused() {
    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("secret.bin", b"data"),
    ]);
    let central = central_headers(&bytes)[1];
    put_u16(&mut bytes, central + 8, 1);
    assert_eq!(refused(&bytes, &Limits::default()), ErrorKind::Encrypted);

    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("packed.bin", b"data"),
    ]);
    let central = central_headers(&bytes)[1];
    put_u16(&mut bytes, central + 10, 12); // bzip2
    assert_eq!(
        refused(&bytes, &Limits::default()),
        ErrorKind::UnsupportedCompression {
            name: "packed.bin".into()
        }
    );
}

#[test]
fn overlapping_members_are_refused() {
    // Two central entries pointing at the same local data: the overlapping-files zip bomb.
    let mut bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("a.bin", &[5u8; 1000]),
        ("b.bin", &[5u8; 1000]),
    ]);
    let centrals = central_headers(&bytes);
    let first = u32::from_le_bytes(
        bytes[centrals[1] + 42..centrals[1] + 46]
            .try_into()
            .expect("4 bytes"),
    );
    put_u32(&mut bytes, centrals[2] + 42, first);
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("overlap");
    assert!(
        matches!(e.kind(), ErrorKind::OverlappingEntries | ErrorKind::Corrupt),
        "{e:?}"
    );
}

#[test]
fn malformed_xml_in_each_member_is_a_typed_error() {
    for member in [
        "Metadata/slice_info.config",
        "Metadata/model_settings.config",
        "3D/3dmodel.model",
    ] {
        for bad in [
            "<config><plate></config>",
            "<config",
            "not xml at all",
            "<a/><b/>",
            "<config a='1' a='2'/>",
            "<config>&bomb;</config>",
        ] {
            let bytes = if member == "3D/3dmodel.model" {
                zip(&[(member, bad.as_bytes()), ("Metadata/plate_1.gcode", b"G28")])
            } else {
                zip(&[
                    ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
                    (member, bad.as_bytes()),
                    ("Metadata/plate_1.gcode", b"G28"),
                ])
            };
            let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("malformed");
            assert_eq!(
                e.kind(),
                &ErrorKind::MalformedXml {
                    entry: member.into()
                },
                "{member}: {bad}"
            );
            assert_eq!(
                e.to_string(),
                format!("{member} inside the project is not valid XML")
            );
        }
    }
}

#[test]
fn entity_expansion_is_never_performed() {
    let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><config><plate><metadata key="index" value="&lol2;"/></plate></config>"#;
    let bytes = zip(&[
        ("Metadata/slice_info.config", lol.as_bytes()),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    assert_eq!(
        refused(&bytes, &Limits::default()),
        ErrorKind::MalformedXml {
            entry: "Metadata/slice_info.config".into()
        }
    );
}

#[test]
fn malformed_json_settings_is_a_typed_error() {
    let bytes = zip(&[
        ("Metadata/project_settings.config", b"{\"printer_model\": "),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("malformed");
    assert_eq!(
        e.kind(),
        &ErrorKind::MalformedJson {
            entry: "Metadata/project_settings.config".into()
        }
    );
    // Valid JSON of another shape is not an error: nothing known in it.
    let bytes = zip(&[
        ("Metadata/project_settings.config", b"[1,2,3]"),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    assert_eq!(project(&bytes).settings, Some(Default::default()));
}

#[test]
fn unknown_fields_and_odd_values_are_ignored() {
    let info = r#"<config><plate><metadata key="index" value="1"/><metadata key="prediction" value="soon"/>
        <metadata key="weight" value="-3"/><metadata key="nozzle_diameters" value="0.6,0.4"/>
        <filament id="x" type="" color="blue" used_g="NaN" used_m="inf"/><future><object identify_id="1" name="nested"/></future></plate></config>"#;
    let bytes = zip(&[
        ("Metadata/slice_info.config", info.as_bytes()),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    let p = project(&bytes);
    let plate = &p.plates[0];
    assert_eq!(
        (
            plate.predicted_seconds,
            plate.weight_g,
            plate.nozzle_diameter
        ),
        (None, None, Some(0.6))
    );
    let f = &plate.filaments[0];
    assert_eq!(
        (f.id, f.material.as_deref(), f.colour, f.used_g, f.used_m),
        (None, None, None, None, None)
    );
    assert!(plate.objects.is_empty());
}

#[test]
fn errors_keep_a_private_cause() {
    let bytes = zip(&[
        ("Metadata/project_settings.config", b"{oops"),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    let e = read_project(Cursor::new(&bytes), &Limits::default()).expect_err("malformed");
    assert!(e.cause().is_some_and(|c| !c.is_empty()));
    assert!(!e.to_string().contains("oops"));
}

#[test]
fn plate_gcode_thumbnail_serves_a_plate_without_png() {
    let gcode = format!(
        "{}{}",
        thumbnail_block("thumbnail", 512, 512, PNG),
        bambu_gcode(10, 1.5)
    );
    let bytes = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/slice_info.config", SLICE_INFO.as_bytes()),
        ("Metadata/plate_1.gcode", gcode.as_bytes()),
    ]);
    let p = project(&bytes);
    let plate = p
        .plates
        .iter()
        .find(|p| p.index == 1)
        .unwrap_or_else(|| panic!("no plate 1"));
    assert!(plate.thumbnail.is_none());
    let header = &plate
        .gcode
        .as_ref()
        .unwrap_or_else(|| panic!("no gcode"))
        .header;
    assert_eq!(header.layer_count, Some(10));
    assert_eq!(header.thumbnails.len(), 1);
    assert_eq!(header.thumbnails[0].width, 512);
    match read_plate_gcode_thumbnail(
        Cursor::new(&bytes),
        "Metadata/plate_1.gcode",
        &Limits::default(),
    ) {
        Ok(Some(t)) => assert_eq!(t.data, PNG),
        other => panic!("no thumbnail: {other:?}"),
    }
    // A member that is not there is an error, not a thumbnail.
    assert!(
        read_plate_gcode_thumbnail(
            Cursor::new(&bytes),
            "Metadata/plate_9.gcode",
            &Limits::default()
        )
        .is_err()
    );
}
