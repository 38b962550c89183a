//! X1/H2 cameras (issue 17): the simulated X1C's RTSPS H.264 reaches browsers through the same
//! authenticated camera WebSocket as A1/P1 JPEG pictures, remuxed to fragmented MP4 — a
//! description, an init segment, then fragments from an IDR with rising decode times — from
//! one upstream per printer whatever the number of viewers, closed after the last leaves; a
//! viewer without `camera:view` is refused, a revoked one cut, the MJPEG route refuses video,
//! a printer whose certificate changed never streams, and ffprobe reads what a viewer got.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::Socket;

/// What the socket said next.
#[derive(Debug)]
enum Said {
    Text(Value),
    Binary(Vec<u8>),
    Closed(Option<CloseCode>),
}

impl Said {
    fn text(self) -> Option<Value> {
        if let Self::Text(v) = self {
            Some(v)
        } else {
            None
        }
    }

    fn binary(self) -> Option<Vec<u8>> {
        if let Self::Binary(b) = self {
            Some(b)
        } else {
            None
        }
    }
}

async fn said(socket: &mut Socket) -> Said {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Text(t))) => return Said::Text(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Binary(b))) => return Said::Binary(b.to_vec()),
            Some(Ok(Message::Close(frame))) => return Said::Closed(frame.map(|f| f.code)),
            Some(Ok(_)) => {}
            _ => return Said::Closed(None),
        }
    }
}

fn kind(segment: &[u8]) -> &[u8] {
    segment.get(4..8).unwrap_or_default()
}

/// A viewer's start: the description, the init segment, then `fragments` media fragments
/// (the first an IDR, decode times rising). Returns the codec and the bytes as one file.
async fn watch(socket: &mut Socket, fragments: usize) -> (String, Vec<u8>) {
    let describe = said(socket)
        .await
        .text()
        .expect("the stream starts with its description");
    assert_eq!(describe["kind"], "fmp4", "{describe}");
    let codec = describe["codec"].as_str().unwrap().to_owned();
    assert!(codec.starts_with("avc1."), "{codec}");
    assert_eq!(
        describe["mime"],
        format!("video/mp4; codecs=\"{codec}\""),
        "{describe}"
    );
    assert_eq!(
        (describe["width"].as_u64(), describe["height"].as_u64()),
        (Some(320), Some(240))
    );
    let init = said(socket)
        .await
        .binary()
        .expect("the init segment follows its description");
    assert_eq!(kind(&init), b"ftyp");
    assert!(init.windows(4).any(|w| w == b"moov"), "no moov");
    let mut file = init;
    let mut last: Option<u64> = None;
    for i in 0..fragments {
        let media = said(socket).await.binary().expect("media fragments follow");
        assert_eq!(kind(&media), b"moof");
        assert!(media.windows(4).any(|w| w == b"mdat"), "no mdat");
        let (decode, keyframe) = pw_bambu::fmp4::media_info(&media).expect("a fragment");
        if i == 0 {
            assert!(keyframe, "a viewer starts at an IDR");
        }
        if let Some(last) = last {
            assert!(decode > last, "decode times rise: {last} then {decode}");
        }
        last = Some(decode);
        file.extend_from_slice(&media);
    }
    (codec, file)
}

struct Setup {
    server: TestServer,
    admin: Auth,
    id: i64,
    farm: Farm,
    _dir: tempfile::TempDir,
}

