//! Printer cameras (S10, seed 000): one upstream per printer fanned out to viewers as MJPEG
//! and WebSocket; cookie, `?token=` (API key or session token), camera ticket, or first-message
//! auth; unauthenticated sockets closed; a revoked session's stream cut.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::Socket;

async fn ws(server: &TestServer, path: &str, cookie: Option<&str>) -> Socket {
    crate::support::ws(server, path, cookie, true)
        .await
        .unwrap()
}

/// The next message: a binary frame (`Ok`) or the close code (`Err`).
pub(crate) async fn next(socket: &mut Socket) -> Result<Vec<u8>, Option<CloseCode>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code)),
            Some(Ok(_)) => {}
            _ => return Err(None),
        }
    }
}

pub(crate) fn jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0])
}

/// Reads the MJPEG stream until two JPEG parts have arrived.
async fn two_mjpeg_frames(resp: reqwest::Response) -> usize {
    let mut resp = resp;
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            seen.extend_from_slice(&chunk);
            let parts = seen
                .windows(4)
                .filter(|w| *w == [0xFF, 0xD8, 0xFF, 0xE0])
                .count();
            if parts >= 2 {
                return parts;
            }
        }
        0
    })
    .await
    .unwrap()
}

pub(crate) struct Setup {
    pub(crate) server: TestServer,
    pub(crate) admin: Auth,
    pub(crate) id: i64,
    _farm: Farm,
    _dir: tempfile::TempDir,
}

/// One simulated A1 with a camera, added and online (also used by the grant tests).
pub(crate) async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(1, dir.path());
    options.models = vec![Model::A1];
    options.interval = Duration::from_millis(100);
    let farm = Farm::start(options).await.unwrap();
    let p = &farm.printers[0];
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": "cam", "serial": p.info.serial, "host": p.info.host,
                        "mqtt_port": p.info.mqtt_port, "camera_port": p.info.camera_port,
                        "access_code": p.info.access_code}),
            ),
        )
        .await;
    let id = created.json["id"].as_i64().unwrap();
    for _ in 0..200 {
        let v = server
            .call(&admin, "GET", &format!("/api/v1/printers/{id}"), None)
            .await;
        if v.json["connection"] == "online" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Setup {
        server,
        admin,
        id,
        _farm: farm,
        _dir: dir,
    }
}

fn cookie(a: &Auth) -> Option<&str> {
    match a {
        Auth::Cookie(c) => Some(c),
        _ => None,
    }
}

