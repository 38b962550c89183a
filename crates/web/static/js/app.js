// printwarden — progressive enhancement shared by every page.
//
// Loaded as <script type="module">, so it runs after the document is parsed
// and in strict mode. Every page works without it; this file only adds:
//
//   1. aria-current="page" on the nav link for the current location
//      (unless the server already marked one);
//   2. <time datetime="…" data-relative> rendered as "3 minutes ago",
//      with the absolute time in `title`, refreshed every 30 s;
//   3. <button data-copy="some-id"> copies the text of #some-id to the
//      clipboard and says "Copied" for 2 s;
//   4. the phone menu button (below 48rem), named after the current page.
//
// CSP rules this file keeps: no eval/new Function, no inline handlers, no
// element.style; only classes, attributes and text are changed. Nothing is
// exported and nothing is put on window.

const REFRESH_MS = 30_000;
const COPY_FEEDBACK_MS = 2_000;

// ---------------------------------------------------------------------------
// 1. Current nav link
// ---------------------------------------------------------------------------

/** "/printers/" → "/printers"; "/" stays "/". */
function normalisePath(path) {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

function markCurrentNavLink() {
  const links = document.querySelectorAll(".nav a[href]");
  if (links.length === 0) return;
  // The server knows best; do not second-guess an explicit marker.
  for (const link of links) {
    if (link.hasAttribute("aria-current")) return;
  }

  const here = normalisePath(location.pathname);
  let best = null;
  let bestLength = -1;
  for (const link of links) {
    let url;
    try {
      url = new URL(link.getAttribute("href"), location.href);
    } catch {
      continue;
    }
    if (url.origin !== location.origin) continue;
    const path = normalisePath(url.pathname);
    // Exact match, or a section prefix on a segment boundary
    // ("/printers" is current on "/printers/42", never on "/printers-old").
    const matches = path === here || (path !== "/" && here.startsWith(`${path}/`));
    if (matches && path.length > bestLength) {
      best = link;
      bestLength = path.length;
    }
  }
  if (best) best.setAttribute("aria-current", "page");
}

// ---------------------------------------------------------------------------
// 2. Relative times
// ---------------------------------------------------------------------------

// Words follow the page language (the UI is English); the absolute time in
// the tooltip follows the reader's own locale and time zone.
const pageLang = document.documentElement.lang || undefined;
const relativeFormat = new Intl.RelativeTimeFormat(pageLang, { numeric: "auto" });
const absoluteFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "long",
});

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

/** Seconds from now (negative = past) → "3 minutes ago" / "in 2 hours". */
function formatRelative(deltaSeconds) {
  const abs = Math.abs(deltaSeconds);
  if (abs < 45) return relativeFormat.format(0, "second"); // "now"
  const steps = [
    [45 * MINUTE, MINUTE, "minute"],
    [22 * HOUR, HOUR, "hour"],
    [6 * DAY, DAY, "day"],
    [4 * WEEK, WEEK, "week"],
    [11 * MONTH, MONTH, "month"],
    [Infinity, YEAR, "year"],
  ];
  for (const [limit, size, unit] of steps) {
    if (abs < limit) {
      const value = Math.max(1, Math.round(abs / size));
      return relativeFormat.format(deltaSeconds < 0 ? -value : value, unit);
    }
  }
  return "";
}

function renderRelativeTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[datetime][data-relative]")) {
    const when = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(when)) continue; // leave the server's text alone
    const text = formatRelative((when - now) / 1000);
    if (el.textContent !== text) el.textContent = text;
    const title = absoluteFormat.format(when);
    if (el.getAttribute("title") !== title) el.setAttribute("title", title);
  }
}

function startRelativeTimes() {
  renderRelativeTimes();
  // Re-query on every tick so times added later by live updates are picked
  // up too. Skip work while the tab is hidden; catch up when it returns.
  setInterval(() => {
    if (!document.hidden) renderRelativeTimes();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) renderRelativeTimes();
  });
}

// ---------------------------------------------------------------------------
// 3. Copy buttons
// ---------------------------------------------------------------------------

let liveRegion = null;

