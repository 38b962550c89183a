//! The printer's file store over implicit FTPS, as vsftpd on a Bambu printer serves it: TLS
//! from the first byte (TLS 1.2), `bblp` with the access code, `PBSZ 0`/`PROT P`, passive data
//! connections that **must resume the control connection's TLS session** (otherwise `522`, as
//! `require_ssl_reuse` answers), `PROT C` (clear data connections, which A1 clients fall back
//! to), `CWD`/`PWD`/`CDUP`/`MKD`/`RMD`, `STOR`/`RETR`/`SIZE`/`MDTM`/`LIST`/`NLST`/`DELE`/
//! `RNFR`+`RNTO` on paths in the SD card's directories (`/`, `/cache`, `/model`…), `550` for
//! what is missing, real modification times, the `226` only after the file is complete, and
//! the client's TLS close_notify answered with ours after `STOR`.
//!
//! Files live on the printer's SD card ([`crate::sdcard`], on disk, per file capped);
//! uploads are streamed to a partial file and moved into place only when complete; what is
//! uploaded is what `project_file` can start.

use std::sync::Arc;
use std::time::Duration;

use rustls::HandshakeKind;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{Shared, sdcard};
use std::sync::atomic::Ordering;

/// Largest file the simulated store takes.
pub const MAX_FILE: usize = 256 * 1024 * 1024;

/// Accepts control connections until the printer is dropped.
pub(crate) async fn serve(listener: TcpListener, printer: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let printer = Arc::clone(&printer);
        tokio::spawn(async move {
            if let Err(e) = control(tcp, &printer).await {
                tracing::debug!(serial = %printer.serial, error = %e, "ftps session ended");
            }
        });
    }
}

/// A data connection: TLS (`PROT P`) or clear (`PROT C`, which A1 clients fall back to).
trait DataStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> DataStream for T {}
type Data = Box<dyn DataStream>;

async fn reply(w: &mut (impl AsyncWriteExt + Unpin), text: &str) -> std::io::Result<()> {
    w.write_all(format!("{text}\r\n").as_bytes()).await?;
    w.flush().await
}

/// A passive data listener waiting for its one connection.
struct Passive {
    listener: TcpListener,
}

impl Passive {
    /// Accepts the data connection and its TLS handshake; refuses a handshake that did not
    /// resume the control session (vsftpd `require_ssl_reuse`).
    async fn accept(self, printer: &Shared, clear: bool) -> Result<Data, &'static str> {
        let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .map_err(|_| "425 Can't open data connection.")?
            .map_err(|_| "425 Can't open data connection.")?;
        if clear {
            return Ok(Box::new(tcp));
        }
        let tls = tokio_rustls::TlsAcceptor::from(printer.tls())
            .accept(tcp)
            .await
            .map_err(|_| "425 TLS handshake on the data connection failed.")?;
        if tls.get_ref().1.handshake_kind() != Some(HandshakeKind::Resumed) {
            return Err("522 SSL connection failed: session reuse required");
        }
        Ok(Box::new(tls))
    }
}

