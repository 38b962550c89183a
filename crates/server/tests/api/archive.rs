//! The print archive end to end (issue 15 item 4): prints started through printwarden and
//! elsewhere on simulated printers become entries with their starter (or none), duration,
//! outcome and error in words; a reconnect or a server restart mid-print keeps one entry; the
//! `_own`/`_all` rules (ownerless entries, 404 for others'), printer scopes and API keys; the
//! filters, keyset pages, CSV export and purge.

use std::time::Duration;

use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

use crate::printers::{add, command, online, print, wait_for, with_online};

pub(crate) async fn farm(count: usize, job_seconds: f64) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(count, dir.path());
    options.models = vec![Model::P1S; count];
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = job_seconds;
    options.behaviour.prepare_seconds = 0.5;
    (Farm::start(options).await.unwrap(), dir)
}

pub(crate) async fn list(server: &TestServer, auth: &Auth, query: &str) -> Value {
    let got = server
        .call(auth, "GET", &format!("/api/v1/archives{query}"), None)
        .await;
    assert_eq!(got.status, 200, "{query}: {:?}", got.json);
    got.json
}

pub(crate) fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// Polls the archive (as `auth`) until `check` holds for its newest entry (15 s at most).
pub(crate) async fn wait_entry(
    server: &TestServer,
    auth: &Auth,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let page = list(server, auth, "").await;
        last = page["items"][0].clone();
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        check(&last),
        "the archive never reached the state; newest: {last}"
    );
    last
}

pub(crate) async fn user_with(
    server: &TestServer,
    admin: &Auth,
    name: &str,
    permissions: &[&str],
) -> Auth {
    let group = server
        .create_group(admin, &format!("{name}'s rights"), permissions)
        .await;
    server.create_user(admin, name, &[group]).await;
    server.login(name, TEST_PASSWORD).await
}

