//! Who is acting and with what: the [`Actor`] policy judges and the audit log names, the
//! request facts that travel with it, and the credentials a request presented.

use std::sync::Arc;

use pw_domain::{SessionId, UserId};
use pw_policy::Principal;

/// Facts about the request an action came in with, for the audit log and session records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client address (after trusted-proxy handling).
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id, to match audit rows with log lines.
    pub request_id: Option<String>,
}

/// Who is acting: the principal policy judges, plus who they are for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// What policy sees.
    pub principal: Principal,
    /// The signed-in user, if known (also while authentication is switched off).
    pub user_id: Option<UserId>,
    /// Name for the audit log: the username, or `anonymous` / `auth-disabled` / `system`.
    pub name: Arc<str>,
    /// The browser session this request came with.
    pub session: Option<SessionId>,
    /// The API key (or camera token) this request came with: what it mints (tickets) is
    /// bound to it.
    pub api_key: Option<pw_domain::ApiKeyId>,
    /// Request facts.
    pub meta: RequestMeta,
}

impl Actor {
    /// Nobody (public routes).
    #[must_use]
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            principal: Principal::Anonymous,
            user_id: None,
            name: Arc::from("anonymous"),
            session: None,
            api_key: None,
            meta,
        }
    }

    /// The queue's dispatcher: the process itself, named `dispatcher` in the audit log.
    #[must_use]
    pub fn dispatcher() -> Self {
        Self {
            name: Arc::from("dispatcher"),
            ..Self::system()
        }
    }

    /// The process itself (CLI commands).
    #[must_use]
    pub fn system() -> Self {
        Self {
            principal: Principal::System,
            user_id: None,
            name: Arc::from("system"),
            session: None,
            api_key: None,
            meta: RequestMeta::default(),
        }
    }
}

/// Credentials presented with a request, already split out by the HTTP layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The session cookie's value, if any.
    pub session: Option<&'a str>,
    /// An API key from `Authorization: Bearer` or `X-API-Key`, if any.
    pub api_key: Option<&'a str>,
    /// A ticket from `?ticket=` (upgrade routes only), if any.
    pub ticket: Option<&'a str>,
}
