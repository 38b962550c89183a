//! Fuzz target: any bytes as G-code (header facts and embedded thumbnails) and as STL (and
//! through kind detection); must never panic, and thumbnails stay within their caps.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use pw_printfile::gcode_thumbnail::MAX_THUMBNAILS;
use pw_printfile::{
    Limits, inspect_bytes, parse_header, parse_thumbnails, read_gcode, read_gcode_thumbnail,
    read_stl,
};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        gcode_header_bytes: 4096,
        gcode_thumbnail_bytes: 6144,
        max_thumbnail_bytes: 2048,
        ..Limits::default()
    };
    let _ = parse_header(data);
    let thumbnails = parse_thumbnails(data, &limits);
    assert!(thumbnails.len() <= MAX_THUMBNAILS);
    for t in &thumbnails {
        assert!(t.data.len() <= 2048);
    }
    let _ = read_gcode_thumbnail(Cursor::new(data), &limits);
    let _ = read_gcode(Cursor::new(data), &limits);
    if let Ok(stl) = read_stl(Cursor::new(data)) {
        assert!(stl.triangles > 0);
        assert!(stl.bounding_box.is_some());
    }
    for name in [None, Some("x.gcode"), Some("x.stl")] {
        let _ = inspect_bytes(data, name, &limits);
    }
});
