// printwarden — loaded on pages for a signed-in user.
//
//   1. Session watcher: every 5 s, and whenever the tab becomes visible again,
//      asks GET /api/v1/auth/me. A 401 means the session is gone (revoked from
//      another device, password changed, account disabled, expired): go to the
//      sign-in page, which brings the user back here afterwards. Network
//      errors are ignored (a restarting server must not sign anyone out).
//   2. The Sign out button: POST /api/v1/auth/logout, then the sign-in page.

const WATCH_MS = 5_000;

let leaving = false;
let inFlight = false;

function toLogin() {
  if (leaving) return;
  leaving = true;
  const next = `${location.pathname}${location.search}`;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

async function check() {
  if (leaving || inFlight) return;
  inFlight = true;
  try {
    const res = await fetch("/api/v1/auth/me", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (res.status === 401) toLogin();
  } catch {
    // Offline or restarting: try again on the next tick.
  } finally {
    inFlight = false;
  }
}

function startWatcher() {
  setInterval(() => {
    if (!document.hidden) check();
  }, WATCH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) check();
  });
}

function wireSignOut() {
  for (const form of document.querySelectorAll("form[data-sign-out]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      leaving = true;
      const button = form.querySelector("button");
      if (button) button.disabled = true;
      try {
        await fetch("/api/v1/auth/logout", {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
      } catch {
        // Even if the request failed the user wants out of this page; the
        // sign-in page shows whether they are still signed in.
      }
      location.assign("/login");
    });
  }
}

wireSignOut();
startWatcher();
