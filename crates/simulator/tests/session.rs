//! The server's client (`pw_bambu::session`) against simulated printers over real TLS sockets:
//! first-use pinning, a rotated certificate refused before the access code is sent (the
//! printer records every CONNECT: none arrives), approval by pinning the new fingerprint, a
//! wrong access code, and commands driving a job through its states.
#![expect(clippy::unwrap_used, reason = "test helpers fail fast with the cause")]

use std::sync::Arc;
use std::time::Duration;

use pw_bambu::command::{Command, ProjectFile};
use pw_bambu::report::{Frame, GcodeState, Report};
use pw_bambu::session::{Endpoint, Session, SessionError};
use pw_bambu::trust::{Fingerprint, PrinterVerifier, Refused};
use pw_credentials::SecretString;
use pw_simulator::{Farm, Model, Options, Printer};

async fn farm(models: Vec<Model>) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(models.len(), dir.path());
    options.models = models;
    options.interval = Duration::from_millis(50);
    options.behaviour.job_seconds = 2.0;
    options.behaviour.prepare_seconds = 0.2;
    (Farm::start(options).await.unwrap(), dir)
}

fn endpoint(p: &Printer) -> Endpoint {
    Endpoint {
        host: p.info.host.clone(),
        port: p.info.mqtt_port,
        serial: p.info.serial.clone(),
        access_code: SecretString::new(p.info.access_code.clone()),
    }
}

