//! H.264 out of RTP (RFC 6184, packetization-mode 0 and 1): single NAL unit packets, STAP-A
//! aggregates and FU-A fragments, gathered into access units (one picture's NAL units) by the
//! marker bit and the timestamp. The packets come from a printer, so they are untrusted: the
//! depacketizer never panics (a property test feeds it arbitrary bytes) and holds at most
//! [`MAX_ACCESS_UNIT`] bytes.
//!
//! Invariant: a picture with a lost or broken piece is never handed out: after a sequence gap
//! or a malformed packet everything up to the next IDR is dropped (a decoder fed a P picture
//! whose reference is missing shows garbage).

/// Largest access unit kept (a 1080p I_PCM picture is ~3 MiB; real cameras send far less).
pub const MAX_ACCESS_UNIT: usize = 4 * 1024 * 1024;

/// One picture: its NAL units (no start codes) and RTP timestamp (90 kHz).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// RTP timestamp.
    pub timestamp: u32,
    /// NAL units in decoding order.
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    /// Whether it holds an IDR slice (a decoder can start here).
    #[must_use]
    pub fn is_keyframe(&self) -> bool {
        self.nals
            .iter()
            .any(|n| n.first().is_some_and(|h| h & 0x1F == 5))
    }
}

/// Why a packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than its headers say, or not RTP version 2.
    #[error("malformed RTP packet")]
    Malformed,
    /// A NAL unit type this depacketizer does not take (STAP-B, MTAP, FU-B).
    #[error("unsupported H.264 packetization")]
    Unsupported,
    /// The picture grew past [`MAX_ACCESS_UNIT`].
    #[error("picture too large")]
    TooLarge,
}

/// Gathers RTP packets of one H.264 stream into access units.
#[derive(Debug, Default)]
pub struct Depacketizer {
    /// The picture being gathered.
    nals: Vec<Vec<u8>>,
    size: usize,
    timestamp: Option<u32>,
    /// A FU-A NAL unit being reassembled.
    fragment: Option<Vec<u8>>,
    last_seq: Option<u16>,
    /// Dropping until the next IDR (after a loss, at the start).
    waiting_for_idr: bool,
    /// The payload type to accept (`None`: any).
    payload_type: Option<u8>,
}

/// The parts of an RTP header that matter here, and the payload.
fn parse_header(packet: &[u8]) -> Result<(bool, u8, u16, u32, &[u8]), RtpError> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return Err(RtpError::Malformed);
    }
    let padding = packet[0] & 0x20 != 0;
    let extension = packet[0] & 0x10 != 0;
    let csrcs = usize::from(packet[0] & 0x0F);
    let marker = packet[1] & 0x80 != 0;
    let payload_type = packet[1] & 0x7F;
    let seq = u16::from_be_bytes([packet[2], packet[3]]);
    let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    let mut start = 12 + 4 * csrcs;
    if extension {
        let words = packet
            .get(start + 2..start + 4)
            .ok_or(RtpError::Malformed)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = packet.len();
    if padding {
        let pad = usize::from(*packet.last().ok_or(RtpError::Malformed)?);
        end = end.checked_sub(pad).ok_or(RtpError::Malformed)?;
    }
    let payload = packet.get(start..end).ok_or(RtpError::Malformed)?;
    Ok((marker, payload_type, seq, timestamp, payload))
}

impl Depacketizer {
    /// A depacketizer that starts at the first IDR and takes only `payload_type` (the SDP's).
    #[must_use]
    pub fn new(payload_type: Option<u8>) -> Self {
        Self {
            waiting_for_idr: true,
            payload_type,
            ..Self::default()
        }
    }

    fn reset_picture(&mut self) {
        self.nals.clear();
        self.size = 0;
        self.fragment = None;
        self.timestamp = None;
    }

    /// Drops what is gathered and everything up to the next IDR.
    fn lose(&mut self) {
        self.reset_picture();
        self.waiting_for_idr = true;
    }

    fn push_nal(&mut self, nal: Vec<u8>) -> Result<(), RtpError> {
        if nal.is_empty() {
            return Ok(());
        }
        self.size += nal.len();
        if self.size > MAX_ACCESS_UNIT {
            self.lose();
            return Err(RtpError::TooLarge);
        }
        self.nals.push(nal);
        Ok(())
    }

