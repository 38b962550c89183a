//! `/audit`: the audit log, newest first, with filters and "Older" paging (S2). Filters are a
//! plain GET form parsed here; "Older" carries the API's opaque page cursor (`?cursor=`) with
//! the filters. A bad filter, limit or cursor shows its message on the page (a 400), never a
//! 500.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use pw_app::{AppError, AuditEvent, AuditQuery, AuditView};
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, query_pairs, query_param, render};

/// Longest rendering of an event's details in the table; the rest is in the API.
const DETAILS_MAX_CHARS: usize = 240;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    filters: Filters,
    /// Event names offered in the filter's suggestion list (free text is accepted too): the
    /// whole catalogue, so a new event is offered without a second list.
    known_events: Vec<&'static str>,
    error: Option<String>,
    rows: Vec<AuditRow>,
    older_href: Option<String>,
    /// The first page with the same filters, when this is a later one.
    newest_href: Option<String>,
}

/// The filter form as the visitor sent it, normalised for re-display.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Filters {
    actor: String,
    event: String,
    /// RFC 3339 as sent to the use case ("" = none).
    since: String,
    until: String,
    /// The same instants for `<input type="datetime-local">` (UTC wall time; the page's
    /// script shows them in the reader's zone).
    since_input: String,
    until_input: String,
    /// The page cursor (the API's `next` of the previous page), as sent.
    cursor: Option<String>,
    /// The page size, as sent (the use case checks it).
    limit: Option<String>,
}

struct AuditRow {
    at: String,
    actor: String,
    event: String,
    target: String,
    success: bool,
    ip: String,
    details: String,
}

/// `GET /audit?actor=&event=&since=&until=&limit=&cursor=`.
pub(crate) async fn audit_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/audit"),
    };
    let pairs = query_pairs(query.as_deref());
    let (filters, parse_error) = parse_filters(&pairs);
    let mut page = AuditPage {
        layout: Layout::new(app, &viewer).with_module("js/audit.js"),
        known_events: event_suggestions(),
        error: parse_error,
        rows: Vec::new(),
        older_href: None,
        newest_href: filters.cursor.is_some().then(|| page_href(&filters, None)),
        filters,
    };
    if page.error.is_none() {
        let q = AuditQuery {
            actor: Some(page.filters.actor.clone()),
            event: Some(page.filters.event.clone()),
            since: Some(page.filters.since.clone()),
            until: Some(page.filters.until.clone()),
            limit: page.filters.limit.clone(),
            cursor: page.filters.cursor.clone(),
        };
        match app.list_audit(&actor, q).await {
            Ok(result) => {
                page.older_href = result
                    .next
                    .as_deref()
                    .map(|n| page_href(&page.filters, Some(n)));
                page.rows = result.items.into_iter().map(row).collect();
            }
            Err(AppError::BadRequest(m)) => page.error = Some(m),
            Err(e) => return failure(e, &state, &viewer, &request_id, "/audit"),
        }
    }
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, render(&page, &request_id)).into_response()
}

/// The event filter's suggestions: every event of the typed catalogue, in catalogue order
/// (never a list of its own, so a new event is offered as soon as it exists).
fn event_suggestions() -> Vec<&'static str> {
    AuditEvent::names()
}

fn parse_filters(pairs: &[(String, String)]) -> (Filters, Option<String>) {
    let text = |name: &str| -> String { query_param(pairs, name).unwrap_or("").trim().to_owned() };
    let mut errors = Vec::new();
    let mut time = |name: &str| -> (String, String) {
        let raw = text(name);
        if raw.is_empty() {
            return (String::new(), String::new());
        }
        let rfc = normalise_time(&raw);
        match pw_app::parse_rfc3339(&rfc) {
            Some(ms) => (rfc, input_value(ms)),
            None => {
                errors.push(format!(
                    "“{name}” must be a date and time, e.g. 2026-11-23T08:00 (UTC) or 2026-11-23T08:00:00+01:00."
                ));
                (raw, String::new())
            }
        }
    };
    let (since, since_input) = time("since");
    let (until, until_input) = time("until");
    let given = |name: &str| Some(text(name)).filter(|v| !v.is_empty());
    let cursor = given("cursor");
    let limit = given("limit");
    let filters = Filters {
        actor: text("actor"),
        event: text("event"),
        since,
        until,
        since_input,
        until_input,
        cursor,
        limit,
    };
    let error = (!errors.is_empty()).then(|| errors.join(" "));
    (filters, error)
}

/// A `datetime-local` value (`2026-11-23T08:00` or with seconds) has no zone: without the
/// page's script (which converts local time to UTC) it is read as UTC. Anything else is
/// passed on as RFC 3339.
fn normalise_time(raw: &str) -> String {
    let naive = raw.len() >= 16
        && raw.as_bytes().get(10) == Some(&b'T')
        && !raw.ends_with(['Z', 'z'])
        && !raw.get(11..).is_some_and(|t| t.contains(['+', '-']));
    match raw.len() {
        16 if naive => format!("{raw}:00Z"),
        19 if naive => format!("{raw}Z"),
        _ => raw.to_owned(),
    }
}

/// Milliseconds since the epoch as a `datetime-local` value in UTC.
fn input_value(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// A link to a page with the same filters: the page at `cursor`, or the newest page.
fn page_href(f: &Filters, cursor: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("actor", &f.actor),
        ("event", &f.event),
        ("since", &f.since),
        ("until", &f.until),
    ] {
        if !value.is_empty() {
            q.append_pair(name, value);
        }
    }
    if let Some(limit) = &f.limit {
        q.append_pair("limit", limit);
    }
    if let Some(cursor) = cursor {
        q.append_pair("cursor", cursor);
    }
    let query = q.finish();
    if query.is_empty() {
        "/audit".to_owned()
    } else {
        format!("/audit?{query}")
    }
}

