//! The SD card and the job's identity end to end, over real sockets: FTPS uploads land on the
//! card (root and `/cache`), list, size and download there, and survive a restart; prints
//! start from the card with layers read from the plate's G-code header; a missing file fails
//! with the SD error; a print "from elsewhere" (a slicer's `project_file`) reports its own ids
//! and name; a stop ends as a cancel; a fault carries `print_error` and HMS; the control
//! socket drives all of it from outside the process.
#![expect(clippy::unwrap_used, reason = "test helpers fail fast with the cause")]

use std::io::Write;
use std::time::Duration;

use pw_bambu::command::{Command, ProjectFile};
use pw_bambu::ftps::Ftps;
use pw_bambu::report::{Frame, GcodeState, Report, Status};
use pw_bambu::session::{Endpoint, Session};
use pw_bambu::trust::PrinterVerifier;
use pw_credentials::SecretString;
use pw_simulator::{Farm, Model, Options, Printer, SlicerPrint};

async fn farm_in(dir: &std::path::Path, models: Vec<Model>, job_seconds: f64) -> Farm {
    let mut options = Options::new(models.len(), dir);
    options.models = models;
    options.interval = Duration::from_millis(50);
    options.behaviour.job_seconds = job_seconds;
    options.behaviour.prepare_seconds = 0.2;
    Farm::start(options).await.unwrap()
}

fn endpoint(p: &Printer) -> Endpoint {
    Endpoint {
        host: p.info.host.clone(),
        port: p.info.mqtt_port,
        serial: p.info.serial.clone(),
        access_code: SecretString::new(p.info.access_code.clone()),
    }
}

async fn ftps(p: &Printer) -> Ftps {
    let ep = endpoint(p);
    let verifier = PrinterVerifier::new(&ep.serial, None, None);
    Ftps::connect(
        &ep.host,
        p.info.ftps_port,
        &ep.serial,
        &ep.access_code,
        &verifier,
    )
    .await
    .unwrap()
}

async fn session(p: &Printer) -> (Session, Report) {
    let ep = endpoint(p);
    let verifier = PrinterVerifier::new(&ep.serial, None, None);
    let session = Session::connect(&ep, &verifier, "printwarden-test")
        .await
        .unwrap();
    (session, Report::new())
}

/// Reads frames until the merged state satisfies `done`; returns the replies seen on the way.
async fn until(
    session: &mut Session,
    report: &mut Report,
    done: impl Fn(&Status) -> bool,
) -> Vec<pw_bambu::report::Reply> {
    let mut replies = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let payload = session.reader.recv().await.unwrap();
            if let Frame::Reply(r) = report.apply(&payload).unwrap() {
                replies.push(r);
            }
            if done(&report.status()) {
                return;
            }
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "timed out; last status {:?}",
        report.status()
    );
    replies
}