#[tokio::test]
async fn a_print_through_printwarden_is_archived_with_its_starter_duration_and_one_entry_across_reconnects()
 {
    let (farm, _dir) = farm(1, 3.0).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    let cody = user_with(
        &server,
        &admin,
        "cody",
        &[
            "printers:read",
            "printers:control",
            "queue:create",
            "archives:read_own",
        ],
    )
    .await;
    let (status, body) = print(
        &server,
        &cody,
        id,
        "cube.gcode.3mf",
        crate::printfiles::sliced_project(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entry = wait_entry(&server, &cody, |e| e["outcome"] == "printing").await;
    assert_eq!(entry["source"], "printwarden");
    assert_eq!(entry["file_name"], "cube.gcode.3mf");
    assert_eq!(entry["printer_id"], id);
    assert_eq!(entry["started_by"]["name"], "cody");
    assert!(entry["started_by"]["id"].is_i64());
    assert!(entry["ended_at"].is_null() && entry["duration_s"].is_null());
    // The Wi-Fi drops mid-print: the reconnect finds the open entry.
    sim.drop_connections();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for(&server, &admin, id, online).await;
    let done = wait_entry(&server, &cody, |e| e["outcome"] == "finished").await;
    assert_eq!(done["id"], entry["id"], "still the same entry");
    assert!(done["duration_s"].as_i64().unwrap() >= 2, "{done}");
    assert!(done["ended_at"].is_string());
    assert!(done["error"].is_null());
    let all = list(&server, &admin, "").await;
    assert_eq!(ids(&all), [entry["id"].as_i64().unwrap()], "one entry");
    let one = server
        .call(
            &cody,
            "GET",
            &format!("/api/v1/archives/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json["outcome"], "finished");
}

#[tokio::test]
async fn failed_cancelled_and_elsewhere_prints_end_with_words_and_no_owner() {
    let (farm, _dir) = farm(1, 600.0).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    let reader = user_with(
        &server,
        &admin,
        "rita",
        &["printers:read", "archives:read_own"],
    )
    .await;

    // Started on the printer itself, failing at once (the simulator's AMS fault).
    sim.set_behaviour(|b| b.fail_at = Some(0));
    sim.start_print("benchy.gcode.3mf");
    let failed = wait_entry(&server, &admin, |e| e["outcome"] == "failed").await;
    assert_eq!(failed["source"], "elsewhere");
    assert!(failed["started_by"].is_null(), "outside printwarden");
    assert_eq!(failed["file_name"], "benchy.gcode.3mf");
    assert_eq!(failed["error_code"], "0700_8001");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("cut the filament"),
        "{failed}"
    );

    // Started elsewhere again, then stopped through printwarden: cancelled.
    sim.start_print("cube.gcode.3mf");
    let running = wait_entry(&server, &admin, |e| {
        e["outcome"] == "printing" && e["file_name"] == "cube.gcode.3mf"
    })
    .await;
    let stop = command(&server, &admin, id, json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    let cancelled = wait_entry(&server, &admin, |e| e["outcome"] == "cancelled").await;
    assert_eq!(cancelled["id"], running["id"]);
    assert!(cancelled["error"].is_null());

    // Ownerless entries need read_all: an owner-only reader sees none of them (404 each).
    assert!(ids(&list(&server, &reader, "").await).is_empty());
    for e in [&failed, &cancelled] {
        let got = server
            .call(
                &reader,
                "GET",
                &format!("/api/v1/archives/{}", e["id"]),
                None,
            )
            .await;
        assert_eq!(got.status, 404);
    }
    assert_eq!(ids(&list(&server, &admin, "").await).len(), 2);
}

#[tokio::test]
async fn a_server_restart_mid_print_keeps_one_entry_and_records_the_end() {
    let (farm, _dir) = farm(1, 600.0).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    sim.start_print("long.gcode.3mf");
    let entry = wait_entry(&server, &admin, |e| e["outcome"] == "printing").await;
    let server = server.restart(Vec::new()).await;
    let admin = server.login("admin", TEST_PASSWORD).await;
    wait_for(&server, &admin, id, online).await;
    // A few reports after the restart, still one open entry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page = list(&server, &admin, "").await;
    assert_eq!(ids(&page), [entry["id"].as_i64().unwrap()]);
    assert_eq!(page["items"][0]["outcome"], "printing");
    let stop = command(&server, &admin, id, json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    let ended = wait_entry(&server, &admin, |e| e["outcome"] == "cancelled").await;
    assert_eq!(ended["id"], entry["id"]);
    assert!(ended["duration_s"].is_i64());
}

/// A GET answered with text (the CSV export): status and body.
async fn get_text(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    let req = server.client.get(server.url(path));
    let req = match auth {
        Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
        Auth::Key(k) => req.bearer_auth(k),
        Auth::None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Records a print by hand as `auth` and returns its id.
pub(crate) async fn record(
    server: &TestServer,
    auth: &Auth,
    printer: i64,
    file: &str,
    hour: u32,
    outcome: &str,
) -> i64 {
    let got = server
        .call(
            auth,
            "POST",
            "/api/v1/archives",
            Some(json!({
                "printer_id": printer, "file_name": file,
                "started_at": format!("2026-01-01T{hour:02}:00:00Z"),
                "ended_at": format!("2026-01-01T{hour:02}:30:00Z"),
                "outcome": outcome,
            })),
        )
        .await;
    assert_eq!(got.status, 201, "{:?}", got.json);
    assert_eq!(got.json["duration_s"], 1800);
    assert_eq!(got.json["source"], "elsewhere");
    got.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn own_and_all_rules_scopes_keys_filters_pages_export_and_purge() {
    let (farm, _dir) = farm(2, 600.0).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let a = add(&server, &admin, &farm.printers[0], json!({})).await;
    let b = add(&server, &admin, &farm.printers[1], json!({})).await;
    let operator = [
        "printers:read",
        "archives:read_own",
        "archives:create",
        "archives:update_own",
        "archives:delete_own",
    ];
    let ann = user_with(&server, &admin, "ann", &operator).await;
    let group = server.group_id(&admin, "ann's rights").await;
    let bob_id = server.create_user(&admin, "bob", &[group]).await;
    let bob = server.login("bob", TEST_PASSWORD).await;

    let ann1 = record(&server, &ann, a, "=HYPERLINK(\"x\").3mf", 1, "finished").await;
    let ann2 = record(&server, &ann, b, "ann-two.3mf", 2, "failed").await;
    let ann3 = record(&server, &ann, a, "ann-three.3mf", 3, "cancelled").await;
    let bob1 = record(&server, &bob, a, "bob-one.3mf", 4, "finished").await;
    let bob2 = record(&server, &bob, b, "bob-two.3mf", 5, "finished").await;

    // Own only, newest first; others' entries are 404 for every verb.
    assert_eq!(ids(&list(&server, &ann, "").await), [ann3, ann2, ann1]);
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"notes": "mine now"}))),
        ("DELETE", None),
    ] {
        let got = server
            .call(&ann, method, &format!("/api/v1/archives/{bob1}"), body)
            .await;
        assert_eq!(got.status, 404, "{method}");
    }
    let patched = server
        .call(
            &ann,
            "PATCH",
            &format!("/api/v1/archives/{ann1}"),
            Some(json!({"notes": "@SUM(1)", "tags": ["calibration", " pla "], "rating": 5})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    assert_eq!(patched.json["tags"], json!(["calibration", "pla"]));
    assert_eq!(patched.json["rating"], 5);
    for bad in [
        json!({"rating": 6}),
        json!({"tags": [""]}),
        json!({"owner": 1}),
    ] {
        let got = server
            .call(
                &ann,
                "PATCH",
                &format!("/api/v1/archives/{ann1}"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(got.status, 400, "{bad}");
    }
    let cleared = server
        .call(
            &ann,
            "PATCH",
            &format!("/api/v1/archives/{ann1}"),
            Some(json!({"rating": null})),
        )
        .await;
    assert!(cleared.json["rating"].is_null() && cleared.json["notes"] == "@SUM(1)");

    // Administrators see everything; filters and pages.
    let everyone = [bob2, bob1, ann3, ann2, ann1];
    assert_eq!(ids(&list(&server, &admin, "").await), everyone);
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = list(&server, &admin, &query).await;
        pages += 1;
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!((pages, seen.as_slice()), (3, everyone.as_slice()));
    assert_eq!(
        ids(&list(&server, &admin, &format!("?printer_id={b}")).await),
        [bob2, ann2]
    );
    assert_eq!(ids(&list(&server, &admin, "?outcome=failed").await), [ann2]);
    assert_eq!(ids(&list(&server, &admin, "?user=bob").await), [bob2, bob1]);
    assert_eq!(
        ids(&list(&server, &admin, &format!("?user={bob_id}")).await),
        [bob2, bob1]
    );
    assert_eq!(ids(&list(&server, &admin, "?q=TWO").await), [bob2, ann2]);
    assert_eq!(
        ids(&list(
            &server,
            &admin,
            "?since=2026-01-01T02:00:00Z&until=2026-01-01T04:00:00Z"
        )
        .await),
        [ann3, ann2]
    );
    for bad in [
        "?outcome=exploded",
        "?since=yesterday",
        "?printer_id=x",
        "?cursor=nope",
        "?limit=0",
        "?colour=red",
    ] {
        let got = server
            .call(&admin, "GET", &format!("/api/v1/archives{bad}"), None)
            .await;
        assert_eq!(got.status, 400, "{bad}");
    }

    // A principal scoped to printer a sees a's entries only.
    let scoped = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Printer A archive", "permissions": ["printers:read", "archives:read_all"],
                        "scope": {"printers": [a]}})),
        )
        .await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.json);
    server
        .create_user(&admin, "sam", &[scoped.json["id"].as_i64().unwrap()])
        .await;
    let sam = server.login("sam", TEST_PASSWORD).await;
    assert_eq!(ids(&list(&server, &sam, "").await), [bob1, ann3, ann1]);
    let got = server
        .call(&sam, "GET", &format!("/api/v1/archives/{bob2}"), None)
        .await;
    assert_eq!(got.status, 404, "outside the scope");

    // API keys with one scope: read everything, change nothing; a printer list narrows it.
    let key = |scopes: Value, printers: Value| {
        let server = &server;
        let admin = &admin;
        async move {
            let k = server
                .call(
                    admin,
                    "POST",
                    "/api/v1/api-keys",
                    Some(json!({"name": "archive", "scopes": scopes, "printer_ids": printers})),
                )
                .await;
            assert_eq!(k.status, 201, "{:?}", k.json);
            Auth::Key(k.json["key"].as_str().unwrap().to_owned())
        }
    };
    let reader = key(json!(["archives:read_all"]), Value::Null).await;
    assert_eq!(ids(&list(&server, &reader, "").await), everyone);
    let got = server
        .call(
            &reader,
            "PATCH",
            &format!("/api/v1/archives/{ann1}"),
            Some(json!({"notes": "x"})),
        )
        .await;
    assert_eq!(got.status, 403);
    let narrow = key(json!(["archives:read_all"]), json!([b])).await;
    assert_eq!(ids(&list(&server, &narrow, "").await), [bob2, ann2]);
    let none = key(json!(["printers:read"]), Value::Null).await;
    let got = server.call(&none, "GET", "/api/v1/archives", None).await;
    assert_eq!(got.status, 403, "no archive right");

    // CSV export: the same filters and visibility, no cell starts a formula.
    let csv = get_text(&server, &ann, "/api/v1/archives/export.csv").await;
    assert_eq!(csv.0, 200);
    let text = csv.1;
    assert!(text.starts_with("id,printer_id,printer,file,"), "{text}");
    assert_eq!(text.lines().count(), 4, "header and ann's three: {text}");
    assert!(text.contains("\"'=HYPERLINK(\"\"x\"\").3mf\""), "{text}");
    assert!(text.contains("\"'@SUM(1)\""), "{text}");
    assert!(!text.contains("bob-one"));
    let csv = get_text(
        &server,
        &admin,
        "/api/v1/archives/export.csv?outcome=finished",
    )
    .await;
    assert_eq!(csv.1.lines().count(), 4, "{}", csv.1);

    // Purge is for archives:purge only.
    let purge = json!({"before": "2026-01-01T03:00:00Z"});
    let got = server
        .call(&ann, "POST", "/api/v1/archives/purge", Some(purge.clone()))
        .await;
    assert_eq!(got.status, 403);
    let got = server
        .call(&admin, "POST", "/api/v1/archives/purge", Some(purge))
        .await;
    assert_eq!(
        (got.status.as_u16(), &got.json),
        (200, &json!({"deleted": 2}))
    );
    assert_eq!(ids(&list(&server, &admin, "").await), [bob2, bob1, ann3]);

    // Users deleted: ann's entries go with her (items=delete), bob's stay ownerless.
    let ann_id = server
        .call(&admin, "GET", "/api/v1/users?limit=500", None)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ann")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let got = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{ann_id}?items=delete"),
            None,
        )
        .await;
    assert_eq!(got.status, 204, "{:?}", got.json);
    let got = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/users/{bob_id}?items=keep"),
            None,
        )
        .await;
    assert_eq!(got.status, 204, "{:?}", got.json);
    let page = list(&server, &admin, "").await;
    assert_eq!(ids(&page), [bob2, bob1]);
    assert_eq!(
        page["items"][0]["started_by"],
        json!({"id": null, "name": "bob"})
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=archive.", None)
        .await;
    let events: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for e in [
        "archive.create",
        "archive.update",
        "archive.purge",
        "archive.delete",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
    // An owner-only user does not see ownerless entries.
    let carl = user_with(
        &server,
        &admin,
        "carl",
        &["printers:read", "archives:read_own"],
    )
    .await;
    assert!(ids(&list(&server, &carl, "").await).is_empty());
}
