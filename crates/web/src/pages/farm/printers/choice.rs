//! The printers page's view choice: cards or list, filter by state, location and model, a
//! search, and the sort — all read from the address (`?view=list&state=paused&q=…`), so a
//! wall screen's bookmark or a shared link opens the same view. `static/js/printers.js`
//! applies the same choice in place and writes it back into the address.
//!
//! Invariant: the choice only narrows and orders what the viewer may already see (the list
//! comes from the app, visibility filtered in SQL); an unknown value is ignored, never an
//! error, so a stale bookmark still opens the page.

use pw_app::{Glance, PrinterView};

use crate::pages::query_param;

/// The sorts offered: (value in the address, label).
pub(crate) const SORTS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("state", "State"),
    ("time", "Time left"),
    ("location", "Location"),
    ("model", "Model"),
];

/// What the viewer chose to see.
#[derive(Debug, Clone, Default)]
pub(crate) struct Choice {
    /// The dense list instead of cards.
    pub(crate) list: bool,
    /// The camera wall instead of cards (the picked printers' cameras; `printers_camera.js`
    /// reads the pick from `?cams=` or the viewer's last pick).
    pub(crate) cameras: bool,
    /// Only printers in this state.
    pub(crate) state: Option<Glance>,
    /// Only printers here: a location id, or `none` for printers without one.
    pub(crate) location: String,
    /// Only this model (as stored, compared without case).
    pub(crate) model: String,
    /// A piece of the name, model, serial or location name.
    pub(crate) q: String,
    /// One of [`SORTS`]' values.
    pub(crate) sort: &'static str,
}

impl Choice {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Self {
        let text = |name: &str| {
            query_param(pairs, name)
                .map(str::trim)
                .unwrap_or_default()
                .chars()
                .take(100)
                .collect::<String>()
        };
        let sort = query_param(pairs, "sort").unwrap_or_default();
        Self {
            list: query_param(pairs, "view") == Some("list"),
            cameras: query_param(pairs, "view") == Some("cameras"),
            state: query_param(pairs, "state").and_then(Glance::parse),
            location: text("location"),
            model: text("model"),
            q: text("q"),
            sort: SORTS
                .iter()
                .find(|(v, _)| *v == sort)
                .map_or("name", |(v, _)| v),
        }
    }

    /// Whether the printer (with its location's name) matches the filters and the search.
    pub(crate) fn matches(&self, p: &PrinterView, location: &str) -> bool {
        if self.state.is_some_and(|s| s != p.glance) {
            return false;
        }
        let location_id = p.location_id.map(|l| l.to_string());
        match self.location.as_str() {
            "" => {}
            "none" if location_id.is_some() => return false,
            "none" => {}
            id if location_id.as_deref() != Some(id) => return false,
            _ => {}
        }
        if !self.model.is_empty() && !p.model.eq_ignore_ascii_case(&self.model) {
            return false;
        }
        if self.q.is_empty() {
            return true;
        }
        let q = self.q.to_lowercase();
        [
            p.name.as_str(),
            p.model.as_str(),
            p.serial.as_str(),
            location,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&q))
    }

    /// Orders the printers (each with its location's name) as chosen; name breaks ties.
    pub(crate) fn sort(&self, printers: &mut [(PrinterView, String)]) {
        let name = |p: &PrinterView| p.name.to_lowercase();
        match self.sort {
            "state" => printers.sort_by_key(|(p, _)| {
                let rank = Glance::ALL.iter().position(|g| *g == p.glance);
                (rank, name(p))
            }),
            // Soonest end first; printers without an end after them.
            "time" => {
                printers.sort_by_key(|(p, _)| (p.ends_at_ms.is_none(), p.ends_at_ms, name(p)))
            }
            "location" => printers.sort_by_key(|(p, l)| (l.is_empty(), l.to_lowercase(), name(p))),
            "model" => printers.sort_by_key(|(p, _)| (p.model.to_lowercase(), name(p))),
            _ => printers.sort_by_key(|(p, _)| name(p)),
        }
    }
}
