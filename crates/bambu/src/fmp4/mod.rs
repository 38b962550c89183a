//! H.264 access units (from [`crate::rtp`]) remuxed, without transcoding, into fragmented MP4
//! for Media Source Extensions: an init segment per set of parameter sets (with the size read
//! from the SPS and the `avc1.PPCCLL` codec string a browser needs before it), then one media
//! segment per picture or per group of pictures, samples in AVCC form, decode times from the
//! 90 kHz RTP timestamps. Pure: no IO, the caller sends the bytes.
//!
//! Invariants: the access units come from a printer, so they are untrusted — nothing here
//! panics on them (property tests feed arbitrary ones), a sample is at most
//! [`MAX_SAMPLE`] bytes and a fragment at most [`MAX_FRAGMENT`]; every fragment starts with
//! an IDR after its init segment and after any refused picture (a decoder fed a picture whose
//! reference it never got shows garbage); decode times and `mfhd` sequence numbers only go
//! up, across init segments too.

pub mod boxes;
pub mod sps;

use boxes::{Sample, TIMESCALE};
use sps::SpsInfo;

use crate::rtp::AccessUnit;

/// Largest SPS or PPS taken (real ones are tens of bytes; `avcC` allows 65535).
pub const MAX_PARAMETER_SET: usize = 4096;
/// Largest picture taken, in AVCC form: the depacketizer's cap plus the length prefixes.
pub const MAX_SAMPLE: usize = crate::rtp::MAX_ACCESS_UNIT + 64 * 1024;
/// Largest media segment's samples together.
pub const MAX_FRAGMENT: usize = 8 * 1024 * 1024;
/// Most pictures per fragment.
pub const MAX_GROUP: usize = 64;
/// Duration assumed when the timestamps say nothing usable (1/30 s).
const DEFAULT_DURATION: u32 = TIMESCALE / 30;
/// A timestamp step longer than this (10 s) is a jump, not a picture's duration.
const MAX_DURATION: u32 = 10 * TIMESCALE;

/// Why an access unit was refused; the muxer then waits for the next IDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// The sequence parameter set could not be read or describes an absurd picture.
    #[error("the camera sent a video format that cannot be read")]
    BadSps,
    /// A parameter set or picture is larger than the caps.
    #[error("the camera sent a picture that is too large")]
    TooLarge,
}

/// What the muxer hands out, in the order to append to a `SourceBuffer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A new init segment: at the start and whenever the SPS or PPS change.
    Init(Init),
    /// A media segment (`moof` + `mdat`).
    Media(Vec<u8>),
}

/// An init segment and what a browser must know before appending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// `ftyp` + `moov`.
    pub bytes: Vec<u8>,
    /// RFC 6381 codec, e.g. `avc1.42C01E` (`video/mp4; codecs="…"`).
    pub codec: String,
    /// Displayed width in pixels.
    pub width: u32,
    /// Displayed height in pixels.
    pub height: u32,
}

/// The stream's current parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    sps: Vec<u8>,
    /// Empty until the first PPS came.
    pps: Vec<u8>,
    /// The SPS, read once when it arrived.
    info: SpsInfo,
}

/// Turns access units into segments. Each picture's duration is the step to the next
/// picture's timestamp, so a picture is handed out when the next one arrives (one picture of
/// latency); [`Muxer::finish`] hands out the last.
#[derive(Debug)]
pub struct Muxer {
    group: usize,
    /// Parameter sets seen (in-band or from the SDP), not yet described by an init segment.
    next: Option<Params>,
    /// Parameter sets of the last init segment.
    current: Option<Params>,
    /// Pictures of the fragment being built; the last one's duration is not known yet.
    pending: Vec<Sample>,
    pending_bytes: usize,
    /// Decode time of the first pending picture.
    pending_start: u64,
    /// RTP timestamp and decode time of the last picture taken.
    last: Option<(u32, u64)>,
    /// Decode time where the pictures handed out end (the next fragment starts no earlier).
    flushed_until: u64,
    last_duration: u32,
    sequence: u32,
    waiting_for_idr: bool,
}

