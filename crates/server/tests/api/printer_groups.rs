//! Printer groups (issue 16 item 1) and the per-location plate-clear waiver (item 2): group
//! CRUD under every printer right (a reader, a location-scoped updater reaching for a printer
//! elsewhere, an API key with one scope, a disabled user), a queue item for a group printing
//! only on members (a printer taken out of the group no longer takes it), a deleted group
//! parking its queued items with the reason in words, and a location's waiver letting the
//! dispatcher start without a plate clear — and its removal restoring the gate.

use pw_simulator::Model;
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::dispatch::{accepted, add_all, farm, item, queue, wait_item};
use crate::library::{upload_sliced, user_with};
use crate::support::{api_key, locations};

/// A printer that never connects (nothing listens on port 9), in `location`.
pub(crate) async fn offline_printer(
    server: &TestServer,
    admin: &Auth,
    n: u32,
    location: i64,
) -> i64 {
    let a = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": format!("Printer {n}"), "serial": format!("01P00A00000{n:04}"),
                        "host": "127.0.0.1", "mqtt_port": 9, "access_code": "12345678",
                        "model": "P1S", "location_id": location}),
            ),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json["id"].as_i64().unwrap()
}

async fn group(server: &TestServer, auth: &Auth, body: Value) -> pw_testkit::Answer {
    server
        .call(auth, "POST", "/api/v1/printer-groups", Some(body))
        .await
}