async fn control(tcp: TcpStream, printer: &Shared) -> std::io::Result<()> {
    let local_ip = tcp.local_addr()?.ip();
    let tls = tokio_rustls::TlsAcceptor::from(printer.tls())
        .accept(tcp)
        .await?;
    let (rd, mut wr) = tokio::io::split(tls);
    let mut lines = BufReader::new(rd).lines();
    reply(&mut wr, "220 (vsFTPd 3.0.3)").await?;
    let mut user_ok = false;
    let mut logged_in = false;
    let mut passive: Option<Passive> = None;
    // `PROT C`: data connections in the clear (the control connection stays TLS).
    let mut clear = false;
    // `RNFR`'s source, for the `RNTO` that must follow.
    let mut rename_from: Option<String> = None;
    // The working directory, a card path ("" = root).
    let mut cwd = String::new();
    while let Ok(Some(line)) =
        tokio::time::timeout(Duration::from_secs(300), lines.next_line()).await?
    {
        let (verb, arg) = line
            .trim_end()
            .split_once(' ')
            .map_or((line.trim_end(), ""), |(v, a)| (v, a));
        let verb = verb.to_ascii_uppercase();
        if !logged_in && !matches!(verb.as_str(), "USER" | "PASS" | "QUIT" | "FEAT") {
            reply(&mut wr, "530 Please login with USER and PASS.").await?;
            continue;
        }
        match verb.as_str() {
            "USER" => {
                user_ok = arg == "bblp";
                reply(&mut wr, "331 Please specify the password.").await?;
            }
            "PASS" => {
                let code_ok = bool::from(
                    arg.as_bytes()
                        .ct_eq(printer.access_code.expose().as_bytes()),
                );
                if user_ok && code_ok {
                    logged_in = true;
                    reply(&mut wr, "230 Login successful.").await?;
                } else {
                    reply(&mut wr, "530 Login incorrect.").await?;
                }
            }
            "FEAT" => {
                reply(&mut wr, "211-Features:\r\n PASV\r\n EPSV\r\n PBSZ\r\n PROT\r\n SIZE\r\n UTF8\r\n211 End").await?;
            }
            "SYST" => reply(&mut wr, "215 UNIX Type: L8").await?,
            "PBSZ" => reply(&mut wr, "200 PBSZ set to 0.").await?,
            "PROT" if arg.eq_ignore_ascii_case("P") => {
                clear = false;
                reply(&mut wr, "200 PROT now Private.").await?;
            }
            // A1 clients fall back to clear data connections (protocol notes §1.7).
            "PROT" if arg.eq_ignore_ascii_case("C") => {
                clear = true;
                reply(&mut wr, "200 PROT now Clear.").await?;
            }
            "PROT" => reply(&mut wr, "536 PROT must be C or P.").await?,
            "MDTM" => match printer.card.modified(&sdcard::resolve(&cwd, arg)) {
                Some(t) => {
                    let when = time::OffsetDateTime::from_unix_timestamp(t)
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                    reply(
                        &mut wr,
                        &format!(
                            "213 {:04}{:02}{:02}{:02}{:02}{:02}",
                            when.year(),
                            u8::from(when.month()),
                            when.day(),
                            when.hour(),
                            when.minute(),
                            when.second()
                        ),
                    )
                    .await?;
                }
                None => reply(&mut wr, "550 Could not get file modification time.").await?,
            },
            "RNFR" => {
                let from = sdcard::resolve(&cwd, arg);
                if printer.card.size(&from).is_some()
                    || printer.card.is_dir(&from) && !from.is_empty()
                {
                    rename_from = Some(from);
                    reply(&mut wr, "350 Ready for RNTO.").await?;
                } else {
                    reply(&mut wr, "550 RNFR command failed.").await?;
                }
            }
            "RNTO" => {
                let Some(from) = rename_from.take() else {
                    reply(&mut wr, "503 RNFR required first.").await?;
                    continue;
                };
                let to = sdcard::resolve(&cwd, arg);
                if printer.rename_file(&from, &to) {
                    reply(&mut wr, "250 Rename successful.").await?;
                } else {
                    reply(&mut wr, "550 Rename failed.").await?;
                }
            }
            "RMD" => {
                if printer.card.rmdir(&sdcard::resolve(&cwd, arg)) {
                    reply(&mut wr, "250 Remove directory operation successful.").await?;
                } else {
                    reply(&mut wr, "550 Remove directory operation failed.").await?;
                }
            }
            "TYPE" => reply(&mut wr, "200 Switching to Binary mode.").await?,
            "OPTS" => reply(&mut wr, "200 Always in UTF8 mode.").await?,
            "PWD" | "XPWD" => {
                reply(&mut wr, &format!("257 \"/{cwd}\" is the current directory")).await?;
            }
            "CWD" | "CDUP" => {
                let target = sdcard::resolve(&cwd, if verb == "CDUP" { ".." } else { arg });
                if printer.card.is_dir(&target) {
                    cwd = target;
                    reply(&mut wr, "250 Directory successfully changed.").await?;
                } else {
                    reply(&mut wr, "550 Failed to change directory.").await?;
                }
            }
            "MKD" => {
                let target = sdcard::resolve(&cwd, arg);
                if printer.card.mkdir(&target) {
                    reply(&mut wr, &format!("257 \"/{target}\" created")).await?;
                } else {
                    reply(&mut wr, "550 Create directory operation failed.").await?;
                }
            }
            "NOOP" => reply(&mut wr, "200 NOOP ok.").await?,
            "PASV" | "EPSV" => {
                let listener = TcpListener::bind((local_ip, 0)).await?;
                let port = listener.local_addr()?.port();
                passive = Some(Passive { listener });
                if verb == "EPSV" {
                    reply(
                        &mut wr,
                        &format!("229 Entering Extended Passive Mode (|||{port}|)"),
                    )
                    .await?;
                } else {
                    let ip = match local_ip {
                        std::net::IpAddr::V4(v4) => v4.octets(),
                        std::net::IpAddr::V6(_) => [127, 0, 0, 1],
                    };
                    reply(
                        &mut wr,
                        &format!(
                            "227 Entering Passive Mode ({},{},{},{},{},{}).",
                            ip[0],
                            ip[1],
                            ip[2],
                            ip[3],
                            port >> 8,
                            port & 0xFF
                        ),
                    )
                    .await?;
                }
            }
            "STOR" => {
                let name = sdcard::resolve(&cwd, arg);
                let Some(p) = passive.take() else {
                    reply(&mut wr, "425 Use PORT or PASV first.").await?;
                    continue;
                };
                let n = printer.uploads.fetch_add(1, Ordering::Relaxed);
                let Some(partial) = printer.card.partial(&name, n) else {
                    reply(&mut wr, "553 Could not create file.").await?;
                    continue;
                };
                printer.event(&crate::Event::UploadBegins(name.clone()));
                reply(&mut wr, "150 Ok to send data.").await?;
                let data = match p.accept(printer, clear).await {
                    Ok(d) => d,
                    Err(msg) => {
                        reply(&mut wr, msg).await?;
                        continue;
                    }
                };
                let stored = receive(data, &partial).await;
                let outcome = match stored {
                    Ok(()) => printer
                        .card
                        .commit(&partial, &name)
                        .map_err(|_| "451 Could not store the file."),
                    Err(msg) => Err(msg),
                };
                match outcome {
                    Ok(()) => {
                        printer.index_file(&name);
                        printer.event(&crate::Event::UploadStored(name.clone()));
                        reply(&mut wr, "226 Transfer complete.").await?;
                    }
                    Err(msg) => {
                        let _ = tokio::fs::remove_file(&partial).await;
                        reply(&mut wr, msg).await?;
                    }
                }
            }
            "RETR" => {
                let name = sdcard::resolve(&cwd, arg);
                let Some(file) = printer.card.file_path(&name) else {
                    reply(&mut wr, "550 Failed to open file.").await?;
                    continue;
                };
                let Ok(mut file) = tokio::fs::File::open(file).await else {
                    reply(&mut wr, "550 Failed to open file.").await?;
                    continue;
                };
                let Some(p) = passive.take() else {
                    reply(&mut wr, "425 Use PORT or PASV first.").await?;
                    continue;
                };
                reply(&mut wr, "150 Opening BINARY mode data connection.").await?;
                match p.accept(printer, clear).await {
                    Ok(mut data) => {
                        tokio::io::copy(&mut file, &mut data).await?;
                        data.shutdown().await?;
                        reply(&mut wr, "226 Transfer complete.").await?;
                    }
                    Err(msg) => reply(&mut wr, msg).await?,
                }
            }
            "LIST" | "NLST" => {
                // Flags (`LIST -la`) are not paths.
                let target = arg
                    .split_whitespace()
                    .filter(|w| !w.starts_with('-'))
                    .collect::<Vec<_>>()
                    .join(" ");
                let dir = sdcard::resolve(&cwd, &target);
                let Some(p) = passive.take() else {
                    reply(&mut wr, "425 Use PORT or PASV first.").await?;
                    continue;
                };
                // vsftpd lists a missing directory as empty (and a file as itself).
                let entries = printer.card.list(&dir).unwrap_or_else(|| {
                    let name = dir.rsplit('/').next().unwrap_or_default().to_owned();
                    printer
                        .card
                        .size(&dir)
                        .map(|size| {
                            vec![sdcard::Entry {
                                name,
                                size,
                                dir: false,
                                modified: printer.card.modified(&dir).unwrap_or_default(),
                            }]
                        })
                        .unwrap_or_default()
                });
                reply(&mut wr, "150 Here comes the directory listing.").await?;
                match p.accept(printer, clear).await {
                    Ok(mut data) => {
                        let mut text = String::new();
                        let now = time::OffsetDateTime::now_utc().unix_timestamp();
                        for e in entries {
                            if verb == "NLST" {
                                text.push_str(&format!("{}\r\n", e.name));
                            } else {
                                text.push_str(&list_line(&e, now));
                            }
                        }
                        data.write_all(text.as_bytes()).await?;
                        data.shutdown().await?;
                        reply(&mut wr, "226 Directory send OK.").await?;
                    }
                    Err(msg) => reply(&mut wr, msg).await?,
                }
            }
            "SIZE" => match printer.card.size(&sdcard::resolve(&cwd, arg)) {
                Some(size) => reply(&mut wr, &format!("213 {size}")).await?,
                None => reply(&mut wr, "550 Could not get file size.").await?,
            },
            "DELE" => {
                if printer.delete_file(&sdcard::resolve(&cwd, arg)) {
                    reply(&mut wr, "250 Delete operation successful.").await?;
                } else {
                    reply(&mut wr, "550 Delete operation failed.").await?;
                }
            }
            "QUIT" => {
                reply(&mut wr, "221 Goodbye.").await?;
                return Ok(());
            }
            _ => reply(&mut wr, "502 Command not implemented.").await?,
        }
    }
    Ok(())
}

