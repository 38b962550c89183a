//! Fuzz target: any bytes as a 3MF project (and through kind detection); must never panic, and an
//! accepted project must respect the limits it was read under (plate images, including those a
//! plate's G-code embeds, within their cap).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use pw_printfile::{
    Limits, PrintFile, inspect_bytes, read_plate_gcode_thumbnail, read_project, read_thumbnail,
};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(project) = read_project(Cursor::new(data), &limits) {
        assert!(project.uncompressed_size <= limits.max_total_uncompressed);
        assert!(project.entry_count <= limits.max_entries);
        for plate in &project.plates {
            for thumb in [&plate.thumbnail, &plate.thumbnail_small]
                .into_iter()
                .flatten()
            {
                if let Ok(png) = read_thumbnail(Cursor::new(data), thumb, &limits) {
                    assert!(png.len() as u64 <= limits.max_thumbnail_bytes);
                }
            }
            if let Some(gcode) = &plate.gcode
                && !gcode.header.thumbnails.is_empty()
                && let Ok(Some(t)) =
                    read_plate_gcode_thumbnail(Cursor::new(data), &gcode.entry, &limits)
            {
                assert!(t.data.len() as u64 <= limits.max_thumbnail_bytes);
            }
        }
    }
    if let Ok(PrintFile::SlicedProject(p)) = inspect_bytes(data, Some("x.3mf"), &limits) {
        assert!(p.sliced);
    }
});
