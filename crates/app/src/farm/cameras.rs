//! Printer cameras (S10): one upstream connection per printer, opened while someone watches
//! and shared by every viewer (printers allow one camera client at a time), closed a few
//! seconds after the last viewer leaves. A1/P1 send JPEG pictures (port 6000), handed on as
//! they come; X1/H2/P2S send H.264 over RTSPS (port 322), remuxed once per printer into
//! fragmented MP4 ([`pw_bambu::fmp4`], no transcoding) and fanned out fragment by fragment.
//!
//! Invariants: a viewer needs `camera:view` on that printer, checked again through the normal
//! resolver and policy on every revocation event ([`crate::auth::live`]): a watch ends within a
//! second of its session, key, camera token or user being revoked, its rights or scope
//! narrowing, or the printer moving out of reach or being deleted; the upstream uses the
//! printer's pinned certificate, so the access code never goes to a changed one. A video
//! viewer gets an init segment before any fragment and starts (and, after falling behind,
//! resumes) only at a fragment that begins with an IDR; what a printer can make the server
//! hold is capped: [`MAX_VIDEO_FRAGMENT`] per fragment and [`MAX_VIDEO_BUFFERED`] for all
//! fragments some viewer has not taken yet (threat: a hostile or broken printer sending huge
//! pictures while a viewer reads slowly).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pw_bambu::camera::Camera;
use pw_bambu::fmp4::{self, Muxer, Segment};
use pw_bambu::trust::{Fingerprint, PrinterVerifier};
use pw_domain::{Permission, PrinterId};
use tokio::sync::broadcast;

use crate::farm::fleet::access_code_context;
use crate::{Actor, App, AppError, LiveCredential, LiveUpdates, Task};

/// How long the upstream stays open after the last viewer left.
const LINGER: Duration = Duration::from_secs(5);
/// Fragments kept for viewers that are behind (one picture each: 6 s at the simulator's 5
/// pictures per second, 2 s at 30); a viewer further behind resumes at the next IDR.
const VIDEO_BACKLOG: usize = 64;
/// Largest media fragment passed on (one picture; a 1080p IDR of a printer's camera is a few
/// hundred KiB). A larger one is dropped with everything up to the next IDR.
pub const MAX_VIDEO_FRAGMENT: usize = 2 * 1024 * 1024;
/// Most bytes of fragments held for viewers of one printer at once; past it new fragments are
/// dropped (up to the next IDR) until the slow viewers have caught up or lagged out.
pub const MAX_VIDEO_BUFFERED: usize = 16 * 1024 * 1024;
/// The port the X1/H2 family serves RTSPS on. A printer saved with 6000 (the JPEG port, the
/// default before the model decided it) is asked on this one.
const RTSPS_PORT: u16 = 322;
const JPEG_PORT: u16 = 6000;

/// What a video viewer needs before the fragments: the `ftyp`/`moov` bytes and the
/// `avc1.PPCCLL` codec for `MediaSource.addSourceBuffer`.
#[derive(Debug)]
pub struct VideoInit {
    /// RFC 6381 codec string.
    pub codec: String,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// The init segment.
    pub bytes: Vec<u8>,
}

/// One media fragment (`moof` + `mdat`, one picture) and the init segment it follows.
#[derive(Debug)]
pub struct VideoFragment {
    /// The init segment a decoder needs for it.
    pub init: Arc<VideoInit>,
    /// The fragment.
    pub bytes: Vec<u8>,
    /// It starts with an IDR: a viewer may start here.
    pub keyframe: bool,
    /// Counts the bytes against the printer's [`MAX_VIDEO_BUFFERED`] while any viewer holds it.
    held: Held,
}

/// Bytes counted in a feed's total while alive.
#[derive(Debug)]
struct Held {
    total: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl VideoFragment {
    /// The bytes this fragment counts against the feed's cap.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.held.bytes
    }
}

/// Decides which fragments of a video feed go out: none before the first init segment, none
/// over the size caps, and after a dropped one nothing until the next IDR (a decoder fed a
/// picture whose reference it never got shows garbage).
#[derive(Debug, Default)]
struct Gate {
    skipping: bool,
}

