//! The archive's files, pictures and identity end to end (issue 15 item 4): a print started
//! elsewhere is linked to its file fetched from the simulated printer's SD card over FTPS
//! (hash, plate image, filament grams) and gets its end-of-print camera frame; the same file
//! printed twice is two entries; hostile or absent files leave the entry without a file;
//! photos with their type, size, count and rights; one blob reference count shared with the
//! library (a library file's deletion keeps the content an entry names, the entry's deletion
//! frees it).

use pw_simulator::{Printer, SlicerPrint};
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};
use sha2::Digest;

use crate::archive::{farm, ids, list, record, user_with, wait_entry};
use crate::library::{BOUNDARY, PNG, authed, blobs, sliced_project, staging_files, upload, zip};
use crate::printers::{add, online, wait_for};

/// A server (with `env`) with one administrator and `sim` added with its FTPS and camera
/// ports, online.
async fn server_with(sim: &Printer, env: &[(&str, &str)]) -> (TestServer, Auth, i64) {
    let server = TestServer::spawn_env(env).await;
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

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Starts `path` (already on the card) as a slicer would.
pub(crate) fn print_elsewhere(sim: &Printer, path: &str) -> String {
    sim.print_from_elsewhere(&SlicerPrint {
        path: path.to_owned(),
        plate: 1,
        upload: None,
        subtask_name: None,
        url_style: None,
    })
    .unwrap()
    .task_id
}

/// A GET of raw bytes: status, headers, body.
async fn get_bytes(
    server: &TestServer,
    auth: &Auth,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = authed(server, auth, server.client.get(server.url(path)))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The blobs on disk, by hash.
fn stored(server: &TestServer) -> Vec<String> {
    blobs(server)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_print_started_elsewhere_is_linked_to_its_file_plate_image_filament_and_end_frame() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, _id) = server_with(sim, &[]).await;
    let file = sliced_project();
    sim.put_file("cube.gcode.3mf", file.clone());

    let first_task = print_elsewhere(sim, "cube.gcode.3mf");
    let first = wait_entry(&server, &admin, |e| {
        e["outcome"] == "finished" && !e["snapshot_url"].is_null() && !e["file_sha256"].is_null()
    })
    .await;
    assert_eq!(first["source"], "elsewhere");
    assert!(first["started_by"].is_null());
    assert_eq!(first["file_sha256"], sha256(&file), "the printer's file");
    assert!(first["library_file_id"].is_null(), "not in the library");
    assert_eq!(first["plate"], 1);
    let grams: Vec<f64> = first["filaments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["grams"].as_f64())
        .collect();
    assert_eq!(grams, [9.5, 2.84], "{}", first["filaments"]);
    assert!(
        first["filaments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "PLA" && f["color"].as_str().unwrap().starts_with("FF8000")),
        "{}",
        first["filaments"]
    );

    // The plate image: the PNG from the file, immutable under its hash, served as a picture.
    let thumb = first["thumbnail_url"].as_str().unwrap();
    assert!(thumb.starts_with(&format!("/api/v1/archives/{}/thumbnail?v=", first["id"])));
    let (status, headers, body) = get_bytes(&server, &admin, thumb).await;
    assert_eq!(status, 200);
    assert_eq!(body, PNG);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(header(&headers, "content-security-policy").starts_with("default-src 'none'"));
    assert!(header(&headers, "cache-control").contains("immutable"));
    let stale = format!(
        "/api/v1/archives/{}/thumbnail?v={}",
        first["id"],
        "0".repeat(64)
    );
    assert_eq!(get_bytes(&server, &admin, &stale).await.0, 404);

    // The end-of-print frame from the camera.
    let (status, headers, body) =
        get_bytes(&server, &admin, first["snapshot_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert!(body.starts_with(&[0xFF, 0xD8]), "a JPEG");

    // The same file again, back to back: a second entry (another task id), same content.
    let second_task = print_elsewhere(sim, "cube.gcode.3mf");
    assert_ne!(first_task, second_task);
    let second = wait_entry(&server, &admin, |e| {
        e["id"] != first["id"] && e["outcome"] == "finished" && !e["file_sha256"].is_null()
    })
    .await;
    assert_eq!(second["file_sha256"], first["file_sha256"]);
    assert_eq!(
        ids(&list(&server, &admin, "").await).len(),
        2,
        "two runs, two entries"
    );
    assert!(
        stored(&server).contains(&sha256(&file)),
        "one blob for both entries"
    );
}

#[tokio::test]
async fn hostile_or_absent_files_on_the_printer_leave_the_entry_without_a_file() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) =
        server_with(sim, &[("PRINTWARDEN_LIBRARY_MAX_UPLOAD_BYTES", "100000")]).await;
    let not_a_zip = b"<html><script>alert(1)</script></html>".repeat(10);
    // Incompressible, so the ZIP itself passes the 100 kB cap.
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let too_big = zip(&[("Metadata/pad.bin", &noise[..])]);
    assert!(too_big.len() > 100_000);
    let bomb_like = zip(&[("../../evil.txt", b"x".as_slice())]);
    for (name, bytes) in [
        ("notzip.gcode.3mf", not_a_zip.clone()),
        ("big.gcode.3mf", too_big.clone()),
        ("evil.gcode.3mf", bomb_like.clone()),
        ("gone.gcode.3mf", sliced_project()),
    ] {
        sim.put_file(name, bytes);
    }
    let mut seen = Vec::new();
    for name in [
        "notzip.gcode.3mf",
        "big.gcode.3mf",
        "evil.gcode.3mf",
        "gone.gcode.3mf",
    ] {
        print_elsewhere(sim, name);
        if name == "gone.gcode.3mf" {
            // Printing, but no longer on the card when printwarden looks (removed at once,
            // before the printer's next report reaches the server).
            assert!(sim.delete_file(name));
        }
        // Ended, with its frame: the fetch (begun when the entry opened) ran long before.
        let entry = wait_entry(&server, &admin, |e| {
            e["file_name"] == name && e["outcome"] != "printing" && !e["snapshot_url"].is_null()
        })
        .await;
        assert!(entry["file_sha256"].is_null(), "{name}: {entry}");
        assert!(entry["thumbnail_url"].is_null(), "{name}");
        seen.push(entry["id"].as_i64().unwrap());
    }
    let on_disk = stored(&server);
    for bytes in [&not_a_zip, &too_big, &bomb_like] {
        assert!(!on_disk.contains(&sha256(bytes)), "nothing kept");
    }
    assert_eq!(staging_files(&server), 0, "no staging left behind");
    assert_eq!(ids(&list(&server, &admin, "").await).len(), 4, "{seen:?}");
    // The server still answers (nothing panicked) and the printer is still followed.
    wait_for(&server, &admin, printer, online).await;
}

/// A multipart body with one `file` field.
fn photo_form(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub(crate) async fn add_photo(
    server: &TestServer,
    auth: &Auth,
    entry: i64,
    bytes: &[u8],
) -> (u16, Value) {
    let req = server
        .client
        .post(server.url(&format!("/api/v1/archives/{entry}/photos")))
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(photo_form("p.png", bytes));
    let resp = authed(server, auth, req).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn jpeg(tag: u8) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, tag,
    ];
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

#[tokio::test]
async fn photos_are_sniffed_bounded_counted_and_follow_the_entry_rights() {
    let (farm, _dir) = farm(1, 600.0).await;
    let (server, admin, printer) = server_with(&farm.printers[0], &[]).await;
    let ann = user_with(
        &server,
        &admin,
        "ann",
        &[
            "printers:read",
            "archives:read_own",
            "archives:create",
            "archives:update_own",
        ],
    )
    .await;
    let rita = user_with(
        &server,
        &admin,
        "rita",
        &["printers:read", "archives:read_own", "archives:create"],
    )
    .await;
    let mine = record(&server, &ann, printer, "mine.3mf", 1, "finished").await;
    let ritas = record(&server, &rita, printer, "ritas.3mf", 2, "finished").await;

    // A PNG: stored, listed with who added it, served with its sniffed type.
    let (status, entry) = add_photo(&server, &ann, mine, PNG).await;
    assert_eq!(status, 201, "{entry}");
    let photo = &entry["photos"][0];
    assert_eq!(photo["added_by"]["name"], "ann");
    assert!(photo["added_at"].is_string());
    let url = photo["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("/api/v1/archives/{mine}/photos/{}", photo["id"])
    );
    let (status, headers, body) = get_bytes(&server, &ann, &url).await;
    assert_eq!((status, body.as_slice()), (200, PNG));
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(header(&headers, "content-security-policy").contains("sandbox"));
    let (status, entry) = add_photo(&server, &ann, mine, &jpeg(1)).await;
    assert_eq!(status, 201);
    assert_eq!(entry["photos"].as_array().unwrap().len(), 2);
    let jpeg_url = entry["photos"][1]["url"].as_str().unwrap().to_owned();
    let (_, headers, _) = get_bytes(&server, &ann, &jpeg_url).await;
    assert_eq!(header(&headers, "content-type"), "image/jpeg");

    // Wrong type (an SVG, HTML, a GIF) → 400 and nothing stored; too big → 413.
    let before = stored(&server);
    for bad in [
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
        b"<html><body>hi</body></html>".to_vec(),
        b"GIF89a\x01\x00\x01\x00".to_vec(),
    ] {
        let (status, body) = add_photo(&server, &ann, mine, &bad).await;
        assert_eq!(status, 400, "{body}");
    }
    let mut big = jpeg(2);
    big.resize(10 * 1024 * 1024 + 1, 0);
    let (status, _) = add_photo(&server, &ann, mine, &big).await;
    assert_eq!(status, 413);
    assert_eq!(stored(&server), before, "nothing stored");
    assert_eq!(staging_files(&server), 0);

    // Someone else's entry: 404 for every verb; read but not update: refused.
    assert_eq!(add_photo(&server, &ann, ritas, PNG).await.0, 404);
    assert_eq!(add_photo(&server, &rita, mine, PNG).await.0, 404);
    assert_eq!(get_bytes(&server, &rita, &url).await.0, 404);
    let del = server.call(&rita, "DELETE", &url, None).await;
    assert_eq!(del.status, 404);
    assert_eq!(
        add_photo(&server, &rita, ritas, PNG).await.0,
        403,
        "no update right"
    );

    // An API key without the update scope reads but cannot add or delete.
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "reader", "scopes": ["archives:read_all"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let key = Auth::Key(key.json["key"].as_str().unwrap().to_owned());
    assert_eq!(get_bytes(&server, &key, &url).await.0, 200);
    assert_eq!(add_photo(&server, &key, mine, PNG).await.0, 403);
    assert_eq!(server.call(&key, "DELETE", &url, None).await.status, 403);

    // At most 20 photos, also when 25 uploads race for the last 18 places: the count and the
    // insert happen under one lock, so exactly 18 are kept and the refused ones leave nothing.
    let uploads = (0..25u8).map(|i| jpeg(i + 10)).collect::<Vec<_>>();
    let answers = futures_util::future::join_all(
        uploads
            .iter()
            .map(|bytes| add_photo(&server, &ann, mine, bytes)),
    )
    .await;
    let kept: Vec<&Vec<u8>> = uploads
        .iter()
        .zip(&answers)
        .filter(|(_, (status, _))| *status == 201)
        .map(|(bytes, _)| bytes)
        .collect();
    assert_eq!(kept.len(), 18, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 201 || *status == 409)
    );
    let entry = server
        .call(&ann, "GET", &format!("/api/v1/archives/{mine}"), None)
        .await;
    assert_eq!(entry.json["photos"].as_array().map(Vec::len), Some(20));
    for (bytes, (status, _)) in uploads.iter().zip(&answers) {
        assert_eq!(stored(&server).contains(&sha256(bytes)), *status == 201);
    }

    // Delete: gone, and its blob with it (nothing else names it).
    let del = server.call(&ann, "DELETE", &jpeg_url, None).await;
    assert_eq!(del.status, 204);
    assert_eq!(get_bytes(&server, &ann, &jpeg_url).await.0, 404);
    assert!(!stored(&server).contains(&sha256(&jpeg(1))));
    assert!(stored(&server).contains(&sha256(PNG)));
    // The entry's deletion takes the rest.
    let del = server
        .call(&admin, "DELETE", &format!("/api/v1/archives/{mine}"), None)
        .await;
    assert_eq!(del.status, 204);
    assert!(stored(&server).is_empty(), "{:?}", stored(&server));
}

#[tokio::test]
async fn a_library_file_an_entry_printed_stays_until_the_entry_goes_too() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, _id) = server_with(sim, &[]).await;
    let file = sliced_project();
    let kept = upload(&server, &admin, "cube.gcode.3mf", &file).await;
    sim.put_file("cube.gcode.3mf", file.clone());
    print_elsewhere(sim, "cube.gcode.3mf");
    let entry = wait_entry(&server, &admin, |e| {
        e["outcome"] == "finished" && !e["thumbnail_url"].is_null() && !e["snapshot_url"].is_null()
    })
    .await;
    assert_eq!(entry["file_sha256"], kept["sha256"]);
    assert_eq!(
        entry["library_file_id"], kept["id"],
        "the library has that content"
    );
    let sha = sha256(&file);

    // The library file goes; its content stays for the entry, which still shows its picture.
    let del = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/library/files/{}", kept["id"]),
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    assert!(stored(&server).contains(&sha), "the entry names it");
    let again = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/archives/{}", entry["id"]),
            None,
        )
        .await;
    assert!(again.json["library_file_id"].is_null());
    assert_eq!(again.json["file_sha256"], json!(sha));
    let (status, _, body) =
        get_bytes(&server, &admin, entry["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!((status, body.as_slice()), (200, PNG));

    // The entry goes: nothing names the file, the plate image or the frame any more.
    let del = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/archives/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    assert!(stored(&server).is_empty(), "{:?}", stored(&server));
}
