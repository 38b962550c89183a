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

/**
 * One polite live region for printer state changes, so a screen reader can follow the farm
 * without being flooded: only a change of a printer's state words is spoken (never progress,
 * temperatures or times, which tick every few seconds), a printer seen for the first time is
 * not (the page already says its state), and changes are gathered and spoken together at
 * most once every `quietMs` (the latest words per printer win).
 *
 * Returns `seen(printer)` for each snapshot or printer message; a missing region does nothing.
 */
export function stateAnnouncer(region, quietMs = 4000) {
  const last = new Map();
  const pending = new Map();
  let timer = null;
  let spokeAt = 0;
  const MAX_SPOKEN = 3;
  function flush() {
    timer = null;
    const lines = [...pending.values()];
    pending.clear();
    if (lines.length === 0) return;
    spokeAt = Date.now();
    const more = lines.length - MAX_SPOKEN;
    region.textContent = more > 0
      ? `${lines.slice(0, MAX_SPOKEN).join(" ")} ${more} more printer${more === 1 ? "" : "s"} changed state.`
      : lines.join(" ");
  }
  return (p) => {
    if (!region || !p || p.state_words == null) return;
    const id = String(p.id);
    const before = last.get(id);
    last.set(id, p.state_words);
    if (before === undefined || before === p.state_words) return;
    pending.set(id, `${p.name}: ${p.state_words}.`);
    if (timer === null) timer = setTimeout(flush, Math.max(0, quietMs - (Date.now() - spokeAt)));
  };
}
