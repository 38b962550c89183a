//! The queue's dispatcher (issue 16 items 2 and 3) on simulated printers, with each printer's
//! start log as the oracle: an item for a model starts on an idle printer of that model, with
//! its AMS mapping proposed from the live trays, and ends done with its archive entry linked;
//! copies wait for the plate to be cleared (or the printer's waiver); priority and "not before"
//! decide the order; a refused start is retried with growing delays, then parked as failed with
//! the reason; two servers on one database race over many items and start each exactly once;
//! a restart mid-print starts nothing again; cancelling a printing item stops the printer; a
//! printer removed under the queue parks its items with the reason in words. (The full-size
//! race of two server processes and the `kill -9` rounds are in `crash.rs`.)

use std::sync::Arc;
use std::time::Duration;

use pw_app::{Clock, ManualClock};
use pw_simulator::{Farm, Model, Options, Printer};
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::library::{sliced_project, upload};
use crate::printers::{add, online, wait_for};

pub(crate) async fn farm(models: &[Model], job_seconds: f64) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(models.len(), dir.path());
    options.models = models.to_vec();
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = job_seconds;
    options.behaviour.prepare_seconds = 0.2;
    (Farm::start(options).await.unwrap(), dir)
}

/// Adds every simulated printer and waits until each is online.
pub(crate) async fn add_all(server: &TestServer, admin: &Auth, farm: &Farm) -> Vec<i64> {
    let mut ids = Vec::new();
    for sim in &farm.printers {
        let id = add(
            server,
            admin,
            sim,
            json!({"ftps_port": sim.info.ftps_port, "name": format!("Printer {}", sim.info.serial)}),
        )
        .await;
        wait_for(server, admin, id, online).await;
        ids.push(id);
    }
    ids
}

