// The printers page for operators (issue 18, items 2 and 5; issue 17, item 2): the camera wall
// (pick, frames arriving — JPEG pictures from the P1S and A1, H.264 video from the X1C played
// through Media Source Extensions —, the pick remembered, offline in words), the cards'
// cameras (the X1C's <video> plays next to the P1S's JPEG stream), "Print a file…" with a file dropped on a
// card (uploaded to the library, then printed on the simulator), per-printer rights (a scoped
// user gets no dialog and no tile outside the scope), and the phone layout (a menu button
// naming the page, no sideways scrolling at 360 and 390 px with 100-character names, touch
// targets of at least 44 px).
//
// Uses the demo's three printers (X1C, P1S, A1; the X1C's camera is RTSPS, remuxed by the
// server to fragmented MP4 over the same authenticated camera socket) and adds one unreachable printer with a 100-character name; everything it
// adds is removed in `after`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { NAVIGATION_ABORT, apiCall, assertNoHorizontalScroll, confirmStyled, navLinks, signedIn } from '../lib/identity.mjs';
import { slicedProject } from '../lib/threemf.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const SCOPED = { username: 'ui-scoped-camera-and-print', password: 'e2e ui scoped passphrase' };
/** The longest user name the server takes (64 characters). */
const LONG_USER = `ui-${'u'.repeat(61)}`;
const LONG_USER_PASSWORD = 'e2e ui long user passphrase';
const long = (prefix) => `${prefix} ${'N'.repeat(99 - prefix.length)}`;
const LONG_PRINTER = long('UI offline camera');
const LONG_FILE = `${long('UI file').slice(0, 91)}.gcode.3mf`;
const DOCS_DIR = process.env.PW_DOCS_SCREENSHOTS ?? '';
const HEIGHT = { 1366: 900, 390: 844, 360: 780 };
/** A 4xx the test provokes on purpose (a refused camera socket is not a page error). */
const CAMERA_REFUSED = /camera\/ws/;

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let demo = {};
const cleanup = [];

async function shot(page, name) {
  await screenshot(page, name);
  if (DOCS_DIR) await page.screenshot({ path: path.join(DOCS_DIR, `${name}.png`) });
}

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
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

async function printer(context, id) {
  return (await apiCall(context, 'GET', `/api/v1/printers/${id}`)).body;
}

/** Waits until the printer is online and can take a job (not busy). */
async function ready(context, id) {
  await waitFor(
    async () => {
      const p = await printer(context, id);
      return p.connection === 'online' && p.status && !p.status.busy;
    },
    `printer ${id} is online and free`,
    150_000,
  );
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
  const all = (await apiCall(admin.context, 'GET', '/api/v1/printers?limit=500')).body.items;
  const byModel = (m) => all.find((p) => p.model === m && p.name !== LONG_PRINTER);
  demo = { x1c: byModel('X1C'), p1s: byModel('P1S'), a1: byModel('A1') };
  assert.ok(demo.x1c && demo.p1s && demo.a1, `the demo's three printers: ${JSON.stringify(all.map((p) => p.model))}`);
  // An unreachable P1S (nothing listens on port 9): offered on the wall, shown offline in words.
  const offline = await apiCall(admin.context, 'POST', '/api/v1/printers', {
    name: LONG_PRINTER,
    serial: '01P00UIOFFLINE1',
    host: '127.0.0.1',
    access_code: '12345678',
    model: 'P1S',
    mqtt_port: 9,
    ftps_port: 9,
    camera_port: 9,
  });
  assert.equal(offline.status, 201, JSON.stringify(offline.body));
  demo.offline = offline.body;
  cleanup.push(['DELETE', `/api/v1/printers/${offline.body.id}`]);
});

after(async () => {
  if (admin) {
    for (const [method, p] of cleanup.reverse()) await apiCall(admin.context, method, p);
    await admin.context.close();
  }
  await browser?.close();
});

/** No sideways scrolling; on failure, names the elements that stick out. */
async function fits(page, what) {
  const culprits = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && e.getBoundingClientRect().width > 0)
      .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5))
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')} right ${Math.round(e.getBoundingClientRect().right)}`),
  );
  await assertNoHorizontalScroll(page, `${what} (${culprits.join('; ')})`);
}

