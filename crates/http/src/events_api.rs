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
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
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

async fn send(socket: &mut WebSocket, value: &serde_json::Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

fn snapshot_message(printers: &[PrinterView]) -> serde_json::Value {
    json!({ "type": "snapshot", "printers": printers })
}

/// Most messages written before a flush.
const BATCH: usize = 256;

/// The message for one event, if this caller is to hear about it: the printer's new state
/// (rendered once for all sockets), or `removed` for a printer they saw and may no longer see.
fn event_message(
    app: &App,
    actor: &Actor,
    visible: &mut HashSet<PrinterId>,
    event: &PrinterEvent,
) -> Option<String> {
    let json = (!event.removed)
        .then(|| app.printer_event_json(actor, event))
        .flatten();
    match json {
        Some(json) => {
            visible.insert(event.printer);
            Some(format!(r#"{{"type":"printer","printer":{json}}}"#))
        }
        // Gone, or no longer readable: tell only those who saw it.
        None if visible.remove(&event.printer) => {
            Some(json!({ "type": "removed", "id": event.printer }).to_string())
        }
        None => None,
    }
}

async fn stream(app: App, actor: Actor, snapshot: Vec<PrinterView>, mut socket: WebSocket) {
    let mut events = app.printer_events();
    let mut revocations = app.subscribe_revocations();
    let mut visible: HashSet<PrinterId> = snapshot.iter().map(|p| p.id).collect();
    if !send(&mut socket, &snapshot_message(&snapshot)).await {
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
                        Ok(e) => event_message(&app, &actor, &mut visible, &e).unwrap_or_default(),
                        Err(RecvError::Lagged(_)) => {
                            // Too slow to follow every change: start over from a snapshot.
                            let Ok(printers) = app.list_printers(&actor).await else { return };
                            visible = printers.iter().map(|p| p.id).collect();
                            snapshot_message(&printers).to_string()
                        }
                        Err(RecvError::Closed) => return,
                    };
                    if !message.is_empty() {
                        if socket.feed(Message::Text(message.into())).await.is_err() {
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
