//! The live events WebSocket (S10): a snapshot and then changes, only for printers the caller
//! may read; session cookie or a single-use `events` ticket; Origin required; closed with 4001
//! when the caller's session is revoked.

use std::time::Duration;

use futures_util::StreamExt;
use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::{Socket, ws as connect};

/// The HTTP status of a refused upgrade (`None` when it failed otherwise).
fn status_of(e: &WsError) -> Option<u16> {
    match e {
        WsError::Http(r) => Some(r.status().as_u16()),
        _ => None,
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

fn cookie(auth: &Auth) -> Option<&str> {
    match auth {
        Auth::Cookie(c) => Some(c),
        _ => None,
    }
}

#[tokio::test]
async fn events_follow_only_the_printers_in_scope_and_end_on_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(2, dir.path());
    options.models = vec![Model::P1S, Model::A1];
    options.interval = Duration::from_millis(100);
    let farm = Farm::start(options).await.unwrap();
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let hall = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Hall"})),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let mut ids = Vec::new();
    for (p, location) in farm.printers.iter().zip([Some(hall), None]) {
        let r = server
            .call(
                &admin,
                "POST",
                "/api/v1/printers",
                Some(
                    json!({"name": p.info.serial, "serial": p.info.serial, "host": p.info.host,
                            "mqtt_port": p.info.mqtt_port, "access_code": p.info.access_code,
                            "location_id": location}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        ids.push(r.json["id"].as_i64().unwrap());
    }
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Hall crew", "permissions": ["printers:read"], "scope": {"locations": [hall]}})),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    server.create_user(&admin, "hana", &[group]).await;
    let hana = server.login("hana", TEST_PASSWORD).await;

    let mut socket = connect(&server, "/api/v1/events", cookie(&hana), true)
        .await
        .unwrap();
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot");
    let seen: Vec<i64> = snapshot["printers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, [ids[0]]);
    // The printer outside the scope is busy printing (a report every 100 ms); for two seconds
    // only the one in scope shows up, and it goes online.
    farm.printers[1].start_print("busy.gcode.3mf");
    // Online may already show in the snapshot (the printer connected first) or come as an
    // event; watch at least two seconds, and up to ten until it is online.
    let mut online = snapshot["printers"][0]["connection"] == "online";
    let start = tokio::time::Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_secs(10) || (online && elapsed >= Duration::from_secs(2)) {
            break;
        }
        let until = start
            + if online {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(10)
            };
        let Ok(Some(msg)) = tokio::time::timeout_at(until, socket.next()).await else {
            continue;
        };
        let Ok(Message::Text(text)) = msg else {
            continue;
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["type"], "printer");
        assert_eq!(
            m["printer"]["id"], ids[0],
            "an out-of-scope printer leaked: {m}"
        );
        online |= m["printer"]["connection"] == "online";
    }
    assert!(online);

    // Revoking the session (hana signs out everywhere else — here: the admin resets her
    // password) closes the socket with 4001.
    let hana_id = server.call(&admin, "GET", "/api/v1/users", None).await.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "hana")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let reset = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{hana_id}"),
            Some(json!({"password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(reset.status, 200);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed.unwrap().code, CloseCode::Library(4001));
}

#[tokio::test]
async fn the_socket_needs_credentials_an_origin_and_takes_a_ticket_once() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let c = cookie(&admin).unwrap().to_owned();
    assert_eq!(
        status_of(
            &connect(&server, "/api/v1/events", None, true)
                .await
                .unwrap_err()
        ),
        Some(401)
    );
    assert_eq!(
        status_of(
            &connect(&server, "/api/v1/events", Some(&c), false)
                .await
                .unwrap_err()
        ),
        Some(403)
    );

    let issued = server
        .call(
            &admin,
            "POST",
            "/api/v1/tickets",
            Some(json!({"purpose": "events"})),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.json);
    let ticket = issued.json["ticket"].as_str().unwrap().to_owned();
    assert!(ticket.starts_with("pwt_"));
    let path = format!("/api/v1/events?ticket={ticket}");
    let mut socket = connect(&server, &path, None, true).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "snapshot");
    assert_eq!(
        status_of(&connect(&server, &path, None, true).await.unwrap_err()),
        Some(401),
        "used once"
    );
    // A ticket works only on the routes that take tickets.
    let other = server
        .call(
            &admin,
            "POST",
            "/api/v1/tickets",
            Some(json!({"purpose": "events"})),
        )
        .await
        .json["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let misuse = server
        .client
        .get(server.url(&format!("/api/v1/printers?ticket={other}")))
        .send()
        .await
        .unwrap();
    assert_eq!(misuse.status(), 401);
    let mut still = connect(
        &server,
        &format!("/api/v1/events?ticket={other}"),
        None,
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut still).await["type"],
        "snapshot",
        "not used up by the API call"
    );
    for bad in [json!({"purpose": "shell"}), json!({"purpose": "camera"})] {
        let r = server
            .call(&admin, "POST", "/api/v1/tickets", Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn a_printer_taken_out_of_scope_leaves_a_live_events_socket_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(2, dir.path());
    options.models = vec![Model::P1S, Model::A1];
    options.interval = Duration::from_millis(200);
    let farm = Farm::start(options).await.unwrap();
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut ids = Vec::new();
    for p in &farm.printers {
        let r = server
            .call(
                &admin,
                "POST",
                "/api/v1/printers",
                Some(
                    json!({"name": p.info.serial, "serial": p.info.serial, "host": p.info.host,
                            "mqtt_port": p.info.mqtt_port, "access_code": p.info.access_code}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        ids.push(r.json["id"].as_i64().unwrap());
    }
    // Both printers stand in the hall, which is what pia's group may see.
    let mut places = Vec::new();
    for name in ["Hall", "Annex"] {
        let r = server
            .call(
                &admin,
                "POST",
                "/api/v1/locations",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        places.push(r.json["id"].as_i64().unwrap());
    }
    let (hall, annex) = (places[0], places[1]);
    let move_to = |printer: i64, to: i64| {
        let admin = admin.clone();
        let server = &server;
        async move {
            server
                .call(
                    &admin,
                    "PATCH",
                    &format!("/api/v1/printers/{printer}"),
                    Some(json!({ "location_id": to })),
                )
                .await
                .status
        }
    };
    for id in &ids {
        assert_eq!(move_to(*id, hall).await, 200);
    }
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "Hall", "permissions": ["printers:read"],
                        "scope": {"locations": [hall]}})),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    let group = group.json["id"].as_i64().unwrap();
    server.create_user(&admin, "pia", &[group]).await;
    let pia = server.login("pia", TEST_PASSWORD).await;
    // Opened with an events ticket minted by pia's session.
    let issued = server
        .call(
            &pia,
            "POST",
            "/api/v1/tickets",
            Some(json!({"purpose": "events"})),
        )
        .await;
    assert_eq!(issued.status, 201, "{:?}", issued.json);
    let ticket = issued.json["ticket"].as_str().unwrap().to_owned();
    let mut socket = connect(
        &server,
        &format!("/api/v1/events?ticket={ticket}"),
        None,
        true,
    )
    .await
    .unwrap();
    let snapshot = next_json(&mut socket).await;
    let mut seen: Vec<i64> = snapshot["printers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ids, "both printers in scope at first");

    // The second printer moves to the annex: none of pia's rights changed (her session stays),
    // only where the printer stands.
    let narrowed = tokio::time::Instant::now();
    assert_eq!(move_to(ids[1], annex).await, 200);
    loop {
        let m = next_json(&mut socket).await;
        if m["type"] == "removed" {
            assert_eq!(m["id"], ids[1]);
            break;
        }
        assert!(
            narrowed.elapsed() < Duration::from_secs(1),
            "no removal within a second: {m}"
        );
    }
    assert!(narrowed.elapsed() < Duration::from_secs(1));
    // Afterwards only the printer still in scope is heard of, and the socket stays open.
    farm.printers[1].start_print("busy.gcode.3mf");
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(msg)) = tokio::time::timeout_at(until, socket.next()).await {
        let Ok(Message::Text(text)) = msg else {
            panic!("socket ended: {msg:?}");
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            m["printer"]["id"], ids[0],
            "the removed printer leaked: {m}"
        );
    }

    // Narrowing the group changes what pia may do, which ends her sessions: the socket the
    // session's ticket opened ends with them.
    let changed = tokio::time::Instant::now();
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{group}"),
            Some(json!({"scope": {"printers": [ids[0]]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await;
    assert_eq!(
        closed,
        Ok(Some(4001)),
        "the socket outlived its session by {:?}",
        changed.elapsed()
    );
}
