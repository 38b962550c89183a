//! RTP packetization of H.264 (RFC 6184, packetization-mode 1) for the simulated camera,
//! framed for RTSP TCP interleaving (RFC 2326 §10.12: `$`, channel, 16-bit length).
//!
//! Invariant: a NAL unit that fits in [`MAX_PAYLOAD`] travels as one single-NAL packet, a larger
//! one as FU-A fragments (Start bit on the first, End bit on the last, the NAL header's F/NRI in
//! the FU indicator and its type in the FU header); the marker bit is set on the last packet of
//! an access unit only, and every packet of one picture carries its 90 kHz timestamp.

/// RTP payload type announced in the SDP.
pub const PAYLOAD_TYPE: u8 = 96;
/// Largest RTP payload: what fits an Ethernet MTU with IP/TCP/TLS room, as cameras do.
pub const MAX_PAYLOAD: usize = 1400;
/// FU-A NAL unit type.
const FU_A: u8 = 28;

/// One client's RTP sender state.
#[derive(Debug, Clone)]
pub struct Packetizer {
    /// Synchronization source of this stream.
    pub ssrc: u32,
    /// The next sequence number.
    pub seq: u16,
    /// Interleaved channel for RTP (RTCP is the next one).
    pub channel: u8,
}

impl Packetizer {
    fn packet(&mut self, out: &mut Vec<u8>, timestamp: u32, marker: bool, parts: &[&[u8]]) {
        let len: usize = 12 + parts.iter().map(|p| p.len()).sum::<usize>();
        out.push(b'$');
        out.push(self.channel);
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        out.push(0x80); // V=2, no padding, no extension, no CSRC
        out.push(if marker { 0x80 } else { 0 } | PAYLOAD_TYPE);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for p in parts {
            out.extend_from_slice(p);
        }
        self.seq = self.seq.wrapping_add(1);
    }

    /// The interleaved packets of one access unit (its NAL units in order), appended to `out`.
    pub fn access_unit(&mut self, out: &mut Vec<u8>, timestamp: u32, nals: &[Vec<u8>]) {
        for (i, nal) in nals.iter().enumerate() {
            let last_nal = i + 1 == nals.len();
            let Some((&header, body)) = nal.split_first() else {
                continue;
            };
            if nal.len() <= MAX_PAYLOAD {
                self.packet(out, timestamp, last_nal, &[nal]);
                continue;
            }
            let indicator = (header & 0xE0) | FU_A;
            let kind = header & 0x1F;
            let chunks = body.chunks(MAX_PAYLOAD - 2);
            let count = chunks.len();
            for (n, chunk) in chunks.enumerate() {
                let start = if n == 0 { 0x80 } else { 0 };
                let end = if n + 1 == count { 0x40 } else { 0 };
                let fu = [indicator, start | end | kind];
                self.packet(out, timestamp, last_nal && n + 1 == count, &[&fu, chunk]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits interleaved bytes back into (channel, RTP packet) pairs.
    fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], b'$');
            let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            out.push((bytes[1], bytes[4..4 + len].to_vec()));
            bytes = &bytes[4 + len..];
        }
        out
    }

    #[test]
    fn small_nals_travel_whole_and_large_ones_as_fu_a() {
        let mut p = Packetizer {
            ssrc: 0x0102_0304,
            seq: u16::MAX,
            channel: 0,
        };
        let sps = vec![0x67, 1, 2, 3];
        let big: Vec<u8> = std::iter::once(0x65)
            .chain((0..3000u32).map(|i| (i % 251) as u8))
            .collect();
        let mut out = Vec::new();
        p.access_unit(&mut out, 90_000, &[sps.clone(), big.clone()]);
        let packets = frames(&out);
        assert_eq!(packets.len(), 1 + 3, "SPS, then 2999 bytes in 3 fragments");
        let seqs: Vec<u16> = packets
            .iter()
            .map(|(_, r)| u16::from_be_bytes([r[2], r[3]]))
            .collect();
        assert_eq!(seqs, vec![u16::MAX, 0, 1, 2], "sequence numbers wrap");
        for (channel, rtp) in &packets {
            assert_eq!(*channel, 0);
            assert_eq!(rtp[0], 0x80);
            assert_eq!(rtp[1] & 0x7F, PAYLOAD_TYPE);
            assert_eq!(&rtp[4..8], &90_000u32.to_be_bytes());
            assert_eq!(&rtp[8..12], &[1, 2, 3, 4]);
            assert!(rtp.len() - 12 <= MAX_PAYLOAD);
        }
        let markers: Vec<bool> = packets.iter().map(|(_, r)| r[1] & 0x80 != 0).collect();
        assert_eq!(markers, vec![false, false, false, true]);
        assert_eq!(&packets[0].1[12..], &sps[..]);
        // Reassemble the fragments: S on the first, E on the last, the NAL header rebuilt.
        let mut nal = Vec::new();
        for (i, (_, rtp)) in packets[1..].iter().enumerate() {
            let (ind, fu) = (rtp[12], rtp[13]);
            assert_eq!(ind, 0x60 | FU_A, "F=0, NRI=3, type 28");
            assert_eq!(fu & 0x1F, 5);
            assert_eq!(fu & 0x80 != 0, i == 0);
            assert_eq!(fu & 0x40 != 0, i == 2);
            if i == 0 {
                nal.push((ind & 0xE0) | (fu & 0x1F));
            }
            nal.extend_from_slice(&rtp[14..]);
        }
        assert_eq!(nal, big);
    }
}
