//! The ISO BMFF boxes of a fragmented MP4 with one H.264 track (ISO/IEC 14496-12 and -15):
//! the init segment (`ftyp`, `moov`) and media segments (`moof`, `mdat`), written in the order
//! and with the fields Media Source Extensions' byte-stream format requires (empty sample
//! tables in `moov`, `mvex`/`trex`, `tfdt` in every fragment, `trun` data offsets relative to
//! the `moof`).
//!
//! Invariant: every box's size field is the number of bytes written for it; callers cap what
//! goes in (parameter sets, samples, fragments) so no size exceeds 32 bits.

use super::sps::SpsInfo;

/// The track's timescale: RTP's H.264 clock (RFC 6184), so RTP timestamps are decode times.
pub const TIMESCALE: u32 = 90_000;
/// The only track.
const TRACK_ID: u32 = 1;
/// `sample_flags` of an IDR picture: depends on no other sample.
pub const SYNC: u32 = 0x0200_0000;
/// `sample_flags` of any other picture: depends on others, not a sync sample.
pub const NON_SYNC: u32 = 0x0101_0000;
/// The unit matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// One picture of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// NAL units, each behind a 4-byte big-endian length (AVCC).
    pub data: Vec<u8>,
    /// In [`TIMESCALE`] ticks.
    pub duration: u32,
    /// An IDR picture.
    pub sync: bool,
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u32be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes a box: size, type, then what `body` writes; the size is patched in afterwards.
fn bx(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    body(out);
    // Callers cap every input far below 4 GiB (see the module invariant).
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: a box whose body starts with a version byte and 24 bits of flags.
fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    bx(out, kind, |out| {
        u32be(out, (u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        body(out);
    });
}

/// The `avcC` record (ISO/IEC 14496-15 §5.3.3.1): one SPS, one PPS, 4-byte lengths.
fn avcc(out: &mut Vec<u8>, sps: &[u8], pps: &[u8], info: &SpsInfo) {
    bx(out, b"avcC", |out| {
        out.push(1); // configurationVersion
        out.push(info.profile_idc);
        out.push(info.constraint_flags);
        out.push(info.level_idc);
        out.push(0xFF); // reserved bits, lengthSizeMinusOne = 3
        out.push(0xE1); // reserved bits, one SPS
        u16be(out, u16::try_from(sps.len()).unwrap_or(0));
        out.extend_from_slice(sps);
        out.push(1); // one PPS
        u16be(out, u16::try_from(pps.len()).unwrap_or(0));
        out.extend_from_slice(pps);
        if info.high_profile() {
            out.push(0xFC | info.chroma_format_idc);
            out.push(0xF8 | info.bit_depth_luma_minus8);
            out.push(0xF8 | info.bit_depth_chroma_minus8);
            out.push(0); // numOfSequenceParameterSetExt
        }
    });
}

/// The init segment: `ftyp` and a `moov` describing one H.264 track with no samples.
#[must_use]
pub fn init_segment(sps: &[u8], pps: &[u8], info: &SpsInfo) -> Vec<u8> {
    // The sizes are at most 8192, so they fit the 16-bit fields.
    let width = u16::try_from(info.width).unwrap_or(0);
    let height = u16::try_from(info.height).unwrap_or(0);
    let mut out = Vec::with_capacity(700 + sps.len() + pps.len());
    bx(&mut out, b"ftyp", |out| {
        out.extend_from_slice(b"isom");
        u32be(out, 0x200);
        for brand in [b"isom", b"iso6", b"avc1", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
    bx(&mut out, b"moov", |out| {
        full(out, b"mvhd", 0, 0, |out| {
            u32be(out, 0); // creation_time
            u32be(out, 0); // modification_time
            u32be(out, TIMESCALE);
            u32be(out, 0); // duration: unknown (live)
            u32be(out, 0x0001_0000); // rate 1.0
            u16be(out, 0x0100); // volume 1.0
            out.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| u32be(out, m));
            out.extend_from_slice(&[0; 24]); // pre_defined
            u32be(out, TRACK_ID + 1); // next_track_ID
        });
        bx(out, b"trak", |out| {
            // flags: track_enabled | track_in_movie
            full(out, b"tkhd", 0, 3, |out| {
                u32be(out, 0);
                u32be(out, 0);
                u32be(out, TRACK_ID);
                u32be(out, 0); // reserved
                u32be(out, 0); // duration
                out.extend_from_slice(&[0; 8]);
                u16be(out, 0); // layer
                u16be(out, 0); // alternate_group
                u16be(out, 0); // volume: video
                u16be(out, 0);
                MATRIX.iter().for_each(|&m| u32be(out, m));
                u32be(out, u32::from(width) << 16);
                u32be(out, u32::from(height) << 16);
            });
            bx(out, b"mdia", |out| {
                full(out, b"mdhd", 0, 0, |out| {
                    u32be(out, 0);
                    u32be(out, 0);
                    u32be(out, TIMESCALE);
                    u32be(out, 0);
                    u16be(out, 0x55C4); // language "und"
                    u16be(out, 0);
                });
                full(out, b"hdlr", 0, 0, |out| {
                    u32be(out, 0);
                    out.extend_from_slice(b"vide");
                    out.extend_from_slice(&[0; 12]);
                    out.extend_from_slice(b"VideoHandler\0");
                });
                bx(out, b"minf", |out| {
                    full(out, b"vmhd", 0, 1, |out| out.extend_from_slice(&[0; 8]));
                    bx(out, b"dinf", |out| {
                        full(out, b"dref", 0, 0, |out| {
                            u32be(out, 1);
                            // flags 1: the media is in this file
                            full(out, b"url ", 0, 1, |_| {});
                        });
                    });
                    bx(out, b"stbl", |out| {
                        full(out, b"stsd", 0, 0, |out| {
                            u32be(out, 1);
                            bx(out, b"avc1", |out| {
                                out.extend_from_slice(&[0; 6]);
                                u16be(out, 1); // data_reference_index
                                out.extend_from_slice(&[0; 16]); // pre_defined, reserved
                                u16be(out, width);
                                u16be(out, height);
                                u32be(out, 0x0048_0000); // 72 dpi
                                u32be(out, 0x0048_0000);
                                u32be(out, 0);
                                u16be(out, 1); // frame_count
                                out.extend_from_slice(&[0; 32]); // compressorname
                                u16be(out, 0x0018); // depth
                                u16be(out, 0xFFFF); // pre_defined = -1
                                avcc(out, sps, pps, info);
                            });
                        });
                        full(out, b"stts", 0, 0, |out| u32be(out, 0));
                        full(out, b"stsc", 0, 0, |out| u32be(out, 0));
                        full(out, b"stsz", 0, 0, |out| {
                            u32be(out, 0);
                            u32be(out, 0);
                        });
                        full(out, b"stco", 0, 0, |out| u32be(out, 0));
                    });
                });
            });
        });
        bx(out, b"mvex", |out| {
            full(out, b"trex", 0, 0, |out| {
                u32be(out, TRACK_ID);
                u32be(out, 1); // default_sample_description_index
                u32be(out, 0);
                u32be(out, 0);
                u32be(out, 0);
            });
        });
    });
    out
}

/// One media segment: `moof` (`mfhd`, `traf` with `tfhd`, `tfdt`, `trun`) and its `mdat`.
#[must_use]
pub fn media_segment(sequence: u32, decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    let data: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut out = Vec::with_capacity(100 + 12 * samples.len() + data);
    let mut offset_at = 0;
    bx(&mut out, b"moof", |out| {
        full(out, b"mfhd", 0, 0, |out| u32be(out, sequence));
        bx(out, b"traf", |out| {
            // flags 0x020000: default-base-is-moof (offsets count from this moof's start).
            full(out, b"tfhd", 0, 0x02_0000, |out| u32be(out, TRACK_ID));
            full(out, b"tfdt", 1, 0, |out| {
                out.extend_from_slice(&decode_time.to_be_bytes());
            });
            // flags: data-offset, sample-duration, sample-size, sample-flags present.
            full(out, b"trun", 0, 0x00_0701, |out| {
                u32be(out, u32::try_from(samples.len()).unwrap_or(0));
                offset_at = out.len();
                u32be(out, 0); // data_offset, patched below
                for s in samples {
                    u32be(out, s.duration);
                    u32be(out, u32::try_from(s.data.len()).unwrap_or(0));
                    u32be(out, if s.sync { SYNC } else { NON_SYNC });
                }
            });
        });
    });
    // The first sample starts after the moof and the mdat's 8-byte header.
    let offset = u32::try_from(out.len() + 8).unwrap_or(0);
    out[offset_at..offset_at + 4].copy_from_slice(&offset.to_be_bytes());
    bx(&mut out, b"mdat", |out| {
        for s in samples {
            out.extend_from_slice(&s.data);
        }
    });
    out
}
