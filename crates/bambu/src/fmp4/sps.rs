//! The few fields of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) that a
//! container needs: profile, constraint flags and level (the MSE codec string and `avcC`),
//! chroma format and bit depths (`avcC` of the High profiles), and the cropped picture size.
//!
//! Invariant: the SPS comes from a printer, so it is untrusted: reading never panics (a
//! property test feeds arbitrary bytes), never reads past the end, allocates at most the NAL
//! unit's own size, and refuses sizes outside 16..=[`MAX_DIMENSION`] pixels.

use super::Fmp4Error;

/// Largest width or height taken, in pixels (level 6.2 tops out at 8192).
pub const MAX_DIMENSION: u32 = 8192;

/// What the muxer needs to know about a stream's SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// The byte of `constraint_set0..5_flag` and the reserved bits, as sent.
    pub constraint_flags: u8,
    /// `level_idc` (30 = level 3.0).
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0 unless the profile says otherwise).
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// Displayed width in pixels, after cropping.
    pub width: u32,
    /// Displayed height in pixels, after cropping.
    pub height: u32,
}

impl SpsInfo {
    /// The RFC 6381 codec string MSE's `isTypeSupported`/`addSourceBuffer` take,
    /// e.g. `avc1.42C01E`.
    #[must_use]
    pub fn codec(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }

    /// Whether `avcC` carries the chroma and bit-depth fields (ISO/IEC 14496-15 §5.3.3.1.2).
    #[must_use]
    pub fn high_profile(&self) -> bool {
        matches!(self.profile_idc, 100 | 110 | 122 | 144)
    }
}

