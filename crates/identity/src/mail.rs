//! Outgoing mail over SMTP: one message, one connection, with the security the administrator
//! chose. Invariant: with [`SmtpSecurity::StartTls`] or [`SmtpSecurity::Tls`], neither the
//! credentials nor a byte of the message leave the process before a TLS session exists whose
//! certificate chains to the configured roots and names the configured host; there is no
//! fallback to plaintext and no switch that skips verification. The connection goes only to
//! addresses the caller resolved and checked ([`SmtpConfig::connect_to`], the SSRF guard);
//! this module never resolves a name. Errors are sentences for an administrator and never
//! contain the password; every failure to reach an SMTP server reads the same (threat: a test
//! button whose "connection refused", "timed out" and "does not resolve" tell a port scanner
//! what it wants to know), with the cause in the log only.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lettre::message::header::MessageId;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{Address, Message};
use pw_credentials::SecretString;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::{CertificateError, RootCertStore};
use serde::{Deserialize, Serialize};

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (usually port 587). STARTTLS is required: a
    /// server that does not offer it gets nothing (threat: an attacker on the path strips
    /// STARTTLS from the server's EHLO reply to downgrade the session to plaintext).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// Plaintext. Message and password travel unprotected; the caller only passes this when
    /// the administrator explicitly allowed it.
    None,
}

/// Where and how to send. `password` is only used together with `username`.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Host name or IP address; also the name the server's certificate must carry.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The addresses of `host` to connect to, in order: resolved and checked by the caller's
    /// outbound policy (the certificate is still verified for `host`). Empty refuses to send.
    pub connect_to: Vec<IpAddr>,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User for AUTH (PLAIN or LOGIN); `None` (or empty) sends without AUTH.
    pub username: Option<String>,
    /// Password for AUTH.
    pub password: Option<SecretString>,
    /// Display name of the sender.
    pub from_name: String,
    /// Sender address (header From and envelope MAIL FROM).
    pub from_address: String,
    /// PEM certificate(s) of the CA that signed the server's certificate. When set, it is the
    /// only trust anchor (the platform's roots are not consulted), so what is trusted is
    /// exactly what the administrator uploaded.
    pub ca_cert_pem: Option<String>,
    /// Limit for the connection attempt and for each later step (greeting, TLS, AUTH, sending).
    pub timeout: Duration,
}

/// One message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Recipient: `user@example.com` or `Name <user@example.com>`.
    pub to: String,
    /// Subject (line breaks become spaces).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Optional HTML alternative of `text`.
    pub html: Option<String>,
}

/// Why a message was not sent. Each variant carries a complete sentence that is safe to show
/// to an administrator (it names the server, never the password).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A sender or recipient address does not parse. Nothing was sent.
    #[error("{0}")]
    Address(String),
    /// The CA certificate is unusable, or the server's certificate is not trusted.
    #[error("{0}")]
    Certificate(String),
    /// The server could not be reached (whatever the reason: refused, silent, not resolvable,
    /// not allowed, not speaking SMTP or TLS), or the connection broke or timed out later.
    #[error("{0}")]
    Connect(String),
    /// TLS could not be established (including a server that does not offer STARTTLS).
    #[error("{0}")]
    Tls(String),
    /// The server refused the credentials or offers no usable AUTH mechanism.
    #[error("{0}")]
    Auth(String),
    /// The server refused the sender, the recipient or the message.
    #[error("{0}")]
    Rejected(String),
    /// The settings are incomplete or contradictory.
    #[error("{0}")]
    Config(String),
}

impl MailError {
    /// The one answer for a mail server that could not be reached, whatever the cause (which
    /// goes to the log): `server` is the host and port as the administrator wrote them.
    #[must_use]
    pub fn unreachable(host: &str, port: u16) -> Self {
        MailError::Connect(format!(
            "could not reach a mail server at {}; check the server, port and connection \
             security (a mail server on your own network must also be on the allowed private \
             hosts, Settings → Security)",
            server_label(host, port)
        ))
    }
}

