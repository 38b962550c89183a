//! Our cookies: the session (S2), `__Host-pw_session` with HttpOnly, Secure, SameSite=Lax,
//! Path=/ over HTTPS, `pw_session` without Secure on an explicit plain-HTTP deployment; and the
//! sign-in challenge (S4), `__Host-pw_mfa`, the same but SameSite=Strict; a passkey ceremony,
//! `__Host-pw_passkey`, also SameSite=Strict; and the OpenID Connect binding (S6),
//! `__Host-pw_oidc`, SameSite=Lax (the provider's redirect back is a cross-site top-level GET,
//! which Strict would strip), ten minutes.
//!
//! Threats: script access to the token (HttpOnly), the token crossing plain HTTP or being
//! planted by a sibling subdomain (`__Host-` + Secure), cross-site requests (SameSite=Lax;
//! the Origin check for state changes arrives with the HTTP-hardening layer).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::SET_COOKIE;
use pw_app::SecretString;

use crate::middleware::enforce::{SESSION_COOKIE, SESSION_COOKIE_PLAIN};

/// The cookie name for this deployment.
#[must_use]
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        SESSION_COOKIE
    } else {
        SESSION_COOKIE_PLAIN
    }
}

/// Which of our cookies: they differ in name and `SameSite`, never in the other protections.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The session: SameSite=Lax, so following a link to a page keeps one signed in.
    Session,
    /// The sign-in challenge: SameSite=Strict, only our own pages send it.
    Challenge,
    /// The browser binding of an OpenID Connect flow: SameSite=Lax, the provider sends the
    /// browser back with a top-level GET.
    Oidc,
    /// A passkey ceremony under way: SameSite=Strict, like the challenge.
    Passkey,
}

impl Kind {
    fn name(self, https: bool) -> &'static str {
        match (self, https) {
            (Kind::Session, _) => session_cookie_name(https),
            (Kind::Challenge, true) => "__Host-pw_mfa",
            (Kind::Challenge, false) => "pw_mfa",
            (Kind::Oidc, true) => "__Host-pw_oidc",
            (Kind::Oidc, false) => "pw_oidc",
            (Kind::Passkey, true) => "__Host-pw_passkey",
            (Kind::Passkey, false) => "pw_passkey",
        }
    }

    fn set(self, https: bool, value: &str, max_age: u64) -> Option<HeaderValue> {
        let same_site = match self {
            Kind::Session | Kind::Oidc => "Lax",
            Kind::Challenge | Kind::Passkey => "Strict",
        };
        let secure = if https { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/{secure}; HttpOnly; SameSite={same_site}; Max-Age={max_age}",
            self.name(https)
        ))
        .ok()
    }
}

/// `Set-Cookie` for a new session token.
pub(crate) fn set_session(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    Kind::Session.set(https, token.expose(), max_age.as_secs())
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_session(https: bool) -> Option<HeaderValue> {
    Kind::Session.set(https, "", 0)
}

/// The value of the cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The sign-in challenge cookie (between a correct password and the second factor):
/// `__Host-pw_mfa`, HttpOnly, SameSite=Strict, five minutes. Threat: a challenge usable from
/// another browser or by script — the value never reaches script and only our pages send it.
pub fn challenge_cookie_name(https: bool) -> &'static str {
    Kind::Challenge.name(https)
}

/// `Set-Cookie` for a new challenge.
pub(crate) fn set_challenge(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    Kind::Challenge.set(https, token.expose(), max_age.as_secs())
}

/// `Set-Cookie` that removes the challenge cookie.
pub(crate) fn clear_challenge(https: bool) -> Option<HeaderValue> {
    Kind::Challenge.set(https, "", 0)
}

/// The OpenID Connect binding cookie's name. Threat: login CSRF — a callback is only
/// accepted from the browser that started the flow (its value's digest is in the state row).
pub(crate) fn oidc_cookie_name(https: bool) -> &'static str {
    Kind::Oidc.name(https)
}

/// `Set-Cookie` for a new OpenID Connect flow.
pub(crate) fn set_oidc(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    Kind::Oidc.set(https, token.expose(), max_age.as_secs())
}

/// `Set-Cookie` that removes the OpenID Connect cookie (it is single-use like its state).
pub(crate) fn clear_oidc(https: bool) -> Option<HeaderValue> {
    Kind::Oidc.set(https, "", 0)
}

/// The passkey ceremony cookie (`__Host-pw_passkey`, HttpOnly, SameSite=Strict, five
/// minutes): binds a WebAuthn challenge to the browser that asked for it. Threat: a challenge
/// (and so a signed response) carried to another browser.
pub(crate) fn passkey_cookie_name(https: bool) -> &'static str {
    Kind::Passkey.name(https)
}

/// `Set-Cookie` for a new passkey ceremony.
pub(crate) fn set_passkey(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    Kind::Passkey.set(https, token.expose(), max_age.as_secs())
}

/// `Set-Cookie` that removes the passkey ceremony cookie.
pub(crate) fn clear_passkey(https: bool) -> Option<HeaderValue> {
    Kind::Passkey.set(https, "", 0)
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn with_cookie(response: impl IntoResponse, cookie: Option<HeaderValue>) -> Response {
    let mut response = response.into_response();
    if let Some(c) = cookie {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}
