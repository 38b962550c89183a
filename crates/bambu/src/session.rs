//! The client side of a printer's MQTT broker: TCP, TLS 1.2 with the printer's
//! [`PrinterVerifier`], CONNECT as `bblp` with the access code, SUBSCRIBE to the report topic
//! only (P1/A1 brokers drop clients that subscribe to the request topic), then a `pushall`.
//!
//! Invariants: the access code is written only after the TLS handshake accepted the
//! certificate (the verifier runs inside the handshake), so a refused or changed certificate
//! never sees it; every wait has a timeout; a packet larger than the codec's limit ends the
//! session instead of growing a buffer.

use std::sync::Arc;
use std::time::Duration;

use pw_credentials::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::command::{Command, Sequence};
use crate::mqtt::{ConnectReturn, Packet, decode, encode};
use crate::trust::{Fingerprint, PrinterVerifier, Refused};

/// How long connecting, the handshake and each protocol step may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive announced in CONNECT.
pub const KEEP_ALIVE_SECS: u16 = 30;

/// Where a printer is and how to log in.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// MQTT port (8883 on real printers).
    pub port: u16,
    /// Serial: the certificate's CN and part of the topics.
    pub serial: String,
    /// LAN access code.
    pub access_code: SecretString,
}

/// Why a session could not be opened or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No TCP connection.
    #[error("cannot reach the printer: {0}")]
    Unreachable(String),
    /// The certificate was refused (wrong serial, untrusted, or changed since it was pinned).
    #[error("{0}")]
    Certificate(Refused),
    /// The TLS handshake failed otherwise.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The printer refused the access code.
    #[error("the printer refused the access code")]
    BadAccessCode,
    /// The printer refused the connection for another reason.
    #[error("the printer refused the connection ({0:?})")]
    Refused(ConnectReturn),
    /// The printer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A step took too long.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// The connection ended.
    #[error("the connection closed")]
    Closed,
}

fn io_error(e: &std::io::Error) -> SessionError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => SessionError::Closed,
        _ => SessionError::Protocol(e.to_string()),
    }
}

async fn timed<T>(
    what: &'static str,
    f: impl Future<Output = Result<T, SessionError>>,
) -> Result<T, SessionError> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .map_err(|_| SessionError::Timeout(what))?
}

/// Receives reports.
#[derive(Debug)]
pub struct Reader {
    rd: ReadHalf<TlsStream<TcpStream>>,
    buf: Vec<u8>,
    chunk: Vec<u8>,
}

/// What [`Reader::next`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A report (status or a reply) on the report topic.
    Report(Vec<u8>),
    /// A packet that only proves the broker is there (PINGRESP, PUBACK, SUBACK).
    Alive,
}

/// Sends commands and keep-alives.
#[derive(Debug)]
pub struct Writer {
    wr: WriteHalf<TlsStream<TcpStream>>,
    request_topic: String,
    sequence: Sequence,
    packet_id: u16,
}

/// An open session.
#[derive(Debug)]
pub struct Session {
    /// The receiving half.
    pub reader: Reader,
    /// The sending half.
    pub writer: Writer,
    /// The certificate the printer presented (to pin on first use).
    pub fingerprint: Fingerprint,
}

