//! The file library (issue 15): uploads of each kind with their parsed facts, content stored
//! once by SHA-256, bad files refused with nothing stored, the size limit, ranged downloads
//! with a safe `Content-Disposition`, folders without cycles, every `_own`/`_all` rule
//! (ownerless files, 404 for others' files, a one-scope API key), parallel uploads of the same
//! bytes, and user deletion with `items=keep` / `items=delete`.
//!
//! Fixtures are built here from the documented structure (see
//! `crates/printfile/tests/common` for the fuller set and what they were verified against).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

// ---------------------------------------------------------------- fixtures

pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x02\0\0\0\x02\0\x08\x06\0\0\0";

const CORE_MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
  <metadata name="Title">Desk organiser</metadata>
  <resources>
    <object id="2" name="Cube" type="model"><mesh>
      <vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/></vertices>
      <triangles><triangle v1="0" v2="1" v3="2"/></triangles>
    </mesh></object>
  </resources>
  <build><item objectid="2"/></build>
</model>"#;

const SLICE_INFO: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header><header_item key="X-BBL-Client-Type" value="slicer"/></header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="3723"/>
    <metadata key="weight" value="12.34"/>
    <object identify_id="139" name="Cube" skipped="false" />
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#FF8000" used_m="3.21" used_g="9.5"/>
    <filament id="4" tray_info_idx="GFG99" type="PETG" color="#000000" used_m="0.90" used_g="2.84"/>
  </plate>
</config>"##;

const PROJECT_SETTINGS: &str = r#"{"printer_model": "Bambu Lab P1S", "layer_height": "0.2"}"#;

pub(crate) fn gcode_text() -> String {
    "; HEADER_BLOCK_START\n\
     ; BambuStudio 02.08.02.61\n\
     ; model printing time: 58m 3s; total estimated time: 1h 2m 3s\n\
     ; total layer number: 124\n\
     ; total filament weight [g] : 12.34\n\
     ; HEADER_BLOCK_END\n\
     ; CONFIG_BLOCK_START\n\
     ; filament_colour = #FF8000\n\
     ; filament_type = PLA\n\
     ; printer_model = Bambu Lab P1S\n\
     ; CONFIG_BLOCK_END\n\
     M73 P0 R62\nG28\nM104 S220\nG1 X10 Y10 Z0.2 E1.0\n"
        .to_owned()
}

pub(crate) fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, bytes) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A one-plate sliced project (`.gcode.3mf`) with a plate image.
pub(crate) fn sliced_project() -> Vec<u8> {
    let g = gcode_text();
    zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        (
            "Metadata/project_settings.config",
            PROJECT_SETTINGS.as_bytes(),
        ),
        ("Metadata/slice_info.config", SLICE_INFO.as_bytes()),
        ("Metadata/plate_1.gcode", g.as_bytes()),
        ("Metadata/plate_1.png", PNG),
    ])
}

/// An unsliced project (`.3mf`): model and settings, no G-code.
pub(crate) fn unsliced_project() -> Vec<u8> {
    zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        (
            "Metadata/project_settings.config",
            PROJECT_SETTINGS.as_bytes(),
        ),
        ("Metadata/plate_1.png", PNG),
    ])
}

/// A binary STL with one triangle.
pub(crate) fn stl() -> Vec<u8> {
    let mut b = vec![0u8; 80];
    b.extend_from_slice(&1u32.to_le_bytes());
    for v in [
        0.0f32, 0.0, 1.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 10.0, 0.0,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0, 0]);
    b
}

fn patch_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

// ---------------------------------------------------------------- helpers

pub(crate) const BOUNDARY: &str = "pwtestboundary7MA4YWxkTrZu0gW";

fn multipart(file_name: &str, bytes: &[u8], folder: Option<i64>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(f) = folder {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"folder_id\"\r\n\r\n{f}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub(crate) fn authed(
    server: &TestServer,
    auth: &Auth,
    req: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => req,
        Auth::Cookie(c) => req
            .header(reqwest::header::COOKIE, c)
            .header(reqwest::header::ORIGIN, server.origin()),
        Auth::Key(k) => req.bearer_auth(k),
    }
}

pub(crate) async fn upload_to(
    server: &TestServer,
    auth: &Auth,
    name: &str,
    bytes: &[u8],
    folder: Option<i64>,
) -> (u16, Value) {
    let req = server
        .client
        .post(server.url("/api/v1/library/files"))
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(name, bytes, folder));
    let resp = authed(server, auth, req).send().await.unwrap();
    let status = resp.status().as_u16();
    let json = resp.json().await.unwrap_or(Value::Null);
    (status, json)
}

pub(crate) async fn upload(server: &TestServer, auth: &Auth, name: &str, bytes: &[u8]) -> Value {
    let (status, json) = upload_to(server, auth, name, bytes, None).await;
    assert_eq!(status, 201, "{json}");
    json
}

/// Uploads the sliced project fixture as `name`; the new file's id.
pub(crate) async fn upload_sliced(server: &TestServer, auth: &Auth, name: &str) -> i64 {
    upload(server, auth, name, &sliced_project()).await["id"]
        .as_i64()
        .unwrap()
}

pub(crate) async fn get_raw(
    server: &TestServer,
    auth: &Auth,
    path: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = server.client.get(server.url(path));
    if let Some(r) = range {
        req = req.header(reqwest::header::RANGE, r);
    }
    authed(server, auth, req).send().await.unwrap()
}

