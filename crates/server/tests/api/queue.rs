//! The print queue (issue 16, foundation): items from a library file with every `_own`/`_all`
//! rule (another user's item is a 404, ownerless items need `_all`), a principal with only
//! `queue:create`, an API key with one scope, validation in words (unsliced files, missing
//! plates, targets, copies, times, AMS mappings, hostile bodies), reorder and pause with
//! `queue:reorder`, and reprints of archive entries (`archives:reprint_*` + `queue:create`,
//! 404 for unreadable entries, 409 without a kept file).

use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::library::{gcode_text, stl, unsliced_project, upload, upload_sliced, user_with};

const OWN: &[&str] = &[
    "library:read_own",
    "library:upload",
    "queue:read_own",
    "queue:create",
    "queue:update_own",
    "queue:delete_own",
];

async fn queue(server: &TestServer, auth: &Auth, body: Value) -> pw_testkit::Answer {
    server.call(auth, "POST", "/api/v1/queue", Some(body)).await
}

async fn ids(server: &TestServer, auth: &Auth, query: &str) -> Vec<i64> {
    let a = server
        .call(auth, "GET", &format!("/api/v1/queue{query}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

fn model(file: i64) -> Value {
    json!({"file_id": file, "target": {"model": "x1c"}})
}

#[tokio::test]
async fn queue_items_follow_every_own_and_all_rule() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (olga_id, olga) = user_with(&server, &admin, "olga", OWN).await;
    let (_, otto) = user_with(&server, &admin, "otto", OWN).await;
    let (_, boss) = user_with(
        &server,
        &admin,
        "boss",
        &[
            "queue:read_all",
            "queue:update_all",
            "queue:delete_all",
            "library:read_all",
        ],
    )
    .await;
    let (_, cora) = user_with(
        &server,
        &admin,
        "cora",
        &["queue:create", "library:read_own", "library:upload"],
    )
    .await;
    let file = upload_sliced(&server, &olga, "benchy.gcode.3mf").await;

    let created = queue(&server, &olga, model(file)).await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let item = created.json["id"].as_i64().unwrap();
    assert_eq!(created.json["state"], "queued");
    assert!(created.json["position"].as_i64().unwrap() >= 1);
    assert_eq!(created.json["target"], json!({"model": "X1C"}));
    assert_eq!(created.json["owner"]["name"], "olga");
    assert_eq!(created.json["added_by"]["name"], "olga");
    assert_eq!(created.json["file_name"], "benchy.gcode.3mf");
    assert_eq!(created.json["options"]["bed_levelling"], true);
    assert_eq!(
        created.json["waiting_for"],
        "Waiting for a free X1C printer."
    );
    let path = format!("/api/v1/queue/{item}");

    // Another owner: the item does not exist for them; nor does olga's file.
    assert!(ids(&server, &otto, "").await.is_empty());
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"copies": 2}))),
        ("DELETE", None),
    ] {
        assert_eq!(
            server.call(&otto, method, &path, body).await.status,
            404,
            "{method}"
        );
    }
    let theirs = queue(&server, &otto, model(file)).await;
    assert_eq!(theirs.status, 400, "{:?}", theirs.json);
    assert!(
        theirs.message().contains("does not exist"),
        "{}",
        theirs.message()
    );

    // The owner and `_all` holders.
    let patched = server
        .call(
            &olga,
            "PATCH",
            &path,
            Some(json!({"copies": 3, "priority": 5})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    assert_eq!(patched.json["copies"], 3);
    assert_eq!(ids(&server, &boss, "").await, [item]);
    let by_boss = server
        .call(
            &boss,
            "PATCH",
            &path,
            Some(json!({"not_before": "2099-01-01T14:00:00Z", "options": {"timelapse": true}})),
        )
        .await;
    assert_eq!(by_boss.status, 200, "{:?}", by_boss.json);
    assert_eq!(
        by_boss.json["waiting_for"],
        "Not before 14:00 UTC on 2099-01-01."
    );
    assert_eq!(by_boss.json["options"]["timelapse"], true);
    assert_eq!(by_boss.json["options"]["bed_levelling"], true);

    // Only `queue:create`: queueing works and answers the item; reading the queue does not.
    let cfile = upload(&server, &cora, "c.gcode", gcode_text().as_bytes()).await["id"]
        .as_i64()
        .unwrap();
    let c = queue(&server, &cora, model(cfile)).await;
    assert_eq!(c.status, 201, "{:?}", c.json);
    let citem = c.json["id"].as_i64().unwrap();
    assert_eq!(
        server
            .call(&cora, "GET", "/api/v1/queue", None)
            .await
            .status,
        403
    );
    assert_eq!(
        server
            .call(&cora, "GET", &format!("/api/v1/queue/{citem}"), None)
            .await
            .status,
        403
    );

    // Ownerless (its owner deleted with items=keep): only `_all` reaches it.
    let (_, gone) = user_with(&server, &admin, "gone", OWN).await;
    let gfile = upload(&server, &gone, "g.gcode", b"G28\nG1 X1\n").await["id"]
        .as_i64()
        .unwrap();
    let g = queue(&server, &gone, model(gfile)).await;
    assert_eq!(g.status, 201, "{:?}", g.json);
    let gitem = g.json["id"].as_i64().unwrap();
    let gone_id = server
        .call(&gone, "GET", "/api/v1/auth/me", None)
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let del = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{gone_id}?items=keep"),
            None,
        )
        .await;
    assert!(del.status == 204 || del.status == 200, "{:?}", del.json);
    let ownerless = server
        .call(&boss, "GET", &format!("/api/v1/queue/{gitem}"), None)
        .await;
    assert_eq!(ownerless.status, 200);
    assert_eq!(ownerless.json["owner"], Value::Null);
    assert_eq!(ownerless.json["added_by"]["name"], "gone", "the name stays");
    assert!(!ids(&server, &olga, "").await.contains(&gitem));

    // Cancel (stays, cancelled), then delete the ended item.
    assert_eq!(server.call(&olga, "DELETE", &path, None).await.status, 204);
    let cancelled = server.call(&olga, "GET", &path, None).await;
    assert_eq!(cancelled.json["state"], "cancelled");
    assert_eq!(cancelled.json["waiting_for"], Value::Null);
    assert_eq!(
        server
            .call(&olga, "PATCH", &path, Some(json!({"copies": 1})))
            .await
            .status,
        409
    );
    assert_eq!(ids(&server, &olga, "?state=cancelled").await, [item]);
    assert_eq!(server.call(&olga, "DELETE", &path, None).await.status, 204);
    assert_eq!(server.call(&olga, "GET", &path, None).await.status, 404);

    // Who did what is in the audit log.
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=queue.", None)
        .await;
    assert_eq!(audit.status, 200, "{:?}", audit.json);
    let text = audit.json.to_string();
    for event in [
        "queue.create",
        "queue.update",
        "queue.cancel",
        "queue.delete",
    ] {
        assert!(text.contains(event), "{event} in {text}");
    }
    let _ = olga_id;
}