/// A sliced `.gcode.3mf` as Bambu Studio writes one: per plate, `Metadata/plate_N.gcode` with
/// its header block (`; total layer number: N`).
fn sliced_3mf(layers: &[u32]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (i, n) in layers.iter().enumerate() {
        zip.start_file(format!("Metadata/plate_{}.gcode", i + 1), options)
            .unwrap();
        write!(
            zip,
            "; HEADER_BLOCK_START\n; BambuStudio 02.00.03.54\n; model printing time: 10m 2s; total estimated time: 12m 9s\n; total layer number: {n}\n; HEADER_BLOCK_END\nG28\n"
        )
        .unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn start(path: &str, plate: u32, task_id: u32) -> Command {
    Command::ProjectFile(ProjectFile {
        file: path.into(),
        plate,
        subtask_name: "ours".into(),
        task_id,
        ams_mapping: vec![],
        timelapse: false,
        bed_leveling: false,
        flow_cali: false,
        vibration_cali: false,
        layer_inspect: false,
    })
}

#[tokio::test]
async fn ftps_uploads_stay_on_the_sd_card_and_list_and_download_in_its_directories() {
    let dir = tempfile::tempdir().unwrap();
    let farm = farm_in(dir.path(), vec![Model::P1S], 60.0).await;
    let printer = &farm.printers[0];
    let mut client = ftps(printer).await;
    let root_file: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    client
        .upload("cube.gcode.3mf", &root_file[..], |_| {})
        .await
        .unwrap();
    client
        .upload("/cache/sliced.gcode.3mf", &sliced_3mf(&[42])[..], |_| {})
        .await
        .unwrap();
    printer.put_file("model/handle.gcode.3mf", b"put by the test handle".to_vec());

    let root = client.list().await.unwrap();
    assert_eq!(
        root,
        [("cube.gcode.3mf".to_owned(), 150_000)],
        "directories are not files"
    );
    let cache = client.list_dir("/cache").await.unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(cache[0].0, "sliced.gcode.3mf");
    let model = client.list_dir("/model/").await.unwrap();
    assert_eq!(model, [("handle.gcode.3mf".to_owned(), 22)]);
    assert_eq!(client.list_dir("/nowhere").await.unwrap(), []);
    assert_eq!(
        client.size("/cache/sliced.gcode.3mf").await.unwrap(),
        Some(cache[0].1)
    );
    assert_eq!(
        client.size("/cache/../../cube.gcode.3mf").await.unwrap(),
        Some(150_000)
    );
    assert!(
        client
            .upload("/nodir/x.3mf", &b"x"[..], |_| {})
            .await
            .is_err()
    );

    let mut download = client
        .open_download("cube.gcode.3mf", 150_000)
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = download.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    download.finish().await.unwrap();
    assert_eq!(got, root_file);
    assert_eq!(
        printer.files(),
        [
            ("cache/sliced.gcode.3mf".to_owned(), cache[0].1),
            ("cube.gcode.3mf".to_owned(), 150_000),
            ("model/handle.gcode.3mf".to_owned(), 22),
        ]
    );

    // A restart finds the card as it was, and knows what the files hold.
    drop(farm);
    let farm = farm_in(dir.path(), vec![Model::P1S], 60.0).await;
    let printer = &farm.printers[0];
    assert_eq!(printer.file("cube.gcode.3mf").unwrap(), root_file);
    let (mut s, mut report) = session(printer).await;
    until(&mut s, &mut report, |_| true).await;
    s.writer
        .send(&start("/cache/sliced.gcode.3mf", 1, 9))
        .await
        .unwrap();
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Running && st.total_layers == Some(42)
    })
    .await;
    assert!(printer.delete_file("cube.gcode.3mf"));
    assert!(printer.file("cube.gcode.3mf").is_none());
}

#[tokio::test]
async fn a_print_from_the_card_reports_its_identity_and_a_missing_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let farm = farm_in(dir.path(), vec![Model::X1C], 60.0).await;
    let printer = &farm.printers[0];
    printer.put_file("two plates.gcode.3mf", sliced_3mf(&[10, 64]));
    let (mut s, mut report) = session(printer).await;
    until(&mut s, &mut report, |_| true).await;

    s.writer
        .send(&start("two plates.gcode.3mf", 2, 555))
        .await
        .unwrap();
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Running && st.layer.is_some_and(|l| l > 0)
    })
    .await;
    let st = report.status();
    assert_eq!(
        st.gcode_file.as_deref(),
        Some("/data/Metadata/plate_2.gcode"),
        "an X1 reports the plate it unpacked"
    );
    assert_eq!(st.subtask_name.as_deref(), Some("ours"));
    assert_eq!(st.job_key(), Some("555"));
    assert_eq!(st.total_layers, Some(64), "plate 2's G-code header");
    assert!(st.gcode_start_time.is_some_and(|t| t > 1_700_000_000));
    assert!(st.remaining_minutes.is_some_and(|m| m >= 1));

    // A stop ends the job as a cancel, not a fault.
    s.writer.send(&Command::Stop).await.unwrap();
    until(&mut s, &mut report, Status::was_cancelled).await;
    assert_eq!(report.status().fault_code(), None);

    // A file that is not on the card: taken, then FAILED with the SD error and its HMS.
    s.writer
        .send(&start("gone.gcode.3mf", 1, 556))
        .await
        .unwrap();
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Failed && st.job_key() == Some("556")
    })
    .await;
    let st = report.status();
    assert_eq!(st.fault_code().as_deref(), Some("0500_C010"));
    assert_eq!(
        st.hms_faults().map(|h| h.short_code()).collect::<Vec<_>>(),
        ["0500_C010"]
    );
}

