//! Print, queue and printer notifications (issue 16 item 5) on simulated printers, seen by
//! local receivers: a queued print announces `print.started`, `queue.dispatched`,
//! `print.finished` and `queue.waiting_for_plate` once each, signed; ntfy and Discord get
//! their own formats byte for byte; failed and stopped prints, and a printer going offline;
//! a webhook only carries what its creator may read (filter refused in words, nothing about
//! a printer outside their scope or after they lost `printers:read`); refused targets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pw_simulator::{Farm, Model};
use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::printers::{add, command, online, wait_for};
use crate::webhooks::{
    LAN, Names, Received, allow_lan, create_hook, ok_response, receiver, verify,
};

async fn farm(models: &[Model], job_seconds: f64) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = pw_simulator::Options::new(models.len(), dir.path());
    options.models = models.to_vec();
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = job_seconds;
    options.behaviour.prepare_seconds = 0.2;
    (Farm::start(options).await.unwrap(), dir)
}

async fn server() -> TestServer {
    let names = Names(HashMap::from([(LAN, vec!["127.0.0.1".parse().unwrap()])]));
    TestServer::spawn_with(pw_testkit::Options {
        resolver: Some(Arc::new(names)),
        ..pw_testkit::Options::default()
    })
    .await
}

async fn add_all(server: &TestServer, admin: &Auth, farm: &Farm) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, sim) in farm.printers.iter().enumerate() {
        let id = add(
            server,
            admin,
            sim,
            json!({"ftps_port": sim.info.ftps_port, "name": format!("P1S-{}", i + 1)}),
        )
        .await;
        wait_for(server, admin, id, online).await;
        ids.push(id);
    }
    ids
}

