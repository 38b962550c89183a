//! Route-table enforcement: runs for every routed request before its handler. Looks up the
//! row for the matched path and method, resolves the principal from the presented credentials
//! and asks `pw_policy::check_route`.
//!
//! Invariants: a matched path without a row is refused (fail closed); a request carrying an
//! API key header is judged by the key alone and ignores any cookie (threat: a cross-site
//! request riding a victim's cookie while presenting junk in `Authorization`).

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap};
use pw_app::Presented;
use pw_policy::{Access, Decision, DenyReason, Principal, check_route};

use crate::table::rows_for;
use crate::{ApiError, AppState};

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

    let principal = match row.access {
        Access::Public { .. } => Principal::Anonymous,
        _ => state.app.resolve_principal(presented(req.headers())).await,
    };
    match check_route(&principal, &row.access) {
        Decision::Allow => {}
        Decision::Deny(reason) => {
            tracing::info!(route = row.path, ?reason, "access denied by route table");
            return match reason {
                DenyReason::Unauthenticated | DenyReason::CredentialNotAccepted => {
                    ApiError::unauthenticated()
                }
                DenyReason::Disabled | DenyReason::MissingPermission(_) => ApiError::forbidden(),
            }
            .into_response();
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Splits the credentials out of the headers. An API key header wins and hides the cookie.
fn presented(headers: &HeaderMap) -> Presented<'_> {
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
        };
    }
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE || *name == SESSION_COOKIE_PLAIN)
        .map(|(_, value)| value);
    Presented {
        session,
        api_key: None,
    }
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
        assert_eq!(presented(&h).session, Some("sess"));
        h.insert("x-api-key", "pwk_1_x".parse().unwrap());
        let p = presented(&h);
        assert_eq!((p.session, p.api_key), (None, Some("pwk_1_x")));
        h.remove("x-api-key");
        h.insert(header::AUTHORIZATION, "Bearer pwk_2_y".parse().unwrap());
        assert_eq!(presented(&h).api_key, Some("pwk_2_y"));
    }
}