impl Gate {
    fn admit(&mut self, len: usize, keyframe: bool, buffered: usize) -> bool {
        if self.skipping && !keyframe {
            return false;
        }
        if len > MAX_VIDEO_FRAGMENT || buffered.saturating_add(len) > MAX_VIDEO_BUFFERED {
            self.skipping = true;
            return false;
        }
        self.skipping = false;
        true
    }
}

/// A printer's open feed.
#[derive(Clone)]
enum Feed {
    Jpeg(broadcast::Sender<Arc<Vec<u8>>>),
    Video(broadcast::Sender<Arc<VideoFragment>>),
}

/// The camera feeds.
#[derive(Default)]
pub(crate) struct Cameras {
    feeds: Mutex<HashMap<PrinterId, Feed>>,
}

impl Cameras {
    /// A share of the printer's JPEG feed when one is open (the archive's end-of-print frame
    /// takes it rather than opening a second camera connection the printer would refuse).
    pub(crate) fn subscribe(&self, id: PrinterId) -> Option<broadcast::Receiver<Arc<Vec<u8>>>> {
        match self
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            Some(Feed::Jpeg(tx)) => Some(tx.subscribe()),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Cameras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cameras").finish_non_exhaustive()
    }
}

/// What a watch hands out next.
#[derive(Debug, Clone)]
pub enum CameraFrame {
    /// A JPEG picture (A1/P1).
    Jpeg(Arc<Vec<u8>>),
    /// A new init segment: at the start, and whenever the printer's parameter sets change.
    Init(Arc<VideoInit>),
    /// A media fragment, after its init segment.
    Media(Arc<VideoFragment>),
}

/// One viewer's place in a video feed.
#[derive(Debug)]
struct VideoViewer {
    rx: broadcast::Receiver<Arc<VideoFragment>>,
    /// The init segment this viewer was given last.
    sent_init: Option<Arc<VideoInit>>,
    /// Dropping fragments until one starts with an IDR (at the start, after falling behind).
    need_keyframe: bool,
    /// A fragment held back while its init segment goes first.
    held: Option<Arc<VideoFragment>>,
}

impl VideoViewer {
    /// What to hand out for `fragment`, if anything.
    fn take(&mut self, fragment: Arc<VideoFragment>) -> Option<CameraFrame> {
        if self.need_keyframe && !fragment.keyframe {
            return None;
        }
        self.need_keyframe = false;
        if self
            .sent_init
            .as_ref()
            .is_some_and(|i| Arc::ptr_eq(i, &fragment.init))
        {
            return Some(CameraFrame::Media(fragment));
        }
        let init = Arc::clone(&fragment.init);
        if !fragment.keyframe {
            // New parameter sets take effect at an IDR only; until then, nothing.
            self.need_keyframe = true;
            return None;
        }
        self.sent_init = Some(Arc::clone(&init));
        self.held = Some(fragment);
        Some(CameraFrame::Init(init))
    }
}

#[derive(Debug)]
enum Frames {
    Jpeg(broadcast::Receiver<Arc<Vec<u8>>>),
    Video(VideoViewer),
}

/// One viewer's share of a feed.
#[derive(Debug)]
pub struct CameraWatch {
    frames: Frames,
    app: App,
    printer: PrinterId,
    /// What the watch was opened with and for whom, for the re-checks.
    credential: LiveCredential,
    meta: crate::RequestMeta,
    updates: LiveUpdates,
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The viewer's access was revoked.
    Revoked,
    /// The camera stopped.
    Stopped,
}

impl CameraWatch {
    /// The printer's camera sends H.264 (handed out as fMP4), not JPEG pictures.
    #[must_use]
    pub fn is_video(&self) -> bool {
        matches!(self.frames, Frames::Video(_))
    }

