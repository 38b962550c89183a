//! The session cookie (S2): `__Host-pw_session` with HttpOnly, Secure, SameSite=Lax, Path=/
//! over HTTPS; `pw_session` without Secure on an explicit plain-HTTP deployment.
//!
//! Threats: script access to the token (HttpOnly), the token crossing plain HTTP or being
//! planted by a sibling subdomain (`__Host-` + Secure), cross-site requests (SameSite=Lax;
//! the Origin check for state changes arrives with the HTTP-hardening layer).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::SET_COOKIE;
use pw_app::SecretString;

use crate::enforce::{SESSION_COOKIE, SESSION_COOKIE_PLAIN};

/// The cookie name for this deployment.
#[must_use]
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        SESSION_COOKIE
    } else {
        SESSION_COOKIE_PLAIN
    }
}

fn attributes(https: bool) -> &'static str {
    if https {
        "Path=/; Secure; HttpOnly; SameSite=Lax"
    } else {
        "Path=/; HttpOnly; SameSite=Lax"
    }
}

/// `Set-Cookie` for a new session token.
pub(crate) fn set_session(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={}; {}; Max-Age={}",
        session_cookie_name(https),
        token.expose(),
        attributes(https),
        max_age.as_secs()
    ))
    .ok()
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_session(https: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}=; {}; Max-Age=0",
        session_cookie_name(https),
        attributes(https)
    ))
    .ok()
}

/// The value of the cookie `name`, if the request carries it.
pub(crate) fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
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
/// another browser — the value never reaches script and is only sent by this site's pages.
pub(crate) fn challenge_cookie_name(https: bool) -> &'static str {
    if https { "__Host-pw_mfa" } else { "pw_mfa" }
}

fn challenge_attributes(https: bool) -> &'static str {
    if https {
        "Path=/; Secure; HttpOnly; SameSite=Strict"
    } else {
        "Path=/; HttpOnly; SameSite=Strict"
    }
}

/// `Set-Cookie` for a new challenge.
pub(crate) fn set_challenge(
    https: bool,
    token: &SecretString,
    max_age: Duration,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={}; {}; Max-Age={}",
        challenge_cookie_name(https),
        token.expose(),
        challenge_attributes(https),
        max_age.as_secs()
    ))
    .ok()
}

/// `Set-Cookie` that removes the challenge cookie.
pub(crate) fn clear_challenge(https: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}=; {}; Max-Age=0",
        challenge_cookie_name(https),
        challenge_attributes(https)
    ))
    .ok()
}

/// Adds a `Set-Cookie` header to a response.
pub(crate) fn with_cookie(response: impl IntoResponse, cookie: Option<HeaderValue>) -> Response {
    let mut response = response.into_response();
    if let Some(c) = cookie {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}