async fn members(server: &TestServer, auth: &Auth, id: i64) -> Value {
    let a = server
        .call(auth, "GET", &format!("/api/v1/printer-groups/{id}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json["printer_ids"].clone()
}

#[tokio::test]
async fn printer_groups_follow_the_printer_rights() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let [hall_a, hall_b] = locations(&server, &admin, &["Hall A", "Hall B"]).await[..] else {
        unreachable!()
    };
    let a1 = offline_printer(&server, &admin, 1, hall_a).await;
    let a2 = offline_printer(&server, &admin, 2, hall_a).await;
    let b1 = offline_printer(&server, &admin, 3, hall_b).await;

    // The admin builds a group across both halls; names are unique in any case.
    let created = group(
        &server,
        &admin,
        json!({"name": " PLA farm ", "printer_ids": [b1, a1, a1]}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    assert_eq!(created.json["name"], "PLA farm");
    assert_eq!(
        created.json["printer_ids"],
        json!([a1, b1]),
        "by printer name"
    );
    let pla = created.json["id"].as_i64().unwrap();
    assert_eq!(
        group(&server, &admin, json!({"name": "pla FARM"}))
            .await
            .status,
        409
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "x\u{202e}y"}),
        json!({"printer_ids": []}),
        json!({"name": "x", "members": []}),
        json!({"name": "x", "printer_ids": vec![a1; 1001]}),
    ] {
        assert_eq!(
            group(&server, &admin, bad.clone()).await.status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        group(
            &server,
            &admin,
            json!({"name": "x", "printer_ids": [999_999]})
        )
        .await
        .status,
        404
    );

    // Only printers:read: sees groups and members, changes nothing.
    let (_, rita) = user_with(&server, &admin, "rita", &["printers:read"]).await;
    let list = server
        .call(&rita, "GET", "/api/v1/printer-groups", None)
        .await;
    assert_eq!(list.status, 200, "{:?}", list.json);
    assert_eq!(list.json["items"][0]["printer_ids"], json!([a1, b1]));
    assert_eq!(
        group(&server, &rita, json!({"name": "Mine"})).await.status,
        403
    );
    let path = format!("/api/v1/printer-groups/{pla}");
    for (method, body) in [
        ("PATCH", Some(json!({"name": "Renamed"}))),
        ("DELETE", None),
    ] {
        assert_eq!(
            server.call(&rita, method, &path, body).await.status,
            403,
            "{method}"
        );
    }
    // No printer right at all: not even the list.
    let (_, nora) = user_with(&server, &admin, "nora", &["queue:read_all"]).await;
    assert_eq!(
        server
            .call(&nora, "GET", "/api/v1/printer-groups", None)
            .await
            .status,
        403
    );

    // printers:read + printers:update scoped to Hall A.
    let scoped = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall A crew", "permissions": ["printers:read", "printers:update"],
                        "scope": {"locations": [hall_a]}}),
            ),
        )
        .await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.json);
    let sally_id = server
        .create_user(&admin, "sally", &[scoped.json["id"].as_i64().unwrap()])
        .await;
    let sally = server.login("sally", pw_testkit::TEST_PASSWORD).await;
    assert_eq!(
        members(&server, &sally, pla).await,
        json!([a1]),
        "B1 hidden"
    );
    // A printer elsewhere is out of reach: 404, and nothing is created.
    let reached = group(
        &server,
        &sally,
        json!({"name": "Sally's", "printer_ids": [a1, b1]}),
    )
    .await;
    assert_eq!(reached.status, 404, "{:?}", reached.json);
    let own = group(
        &server,
        &sally,
        json!({"name": "Sally's", "printer_ids": [a1, a2]}),
    )
    .await;
    assert_eq!(own.status, 201, "{:?}", own.json);
    let sallys = own.json["id"].as_i64().unwrap();
    let patched = server
        .call(
            &sally,
            "PATCH",
            &path,
            Some(json!({"printer_ids": [a2, b1]})),
        )
        .await;
    assert_eq!(patched.status, 404, "adding B1: {:?}", patched.json);
    // Setting the members she sees swaps A1 for A2; the hidden B1 stays.
    let patched = server
        .call(&sally, "PATCH", &path, Some(json!({"printer_ids": [a2]})))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    assert_eq!(patched.json["printer_ids"], json!([a2]));
    assert_eq!(members(&server, &admin, pla).await, json!([a2, b1]));
    // Renaming or deleting needs printers:update everywhere: a scoped caller gets the same 403
    // for a group with a printer out of her reach as for her own Hall A group, so the answer
    // cannot tell her that a group holds printers elsewhere; nothing changes.
    let sallys_path = format!("/api/v1/printer-groups/{sallys}");
    for (method, body) in [
        ("PATCH", Some(json!({"name": "Renamed"}))),
        ("DELETE", None),
    ] {
        let mut messages = Vec::new();
        for p in [&path, &sallys_path] {
            let refused = server.call(&sally, method, p, body.clone()).await;
            assert_eq!(refused.status, 403, "{method} {p}");
            messages.push(refused.json["error"]["message"].clone());
        }
        assert_eq!(messages[0], messages[1], "{method}: one answer for both");
    }
    assert_eq!(
        server.call(&admin, "GET", &sallys_path, None).await.json["name"],
        "Sally's"
    );
    // The page's form sends the name with the members: the same name again is no rename.
    let same = server
        .call(
            &sally,
            "PATCH",
            &path,
            Some(json!({"name": "PLA farm", "printer_ids": [a2]})),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.json);

    // An API key with one scope reads, and changes nothing.
    let key = api_key(&server, &admin, "groups", &["printers:read"]).await;
    let listed = server
        .call(&key, "GET", "/api/v1/printer-groups", None)
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.json);
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        group(&server, &key, json!({"name": "Key's"})).await.status,
        403
    );
    assert_eq!(server.call(&key, "DELETE", &path, None).await.status, 403);

    // A disabled user is out, whatever her group says.
    let disabled = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{sally_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.json);
    assert_eq!(
        server
            .call(&sally, "GET", "/api/v1/printer-groups", None)
            .await
            .status,
        401
    );

    // The admin deletes; unknown ids are 404s; every change is audited.
    assert_eq!(server.call(&admin, "DELETE", &path, None).await.status, 204);
    assert_eq!(server.call(&admin, "GET", &path, None).await.status, 404);
    assert_eq!(server.call(&admin, "DELETE", &path, None).await.status, 404);
    assert_eq!(
        server
            .call(&admin, "PATCH", &path, Some(json!({"name": "x"})))
            .await
            .status,
        404
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=printer_group.", None)
        .await;
    let text = audit.json.to_string();
    for event in [
        "printer_group.create",
        "printer_group.update",
        "printer_group.delete",
    ] {
        assert!(text.contains(event), "{event} in {text}");
    }
}