/// Reads reports until `done` says the merged state is as wanted.
async fn until(session: &mut Session, report: &mut Report, done: impl Fn(&Report) -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let payload = session.reader.recv().await.unwrap();
            report.apply(&payload).unwrap();
            if done(report) {
                return;
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_rotated_certificate_is_refused_before_the_access_code_is_sent() {
    let (farm, _dir) = farm(vec![Model::P1S]).await;
    let printer = &farm.printers[0];
    let ep = endpoint(printer);

    // First use: CN = serial is checked, the presented certificate is what we pin.
    let first = PrinterVerifier::new(&ep.serial, None, None);
    let mut session = Session::connect(&ep, &first, "printwarden-test")
        .await
        .unwrap();
    let pin = session.fingerprint;
    let mut report = Report::new();
    until(&mut session, &mut report, |r| {
        r.status().gcode_state == GcodeState::Idle
    })
    .await;
    assert_eq!(printer.connects().len(), 1);
    assert!(printer.connects()[0].accepted);

    // The same certificate again, pinned: fine.
    let pinned = PrinterVerifier::new(&ep.serial, Some(pin), None);
    Session::connect(&ep, &pinned, "printwarden-test")
        .await
        .unwrap();
    assert_eq!(printer.connects().len(), 2);

    // The printer (or an impostor) now presents another certificate.
    printer.rotate_certificate().unwrap();
    let refused = Session::connect(&ep, &pinned, "printwarden-test")
        .await
        .unwrap_err();
    let SessionError::Certificate(Refused::Changed {
        pinned: old,
        presented,
    }) = refused
    else {
        panic!("expected a changed certificate, got {refused:?}");
    };
    assert_eq!(old, pin.to_hex());
    assert_ne!(presented, pin.to_hex());
    assert_eq!(
        printer.connects().len(),
        2,
        "no CONNECT (and so no access code) reached the printer"
    );

    // An administrator approves the presented fingerprint: the connection resumes.
    let approved = PrinterVerifier::new(&ep.serial, Fingerprint::parse(&presented), None);
    let session = Session::connect(&ep, &approved, "printwarden-test")
        .await
        .unwrap();
    assert_eq!(session.fingerprint.to_hex(), presented);
    assert_eq!(printer.connects().len(), 3);
}

#[tokio::test]
async fn a_certificate_for_another_serial_and_a_wrong_access_code_are_refused() {
    let (farm, _dir) = farm(vec![Model::X1C, Model::A1]).await;
    let (a, b) = (&farm.printers[0], &farm.printers[1]);
    // Printer b answers on a's address: its certificate names another serial.
    let mut ep = endpoint(a);
    ep.port = b.info.mqtt_port;
    let err = Session::connect(&ep, &PrinterVerifier::new(&ep.serial, None, None), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SessionError::Certificate(Refused::WrongSerial { .. })),
        "{err:?}"
    );
    assert!(b.connects().is_empty());

    let mut wrong = endpoint(a);
    wrong.access_code = SecretString::new("00000000".into());
    let err = Session::connect(
        &wrong,
        &PrinterVerifier::new(&wrong.serial, None, None),
        "t",
    )
    .await
    .unwrap_err();
    assert_eq!(err, SessionError::BadAccessCode);
    assert_eq!(a.connects().len(), 1);
    assert!(!a.connects()[0].accepted);
}

#[tokio::test]
async fn commands_drive_a_job_and_developer_mode_off_is_reported() {
    let (farm, _dir) = farm(vec![Model::P1S]).await;
    let printer = &farm.printers[0];
    let ep = endpoint(printer);
    let verifier = PrinterVerifier::new(&ep.serial, None, None);
    let mut session = Session::connect(&ep, &verifier, "t").await.unwrap();
    let mut report = Report::new();
    until(&mut session, &mut report, |r| {
        r.status().gcode_state == GcodeState::Idle
    })
    .await;

    printer.put_file("cube.gcode.3mf", Vec::new());
    let start = Command::ProjectFile(ProjectFile {
        file: "cube.gcode.3mf".into(),
        plate: 1,
        subtask_name: "cube".into(),
        task_id: 77,
        ams_mapping: vec![0],
        timelapse: false,
        bed_leveling: false,
        flow_cali: false,
        vibration_cali: false,
        layer_inspect: false,
    });
    let seq = session.writer.send(&start).await.unwrap();
    // The reply echoes our sequence id.
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let payload = session.reader.recv().await.unwrap();
            if let Frame::Reply(r) = report.apply(&payload).unwrap()
                && r.command == "project_file"
            {
                assert_eq!(r.sequence_id, Some(seq.to_string()));
                assert!(r.succeeded(), "{r:?}");
                return;
            }
        }
    })
    .await
    .unwrap();
    until(&mut session, &mut report, |r| {
        r.status().gcode_state == GcodeState::Running
    })
    .await;
    session.writer.send(&Command::Pause).await.unwrap();
    until(&mut session, &mut report, |r| {
        r.status().gcode_state == GcodeState::Pause
    })
    .await;
    session.writer.send(&Command::Resume).await.unwrap();
    until(&mut session, &mut report, |r| {
        r.status().gcode_state == GcodeState::Finish
    })
    .await;
    assert_eq!(report.status().percent, Some(100));
    assert_eq!(report.status().subtask_name.as_deref(), Some("cube"));

    printer.set_behaviour(|b| b.developer_mode = false);
    session.writer.send(&Command::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let payload = session.reader.recv().await.unwrap();
            if let Frame::Reply(r) = report.apply(&payload).unwrap() {
                assert!(r.verify_failed(), "{r:?}");
                return;
            }
        }
    })
    .await
    .unwrap();
    // A P1S sends no `fun`: the refused command's HMS latch is what the reports show.
    until(&mut session, &mut report, |r| {
        r.status()
            .hms
            .iter()
            .any(pw_bambu::report::Hms::is_verify_failed)
    })
    .await;
    assert_eq!(report.status().developer_mode, None, "no fun on a P1S");
    let _ = Arc::clone(&verifier);
}

