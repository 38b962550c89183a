// The printers page against the demo (the e2e server runs `printwarden demo`:
// three simulated printers, already added): live cards over the events
// WebSocket, printing a file through the card, pause and resume, progress
// advancing, test connection, camera tokens, and a scoped user who sees only the printer in
// their scope.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { EXPECTED_4XX, NAVIGATION_ABORT, apiCall, confirmStyled, signedIn } from '../lib/identity.mjs';
import { slicedProject } from '../lib/threemf.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const SCOPED = { username: 'hallcrew', password: 'e2e scoped passphrase' };

/** @type {import('playwright-core').Browser} */
let browser;
let admin;

/** Waits until setup is done (identity.test.mjs performs it). */
async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
});

after(async () => {
  await admin?.context.close();
  await browser?.close();
});

// A real sliced project for a P1S: upload-and-print checks its body before anything reaches
// the printer (a buffer that is no ZIP is refused with a 400).
const CUBE = slicedProject({ title: 'e2e-cube' });

/** A connected printer's state between jobs, in words: idle, or the end of its last job. */
const READY = /^(Idle|Finished|Cancelled|Failed)/;

/** The card's percent as a number. */
async function percent(card) {
  return Number((await card.locator('[data-field="percent"]').textContent()).replace('%', ''));
}

/**
 * "Print a file…" on a card: the file goes to the library ("Upload from this computer…"), is
 * chosen, and its plate starts on the card's printer.
 */