fn events_of(log: &Mutex<Vec<Received>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("x-printwarden-event")
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Waits (60 s at most) until the log holds a delivery `check` accepts.
async fn wait_until(log: &Mutex<Vec<Received>>, what: &str, check: impl Fn(&[Received]) -> bool) {
    for _ in 0..600 {
        if check(&log.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = log.lock().unwrap();
    assert!(check(&got), "{what} never arrived: {got:?}");
}

fn has_event(name: &'static str) -> impl Fn(&[Received]) -> bool {
    move |got: &[Received]| {
        got.iter()
            .any(|r| r.headers.get("x-printwarden-event").map(String::as_str) == Some(name))
    }
}

#[tokio::test]
async fn a_queued_print_is_announced_once_per_event_signed_and_to_ntfy_and_discord() {
    let (farm, _dir) = farm(&[Model::P1S], 1.0).await;
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let printers = add_all(&server, &admin, &farm).await;
    let (port, log) = receiver(ok_response()).await;
    let (ntfy_port, ntfy) = receiver(ok_response()).await;
    let (discord_port, discord) = receiver(ok_response()).await;
    let secret = "print events secret";
    create_hook(
        &server,
        &admin,
        json!({"name": "farm", "url": format!("http://{LAN}:{port}/in"), "secret": secret,
               // `queue.` would select the audit log's queue.* events too.
               "events": ["print.", "queue.dispatched", "queue.failed", "queue.waiting_for_plate"]}),
    )
    .await;
    let ntfy_hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "phone", "kind": "ntfy", "url": format!("http://{LAN}:{ntfy_port}/farm-topic"),
                        "secret": "tk_ntfy_token", "events": ["print.finished"]})),
        )
        .await;
    assert_eq!(ntfy_hook.status, 201, "{:?}", ntfy_hook.json);
    assert_eq!(ntfy_hook.json["kind"], "ntfy");
    let discord_url = format!("http://{LAN}:{discord_port}/api/webhooks/42/discord-token-xyz");
    let discord_hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(
                json!({"name": "chat", "kind": "discord", "url": discord_url,
                        "events": ["print.finished"]}),
            ),
        )
        .await;
    assert_eq!(discord_hook.status, 201, "{:?}", discord_hook.json);
    // The Discord URL is its token: never shown again, not even to its creator.
    let list = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    assert!(
        !list.json.to_string().contains("discord-token-xyz"),
        "{}",
        list.json
    );
    assert_eq!(
        discord_hook.json["url"],
        format!("http://{LAN}:{discord_port}/api/webhooks/42/…")
    );
    assert_eq!(discord_hook.json["has_secret"], false);

    let file = crate::library::upload_sliced(&server, &admin, "Bracket.gcode.3mf").await;
    let queued = server
        .call(
            &admin,
            "POST",
            "/api/v1/queue",
            Some(json!({"file_id": file, "target": {"printer_id": printers[0]}, "copies": 2})),
        )
        .await;
    assert_eq!(queued.status, 201, "{:?}", queued.json);
    let item = queued.json["id"].as_i64().unwrap();

    wait_until(
        &log,
        "queue.waiting_for_plate",
        has_event("queue.waiting_for_plate"),
    )
    .await;
    // Several dispatcher passes later, still one of each.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = events_of(&log);
    for name in [
        "print.started",
        "queue.dispatched",
        "print.finished",
        "queue.waiting_for_plate",
    ] {
        assert_eq!(
            events.iter().filter(|e| *e == name).count(),
            1,
            "{name} once: {events:?}"
        );
    }
    let pos = |n: &str| events.iter().position(|e| e == n).unwrap();
    assert!(pos("print.started") < pos("print.finished"), "{events:?}");
    let got = log.lock().unwrap().clone();
    for r in &got {
        verify(r, secret);
        let b = body(r);
        assert_eq!(b["event"], r.headers["x-printwarden-event"]);
        assert_eq!(
            b["printer"],
            json!({"id": printers[0], "name": "P1S-1"}),
            "{b}"
        );
        assert!(b["at"].is_string() && b["text"].is_string(), "{b}");
    }
    let finished = got
        .iter()
        .map(body)
        .find(|b| b["event"] == "print.finished")
        .unwrap();
    let text = finished["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("Bracket.gcode.3mf finished on P1S-1 after "),
        "{text}"
    );
    assert_eq!(finished["job"]["file"], "Bracket.gcode.3mf");
    assert_eq!(finished["job"]["started_by"], "dispatcher");
    let dispatched = got
        .iter()
        .map(body)
        .find(|b| b["event"] == "queue.dispatched")
        .unwrap();
    assert_eq!(dispatched["queue_item"]["id"], item);
    assert_eq!(dispatched["queue_item"]["owner"], "admin");
    let waiting = got
        .iter()
        .map(body)
        .find(|b| b["event"] == "queue.waiting_for_plate")
        .unwrap();
    assert_eq!(
        waiting["text"],
        "Bracket.gcode.3mf waits for the plate of P1S-1 to be cleared."
    );

    // ntfy: the sentence as the body, title, priority and tags as headers, the token as Bearer.
    wait_until(&ntfy, "the ntfy push", |g| !g.is_empty()).await;
    let push = ntfy.lock().unwrap()[0].clone();
    assert_eq!(String::from_utf8(push.body.clone()).unwrap(), text);
    assert_eq!(push.headers["title"], "Print finished");
    assert_eq!(push.headers["priority"], "3");
    assert_eq!(push.headers["tags"], "white_check_mark");
    assert_eq!(push.headers["authorization"], "Bearer tk_ntfy_token");
    assert_eq!(push.headers["content-type"], "text/plain; charset=utf-8");
    assert!(!push.headers.contains_key("x-printwarden-signature"));

    // Discord: `{content}` with mentions off, byte for byte, at the sealed URL.
    wait_until(&discord, "the Discord message", |g| !g.is_empty()).await;
    let message = discord.lock().unwrap()[0].clone();
    let expected = json!({"content": text, "allowed_mentions": {"parse": []}}).to_string();
    assert_eq!(String::from_utf8(message.body).unwrap(), expected);
    assert_eq!(message.headers["content-type"], "application/json");
    assert_eq!(ntfy.lock().unwrap().len(), 1);
    assert_eq!(discord.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn failed_and_stopped_prints_and_a_lost_printer_are_announced() {
    let (farm, _dir) = farm(&[Model::P1S], 600.0).await;
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let printers = add_all(&server, &admin, &farm).await;
    let (port, log) = receiver(ok_response()).await;
    create_hook(
        &server,
        &admin,
        json!({"name": "all", "url": format!("http://{LAN}:{port}/in"),
               "events": ["print.", "printer.offline", "printer.online", "printer.hms_error"]}),
    )
    .await;
    let sim = &farm.printers[0];

    // Started on the printer itself, failing at once (the simulator's AMS fault).
    sim.set_behaviour(|b| b.fail_at = Some(0));
    sim.start_print("benchy.gcode.3mf");
    wait_until(&log, "print.failed", has_event("print.failed")).await;
    let failed = log
        .lock()
        .unwrap()
        .iter()
        .map(body)
        .find(|b| b["event"] == "print.failed")
        .unwrap();
    assert_eq!(failed["job"]["error"], "0700_8001", "{failed}");
    let text = failed["text"].as_str().unwrap();
    assert!(
        text.starts_with("benchy.gcode.3mf failed on P1S-1") && text.contains("cut the filament"),
        "{text}"
    );

    // Started again, then stopped through printwarden.
    sim.set_behaviour(|b| b.fail_at = None);
    sim.start_print("cube.gcode.3mf");
    wait_until(&log, "the second start", |g| {
        g.iter()
            .filter(|r| body(r)["event"] == "print.started")
            .count()
            == 2
    })
    .await;
    let stop = command(&server, &admin, printers[0], json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    wait_until(&log, "print.stopped", has_event("print.stopped")).await;
    let stopped = log
        .lock()
        .unwrap()
        .iter()
        .map(body)
        .find(|b| b["event"] == "print.stopped")
        .unwrap();
    assert!(
        stopped["text"]
            .as_str()
            .unwrap()
            .starts_with("cube.gcode.3mf was stopped on P1S-1"),
        "{stopped}"
    );

    // The printer goes away: printer.offline once, with the reason.
    sim.drop_connections();
    drop(farm);
    wait_until(&log, "printer.offline", has_event("printer.offline")).await;
    wait_for(&server, &admin, printers[0], |v| {
        v["connection"] != "online"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = events_of(&log);
    assert_eq!(
        events.iter().filter(|e| *e == "printer.offline").count(),
        1,
        "{events:?}"
    );
    for name in ["print.failed", "print.stopped"] {
        assert_eq!(
            events.iter().filter(|e| *e == name).count(),
            1,
            "{events:?}"
        );
    }
    let offline = log
        .lock()
        .unwrap()
        .iter()
        .map(body)
        .find(|b| b["event"] == "printer.offline")
        .unwrap();
    assert!(
        offline["text"]
            .as_str()
            .unwrap()
            .starts_with("P1S-1 went offline"),
        "{offline}"
    );
}

#[tokio::test]
async fn webhooks_carry_only_printers_their_creator_may_read() {
    let (farm, _dir) = farm(&[Model::P1S, Model::P1S], 1.0).await;
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let printers = add_all(&server, &admin, &farm).await;
    let url = |port: u16| format!("http://{LAN}:{port}/in");

    // Without printers:read no print event may be chosen; without queue:read_* no queue
    // event: refused in words.
    let makers = server
        .create_group(&admin, "Hook makers", &["notifications:create"])
        .await;
    server.create_user(&admin, "maker", &[makers]).await;
    let maker = server.login("maker", pw_testkit::TEST_PASSWORD).await;
    let refused = server
        .call(
            &maker,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "url": url(9), "events": ["print.finished"]})),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert!(
        refused.message().contains("printers:read"),
        "{}",
        refused.message()
    );
    let readers = server
        .create_group(
            &admin,
            "Hook readers",
            &["notifications:create", "printers:read"],
        )
        .await;
    server.create_user(&admin, "reader", &[readers]).await;
    let reader = server.login("reader", pw_testkit::TEST_PASSWORD).await;
    let refused = server
        .call(
            &reader,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "url": url(9), "events": ["queue."]})),
        )
        .await;
    // `queue.` selects audit events too (queue.create…): audit:read first.
    assert_eq!(refused.status, 403, "{:?}", refused.json);
    let refused = server
        .call(
            &reader,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "url": url(9), "events": ["queue.failed"]})),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.json);
    assert!(
        refused.message().contains("queue:read"),
        "{}",
        refused.message()
    );

    // A reader of printer 2 only, a reader who will lose printers:read, and the admin.
    let scoped = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Printer two", "permissions": ["notifications:create", "printers:read"],
                        "scope": {"printers": [printers[1]]}})),
        )
        .await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.json);
    server
        .create_user(&admin, "two", &[scoped.json["id"].as_i64().unwrap()])
        .await;
    let two = server.login("two", pw_testkit::TEST_PASSWORD).await;
    let (two_port, two_log) = receiver(ok_response()).await;
    create_hook(
        &server,
        &two,
        json!({"name": "two", "url": url(two_port), "events": ["print."]}),
    )
    .await;
    let (reader_port, reader_log) = receiver(ok_response()).await;
    create_hook(
        &server,
        &reader,
        json!({"name": "reader", "url": url(reader_port), "events": ["print."]}),
    )
    .await;
    let (admin_port, admin_log) = receiver(ok_response()).await;
    create_hook(
        &server,
        &admin,
        json!({"name": "admin", "url": url(admin_port), "events": ["print."]}),
    )
    .await;
    let changed = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{readers}"),
            Some(json!({"permissions": ["notifications:create"]})),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.json);

    // A print on printer 1 reaches the admin only.
    farm.printers[0].start_print("one.gcode.3mf");
    wait_until(&admin_log, "print.finished", has_event("print.finished")).await;
    // Then one on printer 2: the scoped reader gets it (proof their hook works).
    farm.printers[1].start_print("two.gcode.3mf");
    wait_until(
        &two_log,
        "printer 2's print.finished",
        has_event("print.finished"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for r in two_log.lock().unwrap().iter() {
        assert_eq!(body(r)["printer"]["id"], printers[1], "{:?}", body(r));
    }
    assert!(
        reader_log.lock().unwrap().is_empty(),
        "delivered after printers:read was lost"
    );
}

#[tokio::test]
async fn push_targets_are_checked_like_webhooks() {
    let server = server().await;
    let admin = server.setup_admin().await;
    for (kind, url) in [
        ("ntfy", "http://127.0.0.1:8080/topic"),
        ("discord", "http://10.0.0.5/api/webhooks/1/token"),
        ("ntfy", "file:///etc/passwd"),
    ] {
        let refused = server
            .call(
                &admin,
                "POST",
                "/api/v1/webhooks",
                Some(json!({"name": "x", "kind": kind, "url": url, "events": ["print."]})),
            )
            .await;
        assert_eq!(refused.status, 400, "{kind} {url}: {:?}", refused.json);
        assert_eq!(refused.json["error"]["code"], "url_not_allowed", "{url}");
        assert!(
            !refused.json.to_string().contains("token"),
            "{:?}",
            refused.json
        );
    }
    // Discord has no secret of its own; an ntfy token is one header value.
    let bad = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "kind": "discord", "url": "https://discord.example/api/webhooks/1/t",
                        "secret": "s", "events": ["print."]})),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.json);
    let bad = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(
                json!({"name": "x", "kind": "ntfy", "url": "https://ntfy.example/t",
                        "secret": "two words", "events": ["print."]}),
            ),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.json);
    let bad = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "kind": "pager", "url": "https://a.example/", "events": ["print."]})),
        )
        .await;
    assert!(bad.status == 400 || bad.status == 422, "{:?}", bad.json);
    // Editing a Discord webhook's URL replaces the sealed one; the answer stays masked.
    let made = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "chat", "kind": "discord",
                        "url": "https://discord.example/api/webhooks/1/first-token", "events": ["print."]})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    let id = made.json["id"].as_i64().unwrap();
    let edited = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"url": "https://discord.example/api/webhooks/2/second-token"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.json);
    assert_eq!(
        edited.json["url"],
        "https://discord.example/api/webhooks/2/…"
    );
    // The masked URL sent back (a form that shows it) changes nothing.
    let kept = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"url": edited.json["url"], "name": "renamed"})),
        )
        .await;
    assert_eq!(kept.status, 200, "{:?}", kept.json);
    let row = server
        .running()
        .app
        .store()
        .webhook(pw_domain::WebhookId::from_db(id))
        .await
        .unwrap()
        .unwrap();
    assert!(!row.url.contains("token"), "{}", row.url);
    assert_eq!(row.url, "https://discord.example/api/webhooks/2/…");
    assert_eq!(row.name, "renamed");
    assert!(pw_credentials::seal::is_sealed(
        row.secret.as_deref().unwrap()
    ));
}

