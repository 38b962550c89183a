// printwarden — the home page's farm at a glance: the counts by state follow the events
// WebSocket (each printer's `glance` comes from the server, the same value the counts were
// rendered from), and the end times are shown in local time. The page is complete before
// the socket connects.

import { followEvents, localizeEnds, stateAnnouncer } from "./farm.js";

const counts = document.getElementById("glance-counts");
const total = document.getElementById("farm-total");
const liveState = document.getElementById("live-state");
/** printer id → its glance, as the socket last reported it. */
const seen = new Map();
const announce = stateAnnouncer(document.getElementById("printer-announcer"));

function render() {
  const tally = new Map();
  for (const glance of seen.values()) tally.set(glance, (tally.get(glance) ?? 0) + 1);
  for (const item of counts?.querySelectorAll("[data-glance]") ?? []) {
    const n = tally.get(item.getAttribute("data-glance")) ?? 0;
    const node = item.querySelector("[data-count]");
    if (node && node.textContent !== String(n)) node.textContent = String(n);
    item.classList.toggle("glance__item--zero", n === 0);
  }
  if (total && total.textContent !== String(seen.size)) total.textContent = String(seen.size);
}

function onEvent(message) {
  if (message.type === "snapshot") {
    seen.clear();
    for (const p of message.printers) {
      seen.set(String(p.id), p.glance);
      announce(p);
    }
  } else if (message.type === "printer") {
    seen.set(String(message.printer.id), message.printer.glance);
    announce(message.printer);
  } else if (message.type === "removed") {
    seen.delete(String(message.id));
  } else {
    return;
  }
  render();
}

localizeEnds(document);
if (counts) followEvents(onEvent, liveState);
