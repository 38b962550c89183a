//! Printer cameras: `GET …/camera/stream` (MJPEG over HTTP, for `<img>`, video players and
//! home automation; A1/P1 only — an X1/H2/P2S is refused with 409 before anything opens) and
//! `GET …/camera/ws`: binary JPEG frames for A1/P1 (unchanged since it was added); for
//! X1/H2/P2S a text message `{"kind":"fmp4","codec":"avc1.…","mime":…,"width":…,"height":…}`,
//! then the init segment (`ftyp`+`moov`) as one binary message, then media fragments
//! (`moof`+`mdat`, one picture each, the first starting with an IDR) as binary messages; a new
//! text message and init segment come whenever the printer's parameter sets change. Credentials:
//! the session cookie, an API key or session token as `?token=`, a `camera` ticket as
//! `?ticket=`, or — on the socket only — a first message `{"token": …}` within 5 seconds.
//!
//! Invariants: nothing is streamed before the caller is authenticated and holds `camera:view`
//! on that printer; an unauthenticated socket is closed after its first message or 5 s; every
//! stream re-checks its credential on each revocation event and ends (4001) once it no longer
//! grants `camera:view` on the printer (`pw_app::live`); request logs never show the query
//! string that may carry a token; a client message is at most
//! [`MAX_CLIENT_MESSAGE`](crate::api::notify::events::MAX_CLIENT_MESSAGE) bytes, and at most
//! [`MAX_PENDING`] sockets ([`MAX_PENDING_PER_ADDRESS`] per client address) wait for their
//! first message at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::{Actor, App, CameraFrame, CameraUse, CameraWatch, Presented, RequestMeta, WatchEnd};
use pw_domain::PrinterId;
use pw_policy::Principal;

use crate::api::notify::events::{CLOSE_REVOKED, capped, close_with, read_error_code};
use crate::api::parse_id;
use crate::{ApiError, AppState, Caller, Live, Mounter};

/// How long an unauthenticated socket may take to send its credentials.
pub const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(5);
/// Close code: no valid credentials.
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code: not allowed to watch this camera (or no such printer).
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Most camera sockets waiting for their first message, in all.
pub const MAX_PENDING: usize = 128;
/// Most camera sockets waiting for their first message from one client address.
pub const MAX_PENDING_PER_ADDRESS: usize = 8;
/// A send that makes no progress for this long ends the socket (a viewer that stopped reading
/// holds one message, not a growing queue; the feed meanwhile drops what it missed).
pub const SEND_STALL: Duration = Duration::from_secs(10);

/// Camera sockets upgraded before authentication and still waiting for their first message.
/// Threat: anyone who can reach the port opens such sockets for free; each holds a task, a
/// buffer and a file descriptor for up to [`FIRST_MESSAGE_WITHIN`]. Over a cap, the upgrade is
/// refused with a plain 429 before any socket exists.
#[derive(Debug, Default)]
pub struct PendingSockets {
    /// Waiting sockets by client address (after trusted-proxy handling), and the total.
    by_address: Mutex<(HashMap<String, usize>, usize)>,
}

/// One waiting socket's place; freed when dropped.
#[derive(Debug)]
struct PendingSlot {
    pending: Arc<PendingSockets>,
    address: String,
}

impl PendingSockets {
    fn enter(self: &Arc<Self>, address: &str) -> Option<PendingSlot> {
        let mut guard = self
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (map, total) = &mut *guard;
        let mine = map.get(address).copied().unwrap_or(0);
        if *total >= MAX_PENDING || mine >= MAX_PENDING_PER_ADDRESS {
            return None;
        }
        *total += 1;
        map.insert(address.to_owned(), mine + 1);
        Some(PendingSlot {
            pending: Arc::clone(self),
            address: address.to_owned(),
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut guard = self
            .pending
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (map, total) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = map.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/printers/{id}/camera/stream", mjpeg)
        .mount(Method::GET, "/api/v1/printers/{id}/camera/ws", socket)
}

const BOUNDARY: &str = "printwarden-frame";

async fn mjpeg(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Live(credential): Live,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    let watch = state
        .app
        .watch_camera(&actor, credential, id, CameraUse::JpegOnly)
        .await?;
    let parts = futures_util::stream::unfold(watch, |mut watch| async move {
        let CameraFrame::Jpeg(frame) = watch.next().await.ok()? else {
            return None;
        };
        let mut part = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            frame.len()
        )
        .into_bytes();
        part.extend_from_slice(&frame);
        part.extend_from_slice(b"\r\n");
        Some((Ok::<_, std::io::Error>(Bytes::from(part)), watch))
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
        )],
        Body::from_stream(parts),
    )
        .into_response())
}

