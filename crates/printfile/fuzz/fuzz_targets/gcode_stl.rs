//! Fuzz target: any bytes as G-code and as STL (and through kind detection); must never panic.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use pw_printfile::{Limits, inspect_bytes, parse_header, read_gcode, read_stl};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        gcode_header_bytes: 4096,
        ..Limits::default()
    };
    let _ = parse_header(data);
    let _ = read_gcode(Cursor::new(data), &limits);
    if let Ok(stl) = read_stl(Cursor::new(data)) {
        assert!(stl.triangles > 0);
        assert!(stl.bounding_box.is_some());
    }
    for name in [None, Some("x.gcode"), Some("x.stl")] {
        let _ = inspect_bytes(data, name, &limits);
    }
});
