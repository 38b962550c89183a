//! The printer's MQTT broker, as a Bambu printer runs one: TLS 1.2 on its own port, MQTT 3.1.1,
//! user `bblp` with the access code, reports on `device/<serial>/report`, commands on
//! `device/<serial>/request`, a full report right after subscribing; subscriptions take the
//! MQTT wildcards (`device/+/report`, `#`) and UNSUBSCRIBE is answered with UNSUBACK.
//!
//! Every CONNECT that arrives is recorded (who, and whether the credentials were right), so a
//! test can prove that a client which refused the certificate never sent its access code.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pw_bambu::mqtt::{ConnectReturn, Packet, decode, encode, topic_matches};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{ConnectRecord, Shared};

/// Accepts connections until the printer is dropped.
pub(crate) async fn serve(listener: TcpListener, printer: Arc<Shared>) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let printer = Arc::clone(&printer);
        tokio::spawn(async move {
            if let Err(e) = session(tcp, peer, &printer).await {
                tracing::debug!(serial = %printer.serial, %peer, error = %e, "mqtt session ended");
            }
        });
    }
}

async fn write(stream: &mut (impl AsyncWriteExt + Unpin), packet: &Packet) -> std::io::Result<()> {
    let mut buf = Vec::new();
    encode(packet, &mut buf);
    stream.write_all(&buf).await?;
    stream.flush().await
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

async fn session(
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    printer: &Shared,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(printer.tls());
    let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
        .await
        .map_err(invalid)??;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];

    // The first packet must be CONNECT.
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        next_packet(&mut rd, &mut buf, &mut chunk),
    )
    .await
    .map_err(invalid)??;
    let Some(Packet::Connect {
        client_id,
        username,
        password,
        ..
    }) = first
    else {
        return Err(invalid("first packet is not CONNECT"));
    };
    let user_ok = username.as_deref() == Some("bblp");
    let code_ok = password.as_ref().is_some_and(|p| {
        bool::from(
            p.expose()
                .as_bytes()
                .ct_eq(printer.access_code.expose().as_bytes()),
        )
    });
    printer.record_connect(ConnectRecord {
        client_id: client_id.clone(),
        accepted: user_ok && code_ok,
    });
    if !(user_ok && code_ok) {
        write(
            &mut wr,
            &Packet::ConnAck {
                session_present: false,
                code: ConnectReturn::BadCredentials,
            },
        )
        .await?;
        return Ok(());
    }
    write(
        &mut wr,
        &Packet::ConnAck {
            session_present: false,
            code: ConnectReturn::Accepted,
        },
    )
    .await?;

    let report_topic = format!("device/{}/report", printer.serial);
    let request_topic = format!("device/{}/request", printer.serial);
    let mut reports = printer.reports.subscribe();
    let mut kicked = printer.kick.subscribe();
    // Takes over an older session with this client id (it ends), then watches for a newer one.
    // (An empty id is the broker's to assign: unique, never taken over.)
    if !client_id.is_empty() {
        let _ = printer.takeover.send(client_id.clone());
    }
    let mut taken_over = printer.takeover.subscribe();
    // The session's topic filters (`+` and `#` wildcards as MQTT defines them).
    let mut filters: Vec<String> = Vec::new();
    let mut subscribed = false;
    printer.sessions.fetch_add(1, Ordering::SeqCst);
    let _count = SessionCount(printer);
    loop {
        tokio::select! {
            packet = next_packet(&mut rd, &mut buf, &mut chunk) => {
                let Some(packet) = packet? else { return Ok(()) };
                match packet {
                    Packet::Subscribe { id, topics } => {
                        let mut codes = Vec::new();
                        for (topic, _) in &topics {
                            // P1/A1 firmware drops a client that subscribes to the request
                            // topic (by name or with `+`; `#` is taken, docs/PROTOCOL.md).
                            if !topic.contains('#')
                                && topic_matches(topic, &request_topic)
                                && printer.model.caps().drops_request_subscribers
                            {
                                return Ok(());
                            }
                            if !filters.contains(topic) {
                                filters.push(topic.clone());
                            }
                            codes.push(0);
                        }
                        subscribed = filters.iter().any(|f| topic_matches(f, &report_topic));
                        write(&mut wr, &Packet::SubAck { id, codes }).await?;
                        if subscribed && let Some(frame) = printer.subscribe_frame() {
                            publish(&mut wr, &report_topic, frame).await?;
                        }
                    }
                    // MQTT 3.1.1 §3.10.4: the broker answers every UNSUBSCRIBE.
                    Packet::Unsubscribe { id, topics } => {
                        filters.retain(|f| !topics.contains(f));
                        subscribed = filters.iter().any(|f| topic_matches(f, &report_topic));
                        write(&mut wr, &Packet::UnsubAck { id }).await?;
                    }
                    Packet::Publish { topic, qos, id, payload, .. } => {
                        if qos == 1 && let Some(id) = id {
                            write(&mut wr, &Packet::PubAck { id }).await?;
                        }
                        if topic == request_topic {
                            // Replies go to every client on the report topic, as on a printer.
                            for frame in printer.handle(&payload, peer) {
                                let _ = printer.reports.send(Arc::new(frame));
                            }
                        }
                    }
                    // Idle P1/A1 printers publish nothing, but their broker answers every
                    // PINGREQ: that answer is how a client tells a quiet printer from a dead link.
                    Packet::PingReq if printer.answers_pings() => {
                        write(&mut wr, &Packet::PingResp).await?;
                    }
                    Packet::Disconnect => return Ok(()),
                    _ => {}
                }
            }
            frame = reports.recv() => {
                match frame {
                    Ok(frame) if subscribed => publish(&mut wr, &report_topic, frame.to_vec()).await?,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
            _ = kicked.recv() => return Ok(()),
            id = taken_over.recv() => {
                if matches!(id, Ok(id) if !client_id.is_empty() && id == client_id) {
                    return Ok(());
                }
            }
        }
    }
}

/// Decrements the live-session count when a session ends, however it ends.
struct SessionCount<'a>(&'a Shared);

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn publish(
    wr: &mut (impl AsyncWriteExt + Unpin),
    topic: &str,
    payload: Vec<u8>,
) -> std::io::Result<()> {
    write(
        wr,
        &Packet::Publish {
            topic: topic.to_owned(),
            qos: 0,
            id: None,
            retain: false,
            payload,
        },
    )
    .await
}

/// Reads until one whole packet is buffered; `None` at a clean end of stream.
async fn next_packet(
    rd: &mut (impl AsyncReadExt + Unpin),
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
) -> std::io::Result<Option<Packet>> {
    loop {
        if let Some((packet, used)) = decode(buf).map_err(invalid)? {
            buf.drain(..used);
            return Ok(Some(packet));
        }
        let n = rd.read(chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
