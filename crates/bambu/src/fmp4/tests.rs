//! The muxer against hand-counted box layouts, its rules (what starts a fragment, what is
//! dropped, how time runs), and arbitrary access units.

use proptest::prelude::*;

use super::*;

/// The simulator's SPS (crates/simulator/src/h264.rs: 42C01E, 20×15 macroblocks, POC type 2)
/// and PPS, as its SDP announces them.
const SPS: [u8; 8] = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x05, 0x07, 0xE4];
const PPS: [u8; 4] = [0x68, 0xCE, 0x3C, 0x80];
const AUD: [u8; 2] = [0x09, 0xF0];

fn idr(timestamp: u32, body: &[u8]) -> AccessUnit {
    let mut slice = vec![0x65];
    slice.extend_from_slice(body);
    AccessUnit {
        timestamp,
        nals: vec![AUD.to_vec(), SPS.to_vec(), PPS.to_vec(), slice],
    }
}

fn p(timestamp: u32, body: &[u8]) -> AccessUnit {
    let mut slice = vec![0x41];
    slice.extend_from_slice(body);
    AccessUnit {
        timestamp,
        nals: vec![slice],
    }
}

/// The boxes of `data` as (depth, type, size), depth first, in file order; containers are
/// opened, a box whose size does not add up fails the test.
fn layout(data: &[u8]) -> Vec<(usize, String, usize)> {
    fn walk(data: &[u8], depth: usize, out: &mut Vec<(usize, String, usize)>) {
        let mut at = 0;
        while at < data.len() {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            assert!(
                size >= 8 && at + size <= data.len(),
                "box size {size} at {at}"
            );
            let kind = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
            out.push((depth, kind.clone(), size));
            let body = &data[at + 8..at + size];
            match kind.as_str() {
                "moov" | "trak" | "mdia" | "minf" | "dinf" | "stbl" | "mvex" | "moof" | "traf" => {
                    walk(body, depth + 1, out);
                }
                // Full box header, entry count, then entries.
                "stsd" | "dref" => walk(&body[8..], depth + 1, out),
                // The visual sample entry's 78 bytes, then avcC.
                "avc1" => walk(&body[78..], depth + 1, out),
                _ => {}
            }
            at += size;
        }
    }
    let mut out = Vec::new();
    walk(data, 0, &mut out);
    out
}

fn find<'a>(data: &'a [u8], path: &[&str]) -> &'a [u8] {
    let mut data = data;
    for (i, kind) in path.iter().enumerate() {
        let mut at = 0;
        loop {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            if &data[at + 4..at + 8] == kind.as_bytes() {
                data = &data[at + 8..at + size];
                break;
            }
            at += size;
        }
        if i + 1 < path.len() {
            data = match *kind {
                "stsd" => &data[8..],
                "avc1" => &data[78..],
                _ => data,
            };
        }
    }
    data
}

fn init_of(segments: &[Segment]) -> &Init {
    segments
        .iter()
        .find_map(|s| match s {
            Segment::Init(i) => Some(i),
            Segment::Media(_) => None,
        })
        .unwrap()
}

fn media_of(segments: &[Segment]) -> Vec<&[u8]> {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Media(m) => Some(m.as_slice()),
            Segment::Init(_) => None,
        })
        .collect()
}

/// (sequence, tfdt, [(duration, size, flags)]) of a media segment.
fn fragment(media: &[u8]) -> (u32, u64, Vec<(u32, u32, u32)>) {
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let mfhd = find(media, &["moof", "mfhd"]);
    let tfdt = find(media, &["moof", "traf", "tfdt"]);
    let trun = find(media, &["moof", "traf", "trun"]);
    let count = be32(trun, 4) as usize;
    let samples = (0..count)
        .map(|i| {
            let at = 12 + 12 * i;
            (be32(trun, at), be32(trun, at + 4), be32(trun, at + 8))
        })
        .collect();
    (
        be32(mfhd, 4),
        u64::from_be_bytes(tfdt[4..12].try_into().unwrap()),
        samples,
    )
}

