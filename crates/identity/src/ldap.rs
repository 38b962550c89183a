//! LDAP sign-in against a directory (OpenLDAP, Active Directory): bind as the service
//! account, find the one entry the typed name means, collect its groups, then bind as that
//! entry with the typed password.
//!
//! Invariants:
//! - TLS always: `ldaps://`, or `ldap://` upgraded with StartTLS before the first bind; the
//!   certificate chains to the configured CA (or, without one, the platform's roots) and names
//!   the URL's host. There is no switch that skips verification (threat: a man in the middle
//!   collecting every password typed at the sign-in page).
//! - An empty password never reaches the server: LDAP treats a simple bind with a DN and no
//!   password as an *unauthenticated* bind, which succeeds (RFC 4513 §5.1.2, the classic
//!   bypass). Checked first, before any connection.
//! - The typed name only enters the search filter escaped per RFC 4515 ([`escape_filter_value`]),
//!   so `*`, `(`, `)`, `\` and NUL are data, never filter syntax (threat: `*` or `)(uid=*`
//!   signing in as whoever matches first). A search that finds more than one entry refuses.
//! - The connection goes only to addresses the caller resolved and checked
//!   ([`LdapConfig::connect_to`], the outbound guard); this module never resolves a name.
//! - Every network step has a time limit; errors are sentences without the password.
//! - The exchange runs in its own task: a panic inside the LDAP library on a malformed answer
//!   becomes an error, not a dead request.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, StdStream};
use pw_credentials::SecretString;
use rustls::RootCertStore;

/// Longest a typed user name may be (bytes) before it is refused without a search.
pub const MAX_USERNAME_BYTES: usize = 256;

/// How the connection is protected; decided by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapSecurity {
    /// `ldaps://`: TLS from the first byte (usually port 636).
    Ldaps,
    /// `ldap://` with StartTLS before anything else (usually port 389).
    StartTls,
}

