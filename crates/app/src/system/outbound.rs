//! The SSRF guard (SPEC S7): the only way to build an HTTP client for requests a user can
//! point somewhere (webhooks now; notification providers, plugins and OIDC later).
//!
//! Invariants:
//! - only `http`/`https` URLs without credentials;
//! - names are resolved by us, and a connection is refused when *any* answer is a blocked
//!   address ([`pw_domain::outbound::blocked`]) unless the host is on the admin's allow-list;
//! - the client connects to exactly the addresses that were checked: the checking resolver is
//!   the client's resolver, so there is no second lookup a rebinding name server could answer
//!   differently (threat: DNS rebinding, a public answer for the check and 127.0.0.1 for the
//!   connection);
//! - IP literals never reach a resolver, so they are checked before the request and on every
//!   redirect hop, together with the scheme;
//! - what a name server answered never reaches the user: a name that does not resolve, that
//!   resolves into blocked space, or where nothing answers reads the same ([`unreachable`]);
//!   the details go to the log;
//! - answers are capped in size and every request in time; environment proxies are ignored.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use pw_domain::net::Cidr;
use pw_domain::outbound::{Blocked, blocked};

/// Redirect hops followed at most.
pub const MAX_REDIRECTS: usize = 5;
/// Longest a whole outbound request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer body read.
pub const MAX_BODY: usize = 64 * 1024;

/// Why an outbound request was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a URL.
    #[error("not a valid URL")]
    NotAUrl,
    /// Only http and https.
    #[error("only http:// and https:// URLs are allowed, not {0}://")]
    Scheme(String),
    /// `user:pass@` in the URL.
    #[error("URLs with a user name or password are not allowed")]
    Credentials,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// The host is, or resolves to, a blocked address. Shown, a name says no more than
    /// [`Refusal::Unresolvable`] does (threat: the answers of the internal name server read
    /// back through an error message); the address is in `Debug`, for the log.
    #[error("{}", blocked_text(.host, .how, .ip, .why))]
    Blocked {
        /// The host as written.
        host: String,
        /// "is" for a literal, "resolves to" for a name.
        how: &'static str,
        /// The blocked address.
        ip: IpAddr,
        /// Its category.
        why: Blocked,
    },
    /// The name does not resolve. Shown exactly like a name with a blocked answer; the
    /// resolver's words are in `Debug`, for the log.
    #[error("{}", unreachable(.host))]
    Unresolvable {
        /// The host.
        host: String,
        /// The resolver's message.
        cause: String,
    },
    /// Too many redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// The one answer for a host name that cannot be reached, whatever the reason: it does not
/// resolve, it resolves into blocked space, or nothing answers there.
#[must_use]
pub fn unreachable(host: &str) -> String {
    format!(
        "could not reach {host}; check the address (a host on your own network must be on the \
         allowed private hosts, Settings → Security)"
    )
}

fn blocked_text(host: &str, how: &str, ip: &IpAddr, why: &Blocked) -> String {
    if how == "is" {
        // A literal: the caller wrote the address, so naming it tells them nothing new.
        format!(
            "{host} is {ip}, {why}; an administrator can allow private hosts for LAN integrations"
        )
    } else {
        unreachable(host)
    }
}

impl Refusal {
    /// Whether the refusal came from a name server's answer (or its silence) rather than from
    /// what the caller wrote: such refusals read like any other failure to reach the host.
    #[must_use]
    pub fn is_from_dns(&self) -> bool {
        matches!(
            self,
            Refusal::Unresolvable { .. }
                | Refusal::Blocked {
                    how: "resolves to",
                    ..
                }
        )
    }
}

/// Hosts an administrator allows despite a private address (LAN integrations): names (exact,
/// case-insensitive) and address ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    names: Vec<String>,
    nets: Vec<Cidr>,
}

impl AllowList {
    /// Parses entries: CIDRs or IP addresses, otherwise host names.
    #[must_use]
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry
                .as_ref()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            match entry.parse::<Cidr>() {
                Ok(net) => list.nets.push(net),
                Err(_) => list.names.push(entry),
            }
        }
        list
    }

    fn allows(&self, host: &str, ip: IpAddr) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&host) || self.nets.iter().any(|n| n.contains(ip))
    }
}

/// A name resolver. Production uses the system's; tests answer what they want.
pub trait Resolve: Send + Sync + fmt::Debug {
    /// The addresses of `host`.
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'static>>;
}

/// The operating system's resolver (getaddrinfo on a blocking thread, via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'static>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The guard: an allow-list and a resolver.
#[derive(Debug, Clone)]
pub struct Guard {
    resolver: Arc<dyn Resolve>,
    allow: Arc<AllowList>,
}

impl Guard {
    /// A guard over this resolver and allow-list.
    #[must_use]
    pub fn new(resolver: Arc<dyn Resolve>, allow: AllowList) -> Self {
        Self {
            resolver,
            allow: Arc::new(allow),
        }
    }

    /// Checks what can be checked without DNS: scheme, credentials, and literal addresses.
    /// Names are checked when the client resolves them.
    pub fn check_url(&self, url: &str) -> Result<url::Url, Refusal> {
        let url = url::Url::parse(url.trim()).map_err(|_| Refusal::NotAUrl)?;
        check_static(&url, &self.allow)?;
        Ok(url)
    }

    /// The checked addresses of a bare host (a name or an IP literal, `[…]` allowed) for a
    /// connection that is not HTTP (SMTP): a literal is judged as it is, a name is resolved
    /// and every answer checked. Connect only to what this returns.
    pub async fn check_host(&self, host: &str) -> Result<Vec<IpAddr>, Refusal> {
        let host = host.trim().trim_end_matches('.');
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if bare.is_empty() {
            return Err(Refusal::NoHost);
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return match blocked(ip) {
                Some(why) if !self.allow.allows(bare, ip) => Err(Refusal::Blocked {
                    host: bare.to_owned(),
                    how: "is",
                    ip,
                    why,
                }),
                _ => Ok(vec![ip]),
            };
        }
        self.resolve_checked(bare).await
    }