/// Streams an upload into `partial`, capped at [`MAX_FILE`].
async fn receive(mut data: Data, partial: &std::path::Path) -> Result<(), &'static str> {
    let mut file = tokio::fs::File::create(partial)
        .await
        .map_err(|_| "451 Could not create file.")?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        match data.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                if total > MAX_FILE {
                    return Err("452 Transfer aborted.");
                }
                file.write_all(&chunk[..n])
                    .await
                    .map_err(|_| "452 Transfer aborted.")?;
            }
            // A client that closes without close_notify still delivered its bytes.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(_) => return Err("426 Connection closed; transfer aborted."),
        }
    }
    file.flush().await.map_err(|_| "452 Transfer aborted.")?;
    // Answer the client's close_notify with ours, as vsftpd does: clients that wait for a
    // clean TLS end of the data connection (Python's `unwrap()`, curl) do not hang or warn.
    let _ = data.shutdown().await;
    Ok(())
}

/// One `LIST` line as vsftpd writes it (`ls.c`, `sysutil.c`
/// `vsf_sysutil_statbuf_get_date`): link count in 5 columns, owner and group `0` in 8, size
/// in 8 (wider when it needs), then the UTC date as `%b %d %H:%M` — the day zero-padded, not
/// space-padded as GNU `ls` does — or `%b %d  %Y` for a file in the future or more than 182
/// days old. Clients parse these lines with patterns written against printers: bpm's wants
/// exactly two digits for the day and drops any other line, so a card listed with `Dec  7`
/// looked empty to it.
fn list_line(e: &sdcard::Entry, now: i64) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp(e.modified)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(usize::from(u8::from(when.month())) - 1)
    .copied()
    .unwrap_or("Jan");
    let recent = e.modified <= now && now - e.modified <= 60 * 60 * 24 * 182;
    let stamp = if recent {
        format!("{:02}:{:02}", when.hour(), when.minute())
    } else {
        format!(" {}", when.year())
    };
    let (kind, links, size) = if e.dir {
        ("drwxr-xr-x", 2, 4096)
    } else {
        ("-rw-r--r--", 1, e.size)
    };
    format!(
        "{kind} {links:>4} 0        0        {size:>8} {month} {:02} {stamp} {}\r\n",
        when.day(),
        e.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, size: u64, dir: bool, modified: i64) -> sdcard::Entry {
        sdcard::Entry {
            name: name.into(),
            size,
            dir,
            modified,
        }
    }

    /// The lines vsftpd writes, character for character (2026-12-07 22:46:05 UTC is
    /// 1796683565): a recent file with the time and a zero-padded day, an old file and a file
    /// dated in the future with two spaces and the year, a directory, a size wider than 8.
    #[test]
    fn list_lines_are_vsftpds() {
        let now = 1_796_683_565;
        assert_eq!(
            list_line(&entry("cube.gcode.3mf", 1195, false, now - 60), now),
            "-rw-r--r--    1 0        0            1195 Dec 07 22:45 cube.gcode.3mf\r\n"
        );
        assert_eq!(
            list_line(&entry("cache", 0, true, now - 3600), now),
            "drwxr-xr-x    2 0        0            4096 Dec 07 21:46 cache\r\n"
        );
        assert_eq!(
            list_line(&entry("old.3mf", 123_456_789, false, 1_767_571_200), now),
            "-rw-r--r--    1 0        0        123456789 Jan 05  2026 old.3mf\r\n"
        );
        assert_eq!(
            list_line(&entry("future.3mf", 7, false, now + 86_400), now),
            "-rw-r--r--    1 0        0               7 Dec 08  2026 future.3mf\r\n"
        );
    }
}