#[tokio::test]
async fn mjpeg_takes_a_cookie_a_token_or_a_camera_ticket_and_checks_camera_view() {
    // Keep the whole setup alive: dropping it stops the simulated printer.
    let setup = setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    let path = format!("/api/v1/printers/{id}/camera/stream");

    let resp = server
        .client
        .get(server.url(&path))
        .header("cookie", cookie(&admin).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/x-mixed-replace")
    );
    assert!(two_mjpeg_frames(resp).await >= 2);

    // An API key or the session token in ?token= (for players that cannot send headers).
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "frigate", "scopes": ["camera:view", "printers:read"]})),
        )
        .await
        .json["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_token = cookie(&admin)
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    for token in [&key, &session_token] {
        let resp = server.get(&format!("{path}?token={token}")).await;
        assert_eq!(resp.status(), 200);
        assert!(two_mjpeg_frames(resp).await >= 2);
    }
    // A camera ticket works once; an events ticket does not work here.
    let ticket = server
        .call(
            &admin,
            "POST",
            "/api/v1/tickets",
            Some(json!({"purpose": "camera", "printer_id": id})),
        )
        .await
        .json["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = server.get(&format!("{path}?ticket={ticket}")).await;
    assert_eq!(resp.status(), 200);
    drop(resp);
    assert_eq!(
        server
            .get(&format!("{path}?ticket={ticket}"))
            .await
            .status(),
        401
    );
    let events = server
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
    assert_eq!(
        server
            .get(&format!("{path}?ticket={events}"))
            .await
            .status(),
        401
    );
    assert_eq!(server.get(&path).await.status(), 401);
    assert_eq!(
        server.get(&format!("{path}?token=junk")).await.status(),
        401
    );

    // printers:read without camera:view → 403; no printer rights at all → 404.
    let readers = server
        .create_group(&admin, "No camera", &["printers:read"])
        .await;
    server.create_user(&admin, "nocam", &[readers]).await;
    let nocam = server.login("nocam", TEST_PASSWORD).await;
    let r = server
        .client
        .get(server.url(&path))
        .header("cookie", cookie(&nocam).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    server.create_user(&admin, "nobody", &[]).await;
    let nobody = server.login("nobody", TEST_PASSWORD).await;
    let r = server
        .client
        .get(server.url(&path))
        .header("cookie", cookie(&nobody).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_socket_closes_without_credentials_accepts_first_message_auth_and_cuts_a_revoked_session()
 {
    // Keep the whole setup alive: dropping it stops the simulated printer.
    let setup = setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    let path = format!("/api/v1/printers/{id}/camera/ws");

    // No credentials and a useless first message: closed at once, no frame sent.
    let mut s = ws(server, &path, None).await;
    s.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(next(&mut s).await, Err(Some(CloseCode::Library(4401))));
    // Silence: closed after 5 s.
    let mut silent = ws(server, &path, None).await;
    assert_eq!(next(&mut silent).await, Err(Some(CloseCode::Library(4401))));

    // First-message auth with the session token.
    server
        .create_user(&admin, "wendy", &[server.group_id(&admin, "Viewers").await])
        .await;
    let wendy = server.login("wendy", TEST_PASSWORD).await;
    let token = cookie(&wendy)
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut s = ws(server, &path, None).await;
    s.send(Message::Text(json!({"token": token}).to_string().into()))
        .await
        .unwrap();
    let a = next(&mut s).await.unwrap();
    let b = next(&mut s).await.unwrap();
    assert!(jpeg(&a) && jpeg(&b) && a != b);

    // A second viewer with the cookie shares the same upstream.
    let mut other = ws(server, &path, cookie(&wendy)).await;
    assert!(jpeg(&next(&mut other).await.unwrap()));

    // Revoking wendy's session (an admin sets her password) cuts both streams.
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let wendy_id = users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wendy")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/users/{wendy_id}"),
            Some(json!({"password": "a new passphrase here"})),
        )
        .await;
    assert_eq!(r.status, 200);
    for socket in [&mut s, &mut other] {
        let end = loop {
            match next(socket).await {
                Ok(_) => {}
                Err(code) => break code,
            }
        };
        assert_eq!(end, Some(CloseCode::Library(4001)));
    }
}

#[tokio::test]
async fn camera_tokens_open_camera_streams_only_within_their_printers_until_revoked() {
    let setup = setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    // A second printer nobody can reach: only its camera route's answer matters here.
    let other = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": "away", "serial": "01P00A000000999", "host": "127.0.0.1",
                        "mqtt_port": 1, "camera_port": 1, "access_code": "12345678"}),
            ),
        )
        .await;
    let other = other.json["id"].as_i64().unwrap();

    for bad in [
        json!({"name": "k", "days": 0}),
        json!({"name": "k", "days": 366}),
        json!({"name": "", "days": 30}),
        json!({"name": "k", "days": 30, "printer_ids": []}),
        json!({"name": "k", "days": 30, "printer_ids": [987_654]}),
    ] {
        let got = server
            .call(&admin, "POST", "/api/v1/camera-tokens", Some(bad.clone()))
            .await;
        assert_eq!(got.status, 400, "{bad}: {:?}", got.json);
    }
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/camera-tokens",
            Some(json!({"name": "Lobby kiosk", "days": 30, "printer_ids": [id]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let token = created.json["token"].as_str().unwrap().to_owned();
    let token_id = created.json["id"].as_i64().unwrap();
    assert!(token.starts_with(&format!("pwc_{token_id}_")), "{token}");
    assert!(created.json["expires_at"].as_str().is_some());

    let stream = |path: String| {
        let url = server.url(&path);
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let resp = stream(format!("/api/v1/printers/{id}/camera/stream?token={token}")).await;
    assert_eq!(resp.status(), 200);
    assert!(two_mjpeg_frames(resp).await >= 2);
    let mut socket = ws(
        server,
        &format!("/api/v1/printers/{id}/camera/ws?token={token}"),
        None,
    )
    .await;
    assert!(jpeg(&next(&mut socket).await.unwrap()));
    drop(socket);
    // Outside its printer list: the printer does not exist for the token.
    let resp = stream(format!(
        "/api/v1/printers/{other}/camera/stream?token={token}"
    ))
    .await;
    assert_eq!(resp.status(), 404);

    // Camera routes only: as a Bearer key, as ?token= elsewhere, or re-prefixed as an API key.
    let key = Auth::Key(token.clone());
    for path in [
        "/api/v1/printers",
        "/api/v1/auth/me",
        "/api/v1/camera-tokens",
    ] {
        assert_eq!(
            server.call(&key, "GET", path, None).await.status,
            401,
            "{path}"
        );
    }
    let renamed = token.replacen("pwc_", "pwk_", 1);
    assert_eq!(
        server
            .call(&Auth::Key(renamed.clone()), "GET", "/api/v1/printers", None)
            .await
            .status,
        401
    );
    let resp = stream(format!(
        "/api/v1/printers/{id}/camera/stream?token={renamed}"
    ))
    .await;
    assert_eq!(resp.status(), 401);

    // Listed for the owner without the secret; not an API key.
    let list = server
        .call(&admin, "GET", "/api/v1/camera-tokens", None)
        .await;
    assert_eq!(list.json["items"][0]["prefix"], format!("pwc_{token_id}_"));
    assert_eq!(list.json["items"][0]["printer_ids"], json!([id]));
    assert!(!list.json.to_string().contains(&token));
    let keys = server.call(&admin, "GET", "/api/v1/api-keys", None).await;
    assert_eq!(keys.json["items"], json!([]));
    let path = format!("/api/v1/api-keys/{token_id}");
    assert_eq!(server.call(&admin, "DELETE", &path, None).await.status, 404);

    // Viewers watch cameras but may not mint tokens.
    let viewers = server
        .call(&admin, "GET", "/api/v1/groups", None)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Viewers")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    server.create_user(&admin, "kim", &[viewers]).await;
    let kim = server.login("kim", TEST_PASSWORD).await;
    let got = server
        .call(
            &kim,
            "POST",
            "/api/v1/camera-tokens",
            Some(json!({"name": "k", "days": 1})),
        )
        .await;
    assert_eq!(got.status, 403);

    let path = format!("/api/v1/camera-tokens/{token_id}");
    assert_eq!(
        server.call(&kim, "DELETE", &path, None).await.status,
        404,
        "not theirs"
    );
    assert_eq!(server.call(&admin, "DELETE", &path, None).await.status, 204);
    let resp = stream(format!("/api/v1/printers/{id}/camera/stream?token={token}")).await;
    assert_eq!(resp.status(), 401, "a revoked token opens nothing");
}

/// Reads frames until the socket closes; returns the close code and how long after `since` it
/// came. Panics if it is still streaming 5 s later.
async fn closed_after(
    socket: &mut Socket,
    since: tokio::time::Instant,
) -> (Option<CloseCode>, Duration) {
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Err(code) = next(socket).await {
                return code;
            }
        }
    })
    .await
    .expect("the stream to end after the revocation");
    (code, since.elapsed())
}

