// The accessibility suite (issue 18, item 6; WCAG 2.2 AA), shared by the three
// e2e/tests/ui-a11y-*.test.mjs files (each file must finish within the runner's 120 s per
// file, so the page sweep is split by width): axe-core on every page, in the light and the
// dark theme, at 1366 and 390 px, with 0 serious or critical violations and no sideways
// scrolling (also with 100-character names); the navigation reachable by keyboard; the
// dialogs keep and give back the focus; one polite live region announces printer state
// transitions and nothing else.
//
// The pages come from the route table: docs/PERMISSIONS.md is generated from it (and a
// pw-http test fails when it is stale), so a new page row that this suite does not visit
// fails the coverage test instead of going unchecked.
//
// The files are named to run last (files run one at a time, in name order): they need the
// administrator that identity.test.mjs sets up, and they look at pages with the data the
// earlier files left, plus their own (a library file, a queued job, an archive entry, a
// project, long names), which each removes again. The setup page exists only before setup,
// so it is checked on a second, fresh server each file starts (its own pid and data
// directory, stopped and removed in `after`).

import { after, before, describe, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchWithCa, launchBrowser, openPage, screenshot, url } from './browser.mjs';
import { EXPECTED_4XX, NAVIGATION_ABORT, apiCall, signedIn } from './identity.mjs';
import { axeViolations, formatViolations, horizontalOverflow, setTheme } from './a11y.mjs';
import { slicedProject } from './threemf.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const NOBODY = { username: 'a11y-nobody', password: 'e2e a11y nobody passphrase' };
const LONG_NAME = `A11Y-${'W'.repeat(95)}`;
const FILE = 'a11y cube (v2) ümlaut.gcode.3mf';
const SERVER_BIN = process.env.PW_SERVER_BIN || path.join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'printwarden');
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEIGHT = { 1366: 900, 390: 844 };
const THEMES = ['light', 'dark'];

/**
 * GET rows of the route table that are not pages a person reads, with the reason. Every
 * other GET row outside /api/ and /assets/ must be visited below.
 */
const NOT_PAGES = {
  '/healthz': 'a probe (JSON)',
  '/readyz': 'a probe (JSON)',
  '/metrics': 'Prometheus text',
  '/ca.crt': 'a certificate download',
  '/auth/oidc/callback': 'only redirects (needs a live state from an identity provider)',
};

/** The page rows of the route table, from the generated docs/PERMISSIONS.md. */
function pageRows() {
  const doc = readFileSync(path.join(REPO, 'docs', 'PERMISSIONS.md'), 'utf8');
  const rows = new Set();
  for (const m of doc.matchAll(/^\| GET \| `([^`]+)` \|/gm)) {
    const p = m[1];
    if (p.startsWith('/api/') || p.startsWith('/assets/')) continue;
    rows.add(p);
  }
  return [...rows];
}

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
const fixtures = {};
const cleanup = [];
let fresh;

async function waitFor(check, what, timeout = 45_000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: never happened`);
}

async function setupDone() {
  await waitFor(async () => {
    const res = await fetchWithCa('/api/v1/auth/status');
    return res.status === 200 && JSON.parse(res.body).setup_required === false;
  }, 'setup', 120_000);
}

async function printer(id) {
  return (await apiCall(admin.context, 'GET', `/api/v1/printers/${id}`)).body;
}

const BUSY = new Set(['RUNNING', 'PREPARE', 'PAUSE', 'SLICING']);

