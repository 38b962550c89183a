//! Webhooks (S7): every private target the SSRF guard must refuse, refused with a clear error
//! and nothing sent; signed deliveries that a receiver can verify; the event filter; the
//! write-only secret; the admin allow-list; and the `notifications:*` permissions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pw_app::outbound::Resolve;
use pw_credentials::signature::hmac_sha256;
use pw_testkit::{Auth, Options, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A name server for the server under test: fixed answers per name.
#[derive(Debug)]
pub(crate) struct Names(pub(crate) HashMap<&'static str, Vec<IpAddr>>);

impl Resolve for Names {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'static>>
    {
        let answer = self.0.get(host).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such name in this test")
        });
        Box::pin(async move { answer })
    }
}

/// The allow-listed LAN name receivers live under.
pub(crate) const LAN: &str = "lan-hook.test";

async fn server() -> TestServer {
    let names = Names(HashMap::from([
        (LAN, vec!["127.0.0.1".parse().unwrap()]),
        // Rebinding: a public answer next to a loopback one.
        (
            "rebind.example",
            vec![
                "93.184.216.34".parse().unwrap(),
                "127.0.0.1".parse().unwrap(),
            ],
        ),
    ]));
    TestServer::spawn_with(Options {
        resolver: Some(Arc::new(names)),
        ..Options::default()
    })
    .await
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

/// A tiny HTTP/1.1 receiver on 127.0.0.1 answering every request with `response`.
pub(crate) async fn receiver(response: String) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (log, response) = (Arc::clone(&log), response.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                    .collect();
                log.lock().unwrap().push(Received {
                    headers,
                    body: buf[head_end..head_end + length].to_vec(),
                });
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, got)
}

pub(crate) fn ok_response() -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_owned()
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

