//! Printers end to end (S10): the server connects to simulated printers over MQTT/TLS, pins
//! the first certificate, refuses a changed one without sending the access code until a user
//! with `printers:trust` approves it, carries commands with their permissions, and hides
//! printers outside a group's scope (404, absent from lists).

use std::time::Duration;

use pw_simulator::{Farm, Model, Options, Printer};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

async fn farm(models: &[Model]) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(models.len(), dir.path());
    options.models = models.to_vec();
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = 600.0;
    (Farm::start(options).await.unwrap(), dir)
}

pub(crate) async fn add(server: &TestServer, auth: &Auth, p: &Printer, extra: Value) -> i64 {
    let mut body = json!({
        "name": format!("Printer {}", p.info.serial),
        "serial": p.info.serial,
        "host": p.info.host,
        "mqtt_port": p.info.mqtt_port,
        "access_code": p.info.access_code,
        "model": p.info.model,
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let created = server
        .call(auth, "POST", "/api/v1/printers", Some(body))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    assert_eq!(created.json["has_access_code"], true);
    assert!(!created.json.to_string().contains(&p.info.access_code));
    created.json["id"].as_i64().unwrap()
}

/// Polls the printer until `check` holds (10 s at most).
pub(crate) async fn wait_for(
    server: &TestServer,
    auth: &Auth,
    id: i64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let got = server
            .call(auth, "GET", &format!("/api/v1/printers/{id}"), None)
            .await;
        if check(&got.json) {
            return got.json;
        }
        last = got.json;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        check(&last),
        "printer {id} never reached the state; last: {last}"
    );
    last
}

pub(crate) fn online(v: &Value) -> bool {
    v["connection"] == "online" && v["status"]["state"].is_string()
}

/// A server with one administrator and `sim` added (FTPS port included) and online.
pub(crate) async fn with_online(sim: &Printer) -> (TestServer, Auth, i64) {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let id = add(
        &server,
        &admin,
        sim,
        json!({"ftps_port": sim.info.ftps_port}),
    )
    .await;
    wait_for(&server, &admin, id, online).await;
    (server, admin, id)
}

#[tokio::test]
async fn a_changed_certificate_is_refused_without_the_access_code_until_approved() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let id = add(&server, &admin, sim, json!({})).await;

    let v = wait_for(&server, &admin, id, online).await;
    assert_eq!(v["status"]["state"], "IDLE");
    assert_eq!(v["certificate"], "pinned");
    let cert = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/printers/{id}/certificate"),
            None,
        )
        .await;
    let first = sim.certificate_sha256();
    assert_eq!(
        cert.json,
        json!({"state": "pinned", "pinned_sha256": first, "presented_sha256": null})
    );
    assert_eq!(sim.connects().len(), 1);

    // The printer (or an impostor on its address) presents a new certificate.
    sim.rotate_certificate().unwrap();
    sim.drop_connections();
    let v = wait_for(&server, &admin, id, |v| {
        v["connection"] == "certificate_changed"
    })
    .await;
    assert_eq!(v["certificate"], "changed");
    let second = sim.certificate_sha256();
    let cert = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/printers/{id}/certificate"),
            None,
        )
        .await;
    assert_eq!(
        cert.json,
        json!({"state": "changed", "pinned_sha256": first, "presented_sha256": second})
    );
    // It does not keep trying: a second later still no CONNECT has reached the printer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sim.connects().len(),
        1,
        "the access code was never sent to the new certificate"
    );
    let changed = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer.certificate.",
            None,
        )
        .await;
    let events: Vec<&str> = changed.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["printer.certificate.changed", "printer.certificate.pinned"]
    );

    // Approval needs printers:trust and the exact presented fingerprint.
    let operators = server.group_id(&admin, "Operators").await;
    server.create_user(&admin, "olga", &[operators]).await;
    let olga = server.login("olga", TEST_PASSWORD).await;
    let path = format!("/api/v1/printers/{id}/certificate/trust");
    let denied = server
        .call(&olga, "POST", &path, Some(json!({"sha256": second})))
        .await;
    assert_eq!(denied.status, 403);
    let wrong = server
        .call(&admin, "POST", &path, Some(json!({"sha256": first})))
        .await;
    assert_eq!(wrong.status, 409, "{:?}", wrong.json);
    let ok = server
        .call(&admin, "POST", &path, Some(json!({"sha256": second})))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    wait_for(&server, &admin, id, online).await;
    assert_eq!(sim.connects().len(), 2);
    let trusted = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer.certificate.trust",
            None,
        )
        .await;
    assert_eq!(trusted.json["items"][0]["actor"], "admin");
    assert_eq!(
        trusted.json["items"][0]["details"]["trusted"],
        second.as_str()
    );
}

pub(crate) async fn command(
    server: &TestServer,
    auth: &Auth,
    id: i64,
    body: Value,
) -> pw_testkit::Answer {
    server
        .call(
            auth,
            "POST",
            &format!("/api/v1/printers/{id}/commands"),
            Some(body),
        )
        .await
}

