// The library pages against the demo (the e2e server runs `printwarden demo`: three simulated
// printers, already added): uploading a real two-plate .gcode.3mf by drag-and-drop and with
// the file chooser (a progress bar per file reaching 100 %, a refused file answered in the
// server's words), the file appearing with its plate image, the grid/list choice kept across
// reloads, the detail page's plates, the Print… dialog listing the demo printers with the
// wrong-model warning, and a user without library rights getting neither link nor page.
//
// The print test follows the journey on to the archive: Print… plate 2, the success
// banner's link to the entry, and (after a stop) the entry with the plate image and the
// end-of-print camera frame.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  assertNoHorizontalScroll,
  expectForbidden,
  navLinks,
  signedIn,
} from '../lib/identity.mjs';
import { slicedProject } from '../lib/printfile.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const OUTSIDER = { username: 'nolibrary', password: 'e2e outsider passphrase' };
const FILE = 'E2E bracket set.gcode.3mf';

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
const project = slicedProject();

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

/** Drops `files` ([{ name, bytes }]) on `selector` as a browser would after a drag. */
async function drop(page, selector, files) {
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: 'application/octet-stream' }));
    }
    return dt;
  }, files.map((f) => ({ name: f.name, b64: Buffer.from(f.bytes).toString('base64') })));
  for (const type of ['dragenter', 'dragover', 'drop']) {
    await page.dispatchEvent(selector, type, { dataTransfer });
  }
}

/** Waits until the upload row of `name` settles and returns its state, percent and words. */
async function settled(page, name) {
  const row = page.locator(`#uploads [data-upload="${name}"]`).last();
  await row.locator('xpath=self::*[@data-state="done" or @data-state="error"]').waitFor({ timeout: 30_000 });
  return {
    state: await row.getAttribute('data-state'),
    value: await row.locator('progress').evaluate((el) => el.value),
    percent: (await row.locator('.upload__percent').innerText()).trim(),
    words: (await row.locator('.upload__status').innerText()).trim(),
  };
}

async function imageLoaded(page, locator) {
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await locator.elementHandle(), {
    timeout: 15_000,
  });
}