#[tokio::test]
async fn a_group_target_prints_only_on_members_and_a_removed_member_stops_taking_it() {
    let (farm, _dir) = farm(&[Model::P1S, Model::P1S], 1.0).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let (outside, member) = (&farm.printers[0], &farm.printers[1]);
    let g = group(
        &server,
        &admin,
        json!({"name": "Big plates", "printer_ids": [printers[1]]}),
    )
    .await;
    assert_eq!(g.status, 201, "{:?}", g.json);
    let g = g.json["id"].as_i64().unwrap();
    crate::dispatch::waive(&server, &admin, printers[0]).await;
    let file = upload_sliced(&server, &admin, "Plate.gcode.3mf").await;
    for bad in [
        json!({"group_id": 999_999}),
        json!({"group_id": g, "model": "P1S"}),
    ] {
        let a = server
            .call(
                &admin,
                "POST",
                "/api/v1/queue",
                Some(json!({"file_id": file, "target": bad})),
            )
            .await;
        assert_eq!(a.status, 400, "{:?}", a.json);
    }
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"group_id": g}, "copies": 2,
               "options": {"use_ams": false}}),
    )
    .await;
    assert_eq!(
        item(&server, &admin, id).await["target"],
        json!({"group_id": g})
    );

    // The first copy runs on the member; the idle printer outside the group never takes it.
    let first = wait_item(&server, &admin, id, |i| i["copies_done"] == 1).await;
    assert_eq!(first["state"], "queued", "{first}");
    assert_eq!(accepted(member).len(), 1);
    assert!(outside.starts().is_empty(), "{:?}", outside.starts());

    // The member leaves the group, the other printer joins: the second copy goes there, even
    // once the old member's plate is cleared.
    let swapped = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printer-groups/{g}"),
            Some(json!({"printer_ids": [printers[0]]})),
        )
        .await;
    assert_eq!(swapped.status, 200, "{:?}", swapped.json);
    let cleared = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/printers/{}/plate-cleared", printers[1]),
            None,
        )
        .await;
    assert_eq!(cleared.status, 204);
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    assert_eq!(done["copies_done"], 2);
    assert_eq!(accepted(outside).len(), 1, "{:?}", outside.starts());
    assert_eq!(accepted(member).len(), 1, "{:?}", member.starts());

    // A group without printers says so.
    let empty = group(&server, &admin, json!({"name": "Empty"})).await;
    let empty = empty.json["id"].as_i64().unwrap();
    let waiting = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"group_id": empty}}),
    )
    .await;
    assert_eq!(
        item(&server, &admin, waiting).await["waiting_for"],
        "The printer group Empty has no printers: add one, or choose another target."
    );
    // The printers page lists the groups; the queue page names the target.
    let (status, page) = crate::archive_page::html(&server, &admin, "/printers").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-printer-group-id"), "the groups section");
    let (status, page) = crate::archive_page::html(&server, &admin, "/queue").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Any printer in the group Empty"),
        "the target in words"
    );
}

#[tokio::test]
async fn deleting_a_group_parks_its_queued_items_with_the_reason() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let [hall] = locations(&server, &admin, &["Hall"]).await[..] else {
        unreachable!()
    };
    let p = offline_printer(&server, &admin, 1, hall).await;
    let g = group(
        &server,
        &admin,
        json!({"name": "PLA farm", "printer_ids": [p]}),
    )
    .await;
    let g = g.json["id"].as_i64().unwrap();
    let file = upload_sliced(&server, &admin, "Clip.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"group_id": g}}),
    )
    .await;
    assert_eq!(
        item(&server, &admin, id).await["waiting_for"],
        "Waiting for a free printer in the group PLA farm."
    );
    let deleted = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/printer-groups/{g}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.json);

    // Still there, still queued, never retargeted: parked with the reason in words.
    let parked = item(&server, &admin, id).await;
    let words = "Its printer group PLA farm was deleted: choose another target.";
    assert_eq!(parked["state"], "queued", "{parked}");
    assert_eq!(parked["target"], json!({"group_deleted": true}));
    assert_eq!(parked["reason"], words);
    assert_eq!(parked["waiting_for"], words);
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=printer_group.delete",
            None,
        )
        .await;
    assert_eq!(
        audit.json["items"][0]["details"]["parked"], 1,
        "{:?}",
        audit.json
    );

    // Choosing another target lifts it.
    let moved = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/queue/{id}"),
            Some(json!({"target": {"printer_id": p}})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.json);
    assert_eq!(moved.json["reason"], Value::Null);
    assert_eq!(moved.json["target"], json!({"printer_id": p}));
}

