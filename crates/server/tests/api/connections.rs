//! Connection and socket limits (issue 13, findings 5 and 6): client messages on live sockets
//! are capped to what clients send, unauthenticated camera sockets are capped in number.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pw_testkit::TestServer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::{Socket, ws};

/// The server's resident memory (it runs in this process), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// A TLS client config trusting the test server's CA, http/1.1 only.
fn client_config(server: &TestServer) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.data_dir.join("tls/ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A plain TCP connection to the HTTPS port from the loopback address `from`.
async fn tcp_from(server: &TestServer, from: IpAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server.running().https.unwrap()).await
}

/// A WebSocket from the loopback address `from`, with our Origin.
async fn ws_from(server: &TestServer, path: &str, from: IpAddr) -> Result<Socket, WsError> {
    let tcp = tcp_from(server, from).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(client_config(server))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let port = server.running().https.unwrap().port();
    let mut request = format!("wss://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", server.origin().parse().unwrap());
    tokio_tungstenite::client_async(request, tls)
        .await
        .map(|(s, _)| s)
}

/// How the socket ended within `within`: its close code, `None` for an end without one.
/// Panics if it stays open.
async fn end_of(socket: &mut Socket, within: Duration) -> Option<CloseCode> {
    tokio::time::timeout(within, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("the socket to end in time")
}

fn status_of(e: &WsError) -> Option<u16> {
    match e {
        WsError::Http(r) => Some(r.status().as_u16()),
        _ => None,
    }
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const SECOND: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test]
async fn an_oversized_socket_message_closes_the_socket_before_auth_and_after() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let camera = "/api/v1/printers/1/camera/ws";

    // Control: a small first message is read and judged (bad credentials: 4401).
    let mut s = ws(&server, camera, None, true).await.unwrap();
    s.send(Message::Text("{\"token\":\"nope\"}".into()))
        .await
        .unwrap();
    assert_eq!(
        end_of(&mut s, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4401))
    );

    // 1 MiB before authentication: refused as too big (1009) without being buffered.
    let big = "x".repeat(1 << 20);
    let before = rss();
    for _ in 0..8 {
        let mut s = ws(&server, camera, None, true).await.unwrap();
        let _ = s
            .send(Message::Text(format!("{{\"token\":\"{big}\"}}").into()))
            .await;
        assert_eq!(
            end_of(&mut s, Duration::from_secs(5)).await,
            Some(CloseCode::Size)
        );
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "RSS growth after 8 oversized camera messages: {} KiB",
        grown / 1024
    );
    assert!(grown < 24 << 20, "server memory grew by {grown} bytes");

    // The events socket: a small client message is ignored, a 64 KiB one closes it.
    let pw_testkit::Auth::Cookie(cookie) = &admin else {
        panic!("a cookie")
    };
    let mut events = ws(&server, "/api/v1/events", Some(cookie), true)
        .await
        .unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(matches!(first, Message::Text(_)));
    events.send(Message::Text("hello".into())).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), events.next())
            .await
            .is_err(),
        "a small message keeps the socket open"
    );
    let _ = events
        .send(Message::Binary(vec![0u8; 64 * 1024].into()))
        .await;
    assert_eq!(
        end_of(&mut events, Duration::from_secs(5)).await,
        Some(CloseCode::Size)
    );
}

#[tokio::test]
async fn unauthenticated_camera_sockets_are_capped_per_address() {
    let server = TestServer::spawn().await;
    server.setup_admin().await;
    let camera = "/api/v1/printers/1/camera/ws";
    // Eight sockets from one address wait for their first message…
    let mut waiting = Vec::new();
    for _ in 0..8 {
        waiting.push(ws_from(&server, camera, LOCAL).await.unwrap());
    }
    // …the ninth is refused before upgrading, while another address still gets in.
    let refused = ws_from(&server, camera, LOCAL).await.unwrap_err();
    assert_eq!(status_of(&refused), Some(429), "{refused:?}");
    let mut other = ws_from(&server, camera, SECOND).await.unwrap();
    other
        .send(Message::Text("{\"token\":\"nope\"}".into()))
        .await
        .unwrap();
    assert_eq!(
        end_of(&mut other, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4401))
    );
    // Once one of the eight has sent its message, its place is free again.
    let mut first = waiting.remove(0);
    first
        .send(Message::Text("{\"token\":\"nope\"}".into()))
        .await
        .unwrap();
    assert_eq!(
        end_of(&mut first, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4401))
    );
    let again = ws_from(&server, camera, LOCAL).await;
    assert!(again.is_ok(), "{again:?}");
}

