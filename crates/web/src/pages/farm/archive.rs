//! `/archive` and `/archive/{id}`: every print as the farm operator looks back at it.
//!
//! The list is a plain GET form (printer, who started it, outcome, a date range, text), so a
//! filtered view is a shareable URL; its page is the API's keyset page (filters and the
//! `?cursor=` in SQL), shown as a grid of tiles or a table (the choice is the reader's, kept in
//! their browser by `static/js/archive.js`); the CSV link carries the same filters. The detail
//! shows the entry's timeline, filaments, pictures, and the notes/tags/rating editor and the
//! delete button only when the app says this viewer may change or delete THIS entry.
//!
//! Invariants: what a viewer sees and may do is decided by the use cases (`list_archives`,
//! `archive_entry_with_rights`), never here; an entry the viewer may not read is the 404 page,
//! a viewer with no archive right gets the 403 page; a bad filter is a 400 page section in
//! plain words, never a 500. Dates typed into the form are days in the reader's time zone
//! (`tz`, minutes behind UTC as the browser reports it; UTC without scripts).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use pw_app::{AppError, ArchiveOutcome, ArchiveQuery, ArchiveSource, ArchiveView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, query_pairs, query_param, render};

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    layout: Layout,
    filters: Filters,
    /// The printers offered in the printer filter (id, name): those the viewer may read.
    printers: Vec<(String, String)>,
    outcomes: [(&'static str, &'static str); 4],
    error: Option<String>,
    tiles: Vec<Tile>,
    /// The CSV export of every entry these filters match.
    export_href: String,
    older_href: Option<String>,
    newest_href: Option<String>,
    /// A search for 1–2 characters that stopped before filling the page: how far it looked.
    searched: Option<Searched>,
    /// Whether any filter is set (the empty state says so).
    filtered: bool,
    can_purge: bool,
}

/// How far back a short search looked, and the link that searches on from there.
struct Searched {
    /// RFC 3339.
    at: String,
    /// In words, UTC (the page's script shows it in the reader's zone).
    text: String,
    href: String,
}

/// The filter form as sent, normalised for re-display.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Filters {
    printer_id: String,
    user: String,
    outcome: String,
    q: String,
    /// `YYYY-MM-DD`, the first day shown ("" = none).
    from: String,
    /// `YYYY-MM-DD`, the last day shown.
    to: String,
    /// Minutes the reader's zone is behind UTC (`Date.getTimezoneOffset()`), as sent.
    tz: String,
    /// RFC 3339 for the use case, from `from`/`to` and `tz`.
    since: String,
    until: String,
    limit: Option<String>,
    cursor: Option<String>,
}

/// One print in the grid or the table.
struct Tile {
    id: i64,
    file_name: String,
    printer_name: String,
    outcome_class: &'static str,
    outcome_label: &'static str,
    duration: String,
    started_at: String,
    started_text: String,
    who: String,
    outside: bool,
    thumbnail_url: Option<String>,
    rating: Option<i64>,
}

/// `(value, label)` of the outcome filter.
const OUTCOMES: [(&str, &str); 4] = [
    ("printing", "Printing"),
    ("finished", "Finished"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
];

/// The badge class and the word for an outcome (a user's stop is "Cancelled", calm, not a red
/// failure).
fn outcome(o: ArchiveOutcome) -> (&'static str, &'static str) {
    match o {
        ArchiveOutcome::Printing => ("running", "Printing"),
        ArchiveOutcome::Finished => ("success", "Finished"),
        ArchiveOutcome::Failed => ("danger", "Failed"),
        ArchiveOutcome::Cancelled => ("idle", "Cancelled"),
    }
}

/// `1 h 25 min`, `25 min`, `40 s`, `2 h`.
pub(crate) fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        return format!("{s} s");
    }
    let minutes = s / 60;
    if minutes < 60 {
        return format!("{minutes} min");
    }
    let (h, m) = (minutes / 60, minutes % 60);
    if m == 0 {
        format!("{h} h")
    } else {
        format!("{h} h {m} min")
    }
}

/// The duration of an entry in words; a running print has none yet.
fn duration_of(v: &ArchiveView) -> String {
    match (v.duration_s, v.outcome) {
        (Some(s), _) => duration_words(s),
        (None, ArchiveOutcome::Printing) => "still printing".to_owned(),
        (None, _) => "—".to_owned(),
    }
}

/// An RFC 3339 instant as `2026-11-23 14:20 UTC`: what a reader without scripts sees (the
/// page's script shows "today 14:20" in the reader's zone).
fn utc_text(rfc: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    pw_app::parse_rfc3339(rfc)
        .and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        })
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| rfc.to_owned())
}