fn server_label(host: &str, port: u16) -> String {
    let host = host.trim();
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks that `pem` holds at least one X.509 certificate and nothing unusable: every
/// `CERTIFICATE` block must parse, and a private key is refused (threat: an administrator
/// pasting the server's key into a field that is stored and shown as public).
pub fn validate_ca_pem(pem: &str) -> Result<(), MailError> {
    ca_roots(pem).map(|_| ())
}

/// Sends `mail` and returns the server's reply to the message (for example
/// `250 2.0.0 Ok: queued as 4F2A1`), which the admin's "Test email" shows.
pub async fn send_mail(config: &SmtpConfig, mail: &Mail) -> Result<String, MailError> {
    let plan = Plan::new(config)?;
    // Built before connecting: a bad address never opens a connection.
    let message = build_message(config, mail)?;
    let reply = plan.deliver(&message).await?;
    tracing::info!(
        host = %config.host,
        port = config.port,
        security = ?config.security,
        reply = %reply,
        "mail delivered to the SMTP server"
    );
    Ok(reply)
}

/// The checked settings of one delivery.
struct Plan<'a> {
    config: &'a SmtpConfig,
    server: String,
    credentials: Option<(&'a str, &'a SecretString)>,
    tls: Option<TlsParameters>,
}

/// The step a failure happened in; it decides how a failure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connect,
    StartTls,
    Auth,
    Send,
}

/// A step's failure before it is put into words.
enum Failure {
    TimedOut,
    Smtp(lettre::transport::smtp::Error),
}