#[tokio::test]
async fn queue_refuses_bad_input_in_words() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let sliced = upload_sliced(&server, &admin, "s.gcode.3mf").await;
    let raw = upload(&server, &admin, "r.3mf", &unsliced_project()).await["id"]
        .as_i64()
        .unwrap();
    let mesh = upload(&server, &admin, "m.stl", &stl()).await["id"]
        .as_i64()
        .unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (model(raw), "not sliced"),
        (model(mesh), "slice it"),
        (
            json!({"file_id": sliced, "plate": 2, "target": {"model": "X1C"}}),
            "no plate 2",
        ),
        (
            json!({"file_id": sliced, "target": {}}),
            "exactly one target",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C", "location_id": 1}}),
            "exactly one target",
        ),
        (
            json!({"file_id": sliced, "target": {"printer_id": 999}}),
            "printer 999 does not exist",
        ),
        (
            json!({"file_id": sliced, "target": {"location_id": 999}}),
            "location 999 does not exist",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "<script>"}}),
            "printer model",
        ),
        (
            json!({"file_id": 424242, "target": {"model": "X1C"}}),
            "does not exist",
        ),
        (
            json!({"file_id": -1, "target": {"model": "X1C"}}),
            "does not exist",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "copies": -3}),
            "Copies must be 1 to 1000",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "copies": 0}),
            "Copies must be 1 to 1000",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "copies": 100000}),
            "Copies must be 1 to 1000",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "priority": 5000}),
            "priority",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "not_before": "tomorrow"}),
            "RFC 3339",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "ams_mapping": [{"slot": 9, "tray": 0}]}),
            "no filament 9",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "ams_mapping": [{"slot": 1, "tray": 0}]}),
            "Filament 4 has no tray",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"},
                   "ams_mapping": [{"slot": 1, "tray": 0}, {"slot": 4, "tray": 300}]}),
            "Tray 300 does not exist",
        ),
        (
            json!({"file_id": sliced, "target": {"model": "X1C"}, "surprise": 1}),
            "unknown field",
        ),
    ];
    for (body, words) in cases {
        let a = queue(&server, &admin, body.clone()).await;
        assert_eq!(a.status, 400, "{body} → {:?}", a.json);
        assert!(a.message().contains(words), "{body}: {}", a.message());
    }
    // A complete mapping to known trays is kept as sent.
    let ok = queue(
        &server,
        &admin,
        json!({"file_id": sliced, "target": {"model": "X1C"}, "copies": 2, "priority": -5,
               "ams_mapping": [{"slot": 1, "tray": 0}, {"slot": 4, "tray": 254}]}),
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.json);
    assert_eq!(ok.json["ams_mapping"][1], json!({"slot": 4, "tray": 254}));
    let path = format!("/api/v1/queue/{}", ok.json["id"]);
    for (body, words) in [
        (json!({"copies": -1}), "Copies must be"),
        (
            json!({"target": {"printer_id": 5, "model": "X1C"}}),
            "exactly one target",
        ),
        (json!({"not_before": "soon"}), "RFC 3339"),
        (json!({"state": "done"}), "unknown field"),
    ] {
        let a = server
            .call(&admin, "PATCH", &path, Some(body.clone()))
            .await;
        assert_eq!(a.status, 400, "{body} → {:?}", a.json);
        assert!(a.message().contains(words), "{body}: {}", a.message());
    }
    let cleared = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"ams_mapping": null, "not_before": null})),
        )
        .await;
    assert_eq!(cleared.status, 200, "{:?}", cleared.json);
    assert_eq!(cleared.json["ams_mapping"], Value::Null);
    // Hostile reorders and filters.
    let huge: Vec<i64> = (1..=100_000).collect();
    for body in [
        json!({"ids": huge}),
        json!({"ids": []}),
        json!({"ids": [1, 1]}),
        json!({"ids": [-4]}),
    ] {
        let a = server
            .call(&admin, "POST", "/api/v1/queue/reorder", Some(body))
            .await;
        assert_eq!(a.status, 400, "{:?}", a.json);
    }
    for q in ["?state=bogus", "?printer_id=x", "?limit=0", "?cursor=zz"] {
        let a = server
            .call(&admin, "GET", &format!("/api/v1/queue{q}"), None)
            .await;
        assert_eq!(a.status, 400, "{q}: {:?}", a.json);
    }
    assert_eq!(
        server
            .call(&admin, "GET", "/api/v1/queue/abc", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn queue_reorder_and_pause_need_queue_reorder() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (_, olga) = user_with(&server, &admin, "olga", OWN).await;
    let mut reorderer = OWN.to_vec();
    reorderer.push("queue:reorder");
    let (_, rex) = user_with(&server, &admin, "rex", &reorderer).await;
    let file = upload_sliced(&server, &olga, "o.gcode.3mf").await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let a = queue(&server, &olga, model(file)).await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        mine.push(a.json["id"].as_i64().unwrap());
    }
    let body = json!({"ids": [mine[2], mine[0]]});
    // Without `queue:reorder`: refused; with it, items one cannot read are not found.
    assert_eq!(
        server
            .call(&olga, "POST", "/api/v1/queue/reorder", Some(body.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        server
            .call(&rex, "POST", "/api/v1/queue/reorder", Some(body.clone()))
            .await
            .status,
        404
    );
    assert_eq!(ids(&server, &olga, "").await, mine);
    let done = server
        .call(&admin, "POST", "/api/v1/queue/reorder", Some(body))
        .await;
    assert_eq!(done.status, 204, "{:?}", done.json);
    assert_eq!(ids(&server, &olga, "").await, [mine[2], mine[1], mine[0]]);

    // Pause: refused without the right; the words say so while paused.
    assert_eq!(
        server
            .call(&olga, "POST", "/api/v1/queue/pause", None)
            .await
            .status,
        403
    );
    let paused = server.call(&rex, "POST", "/api/v1/queue/pause", None).await;
    assert_eq!(paused.status, 200, "{:?}", paused.json);
    assert_eq!(paused.json["paused"], true);
    assert_eq!(paused.json["paused_by"], "rex");
    let item = server
        .call(&olga, "GET", &format!("/api/v1/queue/{}", mine[0]), None)
        .await;
    assert_eq!(
        item.json["waiting_for"],
        "Paused: the whole queue is paused."
    );
    let state = server.call(&olga, "GET", "/api/v1/queue/pause", None).await;
    assert_eq!(state.json["paused"], true);
    assert_eq!(
        server
            .call(
                &rex,
                "POST",
                "/api/v1/queue/pause",
                Some(json!({"printer_id": 999}))
            )
            .await
            .status,
        404
    );
    let resumed = server
        .call(&rex, "POST", "/api/v1/queue/resume", Some(json!({})))
        .await;
    assert_eq!(resumed.json["paused"], false);
}

#[tokio::test]
async fn queue_api_key_acts_only_through_its_one_scope() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut rights = OWN.to_vec();
    rights.push("api_keys:create");
    let (_, olga) = user_with(&server, &admin, "olga", &rights).await;
    let file = upload_sliced(&server, &olga, "o.gcode.3mf").await;
    let item = queue(&server, &olga, model(file)).await.json["id"]
        .as_i64()
        .unwrap();
    let key = crate::support::api_key(&server, &olga, "board", &["queue:read_own"]).await;
    assert_eq!(ids(&server, &key, "").await, [item]);
    let path = format!("/api/v1/queue/{item}");
    assert_eq!(server.call(&key, "GET", &path, None).await.status, 200);
    assert_eq!(queue(&server, &key, model(file)).await.status, 403);
    assert_eq!(
        server
            .call(&key, "PATCH", &path, Some(json!({"copies": 2})))
            .await
            .status,
        403
    );
    assert_eq!(server.call(&key, "DELETE", &path, None).await.status, 403);
}

#[tokio::test]
async fn archive_reprint_needs_its_rights_and_a_kept_file() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printer = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": "P1S-01", "serial": "01P00A000000001", "host": "127.0.0.1",
                        "mqtt_port": 1, "camera_port": 1, "access_code": "12345678"}),
            ),
        )
        .await;
    assert_eq!(printer.status, 201, "{:?}", printer.json);
    let printer = printer.json["id"].as_i64().unwrap();
    let record = |auth: Auth| {
        let server = &server;
        async move {
            let a = server
                .call(
                    &auth,
                    "POST",
                    "/api/v1/archives",
                    Some(
                        json!({"printer_id": printer, "file_name": "benchy.gcode.3mf",
                                "plate": 1, "started_at": "2026-01-01T00:00:00Z",
                                "ended_at": "2026-01-01T01:00:00Z", "outcome": "finished"}),
                    ),
                )
                .await;
            assert_eq!(a.status, 201, "{:?}", a.json);
            a.json["id"].as_i64().unwrap()
        }
    };
    let base = [
        "printers:read",
        "archives:read_own",
        "archives:create",
        "queue:read_own",
    ];
    let mut with_reprint = base.to_vec();
    with_reprint.extend(["archives:reprint_own", "queue:create"]);
    let (_, olga) = user_with(&server, &admin, "olga", &with_reprint).await;
    let mut no_queue = base.to_vec();
    no_queue.push("archives:reprint_own");
    let (_, nora) = user_with(&server, &admin, "nora", &no_queue).await;
    let mut no_reprint = base.to_vec();
    no_reprint.push("queue:create");
    let (_, nick) = user_with(&server, &admin, "nick", &no_reprint).await;
    let olgas = record(olga.clone()).await;
    let noras = record(nora.clone()).await;
    let nicks = record(nick.clone()).await;
    let admins = record(admin.clone()).await;
    let reprint = |auth: &Auth, id: i64| {
        let auth = auth.clone();
        let server = &server;
        async move {
            server
                .call(
                    &auth,
                    "POST",
                    &format!("/api/v1/archives/{id}/reprint"),
                    None,
                )
                .await
        }
    };
    // Without a kept file: 409 in words. Another's entry: 404. Missing rights: 403.
    let a = reprint(&olga, olgas).await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    assert!(a.message().contains("file was not kept"), "{}", a.message());
    assert_eq!(reprint(&olga, admins).await.status, 404);
    assert_eq!(reprint(&nora, noras).await.status, 403);
    assert_eq!(reprint(&nick, nicks).await.status, 403);

    // Keep the file (as the archive links it once the library holds it): it queues, for the
    // printer it ran on, by content hash.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&server.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE archives SET file_sha256 = $1 WHERE id = $2")
        .bind("ab".repeat(32))
        .bind(olgas)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let a = reprint(&olga, olgas).await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    assert_eq!(a.json["archive_id"], olgas);
    assert_eq!(a.json["file_sha256"], "ab".repeat(32));
    assert_eq!(a.json["target"], json!({"printer_id": printer}));
    assert_eq!(a.json["file_id"], Value::Null);
    assert_eq!(a.json["state"], "queued");
    let words = a.json["waiting_for"].as_str().unwrap();
    assert!(words.contains("P1S-01"), "{words}");
    let elsewhere = server
        .call(
            &olga,
            "POST",
            &format!("/api/v1/archives/{olgas}/reprint"),
            Some(json!({"printer_id": 999})),
        )
        .await;
    assert_eq!(elsewhere.status, 400, "{:?}", elsewhere.json);
}