fn row(e: AuditView) -> AuditRow {
    let target = match (e.target_type, e.target_id) {
        (Some(t), Some(id)) => format!("{t} #{id}"),
        (Some(t), None) => t,
        (None, Some(id)) => format!("#{id}"),
        (None, None) => String::new(),
    };
    AuditRow {
        at: e.at,
        actor: e.actor,
        event: e.event,
        target,
        success: e.success,
        ip: e.ip.unwrap_or_default(),
        details: compact_details(&e.details),
    }
}

/// `{"name":"ci","scopes":["audit:read"]}` → `name=ci, scopes=[audit:read]`: readable in a
/// table cell, cut at [`DETAILS_MAX_CHARS`].
fn compact_details(details: &serde_json::Value) -> String {
    fn value(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => {
                format!(
                    "[{}]",
                    items.iter().map(value).collect::<Vec<_>>().join(", ")
                )
            }
            serde_json::Value::Object(map) => format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("{k}={}", value(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
    let text = match details {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", value(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => value(other),
    };
    if text.chars().count() > DETAILS_MAX_CHARS {
        let mut cut: String = text.chars().take(DETAILS_MAX_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn datetime_local_values_are_read_as_utc_and_rfc3339_passes_through() {
        assert_eq!(normalise_time("2026-11-23T08:00"), "2026-11-23T08:00:00Z");
        assert_eq!(
            normalise_time("2026-11-23T08:00:05"),
            "2026-11-23T08:00:05Z"
        );
        assert_eq!(
            normalise_time("2026-11-23T08:00:00Z"),
            "2026-11-23T08:00:00Z"
        );
        assert_eq!(
            normalise_time("2026-11-23T08:00:00+01:00"),
            "2026-11-23T08:00:00+01:00"
        );
        assert_eq!(normalise_time("yesterday"), "yesterday");
    }

    #[test]
    fn filters_parse_and_bad_ones_become_one_message() {
        let (f, err) = parse_filters(&pairs(&[
            ("actor", " admin "),
            ("event", "auth.login"),
            ("since", "2026-11-23T08:00"),
            ("cursor", "YTE6NDI6"),
            ("limit", " 20 "),
        ]));
        assert_eq!(err, None);
        assert_eq!(f.actor, "admin");
        assert_eq!(f.since, "2026-11-23T08:00:00Z");
        assert_eq!(f.since_input, "2026-11-23T08:00:00");
        assert_eq!(f.cursor.as_deref(), Some("YTE6NDI6"));
        assert_eq!(f.limit.as_deref(), Some("20"));

        let (_, err) = parse_filters(&pairs(&[("since", "yesterday"), ("until", "later")]));
        let err = err.unwrap_or_default();
        assert!(err.contains("since"), "{err}");
        assert!(err.contains("until"), "{err}");
    }

    #[test]
    fn the_older_link_keeps_the_filters() {
        let (f, _) = parse_filters(&pairs(&[("event", "user.create"), ("actor", "a b")]));
        assert_eq!(
            page_href(&f, Some("YTE6Nzo")),
            "/audit?actor=a+b&event=user.create&cursor=YTE6Nzo"
        );
        assert_eq!(page_href(&f, None), "/audit?actor=a+b&event=user.create");
        assert_eq!(page_href(&Filters::default(), None), "/audit");
    }

    /// The filter's suggestion list is the typed event catalogue, exactly: every event, once,
    /// in catalogue order, and nothing else in the rendered `<datalist>`.
    #[test]
    fn the_event_filter_offers_exactly_the_typed_events() {
        let expected: Vec<&str> = AuditEvent::ALL.iter().map(|e| e.name()).collect();
        assert!(!expected.is_empty());
        assert_eq!(event_suggestions(), expected);
        let page = AuditPage {
            layout: Layout {
                css_href: String::new(),
                js_href: String::new(),
                icons_href: String::new(),
                favicon_href: String::new(),
                version: "test",
                auth_disabled: false,
                nav: crate::layout::Nav::default(),
                module_href: None,
                session_href: None,
            },
            filters: Filters::default(),
            known_events: event_suggestions(),
            error: None,
            rows: Vec::new(),
            older_href: None,
            newest_href: None,
        };
        let html = page.render().unwrap();
        let start = html.find("<datalist id=\"audit-events\">").unwrap();
        let end = start + html[start..].find("</datalist>").unwrap();
        let offered: Vec<&str> = html[start..end]
            .split("<option value=\"")
            .skip(1)
            .map(|o| &o[..o.find('"').unwrap()])
            .collect();
        assert_eq!(offered, expected);
    }

    #[test]
    fn details_are_compact_text() {
        let d = serde_json::json!({"name": "ci", "scopes": ["audit:read", "groups:read"], "expires_at": null, "n": 3});
        assert_eq!(
            compact_details(&d),
            "n=3, name=ci, scopes=[audit:read, groups:read]"
        );
        assert_eq!(compact_details(&serde_json::json!({})), "");
        let long = serde_json::json!({"x": "y".repeat(500)});
        assert_eq!(compact_details(&long).chars().count(), DETAILS_MAX_CHARS);
    }
}