#[tokio::test]
async fn every_command_needs_its_permission_and_reaches_the_printer() {
    let (farm, _dir) = farm(&[Model::X1C]).await;
    let sim = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let id = add(&server, &admin, sim, json!({})).await;
    wait_for(&server, &admin, id, online).await;
    sim.start_print("benchy.gcode.3mf");
    wait_for(&server, &admin, id, |v| v["status"]["state"] == "RUNNING").await;

    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "vera", &[viewers]).await;
    let vera = server.login("vera", TEST_PASSWORD).await;
    let controls = server
        .create_group(
            &admin,
            "Controls only",
            &["printers:read", "printers:control"],
        )
        .await;
    server.create_user(&admin, "carl", &[controls]).await;
    let carl = server.login("carl", TEST_PASSWORD).await;

    // (command, permission it needs)
    let cases = [
        (json!({"command": "pause"}), "printers:control"),
        (json!({"command": "resume"}), "printers:control"),
        (json!({"command": "light", "on": false}), "printers:control"),
        (json!({"command": "speed", "level": 3}), "printers:control"),
        (
            json!({"command": "nozzle_temperature", "celsius": 215}),
            "printers:gcode",
        ),
        (
            json!({"command": "bed_temperature", "celsius": 55}),
            "printers:gcode",
        ),
        (json!({"command": "home"}), "printers:gcode"),
        (
            json!({"command": "gcode", "gcode": "M106 P1 S128"}),
            "printers:gcode",
        ),
        (
            json!({"command": "ams_load", "ams": 0, "slot": 1}),
            "printers:ams",
        ),
        (json!({"command": "ams_unload"}), "printers:ams"),
        (
            json!({"command": "ams_rfid", "ams": 0, "slot": 2}),
            "printers:ams",
        ),
        (json!({"command": "clear_plate"}), "printers:clear_plate"),
    ];
    for (body, permission) in &cases {
        let v = command(&server, &vera, id, body.clone()).await;
        assert_eq!(v.status, 403, "viewer: {body}");
        let c = command(&server, &carl, id, body.clone()).await;
        let (who, answer) = if *permission == "printers:control" {
            assert_eq!(c.status, 200, "controls-only: {body}: {:?}", c.json);
            ("carl", c)
        } else {
            assert_eq!(c.status, 403, "controls-only: {body}");
            ("admin", command(&server, &admin, id, body.clone()).await)
        };
        assert_eq!(answer.status, 200, "{who}: {body}: {:?}", answer.json);
        assert_eq!(answer.json["ok"], true, "{who}: {body}: {:?}", answer.json);
        assert_eq!(answer.json["timed_out"], false);
    }
    // The printer really changed: paused and resumed, speed 3, bed target 55.
    wait_for(&server, &admin, id, |v| {
        v["status"]["speed_level"] == 3 && v["status"]["bed"]["target"] == 55.0
    })
    .await;
    let pause = command(&server, &admin, id, json!({"command": "pause"})).await;
    assert_eq!(pause.json["ok"], true);
    wait_for(&server, &admin, id, |v| v["status"]["state"] == "PAUSE").await;
    let stop = command(&server, &admin, id, json!({"command": "stop"})).await;
    assert_eq!(stop.json["ok"], true);
    wait_for(&server, &admin, id, |v| v["status"]["state"] == "FAILED").await;
    // The printer refuses what makes no sense and says why.
    let again = command(&server, &admin, id, json!({"command": "pause"})).await;
    assert_eq!(again.json["ok"], false);
    assert!(
        again.json["reason"]
            .as_str()
            .unwrap()
            .contains("cannot pause")
    );
    // Bad input is a 400 naming the field.
    for bad in [
        json!({"command": "speed", "level": 9}),
        json!({"command": "nozzle_temperature", "celsius": 400}),
        json!({"command": "ams_load", "ams": 7, "slot": 0}),
        json!({"command": "gcode", "gcode": ""}),
        json!({"command": "launch_rocket"}),
    ] {
        assert_eq!(
            command(&server, &admin, id, bad.clone()).await.status,
            400,
            "{bad}"
        );
    }

    // Developer Mode off: the printer refuses control, and the server says so plainly.
    sim.set_behaviour(|b| b.developer_mode = false);
    let refused = command(&server, &admin, id, json!({"command": "light", "on": true})).await;
    assert_eq!(refused.json["ok"], false);
    assert_eq!(refused.json["reason"], "mqtt message verify failed");
    wait_for(&server, &admin, id, |v| v["developer_mode_off"] == true).await;
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer.command&actor=carl",
            None,
        )
        .await;
    assert_eq!(
        audit.json["items"].as_array().unwrap().len(),
        4,
        "carl: pause, resume, light, speed"
    );
}