/** The <video> plays: it has a decoded picture and its time advances by more than two
 * pictures' worth (the simulator sends 5 per second). Returns the video's size. */
async function videoPlays(page, video, what) {
  const handle = await video.elementHandle({ timeout: 30_000 });
  const start = await page.waitForFunction((v) => (v.readyState >= 2 ? v.currentTime : false), handle, { timeout: 30_000 });
  const t0 = await start.jsonValue();
  await page.waitForFunction(([v, t]) => v.currentTime > t + 0.5, [handle, t0], { timeout: 30_000 }).catch(async (e) => {
    const state = await handle.evaluate((v) => ({ t: v.currentTime, paused: v.paused, ready: v.readyState, error: v.error?.message }));
    throw new Error(`${what}: the video's time did not advance from ${t0}: ${JSON.stringify(state)} (${e.message})`);
  });
  return handle.evaluate((v) => [v.videoWidth, v.videoHeight]);
}

/** The tiles' printer ids, in order. */
async function tileIds(page) {
  return page.locator('#camera-tiles > [data-printer-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-printer-id')));
}

describe('the camera wall', () => {
  test('pick printers, frames arrive, the pick is remembered, offline says so; 1366 and 390 px', async () => {
    const { page } = admin;
    const watchable = [demo.x1c.id, demo.p1s.id, demo.a1.id, demo.offline.id].map(String);
    for (const width of [1366, 390]) {
      await page.setViewportSize({ width, height: HEIGHT[width] });
      await page.goto(url('/printers'));
      await page.locator('#printer-view input[value="cameras"]').check({ force: true });
      await page.waitForURL((u) => u.searchParams.get('view') === 'cameras');
      await page.locator('#camera-wall').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#printers').isVisible(), false, 'the wall replaces the cards');

      await page.locator('#choose-cameras').click();
      const dialog = page.locator('#camera-pick-dialog');
      await dialog.waitFor({ state: 'visible' });
      const offered = await dialog.locator('input[name=printer_id]').evaluateAll((els) => els.map((e) => e.value));
      assert.deepEqual(new Set(offered), new Set(watchable), 'every camera the viewer may watch is offered, the X1C too');
      for (const box of await dialog.locator('input[name=printer_id]').all()) await box.uncheck();
      for (const id of watchable) await dialog.locator(`input[value="${id}"]`).check();
      await dialog.locator('button[type=submit]').click();
      await dialog.waitFor({ state: 'hidden' });
      assert.deepEqual(new Set(await tileIds(page)), new Set(watchable));
      assert.deepEqual(new Set(new URL(page.url()).searchParams.get('cams').split(',')), new Set(watchable));

      // Frames arrive on both live cameras, over the authenticated camera socket.
      for (const id of [demo.p1s.id, demo.a1.id]) {
        const tile = page.locator(`#camera-tiles [data-printer-id="${id}"]`);
        await page.waitForFunction((el) => Number(el.getAttribute('data-frames')) >= 3, await tile.elementHandle(), { timeout: 30_000 });
        assert.equal(await tile.getAttribute('data-live'), 'true');
        const size = await tile.locator('img').evaluate((img) => img.naturalWidth);
        assert.ok(size > 0, 'the tile shows a decoded picture');
        assert.match(await tile.locator('.camera-tile__caption').innerText(), /[A-Za-z]/);
        // The state in words, never a firmware spelling.
        assert.match(await tile.locator('[data-tile-state]').innerText(), /^(Idle|Preparing|Printing|Paused|Finished|Cancelled|Failed|Offline)/);
      }
      // The X1C's tile plays H.264 in a <video>, through the same socket.
      const x1c = page.locator(`#camera-tiles [data-printer-id="${demo.x1c.id}"]`);
      assert.deepEqual(await videoPlays(page, x1c.locator('video'), 'the X1C tile'), [320, 240]);
      assert.equal(await x1c.getAttribute('data-live'), 'true');
      assert.equal(await x1c.locator('.camera-tile__picture').getAttribute('data-camera-kind'), 'video');
      const off = page.locator(`#camera-tiles [data-printer-id="${demo.offline.id}"]`);
      assert.match(await off.locator('[data-tile-note]').innerText(), /Offline: no picture/);
      assert.equal(await off.getAttribute('data-frames'), '0');
      await assertNoHorizontalScroll(page, `/printers?view=cameras at ${width} with a 100-character name`);
      await shot(page, `printers-cameras-${width}`);

      // Remembered for this user: the address without the pick shows the same tiles.
      await page.goto(url('/printers?view=cameras'));
      await page.locator('#camera-tiles > [data-printer-id]').first().waitFor();
      assert.deepEqual(new Set(await tileIds(page)), new Set(watchable));
    }
    // A tile leads to its printer's card.
    await page.setViewportSize({ width: 1366, height: HEIGHT[1366] });
    await page.locator(`#camera-tiles [data-printer-id="${demo.a1.id}"] a`).click();
    await page.waitForURL((u) => u.hash === `#printer-${demo.a1.id}`);
    await page.locator(`#printer-${demo.a1.id}`).waitFor({ state: 'visible' });
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT, CAMERA_REFUSED] });
  });
});