describe('library pages', () => {
  test('drop two files: the project uploads to 100 % and shows its plate image, the broken one is refused in words', async () => {
    const { page } = admin;
    await page.goto(url('/library'));
    assert.ok((await navLinks(page)).includes('Library'));
    assert.equal(await page.locator('.nav a[aria-current="page"]').innerText(), 'Library');
    await drop(page, '#drop-zone', [
      { name: FILE, bytes: project },
      { name: 'not really.3mf', bytes: Buffer.from('this is no zip archive at all') },
    ]);
    const good = await settled(page, FILE);
    assert.deepEqual(
      { state: good.state, value: good.value, percent: good.percent },
      { state: 'done', value: 100, percent: '100 %' },
      good.words,
    );
    const bad = await settled(page, 'not really.3mf');
    assert.equal(bad.state, 'error');
    assert.match(bad.words, /not a valid ZIP archive/, 'the server’s own words');
    assert.doesNotMatch(bad.words, /status \d+/);

    const item = page.locator('#library-files [data-file-id]', { hasText: FILE }).first();
    await item.waitFor();
    await imageLoaded(page, item.locator('img'));
    assert.match(await item.innerText(), /1 h 50 min/, 'both plates’ time');
    assert.match(await item.innerText(), /2 plates/);
    // The server renders the same after a reload.
    await page.reload();
    const rendered = page.locator('#library-files [data-file-id]', { hasText: FILE }).first();
    await imageLoaded(page, rendered.locator('img'));
    assert.match(await rendered.locator('img').getAttribute('src'), /\/plates\/1\/thumbnail\?v=[0-9a-f]{16}$/);
    await screenshot(page, 'library');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the file chooser uploads into the folder shown', async () => {
    const { page, context } = admin;
    const folder = await apiCall(context, 'POST', '/api/v1/library/folders', { name: `E2E prints ${Date.now()}` });
    assert.equal(folder.status, 201, JSON.stringify(folder.body));
    await page.goto(url(`/library?folder=${folder.body.id}`));
    assert.equal(await page.locator('#folder-tree [aria-current="page"]').innerText(), folder.body.name);
    await page.locator('#upload-input').setInputFiles({ name: 'chosen.gcode.3mf', mimeType: 'application/octet-stream', buffer: project });
    const done = await settled(page, 'chosen.gcode.3mf');
    assert.equal(done.state, 'done', done.words);
    assert.equal(done.value, 100);
    const item = page.locator('#library-files [data-file-id]', { hasText: 'chosen.gcode.3mf' });
    await item.waitFor();
    const listed = await apiCall(context, 'GET', `/api/v1/library/files?folder_id=${folder.body.id}`);
    assert.deepEqual(listed.body.items.map((f) => f.name), ['chosen.gcode.3mf']);
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the list view is remembered and both views fit a phone and a laptop', async () => {
    const { page } = admin;
    await page.goto(url('/library'));
    await page.click('[data-view="list"]');
    assert.equal(await page.locator('#library-files.library-items--list').count(), 1);
    await page.reload();
    assert.equal(await page.locator('#library-files.library-items--list').count(), 1, 'kept after a reload');
    assert.equal(await page.getAttribute('[data-view="list"]', 'aria-pressed'), 'true');
    for (const viewport of [{ width: 390, height: 844 }, { width: 1366, height: 900 }]) {
      await page.setViewportSize(viewport);
      for (const view of ['list', 'grid']) {
        await page.click(`[data-view="${view}"]`);
        await assertNoHorizontalScroll(page, `/library ${view} at ${viewport.width}px`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the detail page shows the plates and Print… lists the demo printers', async () => {
    const { page, context } = admin;
    await page.goto(url('/library'));
    const link = page.locator('#library-files [data-file-id]', { hasText: FILE }).first().locator('h3 a');
    await Promise.all([page.waitForURL(/\/library\/files\/\d+$/), link.click()]);
    const plates = page.locator('#plates [data-plate]');
    assert.equal(await plates.count(), 2);
    const first = plates.nth(0);
    await imageLoaded(page, first.locator('img'));
    await imageLoaded(page, plates.nth(1).locator('img'));
    assert.equal(await first.locator('[data-field="time"]').innerText(), '1 h 25 min');
    assert.equal(await first.locator('[data-field="weight"]').innerText(), '12.3 g');
    assert.equal(await first.locator('[data-field="model"]').innerText(), 'P1S');
    const swatches = await first.locator('.swatch > span[aria-hidden]').allInnerTexts();
    assert.deepEqual(swatches.map((s) => s.replace(/\s+/g, ' ').trim()), ['PLA 9.5 g', 'PETG 2.8 g']);
    assert.equal(await plates.nth(1).locator('[data-field="time"]').innerText(), '25 min');
    for (const width of [390, 1366]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await assertNoHorizontalScroll(page, `file page at ${width}px`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(page, 'library-file');

    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    await page.click('#open-print');
    const dialog = page.locator('#print-dialog');
    await dialog.waitFor({ state: 'visible' });
    const targets = dialog.locator('#print-targets [data-printer-id]');
    assert.deepEqual(
      (await targets.evaluateAll((els) => els.map((e) => e.getAttribute('data-printer-id')))).sort(),
      printers.map((p) => String(p.id)).sort(),
    );
    const byModel = (model) => printers.find((p) => p.model === model);
    await dialog.locator(`#print-target-${byModel('A1').id}`).check({ force: true });
    const warning = page.locator('#print-model-warning');
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.innerText(), /sliced for a P1S, but .* is an A1\./s);
    await dialog.locator(`#print-target-${byModel('P1S').id}`).check({ force: true });
    await warning.waitFor({ state: 'hidden' });
    await screenshot(page, 'library-print-dialog');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  // The journey, after the upload and the plate images above: Print… plate 2 on the
  // A1 (it has a JPEG camera; the X1C's camera sends H.264, of which the archive keeps no
  // end frame), follow the success banner's link to the archive entry, stop the print and see
  // the entry end with the plate's image and the end-of-print camera frame.
  test('Print… starts plate 2 on the A1; the banner links to the entry, which ends with the plate image and the end snapshot', async () => {
    const { page, context } = admin;
    await page.goto(url('/library'));
    const link = page.locator('#library-files [data-file-id]', { hasText: FILE }).first().locator('h3 a');
    await Promise.all([page.waitForURL(/\/library\/files\/\d+$/), link.click()]);
    const fileId = page.url().split('/').pop();
    const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
    const a1 = printers.find((p) => p.model === 'A1');
    const busy = async () => (await apiCall(context, 'GET', `/api/v1/printers/${a1.id}`)).body.status?.busy === true;
    await page.click('#open-print');
    await page.locator(`#print-target-${a1.id}`).check({ force: true });
    await page.selectOption('#print-plate', '2');
    assert.match(await page.locator('#print-model-warning').innerText(), /Plate 2 was sliced for a P1S/);
    const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/api/v1/library/files/${fileId}/print`));
    const answered = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/print'));
    await page.click('#print-submit');
    assert.deepEqual((await sent).postDataJSON(), { printer_id: a1.id, plate: 2 });
    const response = await answered;
    assert.equal(response.status(), 202, await response.text());
    const started = await response.json();
    await page.locator('#print-status.banner--success').waitFor();
    const archive = page.locator('#print-archive-link');
    await archive.waitFor({ state: 'visible' });
    // The simulated printer reports the job within the answer's wait: the link names the entry.
    assert.equal(await archive.getAttribute('href'), `/archive/${started.archive_id}`, JSON.stringify(started));

    try {
      await Promise.all([page.waitForURL((u) => u.pathname === `/archive/${started.archive_id}`), archive.click()]);
      assert.equal(await page.locator('#entry-outcome').innerText(), 'Printing');
      assert.match(await page.locator('#archive-entry').innerText(), /plate 2/);
      assert.match(await page.locator('#entry-timeline').innerText(), /Still printing/);
    } finally {
      // Stop it (the demo's jobs last minutes) and free the A1 for the archive test.
      const stop = await apiCall(context, 'POST', `/api/v1/printers/${a1.id}/commands`, { command: 'stop' });
      assert.equal(stop.status, 200, JSON.stringify(stop.body));
      for (let i = 0; i < 100 && (await busy()); i++) await page.waitForTimeout(100);
    }
    assert.equal(await busy(), false, 'the print stopped');

    // The entry ends; its end-of-print frame is taken from the camera right after.
    let entry;
    for (let i = 0; i < 150; i++) {
      entry = (await apiCall(context, 'GET', `/api/v1/archives/${started.archive_id}`)).body;
      if (entry.outcome !== 'printing' && entry.snapshot_url) break;
      await page.waitForTimeout(100);
    }
    assert.equal(entry.outcome, 'cancelled', JSON.stringify(entry));
    assert.ok(entry.snapshot_url, `no end snapshot: ${JSON.stringify(entry)}`);
    assert.equal(entry.library_file_id, Number(fileId));
    assert.equal(entry.plate, 2);
    // Plate 2's one filament: the A1's tray in use with the plate's grams, one line.
    assert.deepEqual(entry.filaments.map((f) => f.grams), [3.1], JSON.stringify(entry.filaments));
    await page.reload();
    assert.equal(await page.locator('#entry-outcome').innerText(), 'Cancelled');
    const snapshot = page.locator('#entry-snapshot img');
    await imageLoaded(page, snapshot);
    assert.equal(await snapshot.getAttribute('src'), entry.snapshot_url);
    const thumb = page.locator('#archive-entry .archive-thumb--large img');
    await imageLoaded(page, thumb);
    // The picture is plate 2's (the blue square), not plate 1's.
    const same = await page.evaluate(async ([a, b]) => {
      const bytes = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer()).join(',');
      return (await bytes(a)) === (await bytes(b));
    }, [await thumb.getAttribute('src'), `/api/v1/library/files/${fileId}/plates/2/thumbnail`]);
    assert.ok(same, 'the entry shows plate 2’s image');
    await screenshot(page, 'library-print-archive-entry');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('without a library right there is no Library link and the pages answer 403', async (t) => {
    const { context } = admin;
    const group = await apiCall(context, 'POST', '/api/v1/groups', {
      name: 'E2E printer watchers',
      permissions: ['printers:read'],
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const user = await apiCall(context, 'POST', '/api/v1/users', {
      username: OUTSIDER.username,
      password: OUTSIDER.password,
      group_ids: [group.body.id],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    const files = (await apiCall(context, 'GET', '/api/v1/library/files')).body.items;
    const outsider = await signedIn(browser, OUTSIDER.username, OUTSIDER.password);
    t.after(() => outsider.context.close());
    await outsider.page.goto(url('/printers'));
    assert.ok(!(await navLinks(outsider.page)).includes('Library'));
    await expectForbidden(outsider.page, '/library');
    await expectForbidden(outsider.page, `/library/files/${files[0].id}`);
    await outsider.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
});