/// A checked LDAP server URL: scheme, host and port only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUrl {
    /// TLS from the start or StartTLS.
    pub security: LdapSecurity,
    /// Host name or IP address (also the name the certificate must carry).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl LdapUrl {
    /// Parses `ldaps://host[:port]` or `ldap://host[:port]`; `ldap://` is only accepted with
    /// `starttls` (plaintext LDAP carries every password in clear). No path, query,
    /// credentials or fragment.
    pub fn parse(raw: &str, starttls: bool) -> Result<LdapUrl, String> {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| "url must look like ldaps://ldap.example.com:636.".to_owned())?;
        let security = match url.scheme() {
            "ldaps" => LdapSecurity::Ldaps,
            "ldap" if starttls => LdapSecurity::StartTls,
            "ldap" => {
                return Err(
                    "Plain ldap:// sends passwords in clear: use ldaps://, or set starttls to true \
                     for a server that offers StartTLS."
                        .to_owned(),
                );
            }
            _ => return Err("url must start with ldaps:// or ldap://.".to_owned()),
        };
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
            || !matches!(url.path(), "" | "/")
        {
            return Err(
                "url must be only scheme, host and port (no user, path, query or fragment)."
                    .to_owned(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            // ldap3 hands the bracketed form to TLS as the server name; refuse rather than fail
            // later in a confusing way.
            Some(url::Host::Ipv6(_)) => {
                return Err(
                    "IPv6 addresses are not supported in the LDAP url; use a host name.".to_owned(),
                );
            }
            _ => return Err("url must name a host.".to_owned()),
        };
        let port = url.port().unwrap_or(match security {
            LdapSecurity::Ldaps => 636,
            LdapSecurity::StartTls => 389,
        });
        Ok(LdapUrl {
            security,
            host,
            port,
        })
    }

    /// The URL as ldap3 wants it.
    fn as_url(&self) -> String {
        let scheme = match self.security {
            LdapSecurity::Ldaps => "ldaps",
            LdapSecurity::StartTls => "ldap",
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Everything one sign-in or test needs.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// Server.
    pub url: LdapUrl,
    /// The addresses of `url.host` to try, in order: resolved and checked by the caller's
    /// outbound policy. Empty refuses to connect.
    pub connect_to: Vec<IpAddr>,
    /// PEM of the CA(s) to trust; when set, the only trust anchors. `None`: platform roots.
    pub ca_cert_pem: Option<String>,
    /// The service account that searches.
    pub bind_dn: String,
    /// Its password (must not be empty: see the module invariants).
    pub bind_password: SecretString,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// Filter with `{username}`, e.g. `(uid={username})`.
    pub user_filter: String,
    /// Attribute holding the email address (`mail`).
    pub email_attr: String,
    /// Attribute holding the display name (`displayName`, `cn`).
    pub name_attr: String,
    /// Where groups are searched (subtree), for `groupOfNames`/`member` and
    /// `posixGroup`/`memberUid`; `memberOf` on the user entry is read as well.
    pub group_base: String,
    /// Limit for connecting (TCP and TLS) and for each LDAP operation.
    pub timeout: Duration,
}

/// The directory's answer for a user who proved their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's DN.
    pub dn: String,
    /// The entry's `uid` (or the typed name when it has none).
    pub uid: String,
    /// `email_attr`'s first value.
    pub email: Option<String>,
    /// `name_attr`'s first value.
    pub display_name: Option<String>,
    /// DNs of the groups it is in, normalised with [`normalize_dn`].
    pub groups: BTreeSet<String>,
}

/// Why a sign-in or a test step failed. `Display` is safe to show to an administrator (the
/// sign-in page shows its own, vaguer words); none carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    /// Refused before any connection: an empty password would be an unauthenticated bind.
    #[error("an empty password is never sent to the directory")]
    EmptyPassword,
    /// The name is empty, too long or has control characters other than NUL.
    #[error("the user name is empty or too long")]
    BadUsername,
    /// Settings that cannot work (no bind password, a bad CA, a bad filter).
    #[error("{0}")]
    Config(String),
    /// Nothing answered in time, the connection was refused, or the address was refused by the
    /// outbound policy; deliberately one sentence for all of them.
    #[error("the directory server at {0} could not be reached")]
    Unreachable(String),
    /// The TLS handshake failed, usually the certificate.
    #[error("TLS with the directory failed: {0}")]
    Tls(String),
    /// The service account's bind was refused.
    #[error("the directory refused the bind DN and password (result code {0})")]
    ServiceBind(u32),
    /// No entry matched the filter.
    #[error("no user by that name in the directory")]
    NotFound,
    /// More than one entry matched; nobody signs in as "whichever came first".
    #[error("more than one directory entry matches that name")]
    Ambiguous,
    /// The user's own bind was refused (wrong password, locked account).
    #[error("the directory refused the password")]
    WrongPassword,
    /// Anything else the server answered.
    #[error("the directory answered with an error: {0}")]
    Protocol(String),
}

impl LdapError {
    /// Whether the directory could not be used at all (as opposed to saying no).
    #[must_use]
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            LdapError::Unreachable(_)
                | LdapError::Tls(_)
                | LdapError::ServiceBind(_)
                | LdapError::Config(_)
                | LdapError::Protocol(_)
        )
    }
}

/// Escapes `value` for use inside an RFC 4515 filter assertion: `*`, `(`, `)`, `\`, NUL and
/// every other control byte become `\XX`. The result matches exactly `value`.
#[must_use]
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => out.push_str(&format!("\\{:02x}", c as u32)),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `template` with every `{username}` replaced by the escaped `username`.
#[must_use]
pub fn user_filter(template: &str, username: &str) -> String {
    template.replace("{username}", &escape_filter_value(username))
}

/// Checks a filter template: it has `{username}` and is a valid filter once filled.
pub fn validate_filter_template(template: &str) -> Result<(), String> {
    if !template.contains("{username}") {
        return Err("user_filter must contain {username}, e.g. (uid={username}).".to_owned());
    }
    ldap3::parse_filter(user_filter(template, "x"))
        .map(|_| ())
        .map_err(|_| "user_filter is not a valid LDAP filter, e.g. (uid={username}).".to_owned())
}

