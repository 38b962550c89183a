//! Reprint from the archive end to end (issue 16), with the simulator's start log as the
//! oracle: a finished entry of plate 2 printed from the library, reprinted on its printer,
//! becomes a queue item that the dispatcher starts there once the plate is confirmed clear,
//! ending as a second entry with the same content and plate; an entry of a print started
//! elsewhere (its file fetched from the printer) reprints the same way, and the item names the
//! library file when the library holds that content.

use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::archive::{farm, wait_entry};
use crate::archive_media::print_elsewhere;
use crate::dispatch::{accepted, item, wait_item};
use crate::journey::{finished_entry, server_with};
use crate::library::{sliced_project, upload};
use crate::printers::wait_for;
use crate::printfiles;

async fn reprint(server: &TestServer, auth: &Auth, entry: i64, printer: i64) -> Value {
    let a = server
        .call(
            auth,
            "POST",
            &format!("/api/v1/archives/{entry}/reprint"),
            Some(json!({"printer_id": printer})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json
}

async fn clear_plate(server: &TestServer, auth: &Auth, printer: i64) {
    let a = server
        .call(
            auth,
            "POST",
            &format!("/api/v1/printers/{printer}/plate-cleared"),
            None,
        )
        .await;
    assert_eq!(a.status, 204, "{:?}", a.json);
}

#[tokio::test]
async fn a_finished_library_print_reprints_once_its_plate_is_cleared() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = server_with(sim).await;
    let bytes = printfiles::sliced_project_with_images(printfiles::PNG, printfiles::PNG);
    let file = upload(&server, &admin, "Two plates.gcode.3mf", &bytes).await;
    let file_id = file["id"].as_i64().unwrap();
    let started = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/library/files/{file_id}/print"),
            Some(json!({"printer_id": printer, "plate": 2})),
        )
        .await;
    assert_eq!(started.status, 202, "{:?}", started.json);
    let first = started.json["archive_id"].as_i64().unwrap();
    let entry = finished_entry(&server, &admin, first).await;
    assert_eq!(entry["outcome"], "finished", "{entry}");
    assert_eq!(entry["plate"], 2);
    wait_for(&server, &admin, printer, |v| v["plate_cleared"] == false).await;

    let queued = reprint(&server, &admin, first, printer).await;
    let id = queued["id"].as_i64().unwrap();
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(queued["plate"], 2);
    assert_eq!(queued["file_id"], file_id, "the library still holds it");
    assert_eq!(queued["file_sha256"], file["sha256"]);
    let waiting = wait_item(&server, &admin, id, |i| i["waiting_for"].is_string()).await;
    let words = waiting["waiting_for"].as_str().unwrap();
    assert!(words.contains("plate"), "{words}");
    assert_eq!(item(&server, &admin, id).await["state"], "queued");
    assert_eq!(
        accepted(sim).len(),
        1,
        "nothing before the plate is cleared"
    );

    clear_plate(&server, &admin, printer).await;
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    let second = done["run_archive_id"]
        .as_i64()
        .expect("the reprint's entry");
    assert_ne!(second, first);
    let again = finished_entry(&server, &admin, second).await;
    assert_eq!(again["outcome"], "finished", "{again}");
    assert_eq!(again["file_sha256"], entry["file_sha256"]);
    assert_eq!(again["plate"], 2);
    assert_eq!(again["library_file_id"], file_id);
    let starts = sim.starts();
    assert_eq!(starts.len(), 2, "exactly two starts: {starts:?}");
    assert!(
        starts.iter().all(|s| s.accepted && s.plate == 2),
        "{starts:?}"
    );
}

#[tokio::test]
async fn a_print_started_elsewhere_reprints_from_its_fetched_file() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = server_with(sim).await;
    let bytes = sliced_project();
    sim.put_file("cube.gcode.3mf", bytes.clone());
    print_elsewhere(sim, "cube.gcode.3mf");
    let entry = wait_entry(&server, &admin, |e| {
        e["outcome"] == "finished" && !e["file_sha256"].is_null()
    })
    .await;
    assert!(
        entry["library_file_id"].is_null(),
        "not in the library then"
    );
    let first = entry["id"].as_i64().unwrap();

    // The library gets the same bytes later: the reprint names that file.
    let file = upload(&server, &admin, "Cube.gcode.3mf", &bytes).await;
    assert_eq!(file["sha256"], entry["file_sha256"]);
    let queued = reprint(&server, &admin, first, printer).await;
    let id = queued["id"].as_i64().unwrap();
    assert_eq!(queued["file_id"], file["id"], "{queued}");
    assert_eq!(queued["plate"], 1);

    wait_for(&server, &admin, printer, |v| v["plate_cleared"] == false).await;
    clear_plate(&server, &admin, printer).await;
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    let again = finished_entry(&server, &admin, done["run_archive_id"].as_i64().unwrap()).await;
    assert_eq!(again["file_sha256"], entry["file_sha256"]);
    assert_eq!(again["plate"], 1);
    let starts = accepted(sim);
    assert_eq!(starts.len(), 2, "elsewhere, then the reprint: {starts:?}");
}