async function printFromCard(page, card) {
  await card.locator('[data-print-file]').click();
  const dialog = page.locator('#print-file-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('#print-file-upload').setInputFiles({
    name: 'e2e-cube.gcode.3mf',
    mimeType: 'application/octet-stream',
    buffer: CUBE,
  });
  await dialog.locator('#print-file-status', { hasText: 'is in the library and chosen' }).waitFor({ timeout: 20_000 });
  await dialog.locator('#print-file-plates input[name=plate]:checked').waitFor({ state: 'attached' });
  await dialog.locator('#print-file-submit').click();
  await dialog.locator('#print-file-status', { hasText: 'is starting plate 1' }).waitFor({ timeout: 20_000 });
  await dialog.locator('[data-close-dialog]').click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('printers page', () => {
  test('three demo printers go live on the page', async () => {
    const { page } = admin;
    await page.goto(url('/printers'));
    const cards = page.locator('#printers [data-printer-id]');
    assert.equal(await cards.count(), 3);
    await page.locator('#live-state', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
    for (let i = 0; i < 3; i++) {
      // Ready for a job: idle, or showing how its last one ended (earlier test files printed
      // and stopped jobs: the library and the archive tests on the A1).
      await cards.nth(i).locator('[data-field="state"]', { hasText: READY }).waitFor({ timeout: 15_000 });
    }
    await screenshot(page, 'printers');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('print a file, pause, resume, and watch progress advance', async () => {
    const { page } = admin;
    await page.goto(url('/printers'));
    const card = page.locator('#printers [data-printer-id]').filter({ hasText: 'P1S' });
    await card.locator('[data-field="state"]', { hasText: 'IDLE' }).waitFor({ timeout: 15_000 });
    await printFromCard(page, card);
    await card.locator('[data-field="state"]', { hasText: 'Printing' }).waitFor({ timeout: 20_000 });
    assert.equal(await card.locator('[data-field="job"]').innerText(), 'e2e-cube');
    await page.waitForFunction(
      (el) => Number(el.textContent.replace('%', '')) >= 1,
      await card.locator('[data-field="percent"]').elementHandle(),
      { timeout: 20_000 },
    );

    await card.locator('[data-command="pause"]').click();
    await card.locator('[data-field="state"]', { hasText: 'Paused' }).waitFor({ timeout: 10_000 });
    const paused = await percent(card);
    await page.waitForTimeout(2500);
    assert.equal(await percent(card), paused, 'a paused printer does not progress');
    await card.locator('[data-command="resume"]').click();
    await card.locator('[data-field="state"]', { hasText: 'Printing' }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(
      ([el, before]) => Number(el.textContent.replace('%', '')) > before,
      [await card.locator('[data-field="percent"]').elementHandle(), paused],
      { timeout: 20_000 },
    );
    // Time left as people say it, with the expected end in local time.
    assert.match(await card.locator('[data-field="time_left"]').innerText(), /^\d+ (min|h)/);
    assert.match(await card.locator('[data-field="done"]').innerText(), /^done ≈ \d\d:\d\d$/);
    await screenshot(page, 'printers-printing');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the camera shows frames that update', async () => {
    const { page } = admin;
    await page.goto(url('/printers'));
    const card = page.locator('#printers [data-printer-id]').filter({ hasText: 'A1' });
    await card.locator('[data-camera]').click();
    const img = card.locator('[data-field="camera"] img');
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), {
      timeout: 15_000,
    });
    const first = await img.screenshot();
    // The simulated camera draws a frame counter: within a few seconds the picture changes.
    let changed = false;
    for (let i = 0; i < 20 && !changed; i++) {
      await page.waitForTimeout(500);
      changed = !first.equals(await img.screenshot());
    }
    assert.ok(changed, 'the camera picture never changed');
    await screenshot(page, 'printers-camera');
    await card.locator('[data-camera]').click();
    assert.equal(await img.getAttribute('src'), null, 'closing stops the stream');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT, /camera\/stream: net::ERR_ABORTED/] });
  });

  test('test connection names a wrong access code and adds nothing', async () => {
    const { page, context } = admin;
    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    const target = printers[0];
    await page.goto(url('/printers'));
    await page.fill('#new-printer-serial', target.serial);
    await page.fill('#new-printer-host', target.host);
    await page.fill('#new-printer-code', '00000000');
    await page.locator('#add-printer summary').click();
    await page.fill('#new-printer-mqtt', String(target.mqtt_port));
    await page.click('#check-printer');
    const status = page.locator('#add-printer-status[data-outcome]');
    await status.waitFor({ timeout: 20_000 });
    assert.equal(await status.getAttribute('data-outcome'), 'access_code');
    const text = await status.textContent();
    assert.match(text, /refused the access code/);
    assert.match(text, /SHA-256: [0-9a-f]{64}/);
    assert.ok(await status.evaluate((el) => el.classList.contains('banner--error')));
    const after = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    assert.equal(after.length, printers.length, 'a check adds no printer');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('a camera token from the account page opens one camera and nothing else', async () => {
    const { page, context } = admin;
    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    // A printer whose camera the MJPEG route serves (the model table: A1/P1 JPEG; an X1's H.264
    // goes over the camera socket only).
    const chosen = printers.find((p) => p.capabilities?.camera === 'jpeg');
    const other = printers.find((p) => p.id !== chosen.id);
    await page.goto(url('/account'));
    await page.fill('#camera-token-name', 'e2e kiosk');
    await page.fill('#camera-token-days', '7');
    await page.locator(`#camera-token-form input[name=printer_ids][value="${chosen.id}"]`).check();
    await page.click('#camera-token-form button[type=submit]');
    await page.locator('#new-camera-token').waitFor({ state: 'visible' });
    const token = (await page.locator('#new-camera-token-value').innerText()).trim();
    assert.match(token, /^pwc_\d+_/);
    const row = page.locator('#camera-tokens-table tr[data-camera-token-id]');
    assert.equal(await row.count(), 1);
    assert.ok((await row.innerText()).includes(chosen.name));

    // Without cookies (credentials: omit), as a kiosk would: the first MJPEG bytes arrive.
    const first = await page.evaluate(async (path) => {
      const res = await fetch(path, { credentials: 'omit' });
      const reader = res.body.getReader();
      const { value } = await reader.read();
      await reader.cancel();
      return { status: res.status, type: res.headers.get('content-type'), bytes: value?.length ?? 0 };
    }, `/api/v1/printers/${chosen.id}/camera/stream?token=${token}`);
    assert.equal(first.status, 200);
    assert.match(first.type, /multipart\/x-mixed-replace/);
    assert.ok(first.bytes > 0);
    const outside = await fetchWithCa(`/api/v1/printers/${other.id}/camera/stream?token=${token}`);
    assert.equal(outside.status, 404, 'not in its printer list');
    const me = await fetchWithCa('/api/v1/auth/me', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 401, 'camera routes only');

    await page.click(`#camera-tokens-table button[data-revoke]`);
    await page.locator('#camera-tokens-status', { hasText: 'revoked' }).waitFor();
    const revoked = await fetchWithCa(`/api/v1/printers/${chosen.id}/camera/stream?token=${token}`);
    assert.equal(revoked.status, 401);
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('a scoped user sees only the printer in their scope', async (t) => {
    const { context } = admin;
    const hall = await apiCall(context, 'POST', '/api/v1/locations', { name: 'E2E hall' });
    assert.equal(hall.status, 201, JSON.stringify(hall.body));
    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    const inside = printers.find((p) => p.model === 'X1C');
    const moved = await apiCall(context, 'PATCH', `/api/v1/printers/${inside.id}`, { location_id: hall.body.id });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const group = await apiCall(context, 'POST', '/api/v1/groups', {
      name: 'E2E hall crew',
      permissions: ['printers:read', 'printers:control'],
      scope: { locations: [hall.body.id] },
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const user = await apiCall(context, 'POST', '/api/v1/users', {
      username: SCOPED.username,
      password: SCOPED.password,
      group_ids: [group.body.id],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));

    const scoped = await signedIn(browser, SCOPED.username, SCOPED.password);
    t.after(() => scoped.context.close());
    await scoped.page.goto(url('/printers'));
    const cards = scoped.page.locator('#printers [data-printer-id]');
    assert.equal(await cards.count(), 1);
    assert.equal(await cards.first().getAttribute('data-printer-id'), String(inside.id));
    await scoped.page.locator('#live-state', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
    // Controls, but no print upload (no queue:create) and no certificate approval.
    assert.equal(await cards.first().locator('[data-command="pause"]').count(), 1);
    assert.equal(await cards.first().locator('[data-print]').count(), 0);
    const other = printers.find((p) => p.id !== inside.id);
    const hidden = await apiCall(scoped.context, 'GET', `/api/v1/printers/${other.id}`);
    assert.equal(hidden.status, 404);
    await scoped.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
  test('the printers and users pages page through their lists', async () => {
    const { page, context } = admin;
    for (const [path, list, rows, key] of [
      ['/printers', '/api/v1/printers?limit=500', '#printers [data-printer-id]', 'data-printer-id'],
      ['/users', '/api/v1/users?limit=500', '#users-table tbody tr[data-user-id]', 'data-user-id'],
    ]) {
      // Other test files may add users meanwhile: every row present before and after the walk
      // is seen exactly once, in the API's order.
      const ids = async () => (await apiCall(context, 'GET', list)).body.items.map((i) => String(i.id));
      const before = await ids();
      assert.ok(before.length >= 2, `${path}: at least two rows to page through`);
      await page.goto(url(`${path}?limit=1`));
      const seen = [];
      for (;;) {
        const shown = await page.locator(rows).evaluateAll((els, k) => els.map((e) => e.getAttribute(k)), key);
        assert.equal(shown.length, 1, `${path}: one row per page`);
        seen.push(shown[0]);
        const next = page.locator(`${path.replace('/', '#')}-next`);
        if ((await next.count()) === 0) break;
        await Promise.all([page.waitForEvent('load'), next.click()]);
        assert.ok(seen.length <= 200, `${path}: the pages end`);
      }
      const afterwards = await ids();
      assert.equal(new Set(seen).size, seen.length, `${path}: no row twice`);
      const stable = before.filter((id) => afterwards.includes(id));
      assert.deepEqual(seen.filter((id) => stable.includes(id)), stable, `${path}: every row once, in order`);
      await Promise.all([page.waitForEvent('load'), page.click(`${path.replace('/', '#')}-first`)]);
      assert.equal(new URL(page.url()).search, '?limit=1');
    }
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });
  test('edit a printer and manage locations from the page', async () => {
    const { page, context } = admin;
    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    const target = printers.find((p) => p.model === 'A1') ?? printers[0];
    await page.goto(url('/printers'));
    await page.fill('#new-location-name', 'E2E shelf');
    await Promise.all([page.waitForEvent('load'), page.click('#add-location-form button[type=submit]')]);
    const shelf = (await apiCall(context, 'GET', '/api/v1/locations')).body.items.find((l) => l.name === 'E2E shelf');
    assert.ok(shelf, 'the location was created');

    const card = page.locator(`#printers [data-printer-id="${target.id}"]`);
    await card.locator('[data-edit]').click();
    const dialog = page.locator('#edit-printer-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.equal(await page.inputValue('#edit-printer-name'), target.name);
    assert.equal(await page.inputValue('#edit-printer-code'), '', 'the access code is never shown');
    await page.fill('#edit-printer-name', `${target.name} (edited)`);
    await page.selectOption('#edit-printer-location', String(shelf.id));
    await page.fill('#edit-printer-mqtt', '0');
    await page.click('#edit-printer-form button[type=submit]');
    assert.equal(await dialog.isVisible(), true, 'the browser refuses port 0 before sending');
    await page.fill('#edit-printer-mqtt', String(target.mqtt_port));
    await Promise.all([page.waitForEvent('load'), page.click('#edit-printer-form button[type=submit]')]);
    await card.locator('[data-field="name"]', { hasText: '(edited)' }).waitFor();
    const edited = (await apiCall(context, 'GET', `/api/v1/printers/${target.id}`)).body;
    assert.equal(edited.location_id, shelf.id);
    assert.equal(edited.has_access_code, true, 'an untouched code field keeps the stored code');
    await card.locator('[data-field="state"]', { hasText: READY }).waitFor({ timeout: 15_000 });

    const item = page.locator(`#location-list [data-location-id="${shelf.id}"]`);
    await item.locator('input[name=name]').fill('E2E rack');
    await Promise.all([page.waitForEvent('load'), item.locator('button[type=submit]').click()]);
    assert.equal(await page.inputValue(`#location-${shelf.id}`), 'E2E rack');
    await page.locator(`#location-list [data-location-id="${shelf.id}"] [data-delete-location]`).click();
    await Promise.all([page.waitForEvent('load'), confirmStyled(page, /Delete the location E2E rack/)]);
    assert.equal(await page.locator(`#location-list [data-location-id="${shelf.id}"]`).count(), 0);
    const after = (await apiCall(context, 'GET', `/api/v1/printers/${target.id}`)).body;
    assert.equal(after.location_id, null, 'the printer stays, without a location');
    const restored = await apiCall(context, 'PATCH', `/api/v1/printers/${target.id}`, { name: target.name });
    assert.equal(restored.status, 200);
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });
  test('browse, download and delete the files on a printer', async () => {
    const { page, context } = admin;
    await page.goto(url('/printers'));
    // The print test above uploaded e2e-cube.gcode.3mf to the P1S and started it (120 s).
    const card = page.locator('#printers [data-printer-id]').filter({ hasText: 'P1S' });
    const p1s = (await apiCall(context, 'GET', '/api/v1/printers')).body.items.find((p) => p.model === 'P1S');
    const busy = async () => (await apiCall(context, 'GET', `/api/v1/printers/${p1s.id}`)).body.status?.busy === true;
    if (!(await busy())) {
      // A slow run may have finished that job: start the file again, so its deletion is refused.
      await printFromCard(page, card);
      await card.locator('[data-field="state"]', { hasText: 'Printing' }).waitFor({ timeout: 20_000 });
    }
    await card.locator('[data-files]').click();
    const row = page.locator('#files-table tr[data-file="e2e-cube.gcode.3mf"]');
    await row.waitFor({ timeout: 15_000 });
    assert.ok((await row.innerText()).includes(`${Math.round(CUBE.length / 1024)} kB`), await row.innerText());
    const href = await row.locator('a').getAttribute('href');
    const download = await page.evaluate(async (path) => {
      const res = await fetch(path);
      return { status: res.status, bytes: (await res.arrayBuffer()).byteLength, disposition: res.headers.get('content-disposition') };
    }, href);
    assert.deepEqual(download, { status: 200, bytes: CUBE.length, disposition: "attachment; filename*=UTF-8''e2e-cube.gcode.3mf" });
    // The file of the running print stays until the print is stopped.
    await row.locator('[data-delete-file]').click();
    await confirmStyled(page, /Delete e2e-cube\.gcode\.3mf/);
    await page.locator('#files-status', { hasText: 'stop the print' }).waitFor();
    assert.equal(await row.count(), 1);
    const stop = await apiCall(context, 'POST', `/api/v1/printers/${p1s.id}/commands`, { command: 'stop' });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    for (let i = 0; i < 100 && (await busy()); i++) await page.waitForTimeout(100);
    assert.equal(await busy(), false, 'the print stopped');
    await row.locator('[data-delete-file]').click();
    await confirmStyled(page, /Delete e2e-cube\.gcode\.3mf/);
    await page.locator('#files-status', { hasText: 'deleted' }).waitFor();
    assert.equal(await row.count(), 0);
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
});
