//! Thumbnails embedded in G-code comments, as PrusaSlicer, OrcaSlicer and Bambu Studio write
//! them near the start of a file (and of a 3MF's `Metadata/plate_N.gcode`):
//!
//! ```text
//! ; thumbnail begin 300x300 12345
//! ; iVBORw0KGgoAAAANSUhEUgAA…
//! ; thumbnail end
//! ```
//!
//! `thumbnail` (PNG), `thumbnail_PNG` and `thumbnail_JPG` blocks are decoded; `thumbnail_QOI` and
//! any other tag are skipped (browsers do not show QOI). The image is accepted by its content
//! (PNG signature or JPEG start-of-image), never by the tag alone.
//!
//! Invariant (hostile files): only the first [`Limits::gcode_thumbnail_bytes`] of the text are
//! scanned; at most [`MAX_BLOCKS`] begin markers are looked at and [`MAX_THUMBNAILS`] images
//! kept; a block whose declared length would decode past [`Limits::max_thumbnail_bytes`] is
//! skipped before anything is buffered (the declared length is never used to allocate); a block
//! whose base64 does not have its declared length (truncated, padded), does not decode, or is
//! not a PNG/JPEG is left out. Nothing here fails: a file without a usable thumbnail has none.

use std::io::{Read, Seek, SeekFrom};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Limits;
use crate::error::{Error, ErrorKind};

/// Most `begin` markers looked at in one file; the scan stops at the next one.
pub const MAX_BLOCKS: usize = 64;
/// Most thumbnails kept from one file.
pub const MAX_THUMBNAILS: usize = 8;
/// Largest width or height accepted in a `begin` marker.
const MAX_SIDE: u32 = 4096;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
const JPEG_SOI: [u8; 3] = [0xFF, 0xD8, 0xFF];

/// Padding optional, trailing bits checked: slicers write standard padded base64.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The image formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

impl ImageFormat {
    /// The media type (`image/png`, `image/jpeg`).
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }

    /// What the bytes are, by their first bytes.
    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&PNG_SIGNATURE) {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&JPEG_SOI) {
            Some(ImageFormat::Jpeg)
        } else {
            None
        }
    }
}

/// One decoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcodeThumbnail {
    /// Width the `begin` marker declares.
    pub width: u32,
    /// Height the `begin` marker declares.
    pub height: u32,
    /// PNG or JPEG (by content).
    pub format: ImageFormat,
    /// The image bytes.
    pub data: Vec<u8>,
}

/// What a thumbnail is, without its bytes (kept in [`crate::GcodeHeader`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcodeThumbnailInfo {
    /// Width the `begin` marker declares.
    pub width: u32,
    /// Height the `begin` marker declares.
    pub height: u32,
    /// PNG or JPEG (by content).
    pub format: ImageFormat,
    /// Decoded size in bytes.
    pub size: u64,
}

impl GcodeThumbnail {
    /// Its description without the bytes.
    pub fn info(&self) -> GcodeThumbnailInfo {
        GcodeThumbnailInfo {
            width: self.width,
            height: self.height,
            format: self.format,
            size: u64::try_from(self.data.len()).unwrap_or(u64::MAX),
        }
    }
}

/// The largest thumbnail (by declared area; PNG before JPEG, then the first), the one shown
/// as a plate image.
pub fn best_thumbnail(thumbnails: Vec<GcodeThumbnail>) -> Option<GcodeThumbnail> {
    let mut best: Option<GcodeThumbnail> = None;
    for t in thumbnails {
        let better = match &best {
            None => true,
            Some(b) => {
                let (area, best_area) = (
                    u64::from(t.width) * u64::from(t.height),
                    u64::from(b.width) * u64::from(b.height),
                );
                area > best_area
                    || (area == best_area
                        && t.format == ImageFormat::Png
                        && b.format == ImageFormat::Jpeg)
            }
        };
        if better {
            best = Some(t);
        }
    }
    best
}

/// A `begin` marker: `thumbnail[_TAG] begin WxH LEN`. `None` for anything else; `Some(None)` for
/// a marker of a block to skip (QOI, another tag, nonsense sizes).
fn begin(comment: &str) -> Option<Option<(u32, u32, usize)>> {
    let mut words = comment.split_ascii_whitespace();
    let tag = words.next()?;
    let kind = tag.strip_prefix("thumbnail")?;
    if words.next()? != "begin" {
        return None;
    }
    let wanted = matches!(kind, "" | "_PNG" | "_JPG" | "_JPEG");
    let size = words.next().and_then(|s| {
        let (w, h) = s.split_once('x')?;
        let w = w
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SIDE).contains(n))?;
        let h = h
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SIDE).contains(n))?;
        Some((w, h))
    });
    let len = words.next().and_then(|l| l.parse::<usize>().ok());
    Some(match (wanted, size, len) {
        (true, Some((w, h)), Some(len)) => Some((w, h, len)),
        _ => None,
    })
}