describe('the cards\' cameras', () => {
  test('the X1C card plays live video next to the P1S card\'s JPEG stream, both authenticated', async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 1366, height: HEIGHT[1366] });
    await page.goto(url('/printers?view=cards'));
    const x1c = page.locator(`#printers [data-printer-id="${demo.x1c.id}"]`);
    const p1s = page.locator(`#printers [data-printer-id="${demo.p1s.id}"]`);
    for (const card of [x1c, p1s]) {
      await card.locator('[data-camera]').waitFor({ state: 'visible', timeout: 30_000 });
      await card.locator('[data-camera]').click();
    }
    // The X1C: H.264 remuxed to fMP4, over the camera socket the session cookie opened.
    const video = x1c.locator('[data-field="camera"] video');
    assert.deepEqual(await videoPlays(page, video, 'the X1C card'), [320, 240]);
    // The P1S: the JPEG stream, decoded pictures in the <img>.
    await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await p1s.locator('[data-field="camera"] img').elementHandle(), {
      timeout: 30_000,
    });
    // Both went through the authenticated path: without the session, the same addresses refuse.
    const anonymous = await fetchWithCa(`/api/v1/printers/${demo.x1c.id}/camera/stream`);
    assert.equal(anonymous.status, 401);
    await shot(page, 'printers-cameras-cards-1366');
    // Closing the X1C's camera stops its video.
    await x1c.locator('[data-camera]').click();
    assert.equal(await x1c.locator('[data-field="camera"]').isVisible(), false);
    assert.equal(await video.evaluate((v) => v.getAttribute('src')), null);
    await p1s.locator('[data-camera]').click();
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });
});

