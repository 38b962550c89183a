//! The printer's chamber camera as A1/P1 printers serve it on port 6000 (only models whose
//! table row says `CameraKind::ChamberImage`; X1/H2/P2S serve RTSPS instead, see
//! [`crate::rtsp`]): TLS, an 80-byte auth
//! packet (`0x40`, `0x3000`, two zero words, `bblp` and the access code NUL-padded to 32 bytes
//! each, little-endian), then frames as a 16-byte header (JPEG size, 0, 1, 0) followed by a
//! JFIF JPEG. Wrong credentials: the connection is just closed. The header is written on its
//! own, as independent clients expect a separate 16-byte read.
//!
//! Frames are generated: a colour that moves with time and a frame counter and the job's
//! progress drawn in large digits, so a viewer can see frames advance.

use std::sync::Arc;
use std::time::Duration;

use pw_bambu::model::CameraKind;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Shared;

/// Frame size (small: the simulator may run a thousand of these).
pub const WIDTH: u16 = 320;
/// Frame height.
pub const HEIGHT: u16 = 180;
/// Time between frames.
const FRAME_EVERY: Duration = Duration::from_millis(500);

/// Accepts camera clients until the printer is dropped.
pub(crate) async fn serve(listener: TcpListener, printer: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // RTSPS models get `rtsp::serve` on this port instead (lib.rs); should one ever land
        // here, it closes on a client that tries the A1/P1 protocol rather than answer it.
        if printer.model.caps().camera != CameraKind::ChamberImage {
            drop(tcp);
            continue;
        }
        let printer = Arc::clone(&printer);
        tokio::spawn(async move {
            let _ = stream(tcp, &printer).await;
        });
    }
}

async fn stream(tcp: TcpStream, printer: &Shared) -> std::io::Result<()> {
    let mut tls = tokio_rustls::TlsAcceptor::from(printer.tls())
        .accept(tcp)
        .await?;
    let mut auth = [0u8; 80];
    tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut auth))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if !auth_ok(&auth, printer.access_code.expose()) {
        // As the printer does: no answer, just the end.
        return Ok(());
    }
    let mut counter: u32 = 0;
    loop {
        counter = counter.wrapping_add(1);
        let percent = printer.percent();
        let jpeg = frame(counter, percent);
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&u32::try_from(jpeg.len()).unwrap_or(0).to_le_bytes());
        header[8..12].copy_from_slice(&1u32.to_le_bytes());
        tls.write_all(&header).await?;
        tls.flush().await?;
        tls.write_all(&jpeg).await?;
        tls.flush().await?;
        tokio::time::sleep(FRAME_EVERY).await;
    }
}

fn auth_ok(packet: &[u8; 80], code: &str) -> bool {
    let word =
        |i: usize| u32::from_le_bytes([packet[i], packet[i + 1], packet[i + 2], packet[i + 3]]);
    let field = |range: std::ops::Range<usize>| {
        let raw = &packet[range];
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        raw[..end].to_vec()
    };
    word(0) == 0x40
        && word(4) == 0x3000
        && field(16..48) == b"bblp"
        && bool::from(field(48..80).ct_eq(code.as_bytes()))
}

/// 5×7 glyphs for the digits, `#`, `%` and space (one row per byte, bit 4 = leftmost).
pub(crate) fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        _ => [0; 7],
    }
}

/// One JFIF frame showing `#counter` and the progress.
#[must_use]
pub fn frame(counter: u32, percent: u8) -> Vec<u8> {
    let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
    let mut rgb = vec![0u8; w * h * 3];
    let shift = (counter % 64) as usize;
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            rgb[i] = ((x + shift * 4) % 256) as u8 / 3;
            rgb[i + 1] = (y % 256) as u8 / 3 + 40;
            rgb[i + 2] = 90;
        }
    }
    // A progress bar along the bottom.
    let filled = w * usize::from(percent.min(100)) / 100;
    for y in h - 12..h - 4 {
        for x in 0..filled {
            let i = (y * w + x) * 3;
            rgb[i..i + 3].copy_from_slice(&[40, 200, 90]);
        }
    }
    let text = format!("#{counter} {percent}%");
    let scale = 4;
    for (n, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = 12 + n * 6 * scale + col * scale + dx;
                        let y = 20 + row * scale + dy;
                        if x < w && y < h {
                            let i = (y * w + x) * 3;
                            rgb[i..i + 3].copy_from_slice(&[255, 255, 255]);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(16 * 1024);
    let encoder = jpeg_encoder::Encoder::new(&mut out, 70);
    if encoder
        .encode(&rgb, WIDTH, HEIGHT, jpeg_encoder::ColorType::Rgb)
        .is_err()
    {
        return Vec::new();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_jfif_jpegs_that_change() {
        let a = frame(1, 10);
        let b = frame(2, 10);
        assert_eq!(&a[..4], &[0xFF, 0xD8, 0xFF, 0xE0], "JFIF APP0 first");
        assert_eq!(&a[a.len() - 2..], &[0xFF, 0xD9]);
        assert_ne!(a, b);
    }

    #[test]
    fn the_auth_packet_must_be_exact() {
        let mut p = [0u8; 80];
        p[0] = 0x40;
        p[5] = 0x30;
        p[16..20].copy_from_slice(b"bblp");
        p[48..56].copy_from_slice(b"12345678");
        assert!(auth_ok(&p, "12345678"));
        assert!(!auth_ok(&p, "12345679"));
        p[5] = 0x31;
        assert!(!auth_ok(&p, "12345678"));
    }
}
