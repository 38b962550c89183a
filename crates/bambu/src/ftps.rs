//! The client side of a printer's implicit FTPS store (port 990): TLS from the first byte with
//! the printer's [`PrinterVerifier`], `USER bblp` / `PASS <access code>`, `PBSZ 0`, `PROT P`,
//! binary mode, passive data connections that resume the control connection's TLS session
//! (the same `ClientConfig` and server name, as vsftpd's `require_ssl_reuse` demands), uploads
//! that wait for the `226` and then check the size.
//!
//! Invariants: the access code is sent only after the certificate passed the verifier; the
//! data connection goes to the control connection's host, never to an address the server names
//! in its `227` reply (threat: a hostile FTP server steering our client at another host); every
//! step has a timeout; a control reply is at most [`MAX_LINE`] bytes a line and [`MAX_REPLY`]
//! bytes in all, read within one step's time (threat: a hostile printer answering with an
//! endless reply to exhaust memory or hold a request forever).

use std::sync::Arc;
use std::time::Duration;

use pw_credentials::SecretString;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::session::{SessionError, Tls, open_tls};
use crate::trust::PrinterVerifier;

const STEP: Duration = Duration::from_secs(30);
/// Longest control reply line accepted. Real replies are under 100 bytes; RFC 959 sets no
/// limit, so without one a hostile printer could fill memory with a line that never ends.
const MAX_LINE: usize = 2048;
/// Largest (multi-line) control reply accepted, all lines together.
const MAX_REPLY: usize = 64 * 1024;

/// An FTPS failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FtpsError {
    /// Connecting or the handshake failed (certificate refusals included).
    #[error("{0}")]
    Connect(SessionError),
    /// The server answered with an error.
    #[error("the printer's file store answered: {0}")]
    Reply(String),
    /// The connection broke or timed out.
    #[error("file transfer failed: {0}")]
    Transfer(String),
}

fn io(e: impl std::fmt::Display) -> FtpsError {
    FtpsError::Transfer(e.to_string())
}

/// A logged-in FTPS session.
#[derive(Debug)]
pub struct Ftps {
    control: BufReader<TlsStream<TcpStream>>,
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    host: String,
}

async fn timed<T>(f: impl Future<Output = Result<T, FtpsError>>) -> Result<T, FtpsError> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| FtpsError::Transfer("timed out".to_owned()))?
}

/// A download in progress: exactly the announced size, then the printer's `226`.
#[derive(Debug)]
pub struct Download {
    ftps: Ftps,
    data: TlsStream<TcpStream>,
    /// Bytes still to come.
    left: u64,
}

impl Download {
    /// Reads the next bytes into `buf`; `0` at the end. Each read has the step timeout, so a
    /// printer that stalls ends the download; more or fewer bytes than announced is an error.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, FtpsError> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            let data = &mut self.data;
            let n = timed(async { data.read(&mut probe).await.map_err(io) }).await?;
            return if n == 0 {
                Ok(0)
            } else {
                Err(FtpsError::Transfer(
                    "the file is larger than the printer said".to_owned(),
                ))
            };
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let data = &mut self.data;
        let n = timed(async { data.read(chunk).await.map_err(io) }).await?;
        if n == 0 {
            return Err(FtpsError::Transfer(
                "the transfer ended before the whole file arrived".to_owned(),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }

    /// After the last byte: closes the data connection, waits for the `226` and logs out.
    pub async fn finish(self) -> Result<(), FtpsError> {
        let Download { mut ftps, data, .. } = self;
        drop(data);
        ftps.expect(&[226]).await?;
        ftps.quit().await;
        Ok(())
    }
}

/// One line of a reply, newline included, taking its length from `budget`.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    budget: &mut usize,
) -> Result<Vec<u8>, FtpsError> {
    let cap = MAX_LINE.min(*budget);
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(cap as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(io)?;
    if n == 0 {
        return Err(FtpsError::Transfer("connection closed".to_owned()));
    }
    if line.last() != Some(&b'\n') {
        return Err(FtpsError::Transfer(if n >= cap {
            "the printer's file store sent an oversized reply".to_owned()
        } else {
            "connection closed".to_owned()
        }));
    }
    *budget -= n;
    Ok(line)
}

/// Reads one (possibly multi-line) control reply: code and first line. Bounded in size and in
/// time as a whole, so neither an endless reply nor a slow drip of lines holds on.
async fn read_reply<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<(u16, String), FtpsError> {
    timed(async {
        let mut budget = MAX_REPLY;
        let first = read_line(reader, &mut budget).await?;
        let line = String::from_utf8_lossy(&first).trim_end().to_owned();
        let code: u16 = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| FtpsError::Transfer("not an FTP reply".to_owned()))?;
        if first.get(3) == Some(&b'-') {
            // Multi-line: until a line starting with the same code and a space.
            let end = format!("{code} ");
            while !read_line(reader, &mut budget)
                .await?
                .starts_with(end.as_bytes())
            {}
        }
        Ok((code, line))
    })
    .await
}

impl Ftps {
    /// Connects, checks the certificate, logs in and prepares binary, protected transfers.
    pub async fn connect(
        host: &str,
        port: u16,
        serial: &str,
        access_code: &SecretString,
        verifier: &Arc<PrinterVerifier>,
    ) -> Result<Self, FtpsError> {
        let Tls {
            stream: tls,
            config,
            name,
        } = open_tls(host, port, serial, verifier)
            .await
            .map_err(FtpsError::Connect)?;
        let mut ftps = Self {
            control: BufReader::new(tls),
            config,
            name,
            host: host.to_owned(),
        };
        ftps.expect(&[220]).await?;
        ftps.command("USER bblp", &[331, 230]).await?;
        // Only now, with the certificate accepted, is the access code sent.
        let (code, text) = ftps
            .exchange(&format!("PASS {}", access_code.expose()))
            .await?;
        if code != 230 {
            return Err(if code == 530 {
                FtpsError::Connect(SessionError::BadAccessCode)
            } else {
                FtpsError::Reply(text)
            });
        }
        ftps.command("PBSZ 0", &[200]).await?;
        ftps.command("PROT P", &[200]).await?;
        ftps.command("TYPE I", &[200]).await?;
        Ok(ftps)
    }

