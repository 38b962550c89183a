//! Printing from the library (issue 15 item 3) on simulated printers: the stored bytes land
//! on the printer's card unchanged, the chosen plate prints, the print job names the library
//! file, its SHA-256, the plate and the task id; files that cannot print (unsliced, STL, plain
//! G-code, a plate the file lacks) and hostile upload-and-print bodies are refused before
//! anything reaches the printer; one start per printer; the rights (read on the file,
//! `printers:control` on the printer, 404 for what the caller may not see, API key scopes,
//! disabled accounts) and the "sliced for another model" warning.

use std::time::Duration;

use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Answer, Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::library::upload;
use crate::printers::{add, online, print, wait_for, with_online};
use crate::printfiles;

async fn farm(models: &[Model]) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(models.len(), dir.path());
    options.models = models.to_vec();
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = 600.0;
    options.behaviour.prepare_seconds = 0.5;
    (Farm::start(options).await.unwrap(), dir)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn print_file(server: &TestServer, auth: &Auth, file: &Value, body: Value) -> Answer {
    server
        .call(
            auth,
            "POST",
            &format!("/api/v1/library/files/{}/print", file["id"]),
            Some(body),
        )
        .await
}

async fn user_with(server: &TestServer, admin: &Auth, name: &str, groups: &[i64]) -> (i64, Auth) {
    let id = server.create_user(admin, name, groups).await;
    (id, server.login(name, TEST_PASSWORD).await)
}