/// A DN in the form group mappings are compared in: lower case, no spaces around `,` and `=`.
#[must_use]
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// Checks a CA PEM the way a connection would load it.
pub fn validate_ca_pem(pem: &str) -> Result<(), String> {
    crate::mail::validate_ca_pem(pem).map_err(|e| e.to_string())
}

fn check_username(username: &str) -> Result<(), LdapError> {
    // NUL is escaped into the filter like any special character; other control characters
    // have no business in a login name.
    if username.is_empty()
        || username.len() > MAX_USERNAME_BYTES
        || username.chars().any(|c| c.is_control() && c != '\0')
    {
        return Err(LdapError::BadUsername);
    }
    Ok(())
}

/// Signs `username` in: bind as the service account, find the entry, read its groups, bind as
/// the entry with `password`.
pub async fn authenticate(
    config: &LdapConfig,
    username: &str,
    password: &SecretString,
) -> Result<DirectoryUser, LdapError> {
    // Before anything else, and before any connection (module invariant).
    if password.expose().is_empty() {
        return Err(LdapError::EmptyPassword);
    }
    check_username(username)?;
    let config = config.clone();
    let username = username.to_owned();
    let password = password.clone();
    isolated(async move {
        let mut session = Session::open(&config).await?;
        let result = async {
            session.bind_service(&config).await?;
            let user = session.find_user(&config, &username).await?;
            session.bind_user(&config, &user.dn, &password).await?;
            Ok(user)
        }
        .await;
        session.close(&config).await;
        result
    })
    .await
}

/// One step of [`test_connection`], in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestStep {
    /// `connect`, `bind`, `find_user` or `groups`.
    pub step: &'static str,
    /// Whether it worked.
    pub ok: bool,
    /// What happened.
    pub message: String,
}

/// The settings page's Test: connect (with TLS), bind as the service account, and when
/// `username` is given find that user and list its groups. Never binds as the user.
pub async fn test_connection(config: &LdapConfig, username: Option<&str>) -> Vec<TestStep> {
    let config = config.clone();
    let username = username.map(str::to_owned);
    let run = isolated(async move { Ok(test_steps(&config, username.as_deref()).await) }).await;
    run.unwrap_or_else(|e| {
        vec![TestStep {
            step: "connect",
            ok: false,
            message: e.to_string(),
        }]
    })
}

async fn test_steps(config: &LdapConfig, username: Option<&str>) -> Vec<TestStep> {
    let mut steps = Vec::new();
    let security = match config.url.security {
        LdapSecurity::Ldaps => "LDAPS",
        LdapSecurity::StartTls => "StartTLS",
    };
    let mut session = match Session::open(config).await {
        Ok(s) => {
            steps.push(TestStep {
                step: "connect",
                ok: true,
                message: format!(
                    "Connected to {}:{} with {security}; the certificate was verified.",
                    config.url.host, config.url.port
                ),
            });
            s
        }
        Err(e) => {
            steps.push(TestStep {
                step: "connect",
                ok: false,
                message: format!("Could not connect: {e}."),
            });
            return steps;
        }
    };
    match session.bind_service(config).await {
        Ok(()) => steps.push(TestStep {
            step: "bind",
            ok: true,
            message: format!("Signed in to the directory as {}.", config.bind_dn),
        }),
        Err(e) => {
            steps.push(TestStep {
                step: "bind",
                ok: false,
                message: format!("Could not sign in as {}: {e}.", config.bind_dn),
            });
            session.close(config).await;
            return steps;
        }
    }
    if let Some(name) = username {
        let found = match check_username(name) {
            Ok(()) => session.find_user(config, name).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(user) => {
                steps.push(TestStep {
                    step: "find_user",
                    ok: true,
                    message: format!(
                        "Found {name:?} at {}; email {}, display name {}.",
                        user.dn,
                        user.email.as_deref().unwrap_or("(none)"),
                        user.display_name.as_deref().unwrap_or("(none)")
                    ),
                });
                let list = user.groups.iter().cloned().collect::<Vec<_>>();
                steps.push(TestStep {
                    step: "groups",
                    ok: true,
                    message: if list.is_empty() {
                        "The user is in no group under the group base.".to_owned()
                    } else {
                        format!("The user is in: {}.", list.join("; "))
                    },
                });
            }
            Err(e) => steps.push(TestStep {
                step: "find_user",
                ok: false,
                message: format!("Could not find {name:?}: {e}."),
            }),
        }
    }
    session.close(config).await;
    steps
}

