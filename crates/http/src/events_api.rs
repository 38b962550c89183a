//! `GET /api/v1/events`: the live WebSocket. It sends a snapshot of the printers the caller may
//! read, then each change of one of them, and nothing about the others. Authenticated by the
//! session cookie or a single-use `events` ticket (`POST /api/v1/tickets`); the shield has
//! already checked the upgrade's Origin.
//!
//! Invariants: every event is authorized against the printer's current row (a printer moved out
//! of the caller's scope disappears from their stream); the socket closes (code 4001) as soon
//! as the caller's session or user is revoked, including when their rights change.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use http::{Method, StatusCode};
use pw_app::{Actor, App, PrinterEvent, PrinterView, Revocation, TicketRequest};
use pw_domain::PrinterId;
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::{ApiError, ApiJson, AppState, Caller, Mounter};

/// Close code sent when the caller's access ends.
pub const CLOSE_REVOKED: u16 = 4001;

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/events", events)
        .mount(Method::POST, "/api/v1/tickets", ticket)
}

async fn ticket(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(request): ApiJson<TicketRequest>,
) -> Result<Response, ApiError> {
    let issued = state.app.issue_ticket(&actor, request).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

async fn events(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Refuse before upgrading: a caller without printers:read gets a plain 403.
    let snapshot = state.app.list_printers(&actor).await?;
    let app = state.app.clone();
    Ok(ws.on_upgrade(move |socket| stream(app, actor, snapshot, socket)))
}

/// `{"type":"snapshot","printers":[…]}`, serialised straight to text: with a thousand printers
/// and dozens of dashboards, an intermediate `serde_json::Value` per socket costs megabytes.
/// `None` only if serialisation fails; the socket is then closed rather than sent a wrong list.
fn snapshot_message(printers: &[PrinterView]) -> Option<Message> {
    #[derive(serde::Serialize)]
    struct Snapshot<'a> {
        r#type: &'static str,
        printers: &'a [PrinterView],
    }
    let text = serde_json::to_string(&Snapshot {
        r#type: "snapshot",
        printers,
    })
    .ok()?;
    Some(Message::Text(text.into()))
}

/// Most messages written before a flush.
const BATCH: usize = 256;

/// The message for one event, if this caller is to hear about it: the printer's new state
/// (serialised once; every socket sends the same buffer), or `removed` for a printer they saw
/// and may no longer see.
fn event_message(
    app: &App,
    actor: &Actor,
    visible: &mut HashSet<PrinterId>,
    event: &PrinterEvent,
) -> Option<Message> {
    let shared = (!event.removed)
        .then(|| app.printer_event_message(actor, event))
        .flatten()
        .and_then(|bytes| Utf8Bytes::try_from(bytes).ok());
    match shared {
        Some(text) => {
            visible.insert(event.printer);
            Some(Message::Text(text))
        }
        // Gone, or no longer readable: tell only those who saw it.
        None if visible.remove(&event.printer) => Some(Message::Text(
            json!({ "type": "removed", "id": event.printer })
                .to_string()
                .into(),
        )),
        None => None,
    }
}

async fn stream(app: App, actor: Actor, snapshot: Vec<PrinterView>, mut socket: WebSocket) {
    let mut events = app.printer_events();
    let mut revocations = app.subscribe_revocations();
    let mut visible: HashSet<PrinterId> = snapshot.iter().map(|p| p.id).collect();
    let Some(first) = snapshot_message(&snapshot) else {
        return;
    };
    if socket.send(first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                // Send this event and whatever else is already waiting, then flush once: a
                // busy farm's reports cost one write per batch, not one per printer.
                let mut next = Some(event);
                let mut fed = 0;
                while let Some(event) = next.take() {
                    let message = match event {
                        Ok(e) => event_message(&app, &actor, &mut visible, &e),
                        Err(RecvError::Lagged(_)) => {
                            // Too slow to follow every change: start over from a snapshot.
                            let Ok(printers) = app.list_printers(&actor).await else { return };
                            visible = printers.iter().map(|p| p.id).collect();
                            let Some(message) = snapshot_message(&printers) else { return };
                            Some(message)
                        }
                        Err(RecvError::Closed) => return,
                    };
                    if let Some(message) = message {
                        if socket.feed(message).await.is_err() {
                            return;
                        }
                        fed += 1;
                    }
                    if fed < BATCH {
                        next = match events.try_recv() {
                            Ok(e) => Some(Ok(e)),
                            Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                            Err(TryRecvError::Empty) => None,
                        };
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
            revoked = revocations.recv() => {
                let ends = match revoked {
                    Ok(Revocation::User(u)) => Some(u) == actor.user_id,
                    Ok(Revocation::Session(s)) => Some(s) == actor.session,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => true,
                };
                if ends {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: CLOSE_REVOKED,
                            reason: "access revoked".into(),
                        })))
                        .await;
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