/** A fresh server (`printwarden serve`) whose setup is still pending. */
async function startFreshServer() {
  assert.ok(existsSync(SERVER_BIN), `the server binary (PW_SERVER_BIN) is needed: ${SERVER_BIN}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pw-e2e-a11y-'));
  const child = spawn(SERVER_BIN, ['serve'], {
    env: {
      ...process.env,
      PRINTWARDEN_DATA_DIR: path.join(dir, 'data'),
      PRINTWARDEN_BIND: '127.0.0.1',
      PRINTWARDEN_HTTPS_PORT: '0',
      PRINTWARDEN_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const file = path.join(dir, 'data', 'listening.json');
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('https'), 'the fresh server listens', 60_000);
  await new Promise((r) => setTimeout(r, 50));
  const { https } = JSON.parse(readFileSync(file, 'utf8'));
  return { child, dir, base: `https://${https}` };
}

/**
 * What to open for each page row: who looks (admin, anonymous, nobody) and the concrete
 * paths (a row with an id gets this file's fixture).
 */
function visitsFor(row) {
  const f = fixtures;
  const table = {
    '/': [['admin', '/'], ['anon', '/']],
    '/setup': [['fresh', '/setup']],
    '/login': [['anon', '/login']],
    '/forgot-password': [['anon', '/forgot-password']],
    '/reset-password': [['anon', '/reset-password']],
    '/set-password': [['anon', '/set-password']],
    '/account': [['admin', '/account']],
    '/account/cloud': [['admin', '/account/cloud']],
    '/users': [['admin', '/users']],
    '/groups': [['admin', '/groups']],
    '/groups/{id}': [['admin', `/groups/${f.groupId}`]],
    '/audit': [['admin', '/audit']],
    '/printers': [['admin', '/printers?view=cards'], ['admin', '/printers?view=list'], ['admin', '/printers?view=cameras']],
    '/library': [['admin', '/library']],
    '/library/files/{id}': [['admin', `/library/files/${f.fileId}`]],
    '/queue': [['admin', '/queue']],
    '/archive': [['admin', '/archive']],
    '/archive/{id}': [['admin', `/archive/${f.archiveId}`]],
    '/projects': [['admin', '/projects']],
    '/projects/{id}': [['admin', `/projects/${f.projectId}`]],
    '/settings': [['admin', '/settings']],
    '/webhooks': [['admin', '/webhooks']],
    '/settings/email': [['admin', '/settings/email']],
    '/settings/backup': [['admin', '/settings/backup']],
  };
  return table[row];
}

/** Extra pages that are no route row: the error pages. */
const ERROR_PAGES = [
  ['admin', '/no-such-page'],
  ['anon', '/no-such-page'],
  ['nobody', '/users'],
];

/** Waits until the page's own modules have run (live pages: the socket answered). */
async function settle(page) {
  await page.waitForLoadState('load');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const live = page.locator('#live-state');
  if ((await live.count()) > 0) {
    await page.waitForFunction(() => document.getElementById('live-state')?.textContent !== 'Connecting…', null, { timeout: 15_000 });
  }
}

/**
 * Registers the suite's hooks and the tests of one part: `pages-1366` and `pages-390` (the
 * sweep at that width, plus the coverage check and the phone menu), `keyboard` (navigation by
 * keyboard, dialogs, the live region).
 */
export function a11ySuite(part) {
  const width = part === 'pages-390' ? 390 : 1366;
  const BEFORE = (fn) => before(fn, { timeout: 110_000 });
  BEFORE(async () => {
    browser = await launchBrowser();
    fresh = await startFreshServer();
    await setupDone();
    admin = await signedIn(browser, ADMIN.username, ADMIN.password);
    const { context } = admin;
    const origin = new URL(url('/')).origin;

    // A library file with the kind of name a slicer writes.
    const uploaded = await context.request.post(url('/api/v1/library/files'), {
      headers: { accept: 'application/json', origin },
      multipart: { file: { name: FILE, mimeType: 'application/octet-stream', buffer: slicedProject({ title: 'a11y cube' }) } },
      failOnStatusCode: false,
    });
    assert.equal(uploaded.status(), 201, await uploaded.text());
    fixtures.fileId = (await uploaded.json()).id;
    cleanup.push(['DELETE', `/api/v1/library/files/${fixtures.fileId}`]);

    // Long names where they are shown: a printer, a location, a project.
    const printers = (await apiCall(context, 'GET', '/api/v1/printers?limit=500')).body.items;
    assert.ok(printers.length >= 2, 'the demo has printers');
    const free = printers.filter((p) => p.connection === 'online' && !BUSY.has(p.status?.state));
    const renamed = free[free.length - 1] ?? printers[printers.length - 1];
    const oldName = renamed.name;
    assert.equal((await apiCall(context, 'PATCH', `/api/v1/printers/${renamed.id}`, { name: LONG_NAME })).status, 200);
    cleanup.push(['PATCH', `/api/v1/printers/${renamed.id}`, { name: oldName }]);
    const hall = await apiCall(context, 'POST', '/api/v1/locations', { name: `A11Y-${'H'.repeat(59)}` });
    assert.equal(hall.status, 201, JSON.stringify(hall.body));
    cleanup.push(['DELETE', `/api/v1/locations/${hall.body.id}`]);
    assert.equal(
      (await apiCall(context, 'PATCH', `/api/v1/printers/${renamed.id}`, { location_id: hall.body.id })).status,
      200,
    );
    cleanup.push(['PATCH', `/api/v1/printers/${renamed.id}`, { location_id: null }]);
    const project = await apiCall(context, 'POST', '/api/v1/projects', { name: `A11Y-${'P'.repeat(95)}`, notes: 'Checked by the accessibility test.' });
    assert.equal(project.status, 201, JSON.stringify(project.body));
    fixtures.projectId = project.body.id;
    cleanup.push(['DELETE', `/api/v1/projects/${fixtures.projectId}`]);

    // A queued job that stays queued (the queue is paused while we look).
    assert.equal((await apiCall(context, 'POST', '/api/v1/queue/pause', {})).status, 200);
    const job = await apiCall(context, 'POST', '/api/v1/queue', { file_id: fixtures.fileId, target: { printer_id: renamed.id } });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    cleanup.push(['DELETE', `/api/v1/queue/${job.body.id}`]);
    cleanup.push(['POST', '/api/v1/queue/resume', {}]);

    // A print (an archive entry, and a printer whose state the live region follows).
    const target = free.find((p) => p.id !== renamed.id);
    assert.ok(target, 'a second free printer to print on');
    fixtures.printing = target;
    const started = await context.request.fetch(url(`/api/v1/printers/${target.id}/print?file=a11y-cube.gcode.3mf`), {
      method: 'POST',
      data: slicedProject({ title: 'a11y print', seconds: 1200 }),
      headers: { 'content-type': 'application/octet-stream', accept: 'application/json', origin },
      failOnStatusCode: false,
    });
    assert.equal(started.status(), 200, await started.text());
    cleanup.push(['POST', `/api/v1/printers/${target.id}/commands`, { command: 'stop' }]);
    fixtures.archiveId = await waitFor(async () => (await printer(target.id)).archive_id, 'the print has an archive entry');
    await waitFor(async () => (await printer(target.id)).status?.state === 'RUNNING', 'the print runs', 60_000);

    const groups = (await apiCall(context, 'GET', '/api/v1/groups')).body;
    fixtures.groupId = (groups.items ?? groups)[0].id;

    // A signed-in user with no rights (the 403 page keeps the layout).
    const user = await apiCall(context, 'POST', '/api/v1/users', { username: NOBODY.username, password: NOBODY.password, group_ids: [] });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    cleanup.push(['DELETE', `/api/v1/users/${user.body.id}`]);
  });

  after(async () => {
    if (admin) {
      for (const [method, p, body] of cleanup.reverse()) await apiCall(admin.context, method, p, body).catch(() => {});
      await admin.context.close();
    }
    await browser?.close();
    if (fresh) {
      fresh.child.kill('SIGTERM');
      await new Promise((r) => (fresh.child.exitCode !== null ? r() : fresh.child.once('exit', r)));
      rmSync(fresh.dir, { recursive: true, force: true });
    }
  });

  /** Registers a test only in the named parts of the suite. */
  const test = (parts, name, fn) => {
    if (parts.includes(part)) nodeTest(name, fn);
  };

  describe(`accessibility (${part})`, () => {
    test(['pages-1366'], 'every page row of the route table is visited, and the list covers the navigation', async () => {
      const missing = pageRows().filter((r) => !(r in NOT_PAGES) && !visitsFor(r));
      assert.deepEqual(missing, [], 'page rows this file does not visit: add them to visitsFor');
      const { page } = admin;
      await page.goto(url('/'));
      const nav = await page.locator('nav.nav a').evaluateAll((links) => links.map((a) => new URL(a.href).pathname));
      assert.ok(nav.length >= 10, `the administrator sees the whole navigation (${nav.join(', ')})`);
      const visited = new Set(pageRows().flatMap((r) => (visitsFor(r) ?? []).map(([, p]) => new URL(p, 'https://x').pathname)));
      assert.deepEqual(nav.filter((p) => !visited.has(p)), [], 'navigation items not visited');
    });

    test(['pages-1366', 'pages-390'], `axe: 0 serious or critical violations in both themes and no sideways scrolling at ${width} px`, async () => {
      const visits = [...pageRows().flatMap((r) => visitsFor(r) ?? []), ...ERROR_PAGES];
      const size = { width, height: HEIGHT[width] };
      const anon = await openPage(browser, { viewport: size });
      const nobody = await signedIn(browser, NOBODY.username, NOBODY.password, { viewport: size });
      const freshSession = await openPage(browser, { viewport: size });
      const sessions = { admin, anon, nobody, fresh: freshSession };
      await admin.page.setViewportSize(size);
      const failures = [];
      let checked = 0;
      try {
        for (const [who, p] of visits) {
          const { page } = sessions[who];
          const target = who === 'fresh' ? new URL(p, fresh.base).toString() : url(p);
          await page.emulateMedia({ colorScheme: 'light' });
          await page.goto(target);
          await settle(page);
          const overflow = await horizontalOverflow(page);
          if (overflow) failures.push(`${who} ${p} ${width}px: sideways scrolling ${JSON.stringify(overflow)}`);
          for (const theme of THEMES) {
            // Switched on the open page (no second load): the test waits for the colour
            // transitions to end.
            await setTheme(page, theme);
            const violations = await axeViolations(page);
            if (violations.length > 0) failures.push(formatViolations(`${who} ${p} ${theme} ${width}px`, violations));
            checked++;
          }
        }
      } finally {
        await anon.context.close();
        await nobody.context.close();
        await freshSession.context.close();
        await admin.page.emulateMedia({ colorScheme: 'light' });
      }
      assert.ok(checked >= 2 * 25, `pages checked: ${checked}`);
      assert.equal(failures.length, 0, `\n${failures.join('\n')}`);
    });

    test(['keyboard'], 'the keyboard reaches every navigation item at 1366 px, with a visible focus ring', async () => {
      const { page } = admin;
      await page.setViewportSize({ width: 1366, height: 900 });
      await setTheme(page, 'light');
      await page.goto(url('/printers'));
      await settle(page);
      const nav = await page.locator('nav.nav a').allInnerTexts();
      const reached = [];
      for (let i = 0; i < 40 && reached.length < nav.length; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const a = document.activeElement;
          if (!a?.closest('nav.nav')) return null;
          const r = a.getBoundingClientRect();
          const style = getComputedStyle(a);
          return {
            text: a.textContent.trim(),
            inView: r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight,
            outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
          };
        });
        if (focused) reached.push(focused);
      }
      assert.deepEqual(reached.map((f) => f.text), nav.map((t) => t.trim()), 'Tab walks the navigation in order');
      assert.ok(reached.some((f) => f.text === 'Account'), 'Tab reaches Account');
      for (const f of reached) {
        assert.ok(f.inView, `${f.text} is on screen when focused (no sideways scrolling of the navigation)`);
        assert.ok(f.outline, `${f.text} shows a focus outline`);
      }
      await screenshot(page, 'a11y-nav-1366');
      const scroller = await page.locator('nav.nav').evaluate((n) => n.scrollWidth > n.clientWidth);
      assert.equal(scroller, false, 'the navigation does not scroll sideways');
    });

    test(['pages-390'], 'the phone menu at 390 px shows every navigation item without sideways scrolling', async () => {
      const { page } = admin;
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(url('/account'));
      await settle(page);
      const toggle = page.locator('#nav-toggle');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      const links = page.locator('nav.nav a');
      const n = await links.count();
      assert.ok(n >= 10, `links: ${n}`);
      for (let i = 0; i < n; i++) {
        const box = await links.nth(i).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `link ${i} fits the screen: ${JSON.stringify(box)}`);
        assert.ok(box.height >= 44, `link ${i} is a 44 px touch target: ${box.height}`);
      }
      assert.equal(await horizontalOverflow(page), null);
      for (const theme of THEMES) {
        await setTheme(page, theme);
        const violations = await axeViolations(page);
        assert.equal(violations.length, 0, formatViolations(`the open phone menu, ${theme}`, violations));
      }
      await setTheme(page, 'light');
      await page.setViewportSize({ width: 1366, height: 900 });
    });

    test(['keyboard'], 'a dialog keeps the focus inside and gives it back when it closes', async () => {
      const { page } = admin;
      await page.goto(url('/groups'));
      await settle(page);
      const opener = page.locator('#new-group');
      await opener.focus();
      await page.keyboard.press('Enter');
      const dialog = page.locator('dialog[open]');
      await dialog.waitFor({ state: 'visible' });
      for (let i = 0; i < 15; i++) {
        await page.keyboard.press('Tab');
        const inside = await page.evaluate(() => Boolean(document.activeElement?.closest('dialog[open]')));
        assert.ok(inside, `Tab ${i + 1} stays in the dialog`);
      }
      for (const theme of THEMES) {
        await setTheme(page, theme);
        const violations = await axeViolations(page);
        assert.equal(violations.length, 0, formatViolations(`the New group dialog, ${theme}`, violations));
      }
      await setTheme(page, 'light');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'new-group', 'the focus is back on the button that opened it');
    });

    test(['keyboard'], 'printer state changes are announced once each, temperature ticks are not', async () => {
      const { page, context } = admin;
      await page.goto(url('/printers'));
      await settle(page);
      const region = page.locator('#printer-announcer');
      assert.equal(await region.getAttribute('aria-live'), 'polite');
      await page.evaluate(() => {
        window.__announced = [];
        window.__ticks = 0;
        new MutationObserver(() => {
          const t = document.getElementById('printer-announcer').textContent.trim();
          if (t) window.__announced.push(t);
        }).observe(document.getElementById('printer-announcer'), { childList: true, characterData: true, subtree: true });
        new MutationObserver(() => {
          window.__ticks++;
        }).observe(document.getElementById('printers'), { childList: true, characterData: true, subtree: true });
      });
      const id = fixtures.printing.id;
      const name = (await printer(id)).name;
      const paused = await apiCall(context, 'POST', `/api/v1/printers/${id}/commands`, { command: 'pause' });
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      await page.waitForFunction(() => window.__announced.some((t) => /Paused/.test(t)), null, { timeout: 30_000 });
      const resumed = await apiCall(context, 'POST', `/api/v1/printers/${id}/commands`, { command: 'resume' });
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      await page.waitForFunction(() => window.__announced.some((t) => /Printing/.test(t)), null, { timeout: 30_000 });
      // The cards kept changing (progress, temperatures, times) meanwhile; let them change a
      // good deal more, then compare.
      const ticks = await page.evaluate(() => window.__ticks);
      await page.waitForFunction((n) => window.__ticks >= n + 20, ticks, { timeout: 60_000 });
      const announced = await page.evaluate(() => window.__announced);
      assert.ok(announced.length <= 4, `announcements: ${JSON.stringify(announced)}`);
      assert.ok(announced.every((t) => !/°C|%/.test(t)), `no temperatures or progress: ${JSON.stringify(announced)}`);
      assert.ok(announced.some((t) => t.includes(name) && /Paused/.test(t)), `names the printer: ${JSON.stringify(announced)}`);
      await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
    });
  });
}
