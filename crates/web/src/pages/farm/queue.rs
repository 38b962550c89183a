//! `/queue`: the print queue (issue 16). The items the viewer may read, in dispatch order — a
//! global list of what waits or runs, one lane per printer (the items aimed at it and the one
//! it took), and the items that ended — with why each waits in words. Reorder (drag-and-drop,
//! or the move up/down buttons), pause and resume (the queue or a lane), edit and cancel run in
//! `static/js/queue.js`, which also refreshes the page's live part while the queue changes.
//!
//! Invariant: a control renders only for a right the viewer holds — per item from the app's
//! `queue_item_rights` (the policy on that item's owner and its state), reorder and pause from
//! `queue:reorder`; the template never decides a right. The list is the API's own list, so a
//! `read_own` viewer never sees another user's item.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::{Actor, App, AppError, QueueItemView, QueueListQuery, QueuePauseView};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::{Layout, Viewer};
use crate::pages::{failure, render};

/// Most items the page lists (the API's largest page, twice).
const MAX_ITEMS: usize = 1_000;
/// Ended items shown below the lanes, newest first.
const ENDED_SHOWN: usize = 20;

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    paused: bool,
    paused_by: String,
    can_reorder: bool,
    active: Vec<Item>,
    lanes: Vec<Lane>,
    ended: Vec<Item>,
    /// Some items could not be listed (more than the page holds).
    truncated: bool,
}

struct Item {
    id: String,
    file: String,
    file_href: String,
    plate: String,
    thumbnail: Option<String>,
    target: String,
    copies: String,
    copies_value: i64,
    priority: i64,
    owner: String,
    state: &'static str,
    badge: &'static str,
    waiting_for: String,
    not_before: String,
    queued: bool,
    can_update: bool,
    can_delete: bool,
}

struct Lane {
    printer_id: String,
    name: String,
    paused: bool,
    items: Vec<Item>,
}

/// A state in words and its badge.
fn state_words(state: &str) -> (&'static str, &'static str) {
    match state {
        "queued" => ("Waiting", "badge--info"),
        "dispatching" => ("Starting", "badge--running"),
        "printing" => ("Printing", "badge--running"),
        "done" => ("Done", "badge--success"),
        "failed" => ("Failed", "badge--failed"),
        "cancelled" => ("Cancelled", "badge--offline"),
        _ => ("Unknown", "badge--offline"),
    }
}

/// Names of the printers, locations and printer groups the viewer may see, for the targets in
/// words.
#[derive(Default)]
struct Names {
    printers: Vec<(i64, String)>,
    locations: HashMap<i64, String>,
    groups: HashMap<i64, String>,
}

impl Names {
    async fn load(app: &App, actor: &Actor) -> Result<Self, AppError> {
        let printers = match app.list_printers(actor).await {
            Ok(p) => p,
            Err(AppError::Forbidden) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut printers: Vec<(i64, String)> =
            printers.into_iter().map(|p| (p.id.get(), p.name)).collect();
        printers.sort_by_key(|(_, n)| n.to_lowercase());
        let locations = match app.list_locations(actor).await {
            Ok(l) => l.into_iter().map(|l| (l.id.get(), l.name)).collect(),
            Err(AppError::Forbidden) => HashMap::new(),
            Err(e) => return Err(e),
        };
        let groups = match app.list_printer_groups(actor).await {
            Ok(g) => g.into_iter().map(|g| (g.id.get(), g.name)).collect(),
            Err(AppError::Forbidden) => HashMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            printers,
            locations,
            groups,
        })
    }

    fn printer(&self, id: i64) -> Option<&str> {
        self.printers
            .iter()
            .find(|(p, _)| *p == id)
            .map(|(_, n)| n.as_str())
    }
}

/// The target in words.
fn target_words(item: &QueueItemView, names: &Names) -> String {
    let t = &item.target;
    if let Some(id) = t.printer_id {
        return names
            .printer(id)
            .map_or_else(|| "A printer you cannot see".to_owned(), str::to_owned);
    }
    if let Some(model) = &t.model {
        return format!("Any {model} printer");
    }
    if let Some(id) = t.location_id {
        return match names.locations.get(&id) {
            Some(name) => format!("Any printer in {name}"),
            None => "Any printer in a location you cannot see".to_owned(),
        };
    }
    if let Some(id) = t.group_id {
        return match names.groups.get(&id) {
            Some(name) => format!("Any printer in the group {name}"),
            None => "Any printer in a group you cannot see".to_owned(),
        };
    }
    if t.group_deleted {
        return "Its printer group was deleted".to_owned();
    }
    "Its printer or location was removed".to_owned()
}