/// Finding of the session-10 review: a printer-scoped operator could aim a queue item at a
/// model, a printer group or a location and have it printed on printers outside their scope.
/// A target of printers not known yet needs `queue:create` reaching all of them: an unscoped
/// grant for a model or a group, a scope naming the location for a location; one printer in
/// scope stays fine. An API key limited to a printer list aims only at its printers.
#[tokio::test]
async fn a_scoped_operator_queues_only_onto_printers_in_scope() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let [hall_a, hall_b] =
        crate::support::locations(&server, &admin, &["Hall A", "Hall B"]).await[..]
    else {
        unreachable!()
    };
    let a1 = crate::printer_groups::offline_printer(&server, &admin, 1, hall_a).await;
    let b1 = crate::printer_groups::offline_printer(&server, &admin, 2, hall_b).await;
    let mixed = server
        .call(
            &admin,
            "POST",
            "/api/v1/printer-groups",
            Some(json!({"name": "Both halls", "printer_ids": [a1, b1]})),
        )
        .await;
    assert_eq!(mixed.status, 201, "{:?}", mixed.json);
    let mixed = mixed.json["id"].as_i64().unwrap();
    // Scoped to Hall A by location, and (another operator) to printer A1 alone.
    let mut rights: Vec<&str> = OWN.to_vec();
    rights.extend(["printers:read", "api_keys:create"]);
    let make = async |name: &str, scope: Value| {
        let g = server
            .call(
                &admin,
                "POST",
                "/api/v1/groups",
                Some(json!({"name": name, "permissions": rights, "scope": scope})),
            )
            .await;
        assert_eq!(g.status, 201, "{:?}", g.json);
        server
            .create_user(&admin, name, &[g.json["id"].as_i64().unwrap()])
            .await;
        server.login(name, pw_testkit::TEST_PASSWORD).await
    };
    let hall = make("halla", json!({"locations": [hall_a]})).await;
    let one = make("onlya1", json!({"printers": [a1]})).await;
    for auth in [&hall, &one] {
        let file = upload_sliced(&server, auth, "part.gcode.3mf").await;
        let at = |target: Value| json!({"file_id": file, "target": target});
        for target in [
            json!({"model": "P1S"}),
            json!({"group_id": mixed}),
            json!({"location_id": hall_b}),
        ] {
            let a = queue(&server, auth, at(target.clone())).await;
            assert_eq!(a.status, 403, "{target}: {:?}", a.json);
        }
        let a = queue(&server, auth, at(json!({"printer_id": a1}))).await;
        assert_eq!(a.status, 201, "a printer in scope: {:?}", a.json);
    }
    // The scope names Hall A: every printer there, now and later, is theirs to queue to.
    let file = upload_sliced(&server, &hall, "hall.gcode.3mf").await;
    let a = queue(
        &server,
        &hall,
        json!({"file_id": file, "target": {"location_id": hall_a}}),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    // A printer that stands in Hall A is not the location: scoped to A1, not to Hall A.
    let file = upload_sliced(&server, &one, "one.gcode.3mf").await;
    let a = queue(
        &server,
        &one,
        json!({"file_id": file, "target": {"location_id": hall_a}}),
    )
    .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    // Unscoped: every target. A key limited to A1 (same owner): only A1.
    let (_, olga) = user_with(
        &server,
        &admin,
        "olga",
        &[
            "queue:create",
            "library:upload",
            "library:read_own",
            "printers:read",
            "api_keys:create",
        ],
    )
    .await;
    let file = upload_sliced(&server, &olga, "o.gcode.3mf").await;
    let a = queue(
        &server,
        &olga,
        json!({"file_id": file, "target": {"model": "P1S"}}),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let key = server
        .call(
            &olga,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "a1 only", "scopes": ["queue:create", "library:read_own", "printers:read"], "printer_ids": [a1]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let key = Auth::Key(key.json["key"].as_str().unwrap().to_owned());
    for target in [json!({"model": "P1S"}), json!({"location_id": hall_a})] {
        let a = queue(&server, &key, json!({"file_id": file, "target": target})).await;
        assert_eq!(a.status, 403, "{:?}", a.json);
    }
    let a = queue(
        &server,
        &key,
        json!({"file_id": file, "target": {"printer_id": a1}}),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
}
