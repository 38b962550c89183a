//! `/webhooks`: outbound webhooks with their latest delivery, and create, edit, test and delete
//! through the JSON API from `static/js/webhooks.js` (`notifications:*`). The secret is never
//! on the page: a row only says whether deliveries are signed. The event filter is offered as
//! checkboxes grouped like the catalogue (Printing, Queue, Printers), only with the events
//! the viewer may receive, plus audit event names or prefixes typed in.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use pw_app::{NoticeEvent, NoticeGroup, WebhookKind, WebhookView, may_subscribe};
use pw_domain::Permission;
use pw_http::{AppState, Caller, RequestId};

use crate::layout::Layout;
use crate::pages::{PageQuery, Pager, paged, paged_start, render};

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    hooks: Vec<HookRow>,
    can_create: bool,
    can_update: bool,
    can_delete: bool,
    pager: Pager,
    groups: Vec<EventGroup>,
}

/// One group of notification events on the form.
struct EventGroup {
    label: &'static str,
    events: Vec<EventChoice>,
}

struct EventChoice {
    name: &'static str,
    title: &'static str,
    summary: &'static str,
}

/// The catalogue's groups with the events the viewer may receive.
fn groups(actor: &pw_app::Actor) -> Vec<EventGroup> {
    [
        NoticeGroup::Printing,
        NoticeGroup::Queue,
        NoticeGroup::Printers,
    ]
    .into_iter()
    .map(|g| EventGroup {
        label: g.label(),
        events: NoticeEvent::ALL
            .iter()
            .filter(|e| e.group() == g && may_subscribe(&actor.principal, **e))
            .map(|e| EventChoice {
                name: e.name(),
                title: e.title(),
                summary: e.summary(),
            })
            .collect(),
    })
    .filter(|g| !g.events.is_empty())
    .collect()
}

struct HookRow {
    id: String,
    name: String,
    url: String,
    kind: &'static str,
    kind_label: &'static str,
    events: String,
    has_secret: bool,
    enabled: bool,
    last: Option<LastDelivery>,
    /// Events not delivered (full queue, receiver not answering), in words.
    backlog_note: Option<String>,
    receiver_down: bool,
}

struct LastDelivery {
    at: String,
    event: String,
    ok: bool,
    outcome: String,
}

fn row(h: WebhookView) -> HookRow {
    HookRow {
        id: h.id.to_string(),
        events: h.events.join(", "),
        receiver_down: h.backlog.as_ref().is_some_and(|b| b.receiver_down),
        backlog_note: h.backlog.and_then(|b| b.note),
        last: h.last_delivery.map(|d| LastDelivery {
            outcome: match (d.status, d.error) {
                (_, Some(e)) => e,
                (Some(s), None) => format!("HTTP {s}"),
                (None, None) => String::new(),
            },
            at: d.at,
            event: d.event,
            ok: d.ok,
        }),
        kind: h.kind.as_str(),
        kind_label: match h.kind {
            WebhookKind::Printwarden => "Signed JSON",
            WebhookKind::Ntfy => "ntfy",
            WebhookKind::Discord => "Discord",
        },
        name: h.name,
        url: h.url,
        has_secret: h.has_secret,
        enabled: h.enabled,
    }
}

/// `GET /webhooks`.
pub(crate) async fn webhooks_page(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Caller(actor): Caller,
    q: PageQuery,
) -> Response {
    let app = &state.app;
    let (viewer, params) = match paged_start(&state, &actor, &request_id, "/webhooks", q).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let page = app.webhooks_page(&actor, &params).await;
    let (hooks, pager) = match paged(page, &params, "/webhooks", (&state, &viewer, &request_id)) {
        Ok(p) => p,
        Err(page) => return page,
    };
    let page = WebhooksPage {
        hooks: hooks.into_iter().map(row).collect(),
        can_create: viewer.can(Permission::NotificationsCreate),
        can_update: viewer.can(Permission::NotificationsUpdate),
        can_delete: viewer.can(Permission::NotificationsDelete),
        layout: Layout::new(app, &viewer).with_module("js/webhooks.js"),
        pager,
        groups: groups(&actor),
    };
    render(&page, &request_id)
}