async fn socket(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Live(credential): Live,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    let app = state.app.clone();
    let ws = capped(ws);
    if matches!(actor.principal, Principal::Anonymous) && app.auth_enabled() {
        let address = actor.meta.ip.clone().unwrap_or_default();
        let Some(slot) = state.pending_cameras.enter(&address) else {
            tracing::warn!(
                client = %address,
                "camera socket refused: too many sockets waiting for their first message"
            );
            return Err(ApiError::rate_limited());
        };
        return Ok(ws.on_upgrade(move |socket| first_message(app, id, actor.meta, socket, slot)));
    }
    // Authenticated already: refuse as plain HTTP before upgrading.
    let watch = app
        .watch_camera(&actor, credential, id, CameraUse::Any)
        .await?;
    Ok(ws.on_upgrade(move |socket| stream(watch, socket)))
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Waits for `{"token": …}` (a session token, API key or camera ticket), then streams.
/// `slot` holds the socket's place among those waiting and is freed once the message is in.
async fn first_message(
    app: App,
    id: PrinterId,
    meta: RequestMeta,
    mut socket: WebSocket,
    slot: PendingSlot,
) {
    let first = tokio::time::timeout(FIRST_MESSAGE_WITHIN, socket.recv()).await;
    drop(slot);
    let token = match first {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned)),
        Ok(Some(Err(e))) => {
            return close_with(&mut socket, read_error_code(&e), "message refused").await;
        }
        _ => None,
    };
    let Some(token) = token else {
        return close(socket, CLOSE_UNAUTHENTICATED, "authenticate first").await;
    };
    let presented = if token.starts_with(pw_app::API_KEY_PREFIX) {
        Presented {
            api_key: Some(&token),
            ..Presented::default()
        }
    } else if token.starts_with("pwt_") {
        Presented {
            ticket: Some(&token),
            ..Presented::default()
        }
    } else {
        Presented {
            session: Some(&token),
            ..Presented::default()
        }
    };
    let actor: Actor = app.resolve(presented, meta).await;
    if matches!(actor.principal, Principal::Anonymous) {
        return close(socket, CLOSE_UNAUTHENTICATED, "invalid credentials").await;
    }
    let credential = app.live_credential(presented, &actor);
    match app
        .watch_camera(&actor, credential, id, CameraUse::Any)
        .await
    {
        Ok(watch) => stream(watch, socket).await,
        Err(_) => close(socket, CLOSE_FORBIDDEN, "not allowed").await,
    }
}

/// The socket's message for one frame (a new init segment takes two: its description, then
/// its bytes).
fn messages(frame: CameraFrame) -> Vec<Message> {
    match frame {
        CameraFrame::Jpeg(f) => vec![Message::Binary(Bytes::from(f.to_vec()))],
        CameraFrame::Init(init) => {
            let describe = serde_json::json!({
                "kind": "fmp4",
                "codec": init.codec,
                "mime": format!("video/mp4; codecs=\"{}\"", init.codec),
                "width": init.width,
                "height": init.height,
            });
            vec![
                Message::Text(describe.to_string().into()),
                Message::Binary(Bytes::from(init.bytes.clone())),
            ]
        }
        CameraFrame::Media(f) => vec![Message::Binary(Bytes::from(f.bytes.clone()))],
    }
}

async fn stream(mut watch: CameraWatch, mut socket: WebSocket) {
    loop {
        tokio::select! {
            frame = watch.next() => match frame {
                Ok(f) => {
                    for message in messages(f) {
                        match tokio::time::timeout(SEND_STALL, socket.send(message)).await {
                            Ok(Ok(())) => {}
                            _ => return,
                        }
                    }
                }
                Err(WatchEnd::Revoked) => return close(socket, CLOSE_REVOKED, "access revoked").await,
                Err(WatchEnd::Stopped) => return close(socket, 1011, "camera stopped").await,
            },
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