#[test]
fn the_init_segment_has_the_hand_counted_layout() {
    let info = sps::parse_sps(&SPS).unwrap();
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.codec(), "avc1.42C01E");
    let init = boxes::init_segment(&SPS, &PPS, &info);
    let expected: Vec<(usize, &str, usize)> = vec![
        (0, "ftyp", 32),
        (0, "moov", 614),
        (1, "mvhd", 108),
        (1, "trak", 458),
        (2, "tkhd", 92),
        (2, "mdia", 358),
        (3, "mdhd", 32),
        (3, "hdlr", 45),
        (3, "minf", 273),
        (4, "vmhd", 20),
        (4, "dinf", 36),
        (5, "dref", 28),
        (6, "url ", 12),
        (4, "stbl", 209),
        (5, "stsd", 133),
        (6, "avc1", 117),
        (7, "avcC", 31),
        (5, "stts", 16),
        (5, "stsc", 16),
        (5, "stsz", 20),
        (5, "stco", 16),
        (1, "mvex", 40),
        (2, "trex", 32),
    ];
    let got = layout(&init);
    let got: Vec<(usize, &str, usize)> = got.iter().map(|(d, k, s)| (*d, k.as_str(), *s)).collect();
    assert_eq!(got, expected);
    assert_eq!(init.len(), 32 + 614);
    // ftyp: major brand isom, minor 0x200, four compatible brands.
    assert_eq!(&init[8..16], b"isom\0\0\x02\0");
    assert_eq!(&init[16..32], b"isomiso6avc1mp41");
    // avcC: version 1, 42 C0 1E, 4-byte lengths, one SPS, one PPS.
    let avcc = find(
        &init,
        &[
            "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC",
        ],
    );
    let mut want = vec![1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 8];
    want.extend_from_slice(&SPS);
    want.extend_from_slice(&[1, 0, 4]);
    want.extend_from_slice(&PPS);
    assert_eq!(avcc, want.as_slice());
    // The sample entry's size fields and tkhd's 16.16 size.
    let avc1 = find(
        &init,
        &["moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1"],
    );
    assert_eq!(&avc1[24..28], &[0x01, 0x40, 0x00, 0xF0]);
    let tkhd = find(&init, &["moov", "trak", "tkhd"]);
    assert_eq!(&tkhd[76..84], &[0x01, 0x40, 0, 0, 0x00, 0xF0, 0, 0]);
    // mdhd: timescale 90000 (RTP's clock), language "und".
    let mdhd = find(&init, &["moov", "trak", "mdia", "mdhd"]);
    assert_eq!(&mdhd[12..16], &90_000u32.to_be_bytes());
    assert_eq!(&mdhd[20..22], &[0x55, 0xC4]);
    let hdlr = find(&init, &["moov", "trak", "mdia", "hdlr"]);
    assert_eq!(&hdlr[8..12], b"vide");
}

#[test]
fn a_media_segment_is_byte_for_byte_as_counted() {
    let samples = [boxes::Sample {
        data: vec![0, 0, 0, 2, 0x65, 0x88],
        duration: 18_000,
        sync: true,
    }];
    let got = boxes::media_segment(7, 0x1_0000_0002, &samples);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0, 0, 0, 100, b'm', b'o', b'o', b'f',
            0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7,
            0, 0, 0, 76, b't', b'r', b'a', b'f',
                0, 0, 0, 16, b't', b'f', b'h', b'd', 0, 2, 0, 0, 0, 0, 0, 1,
                0, 0, 0, 20, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
                0, 0, 0, 32, b't', b'r', b'u', b'n', 0, 0, 7, 1,
                    0, 0, 0, 1, // sample_count
                    0, 0, 0, 108, // data_offset: 100 (moof) + 8 (mdat header)
                    0, 0, 0x46, 0x50, // duration 18000
                    0, 0, 0, 6, // size
                    2, 0, 0, 0, // flags: sync
        0, 0, 0, 14, b'm', b'd', b'a', b't', 0, 0, 0, 2, 0x65, 0x88,
    ];
    assert_eq!(got, want);
    assert_eq!(media_info(&got), Some((0x1_0000_0002, true)));
    let other = boxes::media_segment(
        8,
        5,
        &[boxes::Sample {
            sync: false,
            ..samples[0].clone()
        }],
    );
    assert_eq!(media_info(&other), Some((5, false)));
    // Not a segment of this muxer, or cut short: no answer rather than a wrong one.
    assert_eq!(media_info(&got[..90]), None);
    assert_eq!(media_info(b"0000ftypisom"), None);
}

#[test]
fn pictures_become_an_init_and_fragments_with_rtp_durations() {
    let mut m = Muxer::new(1);
    // A P picture before any IDR cannot be decoded: dropped.
    assert_eq!(m.push(&p(1000, &[1])).unwrap(), vec![]);
    let first = m.push(&idr(5000, &[0x88, 0x84])).unwrap();
    assert_eq!(first.len(), 1);
    let init = init_of(&first);
    assert_eq!(init.codec, "avc1.42C01E");
    assert_eq!((init.width, init.height), (320, 240));
    // The IDR is handed out when the next picture gives it its duration.
    let second = m.push(&p(5000 + 18_000, &[0x9A])).unwrap();
    let media = media_of(&second);
    assert_eq!(media.len(), 1);
    assert_eq!(
        fragment(media[0]),
        (1, 0, vec![(18_000, 4 + 3, boxes::SYNC)])
    );
    // SPS, PPS and the delimiter are not in the sample: only the slice, length-prefixed.
    assert_eq!(find(media[0], &["mdat"]), &[0, 0, 0, 3, 0x65, 0x88, 0x84]);
    let third = m.push(&p(5000 + 36_000, &[0x9B])).unwrap();
    assert_eq!(
        fragment(media_of(&third)[0]),
        (2, 18_000, vec![(18_000, 6, boxes::NON_SYNC)])
    );
    // The last one lasts as long as the one before.
    let last = m.finish();
    assert_eq!(
        fragment(media_of(&last)[0]),
        (3, 36_000, vec![(18_000, 6, boxes::NON_SYNC)])
    );
    assert!(m.finish().is_empty());
}

