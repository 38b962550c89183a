//! A tiny H.264 encoder for the simulated RTSPS camera: Constrained Baseline profile, CAVLC,
//! every coded macroblock I_PCM (raw samples, so no transform, prediction or entropy coding of
//! residuals is needed and the decoded picture equals the input exactly), IDR pictures carrying
//! every macroblock and P pictures carrying only the macroblocks that changed since the previous
//! picture (the rest `P_Skip`, which with all-intra neighbours predicts a zero motion vector).
//!
//! Invariant: the output is a conforming stream any decoder accepts (checked in the tests by
//! parsing our own parameter sets and, in `tests/rtsp_ffmpeg.rs`, by ffmpeg): NAL units carry
//! emulation-prevention bytes, an IDR comes first and after every [`Encoder::reset`], and
//! `frame_num` counts reference pictures modulo 16 as the SPS says.

/// Picture width in luma samples (a multiple of 16).
pub const WIDTH: usize = 320;
/// Picture height in luma samples (a multiple of 16).
pub const HEIGHT: usize = 240;
/// `profile_idc` 66 (Baseline), constraint_set0+1 (Constrained Baseline), level 3.0: the
/// `profile-level-id` the SDP announces.
pub const PROFILE_LEVEL_ID: [u8; 3] = [66, 0xC0, 30];

const MBS_W: usize = WIDTH / 16;
const MBS_H: usize = HEIGHT / 16;
/// `log2_max_frame_num_minus4` = 0: `frame_num` is 4 bits.
const FRAME_NUM_BITS: u32 = 4;
/// `mb_type` of I_PCM in an I slice; in a P slice the intra types start at 5.
const I_PCM: u32 = 25;
const P_INTRA_OFFSET: u32 = 5;

/// MSB-first bit writer with the H.264 exp-Golomb codes.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    current: u8,
    used: u32,
}

impl BitWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits of `value` (n ≤ 32), most significant first.
    pub fn bits(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    /// Writes one bit.
    pub fn bit(&mut self, on: bool) {
        self.current = (self.current << 1) | u8::from(on);
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.used = 0;
        }
    }

    /// `ue(v)`: unsigned exp-Golomb.
    pub fn ue(&mut self, value: u32) {
        let coded = u64::from(value) + 1;
        let len = 64 - coded.leading_zeros();
        for _ in 1..len {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((coded >> i) & 1 == 1);
        }
    }

    /// `se(v)`: signed exp-Golomb (k > 0 → 2k−1, k ≤ 0 → −2k).
    pub fn se(&mut self, value: i32) {
        let mapped = if value > 0 {
            value.unsigned_abs() * 2 - 1
        } else {
            value.unsigned_abs() * 2
        };
        self.ue(mapped);
    }

    /// Zero bits up to the next byte boundary (`pcm_alignment_zero_bit`).
    pub fn align_zero(&mut self) {
        while self.used != 0 {
            self.bit(false);
        }
    }

    /// Whether the next bit starts a byte.
    #[must_use]
    pub fn aligned(&self) -> bool {
        self.used == 0
    }

    /// A whole byte; fast path when aligned (PCM samples).
    pub fn byte(&mut self, b: u8) {
        if self.used == 0 {
            self.bytes.push(b);
        } else {
            self.bits(u32::from(b), 8);
        }
    }

    /// `rbsp_trailing_bits`: a stop bit then zeros to the boundary; returns the RBSP.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.bytes
    }
}

/// A NAL unit (no start code): the header byte then the RBSP with an emulation-prevention byte
/// (`0x03`) inserted wherever two zero bytes would be followed by a byte ≤ 3, so the payload
/// never contains a start code.
#[must_use]
pub fn nal(ref_idc: u8, kind: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    out.push(((ref_idc & 3) << 5) | (kind & 0x1F));
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// A picture in 4:2:0 (Y full size, Cb and Cr half in each direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Luma, `WIDTH × HEIGHT`.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `WIDTH/2 × HEIGHT/2`.
    pub cb: Vec<u8>,
    /// Red-difference chroma, `WIDTH/2 × HEIGHT/2`.
    pub cr: Vec<u8>,
}

impl Picture {
    /// A flat picture.
    #[must_use]
    pub fn filled(y: u8, cb: u8, cr: u8) -> Self {
        Self {
            y: vec![y; WIDTH * HEIGHT],
            cb: vec![cb; WIDTH * HEIGHT / 4],
            cr: vec![cr; WIDTH * HEIGHT / 4],
        }
    }