impl Reader {
    async fn packet(&mut self) -> Result<Packet, SessionError> {
        loop {
            if let Some((packet, used)) =
                decode(&self.buf).map_err(|e| SessionError::Protocol(e.to_string()))?
            {
                self.buf.drain(..used);
                return Ok(packet);
            }
            let n = self
                .rd
                .read(&mut self.chunk)
                .await
                .map_err(|e| io_error(&e))?;
            if n == 0 {
                return Err(SessionError::Closed);
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }

    /// The next packet from the printer: a report, or a sign of life (PINGRESP, PUBACK,
    /// SUBACK) that a keep-alive watchdog counts but nobody else needs. Cancel-safe: a partly
    /// read packet stays buffered for the next call.
    pub async fn next(&mut self) -> Result<Inbound, SessionError> {
        match self.packet().await? {
            Packet::Publish { payload, .. } => Ok(Inbound::Report(payload)),
            Packet::PubAck { .. } | Packet::PingResp | Packet::SubAck { .. } => Ok(Inbound::Alive),
            other => Err(SessionError::Protocol(format!(
                "unexpected packet from the printer: {other:?}"
            ))),
        }
    }

    /// The next report payload from the printer (acknowledgements and ping answers are taken
    /// care of here).
    pub async fn recv(&mut self) -> Result<Vec<u8>, SessionError> {
        loop {
            if let Inbound::Report(payload) = self.next().await? {
                return Ok(payload);
            }
        }
    }
}

impl Writer {
    async fn write(&mut self, packet: &Packet) -> Result<(), SessionError> {
        let mut buf = Vec::new();
        encode(packet, &mut buf);
        self.wr.write_all(&buf).await.map_err(|e| io_error(&e))?;
        self.wr.flush().await.map_err(|e| io_error(&e))
    }

    /// Publishes a command with QoS 1 (printers ignore QoS 0 commands while busy); returns its
    /// sequence id, which the reply echoes.
    pub async fn send(&mut self, command: &Command) -> Result<u64, SessionError> {
        let seq = self.sequence.next_id();
        self.packet_id = self.packet_id.checked_add(1).unwrap_or(1);
        let packet = Packet::Publish {
            topic: self.request_topic.clone(),
            qos: 1,
            id: Some(self.packet_id),
            retain: false,
            payload: serde_json::to_vec(&command.payload(seq)).unwrap_or_default(),
        };
        timed("sending a command", self.write(&packet)).await?;
        Ok(seq)
    }

    /// Keep-alive.
    pub async fn ping(&mut self) -> Result<(), SessionError> {
        timed("pinging", self.write(&Packet::PingReq)).await
    }

    /// Orderly end.
    pub async fn disconnect(mut self) {
        let _ = self.write(&Packet::Disconnect).await;
        let _ = self.wr.shutdown().await;
    }
}

/// A TLS connection to one of a printer's services, with what a second connection to the
/// same printer needs to resume the session (FTPS data connections).
pub(crate) struct Tls {
    pub stream: TlsStream<TcpStream>,
    pub config: Arc<rustls::ClientConfig>,
    pub name: rustls::pki_types::ServerName<'static>,
}

/// TCP and the TLS handshake with the printer's verifier, both under [`STEP_TIMEOUT`]; a
/// refused certificate comes back as [`SessionError::Certificate`].
pub(crate) async fn open_tls(
    host: &str,
    port: u16,
    serial: &str,
    verifier: &Arc<PrinterVerifier>,
) -> Result<Tls, SessionError> {
    let tcp = timed("connecting", async {
        TcpStream::connect((host, port))
            .await
            .map_err(|e| SessionError::Unreachable(e.to_string()))
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    let config = verifier
        .client_config()
        .map_err(|e| SessionError::Tls(e.to_string()))?;
    // SNI carries the serial, as the printer's own clients send it.
    let name = rustls::pki_types::ServerName::try_from(serial.to_ascii_lowercase())
        .or_else(|_| rustls::pki_types::ServerName::try_from("printer"))
        .map_err(|e| SessionError::Tls(e.to_string()))?;
    let stream = timed("in the TLS handshake", async {
        tokio_rustls::TlsConnector::from(Arc::clone(&config))
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| match verifier.seen().refused {
                Some(refused) => SessionError::Certificate(refused),
                None => SessionError::Tls(e.to_string()),
            })
    })
    .await?;
    Ok(Tls {
        stream,
        config,
        name,
    })
}

impl Session {
    /// Connects, logs in, subscribes to the report topic and asks for a full report.
    pub async fn connect(
        endpoint: &Endpoint,
        verifier: &Arc<PrinterVerifier>,
        client_id: &str,
    ) -> Result<Self, SessionError> {
        let Tls { stream: tls, .. } =
            open_tls(&endpoint.host, endpoint.port, &endpoint.serial, verifier).await?;
        let fingerprint = verifier
            .seen()
            .presented
            .ok_or_else(|| SessionError::Tls("no certificate was presented".to_owned()))?;
        let (rd, wr) = tokio::io::split(tls);
        let mut session = Self {
            reader: Reader {
                rd,
                buf: Vec::with_capacity(8192),
                chunk: vec![0; 16 * 1024],
            },
            writer: Writer {
                wr,
                request_topic: format!("device/{}/request", endpoint.serial),
                sequence: Sequence::new(20_000),
                packet_id: 0,
            },
            fingerprint,
        };
        // Only now, with the certificate accepted, does the access code leave this process.
        let connect = Packet::Connect {
            client_id: client_id.to_owned(),
            username: Some("bblp".to_owned()),
            password: Some(endpoint.access_code.clone()),
            keep_alive: KEEP_ALIVE_SECS,
            clean_session: true,
        };
        timed("logging in", session.writer.write(&connect)).await?;
        match timed("waiting for CONNACK", session.reader.packet()).await? {
            Packet::ConnAck {
                code: ConnectReturn::Accepted,
                ..
            } => {}
            Packet::ConnAck {
                code: ConnectReturn::BadCredentials | ConnectReturn::NotAuthorized,
                ..
            } => return Err(SessionError::BadAccessCode),
            Packet::ConnAck { code, .. } => return Err(SessionError::Refused(code)),
            other => {
                return Err(SessionError::Protocol(format!(
                    "expected CONNACK, got {other:?}"
                )));
            }
        }
        let subscribe = Packet::Subscribe {
            id: 1,
            topics: vec![(format!("device/{}/report", endpoint.serial), 0)],
        };
        timed("subscribing", session.writer.write(&subscribe)).await?;
        session.writer.send(&Command::PushAll).await?;
        Ok(session)
    }
}