describe('print a file', () => {
  test('a file dropped on a card goes to the library, then prints on that printer', async () => {
    const { page, context } = admin;
    // The A1 (the library and archive files print there too; the P1S stays free for
    // printers.test.mjs). The file was sliced for a P1S: the dialog warns, the print may go.
    const id = demo.a1.id;
    await ready(context, id);
    await page.goto(url('/printers'));
    const card = page.locator(`#printers [data-printer-id="${id}"]`);
    await card.locator('[data-print-file]').waitFor({ state: 'visible' });
    const bytes = slicedProject({ title: 'ui dropped part', seconds: 1500 }).toString('base64');
    const transfer = await page.evaluateHandle(
      ({ b64, name }) => {
        const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([data], name, { type: 'application/octet-stream' }));
        return dt;
      },
      { b64: bytes, name: LONG_FILE },
    );
    await card.dispatchEvent('dragover', { dataTransfer: transfer });
    await card.locator('[data-field="drop"]').waitFor({ state: 'visible' });
    assert.match(await card.locator('[data-field="drop"]').innerText(), /Drop a sliced file/);
    await card.dispatchEvent('drop', { dataTransfer: transfer });

    const dialog = page.locator('#print-file-dialog');
    await dialog.waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await dialog.locator('#print-file-title').innerText(), new RegExp(`Print a file on ${demo.a1.name}`));
    const chosen = dialog.locator('#print-file-files input[name=file_id]:checked');
    await chosen.waitFor({ state: 'attached' });
    const fileId = await chosen.getAttribute('value');
    const label = dialog.locator(`label[for="print-file-${fileId}"]`);
    assert.match(await label.innerText(), new RegExp(LONG_FILE.slice(0, 40)));
    cleanup.push(['DELETE', `/api/v1/library/files/${fileId}`]);
    // It is in the library now.
    const stored = await apiCall(context, 'GET', `/api/v1/library/files/${fileId}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.name, LONG_FILE);
    // The plate: its picture, time and filament.
    const plate = dialog.locator('#print-file-plates .print-file__plate').first();
    await plate.waitFor();
    assert.match(await plate.innerText(), /Plate 1/);
    assert.match(await plate.innerText(), /25 min/);
    assert.match(await plate.innerText(), /PLA/);
    assert.equal(await plate.locator('img').count(), 1);
    // Sliced for a P1S, about to print on an A1: said before anything starts.
    const warning = dialog.locator('#print-file-warning');
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.innerText(), /sliced for a P1S, but .* is an A1/);
    await page.setViewportSize({ width: 390, height: HEIGHT[390] });
    await fits(page, 'the print dialog at 390 with a 100-character file name');
    await shot(page, 'printers-print-dialog-390');
    await page.setViewportSize({ width: 1366, height: HEIGHT[1366] });

    await dialog.locator('#print-file-submit').click();
    await dialog.locator('#print-file-status', { hasText: /is starting plate 1/ }).waitFor({ timeout: 20_000 });
    // It reached the simulator: the printer reports the job.
    await waitFor(async () => {
      const p = await printer(context, id);
      return p.status?.busy === true && p.status?.job_name ? p : null;
    }, 'the simulator runs the job');
    await dialog.locator('[data-close-dialog]').click();
    await card.locator('[data-field="state"]', { hasText: /^(Preparing|Printing)$/ }).waitFor({ timeout: 20_000 });
    assert.equal(await card.locator('[data-print-file]').isVisible(), false, 'no new print on a busy printer');

    // The same file on the P1S it was sliced for: no warning.
    const p1s = page.locator(`#printers [data-printer-id="${demo.p1s.id}"]`);
    await ready(context, demo.p1s.id);
    await page.reload();
    await p1s.locator('[data-print-file]').click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('#print-file-search').fill(LONG_FILE.slice(0, 30));
    await dialog.locator(`#print-file-files input[value="${fileId}"]`).check();
    await dialog.locator('#print-file-plates input[name=plate]:checked').waitFor({ state: 'attached' });
    assert.equal(await dialog.locator('#print-file-warning').isVisible(), false);
    await dialog.locator('[data-close-dialog]').click();

    // Stop the A1 again, so the files that follow find it ready.
    await card.locator('[data-command="stop"]').click();
    await confirmStyled(page, /Stop the job on/);
    await card.locator('[data-field="state"]', { hasText: /^Cancelled/ }).waitFor({ timeout: 20_000 });
    await apiCall(context, 'POST', `/api/v1/printers/${id}/plate-cleared`);
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('a scoped user sees no Print and no camera tile for printers outside the scope', async (t) => {
    const { context } = admin;
    const viewers = await apiCall(context, 'POST', '/api/v1/groups', { name: 'E2E ui viewers', permissions: ['printers:read'] });
    assert.equal(viewers.status, 201, JSON.stringify(viewers.body));
    cleanup.push(['DELETE', `/api/v1/groups/${viewers.body.id}`]);
    const operators = await apiCall(context, 'POST', '/api/v1/groups', {
      name: 'E2E ui P1S operators',
      permissions: ['printers:read', 'printers:control', 'camera:view', 'library:read_own', 'library:upload'],
      scope: { printers: [demo.p1s.id] },
    });
    assert.equal(operators.status, 201, JSON.stringify(operators.body));
    cleanup.push(['DELETE', `/api/v1/groups/${operators.body.id}`]);
    const user = await apiCall(context, 'POST', '/api/v1/users', {
      username: SCOPED.username,
      password: SCOPED.password,
      group_ids: [viewers.body.id, operators.body.id],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    cleanup.push(['DELETE', `/api/v1/users/${user.body.id}`]);

    const scoped = await signedIn(browser, SCOPED.username, SCOPED.password);
    t.after(() => scoped.context.close());
    const { page } = scoped;
    await page.goto(url('/printers'));
    const cards = page.locator('#printers > [data-printer-id]');
    assert.ok((await cards.count()) >= 4, 'printers:read everywhere: every printer');
    const printable = await page
      .locator('#printers > [data-printer-id]:has([data-print-file])')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-printer-id'))));
    assert.deepEqual(printable, [demo.p1s.id], 'Print a file… only on the printer in scope');
    const droppable = await page.locator('#printers > [data-printer-id][data-drop]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-printer-id'))));
    assert.deepEqual(droppable, [demo.p1s.id], 'drops only on the printer in scope');

    // The wall offers only the printer in scope; an address naming others shows it alone.
    await page.goto(url(`/printers?view=cameras&cams=${demo.a1.id},${demo.p1s.id},${demo.offline.id}`));
    await page.locator('#camera-tiles > [data-printer-id]').first().waitFor();
    assert.deepEqual(await tileIds(page), [String(demo.p1s.id)]);
    await page.locator('#choose-cameras').click();
    const offered = await page.locator('#camera-pick-dialog input[name=printer_id]').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(offered, [String(demo.p1s.id)]);
    await page.locator('#camera-pick-dialog [data-close-dialog]').click();
    const tile = page.locator(`#camera-tiles [data-printer-id="${demo.p1s.id}"]`);
    await page.waitForFunction((el) => Number(el.getAttribute('data-frames')) >= 2, await tile.elementHandle(), { timeout: 30_000 });
    // And the server agrees: the user's own library file does not print on the A1.
    const own = await scoped.context.request.fetch(url('/api/v1/library/files'), {
      method: 'POST',
      multipart: { file: { name: 'ui-scoped.gcode.3mf', mimeType: 'application/octet-stream', buffer: slicedProject({ title: 'ui scoped' }) } },
      headers: { accept: 'application/json', origin: new URL(url('/')).origin },
      failOnStatusCode: false,
    });
    assert.equal(own.status(), 201, await own.text());
    const ownFile = await own.json();
    cleanup.push(['DELETE', `/api/v1/library/files/${ownFile.id}`]);
    const refused = await apiCall(scoped.context, 'POST', `/api/v1/library/files/${ownFile.id}/print`, { printer_id: demo.a1.id });
    assert.ok([403, 404].includes(refused.status), `printing outside the scope: ${refused.status}`);
    await scoped.assertClean({ allowFailed: [NAVIGATION_ABORT, /the server responded with a status of 40[34]/] });
  });
});