    /// Resolves `host` and checks every answer (what the client's resolver does).
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, Refusal> {
        resolve_checked(self.resolver.as_ref(), &self.allow, host).await
    }

    /// An HTTP client bound to this guard: its resolver checks every answer, its redirect
    /// policy re-checks every hop, proxies from the environment are ignored, and requests time
    /// out after [`TIMEOUT`].
    pub fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        self.builder().build()
    }

    /// [`Guard::client`] that trusts exactly the CA certificates in `ca_pem` instead of the
    /// platform's roots (an internal service with a private CA, such as an OpenID provider).
    pub fn client_trusting(&self, ca_pem: &str) -> Result<reqwest::Client, reqwest::Error> {
        let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())?;
        self.builder().tls_certs_only(certs).build()
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        let allow = Arc::clone(&self.allow);
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Refusal::TooManyRedirects);
            }
            match check_static(attempt.url(), &allow) {
                Ok(()) => attempt.follow(),
                Err(refusal) => attempt.error(refusal),
            }
        });
        // reqwest is built without a default TLS provider (ring only, never aws-lc); make sure
        // the process has ring installed even when no server installed it first (tests, CLI).
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckingResolver(self.clone())))
            .redirect(redirect)
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
    }
}

/// Scheme, credentials and literal-address checks of one URL.
fn check_static(url: &url::Url, allow: &AllowList) -> Result<(), Refusal> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(Refusal::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    // The WHATWG parser already turned decimal, hex and octal IPv4 spellings into addresses.
    let (host, ip) = match url.host() {
        None => return Err(Refusal::NoHost),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(v4)) => (v4.to_string(), IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => (format!("[{v6}]"), IpAddr::V6(v6)),
    };
    match blocked(ip) {
        Some(why) if !allow.allows(&host, ip) => Err(Refusal::Blocked {
            host,
            how: "is",
            ip,
            why,
        }),
        _ => Ok(()),
    }
}

async fn resolve_checked(
    resolver: &dyn Resolve,
    allow: &AllowList,
    host: &str,
) -> Result<Vec<IpAddr>, Refusal> {
    let ips = resolver
        .lookup(host)
        .await
        .map_err(|e| Refusal::Unresolvable {
            host: host.to_owned(),
            cause: e.to_string(),
        })?;
    if ips.is_empty() {
        return Err(Refusal::Unresolvable {
            host: host.to_owned(),
            cause: "no addresses".to_owned(),
        });
    }
    // Any blocked answer refuses the whole name: a client may pick any of them.
    for ip in &ips {
        if let Some(why) = blocked(*ip)
            && !allow.allows(host, *ip)
        {
            return Err(Refusal::Blocked {
                host: host.to_owned(),
                how: "resolves to",
                ip: *ip,
                why,
            });
        }
    }
    Ok(ips)
}

/// The client's resolver: resolve, check, hand back exactly the checked addresses.
#[derive(Debug)]
struct CheckingResolver(Guard);

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let ips = guard.resolve_checked(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Reads at most [`MAX_BODY`] bytes of an answer; says whether more was cut off. A hostile
/// endpoint cannot make us buffer an endless body.
pub async fn read_capped(
    mut response: reqwest::Response,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The refusal behind a failed request, if the guard caused it.
#[must_use]
pub fn refusal_of<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow: &[&str]) -> Guard {
        Guard::new(Arc::new(SystemResolver), AllowList::new(allow))
    }

    #[test]
    fn literal_spellings_of_blocked_addresses_are_refused() {
        let g = guard(&[]);
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://0.0.0.0:8080/",
            "http://10.0.0.1/",
            "http://100.64.1.1/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://[64:ff9b::7f00:1]/",
        ] {
            match g.check_url(url) {
                Err(Refusal::Blocked { how: "is", .. }) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn schemes_credentials_and_garbage_are_refused() {
        let g = guard(&[]);
        assert_eq!(
            g.check_url("file:///etc/passwd"),
            Err(Refusal::Scheme("file".into()))
        );
        assert_eq!(
            g.check_url("gopher://example.com/"),
            Err(Refusal::Scheme("gopher".into()))
        );
        assert_eq!(
            g.check_url("https://user:pw@example.com/"),
            Err(Refusal::Credentials)
        );
        assert_eq!(g.check_url("not a url"), Err(Refusal::NotAUrl));
        assert!(g.check_url("https://hooks.example.com/x").is_ok());
        assert!(g.check_url("http://8.8.8.8/").is_ok());
    }

    #[test]
    fn the_allow_list_opens_named_hosts_and_ranges_only() {
        let g = guard(&["192.168.1.0/24", "NAS.lan."]);
        assert!(g.check_url("http://192.168.1.20/").is_ok());
        assert!(g.check_url("http://192.168.2.20/").is_err());
        assert!(g.check_url("http://127.0.0.1/").is_err());
        let list = AllowList::new(&["nas.lan"]);
        assert!(list.allows("NAS.LAN.", "10.0.0.5".parse().unwrap()));
        assert!(!list.allows("other.lan", "10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn messages_say_what_and_why() {
        let g = guard(&[]);
        let e = g.check_url("http://[::ffff:7f00:1]/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "[::ffff:127.0.0.1] is ::ffff:127.0.0.1, a loopback address; an administrator can allow private hosts for LAN integrations"
        );
    }
}