/// Runs `work` on its own task, so a panic in the LDAP library ends only that task.
async fn isolated<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, LdapError>> + Send + 'static,
) -> Result<T, LdapError> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "the LDAP exchange failed inside the library");
            Err(LdapError::Protocol(
                "the answer could not be read".to_owned(),
            ))
        }
    }
}

/// One open, TLS-protected connection.
struct Session {
    ldap: ldap3::Ldap,
}

impl Session {
    async fn open(config: &LdapConfig) -> Result<Session, LdapError> {
        if config.bind_password.expose().is_empty() {
            // The service account's empty password is the same unauthenticated bind.
            return Err(LdapError::Config(
                "no bind password is stored; enter the service account's password".to_owned(),
            ));
        }
        let tls = tls_config(config.ca_cert_pem.as_deref())?;
        let place = format!("{}:{}", config.url.host, config.url.port);
        let stream = connect(&config.connect_to, config.url.port, config.timeout)
            .await
            .map_err(|cause| {
                tracing::info!(server = %place, cause = %cause, "LDAP server unreachable");
                LdapError::Unreachable(place.clone())
            })?;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(config.timeout)
            .set_config(tls)
            .set_starttls(config.url.security == LdapSecurity::StartTls)
            .set_std_stream(StdStream::Tcp(stream));
        let url = url::Url::parse(&config.url.as_url())
            .map_err(|_| LdapError::Config("the url does not parse".to_owned()))?;
        let (conn, ldap) = LdapConnAsync::from_url_with_settings(settings, &url)
            .await
            .map_err(|e| open_error(&place, &e))?;
        ldap3::drive!(conn);
        Ok(Session { ldap })
    }

    async fn bind_service(&mut self, config: &LdapConfig) -> Result<(), LdapError> {
        let result = self
            .ldap
            .with_timeout(config.timeout)
            .simple_bind(&config.bind_dn, config.bind_password.expose())
            .await
            .map_err(op_error)?;
        match result.rc {
            0 => Ok(()),
            rc => Err(LdapError::ServiceBind(rc)),
        }
    }