describe('the phone layout', () => {
  test('a menu button names the page; every page fits 360 and 390 px with long names; touch targets ≥ 44 px', async (t) => {
    const { context } = admin;
    // A 100-character file name (and printer name, added above); the longest location and user
    // names the server takes (64 characters).
    const upload = await context.request.fetch(url('/api/v1/library/files'), {
      method: 'POST',
      multipart: { file: { name: LONG_FILE, mimeType: 'application/octet-stream', buffer: slicedProject({ title: 'ui long name' }) } },
      headers: { accept: 'application/json', origin: new URL(url('/')).origin },
      failOnStatusCode: false,
    });
    assert.equal(upload.status(), 201, await upload.text());
    const file = await upload.json();
    cleanup.push(['DELETE', `/api/v1/library/files/${file.id}`]);
    const hall = await apiCall(context, 'POST', '/api/v1/locations', { name: `UI hall ${'H'.repeat(56)}` });
    assert.equal(hall.status, 201, JSON.stringify(hall.body));
    cleanup.push(['DELETE', `/api/v1/locations/${hall.body.id}`]);
    const moved = await apiCall(context, 'PATCH', `/api/v1/printers/${demo.offline.id}`, { location_id: hall.body.id });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const groups = (await apiCall(context, 'GET', '/api/v1/groups')).body;
    const adminGroup = (groups.items ?? groups).find((g) => /admin/i.test(g.name));
    assert.ok(adminGroup, 'the seeded administrators group');
    const longUser = await apiCall(context, 'POST', '/api/v1/users', {
      username: LONG_USER,
      password: LONG_USER_PASSWORD,
      group_ids: adminGroup ? [adminGroup.id] : [],
    });
    assert.equal(longUser.status, 201, JSON.stringify(longUser.body));
    cleanup.push(['DELETE', `/api/v1/users/${longUser.body.id}`]);

    const phone = await signedIn(browser, LONG_USER, LONG_USER_PASSWORD, { viewport: { width: 390, height: HEIGHT[390] } });
    t.after(() => phone.context.close());
    const { page } = phone;
    await page.goto(url('/'));
    const links = await page.locator('#main-nav a').evaluateAll((els) => els.map((a) => [a.textContent.trim(), a.getAttribute('href')]));
    assert.deepEqual(links.map(([label]) => label), await navLinks(page));
    const pages = [
      ...links.map(([label, href]) => [label, href]),
      ['Library', `/library/files/${file.id}`],
      ['Printers', '/printers?view=list'],
      ['Printers', '/printers?view=cameras'],
    ];
    for (const width of [360, 390]) {
      await page.setViewportSize({ width, height: HEIGHT[width] });
      for (const [label, href] of pages) {
        await page.goto(url(href));
        const toggle = page.locator('#nav-toggle');
        await toggle.waitFor({ state: 'visible' });
        assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
        assert.equal(await page.locator('#main-nav').isVisible(), false, `${href}: the menu is folded at ${width}`);
        assert.equal((await page.locator('#nav-current').innerText()).trim(), label, `${href}: the button names the page`);
        await fits(page, `${href} at ${width}`);
        // Touch targets: every visible button, field and menu control at least 44 px tall.
        const small = await page.evaluate(() =>
          [...document.querySelectorAll('.btn, select, input:not([type=checkbox]):not([type=radio]):not([type=file]), .segmented label, #nav-toggle')]
            .filter((e) => {
              const r = e.getBoundingClientRect();
              return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('dialog:not([open])') && !e.classList.contains('visually-hidden');
            })
            .filter((e) => e.getBoundingClientRect().height < 43.5)
            .map((e) => `${e.tagName.toLowerCase()}#${e.id || ''}.${[...e.classList].join('.')} ${Math.round(e.getBoundingClientRect().height)} px`),
        );
        assert.deepEqual(small, [], `${href} at ${width}: controls smaller than 44 px`);
      }
      // The menu opens, its links are big enough, Escape folds it.
      await page.goto(url('/printers'));
      await page.locator('#nav-toggle').click();
      assert.equal(await page.locator('#nav-toggle').getAttribute('aria-expanded'), 'true');
      const heights = await page.locator('#main-nav a').evaluateAll((els) => els.map((a) => a.getBoundingClientRect().height));
      assert.ok(heights.length > 0 && heights.every((h) => h >= 43.5), `menu links: ${heights}`);
      await assertNoHorizontalScroll(page, `the open menu at ${width}`);
      if (width === 390) await shot(page, 'menu-390');
      await page.keyboard.press('Escape');
      assert.equal(await page.locator('#main-nav').isVisible(), false);
    }
    // At 1366 the menu button is gone and the navigation is a row.
    await page.setViewportSize({ width: 1366, height: HEIGHT[1366] });
    await page.goto(url('/printers'));
    assert.equal(await page.locator('#nav-toggle').isVisible(), false);
    assert.equal(await page.locator('#main-nav').isVisible(), true);
    await phone.assertClean({ allowFailed: [NAVIGATION_ABORT, CAMERA_REFUSED] });
  });
});