    /// The 384 samples of macroblock (mx, my) in I_PCM order: 16×16 luma, 8×8 Cb, 8×8 Cr.
    fn macroblock(&self, mx: usize, my: usize) -> impl Iterator<Item = u8> + '_ {
        let luma = (0..16).flat_map(move |r| {
            let start = (my * 16 + r) * WIDTH + mx * 16;
            self.y[start..start + 16].iter().copied()
        });
        let half = WIDTH / 2;
        let cb = (0..8).flat_map(move |r| {
            let start = (my * 8 + r) * half + mx * 8;
            self.cb[start..start + 8].iter().copied()
        });
        let cr = (0..8).flat_map(move |r| {
            let start = (my * 8 + r) * half + mx * 8;
            self.cr[start..start + 8].iter().copied()
        });
        luma.chain(cb).chain(cr)
    }

    fn same_macroblock(&self, other: &Self, mx: usize, my: usize) -> bool {
        self.macroblock(mx, my).eq(other.macroblock(mx, my))
    }
}

/// One coded picture: its NAL units in decoding order (SPS and PPS before every IDR, so a
/// client that joins at any IDR can decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Whether this is an IDR (a client may start here).
    pub keyframe: bool,
    /// NAL units without start codes.
    pub nals: Vec<Vec<u8>>,
}

/// The encoder's state between pictures.
#[derive(Debug, Default)]
pub struct Encoder {
    previous: Option<Picture>,
    frame_num: u32,
    idr_pic_id: u32,
}

impl Encoder {
    /// A fresh encoder (its first picture is an IDR).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next picture an IDR (a new client, or one that lost frames).
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// The sequence parameter set NAL unit.
    #[must_use]
    pub fn sps() -> Vec<u8> {
        let mut w = BitWriter::new();
        let [profile, constraints, level] = PROFILE_LEVEL_ID;
        w.bits(profile.into(), 8);
        w.bits(constraints.into(), 8);
        w.bits(level.into(), 8);
        w.ue(0); // seq_parameter_set_id
        w.ue(FRAME_NUM_BITS - 4); // log2_max_frame_num_minus4
        w.ue(2); // pic_order_cnt_type 2: output order = decoding order
        w.ue(1); // max_num_ref_frames
        w.bit(false); // gaps_in_frame_num_value_allowed_flag
        w.ue(u32::try_from(MBS_W - 1).unwrap_or(0));
        w.ue(u32::try_from(MBS_H - 1).unwrap_or(0));
        w.bit(true); // frame_mbs_only_flag
        w.bit(true); // direct_8x8_inference_flag
        w.bit(false); // frame_cropping_flag
        w.bit(false); // vui_parameters_present_flag
        nal(3, 7, &w.finish())
    }

    /// The picture parameter set NAL unit.
    #[must_use]
    pub fn pps() -> Vec<u8> {
        let mut w = BitWriter::new();
        w.ue(0); // pic_parameter_set_id
        w.ue(0); // seq_parameter_set_id
        w.bit(false); // entropy_coding_mode_flag: CAVLC
        w.bit(false); // bottom_field_pic_order_in_frame_present_flag
        w.ue(0); // num_slice_groups_minus1
        w.ue(0); // num_ref_idx_l0_default_active_minus1
        w.ue(0); // num_ref_idx_l1_default_active_minus1
        w.bit(false); // weighted_pred_flag
        w.bits(0, 2); // weighted_bipred_idc
        w.se(0); // pic_init_qp_minus26
        w.se(0); // pic_init_qs_minus26
        w.se(0); // chroma_qp_index_offset
        w.bit(true); // deblocking_filter_control_present_flag
        w.bit(false); // constrained_intra_pred_flag
        w.bit(false); // redundant_pic_cnt_present_flag
        nal(3, 8, &w.finish())
    }

    /// Encodes one picture: an IDR when there is no previous picture, a P picture otherwise.
    pub fn encode(&mut self, picture: &Picture) -> Frame {
        let previous = self.previous.take();
        let keyframe = previous.is_none();
        let mut w = BitWriter::new();
        w.ue(0); // first_mb_in_slice
        if keyframe {
            self.frame_num = 0;
            w.ue(7); // slice_type: I (all slices of the picture)
        } else {
            self.frame_num = (self.frame_num + 1) % (1 << FRAME_NUM_BITS);
            w.ue(5); // slice_type: P (all slices of the picture)
        }
        w.ue(0); // pic_parameter_set_id
        w.bits(self.frame_num, FRAME_NUM_BITS);
        if keyframe {
            // Two consecutive IDRs must differ in idr_pic_id.
            self.idr_pic_id = (self.idr_pic_id + 1) % 2;
            w.ue(self.idr_pic_id);
            w.bit(false); // no_output_of_prior_pics_flag
            w.bit(false); // long_term_reference_flag
        } else {
            w.bit(false); // num_ref_idx_active_override_flag
            w.bit(false); // ref_pic_list_modification_flag_l0
            w.bit(false); // adaptive_ref_pic_marking_mode_flag: sliding window
        }
        w.se(0); // slice_qp_delta
        w.ue(1); // disable_deblocking_filter_idc: off, so unchanged blocks stay exact
        let mut skipped = 0u32;
        for my in 0..MBS_H {
            for mx in 0..MBS_W {
                if let Some(prev) = &previous {
                    if picture.same_macroblock(prev, mx, my) {
                        skipped += 1;
                        continue;
                    }
                    w.ue(skipped); // mb_skip_run
                    skipped = 0;
                    w.ue(P_INTRA_OFFSET + I_PCM);
                } else {
                    w.ue(I_PCM);
                }
                w.align_zero();
                for sample in picture.macroblock(mx, my) {
                    w.byte(sample);
                }
            }
        }
        if skipped > 0 {
            w.ue(skipped);
        }
        let slice = w.finish();
        self.previous = Some(picture.clone());
        if keyframe {
            Frame {
                keyframe,
                nals: vec![Self::sps(), Self::pps(), nal(3, 5, &slice)],
            }
        } else {
            Frame {
                keyframe,
                nals: vec![nal(2, 1, &slice)],
            }
        }
    }
}