fn who(v: &ArchiveView) -> (String, bool) {
    match &v.started_by {
        Some(s) if !s.name.is_empty() => (s.name.clone(), false),
        _ => ("outside printwarden".to_owned(), true),
    }
}

fn tile(v: ArchiveView) -> Tile {
    let (outcome_class, outcome_label) = outcome(v.outcome);
    let (who, outside) = who(&v);
    Tile {
        id: v.id,
        duration: duration_of(&v),
        started_text: utc_text(&v.started_at),
        outcome_class,
        outcome_label,
        who,
        outside,
        thumbnail_url: v.thumbnail_url,
        rating: v.rating,
        started_at: v.started_at,
        file_name: v.file_name,
        printer_name: v.printer_name,
    }
}

/// A day (`YYYY-MM-DD`) starting in a zone `tz` minutes behind UTC, as RFC 3339 in UTC; `end`
/// gives the start of the next day (the range includes the whole last day).
fn day_bound(day: &str, tz: i64, end: bool) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format).ok()?;
    let date = if end { date.next_day()? } else { date };
    let start = date.midnight().assume_utc() + time::Duration::minutes(tz);
    let out = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    start.format(&out).ok()
}

fn parse_filters(pairs: &[(String, String)]) -> (Filters, Option<String>) {
    let text = |name: &str| -> String { query_param(pairs, name).unwrap_or("").trim().to_owned() };
    let given = |name: &str| Some(text(name)).filter(|v| !v.is_empty());
    let mut errors = Vec::new();
    let tz_text = text("tz");
    let tz = if tz_text.is_empty() {
        0
    } else {
        match tz_text.parse::<i64>() {
            Ok(m) if (-900..=900).contains(&m) => m,
            _ => {
                errors.push("The time zone in the address is not valid; remove “tz”.".to_owned());
                0
            }
        }
    };
    let mut bound = |name: &str, label: &str, end: bool| -> (String, String) {
        let raw = text(name);
        if raw.is_empty() {
            return (raw, String::new());
        }
        match day_bound(&raw, tz, end) {
            Some(rfc) => (raw, rfc),
            None => {
                errors.push(format!("“{label}” must be a date, e.g. 2026-11-23."));
                (raw, String::new())
            }
        }
    };
    let (from, since) = bound("from", "From", false);
    let (to, until) = bound("to", "To", true);
    let filters = Filters {
        printer_id: text("printer_id"),
        user: text("user"),
        outcome: text("outcome"),
        q: text("q"),
        from,
        to,
        tz: tz_text,
        since,
        until,
        limit: given("limit"),
        cursor: given("cursor"),
    };
    let error = (!errors.is_empty()).then(|| errors.join(" "));
    (filters, error)
}

impl Filters {
    fn any(&self) -> bool {
        [
            &self.printer_id,
            &self.user,
            &self.outcome,
            &self.q,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }

    fn query(&self) -> ArchiveQuery {
        let opt = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
        ArchiveQuery {
            printer_id: opt(&self.printer_id),
            outcome: opt(&self.outcome),
            user: opt(&self.user),
            q: opt(&self.q),
            since: opt(&self.since),
            until: opt(&self.until),
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        }
    }

    /// A link to this page with the same filters: at `cursor`, or the newest page.
    fn page_href(&self, cursor: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("printer_id", &self.printer_id),
            ("user", &self.user),
            ("outcome", &self.outcome),
            ("q", &self.q),
            ("from", &self.from),
            ("to", &self.to),
            ("tz", &self.tz),
        ] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        if let Some(limit) = &self.limit {
            q.append_pair("limit", limit);
        }
        if let Some(cursor) = cursor {
            q.append_pair("cursor", cursor);
        }
        let query = q.finish();
        if query.is_empty() {
            "/archive".to_owned()
        } else {
            format!("/archive?{query}")
        }
    }

    /// The CSV export with the same filters (every page).
    fn export_href(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("printer_id", &self.printer_id),
            ("user", &self.user),
            ("outcome", &self.outcome),
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        let query = q.finish();
        if query.is_empty() {
            "/api/v1/archives/export.csv".to_owned()
        } else {
            format!("/api/v1/archives/export.csv?{query}")
        }
    }
}

/// Whether the viewer holds an archive read right (own entries or all).
fn may_read_archive(viewer: &Viewer) -> bool {
    viewer.can(Permission::ArchivesReadOwn) || viewer.can(Permission::ArchivesReadAll)
}