/// A TLS connection from `from` that has finished its handshake.
async fn tls_from(
    server: &TestServer,
    from: IpAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tcp_from(server, from).await?;
    tokio_rustls::TlsConnector::from(client_config(server))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// What reading from `stream` gives within `within`: `Some(Ok(0))` is a clean close (TLS
/// close_notify), `Some(Err(_))` an abrupt one, `None` still open.
async fn read_end<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> Option<std::io::Result<usize>> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let start = tokio::time::Instant::now();
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) => return Some(Ok(0)),
            Ok(Ok(_)) => {} // an answer (e.g. 408) before the close
            Ok(Err(e)) => return Some(Err(e)),
        }
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed_while_others_are_served() {
    let server = TestServer::spawn_env(&[
        ("PRINTWARDEN_HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("PRINTWARDEN_TLS_HANDSHAKE_TIMEOUT_SECONDS", "1"),
        ("PRINTWARDEN_IDLE_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    use tokio::io::AsyncWriteExt;
    // 40 connections that finish TLS and then send nothing or half a request, and 10 that
    // never start TLS.
    let mut silent = Vec::new();
    for i in 0..40 {
        let mut s = tls_from(&server, LOCAL).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .await
                .unwrap();
        }
        silent.push(s);
    }
    let mut bare = Vec::new();
    for _ in 0..10 {
        bare.push(tcp_from(&server, LOCAL).await.unwrap());
    }
    // A normal client is served meanwhile.
    let started = tokio::time::Instant::now();
    assert_eq!(server.get("/healthz").await.status(), 200);
    // Every one of them is closed after the timeout, none before.
    for s in &mut silent {
        let end = read_end(s, Duration::from_secs(4)).await;
        assert!(end.is_some(), "a connection without headers stayed open");
    }
    for s in &mut bare {
        assert!(read_end(s, Duration::from_secs(4)).await.is_some());
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(6));

    // A keep-alive connection is served twice, then closed cleanly (close_notify) when idle.
    let mut s = tls_from(&server, LOCAL).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    let idle = tokio::time::Instant::now();
    let end = read_end(&mut s, Duration::from_secs(5)).await;
    assert!(matches!(end, Some(Ok(0))), "not a clean close: {end:?}");
    assert!(
        idle.elapsed() >= Duration::from_millis(1500),
        "closed before the idle timeout"
    );
}

#[tokio::test]
async fn the_per_address_cap_refuses_extra_connections_while_another_address_is_served() {
    let server = TestServer::spawn_env(&[("PRINTWARDEN_MAX_CONNECTIONS_PER_ADDRESS", "4")]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tls_from(&server, SECOND).await.unwrap());
    }
    // The fifth from the same address is closed at once (its handshake fails)…
    let fifth = tokio::time::timeout(Duration::from_secs(3), tls_from(&server, SECOND))
        .await
        .expect("refused at once, not queued");
    assert!(fifth.is_err(), "a fifth connection was accepted");
    // …while another address is served.
    assert_eq!(server.get("/healthz").await.status(), 200);
    // Closing one frees its place.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(tls_from(&server, SECOND).await.is_ok());
    let admin = server.setup_admin().await;
    let pw_testkit::Auth::Cookie(cookie) = &admin else {
        panic!("a cookie")
    };
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("printwarden_connections_refused_total{cap=\"per_address\"} 1"),
        "{metrics}"
    );
}

/// Sends one raw HTTP/1.1 request on `stream` and returns the answer's head (status line and
/// headers, lower-cased).
async fn raw_head<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    String::from_utf8_lossy(&got[..end]).to_lowercase()
}

/// Issue 14 item 8: an error answered before the request body is read (here a 401 from the
/// route table) ends the connection, and the answer says so, so that a pooled client does not
/// race the close with its next request (the schemathesis stage's "SSL EOF" on POSTs).
#[tokio::test]
async fn an_error_answered_to_a_request_with_a_body_says_connection_close() {
    let server = TestServer::spawn().await;
    let host = format!("host: {}\r\n", server.base.trim_start_matches("https://"));
    let mut tls = tls_from(&server, LOCAL).await.unwrap();
    // Bodyless requests keep the connection, errors included: the header is not sent blindly.
    let ok = raw_head(
        &mut tls,
        &format!("GET /api/v1/auth/status HTTP/1.1\r\n{host}\r\n"),
    )
    .await;
    assert!(ok.starts_with("http/1.1 200"), "{ok}");
    assert!(!ok.contains("connection: close"), "{ok}");
    let missing = raw_head(
        &mut tls,
        &format!("GET /api/v1/no-such-route HTTP/1.1\r\n{host}\r\n"),
    )
    .await;
    assert!(missing.starts_with("http/1.1 404"), "{missing}");
    assert!(!missing.contains("connection: close"), "{missing}");
    // Headers now, the body later (as urllib3 sends them): answered 401 before the body.
    let body = r#"{"name":"k","scopes":[]}"#;
    let denied = raw_head(
        &mut tls,
        &format!(
            "POST /api/v1/api-keys HTTP/1.1\r\n{host}content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ),
    )
    .await;
    assert!(denied.starts_with("http/1.1 401"), "{denied}");
    assert!(denied.contains("connection: close"), "{denied}");
}