impl<'a> Plan<'a> {
    fn new(config: &'a SmtpConfig) -> Result<Self, MailError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err(MailError::Config(
                "the mail server's host name is empty".into(),
            ));
        }
        if config.port == 0 {
            return Err(MailError::Config("the mail server's port is 0".into()));
        }
        if config.timeout.is_zero() {
            return Err(MailError::Config("the mail timeout is 0".into()));
        }
        if config.connect_to.is_empty() {
            return Err(MailError::Config(
                "no checked address to connect to for the mail server".into(),
            ));
        }
        let server = server_label(host, config.port);
        let username = config.username.as_deref().filter(|u| !u.is_empty());
        let credentials = match (username, &config.password) {
            (Some(user), Some(password)) => Some((user, password)),
            (Some(_), None) => {
                return Err(MailError::Config(
                    "a user name for the mail server is set but no password".into(),
                ));
            }
            (None, Some(password)) if !password.is_empty() => {
                return Err(MailError::Config(
                    "a password for the mail server is set but no user name".into(),
                ));
            }
            (None, _) => None,
        };
        let tls = match config.security {
            SmtpSecurity::StartTls | SmtpSecurity::Tls => Some(tls_parameters(config, host)?),
            SmtpSecurity::None => {
                if let Some(pem) = &config.ca_cert_pem {
                    // Unused without TLS, but a broken upload should still be reported.
                    validate_ca_pem(pem)?;
                }
                None
            }
        };
        Ok(Self {
            config,
            server,
            credentials,
            tls,
        })
    }

    async fn deliver(self, message: &Message) -> Result<String, MailError> {
        let config = self.config;
        let timeout = config.timeout;
        let hello = ClientId::default();
        let implicit = match config.security {
            SmtpSecurity::Tls => self.tls.clone(),
            SmtpSecurity::StartTls | SmtpSecurity::None => None,
        };
        let addresses: Vec<SocketAddr> = config
            .connect_to
            .iter()
            .map(|ip| SocketAddr::new(*ip, config.port))
            .collect();
        let mut conn = self
            .step(
                Step::Connect,
                AsyncSmtpConnection::connect_tokio1(
                    addresses.as_slice(),
                    Some(timeout),
                    &hello,
                    implicit,
                    None,
                ),
            )
            .await?;

        if config.security == SmtpSecurity::StartTls {
            if !conn.can_starttls() {
                abort(&mut conn, timeout).await;
                return Err(MailError::Tls(format!(
                    "{} does not offer STARTTLS, so nothing was sent (sending in plaintext would \
                     expose the message and the password); check the port, or choose implicit TLS",
                    self.server
                )));
            }
            let Some(tls) = self.tls.clone() else {
                abort(&mut conn, timeout).await;
                return Err(MailError::Config("TLS parameters are missing".into()));
            };
            self.step(Step::StartTls, conn.starttls(tls, &hello))
                .await?;
        }
        if config.security != SmtpSecurity::None && !conn.is_encrypted() {
            // Belt and braces for the invariant above: never AUTH or DATA in the clear here.
            abort(&mut conn, timeout).await;
            return Err(MailError::Tls(format!(
                "the connection to {} is not encrypted; nothing was sent",
                self.server
            )));
        }

        if let Some((user, password)) = self.credentials {
            let offered = [Mechanism::Plain, Mechanism::Login]
                .into_iter()
                .any(|m| conn.server_info().supports_auth_mechanism(m));
            if !offered {
                abort(&mut conn, timeout).await;
                return Err(MailError::Auth(format!(
                    "{} does not offer PLAIN or LOGIN authentication on this connection{}",
                    self.server,
                    if config.security == SmtpSecurity::None {
                        " (many servers offer it only over TLS)"
                    } else {
                        ""
                    }
                )));
            }
            let credentials = Credentials::new(user.to_owned(), password.expose().to_owned());
            self.step(
                Step::Auth,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await?;
        }

        let bytes = message.formatted();
        let response = self
            .step(Step::Send, conn.send(message.envelope(), &bytes))
            .await?;
        // The message is accepted; a failed QUIT changes nothing.
        let _ = tokio::time::timeout(timeout, conn.quit()).await;
        Ok(self.scrub(&reply_text(&response)))
    }

    /// Runs one step under the timeout and puts a failure into words.
    async fn step<T>(
        &self,
        step: Step,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, MailError> {
        let result = match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => Failure::Smtp(err),
            Err(_) => Failure::TimedOut,
        };
        if step == Step::Connect && self.unreachable(&result) {
            // Only the log learns why (threat: a port scanner reading the test mail's answer).
            let cause = match &result {
                Failure::TimedOut => "no answer in time".to_owned(),
                Failure::Smtp(err) => self.scrub(&detail(err)),
            };
            tracing::warn!(server = %self.server, cause = %cause, "mail server not reached");
            return Err(MailError::unreachable(&self.config.host, self.config.port));
        }
        let error = self.describe(step, result);
        tracing::debug!(server = %self.server, ?step, error = %error, "SMTP step failed");
        Err(error)
    }

    /// Whether a failure to connect says no more than "no SMTP server reached": anything but
    /// an untrusted certificate (a TLS server answered and its certificate is the problem the
    /// administrator must fix) or an SMTP reply (a mail server answered).
    fn unreachable(&self, failure: &Failure) -> bool {
        match failure {
            Failure::TimedOut => true,
            Failure::Smtp(err) => match find_tls_error(err) {
                Some(rustls::Error::InvalidCertificate(_)) => false,
                Some(_) => true,
                None => err.status().is_none(),
            },
        }
    }

    fn describe(&self, step: Step, failure: Failure) -> MailError {
        let server = &self.server;
        let secs = self.config.timeout.as_secs_f64();
        let err = match failure {
            Failure::TimedOut => {
                return match step {
                    Step::Connect => MailError::Connect(format!(
                        "could not connect to {server}: no answer within {secs} s{}",
                        match self.config.security {
                            SmtpSecurity::None | SmtpSecurity::StartTls =>
                                " (check the port: an implicit-TLS port stays silent until TLS \
                                 starts)",
                            SmtpSecurity::Tls => "",
                        }
                    )),
                    Step::StartTls => {
                        MailError::Tls(format!("STARTTLS with {server} timed out after {secs} s"))
                    }
                    Step::Auth => MailError::Auth(format!(
                        "authentication with {server} timed out after {secs} s"
                    )),
                    Step::Send => MailError::Connect(format!(
                        "{server} did not confirm the message within {secs} s"
                    )),
                };
            }
            Failure::Smtp(err) => err,
        };

        if let Some(tls) = find_tls_error(&err) {
            return match tls {
                rustls::Error::InvalidCertificate(cert) => MailError::Certificate(format!(
                    "the server's certificate is not trusted: {}",
                    self.certificate_problem(cert)
                )),
                other => MailError::Tls(format!(
                    "TLS with {server} failed: {}{}",
                    self.scrub(&other.to_string()),
                    if self.config.security == SmtpSecurity::Tls
                        && matches!(other, rustls::Error::InvalidMessage(_))
                    {
                        " (is this a STARTTLS or plaintext port?)"
                    } else {
                        ""
                    }
                )),
            };
        }

        if let Some(code) = err.status() {
            let text = self.scrub(&server_text(&err));
            let reply = if text.is_empty() {
                code.to_string()
            } else {
                format!("{code} {text}")
            };
            return match step {
                Step::Connect => {
                    MailError::Connect(format!("{server} refused the session ({reply})"))
                }
                Step::StartTls => MailError::Tls(format!("{server} refused STARTTLS ({reply})")),
                Step::Auth => MailError::Auth(format!("authentication failed ({reply})")),
                Step::Send => {
                    MailError::Rejected(format!("the server refused the message ({reply})"))
                }
            };
        }

        if err.is_timeout() {
            return MailError::Connect(format!(
                "could not connect to {server}: no answer within {secs} s"
            ));
        }
        let detail = self.scrub(&detail(&err));
        match step {
            Step::Connect => MailError::Connect(format!("could not connect to {server}: {detail}")),
            Step::StartTls => MailError::Tls(format!("STARTTLS with {server} failed: {detail}")),
            Step::Auth => MailError::Auth(format!("authentication with {server} failed: {detail}")),
            Step::Send => MailError::Connect(format!(
                "the connection to {server} failed while sending: {detail}"
            )),
        }
    }

    fn certificate_problem(&self, error: &CertificateError) -> String {
        let host = self.config.host.trim();
        let by_ca = if self.config.ca_cert_pem.is_some() {
            "it is not signed by the configured CA certificate"
        } else {
            "it is not signed by a certificate authority this system trusts (add the server's \
             CA certificate to the mail settings)"
        };
        match error {
            CertificateError::UnknownIssuer => by_ca.to_owned(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("it is not valid for {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "it has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "it is not valid yet (check this machine's clock)".to_owned()
            }
            CertificateError::Revoked => "it has been revoked".to_owned(),
            other => other.to_string(),
        }
    }

    /// Removes the password from server-supplied text (threat: a server or proxy that echoes
    /// the AUTH line into an error reply, which would then land in logs and the UI).
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Some((user, password)) = self.credentials {
            let password = password.expose();
            if !password.is_empty() {
                out = out.replace(password, "<redacted>");
                // AUTH PLAIN's initial response carries the password base64-encoded.
                let plain = base64_encode(format!("\0{user}\0{password}").as_bytes());
                out = out.replace(&plain, "<redacted>");
                out = out.replace(&base64_encode(password.as_bytes()), "<redacted>");
            }
        }
        out
    }
}