pub(crate) async fn allow_lan(server: &TestServer, admin: &Auth) {
    let put = server
        .call(
            admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": [LAN]})),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.json);
}

pub(crate) async fn create_hook(server: &TestServer, admin: &Auth, body: Value) -> i64 {
    let created = server
        .call(admin, "POST", "/api/v1/webhooks", Some(body))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    created.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn webhooks_to_private_addresses_are_refused_before_anything_is_stored() {
    let server = server().await;
    let admin = server.setup_admin().await;
    for (url, says) in [
        ("http://127.0.0.1/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.0.0.8:8123/", "private"),
        ("file:///etc/passwd", "only http"),
        ("http://user:pw@example.com/", "user name"),
    ] {
        let refused = server
            .call(
                &admin,
                "POST",
                "/api/v1/webhooks",
                Some(json!({"name": "x", "url": url, "events": ["*"]})),
            )
            .await;
        assert_eq!(refused.status, 400, "{url}: {:?}", refused.json);
        assert_eq!(refused.json["error"]["code"], "url_not_allowed", "{url}");
        assert!(
            refused.message().contains(says),
            "{url}: {}",
            refused.message()
        );
    }
    let list = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(list.json["items"], json!([]));
}

#[tokio::test]
async fn redirects_into_private_space_and_rebinding_names_are_refused_on_test() {
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let (inner, inner_log) = receiver(ok_response()).await;

    // The allow-listed LAN receiver redirects to addresses that are not allowed.
    for target in [
        format!("http://127.0.0.1:{inner}/"),
        "http://169.254.169.254/".to_owned(),
    ] {
        let (outer, outer_log) = receiver(redirect_to(&target)).await;
        let id = create_hook(
            &server,
            &admin,
            json!({"name": "redirects", "url": format!("http://{LAN}:{outer}/hook"), "events": ["auth.logout"]}),
        )
        .await;
        let test = server
            .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
            .await;
        assert_eq!(test.status, 400, "{target}: {:?}", test.json);
        assert_eq!(test.json["error"]["code"], "url_not_allowed");
        assert_eq!(
            outer_log.lock().unwrap().len(),
            1,
            "the first hop was asked"
        );
    }
    assert!(
        inner_log.lock().unwrap().is_empty(),
        "the redirect target got nothing"
    );

    // A name with a public and a loopback answer is refused before any connection, and the
    // answer does not say what the name resolved to.
    let id = create_hook(
        &server,
        &admin,
        json!({"name": "rebind", "url": "http://rebind.example/", "events": ["auth.logout"]}),
    )
    .await;
    let test = server
        .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(test.status, 200, "{:?}", test.json);
    assert_eq!(test.json["ok"], false, "{:?}", test.json);
    assert!(
        !test.json.to_string().contains("127.0.0.1"),
        "{:?}",
        test.json
    );

    // Without the allow-list the LAN name itself is refused.
    let put = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": []})),
        )
        .await;
    assert_eq!(put.status, 200);
    let (port, log) = receiver(ok_response()).await;
    let id = create_hook(
        &server,
        &admin,
        json!({"name": "lan", "url": format!("http://{LAN}:{port}/"), "events": ["auth.logout"]}),
    )
    .await;
    let test = server
        .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(test.json["ok"], false, "{:?}", test.json);
    assert!(log.lock().unwrap().is_empty());
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=settings.outbound", None)
        .await;
    assert_eq!(audit.json["items"].as_array().unwrap().len(), 2);
}

/// Audit finding 15: the test button told a name that does not resolve from one that resolves
/// into private space ("resolves to 10.x.y.z"), and a closed port from a silent one, so
/// `notifications:update` mapped the internal network. Every way of not reaching a receiver
/// now reads the same, with the host as written and nothing the name server said.
#[tokio::test]
async fn the_test_button_does_not_map_internal_names_or_ports() {
    let server = server().await;
    let admin = server.setup_admin().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let test = |url: String| {
        let (server, admin) = (&server, &admin);
        async move {
            let id = create_hook(
                server,
                admin,
                json!({"name": "probe", "url": url, "events": ["auth.logout"]}),
            )
            .await;
            server
                .call(admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
                .await
        }
    };
    let mut answers = Vec::new();
    for url in [
        // Resolves to loopback (not allow-listed), and to public + loopback.
        format!("http://{LAN}:{closed}/"),
        format!("http://rebind.example:{closed}/"),
        // Does not resolve.
        format!("http://no-such-name.example:{closed}/"),
    ] {
        let a = test(url.clone()).await;
        assert_eq!(a.status, 200, "{url}: {:?}", a.json);
        assert_eq!(a.json["ok"], false, "{url}");
        let error = a.json["error"].as_str().unwrap().to_owned();
        for leak in [
            "127.0.0.1",
            "93.184.216.34",
            "resolve",
            "loopback",
            "no such name",
        ] {
            assert!(!error.contains(leak), "{url}: {error}");
        }
        let host = url.split("://").nth(1).unwrap().split(':').next().unwrap();
        answers.push(error.replace(host, "HOST"));
    }
    // Allow-listed, but the port is closed: the connection is refused.
    allow_lan(&server, &admin).await;
    let refused = test(format!("http://{LAN}:{closed}/")).await;
    assert_eq!(refused.json["ok"], false, "{:?}", refused.json);
    answers.push(refused.json["error"].as_str().unwrap().replace(LAN, "HOST"));
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "one answer for every failure: {answers:#?}"
    );
    // The probe is live: an allow-listed receiver that answers is reached.
    let (port, log) = receiver(ok_response()).await;
    let ok = test(format!("http://{LAN}:{port}/")).await;
    assert_eq!(ok.json, json!({"ok": true, "status": 200}));
    assert_eq!(log.lock().unwrap().len(), 1);
    // The audit log and the stored outcome carry no resolved address either.
    let list = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    assert!(!list.json.to_string().contains("93.184.216.34"));
}

/// Audit finding 15: a new URL kept the signing secret, so an editor could have the old
/// receiver's secret sign deliveries to their own.
#[tokio::test]
async fn a_signed_webhook_gets_a_new_url_only_with_a_new_secret() {
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let (old_port, old_log) = receiver(ok_response()).await;
    let (new_port, new_log) = receiver(ok_response()).await;
    let secret = "the old receiver's secret";
    let id = create_hook(
        &server,
        &admin,
        json!({"name": "signed", "url": format!("http://{LAN}:{old_port}/in"),
               "secret": secret, "events": ["auth.logout"]}),
    )
    .await;
    let path = format!("/api/v1/webhooks/{id}");
    let new_url = format!("http://{LAN}:{new_port}/in");

    for body in [
        json!({"url": new_url}),
        json!({"url": new_url, "secret": ""}),
    ] {
        let moved = server.call(&admin, "PATCH", &path, Some(body)).await;
        assert_eq!(moved.status, 400, "{:?}", moved.json);
        assert!(moved.message().contains("secret"), "{}", moved.message());
    }
    // Nothing changed: the test still goes to the old receiver, with the old secret.
    let test = server
        .call(&admin, "POST", &format!("{path}/test"), None)
        .await;
    assert_eq!(test.json["ok"], true, "{:?}", test.json);
    verify(&wait_for(&old_log, 1).await[0], secret);
    assert!(new_log.lock().unwrap().is_empty());

    // The check is live: the same URL (unchanged) needs nothing, a new one with a secret works.
    let same = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"url": format!("http://{LAN}:{old_port}/in"), "name": "renamed"})),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.json);
    let fresh = "the new receiver's own secret";
    let moved = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"url": new_url, "secret": fresh})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.json);
    server
        .call(&admin, "POST", &format!("{path}/test"), None)
        .await;
    let got = wait_for(&new_log, 1).await;
    verify(&got[0], fresh);
    // Or unsigned, explicitly.
    let unsigned = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"url": format!("http://{LAN}:{old_port}/other"), "remove_secret": true})),
        )
        .await;
    assert_eq!(unsigned.status, 200, "{:?}", unsigned.json);
    assert_eq!(unsigned.json["has_secret"], false);
}

