//! `/printers`: the farm at a glance (UI brief: status first). One card per printer the viewer
//! may read, rendered complete on the server; `static/js/printers.js` then follows the events
//! WebSocket and updates the cards in place, and sends the commands the viewer may use.
//! Controls appear only for the rights the viewer holds on that printer.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::{AppError, Connection, PrinterView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{PageQuery, Pager, failure, paged, paged_start, render};

/// Circumference of the progress ring (r = 26).
const RING: f64 = 163.363;

#[derive(Template)]
#[template(path = "printers.html")]
struct PrintersPage {
    layout: Layout,
    cards: Vec<Card>,
    can_create: bool,
    can_update: bool,
    /// Rename and delete printer groups (`printers:update` everywhere, not within a scope).
    can_update_every_printer: bool,
    can_delete: bool,
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

struct Card {
    id: String,
    name: String,
    model: String,
    state_class: &'static str,
    state_label: String,
    connection: &'static str,
    problem: String,
    /// "Connection dropped 5 times in the last hour", or empty on a steady link.
    drops: String,
    developer_mode_off: bool,
    certificate_changed: bool,
    percent: u8,
    ring_offset: String,
    time_left: String,
    layers: String,
    job: String,
    /// The running job's archive entry, when the viewer may read it (decided by the app).
    archive_id: Option<i64>,
    nozzle: String,
    bed: String,
    hms: Vec<String>,
    trays: Vec<(String, String, String)>,
    can_control: bool,
    can_print: bool,
    can_trust: bool,
    /// `printers:clear_plate`: the "Plate cleared" button (shown while the printer waits for
    /// its plate to be cleared).
    can_clear_plate: bool,
    /// A print ended and nobody confirmed the plate clear (and neither the printer nor its
    /// location waives it).
    plate_waiting: bool,
    /// Who waives the plate-clear check, in words ("" when nobody does).
    plate_waiver: String,
    can_watch: bool,
    can_files: bool,
}

fn temperature(t: &pw_app::TemperatureView) -> String {
    match (t.current, t.target) {
        (Some(c), Some(target)) if target > 0.0 => format!("{c:.0} / {target:.0} °C"),
        (Some(c), _) => format!("{c:.0} °C"),
        _ => "—".to_owned(),
    }
}

/// `running`, `paused`, `failed`, `idle` or `offline`: the card's state colour.
pub(crate) fn state_class(p: &PrinterView) -> &'static str {
    if p.connection != Connection::Online {
        return "offline";
    }
    match p.status.as_ref().map(|s| s.state.as_str()) {
        Some("RUNNING" | "PREPARE" | "SLICING") => "running",
        Some("PAUSE") => "paused",
        Some("FAILED") => "failed",
        _ => "idle",
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

/// The card's flapping line, in words (`printers.js` words it the same way).
pub(crate) fn drops_text(drops: u32) -> String {
    match drops {
        0 => String::new(),
        1 => "Connection dropped once in the last hour".to_owned(),
        n => format!("Connection dropped {n} times in the last hour"),
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

fn card(p: PrinterView, viewer: &Viewer, locations: &[(String, String, bool)]) -> Card {
    let status = p.status.as_ref();
    let percent = status.and_then(|s| s.percent).unwrap_or(0);
    let state_label = match (&p.connection, status) {
        (Connection::Online, Some(s)) => s.state.clone(),
        (Connection::Online, None) => "ONLINE".to_owned(),
        (other, _) => connection_name(other).replace('_', " ").to_uppercase(),
    };
    Card {
        id: p.id.to_string(),
        state_class: state_class(&p),
        connection: connection_name(&p.connection),
        problem: p.problem.clone().unwrap_or_default(),
        drops: drops_text(p.connection_drops_last_hour),
        developer_mode_off: p.developer_mode_off,
        certificate_changed: p.connection == Connection::CertificateChanged,
        percent,
        ring_offset: format!("{:.2}", RING * (1.0 - f64::from(percent) / 100.0)),
        time_left: status
            .and_then(|s| s.remaining_minutes)
            .filter(|m| *m > 0)
            .map(|m| format!("{}h {:02}m", m / 60, m % 60))
            .unwrap_or_default(),
        layers: match status.map(|s| (s.layer, s.total_layers)) {
            Some((Some(l), Some(t))) if t > 0 => format!("{l} / {t}"),
            _ => String::new(),
        },
        job: status.and_then(|s| s.job_name.clone()).unwrap_or_default(),
        archive_id: p.archive_id,
        nozzle: status.map(|s| temperature(&s.nozzle)).unwrap_or_default(),
        bed: status.map(|s| temperature(&s.bed)).unwrap_or_default(),
        hms: status.map(|s| s.hms.clone()).unwrap_or_default(),
        trays: status
            .map(|s| {
                s.trays
                    .iter()
                    .map(|t| {
                        let color = format!("#{}", t.color.get(..6).unwrap_or("000000"));
                        let label = if t.material.is_empty() {
                            format!("AMS {} tray {}: empty", t.ams, t.tray)
                        } else {
                            format!("AMS {} tray {}: {}", t.ams, t.tray, t.material)
                        };
                        (color, label, t.material.clone())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        can_control: viewer.can(Permission::PrintersControl),
        can_print: viewer.can(Permission::PrintersControl) && viewer.can(Permission::QueueCreate),
        can_trust: viewer.can(Permission::PrintersTrust),
        can_clear_plate: viewer.can(Permission::PrintersClearPlate),
        plate_waiting: !p.plate_cleared && !p.waive_plate_clear && !p.location_waives_plate_clear,
        plate_waiver: waiver_words(&p, locations),
        // The model table says which cameras printwarden can show (the JPEG stream of A1/P1;
        // X1/H2 serve RTSPS), so the button appears only where it can work.
        can_watch: viewer.can(Permission::CameraView)
            && p.capabilities.as_ref().is_none_or(|c| c.camera == "jpeg"),
        can_files: viewer.can(Permission::PrintersFiles),
        state_label,
        name: p.name,
        model: p.model,
    }
}

/// `GET /printers`.
pub(crate) async fn printers_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    q: PageQuery,
) -> Response {
    let app = &state.app;
    let (viewer, params) = match paged_start(&state, &actor, &request_id, "/printers", q).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let page = app.printers_page(&actor, &params).await;
    let (printers, pager) = match paged(page, &params, "/printers", (&state, &viewer, &request_id))
    {
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
    let locations = location_rows
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    let all = match app.list_printers(&actor).await {
        Ok(p) => p,
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return failure(e, &state, &viewer, &request_id, "/printers"),
    };
    let all_printers: Vec<(String, String)> = all
        .into_iter()
        .map(|p| (p.id.to_string(), p.name))
        .collect();
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
    let page = PrintersPage {
        cards: printers
            .into_iter()
            .map(|p| card(p, &viewer, &location_rows))
            .collect(),
        location_rows,
        groups,
        all_printers,
        can_create: viewer.can(Permission::PrintersCreate),
        can_update: viewer.can(Permission::PrintersUpdate),
        can_update_every_printer: app.may_update_every_printer(&actor),
        can_delete: viewer.can(Permission::PrintersDelete),
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
    use super::drops_text;

    #[test]
    fn flapping_is_worded_for_people_and_a_steady_link_says_nothing() {
        assert_eq!(drops_text(0), "");
        assert_eq!(drops_text(1), "Connection dropped once in the last hour");
        assert_eq!(drops_text(5), "Connection dropped 5 times in the last hour");
    }
}