/// `GET /archive?printer_id=&user=&outcome=&q=&from=&to=&tz=&limit=&cursor=`.
pub(crate) async fn archive_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/archive"),
    };
    let pairs = query_pairs(query.as_deref());
    let (filters, parse_error) = parse_filters(&pairs);
    // Without an archive right the page is the 403 page, whatever the filters (the use case
    // refuses too; this answers before a bad filter could make it a 400).
    if !may_read_archive(&viewer) {
        return failure(
            AppError::Forbidden,
            &state,
            &viewer,
            &request_id,
            "/archive",
        );
    }
    let printers = match app.list_printers(&actor).await {
        Ok(list) => list
            .into_iter()
            .map(|p| (p.id.to_string(), p.name))
            .collect(),
        // Archive rights without printer rights: the filter takes the id from the address.
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return failure(e, &state, &viewer, &request_id, "/archive"),
    };
    let mut page = ArchivePage {
        layout: Layout::new(app, &viewer).with_module("js/archive.js"),
        printers,
        outcomes: OUTCOMES,
        error: parse_error,
        tiles: Vec::new(),
        export_href: filters.export_href(),
        older_href: None,
        newest_href: filters.cursor.is_some().then(|| filters.page_href(None)),
        searched: None,
        filtered: filters.any(),
        can_purge: viewer.can(Permission::ArchivesPurge),
        filters,
    };
    if page.error.is_none() {
        match app.list_archives(&actor, &page.filters.query()).await {
            Ok(result) => {
                page.older_href = result
                    .next
                    .as_deref()
                    .map(|n| page.filters.page_href(Some(n)));
                page.searched =
                    result
                        .searched_until
                        .zip(page.older_href.clone())
                        .map(|(at, href)| Searched {
                            text: utc_text(&at),
                            at,
                            href,
                        });
                page.tiles = result.items.into_iter().map(tile).collect();
            }
            Err(AppError::BadRequest(m)) => page.error = Some(m),
            Err(e) => return failure(e, &state, &viewer, &request_id, "/archive"),
        }
    }
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, render(&page, &request_id)).into_response()
}

#[derive(Template)]
#[template(path = "archive_entry.html")]
struct EntryPage {
    layout: Layout,
    entry: Entry,
    can_update: bool,
    can_delete: bool,
    /// The rating choices 1–5, each with whether it is the entry's.
    ratings: Vec<(i64, bool)>,
}

/// A picture of the print: the end snapshot or a photo someone added.
struct Picture {
    url: String,
    alt: String,
    caption: String,
}

struct Filament {
    color: Option<String>,
    label: String,
    grams: Option<String>,
}

struct Entry {
    id: i64,
    file_name: String,
    plate: Option<i64>,
    printer_name: String,
    printer_id: Option<i64>,
    outcome_class: &'static str,
    outcome_label: &'static str,
    started_at: String,
    started_text: String,
    ended_at: Option<String>,
    ended_text: String,
    duration: String,
    error: Option<String>,
    error_code: Option<String>,
    who: String,
    outside: bool,
    source: &'static str,
    filaments: Vec<Filament>,
    notes: String,
    tags: String,
    tag_list: Vec<String>,
    rating: Option<i64>,
    thumbnail_url: Option<String>,
    snapshot: Option<Picture>,
    photos: Vec<Picture>,
}

/// The pictures of an entry beyond its thumbnail: the camera frame taken when the print ended
/// and the photos people added (each captioned with who added it and when).
fn pictures(v: &ArchiveView) -> (Option<Picture>, Vec<Picture>) {
    let snapshot = v.snapshot_url.as_ref().map(|url| Picture {
        url: url.clone(),
        alt: format!("The camera's view when {} ended", v.file_name),
        caption: match v.ended_at.as_deref() {
            Some(end) => format!("Camera, when the print ended ({})", utc_text(end)),
            None => "Camera, when the print ended".to_owned(),
        },
    });
    let photos = v
        .photos
        .iter()
        .enumerate()
        .map(|(i, p)| Picture {
            url: p.url.clone(),
            alt: format!("Photo {} of {}", i + 1, v.file_name),
            caption: match &p.added_by {
                Some(by) => format!("Added by {} · {}", by.name, utc_text(&p.added_at)),
                None => format!("Added {}", utc_text(&p.added_at)),
            },
        })
        .collect();
    (snapshot, photos)
}