/// Ends a session we refuse to continue (QUIT, then close), bounded like every other step so a
/// stalling server cannot hold the caller.
async fn abort(conn: &mut AsyncSmtpConnection, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, conn.abort()).await;
}

/// TLS settings: verification is always on; the roots are exactly the configured CA, or the
/// platform's trust store when none is configured.
fn tls_parameters(config: &SmtpConfig, host: &str) -> Result<TlsParameters, MailError> {
    if ServerName::try_from(host).is_err() {
        return Err(MailError::Config(format!(
            "{host:?} is not a valid host name or IP address for TLS"
        )));
    }
    let builder = TlsParameters::builder(host.to_owned());
    let builder = match &config.ca_cert_pem {
        Some(pem) => {
            ca_roots(pem)?;
            let certificate = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                MailError::Certificate(format!("the CA certificate is not valid: {e}"))
            })?;
            // Only the configured CA: CertificateStore::None keeps the platform roots out.
            builder
                .certificate_store(CertificateStore::None)
                .add_root_certificate(certificate)
        }
        None => builder.certificate_store(CertificateStore::Default),
    };
    builder.build_rustls().map_err(|e| {
        MailError::Certificate(format!(
            "the certificate authorities could not be loaded: {}",
            detail(&e)
        ))
    })
}