/// The archive entry of the newest print (polled, 15 s at most).
async fn newest_entry(server: &TestServer, auth: &Auth) -> Value {
    let mut newest = Value::Null;
    for _ in 0..300 {
        let page = server.call(auth, "GET", "/api/v1/archives", None).await;
        assert_eq!(page.status, 200, "{:?}", page.json);
        newest = page.json["items"][0].clone();
        if newest.is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(newest.is_object(), "no archive entry appeared");
    newest
}

#[tokio::test]
async fn library_print_streams_the_stored_file_starts_the_plate_and_records_the_job() {
    let (farm, _dir) = farm(&[Model::P1S]).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = with_online(sim).await;
    let crew = server
        .create_group(
            &admin,
            "Library printers",
            &[
                "library:read_own",
                "library:upload",
                "printers:read",
                "printers:control",
                "archives:read_own",
            ],
        )
        .await;
    let (_, lena) = user_with(&server, &admin, "lena", &[crew]).await;

    // Refusals in words, and nothing reaches the printer.
    let bytes = printfiles::sliced_project();
    let left = upload(&server, &lena, "Left part.gcode.3mf", &bytes).await;
    let other = printfiles::sliced_project_for("C12", "Bambu Lab P1S", 10_000);
    let right = upload(&server, &lena, "Right part.gcode.3mf", &other).await;
    let r = print_file(
        &server,
        &lena,
        &left,
        json!({"printer_id": printer, "plate": 3}),
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.json);
    assert!(
        r.message().contains("This file has plates 1–2."),
        "{}",
        r.message()
    );
    let unsliced = upload(&server, &lena, "box.3mf", &printfiles::unsliced_project()).await;
    let triangle = [[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]]];
    let stl = upload(
        &server,
        &lena,
        "box.stl",
        &printfiles::binary_stl(&[0; 80], &triangle),
    )
    .await;
    let gcode = upload(
        &server,
        &lena,
        "box.gcode",
        printfiles::bambu_gcode(10, 1.5).as_bytes(),
    )
    .await;
    for (file, words) in [
        (&unsliced, "slice it first"),
        (&stl, "slice it first"),
        (&gcode, "plain G-code"),
    ] {
        let r = print_file(&server, &lena, file, json!({"printer_id": printer})).await;
        assert_eq!(r.status, 400, "{}: {:?}", file["name"], r.json);
        assert!(r.message().contains(words), "{}", r.message());
    }
    let r = print_file(
        &server,
        &lena,
        &left,
        json!({"printer_id": printer, "plat": 1}),
    )
    .await;
    assert_eq!(r.status, 400, "unknown field: {:?}", r.json);
    // Upload-and-print checks its body the same way before touching the printer.
    let not_a_zip = vec![7u8; 4096];
    let (status, body) = print(&server, &admin, printer, "junk.gcode.3mf", not_a_zip).await;
    assert_eq!(status, 400, "{body}");
    let zeros = vec![0u8; 4 << 20];
    let bomb = printfiles::zip(&[
        ("3D/3dmodel.model", printfiles::CORE_MODEL.as_bytes()),
        ("Metadata/plate_1.gcode", &zeros),
    ]);
    let (status, body) = print(&server, &admin, printer, "bomb.gcode.3mf", bomb).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("zip bomb"), "{body}");
    let (status, body) = print(
        &server,
        &admin,
        printer,
        "box.gcode.3mf",
        printfiles::unsliced_project(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(sim.files().is_empty(), "refused starts sent nothing");

    // Two starts in parallel on one idle printer: exactly one goes.
    let (a, b) = tokio::join!(
        print_file(
            &server,
            &lena,
            &left,
            json!({"printer_id": printer, "plate": 2})
        ),
        print_file(
            &server,
            &lena,
            &right,
            json!({"printer_id": printer, "plate": 2})
        ),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{:?} {:?}", a.json, b.json);
    let (won, lost, file, content) = if a.status == 202 {
        (&a, &b, &left, &bytes)
    } else {
        (&b, &a, &right, &other)
    };
    assert!(lost.message().contains("busy"), "{}", lost.message());
    assert_eq!(won.json["plate"], 2);
    assert_eq!(won.json["warnings"], json!([]), "a P1S file on a P1S");
    let job = won.json["print_job_id"].as_i64().unwrap();
    let name = file["name"].as_str().unwrap();
    let files = sim.files();
    assert_eq!(
        files.len(),
        1,
        "the refused start uploaded nothing: {files:?}"
    );
    let on_card = sim.file(name).unwrap();
    assert_eq!(sha256(&on_card), file["sha256"].as_str().unwrap());
    assert_eq!(sha256(&on_card), sha256(content));

    // The printer prints plate 2 (10 layers by its G-code header; plate 1 has 124).
    let v = wait_for(&server, &lena, printer, |v| {
        v["status"]["busy"] == true && v["status"]["total_layers"] == 10
    })
    .await;
    assert_eq!(v["status"]["job_name"], name.trim_end_matches(".gcode.3mf"));
    let row = server
        .running()
        .app
        .store()
        .open_print_job(pw_domain::PrinterId::from_db(printer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.id, job);
    assert_eq!(row.library_file_id.map(|f| f.get()), file["id"].as_i64());
    assert_eq!(row.file_sha256.as_deref(), file["sha256"].as_str());
    assert_eq!(row.plate, Some(2));
    assert_eq!(
        row.task_id,
        sim.job().map(|j| j.task_id),
        "the id sent is the id reported"
    );

    // The archive entry of this job; `archive_id` names it when it appeared within 3 s.
    let entry = newest_entry(&server, &lena).await;
    assert_eq!(entry["file_name"], name);
    assert_eq!(entry["started_by"]["name"], "lena");
    if !won.json["archive_id"].is_null() {
        assert_eq!(won.json["archive_id"], entry["id"]);
    }
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=printer.print", None)
        .await;
    let started: Vec<&Value> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["success"] == true)
        .collect();
    assert_eq!(started.len(), 1, "{:?}", audit.json);
    assert_eq!(started[0]["details"]["library_file_id"], file["id"]);
    assert_eq!(started[0]["details"]["sha256"], file["sha256"]);
    assert_eq!(started[0]["details"]["print_job_id"], job);

    // Busy now: another start is a 409 and sends nothing.
    let again = if std::ptr::eq(file, &left) {
        &right
    } else {
        &left
    };
    let r = print_file(&server, &lena, again, json!({"printer_id": printer})).await;
    assert_eq!(r.status, 409, "{:?}", r.json);
    assert_eq!(sim.files().len(), 1);
}

#[tokio::test]
async fn library_print_needs_the_file_and_control_of_the_printer_and_warns_about_the_model() {
    let (farm, _dir) = farm(&[Model::P1S, Model::X1C]).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let halls = crate::support::locations(&server, &admin, &["Hall A", "Hall B"]).await;
    let mut printers = Vec::new();
    for (sim, hall) in farm.printers.iter().zip(&halls) {
        let id = add(
            &server,
            &admin,
            sim,
            json!({"ftps_port": sim.info.ftps_port, "location_id": hall}),
        )
        .await;
        wait_for(&server, &admin, id, online).await;
        printers.push(id);
    }
    let (p1s, x1c) = (printers[0], printers[1]);

    let library = server
        .create_group(
            &admin,
            "Library",
            &["library:read_own", "library:upload", "api_keys:create"],
        )
        .await;
    let hall_a = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall A hands", "permissions": ["printers:read", "printers:control"],
                        "scope": {"locations": [halls[0]]}}),
            ),
        )
        .await;
    assert_eq!(hall_a.status, 201, "{:?}", hall_a.json);
    let hall_a = hall_a.json["id"].as_i64().unwrap();
    let (lena_id, lena) = user_with(&server, &admin, "lena", &[library, hall_a]).await;
    let watchers = server
        .create_group(&admin, "Watchers", &["printers:read"])
        .await;
    let (_, rita) = user_with(&server, &admin, "rita", &[library, watchers]).await;

    let bytes = printfiles::sliced_project();
    let mine = upload(&server, &lena, "mine.gcode.3mf", &bytes).await;
    let ritas = upload(&server, &rita, "ritas.gcode.3mf", &bytes).await;
    let admins = upload(&server, &admin, "admins.gcode.3mf", &bytes).await;

    // Another user's file without library:read_all: 404, as if it did not exist.
    let r = print_file(&server, &lena, &ritas, json!({"printer_id": p1s})).await;
    assert_eq!(r.status, 404, "{:?}", r.json);
    let r = print_file(&server, &lena, &admins, json!({"printer_id": p1s})).await;
    assert_eq!(r.status, 404, "{:?}", r.json);
    // A printer outside lena's scope: 404.
    let r = print_file(&server, &lena, &mine, json!({"printer_id": x1c})).await;
    assert_eq!(r.status, 404, "{:?}", r.json);
    // Reading printers without printers:control: refused.
    let r = print_file(&server, &rita, &ritas, json!({"printer_id": p1s})).await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    // An API key of lena's with library and printer reading, not printers:control: refused.
    let k = server
        .call(
            &lena,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "slicer", "scopes": ["library:read_own", "printers:read"]})),
        )
        .await;
    assert_eq!(k.status, 201, "{:?}", k.json);
    let key = Auth::Key(k.json["key"].as_str().unwrap().to_owned());
    let r = print_file(&server, &key, &mine, json!({"printer_id": p1s})).await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    for sim in &farm.printers {
        assert!(sim.files().is_empty(), "refusals sent nothing");
    }

    // A disabled account's session is refused.
    let off = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{lena_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.json);
    let r = print_file(&server, &lena, &mine, json!({"printer_id": p1s})).await;
    assert_eq!(r.status, 401, "{:?}", r.json);
    assert!(farm.printers[0].files().is_empty());

    // A P1S file on the X1C starts, with a warning in words; an X1C file (named by its code
    // in slice_info) on it does not warn.
    let r = print_file(&server, &admin, &admins, json!({"printer_id": x1c})).await;
    assert_eq!(r.status, 202, "{:?}", r.json);
    let warnings = r.json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.contains("sliced for a P1S") && warning.contains("X1C"),
        "{warning}"
    );
    assert_eq!(r.json["plate"], 1, "the first sliced plate by default");
    let x1 = printfiles::sliced_project_for("BL-P001", "Bambu Lab X1 Carbon", 0);
    let x1 = upload(&server, &admin, "x1.gcode.3mf", &x1).await;
    let sim = &farm.printers[1];
    wait_for(&server, &admin, x1c, |v| v["status"]["busy"] == true).await;
    let stop = crate::printers::command(&server, &admin, x1c, json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    wait_for(&server, &admin, x1c, |v| v["status"]["busy"] == false).await;
    let started = print_file(&server, &admin, &x1, json!({"printer_id": x1c})).await;
    assert_eq!(started.status, 202, "{:?}", started.json);
    assert_eq!(started.json["warnings"], json!([]), "BL-P001 is an X1C");
    assert!(sim.file("x1.gcode.3mf").is_some());

    // Upload-and-print records the content's hash on its print job too.
    let (status, body) = print(&server, &admin, p1s, "direct.gcode.3mf", bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    let row = server
        .running()
        .app
        .store()
        .open_print_job(pw_domain::PrinterId::from_db(p1s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.file_sha256.as_deref(), Some(sha256(&bytes).as_str()));
    assert_eq!(row.library_file_id, None);
    assert_eq!(row.plate, Some(1));
}
