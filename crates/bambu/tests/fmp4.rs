//! The fragmented-MP4 muxer checked by an independent reader: the product's RTSP client and
//! depacketizer play the simulated X1C's RTSPS camera, `pw_bambu::fmp4` remuxes ten pictures,
//! and Debian's ffprobe and ffmpeg (another MP4 demuxer and H.264 decoder) read the file: codec,
//! size, frame count, timestamps and keyframes as muxed, and every decoded picture identical to
//! decoding the same pictures as a raw H.264 stream (the remux loses nothing).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail fast with the cause"
)]

use std::path::Path;
use std::time::Duration;

use pw_bambu::fmp4::{Muxer, Segment};
use pw_bambu::rtp::AccessUnit;
use pw_bambu::trust::PrinterVerifier;
use pw_simulator::{Farm, Model, Options};
use tokio::net::TcpStream;

/// Whether the Debian tools are here; under CI they must be (the check may not silently pass).
fn have_ffmpeg() -> bool {
    let found = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffprobe/ffmpeg are not installed (apt-get install ffmpeg); CI must run this check"
        );
        eprintln!("SKIPPED: ffprobe is not installed (apt-get install ffmpeg)");
    }
    found
}

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish"))
        .unwrap()
}

/// Ten pictures from the simulated X1C's camera through `pw_bambu::rtsp`, and the SDP's
/// parameter sets.
async fn ten_pictures(dir: &Path) -> (Vec<AccessUnit>, pw_bambu::rtsp::Track) {
    let mut options = Options::new(1, dir);
    options.models = vec![Model::X1C];
    let farm = Farm::start(options).await.unwrap();
    let p = &farm.printers[0];
    let tcp = TcpStream::connect((p.info.host.as_str(), p.info.camera_port))
        .await
        .unwrap();
    let verifier = PrinterVerifier::new(&p.info.serial, None, None);
    let connector = tokio_rustls::TlsConnector::from(verifier.client_config().unwrap());
    let name = rustls::pki_types::ServerName::try_from(p.info.serial.clone()).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!(
        "rtsps://{}:{}/streaming/live/1",
        p.info.host, p.info.camera_port
    );
    let code = pw_credentials::SecretString::new(p.info.access_code.clone());
    let (mut client, track) = pw_bambu::rtsp::RtspClient::start(tls, &url, &code)
        .await
        .unwrap();
    let mut units = Vec::new();
    for _ in 0..10 {
        units.push(client.next_picture().await.unwrap());
    }
    client.stop().await;
    (units, track)
}

/// The pictures muxed `group` at a time into one file: init segment, then media segments.
fn mux(units: &[AccessUnit], group: usize, path: &Path) -> (String, usize) {
    let mut muxer = Muxer::new(group);
    let mut segments = Vec::new();
    for unit in units {
        segments.extend(muxer.push(unit).unwrap());
    }
    segments.extend(muxer.finish());
    let mut file = Vec::new();
    let mut codec = String::new();
    let mut fragments = 0;
    for segment in segments {
        match segment {
            Segment::Init(init) => {
                assert_eq!((init.width, init.height), (320, 240));
                codec = init.codec;
                file.extend(init.bytes);
            }
            Segment::Media(media) => {
                fragments += 1;
                file.extend(media);
            }
        }
    }
    std::fs::write(path, file).unwrap();
    (codec, fragments)
}

/// The MD5 of each picture ffmpeg decodes from `path`; ffmpeg must say nothing at `error`.
async fn decoded(path: &Path) -> Vec<String> {
    let out = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "framemd5",
            "-",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed on {path:?}: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "ffmpeg complained about {path:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5))
        .map(|h| h.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_and_ffmpeg_read_the_remuxed_x1c_camera() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (units, track) = ten_pictures(dir.path()).await;
    assert!(units[0].is_keyframe());

    // The same pictures as a raw Annex B stream: what the file must decode to.
    let raw = dir.path().join("camera.h264");
    let mut annex_b = Vec::new();
    for nal in units.iter().flat_map(|u| &u.nals) {
        annex_b.extend_from_slice(&[0, 0, 0, 1]);
        annex_b.extend_from_slice(nal);
    }
    std::fs::write(&raw, annex_b).unwrap();
    let reference = decoded(&raw).await;
    assert_eq!(reference.len(), 10);

    for (group, fragments) in [(1, 10), (4, 3)] {
        let path = dir.path().join(format!("camera-{group}.mp4"));
        let (codec, count) = mux(&units, group, &path);
        assert_eq!(
            Some(codec.trim_start_matches("avc1.")),
            track.profile_level_id.as_deref(),
            "the codec string is the SDP's profile-level-id"
        );
        // Groups of 4 end early at a periodic IDR (every 10 pictures), if one came.
        let idrs_after_first = units[1..].iter().filter(|u| u.is_keyframe()).count();
        if group == 1 || idrs_after_first == 0 {
            assert_eq!(count, fragments);
        }
        let file = path.to_str().unwrap();

        let probe = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "format=format_name:stream=codec_name,profile,width,height,nb_read_frames,duration",
                "-of",
                "default=noprint_wrappers=1",
                file,
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&probe.stdout);
        let stderr = String::from_utf8_lossy(&probe.stderr);
        assert!(probe.status.success(), "ffprobe failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
        for want in [
            "codec_name=h264",
            "profile=Constrained Baseline",
            "width=320",
            "height=240",
            "nb_read_frames=10",
            "format_name=mov,mp4,m4a,3gp,3g2,mj2",
            // Ten pictures of 1/5 s: the sample durations add up (the last one lasts as long
            // as the one before).
            "duration=2.000000",
        ] {
            assert!(stdout.lines().any(|l| l == want), "{want} not in {stdout}");
        }

        // Packets: decode and presentation times from the RTP clock (90 kHz, 5 pictures a
        // second, from 0), and exactly the IDRs marked as keyframes. (ffprobe leaves a
        // fragment's packet durations N/A for an SPS without timing info, ffmpeg's own
        // fragmented remux of these pictures too: the stream duration above checks them.)
        let packets = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts,dts,flags",
                "-of",
                "csv=p=0",
                file,
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&packets.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 10, "{stdout}");
        let step = 90_000 / pw_simulator::rtsp::FPS;
        for (i, (line, unit)) in lines.iter().zip(&units).enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            let at = (u32::try_from(i).unwrap() * step).to_string();
            assert_eq!(fields[0], at, "pts of packet {i}: {stdout}");
            assert_eq!(fields[1], at, "dts of packet {i}: {stdout}");
            assert_eq!(
                fields[2].starts_with('K'),
                unit.is_keyframe(),
                "keyframe flag of packet {i}: {stdout}"
            );
        }

        // Decoded without a message, picture for picture the same as the raw stream.
        assert_eq!(decoded(&path).await, reference, "group {group}");
    }
}