#[tokio::test]
async fn live_camera_streams_end_within_a_second_of_every_kind_of_revocation() {
    let setup = setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    let path = format!("/api/v1/printers/{id}/camera/ws");
    let within = Duration::from_secs(1);

    // 1. A camera token, revoked.
    let created = server
        .call(
            &admin,
            "POST",
            "/api/v1/camera-tokens",
            Some(json!({"name": "kiosk", "days": 1, "printer_ids": [id]})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let token = created.json["token"].as_str().unwrap().to_owned();
    let mut s = ws(server, &format!("{path}?token={token}"), None).await;
    assert!(jpeg(&next(&mut s).await.unwrap()));
    let resp = server
        .client
        .get(server.url(&format!(
            "/api/v1/printers/{id}/camera/stream?token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut mjpeg = resp;
    assert!(mjpeg.chunk().await.unwrap().is_some());
    let revoked = tokio::time::Instant::now();
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/camera-tokens/{}", created.json["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let (code, took) = closed_after(&mut s, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(took < within, "camera token revoke took {took:?}");
    // The MJPEG stream of the same token ends too.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = mjpeg.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the MJPEG stream kept flowing");

    // 2. An API key, revoked.
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "nvr", "scopes": ["printers:read", "camera:view"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let secret = key.json["key"].as_str().unwrap().to_owned();
    let mut s = ws(server, &format!("{path}?token={secret}"), None).await;
    assert!(jpeg(&next(&mut s).await.unwrap()));
    let revoked = tokio::time::Instant::now();
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/api-keys/{}", key.json["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let (code, took) = closed_after(&mut s, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(took < within, "API key revoke took {took:?}");

    // 3. A session of a location-scoped viewer; the printer moves out of the location. No
    // right of the viewer changed: only the printer's place did.
    let location = |name: &str| {
        let body = json!({ "name": name });
        let admin = admin.clone();
        async move {
            server
                .call(&admin, "POST", "/api/v1/locations", Some(body))
                .await
                .json["id"]
                .as_i64()
                .unwrap()
        }
    };
    let hall = location("Hall").await;
    let annex = location("Annex").await;
    let moved = |to: i64| {
        let admin = admin.clone();
        async move {
            server
                .call(
                    &admin,
                    "PATCH",
                    &format!("/api/v1/printers/{id}"),
                    Some(json!({ "location_id": to })),
                )
                .await
                .status
        }
    };
    assert_eq!(moved(hall).await, 200);
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall watch", "permissions": ["printers:read", "camera:view"],
                        "scope": {"locations": [hall]}}),
            ),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    let group = group.json["id"].as_i64().unwrap();
    server.create_user(&admin, "hal", &[group]).await;
    let hal = server.login("hal", TEST_PASSWORD).await;
    let mut s = ws(server, &path, cookie(&hal)).await;
    assert!(jpeg(&next(&mut s).await.unwrap()));
    let revoked = tokio::time::Instant::now();
    assert_eq!(moved(annex).await, 200);
    let (code, took) = closed_after(&mut s, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(took < within, "printer move took {took:?}");

    // 4. The group's scope loses the printer (back in the hall, the group moves to the annex).
    assert_eq!(moved(hall).await, 200);
    let hal = server.login("hal", TEST_PASSWORD).await;
    let mut s = ws(server, &path, cookie(&hal)).await;
    assert!(jpeg(&next(&mut s).await.unwrap()));
    let revoked = tokio::time::Instant::now();
    let r = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{group}"),
            Some(json!({"scope": {"locations": [annex]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let (code, took) = closed_after(&mut s, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(took < within, "scope change took {took:?}");

    // 5. The printer is deleted while the administrator watches.
    let mut s = ws(server, &path, cookie(&admin)).await;
    assert!(jpeg(&next(&mut s).await.unwrap()));
    let revoked = tokio::time::Instant::now();
    let r = server
        .call(&admin, "DELETE", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    let (code, took) = closed_after(&mut s, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(took < within, "printer delete took {took:?}");
}

/// A ticket rides on the credential that minted it: the camera socket it opened ends within a
/// second of that API key's revocation, or of the minting session's sign-out, although the
/// ticket itself was used up long before (finding 8 with finding 3's ticket bounds).
#[tokio::test]
async fn streams_opened_with_a_ticket_end_with_the_key_or_session_that_minted_it() {
    let setup = setup().await;
    let (server, admin, id) = (&setup.server, setup.admin.clone(), setup.id);
    let within = Duration::from_secs(1);
    let mint = |auth: Auth| async move {
        let t = server
            .call(
                &auth,
                "POST",
                "/api/v1/tickets",
                Some(json!({"purpose": "camera", "printer_id": id})),
            )
            .await;
        assert_eq!(t.status, 201, "{:?}", t.json);
        t.json["ticket"].as_str().unwrap().to_owned()
    };
    let open = |ticket: String| async move {
        let mut s = ws(
            server,
            &format!("/api/v1/printers/{id}/camera/ws?ticket={ticket}"),
            None,
        )
        .await;
        assert!(jpeg(&next(&mut s).await.unwrap()));
        s
    };

    // Minted by an API key; the key is revoked.
    let key = server
        .call(
            &admin,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "wall", "scopes": ["printers:read", "camera:view"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let secret = key.json["key"].as_str().unwrap().to_owned();
    let mut by_key = open(mint(Auth::Key(secret)).await).await;
    // A second stream from the admin's own session keeps flowing: the check is per credential.
    let mut by_session = open(mint(admin.clone()).await).await;
    let revoked = tokio::time::Instant::now();
    let r = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/api-keys/{}", key.json["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let (code, took) = closed_after(&mut by_key, revoked).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(
        took < within,
        "the key's ticket stream ended after {took:?}"
    );
    assert!(
        jpeg(&next(&mut by_session).await.unwrap()),
        "a stream of another credential ended with the key"
    );

    // Minted by a session; that session signs out.
    let signed_out = tokio::time::Instant::now();
    let r = server
        .call(&admin, "POST", "/api/v1/auth/logout", None)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.json);
    let (code, took) = closed_after(&mut by_session, signed_out).await;
    assert_eq!(code, Some(CloseCode::Library(4001)));
    assert!(
        took < within,
        "the session's ticket stream ended after {took:?}"
    );
}
