//! STL models, ASCII and binary: triangle count, bounding box and solid name, read in one
//! streaming pass (constant memory) from a `Read + Seek`. Binary STL is an 80-byte header, a
//! little-endian `u32` triangle count and 50 bytes per triangle (normal, three vertices as `f32`,
//! a `u16` attribute); ASCII STL is `solid … facet normal … outer loop / vertex x y z ×3 / endloop
//! / endfacet … endsolid`. A file that ends early is [`ErrorKind::StlTruncated`]; coordinates that
//! are not finite numbers, or shapes that are neither form, are [`ErrorKind::StlMalformed`].

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use crate::error::{Error, ErrorKind};

/// Which of the two STL encodings a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StlFormat {
    Ascii,
    Binary,
}

/// An axis-aligned box in the model's units (millimetres for printers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min: [f32; 3],
    pub max: [f32; 3],
}

impl BoundingBox {
    /// Width, depth and height.
    pub fn size(&self) -> [f32; 3] {
        [
            self.max[0] - self.min[0],
            self.max[1] - self.min[1],
            self.max[2] - self.min[2],
        ]
    }

    fn add(bbox: &mut Option<BoundingBox>, p: [f32; 3]) {
        match bbox {
            None => *bbox = Some(BoundingBox { min: p, max: p }),
            Some(b) => {
                for (i, c) in p.iter().enumerate() {
                    b.min[i] = b.min[i].min(*c);
                    b.max[i] = b.max[i].max(*c);
                }
            }
        }
    }
}

/// What an STL file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StlInfo {
    pub format: StlFormat,
    /// The ASCII `solid <name>` (binary files have none worth trusting).
    pub name: Option<String>,
    pub triangles: u64,
    /// `None` only for a file with no triangles.
    pub bounding_box: Option<BoundingBox>,
}

const HEADER: u64 = 84;
const TRIANGLE: u64 = 50;
const MAX_LINE: u64 = 1024;

/// The binary triangle count, when the file is long enough to hold one.
fn binary_count(head: &[u8]) -> Option<u64> {
    let b = head.get(80..84)?;
    Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// True when the head starts like an ASCII STL (`solid` then `facet` or `endsolid` soon after).
pub(crate) fn looks_ascii(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start();
    t.starts_with("solid") && (t.contains("facet") || t.contains("endsolid"))
}

/// True when `len` is exactly what the binary header's triangle count says.
pub(crate) fn exact_binary(head: &[u8], len: u64) -> bool {
    binary_count(head).is_some_and(|n| HEADER + n * TRIANGLE == len)
}

/// Read an STL (either encoding). The encoding is decided by content: a binary file whose size
/// matches its triangle count is binary even if its header starts with `solid`.
pub fn read_stl<R: Read + Seek>(mut reader: R) -> Result<StlInfo, Error> {
    let io = |e: std::io::Error| Error::with_cause(ErrorKind::Io, e);
    let len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut head = Vec::new();
    (&mut reader)
        .take(1024)
        .read_to_end(&mut head)
        .map_err(io)?;
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    if head.is_empty() {
        return Err(ErrorKind::Empty.into());
    }
    if !exact_binary(&head, len) && looks_ascii(&head) {
        return read_ascii(BufReader::new(reader));
    }
    let Some(count) = binary_count(&head) else {
        return Err(Error::with_cause(
            ErrorKind::StlTruncated,
            format!("{len} bytes, no header"),
        ));
    };
    if HEADER + count * TRIANGLE > len {
        return Err(Error::with_cause(
            ErrorKind::StlTruncated,
            format!("{count} triangles declared, {len} bytes"),
        ));
    }
    if count == 0 {
        return Err(ErrorKind::StlMalformed {
            what: "it holds no triangles",
        }
        .into());
    }
    reader.seek(SeekFrom::Start(HEADER)).map_err(io)?;
    let mut r = BufReader::with_capacity(64 << 10, reader);
    let mut bbox = None;
    let mut tri = [0u8; TRIANGLE as usize];
    for _ in 0..count {
        r.read_exact(&mut tri)
            .map_err(|e| Error::with_cause(ErrorKind::StlTruncated, e))?;
        for v in 0..3 {
            let mut p = [0f32; 3];
            for (axis, slot) in p.iter_mut().enumerate() {
                let at = 12 + v * 12 + axis * 4;
                *slot = f32::from_le_bytes([tri[at], tri[at + 1], tri[at + 2], tri[at + 3]]);
            }
            if !p.iter().all(|c| c.is_finite()) {
                return Err(ErrorKind::StlMalformed {
                    what: "a coordinate is not a number",
                }
                .into());
            }
            BoundingBox::add(&mut bbox, p);
        }
    }
    Ok(StlInfo {
        format: StlFormat::Binary,
        name: None,
        triangles: count,
        bounding_box: bbox,
    })
}

fn read_ascii<R: BufRead>(mut r: R) -> Result<StlInfo, Error> {
    let malformed = |what: &'static str| Error::new(ErrorKind::StlMalformed { what });
    let mut name = None;
    let mut bbox = None;
    let mut triangles: u64 = 0;
    let mut in_solid = false;
    let mut in_facet = false;
    let mut in_loop = false;
    let mut vertices = 0u32;
    let mut saw_solid = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let got = (&mut r)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::with_cause(ErrorKind::Io, e))?;
        if got == 0 {
            break;
        }
        if got as u64 > MAX_LINE {
            return Err(malformed("a line is far too long for ASCII STL"));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| malformed("it is neither ASCII nor binary STL"))?;
        let mut words = text.split_ascii_whitespace();
        let Some(word) = words.next() else { continue };
        match (word, in_solid, in_facet, in_loop) {
            ("solid", false, _, _) => {
                in_solid = true;
                if !saw_solid {
                    let rest: String = words
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(128)
                        .collect();
                    name = (!rest.is_empty()).then_some(rest);
                }
                saw_solid = true;
            }
            ("facet", true, false, _) => in_facet = true,
            ("outer", true, true, false) => {
                in_loop = true;
                vertices = 0;
            }
            ("vertex", true, true, true) => {
                let mut p = [0f32; 3];
                for slot in &mut p {
                    let v = words
                        .next()
                        .and_then(|w| w.parse::<f32>().ok())
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| malformed("a coordinate is not a number"))?;
                    *slot = v;
                }
                vertices += 1;
                if vertices > 3 {
                    return Err(malformed("a facet has more than three vertices"));
                }
                BoundingBox::add(&mut bbox, p);
            }
            ("endloop", true, true, true) => in_loop = false,
            ("endfacet", true, true, false) => {
                if vertices != 3 {
                    return Err(malformed("a facet does not have three vertices"));
                }
                in_facet = false;
                triangles += 1;
            }
            ("endsolid", true, false, false) => in_solid = false,
            _ => return Err(malformed("it is neither ASCII nor binary STL")),
        }
    }
    if in_solid || !saw_solid {
        return Err(Error::with_cause(
            ErrorKind::StlTruncated,
            "ASCII STL ends inside a solid",
        ));
    }
    if triangles == 0 {
        return Err(malformed("it holds no triangles"));
    }
    Ok(StlInfo {
        format: StlFormat::Ascii,
        name,
        triangles,
        bounding_box: bbox,
    })
}
