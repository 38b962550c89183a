//! Printer cameras: `GET …/camera/stream` (MJPEG over HTTP, for `<img>`, video players and
//! home automation) and `GET …/camera/ws` (binary JPEG frames over a WebSocket). Credentials:
//! the session cookie, an API key or session token as `?token=`, a `camera` ticket as
//! `?ticket=`, or — on the socket only — a first message `{"token": …}` within 5 seconds.
//!
//! Invariants: nothing is streamed before the caller is authenticated and holds `camera:view`
//! on that printer; an unauthenticated socket is closed after its first message or 5 s; every
//! stream ends when the viewer's session or user is revoked; request logs never show the query
//! string that may carry a token.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use pw_app::{Actor, App, CameraWatch, Presented, RequestMeta, WatchEnd};
use pw_domain::PrinterId;
use pw_policy::Principal;

use crate::auth_api::parse_id;
use crate::events_api::CLOSE_REVOKED;
use crate::{ApiError, AppState, Caller, Mounter};

/// How long an unauthenticated socket may take to send its credentials.
pub const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(5);
/// Close code: no valid credentials.
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code: not allowed to watch this camera (or no such printer).
pub const CLOSE_FORBIDDEN: u16 = 4403;

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/api/v1/printers/{id}/camera/stream", mjpeg)
        .mount(Method::GET, "/api/v1/printers/{id}/camera/ws", socket)
}

const BOUNDARY: &str = "printwarden-frame";

async fn mjpeg(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    let watch = state.app.watch_camera(&actor, id).await?;
    let parts = futures_util::stream::unfold(watch, |mut watch| async move {
        let frame = watch.next().await.ok()?;
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
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let id: PrinterId = parse_id(&id)?;
    let app = state.app.clone();
    if matches!(actor.principal, Principal::Anonymous) && app.auth_enabled() {
        return Ok(ws.on_upgrade(move |socket| first_message(app, id, actor.meta, socket)));
    }
    // Authenticated already: refuse as plain HTTP before upgrading.
    let watch = app.watch_camera(&actor, id).await?;
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
async fn first_message(app: App, id: PrinterId, meta: RequestMeta, mut socket: WebSocket) {
    let first = tokio::time::timeout(FIRST_MESSAGE_WITHIN, socket.recv()).await;
    let token = match first {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("token")?.as_str().map(str::to_owned)),
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
    match app.watch_camera(&actor, id).await {
        Ok(watch) => stream(watch, socket).await,
        Err(_) => close(socket, CLOSE_FORBIDDEN, "not allowed").await,
    }
}

async fn stream(mut watch: CameraWatch, mut socket: WebSocket) {
    loop {
        tokio::select! {
            frame = watch.next() => match frame {
                Ok(f) => {
                    if socket.send(Message::Binary(Bytes::from(f.to_vec()))).await.is_err() {
                        return;
                    }
                }
                Err(WatchEnd::Revoked) => return close(socket, CLOSE_REVOKED, "access revoked").await,
                Err(WatchEnd::Stopped) => return close(socket, 1011, "camera stopped").await,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