/// Session 10 review: a push target whose *name* answers a private address (not allow-listed)
/// is judged at delivery like a signed webhook: an ntfy topic and a Discord URL on such a name
/// are stored (names change their answers) but nothing reaches the listener, neither the test
/// button nor an event; and a webhook's kind cannot be changed afterwards.
#[tokio::test]
async fn push_targets_on_a_name_with_a_private_answer_get_nothing() {
    let names = Names(HashMap::from([(
        "push.example",
        vec!["127.0.0.1".parse().unwrap()],
    )]));
    let server = TestServer::spawn_with(pw_testkit::Options {
        resolver: Some(Arc::new(names)),
        ..pw_testkit::Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let (port, log) = receiver(ok_response()).await;
    let mut ids = Vec::new();
    for (kind, url) in [
        ("ntfy", format!("http://push.example:{port}/farm")),
        (
            "discord",
            format!("http://push.example:{port}/api/webhooks/1/tok"),
        ),
    ] {
        let id = create_hook(
            &server,
            &admin,
            json!({"name": kind, "kind": kind, "url": url, "events": ["*"]}),
        )
        .await;
        let tested = server
            .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
            .await;
        assert_eq!(tested.status, 200, "{kind}: {:?}", tested.json);
        assert_eq!(tested.json["ok"], false, "{kind}: {:?}", tested.json);
        ids.push(id);
    }
    // An audited change fires an event to both; give the dispatcher time to try.
    let made = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Hall"})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.json);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(log.lock().unwrap().is_empty(), "nothing reached 127.0.0.1");
    for id in ids {
        let changed = server
            .call(
                &admin,
                "PATCH",
                &format!("/api/v1/webhooks/{id}"),
                Some(json!({"kind": "printwarden"})),
            )
            .await;
        assert!(
            changed.status == 400 || changed.status == 422,
            "the kind is fixed: {:?}",
            changed.json
        );
    }
}