/// An `end` marker: `thumbnail[_TAG] end`.
fn end(comment: &str) -> bool {
    let mut words = comment.split_ascii_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(tag), Some("end")) if tag.starts_with("thumbnail")
    )
}

/// One block being read.
struct Block {
    width: u32,
    height: u32,
    declared: usize,
    base64: Vec<u8>,
}

/// The thumbnails in a window of G-code text (pure; the window is cut to
/// [`Limits::gcode_thumbnail_bytes`]). See the module invariant for what is left out.
pub fn parse_thumbnails(window: &[u8], limits: &Limits) -> Vec<GcodeThumbnail> {
    let cut = usize::try_from(limits.gcode_thumbnail_bytes).unwrap_or(usize::MAX);
    let window = window.get(..cut).unwrap_or(window);
    let max_bytes = usize::try_from(limits.max_thumbnail_bytes)
        .unwrap_or(usize::MAX)
        .min(window.len());
    // Base64 of `max_bytes` bytes, padded.
    let max_base64 = max_bytes.div_ceil(3).saturating_mul(4);
    let mut out = Vec::new();
    let mut blocks = 0usize;
    // `Some(None)`: inside a block being skipped.
    let mut current: Option<Option<Block>> = None;
    for raw in window.split(|b| *b == b'\n') {
        let line = raw.trim_ascii();
        let Some(comment) = line.strip_prefix(b";") else {
            // G-code inside a block: the block was cut short.
            if current.is_some() && !line.is_empty() {
                current = None;
            }
            continue;
        };
        let comment = comment.trim_ascii();
        match &mut current {
            None => {
                let Ok(text) = std::str::from_utf8(comment) else {
                    continue;
                };
                let Some(marker) = begin(text) else {
                    continue;
                };
                blocks += 1;
                if blocks > MAX_BLOCKS || out.len() >= MAX_THUMBNAILS {
                    break;
                }
                current = Some(marker.and_then(|(width, height, declared)| {
                    (declared > 0 && declared <= max_base64).then(|| Block {
                        width,
                        height,
                        declared,
                        base64: Vec::new(),
                    })
                }));
            }
            Some(block) => {
                if std::str::from_utf8(comment).is_ok_and(end) {
                    if let Some(done) = block.take()
                        && let Some(t) = finish(done)
                    {
                        out.push(t);
                    }
                    current = None;
                    continue;
                }
                if let Some(b) = block {
                    if b.base64.len() + comment.len() > b.declared {
                        *block = None;
                    } else {
                        b.base64.extend_from_slice(comment);
                    }
                }
            }
        }
    }
    out
}

/// A complete block: decoded and checked, or left out.
fn finish(block: Block) -> Option<GcodeThumbnail> {
    if block.base64.len() != block.declared {
        return None;
    }
    let data = BASE64.decode(&block.base64).ok()?;
    let format = ImageFormat::sniff(&data)?;
    Some(GcodeThumbnail {
        width: block.width,
        height: block.height,
        format,
        data,
    })
}