fn entry(v: ArchiveView) -> Entry {
    let (outcome_class, outcome_label) = outcome(v.outcome);
    let (who, outside) = who(&v);
    let (snapshot, photos) = pictures(&v);
    let filaments = v
        .filaments
        .iter()
        .map(|f| Filament {
            color: f
                .color
                .as_deref()
                .and_then(|c| c.get(..6))
                .filter(|c| c.chars().all(|ch| ch.is_ascii_hexdigit()))
                .map(|c| format!("#{c}")),
            label: match &f.kind {
                Some(kind) => format!("{kind} · {}", f.slot),
                None => f.slot.clone(),
            },
            grams: f.grams.map(|g| format!("{g:.1} g")),
        })
        .collect();
    Entry {
        id: v.id,
        duration: duration_of(&v),
        started_text: utc_text(&v.started_at),
        ended_text: v.ended_at.as_deref().map(utc_text).unwrap_or_default(),
        outcome_class,
        outcome_label,
        who,
        outside,
        source: match v.source {
            ArchiveSource::Printwarden => "Started through printwarden",
            ArchiveSource::Elsewhere => {
                "Started outside printwarden (slicer, SD card, cloud or the printer's screen)"
            }
        },
        filaments,
        tags: v.tags.join(", "),
        tag_list: v.tags,
        snapshot,
        photos,
        file_name: v.file_name,
        plate: v.plate,
        printer_name: v.printer_name,
        printer_id: v.printer_id,
        started_at: v.started_at,
        ended_at: v.ended_at,
        error: v.error,
        error_code: v.error_code,
        notes: v.notes,
        rating: v.rating,
        thumbnail_url: v.thumbnail_url,
    }
}

/// `GET /archive/{id}`.
pub(crate) async fn archive_entry_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    Path(raw_id): Path<String>,
) -> Response {
    let app = &state.app;
    let path = format!("/archive/{raw_id}");
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, &path),
    };
    // No archive right at all is a 403, like the list.
    if !may_read_archive(&viewer) {
        return failure(AppError::Forbidden, &state, &viewer, &request_id, &path);
    }
    let Ok(id) = raw_id.parse::<i64>() else {
        return failure(AppError::NotFound, &state, &viewer, &request_id, &path);
    };
    let (view, rights) = match app.archive_entry_with_rights(&actor, id).await {
        Ok(found) => found,
        Err(e) => return failure(e, &state, &viewer, &request_id, &path),
    };
    let ratings = (1..=5).map(|r| (r, view.rating == Some(r))).collect();
    let page = EntryPage {
        layout: Layout::new(app, &viewer).with_module("js/archive.js"),
        entry: entry(view),
        can_update: rights.can_update,
        can_delete: rights.can_delete,
        ratings,
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(0), "0 s");
        assert_eq!(duration_words(59), "59 s");
        assert_eq!(duration_words(60), "1 min");
        assert_eq!(duration_words(25 * 60 + 59), "25 min");
        assert_eq!(duration_words(3600), "1 h");
        assert_eq!(duration_words(3600 + 25 * 60), "1 h 25 min");
        assert_eq!(duration_words(26 * 3600 + 60), "26 h 1 min");
    }

    #[test]
    fn days_are_bounded_in_the_readers_zone() {
        // UTC+2 reports -120: its 23 November starts at 22:00 UTC the day before.
        assert_eq!(
            day_bound("2026-11-23", -120, false).as_deref(),
            Some("2026-11-22T22:00:00Z")
        );
        assert_eq!(
            day_bound("2026-11-23", -120, true).as_deref(),
            Some("2026-11-23T22:00:00Z")
        );
        assert_eq!(
            day_bound("2026-11-23", 0, true).as_deref(),
            Some("2026-11-24T00:00:00Z")
        );
        assert_eq!(day_bound("23.11.2026", 0, false), None);
    }

    #[test]
    fn filters_round_trip_into_links_and_the_export() {
        let pairs: Vec<(String, String)> = [
            ("printer_id", "3"),
            ("user", "cody"),
            ("outcome", "cancelled"),
            ("q", "benchy & co"),
            ("from", "2026-11-23"),
            ("to", "2026-11-24"),
            ("tz", "-60"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let (f, error) = parse_filters(&pairs);
        assert_eq!(error, None);
        assert_eq!(f.since, "2026-11-22T23:00:00Z");
        assert_eq!(f.until, "2026-11-24T23:00:00Z");
        let again = query_pairs(f.page_href(None).strip_prefix("/archive?"));
        assert_eq!(parse_filters(&again).0, f);
        assert_eq!(
            f.export_href(),
            "/api/v1/archives/export.csv?printer_id=3&user=cody&outcome=cancelled&q=benchy+%26+co&since=2026-11-22T23%3A00%3A00Z&until=2026-11-24T23%3A00%3A00Z"
        );
        let (_, bad) = parse_filters(&[("from".to_owned(), "soon".to_owned())]);
        assert!(bad.is_some_and(|m| m.contains("From")));
    }
}