/// NAL unit types never put in samples: SPS and PPS (they live in `avcC`), access unit
/// delimiters and filler data (RFC 6184 streams may carry them; MP4 samples must not).
fn kept_in_sample(nal_type: u8) -> bool {
    !matches!(nal_type, 7 | 8 | 9 | 12)
}

impl Muxer {
    /// A muxer that puts at most `group` pictures in a fragment (1: one per picture, the
    /// lowest latency; clamped to 1..=[`MAX_GROUP`]). A fragment also ends before each IDR.
    #[must_use]
    pub fn new(group: usize) -> Self {
        Self {
            group: group.clamp(1, MAX_GROUP),
            next: None,
            current: None,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_start: 0,
            last: None,
            flushed_until: 0,
            last_duration: DEFAULT_DURATION,
            sequence: 0,
            waiting_for_idr: true,
        }
    }

    /// Takes parameter sets given out of band (the SDP's `sprop-parameter-sets`); in-band
    /// ones in the access units replace them.
    ///
    /// # Errors
    /// [`Fmp4Error::TooLarge`] or [`Fmp4Error::BadSps`]; nothing is changed then.
    pub fn parameter_sets(&mut self, nals: &[Vec<u8>]) -> Result<(), Fmp4Error> {
        self.take_parameter_sets(nals.iter().map(Vec::as_slice))
    }

    fn take_parameter_sets<'a>(
        &mut self,
        nals: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), Fmp4Error> {
        let mut sps = None;
        let mut pps = None;
        for nal in nals {
            match nal.first().map(|h| h & 0x1F) {
                Some(7) => sps = Some(nal),
                Some(8) => pps = Some(nal),
                _ => continue,
            }
            if nal.len() > MAX_PARAMETER_SET {
                return Err(Fmp4Error::TooLarge);
            }
        }
        if sps.is_none() && pps.is_none() {
            return Ok(());
        }
        let base = self.next.as_ref().or(self.current.as_ref());
        let (sps, info) = match (sps, base) {
            (Some(new), Some(base)) if new == base.sps.as_slice() => (base.sps.clone(), base.info),
            (Some(new), _) => (new.to_vec(), sps::parse_sps(new)?),
            (None, Some(base)) => (base.sps.clone(), base.info),
            // A PPS without any SPS describes nothing.
            (None, None) => return Ok(()),
        };
        // A decoder keeps the last parameter set of each kind: a new SPS alone goes with the
        // PPS it already has.
        let pps = match (pps, base) {
            (Some(new), _) => new.to_vec(),
            (None, Some(base)) => base.pps.clone(),
            // No PPS yet: nothing is described until one comes.
            (None, None) => Vec::new(),
        };
        let params = Params { sps, pps, info };
        self.next = (self.current.as_ref() != Some(&params)).then_some(params);
        Ok(())
    }

    /// Takes one picture; returns what is ready to append, in order (possibly nothing:
    /// pictures before the first IDR, and the newest picture until its successor arrives).
    ///
    /// # Errors
    /// [`Fmp4Error`] when the picture or its parameter sets are refused; the muxer drops it and
    /// everything up to the next IDR, and stays usable.
    pub fn push(&mut self, unit: &AccessUnit) -> Result<Vec<Segment>, Fmp4Error> {
        let mut out = Vec::new();
        let taken = self
            .take_parameter_sets(unit.nals.iter().map(Vec::as_slice))
            .and_then(|()| sample(unit));
        let sample = match taken {
            Ok(s) => s,
            Err(e) => {
                // What is pending stays good; its last duration is settled by the next IDR.
                self.waiting_for_idr = true;
                return Err(e);
            }
        };
        let keyframe = sample.sync;
        let describe = keyframe && self.next.as_ref().is_some_and(|p| !p.pps.is_empty());
        let described = describe || self.current.is_some();
        if !described || (self.waiting_for_idr && !keyframe) || sample.data.is_empty() {
            return Ok(out);
        }
        self.waiting_for_idr = false;
        // The step from the previous picture is that picture's duration.
        let decode = match self.last {
            None => self.flushed_until,
            Some((timestamp, decode)) => {
                let step = unit.timestamp.wrapping_sub(timestamp);
                // Equal, backwards (wrapped) or a jump: keep time going at the last pace.
                let step = if step == 0 || step > MAX_DURATION {
                    self.last_duration
                } else {
                    step
                };
                if let Some(last) = self.pending.last_mut() {
                    last.duration = step;
                }
                self.last_duration = step;
                (decode + u64::from(step)).max(self.flushed_until)
            }
        };
        if keyframe
            || self.pending.len() >= self.group
            || self.pending_bytes + sample.data.len() > MAX_FRAGMENT
        {
            self.flush(&mut out);
        }
        if describe && let Some(params) = self.next.take() {
            // New parameter sets take effect at an IDR, after the old fragment.
            let info = params.info;
            out.push(Segment::Init(Init {
                bytes: boxes::init_segment(&params.sps, &params.pps, &info),
                codec: info.codec(),
                width: info.width,
                height: info.height,
            }));
            self.current = Some(params);
        }
        if self.pending.is_empty() {
            self.pending_start = decode;
        }
        self.pending_bytes += sample.data.len();
        self.pending.push(Sample {
            data: sample.data,
            // Until the next picture says otherwise.
            duration: self.last_duration,
            sync: keyframe,
        });
        self.last = Some((unit.timestamp, decode));
        Ok(out)
    }

    /// Hands out the pictures still held (the last one lasts as long as the one before).
    pub fn finish(&mut self) -> Vec<Segment> {
        let mut out = Vec::new();
        self.flush(&mut out);
        out
    }

    fn flush(&mut self, out: &mut Vec<Segment>) {
        if self.pending.is_empty() {
            return;
        }
        self.sequence = self.sequence.wrapping_add(1);
        out.push(Segment::Media(boxes::media_segment(
            self.sequence,
            self.pending_start,
            &self.pending,
        )));
        self.flushed_until = self.pending_start
            + self
                .pending
                .iter()
                .map(|s| u64::from(s.duration))
                .sum::<u64>();
        self.pending.clear();
        self.pending_bytes = 0;
    }
}