    /// The picture gathered so far, if complete and decodable.
    fn finish(&mut self) -> Option<AccessUnit> {
        let timestamp = self.timestamp?;
        if self.fragment.is_some() {
            // The marker came inside a fragmented NAL unit: the picture is broken.
            self.lose();
            return None;
        }
        let unit = AccessUnit {
            timestamp,
            nals: std::mem::take(&mut self.nals),
        };
        self.reset_picture();
        if unit.nals.is_empty() {
            return None;
        }
        if self.waiting_for_idr {
            if !unit.is_keyframe() {
                return None;
            }
            self.waiting_for_idr = false;
        }
        Some(unit)
    }

    /// Takes one RTP packet; returns a picture when this packet completed one. A picture whose
    /// last packet was lost is handed out when the next picture's first packet arrives (its
    /// timestamp differs), unless a gap broke it.
    pub fn push(&mut self, packet: &[u8]) -> Result<Option<AccessUnit>, RtpError> {
        let (marker, payload_type, seq, timestamp, payload) = parse_header(packet)?;
        if self.payload_type.is_some_and(|pt| pt != payload_type) {
            return Ok(None);
        }
        if let Some(last) = self.last_seq
            && seq != last.wrapping_add(1)
        {
            self.lose();
        }
        self.last_seq = Some(seq);
        let mut done = None;
        if self.timestamp.is_some_and(|t| t != timestamp) {
            done = self.finish();
        }
        self.timestamp = Some(timestamp);
        let result = self.take_payload(payload);
        if let Err(e) = result {
            self.lose();
            return Err(e);
        }
        if marker {
            // Two pictures in one call can only happen when the marker of the previous was
            // lost; the older one is handed out, this one waits for nothing more.
            let finished = self.finish();
            return Ok(done.or(finished));
        }
        Ok(done)
    }

