//! `/account`: the signed-in user's own security — password, two-factor authentication (TOTP
//! with backup codes, emailed codes), sign-in methods (linked OpenID Connect providers: link and
//! unlink, each after the password), mails about one's own prints, active sessions, API keys
//! and camera tokens (S2, S3, S4, S5, S6). Actions go to the JSON API from `static/js/account.js`;
//! a TOTP secret and backup codes exist only in the API's answers, never in this page's HTML.
//! API keys and camera tokens are the API's keyset pages (newest first): `?keys_cursor=` and
//! `?tokens_cursor=` carry each list's opaque cursor, and each list's "Older"/"Newest" links
//! keep the other list's place.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use pw_app::{ApiKeyView, PRINT_EVENTS, SessionView, TemplateName};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{Pager, failure, query_pairs, query_param, render};

/// Default lifetime of a new API key (UI brief: default 90 days from today).
const DEFAULT_KEY_DAYS: u32 = 90;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    username: String,
    /// Empty when none is set.
    display_name: String,
    /// A local account sets its display name here; others get it from their directory or
    /// identity provider.
    local_account: bool,
    email: Option<String>,
    groups: Vec<String>,
    /// An authenticator app (TOTP) is confirmed for this account.
    totp_on: bool,
    /// Emailed sign-in codes are on.
    email_mfa_on: bool,
    /// The viewer may get mails about their prints (`notifications:user_email`).
    can_mail_prints: bool,
    /// The print events, and whether the viewer gets mails about each.
    mail_events: Vec<MailEvent>,
    sessions: Vec<SessionRow>,
    passkeys: Vec<pw_app::PasskeyView>,
    keys: Vec<KeyRow>,
    keys_pager: Pager,
    can_create_keys: bool,
    scopes: Vec<ScopeOption>,
    default_expiry: String,
    max_expiry: Option<String>,
    never_allowed: bool,
    camera_tokens: Vec<CameraTokenRow>,
    tokens_pager: Pager,
    can_create_camera_tokens: bool,
    /// The viewer may link a Bambu Cloud account (`cloud:auth`): the card to its page.
    can_cloud: bool,
    camera_printers: Vec<(String, String)>,
    /// The providers linked to this account.
    oidc_links: Vec<pw_app::OidcLinkView>,
    /// Enabled providers not linked yet ("Link").
    oidc_available: Vec<pw_app::OidcProviderButton>,
    /// Back from a provider: `linked` or `taken` (the identity belongs to another account).
    oidc_notice: String,
    /// The session must first set up the second factor its group requires (issue 19): the
    /// explanation; the page then shows only the set-up sections.
    enrol_first: Option<&'static str>,
}

struct MailEvent {
    name: &'static str,
    label: &'static str,
    checked: bool,
}

fn mail_event_label(name: TemplateName) -> &'static str {
    match name {
        TemplateName::PrintStarted => "A print of mine starts",
        TemplateName::PrintCompleted => "A print of mine finishes",
        TemplateName::PrintFailed => "A print of mine fails",
        TemplateName::PrintStopped => "A print of mine is stopped",
        TemplateName::QueueFailed => "A queue item I added fails",
        TemplateName::Welcome | TemplateName::PasswordReset => "",
    }
}

struct CameraTokenRow {
    id: String,
    name: String,
    printers: String,
    prefix: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    expired: bool,
}

struct SessionRow {
    id: String,
    current: bool,
    device: String,
    user_agent: String,
    ip: String,
    created_at: String,
    last_seen_at: String,
}

struct KeyRow {
    id: String,
    name: String,
    scopes: Vec<&'static str>,
    prefix: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    expired: bool,
}

struct ScopeOption {
    name: &'static str,
    label: &'static str,
}

impl From<SessionView> for SessionRow {
    fn from(s: SessionView) -> Self {
        let user_agent = s.user_agent.unwrap_or_default();
        Self {
            id: s.id.to_string(),
            current: s.current,
            device: describe_user_agent(&user_agent),
            user_agent,
            ip: s.ip.unwrap_or_else(|| "unknown".to_owned()),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
        }
    }
}

impl From<ApiKeyView> for KeyRow {
    fn from(k: ApiKeyView) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            scopes: k.scopes.iter().map(|p| p.as_str()).collect(),
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            expired: k.expired,
        }
    }
}