fn item(app: &App, actor: &Actor, names: &Names, v: &QueueItemView) -> Item {
    let rights = app.queue_item_rights(actor, v);
    let (state, badge) = state_words(&v.state);
    let thumbnail = v.file_id.map(|f| {
        format!(
            "/api/v1/library/files/{f}/plates/{}/thumbnail?v={}",
            v.plate,
            v.file_sha256.get(..16).unwrap_or(&v.file_sha256)
        )
    });
    let mut waiting_for = v.waiting_for.clone().unwrap_or_default();
    if waiting_for.is_empty()
        && let Some(reason) = &v.reason
    {
        waiting_for.clone_from(reason);
    }
    if waiting_for.is_empty()
        && let Some(p) = v.printer_id
        && v.state != "queued"
    {
        waiting_for = match names.printer(p) {
            Some(n) => format!("On {n}."),
            None => String::new(),
        };
    }
    Item {
        id: v.id.to_string(),
        file: v.file_name.clone(),
        file_href: v
            .file_id
            .map(|f| format!("/library/files/{f}"))
            .unwrap_or_default(),
        plate: format!("Plate {}", v.plate),
        thumbnail,
        target: target_words(v, names),
        copies: format!("{} of {}", v.copies_done, v.copies),
        copies_value: v.copies,
        priority: v.priority,
        owner: v
            .added_by
            .as_ref()
            .map(|a| {
                if a.id.is_some() {
                    a.name.clone()
                } else {
                    format!("{} (account deleted)", a.name)
                }
            })
            .unwrap_or_else(|| "Nobody signed in".to_owned()),
        state,
        badge,
        waiting_for,
        not_before: v.not_before.clone().unwrap_or_default(),
        queued: v.state == "queued",
        can_update: rights.can_update,
        can_delete: rights.can_delete,
    }
}

/// Every item the viewer may read, in dispatch order (following the API's pages).
async fn all_items(app: &App, actor: &Actor) -> Result<(Vec<QueueItemView>, bool), AppError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .list_queue(
                actor,
                &QueueListQuery {
                    limit: Some("500".into()),
                    cursor: cursor.take(),
                    ..QueueListQuery::default()
                },
            )
            .await?;
        items.extend(page.items);
        match page.next {
            Some(next) if items.len() < MAX_ITEMS => cursor = Some(next),
            Some(_) => return Ok((items, true)),
            None => return Ok((items, false)),
        }
    }
}

/// `GET /queue`.
pub(crate) async fn queue_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
) -> Response {
    let app = &state.app;
    let viewer = match Viewer::load(app, &actor).await {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &Viewer::anonymous(), &request_id, "/queue"),
    };
    let loaded = async {
        // The list first: it is the read-right check for the page (403 without one).
        let (items, truncated) = all_items(app, &actor).await?;
        let pause = app.queue_pause_state(&actor).await?;
        let names = Names::load(app, &actor).await?;
        Ok::<_, AppError>((items, truncated, pause, names))
    }
    .await;
    let (items, truncated, pause, names) = match loaded {
        Ok(v) => v,
        Err(e) => return failure(e, &state, &viewer, &request_id, "/queue"),
    };
    let page = build(app, &actor, &viewer, items, truncated, &pause, &names);
    render(&page, &request_id)
}

fn build(
    app: &App,
    actor: &Actor,
    viewer: &Viewer,
    items: Vec<QueueItemView>,
    truncated: bool,
    pause: &QueuePauseView,
    names: &Names,
) -> QueuePage {
    let is_active =
        |v: &QueueItemView| matches!(v.state.as_str(), "queued" | "dispatching" | "printing");
    let lanes = names
        .printers
        .iter()
        .map(|(id, name)| Lane {
            printer_id: id.to_string(),
            name: name.clone(),
            paused: pause.lanes.iter().any(|l| l.printer_id == *id),
            items: items
                .iter()
                .filter(|v| {
                    is_active(v)
                        && (v.printer_id == Some(*id)
                            || (v.printer_id.is_none() && v.target.printer_id == Some(*id)))
                })
                .map(|v| item(app, actor, names, v))
                .collect(),
        })
        .collect();
    let mut ended: Vec<&QueueItemView> = items.iter().filter(|v| !is_active(v)).collect();
    ended.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    QueuePage {
        layout: Layout::new(app, viewer).with_module("js/queue.js"),
        paused: pause.paused,
        paused_by: pause.paused_by.clone().unwrap_or_default(),
        can_reorder: viewer.can(Permission::QueueReorder),
        active: items
            .iter()
            .filter(|v| is_active(v))
            .map(|v| item(app, actor, names, v))
            .collect(),
        lanes,
        ended: ended
            .into_iter()
            .take(ENDED_SHOWN)
            .map(|v| item(app, actor, names, v))
            .collect(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_words() {
        assert_eq!(state_words("queued").0, "Waiting");
        assert_eq!(state_words("cancelled").0, "Cancelled");
        assert_eq!(state_words("nonsense").0, "Unknown");
    }
}