#[tokio::test]
async fn a_location_waiver_lets_the_dispatcher_start_without_a_plate_clear() {
    let (farm, _dir) = farm(&[Model::A1], 0.5).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printers = add_all(&server, &admin, &farm).await;
    let sim = &farm.printers[0];
    let name = format!("Printer {}", sim.info.serial);
    let [hall] = locations(&server, &admin, &["Hall B"]).await[..] else {
        unreachable!()
    };
    let placed = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printers/{}", printers[0]),
            Some(json!({"location_id": hall})),
        )
        .await;
    assert_eq!(placed.status, 200, "{:?}", placed.json);
    assert_eq!(placed.json["location_waives_plate_clear"], false);
    let file = upload_sliced(&server, &admin, "Clip.gcode.3mf").await;
    let id = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"printer_id": printers[0]}, "copies": 2,
               "options": {"use_ams": false}}),
    )
    .await;
    let gated = format!("Waiting for the plate of {name} to be cleared.");
    let first = wait_item(&server, &admin, id, |i| i["waiting_for"] == gated.as_str()).await;
    assert_eq!(first["copies_done"], 1);

    // Only locations:manage sets the waiver.
    let (_, lena) = user_with(
        &server,
        &admin,
        "lena",
        &["locations:read", "printers:update"],
    )
    .await;
    let path = format!("/api/v1/locations/{hall}");
    assert_eq!(
        server
            .call(
                &lena,
                "PATCH",
                &path,
                Some(json!({"waive_plate_clear": true}))
            )
            .await
            .status,
        403
    );
    let waived = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"waive_plate_clear": true})),
        )
        .await;
    assert_eq!(waived.status, 200, "{:?}", waived.json);
    assert_eq!(waived.json["waive_plate_clear"], true);
    let done = wait_item(&server, &admin, id, |i| i["state"] == "done").await;
    assert_eq!(done["copies_done"], 2);
    assert_eq!(accepted(sim).len(), 2, "started without a plate clear");
    let card = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/printers/{}", printers[0]),
            None,
        )
        .await;
    assert_eq!(
        card.json["location_waives_plate_clear"], true,
        "{:?}",
        card.json
    );
    assert_eq!(
        card.json["waive_plate_clear"], false,
        "its own setting stays"
    );
    assert_eq!(card.json["plate_cleared"], false);
    let (status, page) = crate::archive_page::html(&server, &admin, "/printers").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("The plate-clear check is waived for location Hall B."),
        "the card says who waives it"
    );

    // Lifting the waiver restores the gate for the next item.
    let lifted = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"waive_plate_clear": false})),
        )
        .await;
    assert_eq!(lifted.status, 200, "{:?}", lifted.json);
    let next = queue(
        &server,
        &admin,
        json!({"file_id": file, "target": {"printer_id": printers[0]},
               "options": {"use_ams": false}}),
    )
    .await;
    wait_item(&server, &admin, next, |i| {
        i["waiting_for"] == gated.as_str()
    })
    .await;
    assert_eq!(accepted(sim).len(), 2);
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=location.update", None)
        .await;
    let text = audit.json.to_string();
    assert!(text.contains("\"waive_plate_clear\":true"), "{text}");
    assert!(text.contains("\"waive_plate_clear\":false"), "{text}");
}

/// Session 10 review: parallel creates of one name make one group (the unique index decides,
/// never a 500 or two groups); the location waiver needs `printers:update` everywhere besides
/// `locations:manage`, for a session and for an API key with one scope, while renaming the
/// location (the form sends the box unchanged) still works for a location manager.
#[tokio::test]
async fn parallel_group_creates_and_the_location_waiver_right() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let answers = futures_util::future::join_all(
        (0..8).map(|_| group(&server, &admin, json!({"name": "Twin"}))),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    let listed = server
        .call(&admin, "GET", "/api/v1/printer-groups", None)
        .await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);

    let [hall] = locations(&server, &admin, &["Hall C"]).await[..] else {
        unreachable!()
    };
    let path = format!("/api/v1/locations/{hall}");
    let (_, lena) = user_with(
        &server,
        &admin,
        "lena",
        &["locations:read", "locations:manage"],
    )
    .await;
    let key = api_key(&server, &admin, "places", &["locations:manage"]).await;
    for who in [&lena, &key] {
        let refused = server
            .call(
                who,
                "PATCH",
                &path,
                Some(json!({"waive_plate_clear": true})),
            )
            .await;
        assert_eq!(refused.status, 403, "{:?}", refused.json);
        let refused = server
            .call(
                who,
                "POST",
                "/api/v1/locations",
                Some(json!({"name": "Waived", "waive_plate_clear": true})),
            )
            .await;
        assert_eq!(refused.status, 403, "{:?}", refused.json);
    }
    let renamed = server
        .call(
            &lena,
            "PATCH",
            &path,
            Some(json!({"name": "Hall C2", "waive_plate_clear": false})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.json);
    // The admin (printers:update everywhere) waives; the manager's unchanged box still saves.
    let waived = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"waive_plate_clear": true})),
        )
        .await;
    assert_eq!(waived.status, 200, "{:?}", waived.json);
    let kept = server
        .call(
            &lena,
            "PATCH",
            &path,
            Some(json!({"name": "Hall C3", "waive_plate_clear": true})),
        )
        .await;
    assert_eq!(kept.status, 200, "{:?}", kept.json);
    let lifted = server
        .call(
            &lena,
            "PATCH",
            &path,
            Some(json!({"waive_plate_clear": false})),
        )
        .await;
    assert_eq!(lifted.status, 403, "{:?}", lifted.json);
}
