// Helpers for the identity pages: signing in through the real form and
// calling the JSON API with a browser context's own session cookie.

import assert from 'node:assert/strict';
import { openPage, url } from './browser.mjs';

/** Chromium logs every 4xx answer to fetch() as a console error. */
export const EXPECTED_4XX = /the server responded with a status of 4\d\d/;

/**
 * Signs in through /login in the session's page and waits until the browser
 * has left the sign-in page.
 */
export async function signIn(page, username, password, next) {
  const target = next ? `/login?next=${encodeURIComponent(next)}` : '/login';
  await page.goto(url(target));
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 }),
    page.locator('#login-form button[type=submit]').click(),
  ]);
}

/** A new context + page, signed in as `username`. */
export async function signedIn(browser, username, password, options = {}) {
  const session = await openPage(browser, options);
  await signIn(session.page, username, password);
  return session;
}

/**
 * Calls the JSON API with the context's cookies. Resolves to
 * { status, body } (body parsed as JSON when there is one).
 */
export async function apiCall(context, method, path, data) {
  const res = await context.request.fetch(url(path), {
    method,
    data,
    // As the server's own pages would send it: state-changing cookie requests need our Origin.
    headers: { accept: 'application/json', origin: new URL(url('/')).origin },
    failOnStatusCode: false,
  });
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: res.status(), body };
}

/** The visible main-nav link texts. */
export async function navLinks(page) {
  return (await page.locator('nav.nav a').allInnerTexts()).map((t) => t.trim());
}

/** Opens `path` and asserts that the 403 page is shown. */
export async function expectForbidden(page, path) {
  const res = await page.goto(url(path));
  assert.equal(res?.status(), 403, `${path} status`);
  assert.equal(new URL(page.url()).pathname, path, `${path} did not redirect`);
  assert.match(await page.locator('#error-title').innerText(), /Not allowed/);
}

/** Scrolls and layout: the page fits the viewport width (no sideways scrolling). */
export async function assertNoHorizontalScroll(page, what) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${what}: scrollWidth ${scrollWidth} > innerWidth ${innerWidth}`);
}

/**
 * A request cut off because the page navigated away (the session watcher's
 * poll of /api/v1/auth/me, the favicon of a page the sign-in form leaves at
 * once). Expected during fast navigation; a real failure has another error.
 */
export const NAVIGATION_ABORT = /: net::ERR_ABORTED$/;

/**
 * Clicks something whose action ends with a page reload or navigation, and
 * waits for the new page to load (a flash message from the previous page is
 * still visible until then).
 */
export async function clickAndWaitForLoad(page, locator) {
  const loaded = page.waitForEvent('load', { timeout: 15_000 });
  await locator.click();
  await loaded;
}

/**
 * Answers the app's one confirmation dialog (lib.js `confirmAction`, which replaced the
 * browser's `confirm()`): checks that it names what it is about (`title`), then presses its
 * confirm button and waits until it closed.
 */
export async function confirmStyled(page, title) {
  const dialog = page.locator('#confirm-action-dialog');
  await dialog.waitFor({ state: 'visible' });
  if (title) assert.match(await dialog.locator('#confirm-action-title').innerText(), title);
  await dialog.locator('[data-confirm-ok]').click();
  await dialog.waitFor({ state: 'hidden' });
}