/// The RBSP of a NAL unit: the header byte dropped, emulation-prevention bytes
/// (`00 00 03` → `00 00`) removed.
#[must_use]
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let body = nal.get(1..).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len());
    let mut zeros = 0usize;
    for &b in body {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits most significant first; every read past the end is an error.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Result<u32, Fmp4Error> {
        let byte = self.data.get(self.pos / 8).ok_or(Fmp4Error::BadSps)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Result<u32, Fmp4Error> {
        let mut v = 0u32;
        for _ in 0..n.min(32) {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, Fmp4Error> {
        Ok(self.bit()? == 1)
    }

    /// Unsigned exp-Golomb (`ue(v)`); more than 31 leading zeros cannot be a 32-bit value.
    fn ue(&mut self) -> Result<u32, Fmp4Error> {
        let mut zeros = 0u32;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(Fmp4Error::BadSps);
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        u32::try_from((1u64 << zeros) - 1 + rest).map_err(|_| Fmp4Error::BadSps)
    }

    /// `ue(v)` that must not exceed `max`.
    fn ue_max(&mut self, max: u32) -> Result<u32, Fmp4Error> {
        let v = self.ue()?;
        if v > max {
            return Err(Fmp4Error::BadSps);
        }
        Ok(v)
    }

    /// Signed exp-Golomb (`se(v)`).
    fn se(&mut self) -> Result<i64, Fmp4Error> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Skips one `scaling_list()` (§7.3.2.1.1.1): only its length matters here.
fn skip_scaling_list(bits: &mut Bits<'_>, size: usize) -> Result<(), Fmp4Error> {
    let mut last: i64 = 8;
    let mut next: i64 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = bits.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(Fmp4Error::BadSps);
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Reads a sequence parameter set NAL unit (header byte included, type 7).
///
/// # Errors
/// [`Fmp4Error::BadSps`] when it is not an SPS, is cut short, has values out of the
/// standard's ranges, or a picture size outside 16..=[`MAX_DIMENSION`].
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, Fmp4Error> {
    if nal.first().is_none_or(|h| h & 0x1F != 7) || nal.len() > super::MAX_PARAMETER_SET {
        return Err(Fmp4Error::BadSps);
    }
    let data = rbsp(nal);
    let mut b = Bits::new(&data);
    let profile_idc = u8::try_from(b.bits(8)?).map_err(|_| Fmp4Error::BadSps)?;
    let constraint_flags = u8::try_from(b.bits(8)?).map_err(|_| Fmp4Error::BadSps)?;
    let level_idc = u8::try_from(b.bits(8)?).map_err(|_| Fmp4Error::BadSps)?;
    b.ue_max(31)?; // seq_parameter_set_id
    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let mut depth_luma = 0u32;
    let mut depth_chroma = 0u32;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = b.ue_max(3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = b.flag()?;
        }
        depth_luma = b.ue_max(6)?;
        depth_chroma = b.ue_max(6)?;
        b.flag()?; // qpprime_y_zero_transform_bypass_flag
        if b.flag()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.flag()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue_max(12)?; // log2_max_frame_num_minus4
    match b.ue_max(2)? {
        0 => {
            b.ue_max(12)?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.flag()?; // delta_pic_order_always_zero_flag
            b.se()?; // offset_for_non_ref_pic
            b.se()?; // offset_for_top_to_bottom_field
            let cycle = b.ue_max(255)?;
            for _ in 0..cycle {
                b.se()?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.flag()?; // gaps_in_frame_num_value_allowed_flag
    // Bounded before any multiplication: 8192 / 16 = 512 macroblocks.
    let width_mbs = u64::from(b.ue_max(1023)?) + 1;
    let height_units = u64::from(b.ue_max(1023)?) + 1;
    let frame_mbs_only = b.flag()?;
    if !frame_mbs_only {
        b.flag()?; // mb_adaptive_frame_field_flag
    }
    b.flag()?; // direct_8x8_inference_flag
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let full_width = width_mbs * 16;
    let full_height = height_units * 16 * field_factor;
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if b.flag()? {
        // frame_cropping_flag: offsets in chroma units (Table 6-1, equations 7-19..7-22).
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (unit_x, unit_y) = match chroma_array_type {
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let left = u64::from(b.ue_max(8192)?);
        let right = u64::from(b.ue_max(8192)?);
        let top = u64::from(b.ue_max(8192)?);
        let bottom = u64::from(b.ue_max(8192)?);
        crop_x = unit_x * (left + right);
        crop_y = unit_y * (top + bottom);
    }
    let width = full_width.checked_sub(crop_x).ok_or(Fmp4Error::BadSps)?;
    let height = full_height.checked_sub(crop_y).ok_or(Fmp4Error::BadSps)?;
    let dimension = |v: u64| {
        u32::try_from(v)
            .ok()
            .filter(|v| (16..=MAX_DIMENSION).contains(v))
            .ok_or(Fmp4Error::BadSps)
    };
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc: u8::try_from(chroma_format_idc).map_err(|_| Fmp4Error::BadSps)?,
        bit_depth_luma_minus8: u8::try_from(depth_luma).map_err(|_| Fmp4Error::BadSps)?,
        bit_depth_chroma_minus8: u8::try_from(depth_chroma).map_err(|_| Fmp4Error::BadSps)?,
        width: dimension(width)?,
        height: dimension(height)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Writes bits MSB first, exp-Golomb codes, and the NAL framing (emulation prevention).
    #[derive(Default)]
    struct Writer {
        bytes: Vec<u8>,
        bit: u32,
    }

    impl Writer {
        fn bits(&mut self, value: u32, n: u32) {
            for i in (0..n).rev() {
                if self.bit.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if (value >> i) & 1 == 1
                    && let Some(last) = self.bytes.last_mut()
                {
                    *last |= 0x80 >> (self.bit % 8);
                }
                self.bit += 1;
            }
        }
        fn ue(&mut self, v: u32) {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            self.bits(0, len - 1);
            for i in (0..len).rev() {
                self.bits(u32::from((x >> i) & 1 == 1), 1);
            }
        }
        fn se(&mut self, v: i32) {
            self.ue(if v > 0 {
                (2 * v - 1).unsigned_abs()
            } else {
                (2 * v).unsigned_abs()
            });
        }
        /// Stop bit, then the NAL unit with emulation-prevention bytes inserted.
        fn nal(mut self) -> Vec<u8> {
            self.bits(1, 1);
            let mut out = vec![0x67];
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                out.push(b);
            }
            out
        }
    }

    /// An SPS of the given size; High profile with a scaling matrix and POC type 1 when
    /// `high`, interlaced when `!frame_mbs_only`.
    fn sps(width: u32, height: u32, high: bool, frame_mbs_only: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.bits(if high { 100 } else { 66 }, 8);
        w.bits(0xC0, 8);
        w.bits(40, 8);
        w.ue(0);
        if high {
            w.ue(1); // 4:2:0
            w.ue(0);
            w.ue(0);
            w.bits(0, 1);
            w.bits(1, 1); // scaling matrix present
            for i in 0..8 {
                w.bits(u32::from(i == 0 || i == 6), 1);
                if i == 0 {
                    for _ in 0..16 {
                        w.se(3);
                    }
                }
                if i == 6 {
                    w.se(-8); // next becomes 0: the rest of the list is implied
                }
            }
        }
        w.ue(0);
        if high {
            w.ue(1);
            w.bits(0, 1);
            w.se(-2);
            w.se(5);
            w.ue(2);
            w.se(1);
            w.se(-1);
        } else {
            w.ue(0);
            w.ue(2);
        }
        w.ue(1);
        w.bits(0, 1);
        let field = if frame_mbs_only { 1 } else { 2 };
        let mbs_w = width.div_ceil(16);
        let units_h = height.div_ceil(16 * field);
        w.ue(mbs_w - 1);
        w.ue(units_h - 1);
        w.bits(u32::from(frame_mbs_only), 1);
        if !frame_mbs_only {
            w.bits(0, 1);
        }
        w.bits(1, 1);
        let crop_w = mbs_w * 16 - width;
        let crop_h = units_h * 16 * field - height;
        let cropped = crop_w != 0 || crop_h != 0;
        w.bits(u32::from(cropped), 1);
        if cropped {
            // 4:2:0: offsets in units of 2 (horizontally) and 2 × field (vertically).
            w.ue(0);
            w.ue(crop_w / 2);
            w.ue(0);
            w.ue(crop_h / (2 * field));
        }
        w.bits(0, 1); // no VUI
        w.nal()
    }

    #[test]
    fn reads_the_simulator_sps() {
        // The simulator's SPS (crates/simulator/src/h264.rs): 42C01E, 20×15 macroblocks.
        let info = parse_sps(&sps(320, 240, false, true)).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.codec(), "avc1.42C028");
        assert!(!info.high_profile());
    }

    #[test]
    fn reads_1080p_high_with_cropping_and_a_scaling_matrix() {
        let nal = sps(1920, 1080, true, true);
        let info = parse_sps(&nal).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.codec(), "avc1.64C028");
        assert!(info.high_profile());
        assert_eq!(info.chroma_format_idc, 1);
    }

    #[test]
    fn reads_interlaced_sizes() {
        let info = parse_sps(&sps(720, 576, false, false)).unwrap();
        assert_eq!((info.width, info.height), (720, 576));
    }

    #[test]
    fn a_real_encoder_sps_with_emulation_prevention() {
        // What Debian ffmpeg's libx264 writes for 1920x1080 High 4.0 (with VUI).
        let nal = [
            0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00,
            0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
        ];
        let info = parse_sps(&nal).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.codec(), "avc1.640028");
        // ... and for 1280x720 Main 3.1.
        let nal = [
            0x67, 0x4D, 0x40, 0x1F, 0xEC, 0xA0, 0x28, 0x02, 0xDD, 0x80, 0x88, 0x00, 0x00, 0x03,
            0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0x78, 0xC1, 0x8C, 0xB0,
        ];
        let info = parse_sps(&nal).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.codec(), "avc1.4D401F");
    }

    #[test]
    fn refuses_what_is_not_an_sps_or_is_absurd() {
        assert_eq!(parse_sps(&[]), Err(Fmp4Error::BadSps));
        assert_eq!(parse_sps(&[0x68, 0xCE]), Err(Fmp4Error::BadSps));
        assert_eq!(parse_sps(&[0x67, 0x42, 0xC0]), Err(Fmp4Error::BadSps));
        // 1024 macroblocks wide is 16384 pixels.
        let mut w = Writer::default();
        w.bits(66, 8);
        w.bits(0, 8);
        w.bits(30, 8);
        w.ue(0);
        w.ue(0);
        w.ue(2);
        w.ue(1);
        w.bits(0, 1);
        w.ue(1023);
        w.ue(10);
        w.bits(0b110, 3);
        w.bits(0, 1);
        assert_eq!(parse_sps(&w.nal()), Err(Fmp4Error::BadSps));
        // A cropping larger than the picture.
        let mut w = Writer::default();
        w.bits(66, 8);
        w.bits(0, 8);
        w.bits(30, 8);
        w.ue(0);
        w.ue(0);
        w.ue(2);
        w.ue(1);
        w.bits(0, 1);
        w.ue(1);
        w.ue(1);
        w.bits(0b111, 3);
        w.ue(20);
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.bits(0, 1);
        assert_eq!(parse_sps(&w.nal()), Err(Fmp4Error::BadSps));
        // 33 leading zeros.
        assert_eq!(
            parse_sps(&[0x67, 0x42, 0, 30, 0, 0, 0, 0, 0, 0x80]),
            Err(Fmp4Error::BadSps)
        );
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
        assert_eq!(rbsp(&[0x67, 0, 3, 0]), vec![0, 3, 0]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_sps(&bytes);
            if let Some(first) = bytes.first_mut() {
                *first = 0x67;
            }
            if let Ok(info) = parse_sps(&bytes) {
                prop_assert!((16..=MAX_DIMENSION).contains(&info.width));
                prop_assert!((16..=MAX_DIMENSION).contains(&info.height));
            }
        }

        #[test]
        fn sizes_round_trip(
            w in 8u32..=512, h in 8u32..=512, high: bool, progressive: bool,
        ) {
            // Even sizes (4:2:0 crops in pairs of pixels), interlaced heights in fours.
            let width = w * 2;
            let height = if progressive { h * 2 } else { h * 4 };
            prop_assume!(width <= MAX_DIMENSION && height <= MAX_DIMENSION);
            let info = parse_sps(&sps(width, height, high, progressive)).unwrap();
            prop_assert_eq!((info.width, info.height), (width, height));
        }
    }
}