/// One simulated X1C, added and online.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(1, dir.path());
    options.models = vec![Model::X1C];
    options.interval = Duration::from_millis(200);
    let farm = Farm::start(options).await.unwrap();
    let p = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": "X1 Carbon", "serial": p.info.serial, "host": p.info.host,
                        "mqtt_port": p.info.mqtt_port, "camera_port": p.info.camera_port,
                        "ftps_port": p.info.ftps_port, "model": "X1C",
                        "access_code": p.info.access_code}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let id = created.json["id"].as_i64().unwrap();
    let mut online = false;
    for _ in 0..200 {
        let v = server
            .call(&admin, "GET", &format!("/api/v1/printers/{id}"), None)
            .await;
        if v.json["connection"] == "online" {
            online = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(online, "the X1C came online");
    Setup {
        server,
        admin,
        id,
        farm,
        _dir: dir,
    }
}

fn cookie(a: &Auth) -> Option<&str> {
    match a {
        Auth::Cookie(c) => Some(c),
        _ => None,
    }
}

/// Waits until the simulator counts `playing` RTSPS clients (bounded: 20 s).
async fn playing(farm: &Farm, want: usize) -> (usize, usize) {
    let mut now = farm.printers[0].camera_sessions();
    for _ in 0..200 {
        if now.0 == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = farm.printers[0].camera_sessions();
    }
    now
}

/// Whether Debian's ffprobe is here (as crates/bambu/tests/fmp4.rs asks); under CI it must be.
fn have_ffprobe() -> bool {
    let found = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffprobe is not installed (apt-get install ffmpeg); CI must run this check"
        );
        eprintln!("SKIPPED: ffprobe is not installed (apt-get install ffmpeg)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x1c_video_reaches_authorised_viewers_as_fmp4_from_one_upstream() {
    let setup = setup().await;
    let (server, admin, id, farm) = (&setup.server, setup.admin.clone(), setup.id, &setup.farm);
    let path = format!("/api/v1/printers/{id}/camera/ws");
    assert_eq!(
        farm.printers[0].camera_sessions(),
        (0, 0),
        "nobody watches yet"
    );

    // The card offers the camera for the X1C now.
    let view = server
        .call(&admin, "GET", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(view.json["capabilities"]["camera"], "rtsps");

    let mut first = crate::support::ws(server, &path, cookie(&admin), true)
        .await
        .unwrap();
    let (codec, file) = watch(&mut first, 8).await;
    assert_eq!(codec, "avc1.42C01E");

    // A second viewer, another user through first-message auth: the same upstream.
    server
        .create_user(&admin, "wendy", &[server.group_id(&admin, "Viewers").await])
        .await;
    let wendy = server.login("wendy", TEST_PASSWORD).await;
    let token = cookie(&wendy)
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut second = crate::support::ws(server, &path, None, true).await.unwrap();
    second
        .send(Message::Text(json!({"token": token}).to_string().into()))
        .await
        .unwrap();
    watch(&mut second, 3).await;
    assert_eq!(
        farm.printers[0].camera_sessions(),
        (1, 1),
        "two viewers, one RTSPS session at the printer"
    );

    // The MJPEG route cannot carry video: a plain refusal, not a stream that never sends.
    let mjpeg = server
        .client
        .get(server.url(&format!("/api/v1/printers/{id}/camera/stream")))
        .header("cookie", cookie(&admin).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(mjpeg.status(), 409);

    // printers:read without camera:view: refused before the upgrade, and after first-message
    // auth; nothing is streamed.
    let readers = server
        .create_group(&admin, "No camera", &["printers:read"])
        .await;
    server.create_user(&admin, "nocam", &[readers]).await;
    let nocam = server.login("nocam", TEST_PASSWORD).await;
    let refused = crate::support::ws(server, &path, cookie(&nocam), true).await;
    assert!(refused.is_err(), "the upgrade is refused");
    let nocam_token = cookie(&nocam)
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut s = crate::support::ws(server, &path, None, true).await.unwrap();
    s.send(Message::Text(
        json!({"token": nocam_token}).to_string().into(),
    ))
    .await
    .unwrap();
    assert!(matches!(
        said(&mut s).await,
        Said::Closed(Some(CloseCode::Library(4403)))
    ));

    // Revoking wendy's session (an administrator sets her password) cuts her stream; the
    // administrator's goes on.
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let wendy_id = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wendy")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{wendy_id}"),
            Some(json!({"password": "a new passphrase here"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let end = loop {
        if let Said::Closed(code) = said(&mut second).await {
            break code;
        }
    };
    assert_eq!(end, Some(CloseCode::Library(4001)));
    for _ in 0..3 {
        assert!(matches!(said(&mut first).await, Said::Binary(_)));
    }

    // What a viewer got is a stream another demuxer and decoder accept.
    if have_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("viewer.mp4");
        std::fs::write(&out, &file).unwrap();
        let probe = tokio::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
            .args([
                "-show_entries",
                "stream=codec_name,width,height,nb_read_frames",
            ])
            .args(["-of", "json"])
            .arg(&out)
            .kill_on_drop(true)
            .output();
        let probe = tokio::time::timeout(Duration::from_secs(60), probe)
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&probe.stderr);
        assert!(
            probe.status.success() && stderr.trim().is_empty(),
            "ffprobe: {stderr}"
        );
        let v: Value = serde_json::from_slice(&probe.stdout).unwrap();
        let stream = &v["streams"][0];
        assert_eq!(stream["codec_name"], "h264", "{v}");
        assert_eq!(
            (stream["width"].as_u64(), stream["height"].as_u64()),
            (Some(320), Some(240))
        );
        assert_eq!(stream["nb_read_frames"], "8", "{v}");
    }

    // The last viewer leaves: the upstream closes a few seconds later.
    drop(first);
    assert_eq!(
        playing(farm, 0).await.0,
        0,
        "the upstream outlived its viewers"
    );
    assert_eq!(farm.printers[0].camera_sessions().1, 1);
}

#[tokio::test]
async fn an_x1c_whose_certificate_changed_never_streams() {
    let setup = setup().await;
    let (server, admin, id, farm) = (&setup.server, setup.admin.clone(), setup.id, &setup.farm);
    farm.printers[0].rotate_certificate().unwrap();
    let path = format!("/api/v1/printers/{id}/camera/ws");
    let mut s = crate::support::ws(server, &path, cookie(&admin), true)
        .await
        .unwrap();
    // The pinned certificate is not the one presented: no access code is sent, nothing is
    // streamed, the socket says the camera stopped.
    let end = said(&mut s).await;
    assert!(
        matches!(end, Said::Closed(Some(CloseCode::Error))),
        "a changed printer streamed: {end:?}"
    );
    assert_eq!(farm.printers[0].camera_sessions(), (0, 0));
}
