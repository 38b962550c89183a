//! `/printers`: the farm at a glance (UI brief: status first). One card — or one row of the
//! dense list — per printer the viewer may read, rendered complete on the server;
//! `static/js/printers.js` then follows the events WebSocket and updates them in place,
//! applies the view choice (`printers/choice.rs`) without a reload, and sends the commands.
//!
//! Invariants: a control renders only for a right the viewer holds on *that* printer
//! (`App::printer_rights`, the policy on the printer and its location) and shows only where
//! the state allows it (Pause while printing, Resume while paused, Stop with a job); the
//! template never decides a right. States are words from the app (`PrinterView::state_words`),
//! never firmware spellings.
//!
//! The camera wall (`?view=cameras`) offers only printers whose camera the viewer may watch
//! (`PrinterRights::can_watch`); "Print a file…" (a library file, one plate) appears only where
//! the viewer may start a print on that printer (`printers:control` there) and read the
//! library, and accepts a dropped file only for a viewer who may upload to the library.

mod choice;

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use pw_app::{AppError, Connection, Glance, PrinterRights, PrinterView, printer_model_key};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{Pager, failure, paged, query_pairs, query_param, render};
use choice::{Choice, SORTS};

/// Circumference of the progress ring (r = 26).
const RING: f64 = 163.363;

/// A tray at or below this many percent counts as running low (the home page lists it).
pub(crate) const LOW_FILAMENT_PERCENT: i64 = 15;

#[derive(Template)]
#[template(path = "printers.html")]
struct PrintersPage {
    layout: Layout,
    cards: Vec<Card>,
    /// How many cards the choice shows.
    shown: usize,
    choice: Choice,
    sorts: &'static [(&'static str, &'static str)],
    /// The state filter's options: (value, words).
    states: Vec<(&'static str, &'static str)>,
    /// Every model among the viewer's printers, for the model filter.
    models: Vec<String>,
    can_create: bool,
    can_update: bool,
    /// Read library files (own or all): "Print a file…" can list something.
    can_read_library: bool,
    /// Upload to the library: the print dialog's upload and a card's drop.
    can_upload: bool,
    /// Printers whose camera the viewer may watch (the camera wall's choices).
    watchable: Vec<(String, String)>,
    /// The signed-in user's id ("" with nobody signed in): the camera pick is remembered
    /// per user in the browser.
    viewer_key: String,
    /// Rename and delete printer groups (`printers:update` everywhere, not within a scope).
    can_update_every_printer: bool,
    can_manage_locations: bool,
    locations: Vec<(String, String)>,
    /// The location form's rows: id, name, whether it waives the plate-clear check.
    location_rows: Vec<(String, String, bool)>,
    /// Printer groups (with `printers:read`): id, name, member names in words.
    groups: Vec<GroupRow>,
    /// Every printer the viewer may read (id, name): the group forms' member choices.
    all_printers: Vec<(String, String)>,
    ring: f64,
    pager: Pager,
}

/// One tray (or the external spool) on a card.
pub(crate) struct TrayCell {
    pub(crate) color: String,
    pub(crate) label: String,
    pub(crate) material: String,
    /// "82%", or empty when the printer does not know.
    pub(crate) remain: String,
    pub(crate) low: bool,
}

struct Card {
    id: String,
    name: String,
    model: String,
    /// [`printer_model_key`] of the model, for the print dialog's "sliced for another model".
    model_key: String,
    /// The camera sends H.264 (X1/H2/P2S, played through Media Source Extensions in a
    /// `<video>`) rather than JPEG pictures (A1/P1, an `<img>`).
    video_camera: bool,
    location: String,
    location_id: String,
    glance: &'static str,
    state_class: &'static str,
    state_words: String,
    connection: &'static str,
    problem: String,
    /// "Connection dropped 5 times in the last hour", or empty on a steady link.
    drops: String,
    developer_mode_off: bool,
    certificate_changed: bool,
    percent: u8,
    ring_offset: String,
    /// "5 min", "2 h 10 min", or empty.
    time_left: String,
    /// The expected end (unix ms) for the browser to show in local time; empty when none.
    ends_ms: String,
    /// "done ≈ 14:20 UTC" until the browser says it in local time; empty when none.
    done: String,
    layers: String,
    job: String,
    /// The running job's archive entry, when the viewer may read it (decided by the app).
    archive_id: Option<i64>,
    nozzle: String,
    bed: String,
    chamber: String,
    fans: String,
    speed: String,
    light: String,
    hms: Vec<String>,
    trays: Vec<TrayCell>,
    external: Option<TrayCell>,
    rights: PrinterRights,
    /// Controls the state allows now (the rights decide whether they exist at all).
    show_pause: bool,
    show_resume: bool,
    show_stop: bool,
    /// Connected and not busy: a file can be sent.
    ready: bool,
    online: bool,
    /// A print ended and nobody confirmed the plate clear (and neither the printer nor its
    /// location waives it).
    plate_waiting: bool,
    /// Who waives the plate-clear check, in words ("" when nobody does).
    plate_waiver: String,
    /// The view choice shows it.
    shown: bool,
}