#[test]
fn groups_end_at_the_cap_and_before_each_idr() {
    let mut m = Muxer::new(3);
    let mut out = Vec::new();
    let mut t = u32::MAX - 20_000; // the RTP clock wraps inside the stream
    for i in 0..8 {
        let unit = if i == 5 {
            idr(t, &[i])
        } else if i == 0 {
            idr(t, &[0])
        } else {
            p(t, &[i])
        };
        out.extend(m.push(&unit).unwrap());
        t = t.wrapping_add(3000);
    }
    out.extend(m.finish());
    let frags: Vec<_> = media_of(&out).into_iter().map(fragment).collect();
    let shape: Vec<(u32, u64, usize)> = frags.iter().map(|(s, d, v)| (*s, *d, v.len())).collect();
    // [IDR P P] [P P] [IDR P P]: the second fragment ends early at the IDR.
    assert_eq!(shape, vec![(1, 0, 3), (2, 9000, 2), (3, 15_000, 3)]);
    assert!(frags.iter().flat_map(|f| &f.2).all(|s| s.0 == 3000));
    assert_eq!(frags[2].2[0].2, boxes::SYNC);
    // The init segment came once: the parameter sets did not change.
    assert_eq!(
        out.iter().filter(|s| matches!(s, Segment::Init(_))).count(),
        1
    );
}

#[test]
fn new_parameter_sets_bring_a_new_init_after_the_old_fragment() {
    let mut m = Muxer::new(1);
    m.push(&idr(0, &[1])).unwrap();
    m.push(&p(3000, &[2])).unwrap();
    // 640×480 from here on, at the next IDR.
    let sps2 = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xF6, 0x40];
    let info = sps::parse_sps(&sps2).unwrap();
    assert_eq!((info.width, info.height), (640, 480));
    let unit = AccessUnit {
        timestamp: 6000,
        nals: vec![sps2.to_vec(), PPS.to_vec(), vec![0x65, 3]],
    };
    let out = m.push(&unit).unwrap();
    assert!(
        matches!(&out[..], [Segment::Media(_), Segment::Init(_)]),
        "{out:?}"
    );
    assert_eq!(fragment(media_of(&out)[0]).0, 2);
    assert_eq!((init_of(&out).width, init_of(&out).height), (640, 480));
    // Time and sequence numbers carry on across the new init segment.
    let out = m.finish();
    assert_eq!(fragment(media_of(&out)[0]).0, 3);
    assert_eq!(fragment(media_of(&out)[0]).1, 6000);
    // The same parameter sets again: no init segment.
    let mut m = Muxer::new(1);
    m.parameter_sets(&[SPS.to_vec(), PPS.to_vec()]).unwrap();
    let out = m.push(&idr(0, &[1])).unwrap();
    assert_eq!(out.len(), 1);
    let out = m.push(&idr(3000, &[1])).unwrap();
    assert!(matches!(&out[..], [Segment::Media(_)]), "{out:?}");
}

#[test]
fn out_of_band_parameter_sets_describe_a_stream_without_in_band_ones() {
    let mut m = Muxer::new(1);
    assert!(
        m.push(&AccessUnit {
            timestamp: 0,
            nals: vec![vec![0x65, 1]]
        })
        .unwrap()
        .is_empty()
    );
    m.parameter_sets(&[SPS.to_vec(), PPS.to_vec()]).unwrap();
    let out = m
        .push(&AccessUnit {
            timestamp: 0,
            nals: vec![vec![0x65, 1]],
        })
        .unwrap();
    assert_eq!(init_of(&out).codec, "avc1.42C01E");
    assert_eq!(
        m.parameter_sets(&[vec![0x67, 1, 2]]),
        Err(Fmp4Error::BadSps),
        "a broken SPS is refused"
    );
}

