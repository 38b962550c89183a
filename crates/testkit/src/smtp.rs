//! The SMTP sink test peer (`scripts/peers/smtp_sink.py`, started by `scripts/test.sh`) as a
//! test sees it: where it listens, its CA and its one test account, and the messages it
//! captured. Invariant: it only reads what the sink wrote, and a query only ever returns
//! messages addressed to the recipient asked for.
//!
//! The sink is shared by every test of a run, so tests isolate themselves by sending to a
//! recipient address of their own (for example `unique_recipient("starttls")`) and only
//! looking for mail to that address.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const NOT_RUNNING: &str = "start the SMTP sink: run the tests through scripts/test.sh";

/// The running sink, from the `PW_TEST_SMTP_*` variables `scripts/test.sh` exports.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    host: String,
    starttls_port: u16,
    tls_port: u16,
    plain_port: u16,
    ca_pem: String,
    dir: PathBuf,
    user: String,
    password: String,
}

/// One message as the sink captured it (`<dir>/<n>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedMail {
    /// Envelope sender (MAIL FROM).
    pub mail_from: String,
    /// Envelope recipients (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// Whether the message arrived over TLS (implicit or after STARTTLS).
    pub tls: bool,
    /// The user that authenticated, if any.
    pub auth: Option<String>,
    /// Decoded `Subject` header.
    pub subject: Option<String>,
    /// Decoded `From` header.
    pub from: Option<String>,
    /// Decoded `To` header.
    #[serde(default)]
    pub to: Option<String>,
    /// The decoded text/plain part, with LF line ends.
    pub text: Option<String>,
    /// The decoded text/html part, with LF line ends.
    pub html: Option<String>,
    /// Each top-level header's first value, by its name as sent.
    pub headers: BTreeMap<String, String>,
}

impl CapturedMail {
    /// A header's first value, by case-insensitive name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_for(&self, to: &str) -> bool {
        self.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(to))
    }
}

fn var(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{name} is not set: {NOT_RUNNING}")),
    }
}

fn port(name: &str) -> Result<u16, String> {
    let raw = var(name)?;
    raw.parse()
        .map_err(|_| format!("{name}={raw:?} is not a port: {NOT_RUNNING}"))
}

impl SmtpSink {
    /// Reads `PW_TEST_SMTP_HOST`, `_STARTTLS_PORT`, `_TLS_PORT`, `_PLAIN_PORT`, `_CA`, `_DIR`,
    /// `_USER` and `_PASSWORD`. The error tells how to get the sink running; tests should fail
    /// with it rather than skip.
    pub fn from_env() -> Result<SmtpSink, String> {
        let ca_path = var("PW_TEST_SMTP_CA")?;
        let ca_pem = std::fs::read_to_string(&ca_path)
            .map_err(|e| format!("cannot read PW_TEST_SMTP_CA={ca_path}: {e}: {NOT_RUNNING}"))?;
        let dir = PathBuf::from(var("PW_TEST_SMTP_DIR")?);
        if !dir.is_dir() {
            return Err(format!(
                "PW_TEST_SMTP_DIR={} is not a directory: {NOT_RUNNING}",
                dir.display()
            ));
        }
        Ok(SmtpSink {
            host: var("PW_TEST_SMTP_HOST")?,
            starttls_port: port("PW_TEST_SMTP_STARTTLS_PORT")?,
            tls_port: port("PW_TEST_SMTP_TLS_PORT")?,
            plain_port: port("PW_TEST_SMTP_PLAIN_PORT")?,
            ca_pem,
            dir,
            user: var("PW_TEST_SMTP_USER")?,
            password: var("PW_TEST_SMTP_PASSWORD")?,
        })
    }

    /// Host the sink listens on (an address on loopback).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port with STARTTLS offered (AUTH only after it).
    #[must_use]
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// Port with implicit TLS (SMTPS).
    #[must_use]
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// Plaintext port without STARTTLS and without AUTH.
    #[must_use]
    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    /// PEM of the CA that signed the sink's certificate.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The one user the sink accepts for AUTH.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.user
    }

    /// That user's password.
    #[must_use]
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Directory the sink writes `<n>.json` into.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first captured message with `to` among its envelope recipients (case-insensitive),
    /// polling until `timeout` has passed.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<CapturedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(mail) = self.all_for(to).into_iter().next() {
                return Some(mail);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every captured message for `to`, oldest first.
    ///
    /// # Panics
    /// When a file the sink wrote does not parse (the sink writes atomically, so that is a bug).
    #[must_use]
    pub fn all_for(&self, to: &str) -> Vec<CapturedMail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut numbered: Vec<(u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                let n = path.file_stem()?.to_str()?.parse::<u64>().ok()?;
                (path.extension()? == "json").then_some((n, path))
            })
            .collect();
        numbered.sort();
        numbered
            .into_iter()
            .filter_map(|(_, path)| {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let mail: CapturedMail = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
                mail.is_for(to).then_some(mail)
            })
            .collect()
    }
}

/// A recipient address no other test uses: `<label>-<random>@sink.test`.
#[must_use]
pub fn unique_recipient(label: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("random");
    format!("{label}-{}@sink.test", hex::encode(bytes))
}