    fn take_payload(&mut self, payload: &[u8]) -> Result<(), RtpError> {
        let Some(&header) = payload.first() else {
            return Err(RtpError::Malformed);
        };
        match header & 0x1F {
            1..=23 => {
                self.fragment = None;
                self.push_nal(payload.to_vec())
            }
            24 => {
                // STAP-A: 16-bit size, NAL unit, repeated.
                self.fragment = None;
                let mut rest = &payload[1..];
                while !rest.is_empty() {
                    let size = rest
                        .get(..2)
                        .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                        .ok_or(RtpError::Malformed)?;
                    let nal = rest.get(2..2 + size).ok_or(RtpError::Malformed)?;
                    self.push_nal(nal.to_vec())?;
                    rest = &rest[2 + size..];
                }
                Ok(())
            }
            28 => {
                let fu = *payload.get(1).ok_or(RtpError::Malformed)?;
                let body = &payload[2..];
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start {
                    let mut nal = Vec::with_capacity(body.len() * 4 + 1);
                    nal.push((header & 0xE0) | (fu & 0x1F));
                    self.fragment = Some(nal);
                }
                let Some(fragment) = self.fragment.as_mut() else {
                    // A middle or end fragment without its start: the start was lost.
                    return Err(RtpError::Malformed);
                };
                if self.size + fragment.len() + body.len() > MAX_ACCESS_UNIT {
                    return Err(RtpError::TooLarge);
                }
                fragment.extend_from_slice(body);
                if end && let Some(nal) = self.fragment.take() {
                    self.push_nal(nal)?;
                }
                Ok(())
            }
            _ => Err(RtpError::Unsupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, if marker { 0x80 | 96 } else { 96 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(payload);
        p
    }

    fn fu_a(nal: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let body = &nal[1..];
        let n = body.chunks(chunk).count();
        body.chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                let mut p = vec![(nal[0] & 0xE0) | 28, nal[0] & 0x1F];
                if i == 0 {
                    p[1] |= 0x80;
                }
                if i + 1 == n {
                    p[1] |= 0x40;
                }
                p.extend_from_slice(c);
                p
            })
            .collect()
    }

    #[test]
    fn single_stap_a_and_fu_a_make_pictures() {
        let mut d = Depacketizer::new(Some(96));
        let sps = vec![0x67, 1, 2];
        let pps = vec![0x68, 3];
        let idr: Vec<u8> = std::iter::once(0x65).chain(0..200u8).collect();
        let mut stap = vec![24u8];
        for n in [&sps, &pps] {
            stap.extend_from_slice(&u16::try_from(n.len()).unwrap().to_be_bytes());
            stap.extend_from_slice(n);
        }
        assert_eq!(d.push(&rtp(1, 10, false, &stap)), Ok(None));
        let frags = fu_a(&idr, 64);
        let last = frags.len() - 1;
        let mut out = None;
        for (i, f) in frags.iter().enumerate() {
            out = d
                .push(&rtp(2 + u16::try_from(i).unwrap(), 10, i == last, f))
                .unwrap();
        }
        let unit = out.unwrap();
        assert_eq!(unit.timestamp, 10);
        assert_eq!(unit.nals, vec![sps, pps, idr]);
        assert!(unit.is_keyframe());
        let p = vec![0x41, 9, 9];
        let seq = 2 + u16::try_from(frags.len()).unwrap();
        let unit = d.push(&rtp(seq, 20, true, &p)).unwrap().unwrap();
        assert_eq!(unit.nals, vec![p]);
    }

    #[test]
    fn nothing_before_the_first_idr_and_nothing_after_a_loss_until_the_next() {
        let mut d = Depacketizer::new(None);
        assert_eq!(d.push(&rtp(1, 1, true, &[0x41, 1])), Ok(None), "P first");
        assert!(d.push(&rtp(2, 2, true, &[0x65, 1])).unwrap().is_some());
        assert!(d.push(&rtp(3, 3, true, &[0x41, 1])).unwrap().is_some());
        assert_eq!(
            d.push(&rtp(5, 4, true, &[0x41, 1])),
            Ok(None),
            "after a gap"
        );
        assert_eq!(d.push(&rtp(6, 5, true, &[0x41, 1])), Ok(None));
        assert!(d.push(&rtp(7, 6, true, &[0x65, 1])).unwrap().is_some());
        // A fragment without its start is refused and the stream waits for an IDR again.
        assert_eq!(
            d.push(&rtp(8, 7, false, &[0x5C, 0x05, 1])),
            Err(RtpError::Malformed)
        );
        assert_eq!(d.push(&rtp(9, 8, true, &[0x41, 1])), Ok(None));
    }

    #[test]
    fn a_lost_marker_is_recovered_by_the_next_timestamp() {
        let mut d = Depacketizer::new(None);
        assert_eq!(d.push(&rtp(1, 1, false, &[0x65, 1])), Ok(None));
        let unit = d.push(&rtp(2, 2, false, &[0x41, 1])).unwrap().unwrap();
        assert_eq!(unit.timestamp, 1);
        assert_eq!(
            d.push(&rtp(3, 2, true, &[0x41, 2]))
                .unwrap()
                .unwrap()
                .nals
                .len(),
            2
        );
    }

    #[test]
    fn malformed_headers() {
        let mut d = Depacketizer::new(None);
        assert_eq!(d.push(&[0x80; 11]), Err(RtpError::Malformed));
        assert_eq!(d.push(&[0x40; 20]), Err(RtpError::Malformed), "version 1");
        let mut padded = rtp(1, 1, true, &[0x65, 1]);
        padded[0] |= 0x20;
        padded.push(200);
        assert_eq!(d.push(&padded), Err(RtpError::Malformed));
        assert_eq!(
            d.push(&rtp(2, 1, true, &[0x1A, 1])),
            Err(RtpError::Unsupported)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_packets_never_panic(
            packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..40),
        ) {
            let mut d = Depacketizer::new(None);
            for p in &packets {
                if let Ok(Some(unit)) = d.push(p) {
                    prop_assert!(unit.nals.iter().map(Vec::len).sum::<usize>() <= MAX_ACCESS_UNIT);
                }
            }
        }

        #[test]
        fn rtp_shaped_packets_never_panic(
            packets in proptest::collection::vec(
                (any::<u16>(), any::<u32>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64)),
                0..40,
            ),
        ) {
            let mut d = Depacketizer::new(None);
            for (seq, ts, marker, payload) in &packets {
                let _ = d.push(&rtp(*seq, *ts, *marker, payload));
            }
        }
    }
}