#[tokio::test]
async fn a_scoped_operator_sees_and_controls_only_printers_in_their_scope() {
    let (farm, _dir) = farm(&[Model::P1S, Model::A1]).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let locations = crate::support::locations(&server, &admin, &["Hall A", "Hall B"]).await;
    let in_a = add(
        &server,
        &admin,
        &farm.printers[0],
        json!({"location_id": locations[0]}),
    )
    .await;
    let in_b = add(
        &server,
        &admin,
        &farm.printers[1],
        json!({"location_id": locations[1]}),
    )
    .await;
    wait_for(&server, &admin, in_a, online).await;
    wait_for(&server, &admin, in_b, online).await;

    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Hall A crew", "permissions": ["printers:read", "printers:control", "printers:trust"],
                        "scope": {"locations": [locations[0]]}})),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    let gid = group.json["id"].as_i64().unwrap();
    server.create_user(&admin, "anna", &[gid]).await;
    let anna = server.login("anna", TEST_PASSWORD).await;

    let list = server.call(&anna, "GET", "/api/v1/printers", None).await;
    let ids: Vec<i64> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [in_a]);
    for (method, path, body) in [
        ("GET", format!("/api/v1/printers/{in_b}"), None),
        ("GET", format!("/api/v1/printers/{in_b}/certificate"), None),
        (
            "POST",
            format!("/api/v1/printers/{in_b}/commands"),
            Some(json!({"command": "pause"})),
        ),
        (
            "POST",
            format!("/api/v1/printers/{in_b}/certificate/trust"),
            Some(json!({"sha256": "00".repeat(32)})),
        ),
    ] {
        let r = server.call(&anna, method, &path, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.json);
    }
    let mine = command(
        &server,
        &anna,
        in_a,
        json!({"command": "light", "on": false}),
    )
    .await;
    assert_eq!(mine.status, 200, "{:?}", mine.json);
    // Moving a printer is printers:update; anna may not even see the one in hall B.
    let moved = server
        .call(
            &anna,
            "PATCH",
            &format!("/api/v1/printers/{in_a}"),
            Some(json!({"location_id": locations[1]})),
        )
        .await;
    assert_eq!(moved.status, 403);
}