    async fn find_user(
        &mut self,
        config: &LdapConfig,
        username: &str,
    ) -> Result<DirectoryUser, LdapError> {
        let filter = user_filter(&config.user_filter, username);
        let attrs = [
            config.email_attr.as_str(),
            config.name_attr.as_str(),
            "uid",
            "memberOf",
        ];
        let (entries, _) = self
            .ldap
            .with_timeout(config.timeout)
            .search(&config.user_base, Scope::Subtree, &filter, &attrs[..])
            .await
            .map_err(op_error)?
            .success()
            .map_err(op_error)?;
        if entries.len() > 1 {
            return Err(LdapError::Ambiguous);
        }
        let Some(entry) = entries.into_iter().next() else {
            return Err(LdapError::NotFound);
        };
        let entry = SearchEntry::construct(entry);
        let first = |attr: &str| {
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
                .filter(|v| !v.trim().is_empty())
        };
        let uid = first("uid").unwrap_or_else(|| username.to_owned());
        let mut groups: BTreeSet<String> = entry
            .attrs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("memberOf"))
            .flat_map(|(_, v)| v.iter().map(|dn| normalize_dn(dn)))
            .collect();
        let group_filter = format!(
            "(|(&(objectClass=groupOfNames)(member={}))(&(objectClass=groupOfUniqueNames)(uniqueMember={}))(&(objectClass=posixGroup)(memberUid={})))",
            escape_filter_value(&entry.dn),
            escape_filter_value(&entry.dn),
            escape_filter_value(&uid),
        );
        let (found, _) = self
            .ldap
            .with_timeout(config.timeout)
            .search(
                &config.group_base,
                Scope::Subtree,
                &group_filter,
                vec!["1.1"],
            )
            .await
            .map_err(op_error)?
            .success()
            .map_err(op_error)?;
        groups.extend(
            found
                .into_iter()
                .map(|e| normalize_dn(&SearchEntry::construct(e).dn)),
        );
        Ok(DirectoryUser {
            email: first(&config.email_attr),
            display_name: first(&config.name_attr),
            dn: entry.dn,
            uid,
            groups,
        })
    }

    async fn bind_user(
        &mut self,
        config: &LdapConfig,
        dn: &str,
        password: &SecretString,
    ) -> Result<(), LdapError> {
        if dn.is_empty() || password.expose().is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        let result = self
            .ldap
            .with_timeout(config.timeout)
            .simple_bind(dn, password.expose())
            .await
            .map_err(op_error)?;
        match result.rc {
            0 => Ok(()),
            // 49 invalidCredentials; 53 unwillingToPerform (locked, expired) reads the same.
            49 | 53 | 50 | 48 => Err(LdapError::WrongPassword),
            rc => Err(LdapError::Protocol(format!("result code {rc}"))),
        }
    }

    async fn close(mut self, config: &LdapConfig) {
        let _ = tokio::time::timeout(config.timeout, self.ldap.unbind()).await;
    }
}

