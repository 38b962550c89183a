//! Issue 15's "Must show" journey on a simulated printer with a camera, both starts: a sliced
//! two-plate `.gcode.3mf` uploaded to the library is parsed into its plates; printing plate 2
//! from the library (and the same bytes through upload-and-print) ends as a FINISHED archive
//! entry with its duration, the grams plate 2's slice info gives, the content's SHA-256 (and
//! the library file it came from), plate 2's own image and a JPEG end frame; the printer card
//! names the entry while the job runs.

use pw_simulator::Printer;
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};
use sha2::Digest;

use crate::archive::farm;
use crate::library::{authed, upload};
use crate::printers::{add, online, print, wait_for};
use crate::printfiles;

/// Plate images the test can tell apart (the server serves them as stored; nobody decodes them).
fn plate_png(tag: u8) -> Vec<u8> {
    let mut png = printfiles::PNG.to_vec();
    png.extend_from_slice(&[tag; 16]);
    png
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A server with one administrator and `sim` added with its FTPS and camera ports, online.
pub(crate) async fn server_with(sim: &Printer) -> (TestServer, Auth, i64) {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let id = add(
        &server,
        &admin,
        sim,
        json!({"ftps_port": sim.info.ftps_port, "camera_port": sim.info.camera_port}),
    )
    .await;
    wait_for(&server, &admin, id, online).await;
    (server, admin, id)
}

async fn get_bytes(server: &TestServer, auth: &Auth, path: &str) -> (u16, String, Vec<u8>) {
    let resp = authed(server, auth, server.client.get(server.url(path)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, resp.bytes().await.unwrap().to_vec())
}

/// Polls `GET /api/v1/printers` until the card of `printer` names an archive entry while the
/// printer is busy; that entry's id.
async fn card_archive_id(server: &TestServer, auth: &Auth, printer: i64) -> i64 {
    let mut last = Value::Null;
    for _ in 0..300 {
        let list = server.call(auth, "GET", "/api/v1/printers", None).await;
        assert_eq!(list.status, 200, "{:?}", list.json);
        last = list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == printer)
            .cloned()
            .unwrap_or(Value::Null);
        if last["status"]["busy"] == true
            && let Some(id) = last["archive_id"].as_i64()
        {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last["status"]["busy"] == true && last["archive_id"].is_i64(),
        "the printer card never named the running job's entry: {last}"
    );
    last["archive_id"].as_i64().unwrap()
}

/// Polls the entry until it ended with its end frame (20 s at most).
pub(crate) async fn finished_entry(server: &TestServer, auth: &Auth, id: i64) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        let got = server
            .call(auth, "GET", &format!("/api/v1/archives/{id}"), None)
            .await;
        assert_eq!(got.status, 200, "{:?}", got.json);
        last = got.json;
        if last["outcome"] != "printing"
            && !last["snapshot_url"].is_null()
            && !last["thumbnail_url"].is_null()
        {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last["outcome"] != "printing" && !last["snapshot_url"].is_null(),
        "the entry never ended with its pictures: {last}"
    );
    last
}

/// What both starts must end with: finished, timed, plate 2's grams and image, the content's
/// hash, and a JPEG end frame.
async fn assert_archived(
    server: &TestServer,
    auth: &Auth,
    entry: &Value,
    content: &[u8],
    plate_image: &[u8],
) {
    assert_eq!(entry["outcome"], "finished", "{entry}");
    assert!(entry["error"].is_null(), "{entry}");
    assert!(entry["ended_at"].is_string(), "{entry}");
    assert!(
        entry["duration_s"].as_i64().is_some_and(|d| d >= 1),
        "{entry}"
    );
    assert_eq!(entry["plate"], 2, "{entry}");
    assert_eq!(entry["file_sha256"], sha256(content), "{entry}");
    // Plate 2 uses one filament: one line, the tray the printer used with the plate's grams
    // (not the tray and the file's filament side by side).
    let filaments = entry["filaments"].as_array().unwrap();
    assert_eq!(filaments.len(), 1, "{}", entry["filaments"]);
    assert_eq!(filaments[0]["grams"], 1.5, "plate 2's slice info");
    assert_eq!(filaments[0]["type"], "PLA");

    let thumb = entry["thumbnail_url"].as_str().unwrap();
    let (status, kind, body) = get_bytes(server, auth, thumb).await;
    assert_eq!(status, 200, "{thumb}");
    assert_eq!(kind, "image/png");
    assert_eq!(body, plate_image, "plate 2's own image");

    let snapshot = entry["snapshot_url"].as_str().unwrap();
    let (status, kind, body) = get_bytes(server, auth, snapshot).await;
    assert_eq!(status, 200, "{snapshot}");
    assert_eq!(kind, "image/jpeg");
    assert!(body.starts_with(&[0xFF, 0xD8]), "a JPEG end frame");
}

#[tokio::test]
async fn a_library_file_printed_from_the_library_is_archived_finished_with_plate_two_and_pictures()
{
    let (farm, _dir) = farm(1, 2.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = server_with(sim).await;
    let (one, two) = (plate_png(1), plate_png(2));
    let bytes = printfiles::sliced_project_with_images(&one, &two);

    // Upload → parsed plates, each with its own image.
    let file = upload(&server, &admin, "Two plates.gcode.3mf", &bytes).await;
    let id = file["id"].as_i64().unwrap();
    let got = server
        .call(&admin, "GET", &format!("/api/v1/library/files/{id}"), None)
        .await;
    assert_eq!(got.status, 200, "{:?}", got.json);
    let plates = got.json["plates"].as_array().unwrap();
    assert_eq!(plates.len(), 2, "{plates:?}");
    assert_eq!(plates[1]["index"], 2);
    assert_eq!(plates[1]["weight_g"], 1.5);
    for (plate, image) in plates.iter().zip([&one, &two]) {
        let url = plate["thumbnail_url"].as_str().unwrap();
        let (status, _, body) = get_bytes(&server, &admin, url).await;
        assert_eq!((status, &body), (200, image), "{url}");
    }

    // Print plate 2: the answer names the entry, the card names it while printing.
    let started = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/library/files/{id}/print"),
            Some(json!({"printer_id": printer, "plate": 2})),
        )
        .await;
    assert_eq!(started.status, 202, "{:?}", started.json);
    let archive_id = started.json["archive_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no archive_id in {:?}", started.json));
    assert_eq!(card_archive_id(&server, &admin, printer).await, archive_id);

    let entry = finished_entry(&server, &admin, archive_id).await;
    assert_archived(&server, &admin, &entry, &bytes, &two).await;
    assert_eq!(entry["library_file_id"], id, "{entry}");
    assert_eq!(entry["file_sha256"], file["sha256"]);
    assert_eq!(entry["file_name"], "Two plates.gcode.3mf");
    // The card lets go of the entry once the job ended.
    wait_for(&server, &admin, printer, |v| {
        v["status"]["busy"] == false && v["archive_id"].is_null()
    })
    .await;
}

#[tokio::test]
async fn upload_and_print_of_plate_two_is_archived_finished_with_its_file_and_pictures() {
    let (farm, _dir) = farm(1, 2.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = server_with(sim).await;
    let (one, two) = (plate_png(1), plate_png(2));
    let bytes = printfiles::sliced_project_with_images(&one, &two);

    let (status, body) = print(
        &server,
        &admin,
        printer,
        "Two plates.gcode.3mf&plate=2",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let archive_id = card_archive_id(&server, &admin, printer).await;

    let entry = finished_entry(&server, &admin, archive_id).await;
    assert_archived(&server, &admin, &entry, &bytes, &two).await;
    assert!(entry["library_file_id"].is_null(), "not from the library");
    assert_eq!(entry["file_name"], "Two plates.gcode.3mf");
    assert_eq!(entry["started_by"]["name"], "admin");
    wait_for(&server, &admin, printer, |v| {
        v["status"]["busy"] == false && v["archive_id"].is_null()
    })
    .await;
}