#[tokio::test]
async fn printer_input_is_validated_and_the_access_code_stays_write_only() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let base = json!({"name": "P", "serial": "01P00A000000123", "host": "127.0.0.1", "mqtt_port": 9, "access_code": "12345678"});
    for (field, value) in [
        ("serial", json!("short")),
        ("serial", json!("01P00A-000")),
        ("host", json!("not a host")),
        ("access_code", json!("a b")),
        ("mqtt_port", json!(0)),
        ("location_id", json!(999)),
        ("name", json!("")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let r = server
            .call(&admin, "POST", "/api/v1/printers", Some(body))
            .await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.json);
        // The message names the field as the form labels it, never by its API name.
        let label = match field {
            "access_code" => "Access code",
            other => other,
        };
        assert!(r.message().contains(label), "{field}: {}", r.message());
    }
    let ok = server
        .call(&admin, "POST", "/api/v1/printers", Some(base.clone()))
        .await;
    assert_eq!(ok.status, 201);
    let dup = server
        .call(&admin, "POST", "/api/v1/printers", Some(base))
        .await;
    assert_eq!(dup.status, 409);
    let id = ok.json["id"].as_i64().unwrap();
    // Nothing listens on port 9: offline with a reason, and retried.
    let v = wait_for(&server, &admin, id, |v| v["connection"] == "offline").await;
    assert!(v["problem"].as_str().unwrap().contains("reach"), "{v}");
    // The stored code is sealed; an empty code on update keeps it.
    let row = server
        .running()
        .app
        .store()
        .printer(pw_domain::PrinterId::from_db(id))
        .await
        .unwrap()
        .unwrap();
    assert!(pw_credentials::seal::is_sealed(&row.access_code));
    let kept = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printers/{id}"),
            Some(json!({"access_code": "", "name": "Renamed"})),
        )
        .await;
    assert_eq!(kept.status, 200);
    let after = server
        .running()
        .app
        .store()
        .printer(pw_domain::PrinterId::from_db(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.access_code, row.access_code);
    for bad in [
        json!({"model": "M".repeat(33)}),
        json!({"name": " "}),
        json!({"mqtt_port": 0}),
    ] {
        let refused = server
            .call(
                &admin,
                "PATCH",
                &format!("/api/v1/printers/{id}"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(refused.status, 400, "{bad}: {:?}", refused.json);
    }
    assert_eq!(
        server
            .call(&admin, "DELETE", &format!("/api/v1/printers/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .call(&admin, "GET", &format!("/api/v1/printers/{id}"), None)
            .await
            .status,
        404
    );
}

/// The request with the caller's credentials, as the browser or a script would send them.
fn authed(
    server: &TestServer,
    auth: &Auth,
    req: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    match auth {
        Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
        Auth::Key(k) => req.bearer_auth(k),
        Auth::None => req,
    }
}

pub(crate) async fn print(
    server: &TestServer,
    auth: &Auth,
    id: i64,
    file: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = server
        .client
        .post(server.url(&format!("/api/v1/printers/{id}/print?file={file}")))
        .header("content-type", "application/octet-stream")
        .body(body);
    let resp = authed(server, auth, req).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn upload_and_print_streams_the_file_over_ftps_and_refuses_a_busy_printer() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;

    let controls = server
        .create_group(
            &admin,
            "Printer hands",
            &["printers:read", "printers:control"],
        )
        .await;
    server.create_user(&admin, "cody", &[controls]).await;
    let cody = server.login("cody", TEST_PASSWORD).await;
    let file = crate::printfiles::sliced_project_for("C12", "Bambu Lab P1S", 300_000);
    let (status, _) = print(&server, &cody, id, "cube.gcode.3mf", file.clone()).await;
    assert_eq!(status, 403, "printers:control without queue:create");
    for bad in ["cube.exe", "../etc/passwd.3mf", ".3mf"] {
        let (status, body) = print(&server, &admin, id, bad, file.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = print(&server, &admin, id, "cube.gcode.3mf", Vec::new()).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = print(&server, &admin, id, "cube.gcode.3mf", file.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(
        sim.file("cube.gcode.3mf").unwrap(),
        file,
        "the bytes arrived intact"
    );
    let v = wait_for(&server, &admin, id, |v| v["status"]["busy"] == true).await;
    assert_eq!(v["status"]["job_name"], "cube");
    let file_len = file.len();
    let (status, body) = print(&server, &admin, id, "other.gcode.3mf", file).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("busy"));
    assert!(
        sim.file("other.gcode.3mf").is_none(),
        "nothing was uploaded to a busy printer"
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=printer.print", None)
        .await;
    assert_eq!(audit.json["items"][0]["details"]["bytes"], file_len);

    // The file under a running print cannot be deleted; once stopped it can.
    let path = format!("/api/v1/printers/{id}/files/cube.gcode.3mf");
    let (status, body, _) = raw(&server, &admin, "DELETE", &path).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("stop the print"));
    assert!(sim.file("cube.gcode.3mf").is_some());
    let stop = command(&server, &admin, id, json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    wait_for(&server, &admin, id, |v| v["status"]["busy"] == false).await;
    assert_eq!(raw(&server, &admin, "DELETE", &path).await.0, 204);
    assert!(sim.file("cube.gcode.3mf").is_none());
}

/// Content an upload-and-print kept for a job that is then orphaned — its archive entry
/// deleted mid-print, then its printer removed — is released with the printer (it was left on
/// disk for good before), while content the library or an archive entry names stays.
#[tokio::test]
async fn removing_a_printer_releases_the_content_only_its_open_job_kept() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    let file = crate::printfiles::sliced_project_for("C12", "Bambu Lab P1S", 50_000);
    let (status, body) = print(&server, &admin, id, "orphan.gcode.3mf", file).await;
    assert_eq!(status, 200, "{body}");
    // The watcher opens the entry and links the kept content.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let entry = loop {
        let list = server.call(&admin, "GET", "/api/v1/archives", None).await;
        if let Some(e) = list.json["items"]
            .as_array()
            .and_then(|a| a.first())
            .filter(|e| !e["file_sha256"].is_null())
        {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never archived: {:?}",
            list.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let deleted = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/archives/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.json);
    // The entry's plate image went with it; the file stays, named by the open job.
    let kept = crate::library::blobs(&server);
    let sha = entry["file_sha256"].as_str().unwrap();
    assert!(
        kept.len() == 1 && kept[0].ends_with(sha),
        "only the job's file is left: {kept:?}"
    );

    let removed = server
        .call(&admin, "DELETE", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.json);
    assert!(
        crate::library::blobs(&server).is_empty(),
        "released with the printer: {:?}",
        crate::library::blobs(&server)
    );
}

/// Finding 13: the busy check and the start were separate steps, so two upload-and-print
/// calls in parallel both passed the check, both uploaded, and the second start replaced the
/// first job. Now exactly one starts; the other gets 409 and uploads nothing.
#[tokio::test]
async fn two_parallel_prints_on_one_idle_printer_start_exactly_one() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    let body = crate::printfiles::sliced_project_for("C12", "Bambu Lab P1S", 4_000_000);
    let (a, b) = tokio::join!(
        print(&server, &admin, id, "left.gcode.3mf", body.clone()),
        print(&server, &admin, id, "right.gcode.3mf", body.clone()),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (loser, winner) = if a.0 == 409 {
        ("left.gcode.3mf", "right.gcode.3mf")
    } else {
        ("right.gcode.3mf", "left.gcode.3mf")
    };
    let refused = if a.0 == 409 { &a.1 } else { &b.1 };
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("busy"),
        "{refused}"
    );
    assert_eq!(sim.file(winner).unwrap(), body);
    assert!(
        sim.file(loser).is_none(),
        "the refused call uploaded nothing"
    );
    let v = wait_for(&server, &admin, id, |v| v["status"]["busy"] == true).await;
    assert_eq!(
        v["status"]["job_name"],
        winner.trim_end_matches(".gcode.3mf")
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=printer.print", None)
        .await;
    assert_eq!(audit.json["items"].as_array().unwrap().len(), 1);
}

async fn raw(server: &TestServer, auth: &Auth, method: &str, path: &str) -> (u16, Vec<u8>, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = server.client.request(method, server.url(path));
    let resp = authed(server, auth, req).send().await.unwrap();
    let status = resp.status().as_u16();
    let disposition = resp
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, resp.bytes().await.unwrap().to_vec(), disposition)
}

#[tokio::test]
async fn printer_files_are_listed_downloaded_and_deleted_with_printers_files_only() {
    let (farm, _dir) = farm(&[Model::X1C]).await;
    let sim = &farm.printers[0];
    let content: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    sim.put_file("benchy plate \"2\".gcode.3mf", content.clone());
    sim.put_file("timelapse.mp4", vec![7; 10]);
    let (server, admin, id) = with_online(sim).await;

    let list = server
        .call(&admin, "GET", &format!("/api/v1/printers/{id}/files"), None)
        .await;
    assert_eq!(list.status, 200, "{:?}", list.json);
    let mut files: Vec<(String, u64)> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("benchy plate \"2\".gcode.3mf".to_owned(), 70_000),
            ("timelapse.mp4".to_owned(), 10)
        ]
    );

    let path = format!("/api/v1/printers/{id}/files/benchy%20plate%20%222%22.gcode.3mf");
    let (status, bytes, disposition) = raw(&server, &admin, "GET", &path).await;
    assert_eq!(status, 200);
    assert_eq!(
        bytes, content,
        "the download is byte for byte the printer's file"
    );
    assert_eq!(
        disposition, "attachment; filename*=UTF-8''benchy%20plate%20%222%22.gcode.3mf",
        "the printer-chosen name cannot break out of the header"
    );
    for (bad, want) in [
        ("nothing.3mf", 404),
        ("a%5Cb.3mf", 400),
        ("a%2Fb.3mf", 400),
        ("x%0Ay.3mf", 400),
    ] {
        let (status, _, _) = raw(
            &server,
            &admin,
            "GET",
            &format!("/api/v1/printers/{id}/files/{bad}"),
        )
        .await;
        assert_eq!(status, want, "{bad}");
    }

    // printers:read alone sees the printer but not its files.
    let viewers = server
        .create_group(&admin, "Lookers", &["printers:read"])
        .await;
    server.create_user(&admin, "vera", &[viewers]).await;
    let vera = server.login("vera", TEST_PASSWORD).await;
    assert_eq!(
        raw(
            &server,
            &vera,
            "GET",
            &format!("/api/v1/printers/{id}/files")
        )
        .await
        .0,
        403
    );
    assert_eq!(raw(&server, &vera, "DELETE", &path).await.0, 403);
    // A files group scoped to another location gets 404 for this printer.
    let hall = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Elsewhere"})),
        )
        .await;
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Elsewhere files", "permissions": ["printers:read", "printers:files"],
                        "scope": {"locations": [hall.json["id"]]}})),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    server
        .create_user(&admin, "otto", &[group.json["id"].as_i64().unwrap()])
        .await;
    let otto = server.login("otto", TEST_PASSWORD).await;
    assert_eq!(
        raw(
            &server,
            &otto,
            "GET",
            &format!("/api/v1/printers/{id}/files")
        )
        .await
        .0,
        404
    );
    assert_eq!(raw(&server, &otto, "DELETE", &path).await.0, 404);
    assert!(
        sim.file("benchy plate \"2\".gcode.3mf").is_some(),
        "refusals deleted nothing"
    );

    let (status, _, _) = raw(&server, &admin, "DELETE", &path).await;
    assert_eq!(status, 204);
    assert!(sim.file("benchy plate \"2\".gcode.3mf").is_none());
    assert_eq!(
        raw(&server, &admin, "DELETE", &path).await.0,
        404,
        "already gone"
    );
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer.file.delete",
            None,
        )
        .await;
    assert_eq!(audit.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        audit.json["items"][0]["details"]["file"],
        "benchy plate \"2\".gcode.3mf"
    );
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 13: a download was read whole into memory (up to 256 MiB per request). It now
/// streams from FTPS to the client with backpressure: downloading a 64 MiB file raises this
/// process's peak memory (server, simulated printer and client together) by far less than
/// the file. The client reads the body piece by piece, as a browser saving a file does.
#[tokio::test]
async fn a_large_download_streams_without_holding_the_file_in_memory() {
    const SIZE: usize = 64 * 1024 * 1024;
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    sim.put_file(
        "big.mp4",
        (0..SIZE).map(|i| (i % 249) as u8).collect::<Vec<u8>>(),
    );
    let (server, admin, id) = with_online(sim).await;
    let fetch = || async {
        let req = server
            .client
            .get(server.url(&format!("/api/v1/printers/{id}/files/big.mp4")));
        let mut resp = authed(&server, &admin, req).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.content_length(), Some(SIZE as u64));
        let (mut got, mut same) = (0usize, true);
        while let Some(chunk) = resp.chunk().await.unwrap() {
            same &= chunk
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((got + i) % 249) as u8);
            got += chunk.len();
        }
        assert_eq!(got, SIZE);
        assert!(same, "byte for byte the printer's file");
    };
    fetch().await; // warm up: TLS sessions, buffers, allocator arenas
    let before = status_kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").unwrap(); // resets the peak (VmHWM)
    fetch().await;
    let peak = status_kib("VmHWM:");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("64 MiB download: RSS before {before} KiB, peak {peak} KiB, +{growth_mib} MiB");
    assert!(
        growth_mib < 16,
        "peak memory grew by {growth_mib} MiB for a 64 MiB download"
    );
}