#[test]
fn a_refused_picture_holds_everything_until_the_next_idr() {
    let mut m = Muxer::new(1);
    m.push(&idr(0, &[1])).unwrap();
    let huge = AccessUnit {
        timestamp: 3000,
        nals: vec![vec![0x41; MAX_SAMPLE]],
    };
    assert_eq!(m.push(&huge), Err(Fmp4Error::TooLarge));
    // The P picture after it references it: dropped.
    assert!(m.push(&p(6000, &[2])).unwrap().is_empty());
    // The IDR settles the held picture's duration (it lasted until now) and starts afresh.
    let out = m.push(&idr(9000, &[3])).unwrap();
    assert_eq!(
        fragment(media_of(&out)[0]),
        (1, 0, vec![(9000, 6, boxes::SYNC)])
    );
    let out = m.finish();
    assert_eq!(fragment(media_of(&out)[0]).1, 9000);
    // An SPS out of bounds in-band is refused the same way.
    let mut m = Muxer::new(1);
    let unit = AccessUnit {
        timestamp: 0,
        nals: vec![
            vec![0x67; MAX_PARAMETER_SET + 1],
            PPS.to_vec(),
            vec![0x65, 1],
        ],
    };
    assert_eq!(m.push(&unit), Err(Fmp4Error::TooLarge));
}

#[test]
fn timestamps_that_stand_still_or_jump_keep_time_going() {
    let mut m = Muxer::new(1);
    let mut out = Vec::new();
    for t in [90_000u32, 93_000, 93_000, 0, 1_000_000_000, 1_000_003_000] {
        out.extend(m.push(&idr(t, &[1])).unwrap());
    }
    out.extend(m.finish());
    let times: Vec<(u64, u32)> = media_of(&out)
        .into_iter()
        .map(fragment)
        .map(|(_, d, s)| (d, s[0].0))
        .collect();
    assert_eq!(
        times,
        vec![
            (0, 3000),
            (3000, 3000),
            (6000, 3000),
            (9000, 3000),
            (12_000, 3000),
            (15_000, 3000)
        ]
    );
}

proptest! {
    #[test]
    fn arbitrary_access_units_never_panic_and_stay_well_formed(
        units in proptest::collection::vec(
            (
                any::<u32>(),
                proptest::collection::vec(
                    prop_oneof![
                        Just(SPS.to_vec()),
                        Just(PPS.to_vec()),
                        proptest::collection::vec(any::<u8>(), 0..40),
                        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut v| {
                            v.insert(0, 0x65);
                            v
                        }),
                        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut v| {
                            v.insert(0, 0x67);
                            v
                        }),
                    ],
                    0..6,
                ),
            ),
            0..30,
        ),
        group in 0usize..5,
    ) {
        let mut m = Muxer::new(group);
        let mut out = Vec::new();
        for (timestamp, nals) in units {
            if let Ok(segments) = m.push(&AccessUnit { timestamp, nals }) {
                out.extend(segments);
            }
        }
        out.extend(m.finish());
        let mut sequence = 0;
        let mut time = 0;
        let mut described = false;
        for segment in &out {
            match segment {
                Segment::Init(init) => {
                    layout(&init.bytes);
                    prop_assert!(init.width >= 16 && init.height >= 16);
                    described = true;
                }
                Segment::Media(media) => {
                    prop_assert!(described, "a fragment before any init segment");
                    let boxes = layout(media);
                    let moof = boxes[0].2;
                    let (seq, tfdt, samples) = fragment(media);
                    prop_assert_eq!(seq, sequence + 1);
                    prop_assert!(tfdt >= time);
                    prop_assert!(!samples.is_empty() && samples.len() <= group.max(1));
                    let sizes: u32 = samples.iter().map(|s| s.1).sum();
                    prop_assert_eq!(media.len(), moof + 8 + sizes as usize);
                    sequence = seq;
                    time = tfdt + samples.iter().map(|s| u64::from(s.0)).sum::<u64>();
                }
            }
        }
    }
}

#[test]
fn parameter_sets_are_kept_per_kind_as_a_decoder_keeps_them() {
    // An SPS with no PPS yet describes nothing.
    let mut m = Muxer::new(1);
    let unit = AccessUnit {
        timestamp: 0,
        nals: vec![SPS.to_vec(), vec![0x65, 1]],
    };
    assert!(m.push(&unit).unwrap().is_empty());
    // The PPS comes: this IDR is described with both.
    let unit = AccessUnit {
        timestamp: 3000,
        nals: vec![PPS.to_vec(), vec![0x65, 2]],
    };
    assert_eq!(init_of(&m.push(&unit).unwrap()).width, 320);
    // A new SPS alone goes with the PPS the decoder already has.
    let sps2 = vec![0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xF6, 0x40];
    let out = m
        .push(&AccessUnit {
            timestamp: 6000,
            nals: vec![sps2, vec![0x65, 3]],
        })
        .unwrap();
    assert!(
        matches!(&out[..], [Segment::Media(_), Segment::Init(_)]),
        "{out:?}"
    );
    assert_eq!(init_of(&out).width, 640);
    let avcc = find(
        &init_of(&out).bytes,
        &[
            "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC",
        ],
    );
    assert!(avcc.ends_with(&PPS));
}