    /// The next frame, or why there is none.
    pub async fn next(&mut self) -> Result<CameraFrame, WatchEnd> {
        loop {
            if let Frames::Video(v) = &mut self.frames
                && let Some(held) = v.held.take()
            {
                return Ok(CameraFrame::Media(held));
            }
            tokio::select! {
                frame = recv(&mut self.frames) => match frame {
                    Ok(Some(f)) => return Ok(f),
                    Ok(None) => {}
                    Err(end) => return Err(end),
                },
                () = self.updates.changed() => {
                    let now = self.app.reauthorize(&self.credential, &self.meta).await;
                    if self
                        .app
                        .printer_for(&now, self.printer, Permission::CameraView)
                        .await
                        .is_err()
                    {
                        return Err(WatchEnd::Revoked);
                    }
                }
            }
        }
    }
}

/// One step of a feed: a frame to hand out, nothing (skipped), or the end.
async fn recv(frames: &mut Frames) -> Result<Option<CameraFrame>, WatchEnd> {
    match frames {
        Frames::Jpeg(rx) => match rx.recv().await {
            Ok(f) => Ok(Some(CameraFrame::Jpeg(f))),
            // A slow viewer skips frames rather than delaying the others.
            Err(broadcast::error::RecvError::Lagged(_)) => Ok(None),
            Err(broadcast::error::RecvError::Closed) => Err(WatchEnd::Stopped),
        },
        Frames::Video(v) => match v.rx.recv().await {
            Ok(f) => Ok(v.take(f)),
            // Behind by more than the backlog: the pictures it missed are gone and the next
            // ones refer to them, so it resumes at the next IDR.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                v.need_keyframe = true;
                Ok(None)
            }
            Err(broadcast::error::RecvError::Closed) => Err(WatchEnd::Stopped),
        },
    }
}

/// Which cameras a caller takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraUse {
    /// JPEG or video (the WebSocket).
    Any,
    /// JPEG only (the MJPEG stream): a video camera is refused before anything opens.
    JpegOnly,
}

impl App {
    /// Starts watching a printer's camera (`camera:view` on it; 404 outside the caller's
    /// reach). `credential` is what the caller presented, re-checked on every revocation.
    pub async fn watch_camera(
        &self,
        actor: &Actor,
        credential: LiveCredential,
        id: PrinterId,
        usage: CameraUse,
    ) -> Result<CameraWatch, AppError> {
        // Subscribed before the check: a revocation between the two is not missed.
        let updates = self.live_updates();
        let row = self.printer_for(actor, id, Permission::CameraView).await?;
        // The model table: X1/P2S/H2 serve H.264 over RTSPS, A1/P1 (and unknown models) JPEG.
        let video =
            crate::CapabilitiesView::of_model(&row.model).is_some_and(|c| c.camera == "rtsps");
        if video && usage == CameraUse::JpegOnly {
            return Err(AppError::Conflict(format!(
                "{} sends its camera as H.264 video, not as JPEG pictures: watch it on the printers page or through …/camera/ws.",
                row.name
            )));
        }
        let Some(pin) = row.pinned_sha256.as_deref().and_then(Fingerprint::parse) else {
            return Err(AppError::Conflict(format!(
                "{} has not been connected yet; its camera opens once it is trusted.",
                row.name
            )));
        };
        let mut feeds = self
            .cameras
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let frames = match feeds.get(&id).cloned() {
            Some(Feed::Jpeg(tx)) => Frames::Jpeg(tx.subscribe()),
            Some(Feed::Video(tx)) => Frames::Video(VideoViewer {
                rx: tx.subscribe(),
                sent_init: None,
                need_keyframe: true,
                held: None,
            }),
            None => {
                let code = self.open(&row.access_code, &access_code_context(id))?;
                let app = self.clone();
                let upstream = Upstream {
                    id,
                    host: row.host.clone(),
                    port: row.camera_port,
                    serial: row.serial.clone(),
                    code,
                    pin,
                };
                if video {
                    let (tx, rx) = broadcast::channel(VIDEO_BACKLOG);
                    feeds.insert(id, Feed::Video(tx.clone()));
                    self.spawn_task(Task::CameraFeed, async move {
                        app.run_video_feed(&upstream, &tx).await;
                        app.cameras.end_feed(id);
                    });
                    Frames::Video(VideoViewer {
                        rx,
                        sent_init: None,
                        need_keyframe: true,
                        held: None,
                    })
                } else {
                    let (tx, rx) = broadcast::channel(4);
                    feeds.insert(id, Feed::Jpeg(tx.clone()));
                    self.spawn_task(Task::CameraFeed, async move {
                        app.run_feed(&upstream, &tx).await;
                        app.cameras.end_feed(id);
                    });
                    Frames::Jpeg(rx)
                }
            }
        };
        Ok(CameraWatch {
            frames,
            app: self.clone(),
            printer: id,
            credential,
            meta: actor.meta.clone(),
            updates,
        })
    }