pub(crate) async fn item(server: &TestServer, auth: &Auth, id: i64) -> Value {
    let a = server
        .call(auth, "GET", &format!("/api/v1/queue/{id}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json
}

/// Polls an item until `check` holds (60 s at most).
pub(crate) async fn wait_item(
    server: &TestServer,
    auth: &Auth,
    id: i64,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = item(server, auth, id).await;
        if check(&last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(check(&last), "item {id} never got there: {last}");
    last
}

pub(crate) async fn queue(server: &TestServer, auth: &Auth, body: Value) -> i64 {
    let a = server.call(auth, "POST", "/api/v1/queue", Some(body)).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json["id"].as_i64().unwrap()
}

pub(crate) fn accepted(sim: &Printer) -> Vec<pw_simulator::StartRecord> {
    sim.starts().into_iter().filter(|s| s.accepted).collect()
}

pub(crate) async fn waive(server: &TestServer, admin: &Auth, printer: i64) {
    let a = server
        .call(
            admin,
            "PATCH",
            &format!("/api/v1/printers/{printer}"),
            Some(json!({"waive_plate_clear": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
}

#[tokio::test]
async fn a_queued_item_prints_on_a_printer_of_its_model_and_copies_wait_for_the_plate() {
    let (farm, _dir) = farm(&[Model::P1S, Model::X1C], 1.0).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let (p1s, x1c) = (&farm.printers[0], &farm.printers[1]);
    let file = crate::library::upload_sliced(&server, &admin, "Bracket.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"model": "p1s"}, "copies": 2}),
    )
    .await;

    // The first copy runs on the P1S and ends; the plate then needs clearing.
    let first = wait_item(&server, &admin, id, |i| i["copies_done"] == 1).await;
    assert_eq!(first["state"], "queued", "{first}");
    let starts = accepted(p1s);
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0].path, "Bracket.gcode.3mf");
    assert_eq!(starts[0].plate, 1);
    // Proposed from the live trays: PLA orange → AMS 1 tray 1 (red PLA), PETG black → tray 3.
    assert_eq!(starts[0].ams_mapping, vec![0, -1, -1, 2]);
    assert!(x1c.starts().is_empty(), "not the other model");
    let run = first["run_archive_id"]
        .as_i64()
        .expect("the run's archive entry");
    let entry = server
        .call(&admin, "GET", &format!("/api/v1/archives/{run}"), None)
        .await;
    assert_eq!(entry.status, 200, "{:?}", entry.json);
    assert_eq!(entry.json["outcome"], "finished");
    assert_eq!(entry.json["library_file_id"], file);

    // The gate holds: several dispatcher passes later, still one start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        accepted(p1s).len(),
        1,
        "no start before the plate is cleared"
    );
    assert_eq!(item(&server, &admin, id).await["state"], "queued");

    // A viewer without printers:clear_plate may not confirm it.
    let cleared = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/printers/{}/plate-cleared", printers[0]),
            None,
        )
        .await;
    assert_eq!(cleared.status, 204, "{:?}", cleared.json);
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    assert_eq!(done["copies_done"], 2);
    assert_eq!(done["printer_id"], Value::Null);
    assert_eq!(accepted(p1s).len(), 2);
    assert!(x1c.starts().is_empty());
    assert_ne!(done["run_archive_id"], first["run_archive_id"]);

    // Every step is audited with the dispatcher as the actor.
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=queue.state", None)
        .await;
    assert_eq!(audit.status, 200, "{:?}", audit.json);
    let text = audit.json.to_string();
    for words in [
        "\"dispatcher\"",
        "\"dispatching\"",
        "\"printing\"",
        "\"done\"",
    ] {
        assert!(text.contains(words), "{words} in {text}");
    }
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer.plate_cleared",
            None,
        )
        .await;
    assert!(
        audit.json.to_string().contains("plate_cleared"),
        "{:?}",
        audit.json
    );
}

#[tokio::test]
async fn the_plate_gate_says_so_in_words_and_a_waiver_skips_it() {
    let (farm, _dir) = farm(&[Model::P1S], 1.0).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let sim = &farm.printers[0];
    let (_, viewer) = crate::library::user_with(
        &server,
        &admin,
        "vera",
        &["printers:read", "queue:read_all"],
    )
    .await;
    let file = crate::library::upload_sliced(&server, &admin, "Clip.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"printer_id": printers[0]}, "copies": 3,
               "options": {"use_ams": false}}),
    )
    .await;
    let waiting = wait_item(&server, &admin, id, |i| i["copies_done"] == 1).await;
    assert_eq!(
        waiting["waiting_for"],
        format!(
            "Waiting for the plate of Printer {} to be cleared.",
            sim.info.serial
        )
    );
    assert_eq!(accepted(sim)[0].ams_mapping, vec![-1], "the external spool");
    let refused = server
        .call(
            &viewer,
            "POST",
            &format!("/api/v1/printers/{}/plate-cleared", printers[0]),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.json);
    let unknown = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers/999999/plate-cleared",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);

    waive(&server, &admin, printers[0]).await;
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    assert_eq!(done["copies_done"], 3);
    assert_eq!(accepted(sim).len(), 3, "{:?}", sim.starts());
}