fn blob_dir(server: &TestServer) -> PathBuf {
    server.data_dir.join("blobs")
}

/// Every stored blob file (not the staging directory).
pub(crate) fn blobs(server: &TestServer) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "tmp") {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&blob_dir(server), &mut out);
    out.sort();
    out
}

pub(crate) fn staging_files(server: &TestServer) -> usize {
    std::fs::read_dir(blob_dir(server).join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn list(server: &TestServer, auth: &Auth, query: &str) -> Value {
    let a = server
        .call(auth, "GET", &format!("/api/v1/library/files{query}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn user_with(
    server: &TestServer,
    admin: &Auth,
    name: &str,
    perms: &[&str],
) -> (i64, Auth) {
    let group = server
        .create_group(admin, &format!("{name}-group"), perms)
        .await;
    let id = server.create_user(admin, name, &[group]).await;
    (id, server.login(name, TEST_PASSWORD).await)
}

const OWN: &[&str] = &[
    "library:read_own",
    "library:upload",
    "library:update_own",
    "library:delete_own",
];

/// A sliced project with a plate image and an empty folder, uploaded as `auth` (the rows the
/// route walks of other modules name): `(file id, folder id)`.
pub(crate) async fn seed_library(server: &TestServer, auth: &Auth) -> (i64, i64) {
    let file = upload(server, auth, "seed.gcode.3mf", &sliced_project()).await["id"]
        .as_i64()
        .unwrap();
    let folder = server
        .call(
            auth,
            "POST",
            "/api/v1/library/folders",
            Some(json!({"name": "Seed folder"})),
        )
        .await;
    assert_eq!(folder.status, 201, "{:?}", folder.json);
    (file, folder.json["id"].as_i64().unwrap())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn library_upload_each_kind_answers_its_facts() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;

    let sliced = upload(&server, &admin, "benchy.gcode.3mf", &sliced_project()).await;
    assert_eq!(sliced["kind"], "gcode.3mf");
    assert_eq!(sliced["name"], "benchy.gcode.3mf");
    assert_eq!(sliced["owner"]["name"], "admin");
    assert_eq!(sliced["uploaded_by"]["name"], "admin");
    assert_eq!(sliced["sha256"].as_str().unwrap().len(), 64);
    let plate = &sliced["plates"][0];
    assert_eq!(plate["index"], 1);
    assert_eq!(plate["printer_model"], "Bambu Lab P1S");
    assert_eq!(plate["printer_model_id"], "C12");
    assert_eq!(plate["predicted_seconds"], 3723);
    assert_eq!(plate["weight_g"], 12.34);
    assert_eq!(
        plate["filaments"],
        json!([
            {"slot": 1, "type": "PLA", "color": "#FF8000", "grams": 9.5, "meters": 3.21},
            {"slot": 4, "type": "PETG", "color": "#000000", "grams": 2.84, "meters": 0.9},
        ])
    );
    let thumb = plate["thumbnail_url"].as_str().unwrap().to_owned();
    assert!(
        thumb.contains(&sliced["sha256"].as_str().unwrap()[..16]),
        "{thumb}"
    );
    let r = get_raw(&server, &admin, &thumb, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // A stale version and a plate without an image are 404s.
    let id = sliced["id"].as_i64().unwrap();
    let stale = format!("/api/v1/library/files/{id}/plates/1/thumbnail?v=0000000000000000");
    assert_eq!(get_raw(&server, &admin, &stale, None).await.status(), 404);
    let none = format!("/api/v1/library/files/{id}/plates/9/thumbnail");
    assert_eq!(get_raw(&server, &admin, &none, None).await.status(), 404);

    let project = upload(&server, &admin, "organiser.3mf", &unsliced_project()).await;
    assert_eq!(project["kind"], "3mf");
    assert_eq!(project["title"], "Desk organiser");
    assert_eq!(project["objects"], json!(["Cube"]));

    let gcode = upload(&server, &admin, "part.gcode", gcode_text().as_bytes()).await;
    assert_eq!(gcode["kind"], "gcode");
    assert_eq!(gcode["plates"][0]["predicted_seconds"], 3723);
    assert_eq!(gcode["plates"][0]["weight_g"], 12.34);
    assert_eq!(gcode["plates"][0]["filaments"][0]["type"], "PLA");

    // Kind by content, not by name: an STL named .gcode is an STL.
    let model = upload(&server, &admin, "bracket.gcode", &stl()).await;
    assert_eq!(model["kind"], "stl");
    assert_eq!(model["plates"], json!([]));

    let got = server
        .call(&admin, "GET", &format!("/api/v1/library/files/{id}"), None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["plates"], sliced["plates"]);
    assert_eq!(blobs(&server).len(), 4);
    assert_eq!(staging_files(&server), 0);
}

/// A thumbnail block as PrusaSlicer/OrcaSlicer/Bambu Studio embed it in G-code comments.
fn thumbnail_block(tag: &str, size: &str, data: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut s = format!(";\n; {tag} begin {size} {}\n", b64.len());
    for chunk in b64.as_bytes().chunks(78) {
        s.push_str(&format!("; {}\n", std::str::from_utf8(chunk).unwrap()));
    }
    s.push_str(&format!("; {tag} end\n;\n"));
    s
}

#[tokio::test]
async fn library_serves_the_thumbnail_a_gcode_file_embeds() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let fetch = |file: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            let url = file["plates"][0]["thumbnail_url"]
                .as_str()
                .unwrap_or_else(|| panic!("no thumbnail_url: {file}"))
                .to_owned();
            let r = get_raw(server, admin, &url, None).await;
            assert_eq!(r.status(), 200);
            assert!(
                r.headers()["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            (kind, r.bytes().await.unwrap().to_vec())
        }
    };

    // PrusaSlicer shape: a small and a large PNG and a QOI (never served): the large PNG.
    let mut large = PNG.to_vec();
    large.extend_from_slice(&[7; 300]);
    let text = format!(
        "; generated by PrusaSlicer 2.7.1\n{}{}{}{}",
        thumbnail_block("thumbnail", "16x16", PNG),
        thumbnail_block("thumbnail_QOI", "400x400", b"qoif\0\0"),
        thumbnail_block("thumbnail", "220x124", &large),
        gcode_text()
    );
    let file = upload(&server, &admin, "prusa.gcode", text.as_bytes()).await;
    assert_eq!(file["kind"], "gcode");
    assert_eq!(file["plates"][0]["predicted_seconds"], 3723);
    assert_eq!(fetch(file).await, ("image/png".to_owned(), large.clone()));

    // Only a JPEG: served as image/jpeg.
    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    let text = format!(
        "{}{}",
        thumbnail_block("thumbnail_JPG", "300x300", &jpeg),
        gcode_text()
    );
    let file = upload(&server, &admin, "orca.gcode", text.as_bytes()).await;
    assert_eq!(fetch(file).await, ("image/jpeg".to_owned(), jpeg.to_vec()));

    // A truncated block and a huge declared length: no image, the file is still taken.
    let good = thumbnail_block("thumbnail", "16x16", PNG);
    let text = format!(
        "; thumbnail begin 9x9 99999999999\n; AAAA\n; thumbnail end\n{}\nG28\n{}",
        &good[..good.len() - 30],
        gcode_text()
    );
    let file = upload(&server, &admin, "broken.gcode", text.as_bytes()).await;
    assert_eq!(file["plates"][0]["thumbnail_url"], Value::Null);
    let id = file["id"].as_i64().unwrap();
    let none = format!("/api/v1/library/files/{id}/plates/1/thumbnail");
    assert_eq!(get_raw(&server, &admin, &none, None).await.status(), 404);

    // A sliced project whose plate has no PNG member: the image its G-code embeds.
    let g = format!(
        "{}{}",
        thumbnail_block("thumbnail", "512x512", &large),
        gcode_text()
    );
    let bytes = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/slice_info.config", SLICE_INFO.as_bytes()),
        ("Metadata/plate_1.gcode", g.as_bytes()),
    ]);
    let file = upload(&server, &admin, "nopng.gcode.3mf", &bytes).await;
    assert_eq!(file["kind"], "gcode.3mf");
    assert_eq!(fetch(file).await, ("image/png".to_owned(), large));
}

#[tokio::test]
async fn library_stores_the_same_bytes_once_and_deletes_them_with_the_last_file() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let bytes = sliced_project();
    let a = upload(&server, &admin, "a.gcode.3mf", &bytes).await;
    let b = upload(&server, &admin, "b.gcode.3mf", &bytes).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(blobs(&server).len(), 1, "one blob for two files");
    let blob = &blobs(&server)[0];
    let sha = a["sha256"].as_str().unwrap();
    assert!(
        blob.ends_with(format!("{}/{}/{sha}", &sha[..2], &sha[2..4])),
        "{blob:?}"
    );

    let usage = server
        .call(&admin, "GET", "/api/v1/library/usage", None)
        .await;
    assert_eq!(usage.status, 200);
    assert_eq!(usage.json["files"], 2);
    assert_eq!(usage.json["blobs"], 1);
    assert_eq!(usage.json["bytes"], bytes.len());
    assert_eq!(usage.json["listed_bytes"], 2 * bytes.len());

    let del = |id: &Value| format!("/api/v1/library/files/{id}");
    assert_eq!(
        server
            .call(&admin, "DELETE", &del(&a["id"]), None)
            .await
            .status,
        204
    );
    assert_eq!(blobs(&server).len(), 1, "still named by b");
    let r = get_raw(
        &server,
        &admin,
        &format!("{}/download", del(&b["id"])),
        None,
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        server
            .call(&admin, "DELETE", &del(&b["id"]), None)
            .await
            .status,
        204
    );
    assert!(blobs(&server).is_empty(), "the last file took the blob");
    assert_eq!(
        server
            .call(&admin, "DELETE", &del(&b["id"]), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn library_refuses_bad_files_in_words_and_stores_nothing() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;

    let bomb = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/plate_1.gcode", &vec![0u8; 4 << 20]),
    ]);
    let mut traversal = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("xx/xx/evil.txt", b"payload"),
    ]);
    patch_all(&mut traversal, b"xx/xx/evil.txt", b"../../evil.txt");
    let malformed = zip(&[
        ("3D/3dmodel.model", CORE_MODEL.as_bytes()),
        ("Metadata/slice_info.config", b"<config><plate></config>"),
        ("Metadata/plate_1.gcode", b"G28"),
    ]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("bomb.gcode.3mf", bomb, "zip bombs"),
        ("traversal.3mf", traversal, "unsafe name"),
        ("malformed.gcode.3mf", malformed, "not valid XML"),
        (
            "not-a-zip.3mf",
            b"this is plain text, not an archive".to_vec(),
            "not a valid ZIP",
        ),
        (
            "photo.jpg",
            b"\xff\xd8\xff\xe0 a jpeg, not a print file".to_vec(),
            "not a 3MF project, a G-code file or an STL model",
        ),
    ];
    for (name, bytes, words) in cases {
        let (status, json) = upload_to(&server, &admin, name, &bytes, None).await;
        assert_eq!(status, 400, "{name}: {json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{name}: {message}");
        assert!(message.contains("Nothing was stored"), "{name}: {message}");
    }
    assert!(blobs(&server).is_empty(), "no blob: {:?}", blobs(&server));
    assert_eq!(staging_files(&server), 0);
    assert_eq!(list(&server, &admin, "").await["items"], json!([]));
    // The refusals are audited.
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=library.upload", None)
        .await;
    assert_eq!(
        audit.json["items"].as_array().map(Vec::len),
        Some(5),
        "{:?}",
        audit.json
    );

    // Not multipart, no file field, an unknown folder: 400 too, nothing stored.
    let r = server
        .call(
            &admin,
            "POST",
            "/api/v1/library/files",
            Some(json!({"file": "x"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let (status, _) = upload_to(
        &server,
        &admin,
        "part.gcode",
        gcode_text().as_bytes(),
        Some(999),
    )
    .await;
    assert_eq!(status, 400);
    assert!(blobs(&server).is_empty());
    assert_eq!(staging_files(&server), 0);
}

#[tokio::test]
async fn library_over_the_limit_is_413_and_leaves_no_staging_file() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_LIBRARY_MAX_UPLOAD_BYTES", "100000")]).await;
    let admin = server.setup_admin().await;
    let mut big = gcode_text().into_bytes();
    big.resize(300_000, b'\n');
    let (status, json) = upload_to(&server, &admin, "big.gcode", &big, None).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(
        json["error"]["message"],
        "The file is larger than the library's limit of 100000 bytes."
    );
    assert_eq!(staging_files(&server), 0);
    assert!(blobs(&server).is_empty());
    assert_eq!(list(&server, &admin, "").await["items"], json!([]));
    // Under the limit still works.
    upload(&server, &admin, "small.gcode", gcode_text().as_bytes()).await;
    let usage = server
        .call(&admin, "GET", "/api/v1/library/usage", None)
        .await;
    assert_eq!(usage.json["max_upload_bytes"], 100_000);
}

#[tokio::test]
async fn library_download_serves_ranges_and_a_safe_disposition() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let bytes = gcode_text().into_bytes();
    let hostile = "a\\\";x=y;é.gcode";
    let f = upload(&server, &admin, hostile, &bytes).await;
    let path = format!("/api/v1/library/files/{}/download", f["id"]);

    let r = get_raw(&server, &admin, &path, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(
        r.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(f["name"], "a\";x=y;é.gcode");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"a__x_y__.gcode\"; filename*=UTF-8''a%22%3Bx%3Dy%3B%C3%A9.gcode"
    );
    assert!(!disposition.contains(";x=y"), "{disposition}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let r = get_raw(&server, &admin, &path, Some("bytes=10-19")).await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let r = get_raw(&server, &admin, &path, Some("bytes=-7")).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[bytes.len() - 7..]);
    let r = get_raw(&server, &admin, &path, Some("bytes=5-")).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[5..]);
    let r = get_raw(&server, &admin, &path, Some("bytes=999999-")).await;
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    // Several ranges: the whole file.
    let r = get_raw(&server, &admin, &path, Some("bytes=0-1,5-6")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), bytes.len());
}

#[tokio::test]
async fn library_folders_nest_without_cycles_and_refuse_deletion_while_full() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mk = |name: &str, parent: Option<i64>| {
        let server = &server;
        let admin = &admin;
        let name = name.to_owned();
        async move {
            let r = server
                .call(
                    admin,
                    "POST",
                    "/api/v1/library/folders",
                    Some(json!({"name": name, "parent_id": parent})),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.json);
            r.json["id"].as_i64().unwrap()
        }
    };
    let a = mk("Brackets", None).await;
    let b = mk("Small", Some(a)).await;
    let c = mk("Tiny", Some(b)).await;
    let patch = |id: i64, body: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            server
                .call(
                    admin,
                    "PATCH",
                    &format!("/api/v1/library/folders/{id}"),
                    Some(body),
                )
                .await
        }
    };
    for (id, parent) in [(a, c), (a, b), (a, a), (b, c)] {
        let r = patch(id, json!({"parent_id": parent})).await;
        assert_eq!(r.status, 400, "{id} under {parent}: {:?}", r.json);
        assert!(
            r.message().contains("cannot be moved into itself"),
            "{}",
            r.message()
        );
    }
    let r = patch(c, json!({"parent_id": a, "name": "Mini"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["parent_id"], a);
    assert_eq!(r.json["name"], "Mini");
    assert_eq!(
        patch(c, json!({"parent_id": null})).await.json["parent_id"],
        Value::Null
    );
    assert_eq!(patch(c, json!({"parent_id": 99999})).await.status, 400);
    let r = server
        .call(
            &admin,
            "POST",
            "/api/v1/library/folders",
            Some(json!({"name": "x/y"})),
        )
        .await;
    assert_eq!(r.status, 400);

    // Files go into folders, list by folder, move back to the top.
    let (status, f) = upload_to(
        &server,
        &admin,
        "clip.gcode",
        gcode_text().as_bytes(),
        Some(b),
    )
    .await;
    assert_eq!(status, 201, "{f}");
    assert_eq!(f["folder_id"], b);
    assert_eq!(
        names(&list(&server, &admin, &format!("?folder_id={b}")).await),
        ["clip.gcode"]
    );
    assert!(names(&list(&server, &admin, "?folder_id=root").await).is_empty());
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/library/folders/{b}"),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.message().contains("not empty"), "{}", r.message());
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/library/folders/{a}"),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "a holds b");
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/library/files/{}", f["id"]),
            Some(json!({"folder_id": null, "name": "clip-v2.gcode", "tags": ["PLA", " fast ", "pla"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["folder_id"], Value::Null);
    assert_eq!(r.json["name"], "clip-v2.gcode");
    assert_eq!(r.json["tags"], json!(["PLA", "fast"]));
    assert_eq!(
        names(&list(&server, &admin, "?folder_id=root").await),
        ["clip-v2.gcode"]
    );
    for id in [b, a, c] {
        let r = server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/library/folders/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{id}: {:?}", r.json);
    }
    let tree = server
        .call(&admin, "GET", "/api/v1/library/folders", None)
        .await;
    assert_eq!(tree.json["items"], json!([]));
}

#[tokio::test]
async fn library_search_sort_and_pages_run_in_sql() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let g = gcode_text();
    let mut ids = Vec::new();
    for (i, name) in [
        "Charlie.gcode",
        "alpha.gcode",
        "Bravo_50%.gcode",
        "delta.gcode",
    ]
    .iter()
    .enumerate()
    {
        // Different content (and so sizes) per file.
        let body = format!("{g}{}", "G1 X1\n".repeat(i * 10));
        ids.push(upload(&server, &admin, name, body.as_bytes()).await["id"].clone());
    }
    server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/library/files/{}", ids[3]),
            Some(json!({"tags": ["Bracket"]})),
        )
        .await;
    assert_eq!(
        names(&list(&server, &admin, "?sort=name").await),
        [
            "alpha.gcode",
            "Bravo_50%.gcode",
            "Charlie.gcode",
            "delta.gcode"
        ]
    );
    assert_eq!(
        names(&list(&server, &admin, "?sort=-size").await),
        [
            "delta.gcode",
            "Bravo_50%.gcode",
            "alpha.gcode",
            "Charlie.gcode"
        ]
    );
    assert_eq!(
        names(&list(&server, &admin, "").await)[0],
        "delta.gcode",
        "newest first"
    );
    assert_eq!(
        names(&list(&server, &admin, "?q=BRACKET").await),
        ["delta.gcode"]
    );
    assert_eq!(
        names(&list(&server, &admin, "?q=50%25").await),
        ["Bravo_50%.gcode"]
    );
    assert!(
        names(&list(&server, &admin, "?q=_5").await).len() == 1,
        "_ is literal"
    );
    // Pages of two, by name.
    let first = list(&server, &admin, "?sort=name&limit=2").await;
    assert_eq!(names(&first), ["alpha.gcode", "Bravo_50%.gcode"]);
    let cursor = first["next"].as_str().unwrap();
    let second = list(
        &server,
        &admin,
        &format!("?sort=name&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&second), ["Charlie.gcode", "delta.gcode"]);
    assert_eq!(second["next"], Value::Null);
    // A cursor of another order, a bad sort: 400.
    let r = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/library/files?sort=size&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = server
        .call(&admin, "GET", "/api/v1/library/files?sort=colour", None)
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn library_own_and_all_rules_hold_for_every_route() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (_, olga) = user_with(&server, &admin, "olga", OWN).await;
    let (_, otto) = user_with(&server, &admin, "otto", OWN).await;
    let (_, rita) = user_with(&server, &admin, "rita", &["library:read_all"]).await;
    let (_, eddy) = user_with(
        &server,
        &admin,
        "eddy",
        &["library:update_all", "library:delete_all"],
    )
    .await;
    let (gone_id, gone) = user_with(&server, &admin, "gone", OWN).await;
    let (_, nobody) = user_with(&server, &admin, "nobody", &["printers:read"]).await;

    let mine = upload(&server, &olga, "olga.gcode", gcode_text().as_bytes()).await;
    let theirs = upload(
        &server,
        &otto,
        "otto.gcode",
        format!("{}; otto\n", gcode_text()).as_bytes(),
    )
    .await;
    let orphan = upload(
        &server,
        &gone,
        "gone.gcode",
        format!("{}; gone\n", gcode_text()).as_bytes(),
    )
    .await;
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{gone_id}?items=keep"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);

    // Lists: own files only for `_own`, every file (ownerless too) for `_all`.
    assert_eq!(names(&list(&server, &olga, "").await), ["olga.gcode"]);
    assert_eq!(names(&list(&server, &otto, "").await), ["otto.gcode"]);
    assert_eq!(
        names(&list(&server, &rita, "?sort=name").await),
        ["gone.gcode", "olga.gcode", "otto.gcode"]
    );
    let orphan_listed = &list(&server, &rita, "?q=gone").await["items"][0];
    assert_eq!(orphan_listed["owner"], Value::Null, "ownerless");
    assert_eq!(
        orphan_listed["uploaded_by"],
        json!({"id": null, "name": "gone"})
    );

    let file = |f: &Value| format!("/api/v1/library/files/{}", f["id"]);
    let status = |auth: &Auth, method: &'static str, path: String, body: Option<Value>| {
        let server = &server;
        let auth = auth.clone();
        async move {
            server
                .call(&auth, method, &path, body)
                .await
                .status
                .as_u16()
        }
    };
    let rename = || Some(json!({"name": "renamed.gcode"}));
    for target in [&theirs, &orphan] {
        // Someone else's file and an ownerless one are 404 for an `_own` holder, every route.
        assert_eq!(status(&olga, "GET", file(target), None).await, 404);
        assert_eq!(
            status(&olga, "GET", format!("{}/download", file(target)), None).await,
            404
        );
        assert_eq!(status(&olga, "PATCH", file(target), rename()).await, 404);
        assert_eq!(status(&olga, "DELETE", file(target), None).await, 404);
    }
    // A missing file looks the same.
    assert_eq!(
        status(&olga, "GET", "/api/v1/library/files/99999".into(), None).await,
        404
    );
    // Own file: every right.
    assert_eq!(status(&olga, "GET", file(&mine), None).await, 200);
    assert_eq!(
        status(&olga, "GET", format!("{}/download", file(&mine)), None).await,
        200
    );
    assert_eq!(status(&olga, "PATCH", file(&mine), rename()).await, 200);

    // read_all reads everything, changes nothing (no update or delete right: 403).
    for target in [&mine, &theirs, &orphan] {
        assert_eq!(status(&rita, "GET", file(target), None).await, 200);
        assert_eq!(status(&rita, "PATCH", file(target), rename()).await, 403);
        assert_eq!(status(&rita, "DELETE", file(target), None).await, 403);
    }
    assert_eq!(
        status(
            &rita,
            "POST",
            "/api/v1/library/folders".into(),
            Some(json!({"name": "x"}))
        )
        .await,
        403
    );
    // update_all/delete_all act on any file, ownerless too, without reading.
    assert_eq!(status(&eddy, "GET", file(&orphan), None).await, 403);
    assert_eq!(status(&eddy, "PATCH", file(&orphan), rename()).await, 200);
    assert_eq!(status(&eddy, "DELETE", file(&theirs), None).await, 204);
    // No library right at all: 403 at the door, never a hint about rows.
    assert_eq!(
        status(&nobody, "GET", "/api/v1/library/files".into(), None).await,
        403
    );
    assert_eq!(status(&nobody, "GET", file(&mine), None).await, 403);
    assert_eq!(
        status(&nobody, "GET", "/api/v1/library/folders".into(), None).await,
        403
    );
    // Usage and purge are for library:purge holders.
    assert_eq!(
        status(&rita, "GET", "/api/v1/library/usage".into(), None).await,
        403
    );
    assert_eq!(
        status(
            &eddy,
            "POST",
            "/api/v1/library/purge".into(),
            Some(json!({"scope": "all"}))
        )
        .await,
        403
    );
    // Purge of the ownerless files: only the orphan goes.
    let r = server
        .call(
            &admin,
            "POST",
            "/api/v1/library/purge",
            Some(json!({"scope": "ownerless"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["deleted"], 1);
    assert_eq!(names(&list(&server, &rita, "").await), ["renamed.gcode"]);
    assert_eq!(status(&rita, "GET", file(&orphan), None).await, 404);
    let r = server
        .call(
            &admin,
            "POST",
            "/api/v1/library/purge",
            Some(json!({"scope": "all"})),
        )
        .await;
    assert_eq!(r.json["deleted"], 1);
    assert!(blobs(&server).is_empty());
}

#[tokio::test]
async fn library_api_key_acts_only_through_its_one_scope() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut rights = OWN.to_vec();
    rights.push("api_keys:create");
    let (_, olga) = user_with(&server, &admin, "olga", &rights).await;
    let mine = upload(&server, &olga, "olga.gcode", gcode_text().as_bytes()).await;
    upload(
        &server,
        &admin,
        "admin.gcode",
        format!("{}; a\n", gcode_text()).as_bytes(),
    )
    .await;
    let key = crate::support::api_key(&server, &olga, "slicer", &["library:read_own"]).await;
    assert_eq!(names(&list(&server, &key, "").await), ["olga.gcode"]);
    let path = format!("/api/v1/library/files/{}/download", mine["id"]);
    let r = get_raw(&server, &key, &path, Some("bytes=0-3")).await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &gcode_text().as_bytes()[..4]
    );
    // Outside the scope: upload, rename, delete.
    let (status, _) = upload_to(&server, &key, "k.gcode", b"G28\n", None).await;
    assert_eq!(status, 403);
    let file = format!("/api/v1/library/files/{}", mine["id"]);
    assert_eq!(
        server
            .call(&key, "PATCH", &file, Some(json!({"name": "x.gcode"})))
            .await
            .status,
        403
    );
    assert_eq!(server.call(&key, "DELETE", &file, None).await.status, 403);
    assert!(blobs(&server).len() == 2);
    assert_eq!(staging_files(&server), 0);
}

#[tokio::test]
async fn library_parallel_uploads_of_the_same_content_keep_one_blob() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let bytes = sliced_project();
    let uploads = (0..8).map(|i| {
        let server = &server;
        let admin = &admin;
        let bytes = &bytes;
        async move { upload_to(server, admin, &format!("copy-{i}.gcode.3mf"), bytes, None).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    for (status, json) in &answers {
        assert_eq!(*status, 201, "{json}");
    }
    assert_eq!(
        list(&server, &admin, "?limit=500").await["items"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(blobs(&server).len(), 1);
    assert_eq!(staging_files(&server), 0);
    // Deleting them in parallel takes the blob with the last one, never earlier.
    let deletes = answers.iter().map(|(_, f)| {
        let server = &server;
        let admin = &admin;
        let id = f["id"].clone();
        async move {
            server
                .call(
                    admin,
                    "DELETE",
                    &format!("/api/v1/library/files/{id}"),
                    None,
                )
                .await
                .status
        }
    });
    for status in futures_util::future::join_all(deletes).await {
        assert_eq!(status, 204);
    }
    assert!(blobs(&server).is_empty());
}

#[tokio::test]
async fn library_files_stay_ownerless_or_go_with_their_deleted_uploader() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (keep_id, keeper) = user_with(&server, &admin, "keeper", OWN).await;
    let (drop_id, dropper) = user_with(&server, &admin, "dropper", OWN).await;
    upload(
        &server,
        &keeper,
        "kept.gcode",
        format!("{}; k\n", gcode_text()).as_bytes(),
    )
    .await;
    let shared = sliced_project();
    upload(&server, &dropper, "dropped.gcode.3mf", &shared).await;
    upload(&server, &dropper, "dropped.stl", &stl()).await;
    // The same bytes as one of dropper's, owned by admin: that blob must stay.
    upload(&server, &admin, "admins.gcode.3mf", &shared).await;
    assert_eq!(blobs(&server).len(), 3);

    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{keep_id}?items=keep"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    let kept = &list(&server, &admin, "?q=kept").await["items"][0];
    assert_eq!(kept["owner"], Value::Null);
    assert_eq!(kept["uploaded_by"], json!({"id": null, "name": "keeper"}));

    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{drop_id}?items=delete"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    assert_eq!(
        names(&list(&server, &admin, "?sort=name").await),
        ["admins.gcode.3mf", "kept.gcode"]
    );
    assert_eq!(
        blobs(&server).len(),
        2,
        "the STL's blob went, the shared one stayed"
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=library.delete", None)
        .await;
    assert_eq!(
        audit.json["items"].as_array().map(Vec::len),
        Some(2),
        "{:?}",
        audit.json
    );
}

// ---------------------------------------------------------------- pages

/// A page's status and HTML, read with `auth`'s session cookie (none for anything else).
async fn page(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    let cookie = match auth {
        Auth::Cookie(c) => c.as_str(),
        Auth::None | Auth::Key(_) => "",
    };
    let r = server
        .client
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The markup of the list item for file `id` on the library page.
fn item_html(html: &str, id: i64) -> String {
    let marker = format!("data-file-id=\"{id}\"");
    assert!(html.contains(&marker), "file {id} is not on the page");
    let start = html.find(&marker).unwrap();
    let end = html[start..]
        .find("class=\"card library-item\"")
        .map_or(html.len(), |e| start + e);
    html[start..end].to_owned()
}

async fn group_with(server: &TestServer, admin: &Auth, body: Value) -> i64 {
    let g = server
        .call(admin, "POST", "/api/v1/groups", Some(body))
        .await;
    assert_eq!(g.status, 201, "{:?}", g.json);
    g.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn library_pages_render_only_the_controls_the_viewer_holds() {
    use crate::printers::{add, online, wait_for};
    let dir = tempfile::tempdir().unwrap();
    let mut options = pw_simulator::Options::new(2, dir.path());
    options.models = vec![pw_simulator::Model::P1S, pw_simulator::Model::A1];
    options.interval = std::time::Duration::from_millis(100);
    let farm = pw_simulator::Farm::start(options).await.unwrap();

    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let hall = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Hall B"})),
        )
        .await;
    let hall = hall.json["id"].as_i64().unwrap();
    let p1s = add(&server, &admin, &farm.printers[0], json!({})).await;
    let a1 = add(
        &server,
        &admin,
        &farm.printers[1],
        json!({"location_id": hall}),
    )
    .await;
    wait_for(&server, &admin, p1s, online).await;
    wait_for(&server, &admin, a1, online).await;

    // Crew: reads every file, changes and deletes only their own; reads every printer but may
    // start prints only in hall B.
    let library = group_with(
        &server,
        &admin,
        json!({"name": "Library crew", "permissions": [
            "library:read_all", "library:upload", "library:update_own", "library:delete_own",
            "printers:read"]}),
    )
    .await;
    let hall_b = group_with(
        &server,
        &admin,
        json!({"name": "Hall B printing", "permissions": ["printers:read", "printers:control", "queue:create"],
               "scope": {"locations": [hall]}}),
    )
    .await;
    server.create_user(&admin, "crew", &[library, hall_b]).await;
    let crew = server.login("crew", TEST_PASSWORD).await;

    let theirs = upload(&server, &admin, "admin part.gcode.3mf", &sliced_project()).await;
    let theirs = theirs["id"].as_i64().unwrap();
    let mine = upload(&server, &crew, "crew part.gcode.3mf", &sliced_project()).await;
    let mine = mine["id"].as_i64().unwrap();
    let folder = server
        .call(
            &admin,
            "POST",
            "/api/v1/library/folders",
            Some(json!({"name": "Brackets"})),
        )
        .await;
    let folder = folder.json["id"].as_i64().unwrap();

    // The list: both files with their thumbnails; Edit/Delete only on the crew's own file.
    let (status, html) = page(&server, &crew, "/library").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("href=\"/library\""), "nav link");
    assert!(
        html.contains("id=\"drop-zone\""),
        "upload right → drop zone"
    );
    assert!(
        !html.contains("id=\"library-usage\""),
        "no purge right → no usage"
    );
    let own = item_html(&html, mine);
    let other = item_html(&html, theirs);
    for item in [&own, &other] {
        assert!(item.contains("/plates/1/thumbnail?v="), "{item}");
        assert!(item.contains("Sliced project"), "{item}");
        assert!(item.contains("1 h 3 min"), "{item}");
    }
    assert!(own.contains("data-edit-file") && own.contains("data-delete-file"));
    assert!(other.contains("admin"), "uploaded by: {other}");
    assert!(!other.contains("data-edit-file") && !other.contains("data-delete-file"));
    // A folder: delete (delete_own) but no rename/move (needs update_all).
    let (status, html) = page(&server, &crew, &format!("/library?folder={folder}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"delete-folder\"") && !html.contains("id=\"edit-folder\""));
    // The administrator holds everything: folder rename, storage used.
    let (_, html) = page(&server, &admin, &format!("/library?folder={folder}")).await;
    assert!(html.contains("id=\"edit-folder\"") && html.contains("id=\"library-usage\""));
    let (_, html) = page(&server, &admin, "/library").await;
    assert!(item_html(&html, mine).contains("data-delete-file"), "_all");

    // The detail page: plate facts; Print… lists only the printer the crew may print on.
    let (status, html) = page(&server, &crew, &format!("/library/files/{theirs}")).await;
    assert_eq!(status, 200, "{html}");
    for fact in [
        "1 h 3 min",
        "12.3 g",
        "P1S",
        "PLA",
        "PETG",
        "fill=\"#FF8000\"",
        "Cube",
    ] {
        assert!(html.contains(fact), "{fact} missing");
    }
    assert!(html.contains("data-plate=\"1\" data-model-key=\"P1S\""));
    assert!(html.contains("id=\"open-print\""));
    assert!(html.contains(&format!("id=\"print-target-{a1}\"")));
    assert!(
        html.contains("data-model-key=\"A1\""),
        "the A1's key for the warning"
    );
    assert!(
        !html.contains(&format!("id=\"print-target-{p1s}\"")),
        "no control there"
    );
    assert!(!html.contains("id=\"edit-file\"") && !html.contains("id=\"delete-file\""));
    let (_, html) = page(&server, &crew, &format!("/library/files/{mine}")).await;
    assert!(html.contains("id=\"edit-file\"") && html.contains("id=\"delete-file\""));
    // The administrator may print on both.
    let (_, html) = page(&server, &admin, &format!("/library/files/{mine}")).await;
    assert!(html.contains(&format!("id=\"print-target-{p1s}\"")));
    assert!(html.contains(&format!("id=\"print-target-{a1}\"")));

    // Without a library right: no link, 403 on both pages; read_own: others' file is 404.
    let (_, looker) = user_with(&server, &admin, "looker", &["printers:read"]).await;
    let (status, html) = page(&server, &looker, "/printers").await;
    assert_eq!(status, 200);
    assert!(!html.contains("href=\"/library\""), "no nav link");
    assert_eq!(page(&server, &looker, "/library").await.0, 403);
    assert_eq!(
        page(&server, &looker, &format!("/library/files/{mine}"))
            .await
            .0,
        403
    );
    let (_, owner) = user_with(&server, &admin, "owner", OWN).await;
    let (status, html) = page(&server, &owner, "/library").await;
    assert_eq!(status, 200);
    assert!(!html.contains(&format!("data-file-id=\"{theirs}\"")));
    assert_eq!(
        page(&server, &owner, &format!("/library/files/{theirs}"))
            .await
            .0,
        404
    );
    assert_eq!(page(&server, &owner, "/library/files/nope").await.0, 404);
    // Signed out: to the sign-in page; a bad sort or folder: a 400 page in words.
    let r = server.get("/library").await;
    assert_eq!(r.status(), 303);
    let (status, html) = page(&server, &crew, "/library?sort=colour").await;
    assert_eq!(status, 400);
    assert!(html.contains("sort must be"), "{html}");
    let (status, html) = page(&server, &crew, "/library?folder=99999").await;
    assert_eq!(status, 400);
    assert!(html.contains("That folder does not exist"));
    // Search and paging keep the filters in the links.
    let (status, html) = page(&server, &crew, "/library?q=part&sort=name&limit=1").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("data-file-id=\"{theirs}\"")),
        "admin part first"
    );
    assert!(!html.contains(&format!("data-file-id=\"{mine}\"")));
    assert!(html.contains("id=\"library-next\""));
    assert!(
        html.contains("q=part&amp;sort=name&amp;limit=1&amp;cursor=")
            || html.contains("q=part&#38;sort=name"),
        "{html}"
    );

    // A thumbnail URL bound to the content is immutable; a bare one is revalidated.
    let bare = format!("/api/v1/library/files/{mine}/plates/1/thumbnail");
    let r = get_raw(&server, &crew, &bare, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
}
