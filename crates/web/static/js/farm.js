// printwarden — what the farm pages (home, printers) share: the events WebSocket with its
// reconnect loop, time left and end times in words, and which controls a printer's state
// allows. The state itself arrives in words from the server (`glance`, `state_words`), so
// no page maps firmware states on its own.

import { toLogin } from "./lib.js";

/** Minutes left as people say them: "5 min", "2 h 10 min" (the server words them the same). */
export function minutesWords(m) {
  const h = Math.floor(m / 60);
  const rest = m % 60;
  if (h === 0) return `${rest} min`;
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`;
}

/** "done ≈ 14:20" in the browser's local time, for an end in unix milliseconds. */
export function doneWords(ms) {
  const at = new Date(ms);
  const hh = String(at.getHours()).padStart(2, "0");
  const mm = String(at.getMinutes()).padStart(2, "0");
  return `done ≈ ${hh}:${mm}`;
}

/** Rewrites every server-rendered end time ([data-ends-ms], UTC) in local time. */
export function localizeEnds(root = document) {
  for (const node of root.querySelectorAll("[data-ends-ms]")) {
    const ms = Number(node.getAttribute("data-ends-ms"));
    if (node.getAttribute("data-ends-ms") && Number.isFinite(ms)) node.textContent = doneWords(ms);
  }
}

/** The colour class of a state (the server's `state_class`). */
export function stateClass(glance) {
  switch (glance) {
    case "printing":
      return "running";
    case "paused":
      return "paused";
    case "finished":
      return "finished";
    case "error":
    case "certificate_changed":
      return "failed";
    case "offline":
      return "offline";
    default:
      return "idle";
  }
}

export const STATE_CLASSES = ["running", "paused", "finished", "failed", "idle", "offline"];

/** What a printer's state allows now (the viewer's rights decide whether a control exists). */
export function controlsFor(p) {
  const online = p.connection === "online";
  const busy = Boolean(p.status?.busy);
  return {
    online,
    pause: online && p.glance === "printing",
    resume: online && p.glance === "paused",
    stop: online && busy,
    ready: online && !busy,
  };
}

/**
 * Follows the authenticated events socket: `onMessage` gets each parsed message
 * (`snapshot`, `printer`, `removed`); `badge` (optional) says Live / Reconnecting…
 * A 4001 close (the session ended) goes to the sign-in page.
 */
export function followEvents(onMessage, badge) {
  let retry = 1000;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
    socket.addEventListener("open", () => {
      retry = 1000;
      if (badge) {
        badge.textContent = "Live";
        badge.className = "badge badge--running";
      }
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (badge) {
        badge.textContent = "Reconnecting…";
        badge.className = "badge badge--offline";
      }
      if (event.code === 4001) {
        toLogin();
        return;
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  };
  connect();
}