    /// Reads one (possibly multi-line) reply.
    async fn read_reply(&mut self) -> Result<(u16, String), FtpsError> {
        read_reply(&mut self.control).await
    }

    async fn expect(&mut self, ok: &[u16]) -> Result<String, FtpsError> {
        let (code, text) = self.read_reply().await?;
        if ok.contains(&code) {
            Ok(text)
        } else {
            Err(FtpsError::Reply(text))
        }
    }

    async fn exchange(&mut self, line: &str) -> Result<(u16, String), FtpsError> {
        // A name with a line break would smuggle a second command onto the control connection.
        if line.contains(['\r', '\n']) {
            return Err(FtpsError::Transfer(
                "a file name cannot contain a line break".to_owned(),
            ));
        }
        let stream = self.control.get_mut();
        timed(async {
            stream
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .map_err(io)?;
            stream.flush().await.map_err(io)
        })
        .await?;
        self.read_reply().await
    }

    async fn command(&mut self, line: &str, ok: &[u16]) -> Result<String, FtpsError> {
        let (code, text) = self.exchange(line).await?;
        if ok.contains(&code) {
            Ok(text)
        } else {
            Err(FtpsError::Reply(text))
        }
    }

    /// Opens a passive data connection (TCP; TLS follows once the transfer command is
    /// accepted, as servers start their side of the handshake only then).
    async fn data(&mut self) -> Result<TcpStream, FtpsError> {
        let text = self.command("PASV", &[227]).await?;
        let numbers: Vec<u16> = text
            .split(['(', ')'])
            .nth(1)
            .unwrap_or_default()
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        let [_, _, _, _, high, low] = numbers[..] else {
            return Err(FtpsError::Reply(text));
        };
        let port = high * 256 + low;
        // The control connection's host, not the one in the reply.
        timed(async {
            TcpStream::connect((self.host.as_str(), port))
                .await
                .map_err(io)
        })
        .await
    }