/// The camera's picture number `n`: a light background, a dark block that moves across the
/// picture (so a decoder sees motion) and `#n p%` in large digits.
#[must_use]
pub fn render(n: u32, percent: u8) -> Picture {
    let mut pic = Picture::filled(0, 128, 128);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            // A static gradient: unchanged macroblocks are skipped in P pictures.
            pic.y[y * WIDTH + x] = 60 + u8::try_from((x + y) * 120 / (WIDTH + HEIGHT)).unwrap_or(0);
        }
    }
    for y in 0..HEIGHT / 2 {
        for x in 0..WIDTH / 2 {
            pic.cb[y * WIDTH / 2 + x] = 150;
            pic.cr[y * WIDTH / 2 + x] = 110;
        }
    }
    // The moving block: 32×32, 8 samples a picture, bouncing between the edges.
    let span = (WIDTH - 32) / 8;
    let step = (n as usize) % (2 * span);
    let bx = if step < span { step } else { 2 * span - step } * 8;
    let by = HEIGHT - 64;
    for y in by..by + 32 {
        for x in bx..bx + 32 {
            pic.y[y * WIDTH + x] = 30;
        }
    }
    for y in by / 2..(by + 32) / 2 {
        for x in bx / 2..(bx + 32) / 2 {
            pic.cb[y * WIDTH / 2 + x] = 200;
            pic.cr[y * WIDTH / 2 + x] = 60;
        }
    }
    let text = format!("#{n} {}%", percent.min(100));
    let scale = 4;
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in crate::camera::glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = 12 + i * 6 * scale + col * scale + dx;
                        let y = 16 + row * scale + dy;
                        if x < WIDTH && y < HEIGHT {
                            pic.y[y * WIDTH + x] = 235;
                        }
                    }
                }
            }
        }
    }
    pic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(f: impl FnOnce(&mut BitWriter)) -> String {
        let mut w = BitWriter::new();
        f(&mut w);
        let used = w.used;
        let mut s: String = w.bytes.iter().map(|b| format!("{b:08b}")).collect();
        for i in (0..used).rev() {
            s.push(if (w.current >> i) & 1 == 1 { '1' } else { '0' });
        }
        s
    }

    /// Reads back what the writer wrote, and strips emulation prevention.
    struct BitReader {
        bytes: Vec<u8>,
        pos: usize,
    }

    impl BitReader {
        fn from_nal(nal: &[u8]) -> Self {
            let mut bytes = Vec::new();
            let mut zeros = 0;
            for &b in &nal[1..] {
                if zeros >= 2 && b == 3 {
                    zeros = 0;
                    continue;
                }
                bytes.push(b);
                zeros = if b == 0 { zeros + 1 } else { 0 };
            }
            Self { bytes, pos: 0 }
        }
        fn bit(&mut self) -> u32 {
            let b = (self.bytes[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            self.pos += 1;
            u32::from(b)
        }
        fn bits(&mut self, n: u32) -> u32 {
            (0..n).fold(0, |acc, _| (acc << 1) | self.bit())
        }
        fn ue(&mut self) -> u32 {
            let mut zeros = 0;
            while self.bit() == 0 {
                zeros += 1;
            }
            ((1 << zeros) - 1) + self.bits(zeros)
        }
    }

    #[test]
    fn exp_golomb_codes_match_the_standard_table() {
        assert_eq!(bits_of(|w| w.ue(0)), "1");
        assert_eq!(bits_of(|w| w.ue(1)), "010");
        assert_eq!(bits_of(|w| w.ue(2)), "011");
        assert_eq!(bits_of(|w| w.ue(3)), "00100");
        assert_eq!(bits_of(|w| w.ue(8)), "0001001");
        assert_eq!(bits_of(|w| w.se(1)), "010");
        assert_eq!(bits_of(|w| w.se(-1)), "011");
        assert_eq!(bits_of(|w| w.se(2)), "00100");
        assert_eq!(bits_of(|w| w.se(0)), "1");
        let mut r = BitReader {
            bytes: {
                let mut w = BitWriter::new();
                for v in [0, 1, 7, 300, 65_535, u32::MAX - 1] {
                    w.ue(v);
                }
                w.finish()
            },
            pos: 0,
        };
        for v in [0, 1, 7, 300, 65_535, u32::MAX - 1] {
            assert_eq!(r.ue(), v);
        }
    }

    #[test]
    fn emulation_prevention_breaks_every_start_code() {
        assert_eq!(nal(0, 1, &[0, 0, 1]), vec![1, 0, 0, 3, 1]);
        assert_eq!(nal(0, 1, &[0, 0, 0, 0]), vec![1, 0, 0, 3, 0, 0]);
        assert_eq!(nal(0, 1, &[0, 0, 4]), vec![1, 0, 0, 4]);
        // A slice full of zero samples still carries no start code.
        let frame = Encoder::new().encode(&Picture::filled(0, 0, 0));
        for n in &frame.nals {
            assert!(!n.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        }
    }

    #[test]
    fn the_sps_says_constrained_baseline_320x240() {
        let sps = Encoder::sps();
        assert_eq!(sps[0], 0x67, "nal_ref_idc 3, type 7");
        let mut r = BitReader::from_nal(&sps);
        assert_eq!(r.bits(8), 66);
        assert_eq!(r.bits(8), 0xC0);
        assert_eq!(r.bits(8), 30);
        assert_eq!(r.ue(), 0, "sps id");
        assert_eq!(r.ue(), 0, "log2_max_frame_num_minus4");
        assert_eq!(r.ue(), 2, "poc type");
        assert_eq!(r.ue(), 1, "ref frames");
        assert_eq!(r.bit(), 0);
        assert_eq!((r.ue() + 1) * 16, 320);
        assert_eq!((r.ue() + 1) * 16, 240);
        assert_eq!(Encoder::pps()[0], 0x68);
    }

    #[test]
    fn an_idr_carries_every_macroblock_and_a_p_picture_only_the_changed_ones() {
        let mut enc = Encoder::new();
        let first = enc.encode(&render(1, 0));
        assert!(first.keyframe);
        assert_eq!(first.nals.len(), 3);
        assert_eq!(first.nals[2][0], 0x65, "IDR slice, nal_ref_idc 3");
        assert!(first.nals[2].len() > MBS_W * MBS_H * 384, "all I_PCM");
        let same = enc.encode(&render(1, 0));
        assert!(!same.keyframe);
        assert_eq!(same.nals.len(), 1);
        assert_eq!(same.nals[0][0], 0x41, "P slice, nal_ref_idc 2");
        assert!(
            same.nals[0].len() < 16,
            "all skipped: {}",
            same.nals[0].len()
        );
        let moved = enc.encode(&render(2, 0));
        let size = moved.nals[0].len();
        assert!(size > 384 && size < 40 * 390, "a few macroblocks: {size}");
        // The slice header reads back: first_mb 0, P, pps 0, frame_num 2.
        let mut r = BitReader::from_nal(&moved.nals[0]);
        assert_eq!((r.ue(), r.ue(), r.ue(), r.bits(4)), (0, 5, 0, 2));
        enc.reset();
        let again = enc.encode(&render(3, 0));
        assert!(again.keyframe);
        let mut r = BitReader::from_nal(&again.nals[2]);
        assert_eq!((r.ue(), r.ue(), r.ue(), r.bits(4)), (0, 7, 0, 0));
        let first_id = BitReader::from_nal(&first.nals[2]).skip_header_to_idr_id();
        let again_id = r.ue();
        assert_ne!(first_id, again_id, "consecutive IDRs differ in idr_pic_id");
    }

    impl BitReader {
        fn skip_header_to_idr_id(mut self) -> u32 {
            let _ = (self.ue(), self.ue(), self.ue(), self.bits(4));
            self.ue()
        }
    }

    #[test]
    fn frame_num_wraps_at_sixteen() {
        let mut enc = Encoder::new();
        let mut last = 0;
        for n in 0..40 {
            let f = enc.encode(&render(n, 0));
            let slice = f.nals.last().map(Vec::as_slice).unwrap_or_default();
            let mut r = BitReader::from_nal(slice);
            let (_, _, _, frame_num) = (r.ue(), r.ue(), r.ue(), r.bits(4));
            if n > 0 {
                assert_eq!(frame_num, (last + 1) % 16);
            }
            last = frame_num;
        }
    }

    #[test]
    fn pictures_change_every_frame() {
        assert_ne!(render(1, 5), render(2, 5));
        assert_ne!(render(1, 5), render(1, 6));
    }
}