    async fn run_feed(&self, up: &Upstream, tx: &broadcast::Sender<Arc<Vec<u8>>>) {
        let verifier = PrinterVerifier::new(&up.serial, Some(up.pin), self.printer_roots());
        let mut camera =
            match Camera::connect(&up.host, up.port, &up.serial, &up.code, &verifier).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(printer = %up.id, error = %e, "camera not reachable");
                    return;
                }
            };
        let mut idle = Idle::default();
        loop {
            if idle.over(tx.receiver_count()) {
                return;
            }
            match camera.next_frame().await {
                Ok(frame) => {
                    let _ = tx.send(Arc::new(frame));
                }
                Err(e) => {
                    tracing::info!(printer = %up.id, error = %e, "camera stream ended");
                    return;
                }
            }
        }
    }

    /// The RTSPS feed: pictures in, fragments out, until the printer stops or nobody has
    /// watched for [`LINGER`].
    async fn run_video_feed(&self, up: &Upstream, tx: &broadcast::Sender<Arc<VideoFragment>>) {
        let verifier = PrinterVerifier::new(&up.serial, Some(up.pin), self.printer_roots());
        let port = if up.port == JPEG_PORT {
            RTSPS_PORT
        } else {
            up.port
        };
        let (mut client, track) =
            match pw_bambu::rtsp::connect(&up.host, port, &up.serial, &up.code, &verifier).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(printer = %up.id, error = %e, "camera not reachable");
                    return;
                }
            };
        // One picture per fragment: the lowest latency (a picture leaves when the next one
        // arrives and so gives it its duration).
        let mut muxer = Muxer::new(1);
        if let Err(e) = muxer.parameter_sets(&track.parameter_sets) {
            tracing::info!(printer = %up.id, error = %e, "camera's announced format refused; waiting for one in the stream");
        }
        let total = Arc::new(AtomicUsize::new(0));
        let mut init: Option<Arc<VideoInit>> = None;
        let mut gate = Gate::default();
        let mut idle = Idle::default();
        loop {
            if idle.over(tx.receiver_count()) {
                break;
            }
            let unit = match client.next_picture().await {
                Ok(u) => u,
                Err(e) => {
                    tracing::info!(printer = %up.id, error = %e, "camera stream ended");
                    return;
                }
            };
            let segments = match muxer.push(&unit) {
                Ok(s) => s,
                Err(e) => {
                    // The muxer drops the picture and waits for the next IDR itself.
                    tracing::debug!(printer = %up.id, error = %e, "camera picture refused");
                    continue;
                }
            };
            for segment in segments {
                match segment {
                    Segment::Init(i) => {
                        init = Some(Arc::new(VideoInit {
                            codec: i.codec,
                            width: i.width,
                            height: i.height,
                            bytes: i.bytes,
                        }));
                    }
                    Segment::Media(bytes) => {
                        let Some(init) = &init else { continue };
                        let keyframe = fmp4::media_info(&bytes).is_some_and(|(_, k)| k);
                        let len = bytes.len();
                        if !gate.admit(len, keyframe, total.load(Ordering::SeqCst)) {
                            tracing::debug!(printer = %up.id, bytes = len, "camera fragment over the caps dropped");
                            continue;
                        }
                        total.fetch_add(len, Ordering::SeqCst);
                        let fragment = VideoFragment {
                            init: Arc::clone(init),
                            bytes,
                            keyframe,
                            held: Held {
                                total: Arc::clone(&total),
                                bytes: len,
                            },
                        };
                        let _ = tx.send(Arc::new(fragment));
                    }
                }
            }
        }
        client.stop().await;
    }
}