#[tokio::test]
async fn a_print_from_elsewhere_reports_the_slicers_identity_and_faults_carry_hms() {
    let dir = tempfile::tempdir().unwrap();
    let farm = farm_in(dir.path(), vec![Model::P1S], 60.0).await;
    let printer = &farm.printers[0];
    let (mut s, mut report) = session(printer).await;
    until(&mut s, &mut report, |_| true).await;

    let job = printer
        .print_from_elsewhere(&SlicerPrint {
            path: "cache/Benchy.gcode.3mf".into(),
            plate: 1,
            upload: Some(sliced_3mf(&[33])),
            ..SlicerPrint::default()
        })
        .unwrap();
    assert_eq!(job.subtask_name, "Benchy");
    assert!(job.task_id.parse::<u32>().unwrap() < 2_147_483_647);
    assert_ne!(job.task_id, job.subtask_id);
    let replies = until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Running && st.layer.is_some_and(|l| l > 0)
    })
    .await;
    assert!(
        replies
            .iter()
            .any(|r| r.command == "project_file" && r.succeeded()),
        "the slicer's command is answered on the report topic: {replies:?}"
    );
    let st = report.status();
    assert_eq!(st.subtask_name.as_deref(), Some("Benchy"));
    assert_eq!(st.gcode_file.as_deref(), Some("/cache/Benchy.gcode.3mf"));
    assert_eq!(st.task_id.as_deref(), Some(job.task_id.as_str()));
    assert_eq!(st.subtask_id.as_deref(), Some(job.subtask_id.as_str()));
    assert_eq!(st.project_id.as_deref(), Some(job.project_id.as_str()));
    assert_eq!(st.profile_id.as_deref(), Some(job.profile_id.as_str()));
    assert_eq!(st.total_layers, Some(33));
    assert_eq!(printer.job().unwrap(), job);

    // Busy: a second start is refused with the firmware's reason.
    let err = printer
        .print_from_elsewhere(&SlicerPrint {
            path: "cache/Benchy.gcode.3mf".into(),
            ..SlicerPrint::default()
        })
        .unwrap_err();
    assert_eq!(err, "device busy");

    // A fault: FAILED with the error and the HMS list, identity kept.
    assert!(printer.fail_job(0x0300_8003, &[(0x0300_0100, 0x0002_8003)]));
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Failed
    })
    .await;
    let st = report.status();
    assert_eq!(st.fault_code().as_deref(), Some("0300_8003"));
    assert_eq!(st.hms.len(), 1);
    assert_eq!(st.hms[0].id(), "0300010000028003");
    assert_eq!(st.subtask_name.as_deref(), Some("Benchy"));
    assert_eq!(st.total_layers, Some(0), "P1S resets the total at the end");
}