/// The best thumbnail of a plain `.gcode` file: its first [`Limits::gcode_thumbnail_bytes`]
/// read, never more.
pub fn read_gcode_thumbnail<R: Read + Seek>(
    mut reader: R,
    limits: &Limits,
) -> Result<Option<GcodeThumbnail>, Error> {
    let io = |e: std::io::Error| Error::with_cause(ErrorKind::Io, e);
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut head = Vec::new();
    reader
        .take(limits.gcode_thumbnail_bytes)
        .read_to_end(&mut head)
        .map_err(io)?;
    Ok(best_thumbnail(parse_thumbnails(&head, limits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(tag: &str, w: u32, h: u32, data: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        let mut s = format!("; {tag} begin {w}x{h} {}\n", b64.len());
        for chunk in b64.as_bytes().chunks(78) {
            s.push_str("; ");
            s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            s.push('\n');
        }
        s.push_str(&format!("; {tag} end\n;\n"));
        s
    }

    fn png(extra: usize) -> Vec<u8> {
        let mut v = PNG_SIGNATURE.to_vec();
        v.extend(std::iter::repeat_n(7u8, extra));
        v
    }

    #[test]
    fn prusa_style_png_and_jpeg_blocks_are_read_and_qoi_skipped() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let text = format!(
            "; generated by PrusaSlicer 2.7.0\n;\n{}{}{}G28\n",
            block("thumbnail", 16, 16, &png(10)),
            block("thumbnail_QOI", 400, 400, b"qoifxxxx"),
            block("thumbnail_JPG", 300, 300, &jpeg),
        );
        let all = parse_thumbnails(text.as_bytes(), &Limits::default());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].format, ImageFormat::Png);
        assert_eq!(all[0].data, png(10));
        assert_eq!(all[1].format, ImageFormat::Jpeg);
        let best = best_thumbnail(all).map(|t| (t.width, t.format));
        assert_eq!(best, Some((300, ImageFormat::Jpeg)));
    }

    #[test]
    fn truncated_base64_and_wrong_lengths_are_left_out() {
        let good = block("thumbnail", 8, 8, &png(100));
        // Cut in the middle of the base64, then G-code.
        let cut = &good[..good.len() / 2];
        let text = format!("{cut}\nG1 X1\n");
        assert!(parse_thumbnails(text.as_bytes(), &Limits::default()).is_empty());
        // Cut at the end of the window, no end marker.
        assert!(parse_thumbnails(cut.as_bytes(), &Limits::default()).is_empty());
        // Declared length one more than the data.
        let b64 = base64::engine::general_purpose::STANDARD.encode(png(3));
        let wrong = format!(
            "; thumbnail begin 8x8 {}\n; {b64}\n; thumbnail end\n",
            b64.len() + 1
        );
        assert!(parse_thumbnails(wrong.as_bytes(), &Limits::default()).is_empty());
        // Not base64.
        let bad = "; thumbnail begin 8x8 4\n; !!!!\n; thumbnail end\n";
        assert!(parse_thumbnails(bad.as_bytes(), &Limits::default()).is_empty());
        // Base64 of something that is no image.
        let text = block("thumbnail", 8, 8, b"GIF89a not served");
        assert!(parse_thumbnails(text.as_bytes(), &Limits::default()).is_empty());
    }

    #[test]
    fn a_huge_declared_length_is_skipped_without_buffering() {
        let text = format!(
            "; thumbnail begin 8x8 {}\n; AAAA\n; thumbnail end\n{}",
            usize::MAX,
            block("thumbnail", 4, 4, &png(1))
        );
        let all = parse_thumbnails(text.as_bytes(), &Limits::default());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].width, 4);
        // Past the thumbnail size limit: left out.
        let tight = Limits {
            max_thumbnail_bytes: 16,
            ..Limits::default()
        };
        assert!(parse_thumbnails(block("thumbnail", 8, 8, &png(64)).as_bytes(), &tight).is_empty());
        // Nonsense sizes.
        for marker in ["0x8", "8x0", "99999x8", "8", "axb"] {
            let b64 = base64::engine::general_purpose::STANDARD.encode(png(1));
            let text = format!(
                "; thumbnail begin {marker} {}\n; {b64}\n; thumbnail end\n",
                b64.len()
            );
            assert!(parse_thumbnails(text.as_bytes(), &Limits::default()).is_empty());
        }
    }

    #[test]
    fn thousands_of_blocks_are_capped() {
        let one = block("thumbnail", 2, 2, &png(1));
        let text = one.repeat(5_000);
        let all = parse_thumbnails(text.as_bytes(), &Limits::default());
        assert_eq!(all.len(), MAX_THUMBNAILS);
        // Thousands of skipped (QOI) blocks stop the scan at MAX_BLOCKS markers.
        let text = format!(
            "{}{one}",
            block("thumbnail_QOI", 2, 2, b"qoif").repeat(5_000)
        );
        assert!(parse_thumbnails(text.as_bytes(), &Limits::default()).is_empty());
    }

    #[test]
    fn only_the_window_is_scanned() {
        let text = format!(
            "{}{}",
            ";\n".repeat(1000),
            block("thumbnail", 2, 2, &png(1))
        );
        let tight = Limits {
            gcode_thumbnail_bytes: 1000,
            ..Limits::default()
        };
        assert!(parse_thumbnails(text.as_bytes(), &tight).is_empty());
        let found = read_gcode_thumbnail(std::io::Cursor::new(text.as_bytes()), &Limits::default());
        assert!(matches!(found, Ok(Some(t)) if t.width == 2));
        let none = read_gcode_thumbnail(std::io::Cursor::new(text.as_bytes()), &tight);
        assert!(matches!(none, Ok(None)));
    }

    #[test]
    fn bambu_header_shape() {
        // Bambu Studio: the blocks sit between THUMBNAIL_BLOCK_START/END after the header.
        let text = format!(
            "; HEADER_BLOCK_START\n; BambuStudio 02.00.03.54\n; HEADER_BLOCK_END\n\n; THUMBNAIL_BLOCK_START\n{}; THUMBNAIL_BLOCK_END\n",
            block("thumbnail", 512, 512, &png(40))
        );
        let best = best_thumbnail(parse_thumbnails(text.as_bytes(), &Limits::default()));
        assert_eq!(best.map(|t| t.width), Some(512));
    }
}