/// TCP to the first checked address that answers, within `timeout` overall.
async fn connect(
    addresses: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<std::net::TcpStream, String> {
    if addresses.is_empty() {
        return Err("no address to connect to".to_owned());
    }
    let attempt = async {
        let mut last = String::new();
        for ip in addresses {
            match tokio::net::TcpStream::connect(SocketAddr::new(*ip, port)).await {
                Ok(s) => return s.into_std().map_err(|e| e.to_string()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| "timed out".to_owned())?
}

/// Verification always on: the configured CA only, or the platform's roots.
fn tls_config(ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    let roots = match ca_pem {
        Some(pem) => crate::mail::ca_roots(pem).map_err(|e| LdapError::Config(e.to_string()))?,
        None => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(LdapError::Config(
                    "this system has no trusted certificate authorities; paste the directory's CA certificate".to_owned(),
                ));
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::Config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn open_error(place: &str, e: &ldap3::LdapError) -> LdapError {
    tracing::info!(server = %place, error = %e, "LDAP connection failed");
    match e {
        ldap3::LdapError::Io { source } => match tls_cause(source) {
            Some(why) => LdapError::Tls(why),
            None => LdapError::Unreachable(place.to_owned()),
        },
        ldap3::LdapError::LdapResult { result } => LdapError::Tls(format!(
            "the server refused StartTLS (result code {})",
            result.rc
        )),
        ldap3::LdapError::Timeout { .. } => LdapError::Unreachable(place.to_owned()),
        _ => LdapError::Unreachable(place.to_owned()),
    }
}

/// The rustls error inside an I/O error, in words.
fn tls_cause(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?;
    let tls = inner.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            rustls::CertificateError::UnknownIssuer => {
                "the server's certificate is not signed by a trusted CA".to_owned()
            }
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate does not name this host".to_owned()
            }
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_owned()
            }
            other => format!("the server's certificate was refused ({other:?})"),
        },
        other => format!("{other}"),
    })
}

fn op_error(e: ldap3::LdapError) -> LdapError {
    match e {
        ldap3::LdapError::Timeout { .. } => {
            LdapError::Protocol("the directory did not answer in time".to_owned())
        }
        ldap3::LdapError::LdapResult { result } => {
            LdapError::Protocol(format!("result code {}", result.rc))
        }
        other => {
            tracing::info!(error = %other, "LDAP operation failed");
            LdapError::Protocol("the connection failed".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reverse of [`escape_filter_value`], for the property: `\XX` back to bytes.
    fn unescape(s: &str) -> Option<Vec<u8>> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn escaped_values_are_data_only(value in "\\PC*|[*()\\\\\\x00a-z=&|!]{0,24}") {
            let escaped = escape_filter_value(&value);
            // No filter syntax survives: every special byte is behind a backslash escape.
            let mut chars = escaped.chars();
            while let Some(c) = chars.next() {
                prop_assert!(!matches!(c, '*' | '(' | ')' | '\0'), "{escaped:?}");
                if c == '\\' {
                    let hex: String = chars.by_ref().take(2).collect();
                    prop_assert!(hex.len() == 2 && u8::from_str_radix(&hex, 16).is_ok(), "{escaped:?}");
                }
            }
            // And it means exactly the original value.
            prop_assert_eq!(unescape(&escaped), Some(value.as_bytes().to_vec()));
            // The filled template is one equality assertion, whatever the value.
            let filter = user_filter("(uid={username})", &value);
            prop_assert!(ldap3::parse_filter(&filter).is_ok(), "{filter:?}");
        }
    }

    #[test]
    fn classic_injections_are_escaped() {
        assert_eq!(escape_filter_value("*"), "\\2a");
        assert_eq!(
            user_filter("(uid={username})", "alice)(uid=*"),
            "(uid=alice\\29\\28uid=\\2a)"
        );
        assert_eq!(escape_filter_value("a\\b"), "a\\5cb");
        assert_eq!(escape_filter_value("a\0"), "a\\00");
        assert_eq!(escape_filter_value("zoë"), "zoë");
    }

    #[test]
    fn urls_need_tls() {
        assert!(LdapUrl::parse("ldap://dir.example.com", false).is_err());
        let u = LdapUrl::parse("ldap://dir.example.com", true).expect("starttls");
        assert_eq!((u.security, u.port), (LdapSecurity::StartTls, 389));
        let u = LdapUrl::parse("ldaps://10.0.0.5:1636", false).expect("ldaps");
        assert_eq!(
            (u.security, u.port, u.host.as_str()),
            (LdapSecurity::Ldaps, 1636, "10.0.0.5")
        );
        assert!(LdapUrl::parse("ldaps://u:p@dir.example.com", false).is_err());
        assert!(LdapUrl::parse("ldaps://dir.example.com/dc=x", false).is_err());
        assert!(LdapUrl::parse("https://dir.example.com", false).is_err());
    }

    #[test]
    fn templates_are_checked() {
        assert!(validate_filter_template("(uid={username})").is_ok());
        assert!(validate_filter_template("(&(objectClass=person)(uid={username}))").is_ok());
        assert!(validate_filter_template("(uid=alice)").is_err());
        assert!(validate_filter_template("(uid={username}").is_err());
    }

    #[test]
    fn dns_normalise() {
        assert_eq!(
            normalize_dn("CN=Farm-Admins, OU=Groups,DC=farm, DC=test"),
            "cn=farm-admins,ou=groups,dc=farm,dc=test"
        );
    }

    #[tokio::test]
    async fn empty_password_never_connects() {
        // Port 9 on an address nothing listens on: an attempt would fail as Unreachable, not
        // EmptyPassword; the answer proves no connection was tried.
        let config = LdapConfig {
            url: LdapUrl::parse("ldaps://127.0.0.1:9", false).expect("url"),
            connect_to: vec!["127.0.0.1".parse().expect("ip")],
            ca_cert_pem: None,
            bind_dn: "cn=reader".into(),
            bind_password: SecretString::new("x".into()),
            user_base: "dc=x".into(),
            user_filter: "(uid={username})".into(),
            email_attr: "mail".into(),
            name_attr: "cn".into(),
            group_base: "dc=x".into(),
            timeout: Duration::from_secs(1),
        };
        let got = authenticate(&config, "alice", &SecretString::new(String::new())).await;
        assert_eq!(got, Err(LdapError::EmptyPassword));
    }
}