async fn check(server: &TestServer, auth: &Auth, body: Value) -> (u16, Value) {
    let got = server
        .call(auth, "POST", "/api/v1/printers/check", Some(body))
        .await;
    (got.status.as_u16(), got.json)
}

fn probe(p: &Printer) -> Value {
    json!({
        "serial": p.info.serial,
        "host": p.info.host,
        "mqtt_port": p.info.mqtt_port,
        "access_code": p.info.access_code,
    })
}

#[tokio::test]
async fn test_connection_names_what_is_wrong_and_stores_nothing() {
    let (farm, _dir) = farm(&[Model::P1S, Model::A1]).await;
    let (good, quiet) = (&farm.printers[0], &farm.printers[1]);
    quiet.set_behaviour(|b| b.developer_mode = false);
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;

    let (status, ok) = check(&server, &admin, probe(good)).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert_eq!(ok["presented_sha256"], good.certificate_sha256());
    assert_eq!(ok["state"], "IDLE");
    let list = server.call(&admin, "GET", "/api/v1/printers", None).await;
    assert_eq!(list.json["items"], json!([]), "a check adds nothing");

    let mut wrong_code = probe(good);
    wrong_code["access_code"] = json!("00000000");
    let connects = good.connects().len();
    let (_, got) = check(&server, &admin, wrong_code).await;
    assert_eq!(got["outcome"], "access_code", "{got}");
    assert_eq!(
        good.connects().len(),
        connects + 1,
        "one login attempt, no retries"
    );

    let mut wrong_serial = probe(good);
    wrong_serial["serial"] = json!("01S00A999999999");
    let (_, got) = check(&server, &admin, wrong_serial).await;
    assert_eq!(got["outcome"], "certificate", "{got}");
    assert_eq!(
        good.connects().len(),
        connects + 1,
        "a certificate for another serial gets no access code"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut nowhere = probe(good);
    nowhere["mqtt_port"] = json!(port);
    let (_, got) = check(&server, &admin, nowhere).await;
    assert_eq!(got["outcome"], "unreachable", "{got}");
    assert!(got["presented_sha256"].is_null());

    let (_, got) = check(&server, &admin, probe(quiet)).await;
    assert_eq!(got["outcome"], "developer_mode_off", "{got}");
    assert!(got["message"].as_str().unwrap().contains("Developer Mode"));

    let (status, _) = check(
        &server,
        &admin,
        json!({"serial": "x", "host": "h", "access_code": "1"}),
    )
    .await;
    assert_eq!(status, 400);
    let viewers = server
        .create_group(&admin, "Lookers", &["printers:read"])
        .await;
    server.create_user(&admin, "vic", &[viewers]).await;
    let vic = server.login("vic", TEST_PASSWORD).await;
    let before = good.connects().len();
    let (status, _) = check(&server, &vic, probe(good)).await;
    assert_eq!(status, 403);
    assert_eq!(
        good.connects().len(),
        before,
        "a refused caller makes no connection"
    );
}

#[tokio::test]
async fn test_connection_says_when_a_printer_logs_in_but_never_reports() {
    let (farm, _dir) = farm(&[Model::X1C]).await;
    let mute = &farm.printers[0];
    mute.set_behaviour(|b| b.reports = false);
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (status, got) = check(&server, &admin, probe(mute)).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["outcome"], "no_report", "{got}");
    assert!(
        got["message"]
            .as_str()
            .unwrap()
            .contains("no report arrived"),
        "{got}"
    );
    assert_eq!(
        got["presented_sha256"],
        mute.certificate_sha256(),
        "the certificate was seen"
    );
    assert_eq!(mute.connects().len(), 1, "it logged in once");
}