#[tokio::test]
async fn dropped_connections_end_the_session_and_certificates_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::new(1, dir.path());
    let farm = Farm::start(options.clone()).await.unwrap();
    let printer = &farm.printers[0];
    let ep = endpoint(printer);
    let mut session = Session::connect(&ep, &PrinterVerifier::new(&ep.serial, None, None), "t")
        .await
        .unwrap();
    let pin = session.fingerprint;
    printer.drop_connections();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Err(e) = session.reader.recv().await {
                return e;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(end, SessionError::Closed);
    let code = printer.info.access_code.clone();
    drop(farm);

    // A restart keeps serial, access code and certificate; --rotate-certs changes the latter.
    let again = Farm::start(options.clone()).await.unwrap();
    assert_eq!(again.printers[0].info.access_code, code);
    let ep = endpoint(&again.printers[0]);
    Session::connect(&ep, &PrinterVerifier::new(&ep.serial, Some(pin), None), "t")
        .await
        .unwrap();
    drop(again);
    let rotated = Farm::start(Options {
        rotate_certs: true,
        ..options
    })
    .await
    .unwrap();
    let ep = endpoint(&rotated.printers[0]);
    let err = Session::connect(&ep, &PrinterVerifier::new(&ep.serial, Some(pin), None), "t")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SessionError::Certificate(Refused::Changed { .. })
    ));
}

#[tokio::test]
async fn ftps_uploads_resume_the_tls_session_and_refuse_a_changed_certificate() {
    let (farm, _dir) = farm(vec![Model::P1S]).await;
    let printer = &farm.printers[0];
    let ep = endpoint(printer);
    let verifier = PrinterVerifier::new(&ep.serial, None, None);
    let mut ftps = pw_bambu::ftps::Ftps::connect(
        &ep.host,
        printer.info.ftps_port,
        &ep.serial,
        &ep.access_code,
        &verifier,
    )
    .await
    .unwrap();
    let pin = verifier.seen().presented.unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut reported = 0;
    let size = ftps
        .upload("cube.gcode.3mf", &content[..], |n| reported = n)
        .await
        .unwrap();
    assert_eq!((size, reported), (200_000, 200_000));
    assert_eq!(printer.file("cube.gcode.3mf").unwrap(), content);
    assert_eq!(ftps.size("nope.3mf").await.unwrap(), None);
    ftps.quit().await;

    // A wrong access code and a changed certificate are refused; the latter before PASS.
    let mut wrong = ep.access_code.clone();
    wrong = SecretString::new(format!("{}x", wrong.expose()));
    let err = pw_bambu::ftps::Ftps::connect(
        &ep.host,
        printer.info.ftps_port,
        &ep.serial,
        &wrong,
        &verifier,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        pw_bambu::ftps::FtpsError::Connect(SessionError::BadAccessCode)
    );
    printer.rotate_certificate().unwrap();
    let pinned = PrinterVerifier::new(&ep.serial, Some(pin), None);
    let err = pw_bambu::ftps::Ftps::connect(
        &ep.host,
        printer.info.ftps_port,
        &ep.serial,
        &ep.access_code,
        &pinned,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            pw_bambu::ftps::FtpsError::Connect(SessionError::Certificate(Refused::Changed { .. }))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_camera_streams_jpeg_frames_after_the_auth_packet_and_closes_on_a_wrong_code() {
    let (farm, _dir) = farm(vec![Model::A1]).await;
    let printer = &farm.printers[0];
    let ep = endpoint(printer);
    let verifier = PrinterVerifier::new(&ep.serial, None, None);
    let mut camera = pw_bambu::camera::Camera::connect(
        &ep.host,
        printer.info.camera_port,
        &ep.serial,
        &ep.access_code,
        &verifier,
    )
    .await
    .unwrap();
    let a = camera.next_frame().await.unwrap();
    let b = camera.next_frame().await.unwrap();
    assert_eq!(&a[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
    assert_ne!(a, b, "frames advance");

    let wrong = SecretString::new("99999999".into());
    let mut refused = pw_bambu::camera::Camera::connect(
        &ep.host,
        printer.info.camera_port,
        &ep.serial,
        &wrong,
        &verifier,
    )
    .await
    .unwrap();
    assert_eq!(
        refused.next_frame().await.unwrap_err(),
        SessionError::Closed
    );
}