#[tokio::test]
async fn priority_and_not_before_decide_the_order() {
    let (farm, _dir) = farm(&[Model::A1], 0.5).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let sim = &farm.printers[0];
    waive(&server, &admin, printers[0]).await;
    // Paused while the items are added, so the order is decided with all of them there.
    let paused = server
        .call(&admin, "POST", "/api/v1/queue/pause", Some(json!({})))
        .await;
    assert!(
        paused.status == 200 || paused.status == 204,
        "{:?}",
        paused.json
    );
    let mut ids = Vec::new();
    for (name, priority, not_before) in [
        ("Low", 0, None),
        ("High", 5, None),
        ("Later", 10, Some("2099-01-01T00:00:00Z")),
        ("Middle", 2, None),
    ] {
        let file = upload(
            &server,
            &admin,
            &format!("{name}.gcode.3mf"),
            &sliced_project(),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        ids.push(
            queue(
                &server,
                &admin,
                json!({"file_id": file, "target": {"printer_id": printers[0]},
                       "priority": priority, "not_before": not_before,
                       "options": {"use_ams": false}}),
            )
            .await,
        );
    }
    let resumed = server
        .call(&admin, "POST", "/api/v1/queue/resume", Some(json!({})))
        .await;
    assert!(
        resumed.status == 200 || resumed.status == 204,
        "{:?}",
        resumed.json
    );
    for id in [ids[1], ids[3], ids[0]] {
        wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    }
    let later = item(&server, &admin, ids[2]).await;
    assert_eq!(later["state"], "queued");
    assert!(
        later["waiting_for"]
            .as_str()
            .unwrap()
            .starts_with("Not before 00:00 UTC on 2099-01-01"),
        "{later}"
    );
    let order: Vec<String> = accepted(sim).into_iter().map(|s| s.path).collect();
    assert_eq!(
        order,
        ["High.gcode.3mf", "Middle.gcode.3mf", "Low.gcode.3mf"]
    );
    let patched = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/queue/{}", ids[2]),
            Some(json!({"not_before": null})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    wait_item(&server, &admin, ids[2], |i| i["state"] == "done").await;
    assert_eq!(accepted(sim).len(), 4);
}

#[tokio::test]
async fn a_refused_start_is_retried_later_and_later_then_parked_with_the_reason() {
    let (farm, _dir) = farm(&[Model::P1S], 1.0).await;
    let sim = &farm.printers[0];
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let server = TestServer::spawn_with(pw_testkit::Options {
        clock: Some(clock.clone()),
        ..pw_testkit::Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    // 2025 firmware without Developer Mode refuses every start.
    sim.set_behaviour(|b| b.developer_mode = false);
    let file = crate::library::upload_sliced(&server, &admin, "Gear.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"printer_id": printers[0]},
               "options": {"use_ams": false}}),
    )
    .await;
    let mut delays = Vec::new();
    for attempt in 1..=4 {
        let waiting = wait_item(&server, &admin, id, |i| {
            i["state"] == "queued" && i["attempts"] == attempt
        })
        .await;
        let reason = waiting["reason"].as_str().unwrap();
        assert!(reason.contains("refused the start"), "{reason}");
        assert!(reason.contains("mqtt message verify failed"), "{reason}");
        assert!(
            waiting["waiting_for"]
                .as_str()
                .unwrap()
                .starts_with("Retrying at"),
            "{waiting}"
        );
        let at = pw_app::parse_rfc3339(waiting["next_attempt_at"].as_str().unwrap()).unwrap();
        delays.push(at - clock.now_ms());
        // Nothing is tried again before its time.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(sim.starts().len(), attempt as usize);
        clock.advance(3_600_000);
    }
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "the delays grow: {delays:?}"
    );
    let failed = wait_item(&server, &admin, id, |i| i["state"] == "failed").await;
    assert_eq!(failed["attempts"], 5);
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Not started after 5 attempts."),
        "{reason}"
    );
    assert!(reason.contains("mqtt message verify failed"), "{reason}");
    assert_eq!(sim.starts().len(), 5);
    assert!(accepted(sim).is_empty());
    clock.advance(3_600_000);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.starts().len(), 5, "a parked item is not tried again");
}

#[tokio::test]
async fn a_restart_mid_print_does_not_start_the_item_again() {
    let (farm, _dir) = farm(&[Model::P1S], 4.0).await;
    let sim = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let file = crate::library::upload_sliced(&server, &admin, "Hinge.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"printer_id": printers[0]},
               "options": {"use_ams": false}}),
    )
    .await;
    wait_item(&server, &admin, id, |i| i["state"] == "printing").await;
    let server = server.restart(Vec::new()).await;
    let admin = server.login("admin", pw_testkit::TEST_PASSWORD).await;
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    assert_eq!(done["copies_done"], 1);
    assert_eq!(sim.starts().len(), 1, "{:?}", sim.starts());
}