/// The two paged lists of the page and the query parameter carrying each one's cursor.
const KEYS_CURSOR: &str = "keys_cursor";
const TOKENS_CURSOR: &str = "tokens_cursor";

/// Links for one of the page's paged lists: the newest page of it (when on a later one) and
/// its next page, each keeping the other list's cursor and jumping to the list (`#anchor`).
fn list_pager(
    mine: &str,
    other: (&str, Option<&str>),
    current: Option<&str>,
    next: Option<&str>,
    anchor: &str,
) -> Pager {
    let href = |cursor: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let (name, Some(c)) = other {
            q.append_pair(name, c);
        }
        if let Some(c) = cursor {
            q.append_pair(mine, c);
        }
        let query = q.finish();
        if query.is_empty() {
            format!("/account#{anchor}")
        } else {
            format!("/account?{query}#{anchor}")
        }
    };
    Pager {
        first_href: current.is_some().then(|| href(None)),
        next_href: next.map(|n| href(Some(n))),
    }
}

/// `GET /account[?keys_cursor=&tokens_cursor=]`.
pub(crate) async fn account_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/account"),
    };
    let pairs = query_pairs(query.as_deref());
    let cursor = |name: &str| query_param(&pairs, name).filter(|c| !c.is_empty());
    let (keys_at, tokens_at) = (cursor(KEYS_CURSOR), cursor(TOKENS_CURSOR));
    let params = |c: Option<&str>| pw_app::PageParams {
        limit: None,
        cursor: c.map(str::to_owned),
    };
    let enrol_first = viewer.me().and_then(|m| m.enrol_first);
    let loaded = async {
        let passkeys = app.passkeys(&actor).await?;
        if enrol_first.is_some() {
            // Everything but enrolling is refused to this session: load only what it may see.
            return Ok::<_, pw_app::AppError>((
                Vec::new(),
                None,
                None,
                passkeys,
                Vec::new(),
                Vec::new(),
            ));
        }
        let sessions = app.list_sessions(&actor).await?;
        let keys = app.api_keys_page(&actor, false, &params(keys_at)).await?;
        let tokens = app.camera_tokens_page(&actor, &params(tokens_at)).await?;
        let links = app.oidc_links(&actor).await?;
        let providers = app.oidc_buttons().await?;
        Ok((
            sessions,
            Some(keys),
            Some(tokens),
            passkeys,
            links,
            providers,
        ))
    }
    .await;
    let (sessions, keys, tokens, passkeys, oidc_links, providers) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &viewer, &request_id, "/account"),
    };
    let keys_pager = list_pager(
        KEYS_CURSOR,
        (TOKENS_CURSOR, tokens_at),
        keys_at,
        keys.as_ref().and_then(|k| k.next.as_deref()),
        "api-keys",
    );
    let tokens_pager = list_pager(
        TOKENS_CURSOR,
        (KEYS_CURSOR, keys_at),
        tokens_at,
        tokens.as_ref().and_then(|t| t.next.as_deref()),
        "camera-tokens",
    );
    let Some(me) = viewer.me() else {
        return failure(
            pw_app::AppError::Unauthenticated,
            &state,
            &viewer,
            &request_id,
            "/account",
        );
    };
    // Only an administrator may read the key limit; everyone else learns it from the
    // server's answer if their choice is outside it.
    let max_days = app
        .get_security_settings(&actor)
        .ok()
        .and_then(|s| s.api_key_max_days);
    let today = time::OffsetDateTime::now_utc().date();
    let days_from_today = |days: u32| {
        today
            .checked_add(time::Duration::days(i64::from(days)))
            .map_or_else(String::new, |d| d.to_string())
    };
    // The printers whose cameras the viewer may watch: the choices for a token's list.
    let printers: Vec<(String, String)> = if viewer.can(Permission::CameraTokens) {
        app.list_printers(&actor)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.id.to_string(), p.name))
            .collect()
    } else {
        Vec::new()
    };
    let printer_name = |id: &pw_domain::PrinterId| {
        printers
            .iter()
            .find(|(p, _)| *p == id.to_string())
            .map_or_else(|| format!("#{id}"), |(_, n)| n.clone())
    };
    let camera_tokens = tokens
        .map(|t| t.items)
        .unwrap_or_default()
        .into_iter()
        .map(|t| CameraTokenRow {
            id: t.id.to_string(),
            printers: t.printer_ids.as_ref().map_or_else(
                || "All".to_owned(),
                |ids| ids.iter().map(printer_name).collect::<Vec<_>>().join(", "),
            ),
            name: t.name,
            prefix: t.prefix,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            expired: t.expired,
        })
        .collect();
    let can_mail_prints = viewer.can(Permission::NotificationsUserEmail);
    let chosen = if can_mail_prints {
        match app.mail_preferences(&actor).await {
            Ok(p) => p.events,
            Err(e) => return failure(e, &state, &viewer, &request_id, "/account"),
        }
    } else {
        Vec::new()
    };
    let mail_events = PRINT_EVENTS
        .into_iter()
        .map(|e| MailEvent {
            name: e.as_str(),
            label: mail_event_label(e),
            checked: chosen.contains(&e),
        })
        .collect();
    let oidc_available = providers
        .into_iter()
        .filter(|p| !oidc_links.iter().any(|l| l.provider_id == p.id))
        .collect();
    // Only the two words the callback sends; anything else shows nothing.
    let oidc_notice = match query_param(&pairs, "oidc") {
        Some(n @ ("linked" | "taken")) => n.to_owned(),
        _ => String::new(),
    };
    let page = AccountPage {
        enrol_first: enrol_first.map(pw_domain::SignInRequirement::explain),
        oidc_links,
        oidc_available,
        oidc_notice,
        email_mfa_on: me.mfa.email,
        can_mail_prints,
        mail_events,
        camera_tokens,
        can_create_camera_tokens: viewer.can(Permission::CameraTokens),
        can_cloud: viewer.can(Permission::CloudAuth),
        camera_printers: printers,
        username: me.username.clone().unwrap_or_default(),
        display_name: me.display_name.clone().unwrap_or_default(),
        local_account: me.auth_source.as_deref() == Some("local"),
        email: me.email.clone(),
        groups: me.groups.iter().map(|g| g.name.clone()).collect(),
        totp_on: me.mfa.totp,
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
        passkeys,
        keys: keys
            .map(|k| k.items)
            .unwrap_or_default()
            .into_iter()
            .map(KeyRow::from)
            .collect(),
        keys_pager,
        tokens_pager,
        can_create_keys: viewer.can(Permission::ApiKeysCreate),
        // S3: a key can carry only rights its owner holds, so only those are offered.
        scopes: viewer
            .permissions()
            .iter()
            .map(|p| ScopeOption {
                name: p.as_str(),
                label: p.label(),
            })
            .collect(),
        default_expiry: days_from_today(
            max_days.map_or(DEFAULT_KEY_DAYS, |m| m.min(DEFAULT_KEY_DAYS)),
        ),
        max_expiry: max_days.map(days_from_today),
        never_allowed: max_days.is_none(),
        layout: Layout::new(app, &viewer).with_module("js/account.js"),
    };
    render(&page, &request_id)
}

/// A short, human name for a browser from its user agent ("Firefox on Linux"); the full
/// string stays available as a tooltip. Order matters: Edge and Opera also say "Chrome",
/// Chrome also says "Safari", Android also says "Linux".
pub(crate) fn describe_user_agent(ua: &str) -> String {
    if ua.trim().is_empty() {
        return "Unknown device".to_owned();
    }
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("node", "Node.js"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Browser on {o}"),
        (None, None) => ua.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::{describe_user_agent, list_pager};

    #[test]
    fn list_links_keep_the_other_lists_place() {
        let p = list_pager(
            "keys_cursor",
            ("tokens_cursor", Some("T1")),
            Some("K1"),
            Some("K2"),
            "api-keys",
        );
        assert_eq!(
            p.first_href.as_deref(),
            Some("/account?tokens_cursor=T1#api-keys")
        );
        assert_eq!(
            p.next_href.as_deref(),
            Some("/account?tokens_cursor=T1&keys_cursor=K2#api-keys")
        );
        let p = list_pager("tokens_cursor", ("keys_cursor", None), None, None, "x");
        assert!(!p.paged());
    }

    #[test]
    fn user_agents_get_short_names() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(describe_user_agent(ua), want, "{ua}");
        }
    }
}