#[tokio::test]
async fn a_configured_printer_ca_must_sign_the_printer_certificate() {
    let (farm_a, _dir) = farm(&[Model::X1C]).await;
    let sim = &farm_a.printers[0];
    // The simulator's own CA: the printer is accepted and pinned.
    let server = TestServer::spawn_env(&[("PRINTWARDEN_PRINTER_CA_FILE", &sim.info.ca_cert)]).await;
    let admin = server.setup_admin().await;
    assert_eq!(check(&server, &admin, probe(sim)).await.1["outcome"], "ok");
    let id = add(&server, &admin, sim, json!({})).await;
    wait_for(&server, &admin, id, online).await;

    // Another CA (a second simulator farm's): refused in the handshake, before any login.
    let (other, _other_dir) = farm(&[Model::X1C]).await;
    let server = TestServer::spawn_env(&[(
        "PRINTWARDEN_PRINTER_CA_FILE",
        &other.printers[0].info.ca_cert,
    )])
    .await;
    let admin = server.setup_admin().await;
    let connects = sim.connects().len();
    let (_, got) = check(&server, &admin, probe(sim)).await;
    assert_eq!(got["outcome"], "certificate", "{got}");
    assert!(
        got["message"].as_str().unwrap().contains("printer CA"),
        "{got}"
    );
    let id = add(&server, &admin, sim, json!({})).await;
    let v = wait_for(&server, &admin, id, |v| {
        v["connection"] == "certificate_refused"
    })
    .await;
    assert!(
        v["problem"]
            .as_str()
            .is_some_and(|p| p.contains("printer CA")),
        "{v}"
    );
    assert_eq!(
        sim.connects().len(),
        connects,
        "the access code was never sent"
    );
}

