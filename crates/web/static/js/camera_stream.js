// printwarden — one printer camera through the authenticated camera socket
// (`/api/v1/printers/{id}/camera/ws`; the session cookie authenticates the upgrade and the
// server checks `camera:view` on that printer before anything is sent). A1/P1 send binary
// JPEG pictures, shown in an <img> through blob URLs; X1/H2/P2S first send a text message
// `{"kind":"fmp4","codec":…,"mime":…}`, then an init segment and fragmented-MP4 media
// fragments, played in a <video> through Media Source Extensions (no plugin, no transcoding).
//
// Invariants: at most one blob URL per stream is alive (the previous picture's is revoked, the
// MediaSource's when the stream stops); the video keeps at most MAX_QUEUE fragments waiting and
// BUFFER_SECONDS behind the live edge, so a hidden or slow tab does not grow memory: past the
// queue's cap it drops fragments and resumes at the next keyframe, as the server does for a
// slow viewer.

/** Fragments waiting to be appended before the queue is dropped. */
const MAX_QUEUE = 60;
/** Seconds of video kept behind the playing position. */
const BUFFER_SECONDS = 10;
/** Further behind the newest picture than this, playback jumps to it (a live camera). */
const MAX_LAG_SECONDS = 2;

/** Whether a media fragment (as the server writes them) starts with a keyframe: the first
 * sample's flags in the `trun` box (see pw_bambu::fmp4::media_info). */
function startsWithKeyframe(buffer) {
  if (buffer.byteLength < 100) return false;
  const view = new DataView(buffer);
  return view.getUint32(96) === 0x02000000;
}

/** A <video> fed by Media Source Extensions. */
class VideoPlayer {
  constructor(video, onError) {
    this.video = video;
    this.onError = onError;
    this.source = new MediaSource();
    this.url = URL.createObjectURL(this.source);
    this.buffer = null;
    this.mime = "";
    this.queue = [];
    this.needKeyframe = false;
    this.closed = false;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.src = this.url;
    this.source.addEventListener("sourceopen", () => this.pump());
  }

  /** The stream's description: a new codec (re)configures the buffer. */
  describe(message) {
    const mime = typeof message.mime === "string" ? message.mime : `video/mp4; codecs="${message.codec}"`;
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      this.onError("This browser cannot play the camera's video format.");
      return;
    }
    if (this.buffer && mime !== this.mime && typeof this.buffer.changeType === "function") {
      this.buffer.changeType(mime);
    }
    this.mime = mime;
    this.pump();
  }

  /** An init segment or media fragment, in order. */
  append(data) {
    if (this.closed) return;
    const isMedia = new Uint8Array(data, 4, 4).every((b, i) => b === "moof".charCodeAt(i));
    if (isMedia && this.needKeyframe) {
      if (!startsWithKeyframe(data)) return;
      this.needKeyframe = false;
    }
    if (this.queue.length >= MAX_QUEUE) {
      // The page cannot keep up (a hidden tab, a slow machine): drop what waits, keep the
      // init segments, and resume at the next keyframe.
      this.queue = this.queue.filter((d) => !new Uint8Array(d, 4, 4).every((b, i) => b === "moof".charCodeAt(i)));
      this.needKeyframe = true;
      if (isMedia && !startsWithKeyframe(data)) return;
      this.needKeyframe = false;
    }
    this.queue.push(data);
    this.pump();
  }

  pump() {
    if (this.closed || this.source.readyState !== "open") return;
    if (!this.buffer) {
      if (!this.mime) return;
      try {
        this.buffer = this.source.addSourceBuffer(this.mime);
      } catch {
        this.onError("This browser cannot play the camera's video format.");
        return;
      }
      this.buffer.mode = "segments";
      this.buffer.addEventListener("updateend", () => {
        this.follow();
        this.pump();
      });
    }
    if (this.buffer.updating || this.queue.length === 0) return;
    try {
      this.buffer.appendBuffer(this.queue.shift());
    } catch {
      // Full (QuotaExceededError) or a decode error: start over at the next keyframe.
      this.queue = [];
      this.needKeyframe = true;
    }
  }

  /** Keeps playback at the live edge and the buffer short. */
  follow() {
    const video = this.video;
    const ranges = video.buffered;
    if (ranges.length === 0) return;
    const start = ranges.start(ranges.length - 1);
    const end = ranges.end(ranges.length - 1);
    // A gap (a dropped run of fragments) or falling behind: jump to the newest range.
    if (video.currentTime < start || end - video.currentTime > MAX_LAG_SECONDS) {
      video.currentTime = Math.max(start, end - 0.2);
    }
    if (video.paused) video.play().catch(() => {});
    const oldest = ranges.start(0);
    if (!this.buffer.updating && video.currentTime - oldest > BUFFER_SECONDS * 2) {
      this.buffer.remove(oldest, video.currentTime - BUFFER_SECONDS);
    }
  }

  close() {
    this.closed = true;
    this.queue = [];
    this.video.removeAttribute("src");
    this.video.load();
    URL.revokeObjectURL(this.url);
  }
}

/**
 * Opens printer `id`'s camera into `holder` (an element holding an <img> or a <video>; for a
 * video stream a <video> replaces the <img>). `onPicture(count)` after each picture shown or
 * fragment appended, `onClose(event)` when the socket closes (not after `stop()`), `onError(text)`
 * when the browser cannot play it. Returns `{ stop() }`.
 */
export function openCamera(id, holder, { onPicture = () => {}, onClose = () => {}, onError = () => {} } = {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/printers/${encodeURIComponent(id)}/camera/ws`);
  ws.binaryType = "arraybuffer";
  let imageUrl = "";
  let player = null;
  let pictures = 0;
  let stopped = false;

  function videoElement() {
    let video = holder.querySelector("video");
    if (!video) {
      const img = holder.querySelector("img");
      video = document.createElement("video");
      video.setAttribute("aria-label", img?.getAttribute("alt") ?? "Live camera");
      for (const a of ["width", "height"]) if (img?.hasAttribute(a)) video.setAttribute(a, img.getAttribute(a));
      if (img) img.replaceWith(video);
      else holder.prepend(video);
    }
    return video;
  }

  ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message?.kind !== "fmp4") return;
      player ??= new VideoPlayer(videoElement(), onError);
      holder.setAttribute("data-camera-kind", "video");
      player.describe(message);
      return;
    }
    if (!(event.data instanceof ArrayBuffer)) return;
    if (player) {
      player.append(event.data);
    } else {
      const img = holder.querySelector("img");
      if (!img) return;
      holder.setAttribute("data-camera-kind", "jpeg");
      const next = URL.createObjectURL(new Blob([event.data], { type: "image/jpeg" }));
      img.src = next;
      if (imageUrl) URL.revokeObjectURL(imageUrl);
      imageUrl = next;
    }
    pictures += 1;
    onPicture(pictures);
  });
  ws.addEventListener("close", (event) => {
    if (stopped) return;
    release();
    onClose(event);
  });

  function release() {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = "";
    holder.querySelector("img")?.removeAttribute("src");
    player?.close();
    player = null;
  }

  return {
    stop() {
      stopped = true;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000, "not watching");
      release();
    },
  };
}