/** One polite, visually hidden status region for screen-reader feedback. */
function announce(message) {
  if (!liveRegion) {
    liveRegion = document.createElement("div");
    liveRegion.className = "visually-hidden";
    liveRegion.setAttribute("role", "status");
    liveRegion.setAttribute("aria-live", "polite");
    document.body.append(liveRegion);
  }
  liveRegion.textContent = message;
}

/** The text node or element whose text says "Copy" on the button. */
function labelOf(button) {
  const marked = button.querySelector("[data-copy-label]");
  if (marked) return marked;
  // Otherwise the last non-blank text node (keeps any icon intact).
  const texts = [...button.childNodes].filter(
    (node) => node.nodeType === Node.TEXT_NODE && node.nodeValue.trim() !== "",
  );
  return texts.at(-1) ?? null;
}

function textOf(target) {
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
    return target.value;
  }
  return (target.textContent ?? "").trim();
}

/** Select the target's contents so a manual Ctrl+C / ⌘C still works. */
function selectContents(target) {
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
    target.select();
    return;
  }
  const selection = window.getSelection();
  if (!selection) return;
  const range = document.createRange();
  range.selectNodeContents(target);
  selection.removeAllRanges();
  selection.addRange(range);
}

async function writeClipboard(text, target) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission denied or not focused: fall through to the legacy path.
    }
  }
  selectContents(target);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

const copyTimers = new WeakMap();

function showCopyResult(button, ok) {
  const label = labelOf(button);
  const isTextNode = label && label.nodeType === Node.TEXT_NODE;
  if (label && !button.hasAttribute("data-copy-original")) {
    button.setAttribute(
      "data-copy-original",
      isTextNode ? label.nodeValue : label.textContent,
    );
  }
  const original = button.getAttribute("data-copy-original") ?? "";
  // Keep the surrounding whitespace of a bare text node.
  const replace = (word) => (isTextNode ? original.replace(original.trim(), word) : word);

  if (label) {
    const text = replace(ok ? "Copied" : "Not copied");
    if (isTextNode) label.nodeValue = text;
    else label.textContent = text;
  }
  button.setAttribute("data-copied", ok ? "true" : "false");
  announce(
    ok
      ? "Copied to the clipboard."
      : "Could not copy automatically. The text is selected: press Ctrl+C or ⌘C.",
  );

  clearTimeout(copyTimers.get(button));
  copyTimers.set(
    button,
    setTimeout(() => {
      if (label) {
        if (isTextNode) label.nodeValue = original;
        else label.textContent = original;
      }
      button.removeAttribute("data-copied");
      button.removeAttribute("data-copy-original");
      if (liveRegion) liveRegion.textContent = "";
    }, COPY_FEEDBACK_MS),
  );
}

async function onCopyClick(event) {
  if (!(event.target instanceof Element)) return;
  const button = event.target.closest("button[data-copy]");
  if (!button || button.disabled) return;
  const target = document.getElementById(button.getAttribute("data-copy") ?? "");
  if (!target) return;
  event.preventDefault();
  const ok = await writeClipboard(textOf(target), target);
  showCopyResult(button, ok);
}

function startCopyButtons() {
  // One delegated listener: also covers buttons added later.
  document.addEventListener("click", (event) => {
    onCopyClick(event).catch(() => {});
  });
}

// ---------------------------------------------------------------------------
// 4. Phone menu: below 48rem the navigation folds behind a button that names
//    the current page (the current link's label, else the page's heading).
// ---------------------------------------------------------------------------

function startNavMenu() {
  const button = document.getElementById("nav-toggle");
  const nav = document.getElementById("main-nav");
  const header = button?.closest(".app-header");
  if (!button || !nav || !header) return;
  const current = nav.querySelector('a[aria-current="page"], a[aria-current="true"]');
  const heading = document.querySelector("main h1");
  const label = current?.textContent?.trim() || heading?.textContent?.trim() || "Menu";
  const page = document.getElementById("nav-current");
  if (page) page.textContent = label;
  const setOpen = (open) => {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.toggleAttribute("data-nav-open", open);
  };
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
}

// ---------------------------------------------------------------------------

function init() {
  document.documentElement.classList.add("js");
  markCurrentNavLink();
  startNavMenu();
  startRelativeTimes();
  startCopyButtons();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init, { once: true });
} else {
  init();
}