/// Finding 11: deleting a user with `items=delete` deleted every row with their `created_by`,
/// printers and webhooks included, without `printers:delete`, without an audit line per item
/// and with the printer's MQTT session left running. Printers and webhooks are farm
/// infrastructure: they stay, working; the print history keeps the starter's name.
#[tokio::test]
async fn deleting_a_user_with_their_items_keeps_the_printers_and_webhooks_they_added() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let rights = [
        "printers:create",
        "printers:read",
        "printers:control",
        "queue:create",
        "notifications:create",
        "notifications:read",
        "audit:read",
    ];
    let hands = server.create_group(&admin, "Farm hands", &rights).await;
    let pat_id = server.create_user(&admin, "pat", &[hands]).await;
    let pat = server.login("pat", TEST_PASSWORD).await;
    // The user manager holds everything pat holds (so may act on pat), users:delete and
    // archives:delete_all (pat's print becomes pat's archive entry, content deleted with pat),
    // but not printers:delete or notifications:delete.
    let mut manager_rights = rights.to_vec();
    manager_rights.extend(["users:read", "users:delete", "archives:delete_all"]);
    let managers = server
        .create_group(&admin, "User managers", &manager_rights)
        .await;
    server.create_user(&admin, "uma", &[managers]).await;
    let uma = server.login("uma", TEST_PASSWORD).await;

    let printer = add(&server, &pat, sim, json!({"ftps_port": sim.info.ftps_port})).await;
    wait_for(&server, &pat, printer, online).await;
    let hook = server
        .call(
            &pat,
            "POST",
            "/api/v1/webhooks",
            Some(
                json!({"name": "pat's hook", "url": "https://93.184.216.34/hook",
                        "events": ["printer.print"]}),
            ),
        )
        .await;
    assert_eq!(hook.status, 201, "{:?}", hook.json);
    let (status, body) = print(
        &server,
        &pat,
        printer,
        "cube.gcode.3mf",
        crate::printfiles::sliced_project(),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The delete dialog counts the user's own content only: printers and webhooks are not.
    let preview = server
        .call(&uma, "GET", &format!("/api/v1/users/{pat_id}"), None)
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.json);
    let kinds: Vec<&str> = preview.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"printers") && !kinds.contains(&"webhooks"),
        "{kinds:?}"
    );

    let deleted = server
        .call(
            &uma,
            "DELETE",
            &format!("/api/v1/users/{pat_id}?items=delete"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.json);
    assert_eq!(
        server
            .call(&admin, "GET", &format!("/api/v1/users/{pat_id}"), None)
            .await
            .status,
        404,
        "the account is gone"
    );

    // The printer is still there and still online (checked again after a moment: its session
    // was not torn down, nor left running for a row that no longer exists).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = wait_for(&server, &admin, printer, online).await;
    assert_eq!(v["serial"], sim.info.serial.as_str());
    let hooks = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(
        hooks.json["items"][0]["name"], "pat's hook",
        "{:?}",
        hooks.json
    );
    let deletions = server
        .call(&admin, "GET", "/api/v1/audit?event=printer.delete", None)
        .await;
    assert_eq!(deletions.json["items"].as_array().unwrap().len(), 0);
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=user.delete", None)
        .await;
    assert_eq!(audit.json["items"][0]["details"]["items"], "delete");

    // The print history keeps who started the job by name; the link to the account is gone.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .connect(&server.database_url)
        .await
        .unwrap();
    let jobs: Vec<(Option<i64>, Option<String>, String)> =
        sqlx::query_as("SELECT started_by, started_by_name, file_name FROM print_jobs")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        jobs,
        vec![(None, Some("pat".to_owned()), "cube.gcode.3mf".to_owned())]
    );
    let creators: Vec<(Option<i64>,)> = sqlx::query_as("SELECT created_by FROM printers")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        creators,
        vec![(None,)],
        "the printer no longer names the account"
    );
    pool.close().await;
}