/// The certificates of `pem` as a root store; see [`validate_ca_pem`].
pub(crate) fn ca_roots(pem: &str) -> Result<RootCertStore, MailError> {
    let invalid =
        |why: String| MailError::Certificate(format!("the CA certificate is not valid: {why}"));
    let mut roots = RootCertStore::empty();
    for (index, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()).enumerate() {
        let (kind, der) =
            section.map_err(|e| invalid(format!("the PEM text does not parse ({e})")))?;
        match kind {
            SectionKind::Certificate => {
                roots.add(der.into()).map_err(|e| {
                    invalid(format!("certificate {} does not parse ({e})", index + 1))
                })?;
            }
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(invalid(
                    "it contains a private key; paste only the CA's certificate".into(),
                ));
            }
            _ => {}
        }
    }
    if pem.contains("PRIVATE KEY-----") {
        return Err(invalid(
            "it contains a private key; paste only the CA's certificate".into(),
        ));
    }
    if roots.is_empty() {
        return Err(invalid(
            "no certificate found (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

fn build_message(config: &SmtpConfig, mail: &Mail) -> Result<Message, MailError> {
    let from_address: Address = config.from_address.trim().parse().map_err(|e| {
        MailError::Address(format!(
            "the sender address {:?} is not valid: {e}",
            config.from_address
        ))
    })?;
    let from_name = single_line(&config.from_name);
    let from = Mailbox::new(
        (!from_name.is_empty()).then_some(from_name),
        from_address.clone(),
    );
    let to: Mailbox = mail.to.trim().parse().map_err(|e| {
        MailError::Address(format!(
            "the recipient address {:?} is not valid: {e}",
            mail.to
        ))
    })?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(single_line(&mail.subject))
        .header(MessageId::from(message_id(from_address.domain())?))
        .date_now();
    let built = match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(mail.text.clone())),
    };
    built.map_err(|e| MailError::Address(format!("the message could not be built: {e}")))
}

/// `<32 hex digits@sender's domain>`: unique, and it names no internal host.
fn message_id(domain: &str) -> Result<String, MailError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| MailError::Config(format!("no randomness for the Message-ID: {e}")))?;
    Ok(format!("<{}@{domain}>", hex::encode(random)))
}

/// Control characters (CR and LF above all) become spaces. Threat: header injection through a
/// subject or name that carries text from elsewhere (a printer's name, a job's file name).
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `250 2.0.0 Ok: queued as …`: the code and every line of the reply.
fn reply_text(response: &Response) -> String {
    let mut out = response.code().to_string();
    for line in response.message() {
        let line = line.trim();
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
    }
    out
}

