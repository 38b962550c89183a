//! The shield: what every request passes before routing decisions — who the client really is
//! (trusted proxies), whether it asked for one of our names (Host allow-list), whether a
//! browser request comes from our own pages (CSRF / WebSocket Origin), and the API rate limit.
//!
//! Invariants:
//! - `X-Forwarded-*` is believed only from a configured proxy, and `X-Forwarded-For` is walked
//!   right to left to the first untrusted hop (threat: the anchors took the leftmost entry,
//!   which any client writes itself, and so let anyone pick their rate-limit key and audit IP).
//! - A Host that is not ours is refused before any handler runs (threat: DNS rebinding, where
//!   a hostile page's name resolves to this server and the browser treats it as same-origin).
//! - A state-changing request that carries our session cookie needs an allowed `Origin` (or
//!   `Referer`), whatever else it carries (threat: a cross-site form or fetch riding the
//!   victim's cookie; the anchors skipped the check when any `Authorization` header was set).
//! - WebSocket upgrades always need an allowed `Origin` (browsers do not apply CORS to them).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use http::header::{self, HeaderMap};
use pw_domain::net::Cidr;

use crate::middleware::limits::{LimitSettings, RateLimits, client_key};
use crate::{ApiError, AppState};

/// What the shield is configured with.
#[derive(Debug, Clone, Default)]
pub struct ShieldSettings {
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Host names (lower case, no port) this server answers to besides IP literals.
    pub allowed_hosts: Vec<String>,
    /// The configured public URL's origin (`https://farm.example.com`), always allowed.
    pub public_origin: Option<String>,
    /// Rate limits.
    pub limits: LimitSettings,
}

/// The shield's live state: settings plus the limiters' counters.
#[derive(Debug)]
pub struct Shield {
    settings: ShieldSettings,
    /// The rate limiters.
    pub limits: RateLimits,
}

impl Shield {
    /// A shield for these settings.
    #[must_use]
    pub fn new(mut settings: ShieldSettings) -> Self {
        for host in &mut settings.allowed_hosts {
            *host = normalise_host(host);
        }
        let limits = RateLimits::new(settings.limits);
        Self { settings, limits }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.settings.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// Who sent the request and how it reached us. `authority` is the request URI's authority
    /// (HTTP/2 carries the host there instead of a `Host` header).
    #[must_use]
    pub fn client(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        authority: Option<&str>,
        https: bool,
    ) -> Client {
        let own_host =
            || last_value(headers, header::HOST.as_str()).or_else(|| authority.map(str::to_owned));
        let direct = |ip| Client {
            ip,
            via_proxy: false,
            scheme: if https { "https" } else { "http" },
            host: own_host(),
        };
        let Some(peer) = peer else {
            // No peer address (an in-process call): nothing to believe either.
            return direct(IpAddr::from([0, 0, 0, 0]));
        };
        if !self.trusts(peer) {
            return direct(peer);
        }
        let mut ip = peer;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(hop) => {
                    ip = hop;
                    if !self.trusts(hop) {
                        break;
                    }
                }
                // Garbage where an address belongs: the last address we could read is the
                // closest we can honestly name.
                None => break,
            }
        }
        let scheme = match last_value(headers, "x-forwarded-proto").as_deref() {
            Some("https") => "https",
            Some("http") => "http",
            _ if https => "https",
            _ => "http",
        };
        Client {
            ip,
            via_proxy: true,
            scheme,
            host: last_value(headers, "x-forwarded-host").or_else(own_host),
        }
    }

    /// Whether `host` (a Host header value, possibly with a port) names this server.
    #[must_use]
    pub fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = host_of(host) else {
            return false;
        };
        name.parse::<IpAddr>().is_ok() || self.settings.allowed_hosts.contains(&name)
    }

    /// Whether `origin` (an `Origin` value or a `Referer` URL) is one of ours: the public URL's
    /// origin, or the scheme and authority the client used to reach us (which already passed
    /// the Host allow-list).
    #[must_use]
    pub fn origin_allowed(&self, origin: &str, client: &Client) -> bool {
        let Some(origin) = origin_of(origin) else {
            return false;
        };
        if self.settings.public_origin.as_deref() == Some(origin.as_str()) {
            return true;
        }
        let Some(host) = client.host.as_deref() else {
            return false;
        };
        let own = format!("{}://{}", client.scheme, host.to_ascii_lowercase());
        origin_of(&own).is_some_and(|own| own == origin)
    }
}

