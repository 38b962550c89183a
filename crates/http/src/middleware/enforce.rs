//! Route-table enforcement: runs for every routed request before its handler. Looks up the
//! row for the matched path and method, resolves the principal from the presented credentials
//! and asks `pw_policy::check_route`.
//!
//! Invariants: a matched path without a row is refused (fail closed); a request carrying an
//! API key header is judged by the key alone and ignores any cookie (threat: a cross-site
//! request riding a victim's cookie while presenting junk in `Authorization`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap};
use pw_app::{Presented, RequestMeta};
use pw_policy::{Access, Decision, DenyReason, Principal, check_route};

use crate::middleware::shield::Client;
use crate::table::{Kind, rows_for};
use crate::{ApiError, AppState, RequestId};

/// Session cookie over HTTPS (`__Host-` binds it to this exact origin, Secure, Path=/).
pub const SESSION_COOKIE: &str = "__Host-pw_session";
/// Session cookie for an explicit plain-HTTP deployment.
pub const SESSION_COOKIE_PLAIN: &str = "pw_session";

pub(crate) async fn enforce(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // Unmatched requests (the 404 fallback) carry no MatchedPath and reach no handler.
    let Some(matched) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let method = if req.method() == http::Method::HEAD {
        "GET"
    } else {
        req.method().as_str()
    };
    let mut rows = rows_for(&matched).peekable();
    if rows.peek().is_none() {
        return ApiError::internal(format!(
            "route {matched} is mounted without a route-table row"
        ))
        .into_response();
    }
    let Some(row) = rows.find(|r| r.method == method) else {
        // Known path, other method: the method router answers 405 with `Allow`.
        return next.run(req).await;
    };

    let meta = request_meta(&req);
    // Public routes resolve too (cheaply, from the cache): the login page wants to know who
    // is already signed in, and the audit log wants a name.
    // A ticket counts only on the routes that take tickets, and only without other
    // credentials: anywhere else a `?ticket=` is ignored rather than used up.
    let query_credentials = matches!(row.access, Access::Ticket(_) | Access::Camera { .. });
    let ticket = query_credentials
        .then(|| query_param(req.uri(), "ticket"))
        .flatten();
    // Camera URLs may carry a session token, an API key or a camera token as `?token=` (video
    // players and home-automation integrations cannot send headers). Request logs never show
    // queries.
    let token = matches!(row.access, Access::Camera { .. })
        .then(|| query_param(req.uri(), "token"))
        .flatten();
    let mut credentials = presented(req.headers(), state.https);
    if credentials.api_key.is_none() && credentials.session.is_none() {
        match token.as_deref() {
            Some(t)
                if t.starts_with(pw_app::API_KEY_PREFIX)
                    || t.starts_with(pw_app::CAMERA_TOKEN_PREFIX) =>
            {
                credentials.api_key = Some(t);
            }
            Some(t) => credentials.session = Some(t),
            None => credentials.ticket = ticket.as_deref(),
        }
    }
    let actor = state.app.resolve(credentials, meta).await;
    // Live routes (sockets, streams) keep the credential to re-check it on every revocation.
    let live = query_credentials.then(|| state.app.live_credential(credentials, &actor));
    let principal = match row.access {
        Access::Public { .. } => Principal::Anonymous,
        _ => actor.principal.clone(),
    };
    match check_route(&principal, &row.access) {
        Decision::Allow => {}
        Decision::Deny(reason) => {
            tracing::info!(route = row.path, ?reason, "access denied by route table");
            if row.kind == Kind::Page {
                return page_denied(&state, reason, req.uri());
            }
            return match reason {
                DenyReason::Unauthenticated
                | DenyReason::CredentialNotAccepted
                | DenyReason::Expired => ApiError::unauthenticated(),
                DenyReason::EnrolFirst(r) => ApiError::enrol_first(r),
                DenyReason::Disabled
                | DenyReason::MissingPermission(_)
                | DenyReason::OutOfScope(_)
                | DenyReason::NotOwner => ApiError::forbidden(),
            }
            .into_response();
        }
    }
    req.extensions_mut().insert(actor);
    if let Some(live) = live {
        req.extensions_mut().insert(live);
    }
    next.run(req).await
}

/// A page the visitor may not open: sign in first (or set up), set up the second factor the
/// group requires first (the Account page), or a 403 page.
fn page_denied(state: &AppState, reason: DenyReason, uri: &http::Uri) -> Response {
    match reason {
        DenyReason::Unauthenticated | DenyReason::CredentialNotAccepted | DenyReason::Expired => {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            let location = format!("/login?next={}", crate::percent_encode(next));
            (http::StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        // The enrolment page explains what the group requires and offers the set-up.
        DenyReason::EnrolFirst(_) => (
            http::StatusCode::SEE_OTHER,
            [(header::LOCATION, "/account?enrol=required")],
        )
            .into_response(),
        _ => match &state.error_page {
            Some(render) => render(http::StatusCode::FORBIDDEN),
            None => ApiError::forbidden().into_response(),
        },
    }
}

/// One query parameter's raw value (tickets and tokens are URL-safe, so no decoding).
pub(crate) fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Client facts for the audit log and session records: the address the shield resolved
/// (through trusted proxies), never a raw `X-Forwarded-For`.
fn request_meta(req: &Request) -> RequestMeta {
    RequestMeta {
        ip: req
            .extensions()
            .get::<Client>()
            .map(|c| c.ip.to_string())
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            }),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Splits the credentials out of the headers. An API key header wins and hides the cookie.
/// Only this deployment's cookie name counts: over HTTPS a plain `pw_session` could have been
/// planted by a sibling subdomain or a plain-HTTP response (threat: session fixation by cookie
/// tossing), which the `__Host-` prefix rules out.
pub(crate) fn presented(headers: &HeaderMap, https: bool) -> Presented<'_> {
    let api_key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    if api_key.is_some() {
        return Presented {
            session: None,
            api_key,
            ticket: None,
        };
    }
    Presented {
        session: session_cookie(headers, https),
        api_key: None,
        ticket: None,
    }
}

/// Whether the request carries this deployment's session cookie (even next to a key header).
pub(crate) fn has_session_cookie(headers: &HeaderMap, https: bool) -> bool {
    session_cookie(headers, https).is_some()
}

fn session_cookie(headers: &HeaderMap, https: bool) -> Option<&str> {
    crate::middleware::cookie::cookie(
        headers,
        crate::middleware::cookie::session_cookie_name(https),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_header_hides_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; __Host-pw_session=sess".parse().unwrap(),
        );
        assert_eq!(presented(&h, true).session, Some("sess"));
        h.insert("x-api-key", "pwk_1_x".parse().unwrap());
        let p = presented(&h, true);
        assert_eq!((p.session, p.api_key), (None, Some("pwk_1_x")));
        h.remove("x-api-key");
        h.insert(header::AUTHORIZATION, "Bearer pwk_2_y".parse().unwrap());
        assert_eq!(presented(&h, true).api_key, Some("pwk_2_y"));
    }

    #[test]
    fn only_the_deployments_cookie_name_counts() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "pw_session=tossed".parse().unwrap());
        assert_eq!(presented(&h, true).session, None, "plain name over HTTPS");
        assert_eq!(presented(&h, false).session, Some("tossed"));
        h.insert(header::COOKIE, "__Host-pw_session=real".parse().unwrap());
        assert_eq!(
            presented(&h, false).session,
            None,
            "prefixed name over plain HTTP"
        );
        assert_eq!(presented(&h, true).session, Some("real"));
    }
}