/// Where [`boxes::media_segment`] writes the `tfdt` box's type, its decode time, and the
/// first sample's duration and flags (`moof` 8, `mfhd` 16, `traf` 8, `tfhd` 16, `tfdt` 20, then
/// `trun`'s 12-byte head, count and data offset).
const TFDT_TYPE_AT: usize = 8 + 16 + 8 + 16 + 4;
const DECODE_AT: usize = TFDT_TYPE_AT + 8;
/// Byte offset of the first sample's duration in a media segment of this muxer.
pub const FIRST_DURATION_AT: usize = DECODE_AT + 8 + 12 + 4 + 4;
const FIRST_FLAGS_AT: usize = FIRST_DURATION_AT + 8;

/// A media segment this muxer wrote: its decode time and whether it starts with an IDR (a
/// viewer joining, or resuming after it fell behind, starts there). `None` for bytes of
/// another shape.
#[must_use]
pub fn media_info(segment: &[u8]) -> Option<(u64, bool)> {
    if segment.get(4..8) != Some(b"moof")
        || segment.get(TFDT_TYPE_AT..TFDT_TYPE_AT + 4) != Some(b"tfdt")
    {
        return None;
    }
    let decode = u64::from_be_bytes(segment.get(DECODE_AT..DECODE_AT + 8)?.try_into().ok()?);
    let flags = u32::from_be_bytes(
        segment
            .get(FIRST_FLAGS_AT..FIRST_FLAGS_AT + 4)?
            .try_into()
            .ok()?,
    );
    Some((decode, flags == boxes::SYNC))
}

/// The picture's NAL units that belong in a sample, in AVCC form, and whether it is an IDR.
fn sample(unit: &AccessUnit) -> Result<Sample, Fmp4Error> {
    let mut data = Vec::new();
    for nal in &unit.nals {
        let Some(&header) = nal.first() else {
            continue;
        };
        if !kept_in_sample(header & 0x1F) {
            continue;
        }
        if data.len() + 4 + nal.len() > MAX_SAMPLE {
            return Err(Fmp4Error::TooLarge);
        }
        let len = u32::try_from(nal.len()).map_err(|_| Fmp4Error::TooLarge)?;
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(nal);
    }
    Ok(Sample {
        data,
        duration: 0,
        sync: unit.is_keyframe(),
    })
}

#[cfg(test)]
mod tests;
