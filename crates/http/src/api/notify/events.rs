//! `GET /api/v1/events`: the live WebSocket. It sends a snapshot of the printers the caller may
//! read, then each change of one of them, and nothing about the others. Authenticated by the
//! session cookie or a single-use `events` ticket (`POST /api/v1/tickets`); the shield has
//! already checked the upgrade's Origin.
//!
//! Invariants: every event is authorized against the printer's current row (a printer moved out
//! of the caller's scope disappears from their stream); on every revocation event the socket
//! re-checks its credential through the normal resolver (`pw_app::live`): printers it may no
//! longer read are announced as `removed` and later events are judged with the new rights, and
//! the socket closes (code 4001) once the credential no longer resolves or lost
//! `printers:read`.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use http::{Method, StatusCode};
use pw_app::{
    Actor, App, LiveCredential, LiveUpdates, PrinterEvent, PrinterView, RequestMeta, TicketRequest,
};
use pw_domain::PrinterId;
use serde_json::json;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use crate::{ApiError, ApiJson, AppState, Caller, Live, Mounter};

/// Close code sent when the caller's access ends.
pub const CLOSE_REVOKED: u16 = 4001;

/// The largest message (and frame) a client may send on a live socket. Clients send almost
/// nothing: a `{"token": …}` of a few hundred bytes on the camera socket, nothing but control
/// frames on the events socket. Threat: the library default (64 MiB per message, 16 MiB per
/// frame) let one anonymous socket make the server buffer tens of MiB; a larger message now
/// closes the socket (1009) before its payload is read.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// Close code: the client sent a message over [`MAX_CLIENT_MESSAGE`] (RFC 6455 "message too
/// big").
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The close code for a failed read: 1009 when the client's message was over the cap, 1002
/// (protocol error) otherwise.
pub(crate) fn read_error_code(e: &axum::Error) -> u16 {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match std::error::Error::source(e).and_then(|s| s.downcast_ref::<WsError>()) {
        Some(WsError::Capacity(_)) => CLOSE_TOO_BIG,
        _ => 1002,
    }
}

/// Sends a close frame (best effort: the peer may be gone already).
pub(crate) async fn close_with(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// A socket upgrade with the client-message caps of [`MAX_CLIENT_MESSAGE`] and a read buffer
/// to match (the default reserves 128 KiB per socket for reading).
pub(crate) fn capped(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(MAX_CLIENT_MESSAGE)
}

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
    Live(credential): Live,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Subscribe before reading the snapshot, so a change (or revocation) made in between is
    // not lost.
    let events = state.app.printer_events();
    let updates = state.app.live_updates();
    // Refuse before upgrading: a caller without printers:read gets a plain 403.
    let printers = state.app.list_printers(&actor).await?;
    // Keep only the ids and the serialised text: a socket that held the views for its whole
    // life would pin megabytes per dashboard on a thousand-printer farm.
    let visible: HashSet<PrinterId> = printers.iter().map(|p| p.id).collect();
    let first = snapshot_message(&printers)
        .ok_or_else(|| ApiError::internal("could not serialise the printer snapshot"))?;
    drop(printers);
    let app = state.app.clone();
    let live = LiveSocket {
        credential,
        updates,
    };
    Ok(capped(ws)
        .on_upgrade(move |socket| stream(app, actor, live, events, visible, first, socket)))
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

/// How long a socket gathers further events before it flushes what it has.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(15);

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
        None if visible.remove(&event.printer) => Some(removed_message(event.printer)),
        None => None,
    }
}

/// What the socket re-checks its access with.
struct LiveSocket {
    credential: LiveCredential,
    updates: LiveUpdates,
}

/// After a revocation event: who the socket's credential stands for now, and the printers
/// that left their sight (each announced as `removed`). `None`: access is gone, close.
async fn recheck(
    app: &App,
    credential: &LiveCredential,
    meta: &RequestMeta,
    visible: &mut HashSet<PrinterId>,
) -> Option<(Actor, Vec<Message>)> {
    let now = app.reauthorize(credential, meta).await;
    // Without credentials or printers:read any longer, the socket has nothing left to show.
    let printers = app.list_printers(&now).await.ok()?;
    let still: HashSet<PrinterId> = printers.iter().map(|p| p.id).collect();
    let gone: Vec<Message> = visible
        .difference(&still)
        .map(|id| removed_message(*id))
        .collect();
    visible.retain(|id| still.contains(id));
    Some((now, gone))
}

fn removed_message(id: PrinterId) -> Message {
    Message::Text(json!({ "type": "removed", "id": id }).to_string().into())
}

async fn stream(
    app: App,
    mut actor: Actor,
    mut live: LiveSocket,
    mut events: broadcast::Receiver<PrinterEvent>,
    mut visible: HashSet<PrinterId>,
    first: Message,
    mut socket: WebSocket,
) {
    if socket.send(first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                // Send this event and whatever else arrives within COALESCE, then flush once:
                // a farm's reports, spread over each second, cost one write per socket every
                // few milliseconds instead of one per printer.
                let deadline = tokio::time::Instant::now() + COALESCE;
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
                            Err(TryRecvError::Empty) => {
                                tokio::time::timeout_at(deadline, events.recv()).await.ok()
                            }
                        };
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
            () = live.updates.changed() => {
                let meta = actor.meta.clone();
                match recheck(&app, &live.credential, &meta, &mut visible).await {
                    Some((now, gone)) => {
                        // Later events are judged with what the credential holds now.
                        actor = now;
                        for message in gone {
                            if socket.send(message).await.is_err() {
                                return;
                            }
                        }
                    }
                    None => return close_with(&mut socket, CLOSE_REVOKED, "access revoked").await,
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Ok(Message::Close(_))) => return,
                Some(Err(e)) => {
                    return close_with(&mut socket, read_error_code(&e), "message refused").await;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