impl Cameras {
    fn end_feed(&self, id: PrinterId) {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

/// Where a feed's upstream is and how it is trusted.
struct Upstream {
    id: PrinterId,
    host: String,
    port: u16,
    serial: String,
    code: pw_credentials::SecretString,
    pin: Fingerprint,
}

/// Counts how long a feed has had no viewer.
#[derive(Default)]
struct Idle(Option<tokio::time::Instant>);

impl Idle {
    /// Whether the feed has been without viewers for [`LINGER`].
    fn over(&mut self, viewers: usize) -> bool {
        if viewers > 0 {
            self.0 = None;
            return false;
        }
        self.0
            .get_or_insert_with(tokio::time::Instant::now)
            .elapsed()
            >= LINGER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(
        init: &Arc<VideoInit>,
        keyframe: bool,
        total: &Arc<AtomicUsize>,
    ) -> Arc<VideoFragment> {
        Arc::new(VideoFragment {
            init: Arc::clone(init),
            bytes: vec![0; 10],
            keyframe,
            held: Held {
                total: Arc::clone(total),
                bytes: 0,
            },
        })
    }

    fn init(codec: &str) -> Arc<VideoInit> {
        Arc::new(VideoInit {
            codec: codec.to_owned(),
            width: 1,
            height: 1,
            bytes: vec![1],
        })
    }

    #[test]
    fn the_gate_drops_oversized_fragments_and_what_follows_until_an_idr() {
        let mut g = Gate::default();
        assert!(g.admit(1000, true, 0));
        assert!(g.admit(1000, false, 0));
        // Threat: a hostile printer sending one huge picture.
        assert!(!g.admit(MAX_VIDEO_FRAGMENT + 1, false, 0));
        assert!(
            !g.admit(10, false, 0),
            "a P picture after a dropped one refers to it"
        );
        assert!(g.admit(10, true, 0), "the next IDR resumes");
        // Slow viewers hold the budget: nothing more until they let go, then from an IDR.
        assert!(!g.admit(10, false, MAX_VIDEO_BUFFERED));
        assert!(!g.admit(10, false, 0));
        assert!(!g.admit(10, true, MAX_VIDEO_BUFFERED - 5));
        assert!(g.admit(10, true, MAX_VIDEO_BUFFERED - 10));
    }

    #[test]
    fn a_viewer_starts_at_an_idr_after_its_init_and_resumes_at_one() {
        let total = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = broadcast::channel(4);
        drop(tx);
        let mut v = VideoViewer {
            rx,
            sent_init: None,
            need_keyframe: true,
            held: None,
        };
        let a = init("avc1.42C01E");
        assert!(
            v.take(fragment(&a, false, &total)).is_none(),
            "joined mid-GOP"
        );
        let key = fragment(&a, true, &total);
        assert!(
            matches!(v.take(Arc::clone(&key)), Some(CameraFrame::Init(i)) if Arc::ptr_eq(&i, &a))
        );
        assert!(v.held.take().is_some_and(|h| Arc::ptr_eq(&h, &key)));
        assert!(matches!(
            v.take(fragment(&a, false, &total)),
            Some(CameraFrame::Media(_))
        ));
        // New parameter sets: a new init, at the IDR that brings them only.
        let b = init("avc1.640028");
        assert!(v.take(fragment(&b, false, &total)).is_none());
        assert!(
            v.take(fragment(&a, false, &total)).is_none(),
            "waits for the IDR"
        );
        assert!(
            matches!(v.take(fragment(&b, true, &total)), Some(CameraFrame::Init(i)) if Arc::ptr_eq(&i, &b))
        );
    }

    #[test]
    fn held_bytes_leave_the_total_with_the_last_holder() {
        let total = Arc::new(AtomicUsize::new(100));
        let f = Arc::new(VideoFragment {
            init: init("x"),
            bytes: Vec::new(),
            keyframe: true,
            held: Held {
                total: Arc::clone(&total),
                bytes: 100,
            },
        });
        let second = Arc::clone(&f);
        drop(f);
        assert_eq!(total.load(Ordering::SeqCst), 100);
        drop(second);
        assert_eq!(total.load(Ordering::SeqCst), 0);
    }
}
