//! The client side of a printer's implicit FTPS store (port 990): TLS from the first byte with
//! the printer's [`PrinterVerifier`], `USER bblp` / `PASS <access code>`, `PBSZ 0`, `PROT P`,
//! binary mode, passive data connections that resume the control connection's TLS session
//! (the same `ClientConfig` and server name, as vsftpd's `require_ssl_reuse` demands), uploads
//! that wait for the `226` and then check the size.
//!
//! Invariants: the access code is sent only after the certificate passed the verifier; the
//! data connection goes to the control connection's host, never to an address the server names
//! in its `227` reply (threat: a hostile FTP server steering our client at another host); every
//! step has a timeout.

use std::sync::Arc;
use std::time::Duration;

use pw_credentials::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::session::{SessionError, Tls, open_tls};
use crate::trust::PrinterVerifier;

const STEP: Duration = Duration::from_secs(30);

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
        let mut line = String::new();
        timed(async {
            if self.control.read_line(&mut line).await.map_err(io)? == 0 {
                return Err(FtpsError::Transfer("connection closed".to_owned()));
            }
            Ok(())
        })
        .await?;
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| FtpsError::Transfer(format!("not an FTP reply: {line:?}")))?;
        if line.as_bytes().get(3) == Some(&b'-') {
            // Multi-line: until a line starting with the same code and a space.
            let end = format!("{code} ");
            loop {
                let mut next = String::new();
                timed(async {
                    if self.control.read_line(&mut next).await.map_err(io)? == 0 {
                        return Err(FtpsError::Transfer("connection closed".to_owned()));
                    }
                    Ok(())
                })
                .await?;
                if next.starts_with(&end) {
                    break;
                }
            }
        }
        Ok((code, line.trim_end().to_owned()))
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
        let tcp = self.data().await?;
        let (code, text) = self.exchange("LIST").await?;
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

    /// Downloads a file (at most `limit` bytes).
    pub async fn download(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, FtpsError> {
        let tcp = self.data().await?;
        let (code, text) = self.exchange(&format!("RETR {name}")).await?;
        if code != 150 && code != 125 {
            return Err(FtpsError::Reply(text));
        }
        let mut data = self.secure(tcp).await?;
        let mut content = Vec::new();
        timed(async {
            (&mut data)
                .take(limit + 1)
                .read_to_end(&mut content)
                .await
                .map_err(io)
        })
        .await?;
        drop(data);
        if content.len() as u64 > limit {
            return Err(FtpsError::Transfer(format!(
                "{name} is larger than {limit} bytes"
            )));
        }
        self.expect(&[226]).await?;
        Ok(content)
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