/// The text of a negative reply (lettre keeps it as the error's source).
fn server_text(err: &lettre::transport::smtp::Error) -> String {
    err.source()
        .map(|s| {
            s.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The rustls error behind a failed handshake, wherever lettre nested it (tokio-rustls hands it
/// over inside an `io::Error`, whose `source()` skips it).
fn find_tls_error(err: &lettre::transport::smtp::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// The innermost useful cause, in words: I/O errors by kind, otherwise the deepest message.
fn detail(err: &lettre::transport::smtp::Error) -> String {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return io_detail(io);
        }
        last = e.to_string();
        current = e.source();
    }
    last
}

fn io_detail(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "the connection was reset".to_owned(),
        io::ErrorKind::ConnectionAborted => "the connection was aborted".to_owned(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_owned(),
        io::ErrorKind::TimedOut => "timed out".to_owned(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        _ => {
            let text = err.to_string();
            // "failed to lookup address information: Name or service not known" and the like.
            let text = match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            if text.starts_with("failed to lookup address information") {
                let mut out = "the host name could not be resolved".to_owned();
                if let Some((_, why)) = text.split_once(": ") {
                    let _ = write!(out, " ({})", why.to_lowercase());
                }
                out
            } else {
                text
            }
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "mail.example".into(),
            port: 587,
            connect_to: vec!["192.0.2.25".parse().unwrap()],
            security: SmtpSecurity::StartTls,
            username: Some("farm".into()),
            password: Some(SecretString::new("hunter2 hunter2".into())),
            from_name: "Print farm".into(),
            from_address: "farm@example.org".into(),
            ca_cert_pem: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn mail() -> Mail {
        Mail {
            to: "bob@example.org".into(),
            subject: "Hello".into(),
            text: "Body".into(),
            html: None,
        }
    }

    #[test]
    fn security_serialises_lowercase() {
        for (value, text) in [
            (SmtpSecurity::StartTls, "\"starttls\""),
            (SmtpSecurity::Tls, "\"tls\""),
            (SmtpSecurity::None, "\"none\""),
        ] {
            assert_eq!(serde_json::to_string(&value).unwrap(), text);
            assert_eq!(serde_json::from_str::<SmtpSecurity>(text).unwrap(), value);
        }
        assert!(serde_json::from_str::<SmtpSecurity>("\"StartTls\"").is_err());
    }

    #[test]
    fn debug_of_the_config_hides_the_password() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_subject_cannot_inject_headers() {
        let mut m = mail();
        m.subject = "Hi\r\nBcc: evil@example.net\r\n\r\nbody".into();
        let message = build_message(&config(), &m).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(
            !text
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{text}"
        );
        assert_eq!(message.envelope().to().len(), 1);
    }

    #[test]
    fn the_message_has_from_date_and_a_message_id_on_the_senders_domain() {
        let message = build_message(&config(), &mail()).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(
            text.contains("From: \"Print farm\" <farm@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nDate: "), "{text}");
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap();
        assert!(id.starts_with('<') && id.ends_with("@example.org>"), "{id}");
        assert_eq!(id.len(), "<@example.org>".len() + 32);
    }

    #[test]
    fn html_makes_a_multipart_alternative() {
        let mut m = mail();
        m.html = Some("<p>Body</p>".into());
        let text = String::from_utf8(build_message(&config(), &m).unwrap().formatted()).unwrap();
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(
            text.contains("text/plain") && text.contains("text/html"),
            "{text}"
        );
    }

    #[test]
    fn bad_addresses_are_address_errors() {
        let mut m = mail();
        m.to = "not an address".into();
        assert!(matches!(
            build_message(&config(), &m),
            Err(MailError::Address(_))
        ));
        let mut c = config();
        c.from_address = "farm@".into();
        assert!(matches!(
            build_message(&c, &mail()),
            Err(MailError::Address(_))
        ));
    }

    #[test]
    fn contradictory_settings_are_config_errors() {
        let mut c = config();
        c.password = None;
        assert!(matches!(Plan::new(&c), Err(MailError::Config(_))));
        let mut c = config();
        c.username = None;
        assert!(matches!(Plan::new(&c), Err(MailError::Config(_))));
        let mut c = config();
        c.host = " ".into();
        assert!(matches!(Plan::new(&c), Err(MailError::Config(_))));
        let mut c = config();
        c.port = 0;
        assert!(matches!(Plan::new(&c), Err(MailError::Config(_))));
    }

    #[test]
    fn ca_pem_needs_a_certificate_and_no_key() {
        assert!(matches!(
            validate_ca_pem(""),
            Err(MailError::Certificate(_))
        ));
        assert!(matches!(
            validate_ca_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(MailError::Certificate(_))
        ));
        let key =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = validate_ca_pem(key).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
    }

    #[test]
    fn scrub_removes_the_password_in_clear_and_base64() {
        let c = config();
        let plan = Plan::new(&c).unwrap();
        let b64 = base64_encode(b"\0farm\0hunter2 hunter2");
        let out = plan.scrub(&format!("535 bad: hunter2 hunter2 / {b64}"));
        assert!(!out.contains("hunter2") && !out.contains(&b64), "{out}");
    }

    #[test]
    fn io_errors_read_well() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_detail(&refused), "connection refused");
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(
            io_detail(&dns),
            "the host name could not be resolved (name or service not known)"
        );
    }
}
