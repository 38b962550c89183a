//! The client side of the chamber camera (A1/P1, port 6000): TLS with the printer's
//! [`PrinterVerifier`], the 80-byte auth packet, then 16-byte headers each followed by one
//! JPEG.
//!
//! Invariants: the access code is sent only after the certificate passed; a frame larger than
//! [`MAX_FRAME`] ends the stream (threat: a printer, or an impostor, announcing a huge frame to
//! exhaust memory); a frame must look like a JPEG.

use std::sync::Arc;
use std::time::Duration;

use pw_credentials::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::session::{SessionError, open_tls};
use crate::trust::PrinterVerifier;

/// Largest frame accepted.
pub const MAX_FRAME: usize = 10 * 1024 * 1024;
/// Longest wait for the next frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

/// The 80-byte auth packet.
#[must_use]
pub fn auth_packet(access_code: &SecretString) -> [u8; 80] {
    let mut p = [0u8; 80];
    p[0..4].copy_from_slice(&0x40u32.to_le_bytes());
    p[4..8].copy_from_slice(&0x3000u32.to_le_bytes());
    p[16..20].copy_from_slice(b"bblp");
    let code = access_code.expose().as_bytes();
    let n = code.len().min(32);
    p[48..48 + n].copy_from_slice(&code[..n]);
    p
}

/// An open camera stream.
#[derive(Debug)]
pub struct Camera {
    tls: TlsStream<TcpStream>,
}

impl Camera {
    /// Connects and authenticates.
    pub async fn connect(
        host: &str,
        port: u16,
        serial: &str,
        access_code: &SecretString,
        verifier: &Arc<PrinterVerifier>,
    ) -> Result<Self, SessionError> {
        let mut tls = open_tls(host, port, serial, verifier).await?.stream;
        tls.write_all(&auth_packet(access_code))
            .await
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        tls.flush()
            .await
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        Ok(Self { tls })
    }

    /// The next JPEG frame. A wrong access code shows as the stream closing.
    pub async fn next_frame(&mut self) -> Result<Vec<u8>, SessionError> {
        let mut header = [0u8; 16];
        tokio::time::timeout(FRAME_TIMEOUT, self.tls.read_exact(&mut header))
            .await
            .map_err(|_| SessionError::Timeout("waiting for a camera frame"))?
            .map_err(|_| SessionError::Closed)?;
        let size = usize::try_from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]))
        .unwrap_or(usize::MAX);
        if size == 0 || size > MAX_FRAME {
            return Err(SessionError::Protocol(format!(
                "camera frame of {size} bytes"
            )));
        }
        let mut jpeg = vec![0u8; size];
        tokio::time::timeout(FRAME_TIMEOUT, self.tls.read_exact(&mut jpeg))
            .await
            .map_err(|_| SessionError::Timeout("reading a camera frame"))?
            .map_err(|_| SessionError::Closed)?;
        if !jpeg.starts_with(&[0xFF, 0xD8]) {
            return Err(SessionError::Protocol(
                "a camera frame is not a JPEG".to_owned(),
            ));
        }
        Ok(jpeg)
    }
}