fn temperature(t: &pw_app::TemperatureView) -> String {
    match (t.current, t.target) {
        (Some(c), Some(target)) if target > 0.0 => format!("{c:.0} / {target:.0} °C"),
        (Some(c), _) => format!("{c:.0} °C"),
        _ => "—".to_owned(),
    }
}

/// The state colour of a card and badge (UI brief: state colours reserved for state).
pub(crate) fn state_class(glance: Glance) -> &'static str {
    match glance {
        Glance::Printing => "running",
        Glance::Paused => "paused",
        Glance::Finished => "finished",
        Glance::Error | Glance::CertificateChanged => "failed",
        Glance::Idle => "idle",
        Glance::Offline => "offline",
    }
}

fn connection_name(c: &Connection) -> &'static str {
    match c {
        Connection::Connecting => "connecting",
        Connection::Online => "online",
        Connection::Offline => "offline",
        Connection::CertificateChanged => "certificate_changed",
        Connection::CertificateRefused => "certificate_refused",
        Connection::BadAccessCode => "bad_access_code",
    }
}

/// Minutes left as people say them: "5 min", "2 h 10 min" (`farm.js` words them the same).
pub(crate) fn minutes_words(m: u32) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// "done ≈ 14:20 UTC": what the server can say before the browser puts it in local time.
pub(crate) fn done_words(ends_ms: i64) -> String {
    let minute_of_day = (ends_ms.div_euclid(60_000)).rem_euclid(24 * 60);
    format!(
        "done ≈ {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The card's flapping line, in words (`printers.js` words it the same way).
pub(crate) fn drops_text(drops: u32) -> String {
    match drops {
        0 => String::new(),
        1 => "Connection dropped once in the last hour".to_owned(),
        n => format!("Connection dropped {n} times in the last hour"),
    }
}

fn speed_words(level: u8) -> String {
    match level {
        1 => "Silent".to_owned(),
        2 => "Standard".to_owned(),
        3 => "Sport".to_owned(),
        4 => "Ludicrous".to_owned(),
        n => format!("Level {n}"),
    }
}

/// One tray in words, with its remaining filament.
pub(crate) fn tray_cell(t: &pw_app::TrayView) -> TrayCell {
    let place = if t.ams == "external" {
        "External spool".to_owned()
    } else {
        format!("AMS {} tray {}", t.ams, t.tray)
    };
    let remain = t.remain.map(|r| format!("{r}%")).unwrap_or_default();
    let label = match (t.material.is_empty(), remain.is_empty()) {
        (true, _) => format!("{place}: empty"),
        (false, true) => format!("{place}: {}", t.material),
        (false, false) => format!("{place}: {}, {remain} left", t.material),
    };
    TrayCell {
        color: format!("#{}", t.color.get(..6).unwrap_or("000000")),
        label,
        material: t.material.clone(),
        low: !t.material.is_empty() && t.remain.is_some_and(|r| r <= LOW_FILAMENT_PERCENT),
        remain,
    }
}

/// One printer group on the page.
struct GroupRow {
    id: String,
    name: String,
    /// Member ids, as the checkboxes' values.
    members: Vec<String>,
    /// Member names, joined, or "No printers".
    summary: String,
}

fn waiver_words(p: &PrinterView, locations: &[(String, String, bool)]) -> String {
    if p.waive_plate_clear {
        return "The plate-clear check is waived for this printer.".to_owned();
    }
    if p.location_waives_plate_clear {
        let id = p.location_id.map(|l| l.to_string()).unwrap_or_default();
        return match locations.iter().find(|(l, _, _)| *l == id) {
            Some((_, name, _)) => format!("The plate-clear check is waived for location {name}."),
            None => "The plate-clear check is waived for its location.".to_owned(),
        };
    }
    String::new()
}

fn card(
    p: PrinterView,
    location: String,
    rights: PrinterRights,
    shown: bool,
    locations: &[(String, String, bool)],
) -> Card {
    let status = p.status.as_ref();
    let percent = status.and_then(|s| s.percent).unwrap_or(0);
    let online = p.connection == Connection::Online;
    let busy = status.is_some_and(|s| s.busy);
    let fans = status
        .map(|s| {
            [
                ("part", s.part_fan),
                ("aux", s.aux_fan),
                ("chamber", s.chamber_fan),
            ]
            .iter()
            .filter_map(|(n, v)| v.map(|v| format!("{n} {v}%")))
            .collect::<Vec<_>>()
            .join(", ")
        })
        .unwrap_or_default();
    Card {
        id: p.id.to_string(),
        glance: p.glance.as_str(),
        state_class: state_class(p.glance),
        state_words: p.state_words.clone(),
        connection: connection_name(&p.connection),
        problem: p.problem.clone().unwrap_or_default(),
        drops: drops_text(p.connection_drops_last_hour),
        developer_mode_off: p.developer_mode_off,
        certificate_changed: p.connection == Connection::CertificateChanged,
        percent,
        ring_offset: format!("{:.2}", RING * (1.0 - f64::from(percent) / 100.0)),
        time_left: status
            .filter(|s| s.busy)
            .and_then(|s| s.remaining_minutes)
            .filter(|m| *m > 0)
            .map(minutes_words)
            .unwrap_or_default(),
        ends_ms: p.ends_at_ms.map(|m| m.to_string()).unwrap_or_default(),
        done: p.ends_at_ms.map(done_words).unwrap_or_default(),
        layers: match status.map(|s| (s.layer, s.total_layers)) {
            Some((Some(l), Some(t))) if t > 0 => format!("{l} / {t}"),
            _ => String::new(),
        },
        job: status.and_then(|s| s.job_name.clone()).unwrap_or_default(),
        archive_id: p.archive_id,
        nozzle: status.map(|s| temperature(&s.nozzle)).unwrap_or_default(),
        bed: status.map(|s| temperature(&s.bed)).unwrap_or_default(),
        chamber: status
            .and_then(|s| s.chamber)
            .map(|c| format!("{c:.0} °C"))
            .unwrap_or_default(),
        fans,
        speed: status
            .and_then(|s| s.speed_level)
            .map(speed_words)
            .unwrap_or_default(),
        light: match status.and_then(|s| s.light) {
            Some(true) => "On".to_owned(),
            Some(false) => "Off".to_owned(),
            None => String::new(),
        },
        hms: status.map(|s| s.hms.clone()).unwrap_or_default(),
        trays: status
            .map(|s| s.trays.iter().map(tray_cell).collect())
            .unwrap_or_default(),
        external: status
            .and_then(|s| s.external_spool.as_ref())
            .filter(|t| !t.material.is_empty())
            .map(tray_cell),
        show_pause: online && p.glance == Glance::Printing,
        show_resume: online && p.glance == Glance::Paused,
        show_stop: online && busy,
        ready: online && !busy,
        online,
        plate_waiting: !p.plate_cleared && !p.waive_plate_clear && !p.location_waives_plate_clear,
        plate_waiver: waiver_words(&p, locations),
        rights,
        shown,
        location_id: p.location_id.map(|l| l.to_string()).unwrap_or_default(),
        location,
        name: p.name,
        model_key: printer_model_key(&p.model),
        video_camera: p.capabilities.as_ref().is_some_and(|c| c.camera == "rtsps"),
        model: p.model,
    }
}

/// `GET /printers`: every printer the viewer may read on one page (the view choice filters and
/// orders them); `?limit=&cursor=` pages through them as the API does.
pub(crate) async fn printers_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/printers"),
    };
    let pairs = query_pairs(query.as_deref());
    let choice = Choice::parse(&pairs);
    let params = pw_app::PageParams {
        limit: query_param(&pairs, "limit").map(str::to_owned),
        cursor: query_param(&pairs, "cursor").map(str::to_owned),
    };
    let explicit_page = params.limit.is_some() || params.cursor.is_some();
    let listed = if explicit_page {
        paged(
            app.printers_page(&actor, &params).await,
            &params,
            "/printers",
            (&state, &viewer, &request_id),
        )
    } else {
        match app.list_printers(&actor).await {
            Ok(p) => Ok((p, Pager::default())),
            Err(e) => Err(failure(e, &state, &viewer, &request_id, "/printers")),
        }
    };
    let (printers, pager) = match listed {
        Ok(p) => p,
        Err(page) => return page,
    };
    let location_rows: Vec<(String, String, bool)> = match app.list_locations(&actor).await {
        Ok(l) => l
            .into_iter()
            .map(|l| (l.id.to_string(), l.name, l.waive_plate_clear))
            .collect(),
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return failure(e, &state, &viewer, &request_id, "/printers"),
    };
    let locations: Vec<(String, String)> = location_rows
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    let all = if explicit_page {
        match app.list_printers(&actor).await {
            Ok(p) => p,
            Err(AppError::Forbidden) => Vec::new(),
            Err(e) => return failure(e, &state, &viewer, &request_id, "/printers"),
        }
    } else {
        printers.clone()
    };
    let all_printers: Vec<(String, String)> = all
        .iter()
        .map(|p| (p.id.to_string(), p.name.clone()))
        .collect();
    let mut models: Vec<String> = all
        .iter()
        .map(|p| p.model.clone())
        .filter(|m| !m.is_empty())
        .collect();
    models.sort_by_key(|m| m.to_lowercase());
    models.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let groups = match app.list_printer_groups(&actor).await {
        Ok(g) => g
            .into_iter()
            .map(|g| {
                let members: Vec<String> = g.printer_ids.iter().map(i64::to_string).collect();
                let names: Vec<&str> = members
                    .iter()
                    .filter_map(|m| {
                        all_printers
                            .iter()
                            .find(|(id, _)| id == m)
                            .map(|(_, n)| n.as_str())
                    })
                    .collect();
                GroupRow {
                    id: g.id.to_string(),
                    name: g.name,
                    summary: if names.is_empty() {
                        "No printers".to_owned()
                    } else {
                        names.join(", ")
                    },
                    members,
                }
            })
            .collect(),
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return failure(e, &state, &viewer, &request_id, "/printers"),
    };
    let location_name = |p: &PrinterView| {
        let id = p.location_id.map(|l| l.to_string());
        locations
            .iter()
            .find(|(l, _)| Some(l) == id.as_ref())
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let mut ordered: Vec<(PrinterView, String)> = printers
        .into_iter()
        .map(|p| {
            let l = location_name(&p);
            (p, l)
        })
        .collect();
    // An explicit page keeps the API's order, so paging stays the API's keyset walk.
    if !explicit_page {
        choice.sort(&mut ordered);
    }
    let cards: Vec<Card> = ordered
        .into_iter()
        .map(|(p, location)| {
            let rights = app.printer_rights(&actor, &p);
            let shown = choice.matches(&p, &location);
            card(p, location, rights, shown, &location_rows)
        })
        .collect();
    let watchable: Vec<(String, String)> = cards
        .iter()
        .filter(|c| c.rights.can_watch)
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    // No camera to watch: the address's `view=cameras` falls back to the cards, never to an
    // empty page.
    let mut choice = choice;
    if watchable.is_empty() {
        choice.cameras = false;
    }
    let page = PrintersPage {
        can_read_library: viewer.can(Permission::LibraryReadOwn)
            || viewer.can(Permission::LibraryReadAll),
        can_upload: viewer.can(Permission::LibraryUpload),
        watchable,
        viewer_key: viewer.user_id().map(|u| u.to_string()).unwrap_or_default(),
        shown: cards.iter().filter(|c| c.shown).count(),
        cards,
        choice,
        sorts: SORTS,
        states: Glance::ALL
            .iter()
            .map(|g| (g.as_str(), g.words()))
            .collect(),
        models,
        location_rows,
        groups,
        all_printers,
        can_create: viewer.can(Permission::PrintersCreate),
        can_update: viewer.can(Permission::PrintersUpdate),
        can_update_every_printer: app.may_update_every_printer(&actor),
        can_manage_locations: viewer.can(Permission::LocationsManage),
        locations,
        ring: RING,
        pager,
        layout: Layout::new(app, &viewer).with_module("js/printers.js"),
    };
    render(&page, &request_id)
}

#[cfg(test)]
mod tests {
    use super::{done_words, drops_text, minutes_words};

    #[test]
    fn flapping_is_worded_for_people_and_a_steady_link_says_nothing() {
        assert_eq!(drops_text(0), "");
        assert_eq!(drops_text(1), "Connection dropped once in the last hour");
        assert_eq!(drops_text(5), "Connection dropped 5 times in the last hour");
    }

    #[test]
    fn time_left_and_the_end_read_as_people_say_them() {
        assert_eq!(minutes_words(5), "5 min");
        assert_eq!(minutes_words(60), "1 h");
        assert_eq!(minutes_words(130), "2 h 10 min");
        // 2026-12-07 14:20 UTC.
        assert_eq!(done_words(1_796_653_200_000), "done ≈ 14:20 UTC");
    }
}