/// The printer list reads a row cache (issue 21): the visibility filter still applies to a
/// cache filled by an administrator, and every change — rename, move, delete, a deleted
/// location, a changed group scope — shows in the very next list, paged or not.
#[tokio::test]
async fn the_cached_printer_list_keeps_each_scope_and_shows_every_change_at_once() {
    let (farm, _dir) = farm(&[Model::P1S, Model::A1, Model::P1S]).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let locations = crate::support::locations(&server, &admin, &["Hall A", "Hall B"]).await;
    let a1 = add(
        &server,
        &admin,
        &farm.printers[0],
        json!({"name": "A one", "location_id": locations[0]}),
    )
    .await;
    let b1 = add(
        &server,
        &admin,
        &farm.printers[1],
        json!({"name": "B one", "location_id": locations[1]}),
    )
    .await;
    let a2 = add(
        &server,
        &admin,
        &farm.printers[2],
        json!({"name": "A two", "location_id": locations[0]}),
    )
    .await;
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall A crew", "permissions": ["printers:read"],
                        "scope": {"locations": [locations[0]]}}),
            ),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    let gid = group.json["id"].as_i64().unwrap();
    server.create_user(&admin, "anna", &[gid]).await;
    let mut anna = server.login("anna", TEST_PASSWORD).await;

    async fn names(server: &TestServer, auth: &Auth) -> Vec<(i64, String)> {
        let list = server.call(auth, "GET", "/api/v1/printers", None).await;
        assert_eq!(list.status, 200, "{:?}", list.json);
        list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_i64().unwrap(),
                    p["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
    /// Every page of one printer, by cursor.
    async fn paged(server: &TestServer, auth: &Auth) -> Vec<i64> {
        let mut ids = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = server
                .call(
                    auth,
                    "GET",
                    &format!("/api/v1/printers?limit=1{cursor}"),
                    None,
                )
                .await;
            assert_eq!(page.status, 200, "{:?}", page.json);
            ids.extend(
                page.json["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_i64().unwrap()),
            );
            match page.json["next"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return ids,
            }
        }
    }

    // The administrator fills the cache with every printer; anna still sees hall A only.
    let all = names(&server, &admin).await;
    assert_eq!(
        all,
        [
            (a1, "A one".to_owned()),
            (a2, "A two".to_owned()),
            (b1, "B one".to_owned())
        ]
    );
    assert_eq!(paged(&server, &admin).await, [a1, a2, b1]);
    assert_eq!(
        names(&server, &anna).await,
        [(a1, "A one".to_owned()), (a2, "A two".to_owned())]
    );
    assert_eq!(paged(&server, &anna).await, [a1, a2]);
    let hidden = server
        .call(&anna, "GET", &format!("/api/v1/printers/{b1}"), None)
        .await;
    assert_eq!(hidden.status, 404);

    // A rename shows at once, in the new order.
    let renamed = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printers/{a1}"),
            Some(json!({"name": "Z one"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.json);
    assert_eq!(
        names(&server, &anna).await,
        [(a2, "A two".to_owned()), (a1, "Z one".to_owned())]
    );

    // A move out of hall A hides it from anna at once.
    let moved = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printers/{a2}"),
            Some(json!({"location_id": locations[1]})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.json);
    assert_eq!(names(&server, &anna).await, [(a1, "Z one".to_owned())]);

    // A page cursor naming a printer that has been deleted since still pages (from the
    // database), and the deleted printer is gone from every list at once.
    let first = server
        .call(&admin, "GET", "/api/v1/printers?limit=2", None)
        .await;
    assert_eq!(first.json["items"][0]["id"], a2, "{:?}", first.json);
    assert_eq!(first.json["items"][1]["id"], b1, "{:?}", first.json);
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    let deleted = server
        .call(&admin, "DELETE", &format!("/api/v1/printers/{b1}"), None)
        .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.json);
    let rest = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/printers?limit=5&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest.status, 200, "{:?}", rest.json);
    let rest: Vec<i64> = rest.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(rest, [a1]);
    assert_eq!(paged(&server, &admin).await, [a2, a1]);

    // Anna's group now reaches hall B instead (the change ends her session: sign in again).
    let rescoped = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{gid}"),
            Some(json!({"scope": {"locations": [locations[1]]}})),
        )
        .await;
    assert_eq!(rescoped.status, 200, "{:?}", rescoped.json);
    anna = server.login("anna", TEST_PASSWORD).await;
    assert_eq!(names(&server, &anna).await, [(a2, "A two".to_owned())]);

    // Deleting hall B leaves its printer without a location: out of anna's scope at once.
    let gone = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/locations/{}", locations[1]),
            None,
        )
        .await;
    assert!(gone.status.is_success(), "{:?}", gone.json);
    assert_eq!(names(&server, &anna).await, []);
    assert_eq!(paged(&server, &anna).await, Vec::<i64>::new());
    assert_eq!(names(&server, &admin).await.len(), 2);
}