#[tokio::test]
async fn cancelling_a_printing_item_stops_the_printer() {
    let (farm, _dir) = farm(&[Model::X1C], 600.0).await;
    let sim = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let _printers = add_all(&server, &admin, &farm).await;
    let (_, olga) = crate::library::user_with(
        &server,
        &admin,
        "olga",
        &[
            "library:read_own",
            "library:upload",
            "queue:read_own",
            "queue:create",
            "queue:delete_own",
        ],
    )
    .await;
    let (_, otto) = crate::library::user_with(
        &server,
        &admin,
        "otto",
        &["queue:read_own", "queue:delete_own"],
    )
    .await;
    let file = crate::library::upload_sliced(&server, &olga, "Long.gcode.3mf").await;
    let id = queue(
        &server,
        &olga,
        json!({"file_id": file, "target": {"model": "X1C"}, "options": {"use_ams": false}}),
    )
    .await;
    wait_item(&server, &olga, id, |i| i["state"] == "printing").await;
    for _ in 0..100 {
        if sim.gcode_state() == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sim.gcode_state(), "RUNNING");
    let path = format!("/api/v1/queue/{id}");
    assert_eq!(
        server.call(&otto, "DELETE", &path, None).await.status,
        404,
        "not otto's"
    );
    let cancelled = server.call(&olga, "DELETE", &path, None).await;
    assert_eq!(cancelled.status, 204, "{:?}", cancelled.json);
    assert_eq!(item(&server, &olga, id).await["state"], "cancelled");
    for _ in 0..100 {
        if sim.gcode_state() != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(sim.gcode_state(), "RUNNING", "the print was stopped");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.starts().len(), 1);
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=queue.cancel", None)
        .await;
    assert!(audit.json.to_string().contains("olga"), "{:?}", audit.json);
}

