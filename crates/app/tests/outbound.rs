//! The SSRF guard's client against real sockets: a name server that rebinds, redirects into
//! private space, and an allow-listed LAN host that does get its request.
#![expect(clippy::unwrap_used, reason = "test helpers fail fast with the cause")]

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pw_app::outbound::{AllowList, Guard, MAX_BODY, Refusal, Resolve, read_capped, refusal_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A name server that answers each lookup with the next prepared answer.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    lookups: AtomicUsize,
}

impl Scripted {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(
                answers
                    .iter()
                    .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect(),
            ),
            lookups: AtomicUsize::new(0),
        })
    }
}

impl Resolve for Scripted {
    fn lookup(
        &self,
        _host: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'static>>
    {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or_default();
        Box::pin(async move { Ok(answer) })
    }
}

/// A tiny HTTP server on 127.0.0.1 that answers every request with `response` and counts
/// connections.
async fn serve(response: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

fn ok_response() -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_owned()
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

/// One GET through a fresh client of `guard`.
async fn fetch(guard: &Guard, url: String) -> reqwest::Result<reqwest::Response> {
    guard.client().unwrap().get(url).send().await
}

fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::test]
async fn a_name_with_any_private_answer_is_refused_and_nothing_is_contacted() {
    install_tls_provider();
    let (port, hits) = serve(ok_response()).await;
    let resolver = Scripted::new(&[&["93.184.216.34", "127.0.0.1"]]);
    let guard = Guard::new(resolver.clone(), AllowList::default());
    let err = fetch(&guard, format!("http://rebind.test:{port}/"))
        .await
        .unwrap_err();
    let refusal = refusal_of(&err).unwrap();
    assert!(
        matches!(refusal, Refusal::Blocked { how: "resolves to", ip, .. } if ip.is_loopback()),
        "{refusal:?}"
    );
    // Shown, it reads like any unreachable host; the answer is for the log only.
    assert_eq!(
        refusal.to_string(),
        pw_app::outbound::unreachable("rebind.test")
    );
    assert!(!refusal.to_string().contains("127.0.0.1"));
    assert!(format!("{refusal:?}").contains("127.0.0.1"));
    assert!(refusal.is_from_dns());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_rebinding_name_server_gets_one_question_per_connection() {
    install_tls_provider();
    let (port, hits) = serve(ok_response()).await;
    // Public for the check, loopback for a second lookup that a naive client would make.
    let resolver = Scripted::new(&[&["192.88.98.1"], &["127.0.0.1"]]);
    let guard = Guard::new(resolver.clone(), AllowList::default());
    let client = guard.client().unwrap();
    // The public address is unreachable here; give the attempt a moment, then look.
    let attempt = tokio::time::timeout(
        Duration::from_secs(2),
        client.get(format!("http://rebind.test:{port}/")).send(),
    )
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(_))),
        "nothing answers on the public address"
    );
    assert_eq!(
        resolver.lookups.load(Ordering::SeqCst),
        1,
        "one lookup, one connection"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the loopback server was never reached"
    );
    // The next connection asks again and gets the loopback answer: refused, not connected.
    let err = client
        .get(format!("http://rebind.test:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(refusal_of(&err), Some(Refusal::Blocked { .. })),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirects_into_private_space_are_refused_at_every_hop() {
    install_tls_provider();
    for location in [
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:7f00:1]/".to_owned(),
        "http://2130706433/".to_owned(),
        "http://inner.test/".to_owned(),
    ] {
        let (port, _) = serve(redirect_to(&location)).await;
        // The first hop is an allow-listed LAN host (by name); where it sends us is not.
        let resolver = Scripted::new(&[&["127.0.0.1"], &["192.168.7.7"]]);
        let guard = Guard::new(resolver, AllowList::new(&["lan-hook.test"]));
        let err = fetch(&guard, format!("http://lan-hook.test:{port}/hook"))
            .await
            .unwrap_err();
        assert!(
            matches!(refusal_of(&err), Some(Refusal::Blocked { .. })),
            "{location}: {err:?}"
        );
    }
    // A redirect off http(s) is not followed at all.
    let (port, _) = serve(redirect_to("file:///etc/passwd")).await;
    let guard = Guard::new(
        Scripted::new(&[&["127.0.0.1"]]),
        AllowList::new(&["lan-hook.test"]),
    );
    let resp = fetch(&guard, format!("http://lan-hook.test:{port}/hook")).await;
    assert!(
        matches!(&resp, Ok(r) if r.status() == 302)
            || resp.as_ref().is_err_and(|e| refusal_of(e).is_some()),
        "{resp:?}"
    );
}

#[tokio::test]
async fn an_allow_listed_lan_host_is_reached() {
    install_tls_provider();
    let (port, hits) = serve(ok_response()).await;
    let resolver = Scripted::new(&[&["127.0.0.1"]]);
    let guard = Guard::new(resolver, AllowList::new(&["printers.lan"]));
    let resp = fetch(&guard, format!("http://printers.lan:{port}/"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The same address under a name that is not on the list stays closed.
    let resolver = Scripted::new(&[&["127.0.0.1"]]);
    let guard = Guard::new(resolver, AllowList::new(&["printers.lan"]));
    let err = fetch(&guard, format!("http://other.lan:{port}/"))
        .await
        .unwrap_err();
    assert!(refusal_of(&err).is_some(), "{err:?}");
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_cap() {
    install_tls_provider();
    let big = "x".repeat(MAX_BODY * 4);
    let (port, _) = serve(format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{big}",
        big.len()
    ))
    .await;
    let guard = Guard::new(
        Scripted::new(&[&["127.0.0.1"]]),
        AllowList::new(&["lan-hook.test"]),
    );
    let resp = fetch(&guard, format!("http://lan-hook.test:{port}/"))
        .await
        .unwrap();
    let (body, truncated) = read_capped(resp).await.unwrap();
    assert!(truncated);
    assert_eq!(body.len(), MAX_BODY);
}
