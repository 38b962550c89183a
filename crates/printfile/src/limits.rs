//! The bounds every parse runs under ([`Limits`]): how many entries, how many bytes in total and
//! per entry, how well an entry may compress, how much of a text file is read. Defaults fit real
//! slicer output with room to spare and refuse zip bombs long before memory or disk suffer.

/// Bounds for one parse. `Limits::default()` is what the library upload uses; all fields are
/// public so a caller can tighten or loosen them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most entries a ZIP may hold (Bambu Studio writes ~10 + ~8 per plate). Default 10 000.
    pub max_entries: usize,
    /// Most bytes all entries may declare together, and most bytes this crate inflates in one
    /// parse. Default 2 GiB.
    pub max_total_uncompressed: u64,
    /// Most bytes one entry may declare or inflate to. Default 1 GiB.
    pub max_entry_uncompressed: u64,
    /// Most an entry may expand relative to its packed size (declared or while inflating), once it
    /// is past [`Limits::ratio_floor`]. Real G-code and mesh XML stay well under 50:1; deflate's own
    /// ceiling is about 1030:1. Default 200.
    pub max_ratio: u64,
    /// Entries that inflate to at most this many bytes are not ratio-checked (a tiny file of
    /// zeros compresses "too well" and harms no one). Default 1 MiB.
    pub ratio_floor: u64,
    /// Most bytes read from one XML/JSON metadata member (`slice_info.config`,
    /// `project_settings.config`, `model_settings.config`). Default 32 MiB.
    pub max_metadata_bytes: u64,
    /// Most bytes read from `3D/3dmodel.model` (meshes can be inline). Default 512 MiB.
    pub max_model_bytes: u64,
    /// Largest plate thumbnail accepted. Default 4 MiB.
    pub max_thumbnail_bytes: u64,
    /// How much of a G-code file's start (and, for a plain `.gcode` file, of its end) is read for
    /// the header facts. Default 256 KiB.
    pub gcode_header_bytes: u64,
    /// How much of a G-code file's start (or of a plate's G-code in a 3MF) is scanned for
    /// embedded thumbnails (`; thumbnail begin …`). Default 1 MiB.
    pub gcode_thumbnail_bytes: u64,
    /// Longest entry name accepted, in bytes. Default 1024.
    pub max_name_len: usize,
    /// Inflate every entry once (through the same counting reader, CRC checked) so an entry that
    /// lies about its size is refused even when nothing else reads it. Default true.
    pub verify_all_entries: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_total_uncompressed: 2 << 30,
            max_entry_uncompressed: 1 << 30,
            max_ratio: 200,
            ratio_floor: 1 << 20,
            max_metadata_bytes: 32 << 20,
            max_model_bytes: 512 << 20,
            max_thumbnail_bytes: 4 << 20,
            gcode_header_bytes: 256 << 10,
            gcode_thumbnail_bytes: 1 << 20,
            max_name_len: 1024,
            verify_all_entries: true,
        }
    }
}