/// Two servers — two dispatchers — on one database and one data directory race over many
/// items on several printers: each item is started exactly once (the printers' start logs).
#[tokio::test]
async fn two_dispatchers_start_every_item_exactly_once() {
    const PRINTERS: usize = 4;
    const ITEMS: usize = 24;
    let (farm, _dir) = farm(&[Model::P1S; PRINTERS], 0.3).await;
    let first = TestServer::spawn().await;
    let admin = first.setup_admin().await;
    let printers = add_all(&first, &admin, &farm).await;
    for p in &printers {
        waive(&first, &admin, *p).await;
    }
    // The queue waits until both dispatchers run.
    let paused = first
        .call(&admin, "POST", "/api/v1/queue/pause", Some(json!({})))
        .await;
    assert!(
        paused.status == 200 || paused.status == 204,
        "{:?}",
        paused.json
    );
    let mut ids = Vec::new();
    for n in 0..ITEMS {
        let file = upload(
            &first,
            &admin,
            &format!("Part {n:02}.gcode.3mf"),
            &sliced_project(),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        ids.push(
            queue(
                &first,
                &admin,
                json!({"file_id": file, "target": {"model": "P1S"},
                       "options": {"use_ams": false}}),
            )
            .await,
        );
    }
    // A second node: its own data directory, the same database, sealing key and content store.
    let node = tempfile::tempdir().unwrap();
    let data = node.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(first.data_dir.join("blobs"), data.join("blobs")).unwrap();
    let key = first.data_dir.join("secret.key");
    let second = TestServer::spawn_with(pw_testkit::Options {
        data_dir: Some(data),
        database_url: Some(first.database_url.clone()),
        env: vec![(
            "PRINTWARDEN_SECRET_KEY_FILE".to_owned(),
            key.display().to_string(),
        )],
        ..pw_testkit::Options::default()
    })
    .await;
    let resumed = first
        .call(&admin, "POST", "/api/v1/queue/resume", Some(json!({})))
        .await;
    assert!(
        resumed.status == 200 || resumed.status == 204,
        "{:?}",
        resumed.json
    );
    for id in &ids {
        wait_item(&first, &admin, *id, |i| i["state"] == "done").await;
    }
    let mut paths: Vec<String> = farm
        .printers
        .iter()
        .flat_map(|p| accepted(p).into_iter().map(|s| s.path))
        .collect();
    paths.sort();
    let expected: Vec<String> = (0..ITEMS)
        .map(|n| format!("Part {n:02}.gcode.3mf"))
        .collect();
    assert_eq!(paths, expected, "each item started exactly once");
    // Both dispatchers took part (the audit names the dispatcher; the items name printers).
    let used = farm
        .printers
        .iter()
        .filter(|p| !p.starts().is_empty())
        .count();
    assert!(used > 1, "the work was spread over the printers");
    drop(second);
}

/// A printer removed under the queue loses no item silently: the item it prints, and the one
/// whose start it was sent (and never answered), are parked as failed with the reason in words
/// (whether they printed is unknown, so neither is started elsewhere); an item still waiting
/// for it stays queued and says why in words.
#[tokio::test]
async fn a_removed_printer_parks_its_items_with_the_reason_in_words() {
    let (farm, _dir) = farm(&[Model::P1S, Model::P1S], 600.0).await;
    // (Polled hard while printers come online on a loaded machine: no request limits.)
    let server = TestServer::spawn_env(&[("PRINTWARDEN_RATE_LIMITS", "off")]).await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    for p in &printers {
        waive(&server, &admin, *p).await;
    }
    let file = crate::library::upload_sliced(&server, &admin, "Long.gcode.3mf").await;
    let for_printer = |p: i64| json!({"file_id": file, "target": {"printer_id": p}, "options": {"use_ams": false}});
    let remove = |p: i64| {
        let (server, admin) = (&server, &admin);
        async move {
            let a = server
                .call(admin, "DELETE", &format!("/api/v1/printers/{p}"), None)
                .await;
            assert_eq!(a.status, 204, "{:?}", a.json);
        }
    };
    let gone = |i: &Value| {
        i["state"] == "failed"
            && i["reason"]
                .as_str()
                .is_some_and(|r| r.contains("printer was removed"))
    };

    // Printing on printer 1, which is removed mid-print.
    let printing = queue(&server, &admin, for_printer(printers[1])).await;
    wait_item(&server, &admin, printing, |i| i["state"] == "printing").await;
    remove(printers[1]).await;
    let parked = wait_item(&server, &admin, printing, gone).await;
    assert_eq!(parked["printer_id"], Value::Null, "{parked}");
    assert_eq!(accepted(&farm.printers[1]).len(), 1);

    // Printer 0 never gets its start (lost on the way): removed while the item is dispatching.
    let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&sent);
    farm.printers[0].set_hook(Some(Arc::new(move |e: &pw_simulator::Event| {
        if *e == pw_simulator::Event::StartArrives {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            return pw_simulator::Verdict::Lose;
        }
        pw_simulator::Verdict::Go
    })));
    let dispatching = queue(&server, &admin, for_printer(printers[0])).await;
    // The next one waits behind it.
    let waiting = queue(&server, &admin, for_printer(printers[0])).await;
    for _ in 0..300 {
        if sent.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent.load(std::sync::atomic::Ordering::SeqCst),
        "the start was sent"
    );
    assert_eq!(
        item(&server, &admin, dispatching).await["state"],
        "dispatching"
    );
    remove(printers[0]).await;
    wait_item(&server, &admin, dispatching, gone).await;
    assert!(farm.printers[0].starts().is_empty());
    let still = wait_item(&server, &admin, waiting, |i| {
        i["state"] == "queued"
            && i["waiting_for"] == "Its printer or location was removed: choose another target."
    })
    .await;
    assert_eq!(still["printer_id"], Value::Null, "{still}");
    farm.printers[0].set_hook(None);
}