pub(crate) fn verify(received: &Received, secret: &str) {
    let ts = &received.headers["x-printwarden-timestamp"];
    let mut message = format!("{ts}.").into_bytes();
    message.extend_from_slice(&received.body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &message))
    );
    assert_eq!(received.headers["x-printwarden-signature"], expected);
}

async fn wait_for(log: &Mutex<Vec<Received>>, n: usize) -> Vec<Received> {
    for _ in 0..100 {
        if log.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn deliveries_are_signed_filtered_and_keep_the_secret_write_only() {
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let (port, log) = receiver(ok_response()).await;
    let secret = "webhook signing secret 5150";
    let id = create_hook(
        &server,
        &admin,
        json!({"name": "farm chat", "url": format!("http://{LAN}:{port}/in"),
               "secret": secret, "events": ["auth.login"]}),
    )
    .await;

    let test = server
        .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(test.status, 200, "{:?}", test.json);
    assert_eq!(test.json, json!({"ok": true, "status": 200}));
    let got = wait_for(&log, 1).await;
    assert_eq!(got[0].headers["x-printwarden-event"], "webhook.test");
    verify(&got[0], secret);

    // A filtered-out event (users.create) is not delivered; a selected one (auth.login) is.
    server.create_user(&admin, "casey", &[]).await;
    server.login("casey", pw_testkit::TEST_PASSWORD).await;
    let got = wait_for(&log, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].headers["x-printwarden-event"], "auth.login");
    verify(&got[1], secret);
    let payload: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(payload["event"], "auth.login");
    assert_eq!(payload["actor"], "casey");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log.lock().unwrap().len(), 2, "nothing else was delivered");

    // The secret is write-only: not in any answer, kept when sent empty, removable.
    let list = server.call(&admin, "GET", "/api/v1/webhooks", None).await;
    let text = list.json.to_string();
    assert!(!text.contains(secret));
    assert_eq!(list.json["items"][0]["has_secret"], true);
    assert_eq!(list.json["items"][0]["last_delivery"]["ok"], true);
    let path = format!("/api/v1/webhooks/{id}");
    let kept = server
        .call(
            &admin,
            "PATCH",
            &path,
            Some(json!({"secret": "", "name": "renamed"})),
        )
        .await;
    assert_eq!(kept.status, 200, "{:?}", kept.json);
    assert_eq!(
        (kept.json["has_secret"].clone(), kept.json["name"].clone()),
        (json!(true), json!("renamed"))
    );
    server
        .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    verify(&wait_for(&log, 3).await[2], secret);
    let removed = server
        .call(&admin, "PATCH", &path, Some(json!({"remove_secret": true})))
        .await;
    assert_eq!(removed.json["has_secret"], false);
    server
        .call(&admin, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    let got = wait_for(&log, 4).await;
    assert!(!got[3].headers.contains_key("x-printwarden-signature"));

    // At rest the secret is sealed, never the plaintext.
    let db = server.running().app.store().list_webhooks().await.unwrap();
    assert!(db.iter().all(|w| w.secret.is_none()));
    let id2 = create_hook(
        &server,
        &admin,
        json!({"name": "sealed", "url": format!("http://{LAN}:{port}/"), "secret": secret, "events": ["*"]}),
    )
    .await;
    let row = server
        .running()
        .app
        .store()
        .webhook(pw_domain::WebhookId::from_db(id2))
        .await
        .unwrap()
        .unwrap();
    let stored = row.secret.unwrap();
    assert!(pw_credentials::seal::is_sealed(&stored), "{stored}");
    assert!(!stored.contains(secret));

    let deleted = server.call(&admin, "DELETE", &path, None).await;
    assert_eq!(deleted.status, 204);
    let gone = server
        .call(&admin, "POST", &format!("{path}/test"), None)
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn notification_permissions_gate_every_webhook_route() {
    let server = server().await;
    let admin = server.setup_admin().await;
    let readers = server
        .create_group(&admin, "Hook readers", &["notifications:read"])
        .await;
    server.create_user(&admin, "reader", &[readers]).await;
    server.create_user(&admin, "nobody", &[]).await;
    let reader = server.login("reader", pw_testkit::TEST_PASSWORD).await;
    let nobody = server.login("nobody", pw_testkit::TEST_PASSWORD).await;
    let body = json!({"name": "x", "url": "https://hooks.example.com/", "events": ["*"]});
    let id = create_hook(&server, &admin, body.clone()).await;

    assert_eq!(
        server
            .call(&nobody, "GET", "/api/v1/webhooks", None)
            .await
            .status,
        403
    );
    let seen = server.call(&reader, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.json["items"][0]["url"], "https://hooks.example.com/");
    for (method, path, body) in [
        ("POST", "/api/v1/webhooks".to_owned(), Some(body)),
        (
            "PATCH",
            format!("/api/v1/webhooks/{id}"),
            Some(json!({"enabled": false})),
        ),
        ("POST", format!("/api/v1/webhooks/{id}/test"), None),
        ("DELETE", format!("/api/v1/webhooks/{id}"), None),
        (
            "PUT",
            "/api/v1/settings/outbound".to_owned(),
            Some(json!({"allowed_hosts": ["10.0.0.0/8"]})),
        ),
    ] {
        let denied = server.call(&reader, method, &path, body).await;
        assert_eq!(denied.status, 403, "{method} {path}");
    }
    let bad = server
        .call(
            &admin,
            "PUT",
            "/api/v1/settings/outbound",
            Some(json!({"allowed_hosts": ["not a host!"]})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "x", "url": "https://a.example/", "events": ["Bad Event"]})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("events"), "{}", bad.message());
}

#[tokio::test]
async fn a_sealed_secret_copied_to_another_webhook_does_not_open_there() {
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let (port, log) = receiver(ok_response()).await;
    let url = format!("http://{LAN}:{port}/");
    let victim = create_hook(
        &server,
        &admin,
        json!({"name": "victim", "url": url, "secret": "victim secret 1234", "events": ["auth.logout"]}),
    )
    .await;
    let attacker = create_hook(
        &server,
        &admin,
        json!({"name": "attacker", "url": url, "events": ["auth.logout"]}),
    )
    .await;
    // A database writer without the key copies the victim's sealed secret to their webhook.
    let store = server.running().app.store().clone();
    let sealed = store
        .webhook(pw_domain::WebhookId::from_db(victim))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    let patch = pw_store::WebhookPatch {
        secret: Some(Some(&sealed)),
        ..Default::default()
    };
    store
        .update_webhook(pw_domain::WebhookId::from_db(attacker), &patch, 0)
        .await
        .unwrap();
    let test = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/webhooks/{attacker}/test"),
            None,
        )
        .await;
    assert_eq!(test.status, 500, "{:?}", test.json);
    assert!(log.lock().unwrap().is_empty(), "nothing was signed with it");
    let ok = server
        .call(
            &admin,
            "POST",
            &format!("/api/v1/webhooks/{victim}/test"),
            None,
        )
        .await;
    assert_eq!(ok.json["ok"], true, "{:?}", ok.json);
}