#[cfg(unix)]
#[tokio::test]
async fn the_control_socket_starts_a_print_from_elsewhere_and_lists_the_card() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut farm = farm_in(dir.path(), vec![Model::A1, Model::X1C], 60.0).await;
    let socket = dir.path().join("control.sock");
    farm.serve_control(&socket).unwrap();
    let x1 = farm.printers[1].clone();
    // Uploaded as a slicer does, over FTPS, then started by name.
    let mut client = ftps(&x1).await;
    client
        .upload("/model/part.gcode.3mf", &sliced_3mf(&[12])[..], |_| {})
        .await
        .unwrap();
    client.quit().await;

    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    let mut ask = async |line: String| -> serde_json::Value {
        wr.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap()
    };
    let serial = x1.info.serial.clone();
    let files = ask(format!(r#"{{"command":"files","serial":"{serial}"}}"#)).await;
    assert_eq!(files["files"][0]["path"], "model/part.gcode.3mf", "{files}");
    let started = ask(format!(
        r#"{{"command":"print_from_elsewhere","serial":"{serial}","path":"/model/part.gcode.3mf","url_style":"sdcard"}}"#
    ))
    .await;
    assert_eq!(started["ok"], true, "{started}");
    assert_eq!(started["job"]["subtask_name"], "part");
    assert_eq!(x1.job().unwrap().task_id, started["job"]["task_id"]);
    let state = ask(format!(r#"{{"command":"state","serial":"{serial}"}}"#)).await;
    assert_eq!(state["gcode_state"], "PREPARE");
    let failed = ask(format!(r#"{{"command":"fail","serial":"{serial}"}}"#)).await;
    assert_eq!(failed["ok"], true, "{failed}");
    assert_eq!(x1.gcode_state(), "FAILED");
    // The first printer by default; errors are answers, not the end of the socket.
    let missing = ask(r#"{"command":"print_from_elsewhere","path":"none.gcode.3mf"}"#.into()).await;
    assert_eq!(
        missing["ok"], true,
        "taken, then failing on the card: {missing}"
    );
    let bad = ask(r#"{"command":"explode"}"#.into()).await;
    assert_eq!(bad["ok"], false);
    let unknown = ask(r#"{"command":"files","serial":"NOPE"}"#.into()).await;
    assert_eq!(unknown["error"], "no printer NOPE");
    drop(farm);
    assert!(!socket.exists(), "the socket goes with the simulator");
}

/// The control socket's fast-forward: a long job finishes now, reported as at its natural end
/// (FINISH, 100 %, the last layer), and the start log lists every `project_file` in order.
#[cfg(unix)]
#[tokio::test]
async fn the_control_socket_finishes_the_running_job_now_and_lists_the_starts() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    // An hour-long job: only the fast-forward can end it within the test.
    let mut farm = farm_in(dir.path(), vec![Model::P1S], 3600.0).await;
    let socket = dir.path().join("control.sock");
    farm.serve_control(&socket).unwrap();
    let printer = farm.printers[0].clone();
    let (mut s, mut report) = session(&printer).await;
    until(&mut s, &mut report, |_| true).await;

    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    let mut ask = async |line: String| -> serde_json::Value {
        wr.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap()
    };
    let idle = ask(r#"{"command":"finish"}"#.into()).await;
    assert_eq!(idle["ok"], false, "nothing to finish: {idle}");
    assert_eq!(idle["error"], "no job is preparing or running");

    printer
        .print_from_elsewhere(&SlicerPrint {
            path: "cache/Long.gcode.3mf".into(),
            plate: 1,
            upload: Some(sliced_3mf(&[40])),
            ..SlicerPrint::default()
        })
        .unwrap();
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Running && st.layer.is_some_and(|l| l > 0)
    })
    .await;
    assert!(report.status().layer < Some(40));

    let serial = printer.info.serial.clone();
    let finished = ask(format!(r#"{{"command":"finish","serial":"{serial}"}}"#)).await;
    assert_eq!(finished["ok"], true, "{finished}");
    assert_eq!(printer.gcode_state(), "FINISH");
    until(&mut s, &mut report, |st| {
        st.gcode_state == GcodeState::Finish
    })
    .await;
    let st = report.status();
    assert_eq!(st.percent, Some(100));
    assert_eq!(st.layer, Some(40), "ended on the last layer");
    assert_eq!(st.subtask_name.as_deref(), Some("Long"));
    let again = ask(format!(r#"{{"command":"finish","serial":"{serial}"}}"#)).await;
    assert_eq!(
        again["ok"], false,
        "a finished job is not finished twice: {again}"
    );

    // The start log: the one accepted start, then a busy refusal is listed as not accepted.
    printer
        .print_from_elsewhere(&SlicerPrint {
            path: "cache/Long.gcode.3mf".into(),
            plate: 1,
            ..SlicerPrint::default()
        })
        .unwrap();
    let _ = printer.print_from_elsewhere(&SlicerPrint {
        path: "cache/Long.gcode.3mf".into(),
        plate: 1,
        ..SlicerPrint::default()
    });
    let starts = ask(format!(r#"{{"command":"starts","serial":"{serial}"}}"#)).await;
    assert_eq!(starts["ok"], true, "{starts}");
    let list = starts["starts"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{starts}");
    assert_eq!(list[0]["path"], "cache/Long.gcode.3mf");
    assert_eq!(list[0]["plate"], 1);
    assert_eq!(
        list.iter()
            .map(|s| s["accepted"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, true, false]
    );
    assert!(list[0]["task_id"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(list[0]["ams_mapping"].is_array());
}

/// vsftpd's commands on paths, over a raw control connection: MKD/CWD/RNFR/RNTO/MDTM/SIZE/
/// DELE/RMD, 550 for missing paths, and an upload over a clear (`PROT C`) data connection.
#[tokio::test]
async fn ftps_paths_renames_mtimes_and_a_clear_data_connection_work_like_vsftpd() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let farm = farm_in(dir.path(), vec![Model::A1], 60.0).await;
    let p = &farm.printers[0];
    let verifier = PrinterVerifier::new(&p.info.serial, None, None);
    let tcp = tokio::net::TcpStream::connect((p.info.host.as_str(), p.info.ftps_port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(p.info.serial.clone()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(verifier.client_config().unwrap())
        .connect(name, tcp)
        .await
        .unwrap();
    let (rd, mut wr) = tokio::io::split(tls);
    let mut lines = BufReader::new(rd).lines();
    let mut line = async || lines.next_line().await.unwrap().unwrap();
    assert!(line().await.starts_with("220"));
    let mut said = Vec::new();
    for (cmd, want) in [
        ("USER bblp".to_owned(), "331"),
        (format!("PASS {}", p.info.access_code), "230"),
        ("PBSZ 0".into(), "200"),
        ("PROT C".into(), "200"),
        ("MKD /model/sub".into(), "257"),
        ("CWD /model/sub".into(), "250"),
        ("CWD /nowhere".into(), "550"),
        ("SIZE /cache/none.3mf".into(), "550"),
        ("MDTM /cache/none.3mf".into(), "550"),
        ("DELE /cache/none.3mf".into(), "550"),
        ("RNFR /cache/none.3mf".into(), "550"),
        ("RNTO x".into(), "503"),
    ] {
        wr.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        let got = line().await;
        said.push(format!("{cmd} -> {got}"));
        assert!(got.starts_with(want), "{said:?}");
    }
    // An upload over a clear data connection.
    wr.write_all(b"PASV\r\n").await.unwrap();
    let pasv = line().await;
    let nums: Vec<u16> = pasv
        .rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(['.', ')'])
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let port = nums[4] * 256 + nums[5];
    wr.write_all(b"STOR up.gcode.3mf\r\n").await.unwrap();
    let mut data = tokio::net::TcpStream::connect((p.info.host.as_str(), port))
        .await
        .unwrap();
    assert!(line().await.starts_with("150"));
    data.write_all(b"hello card").await.unwrap();
    data.shutdown().await.unwrap();
    assert!(line().await.starts_with("226"));
    assert_eq!(p.file("model/sub/up.gcode.3mf").unwrap(), b"hello card");
    for (cmd, want) in [
        ("SIZE up.gcode.3mf", "213 10"),
        // A real modification time (this century), not the epoch.
        ("MDTM up.gcode.3mf", "213 20"),
        ("RNFR up.gcode.3mf", "350"),
        ("RNTO /cache/moved.gcode.3mf", "250"),
        ("SIZE /cache/moved.gcode.3mf", "213 10"),
        ("SIZE up.gcode.3mf", "550"),
        ("RMD /model/sub", "250"),
        ("DELE /cache/moved.gcode.3mf", "250"),
    ] {
        wr.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        let got = line().await;
        said.push(format!("{cmd} -> {got}"));
        assert!(got.starts_with(want), "{said:?}");
    }
    assert!(p.files().is_empty(), "{:?}", p.files());
}