    /// TLS on a data connection, resuming the control connection's session.
    async fn secure(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, FtpsError> {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        let name = self.name.clone();
        timed(async { connector.connect(name, tcp).await.map_err(io) }).await
    }

    /// Uploads `content` as `name` in the root, reporting bytes sent to `progress`; waits for
    /// the `226` and checks the stored size. Returns the size.
    pub async fn upload(
        &mut self,
        name: &str,
        mut content: impl AsyncRead + Unpin,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, FtpsError> {
        let tcp = self.data().await?;
        let (code, text) = self.exchange(&format!("STOR {name}")).await?;
        if code != 150 && code != 125 {
            return Err(FtpsError::Reply(text));
        }
        let mut data = self.secure(tcp).await?;
        let mut sent: u64 = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = content.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            timed(async { data.write_all(&chunk[..n]).await.map_err(io) }).await?;
            sent += n as u64;
            progress(sent);
        }
        timed(async { data.shutdown().await.map_err(io) }).await?;
        drop(data);
        // The printer may still be flushing to its card: wait for the 226 before using the file.
        self.expect(&[226]).await?;
        match self.size(name).await? {
            Some(stored) if stored == sent => Ok(sent),
            Some(stored) => Err(FtpsError::Transfer(format!(
                "the printer stored {stored} of {sent} bytes"
            ))),
            None => Err(FtpsError::Transfer(
                "the uploaded file is missing".to_owned(),
            )),
        }
    }

    /// The files in the root: names and sizes, parsed from `LIST` (Unix `ls -l` lines; names
    /// may contain spaces). Directories are left out.
    pub async fn list(&mut self) -> Result<Vec<(String, u64)>, FtpsError> {
        self.list_dir("").await
    }

    /// The files in `dir` (`/cache`, `/model`…; `""` is the current directory), as
    /// [`Ftps::list`]. A directory that does not exist lists empty or fails with the printer's
    /// reply, depending on the firmware.
    pub async fn list_dir(&mut self, dir: &str) -> Result<Vec<(String, u64)>, FtpsError> {
        let tcp = self.data().await?;
        let verb = if dir.is_empty() {
            "LIST".to_owned()
        } else {
            format!("LIST {dir}")
        };
        let (code, text) = self.exchange(&verb).await?;
        if code != 150 && code != 125 {
            return Err(FtpsError::Reply(text));
        }
        let mut data = self.secure(tcp).await?;
        let mut listing = Vec::new();
        timed(async {
            (&mut data)
                .take(4 * 1024 * 1024)
                .read_to_end(&mut listing)
                .await
                .map_err(io)
        })
        .await?;
        drop(data);
        self.expect(&[226]).await?;
        Ok(String::from_utf8_lossy(&listing)
            .lines()
            .filter(|l| l.starts_with('-'))
            .filter_map(|l| {
                // perms links owner group size month day time-or-year name…
                let fields: Vec<&str> = l.split_whitespace().collect();
                let size = fields.get(4)?.parse().ok()?;
                // The name is everything after the eighth field, spaces included.
                let mut rest = l;
                for _ in 0..8 {
                    rest = rest.trim_start().split_once(char::is_whitespace)?.1;
                }
                Some((rest.trim_start().to_owned(), size))
            })
            .collect())
    }

    /// Starts downloading `name`, which the printer said (`SIZE`) is `size` bytes. The
    /// content is then read piece by piece ([`Download::read`]), so nothing holds the whole
    /// file in memory, and the reader's pace is the transfer's pace (backpressure).
    pub async fn open_download(mut self, name: &str, size: u64) -> Result<Download, FtpsError> {
        let tcp = self.data().await?;
        let (code, text) = self.exchange(&format!("RETR {name}")).await?;
        if code != 150 && code != 125 {
            return Err(FtpsError::Reply(text));
        }
        let data = self.secure(tcp).await?;
        Ok(Download {
            ftps: self,
            data,
            left: size,
        })
    }

    /// Deletes a file; `false` when the printer refused (for example, no such file).
    pub async fn delete(&mut self, name: &str) -> Result<bool, FtpsError> {
        let (code, _) = self.exchange(&format!("DELE {name}")).await?;
        Ok(code == 250)
    }

    /// A file's size, `None` when it does not exist.
    pub async fn size(&mut self, name: &str) -> Result<Option<u64>, FtpsError> {
        let (code, text) = self.exchange(&format!("SIZE {name}")).await?;
        match code {
            213 => Ok(text.get(4..).and_then(|s| s.trim().parse().ok())),
            550 => Ok(None),
            _ => Err(FtpsError::Reply(text)),
        }
    }

    /// Ends the session politely.
    pub async fn quit(mut self) {
        let _ = self.exchange("QUIT").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A fake file store that sends `greeting` once, then `forever` again and again until the
    /// client hangs up. Returns a buffered reader on the client side.
    async fn fake_server(greeting: &'static [u8], forever: &'static [u8]) -> BufReader<TcpStream> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            if tcp.write_all(greeting).await.is_err() {
                return;
            }
            while !forever.is_empty() && tcp.write_all(forever).await.is_ok() {}
        });
        BufReader::new(TcpStream::connect(addr).await.unwrap())
    }

    #[tokio::test]
    async fn replies_are_read_single_and_multi_line() {
        let mut r = fake_server(b"220 ready\r\n", b"").await;
        assert_eq!(read_reply(&mut r).await.unwrap(), (220, "220 ready".into()));
        let mut r = fake_server(b"211-Features:\r\n PASV\r\n UTF8\r\n211 End\r\n", b"").await;
        assert_eq!(read_reply(&mut r).await.unwrap().0, 211);
    }

    #[tokio::test]
    async fn an_endless_multi_line_reply_fails_cleanly() {
        let mut r = fake_server(b"220-Welcome\r\n", b"220-more and more\r\n").await;
        let started = std::time::Instant::now();
        let err = read_reply(&mut r).await.unwrap_err();
        assert_eq!(
            err,
            FtpsError::Transfer("the printer's file store sent an oversized reply".into())
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(r.buffer().len() <= 8 * 1024, "nothing piles up in memory");
    }

    #[tokio::test]
    async fn an_endless_line_fails_cleanly() {
        let mut r = fake_server(b"220 ", b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").await;
        let err = read_reply(&mut r).await.unwrap_err();
        assert_eq!(
            err,
            FtpsError::Transfer("the printer's file store sent an oversized reply".into())
        );
    }

    #[tokio::test]
    async fn garbage_is_not_a_reply() {
        let mut r = fake_server(b"hello there\r\n", b"").await;
        assert_eq!(
            read_reply(&mut r).await.unwrap_err(),
            FtpsError::Transfer("not an FTP reply".into())
        );
    }
}