/// The resolved client of a request, stored in its extensions by the shield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address (the peer, or the first untrusted hop behind trusted proxies).
    pub ip: IpAddr,
    /// Whether a trusted proxy forwarded the request.
    pub via_proxy: bool,
    /// `https` or `http` as the client sees us.
    pub scheme: &'static str,
    /// The Host the client asked for (forwarded by a trusted proxy, or the header).
    pub host: Option<String>,
}

/// Rightmost value of a header (a proxy appends; the last one is the nearest proxy's).
fn last_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .map(str::to_owned)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
}

/// Lower case, no trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of a Host header value (`name`, `name:port`, `[v6]:port`), normalised.
fn host_of(value: &str) -> Option<String> {
    let authority: http::uri::Authority = value.trim().parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = normalise_host(host);
    (!host.is_empty()).then_some(host)
}

/// `scheme://host[:port]` of a URL or origin, lower case, default ports dropped; `None` for
/// anything that is not an http(s) origin (including the literal `null`).
fn origin_of(value: &str) -> Option<String> {
    let uri: http::Uri = value.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let host = authority.host().to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The shield middleware (outside routing decisions, inside the edge so refusals get the
/// envelope, a request id and the security headers).
pub(crate) async fn shield(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let shield = Arc::clone(&state.shield);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    let client = shield.client(peer, req.headers(), authority.as_deref(), state.https);

    match client.host.as_deref() {
        Some(host) if shield.host_allowed(host) => {}
        host => {
            tracing::info!(
                host = host.unwrap_or(""),
                "refused a request for a foreign host name"
            );
            return ApiError::misdirected().into_response();
        }
    }

    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_upgrade && !origin_ok(&shield, req.headers(), &client, false) {
        tracing::info!("refused a WebSocket upgrade from a foreign origin");
        return ApiError::forbidden_with("This page may not open a live connection here.")
            .into_response();
    }

    if is_state_changing(req.method()) {
        let has_cookie = crate::middleware::enforce::has_session_cookie(req.headers(), state.https);
        let key_only = !has_cookie
            && crate::middleware::enforce::presented(req.headers(), state.https)
                .api_key
                .is_some();
        // Anonymous requests that name an origin (a cross-site sign-in form) are checked too;
        // a script with neither cookie nor Origin has no ambient authority to abuse.
        if !key_only && !origin_ok(&shield, req.headers(), &client, !has_cookie) {
            tracing::info!(
                has_cookie,
                "refused a state-changing request from a foreign origin (CSRF)"
            );
            return ApiError::forbidden_with(
                "Cross-site request refused: send it from this server's own pages (Origin mismatch).",
            )
            .into_response();
        }
    }

    let api_verdict = if req.uri().path().starts_with("/api/") {
        shield
            .limits
            .api
            .hit(&client_key(client.ip), Instant::now())
    } else {
        None
    };
    if let Some(v) = api_verdict.filter(|v| v.limited) {
        tracing::info!(client = %client.ip, "rate limit reached: API requests");
        let mut response = ApiError::rate_limited().into_response();
        v.write_headers(response.headers_mut());
        return response;
    }

    req.extensions_mut().insert(client);
    let mut response = next.run(req).await;
    if let Some(v) = api_verdict {
        // A handler with its own, stricter limit (sign-in) has already written its headers.
        if !response.headers().contains_key("x-ratelimit-limit") {
            v.write_headers(response.headers_mut());
        }
    }
    response
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Origin` must be ours; without it, a `Referer` must be. `absent_ok` lets a request without
/// either through.
fn origin_ok(shield: &Shield, headers: &HeaderMap, client: &Client, absent_ok: bool) -> bool {
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    match (header_str(header::ORIGIN), header_str(header::REFERER)) {
        (Some(origin), _) => shield.origin_allowed(origin, client),
        (None, Some(referer)) => shield.origin_allowed(referer, client),
        (None, None) => absent_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shield(proxies: &[&str]) -> Shield {
        Shield::new(ShieldSettings {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            allowed_hosts: vec!["localhost".into(), "Farm.Example.com.".into()],
            public_origin: Some("https://farm.example.com".into()),
            limits: LimitSettings::OFF,
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let s = shield(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil.example"),
            ("host", "localhost:3443"),
        ]);
        let c = s.client(Some(ip("192.0.2.9")), &h, None, true);
        assert_eq!(c.ip, ip("192.0.2.9"));
        assert_eq!(c.scheme, "https");
        assert_eq!(c.host.as_deref(), Some("localhost:3443"));
        assert!(!c.via_proxy);
    }

    #[test]
    fn forwarded_for_is_walked_right_to_left_to_the_first_untrusted_hop() {
        let s = shield(&["10.0.0.0/8", "fd00::/8"]);
        // client-written spoof, real client, inner proxy; the peer is the outer proxy.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.5"),
            ("x-forwarded-for", "10.1.1.1"),
        ]);
        let c = s.client(Some(ip("10.0.0.1")), &h, None, false);
        assert_eq!(c.ip, ip("203.0.113.5"));
        assert!(c.via_proxy);
        let h = headers(&[("x-forwarded-for", "[2001:db8::7]:443, fd00::2")]);
        assert_eq!(
            s.client(Some(ip("fd00::1")), &h, None, false).ip,
            ip("2001:db8::7")
        );
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.8.8.8")]);
        assert_eq!(
            s.client(Some(ip("10.0.0.1")), &h, None, false).ip,
            ip("10.9.9.9"),
            "all hops trusted: the leftmost"
        );
        let h = headers(&[("x-forwarded-for", "6.6.6.6, garbage, 10.8.8.8")]);
        assert_eq!(
            s.client(Some(ip("10.0.0.1")), &h, None, false).ip,
            ip("10.8.8.8"),
            "an unreadable hop stops the walk"
        );
        assert_eq!(
            s.client(Some(ip("10.0.0.1")), &HeaderMap::new(), None, false)
                .ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn http2_carries_the_host_in_the_authority() {
        let s = shield(&[]);
        let c = s.client(
            Some(ip("127.0.0.1")),
            &HeaderMap::new(),
            Some("localhost:3443"),
            true,
        );
        assert_eq!(c.host.as_deref(), Some("localhost:3443"));
        let h = headers(&[("host", "127.0.0.1")]);
        let c = s.client(Some(ip("127.0.0.1")), &h, Some("localhost"), true);
        assert_eq!(c.host.as_deref(), Some("127.0.0.1"), "a Host header wins");
    }

    #[test]
    fn a_trusted_proxy_sets_scheme_and_host() {
        let s = shield(&["127.0.0.1"]);
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "farm.example.com"),
            ("host", "127.0.0.1:3000"),
        ]);
        let c = s.client(Some(ip("127.0.0.1")), &h, None, false);
        assert_eq!(
            (c.scheme, c.host.as_deref()),
            ("https", Some("farm.example.com"))
        );
    }

    #[test]
    fn host_allow_list() {
        let s = shield(&[]);
        for ok in [
            "localhost",
            "LOCALHOST:3443",
            "farm.example.com",
            "farm.example.com.:443",
            "127.0.0.1:3443",
            "[::1]:3443",
            "192.168.1.20",
        ] {
            assert!(s.host_allowed(ok), "{ok} refused");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "farm.example.com.evil",
            "",
            "user@localhost",
            "127.0.0.1.nip.io",
        ] {
            assert!(!s.host_allowed(bad), "{bad} allowed");
        }
    }

    #[test]
    fn origins() {
        let s = shield(&[]);
        let client = |scheme, host: &str| Client {
            ip: ip("127.0.0.1"),
            via_proxy: false,
            scheme,
            host: Some(host.to_owned()),
        };
        let local = client("https", "127.0.0.1:3443");
        assert!(s.origin_allowed("https://127.0.0.1:3443", &local));
        assert!(
            s.origin_allowed("https://127.0.0.1:3443/users?x=1", &local),
            "referer"
        );
        assert!(
            s.origin_allowed("https://farm.example.com", &local),
            "public URL"
        );
        assert!(s.origin_allowed("https://FARM.example.com:443", &local));
        assert!(
            !s.origin_allowed("http://127.0.0.1:3443", &local),
            "scheme differs"
        );
        assert!(
            !s.origin_allowed("https://127.0.0.1:3444", &local),
            "port differs"
        );
        assert!(!s.origin_allowed("https://evil.example", &local));
        assert!(!s.origin_allowed("null", &local));
        assert!(!s.origin_allowed("https://127.0.0.1:3443@evil.example", &local));
        let default_port = client("https", "localhost");
        assert!(s.origin_allowed("https://localhost:443", &default_port));
    }
}