/// Finding 7: a webhook's filter may only select what its creator may read (every delivered
/// event is an audit event: `audit:read`), and deliveries stop once the creator loses it.
#[tokio::test]
async fn webhooks_deliver_only_what_their_creator_may_read_now() {
    let server = server().await;
    let admin = server.setup_admin().await;
    allow_lan(&server, &admin).await;
    let (port, log) = receiver(ok_response()).await;
    let url = format!("http://{LAN}:{port}/in");

    // notifications:create without audit:read: no filter at all, `*` least of all.
    let creators = server
        .create_group(&admin, "Hook makers", &["notifications:create"])
        .await;
    server.create_user(&admin, "maker", &[creators]).await;
    let maker = server.login("maker", pw_testkit::TEST_PASSWORD).await;
    for events in [json!(["*"]), json!(["auth."]), json!(["auth.login"])] {
        let refused = server
            .call(
                &maker,
                "POST",
                "/api/v1/webhooks",
                Some(json!({"name": "leak", "url": url, "events": events})),
            )
            .await;
        assert_eq!(refused.status, 403, "{events}: {:?}", refused.json);
    }

    // With audit:read the same request works, and deliveries flow…
    let readers = server
        .create_group(
            &admin,
            "Hook readers",
            &["notifications:create", "audit:read"],
        )
        .await;
    server.create_user(&admin, "auditor", &[readers]).await;
    let auditor = server.login("auditor", pw_testkit::TEST_PASSWORD).await;
    create_hook(
        &server,
        &auditor,
        json!({"name": "logins", "url": url, "events": ["auth.login"]}),
    )
    .await;
    // Count casey's sign-ins only: the auditor's own sign-in may reach the dispatcher after
    // the webhook exists.
    let caseys = |log: &Mutex<Vec<Received>>| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["actor"] == "casey")
            .count()
    };
    server.create_user(&admin, "casey", &[]).await;
    server.login("casey", pw_testkit::TEST_PASSWORD).await;
    for _ in 0..100 {
        if caseys(&log) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(caseys(&log), 1);

    // …until the creator loses audit:read: then nothing more is delivered.
    let changed = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/groups/{readers}"),
            Some(json!({"permissions": ["notifications:create"]})),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.json);
    server.login("casey", pw_testkit::TEST_PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(caseys(&log), 1, "delivered after the right was lost");
}
