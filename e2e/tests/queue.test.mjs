// The queue pages against the demo (three simulated printers, already added): "Add to queue…"
// on a library file queues two jobs for one printer with the AMS mapping drawn in the tray
// colours (proposed from the printer's live trays; a tray of the wrong material refused in
// words), the queue page lists them in dispatch order, dragging the second above the first reorders them and the
// order persists after a reload, the keyboard's move buttons do the same, a cancel asks first,
// and the page fits 1366 and 390 px wide.
//
// The whole queue is paused while this file runs and its jobs are cancelled at the end, so the
// printers stay ready for the files after it whether or not a dispatcher is running.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { apiCall, assertNoHorizontalScroll, navLinks, signedIn } from '../lib/identity.mjs';
import { slicedProject } from '../lib/printfile.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const FILE = `E2E queued bracket ${Date.now()}.gcode.3mf`;

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let fileId;
let printer;

async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

/** Our jobs still waiting, in dispatch order. */
async function ourJobs() {
  const res = await apiCall(admin.context, 'GET', '/api/v1/queue?state=queued&limit=500');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.items.filter((i) => i.file_name === FILE);
}

/** The ids of the global list's jobs on the page, in order. */
async function shownOrder(page) {
  return page.locator('#queue-list > .queue-item').evaluateAll((items) => items.map((i) => Number(i.getAttribute('data-item-id'))));
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
  const origin = new URL(url('/')).origin;
  const uploaded = await admin.context.request.post(url('/api/v1/library/files'), {
    headers: { accept: 'application/json', origin },
    multipart: { file: { name: FILE, mimeType: 'application/octet-stream', buffer: slicedProject() } },
    failOnStatusCode: false,
  });
  assert.equal(uploaded.status(), 201, await uploaded.text());
  fileId = (await uploaded.json()).id;
  const printers = (await apiCall(admin.context, 'GET', '/api/v1/printers')).body.items;
  printer = printers.find((p) => p.connection === 'online' && (p.status?.trays ?? []).length > 0) ?? printers[0];
  // Nothing of ours starts while we look at it.
  const paused = await apiCall(admin.context, 'POST', '/api/v1/queue/pause', {});
  assert.equal(paused.status, 200, JSON.stringify(paused.body));
});

after(async () => {
  if (admin) {
    for (const job of await ourJobs().catch(() => [])) {
      await apiCall(admin.context, 'DELETE', `/api/v1/queue/${job.id}`);
    }
    await apiCall(admin.context, 'POST', '/api/v1/queue/resume', {});
    await admin.context.close();
  }
  await browser?.close();
});

describe('queue', () => {
  test('add two jobs from the library with the AMS mapping in tray colours', async () => {
    const { page } = admin;
    await page.goto(url(`/library/files/${fileId}`));
    assert.ok((await navLinks(page)).includes('Queue'), 'the navigation offers the queue');

    // Job 1: plate 1 on one printer: each filament gets a tray of its material, drawn in the
    // tray's colour, with the reason in words.
    await page.locator('#open-queue').click();
    const dialog = page.locator('#queue-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.locator('#queue-plate-1').check();
    await page.locator('#queue-target').selectOption(`printer:${printer.id}`);
    const rows = dialog.locator('.ams-map[data-plate="1"]:not([hidden]) .ams-row');
    await rows.first().waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await rows.count(), 2);
    await page.waitForFunction(
      () => [...document.querySelectorAll('.ams-map[data-plate="1"] select')].every((s) => s.value !== ''),
      null,
      { timeout: 15_000 },
    );
    const pla = rows.filter({ has: page.locator('select[data-ams-slot="1"]') });
    const petg = rows.filter({ has: page.locator('select[data-ams-slot="4"]') });
    assert.match(await pla.locator('select').evaluate((s) => s.selectedOptions[0].textContent), /AMS 1 tray \d: PLA/);
    assert.match(await petg.locator('select').evaluate((s) => s.selectedOptions[0].textContent), /AMS 1 tray \d: PETG/);
    for (const row of [pla, petg]) {
      assert.match(await row.locator('[data-tray-swatch] circle').getAttribute('fill'), /^#[0-9A-Fa-f]{6}$/);
      assert.match(await row.locator('[data-reason]').innerText(), /nearest colour/);
    }
    await screenshot(page, 'queue-add-dialog');

    // A PETG filament on a PLA tray is refused by the server, in words.
    const plaTray = await pla.locator('select').inputValue();
    const petgTray = await petg.locator('select').inputValue();
    await petg.locator('select').selectOption(plaTray);
    await page.locator('#queue-submit').click();
    const status = page.locator('#queue-form-status');
    await status.filter({ hasText: /PETG/ }).waitFor({ timeout: 10_000 });
    assert.doesNotMatch(await status.innerText(), /ams_mapping|tray_id/i, 'no field names');

    // Back to the PETG tray: accepted.
    await petg.locator('select').selectOption(petgTray);
    await page.locator('#queue-submit').click();
    await status.filter({ hasText: /is in the queue/ }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#queue-done').isVisible(), true);

    // Job 2: plate 2, its one PLA filament proposed.
    await page.locator('#queue-plate-2').check();
    const rows2 = dialog.locator('.ams-map[data-plate="2"]:not([hidden]) .ams-row');
    await rows2.first().waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForFunction(
      () => document.querySelector('.ams-map[data-plate="2"] select[data-ams-slot="1"]')?.value !== '',
      null,
      { timeout: 15_000 },
    );
    await page.locator('#queue-submit').click();
    await status.filter({ hasText: /Plate 2 .* is in the queue/ }).waitFor({ timeout: 10_000 });
    await dialog.locator('[data-close-dialog]').click();

    const jobs = await ourJobs();
    assert.deepEqual(jobs.map((j) => j.plate), [1, 2]);
    assert.deepEqual(jobs[0].ams_mapping, [{ slot: 1, tray: Number(plaTray) }, { slot: 4, tray: Number(petgTray) }]);
    assert.equal(jobs[1].ams_mapping.length, 1);
    assert.equal(jobs[0].target.printer_id, printer.id);
  });

  test('drag the second job above the first: the order persists after a reload', async () => {
    const { page } = admin;
    const [first, second] = (await ourJobs()).map((j) => j.id);
    await page.goto(url('/queue'));
    assert.match(await page.locator('#queue-resume').innerText(), /Resume/);
    let order = (await shownOrder(page)).filter((id) => id === first || id === second);
    assert.deepEqual(order, [first, second]);
    const item = (id) => page.locator(`#queue-list > .queue-item[data-item-id="${id}"]`);
    assert.match(await item(first).innerText(), /Paused: the whole queue is paused\./);
    assert.match(await item(first).innerText(), new RegExp(printer.name));
    assert.equal(await item(first).locator('.queue-item__thumb img').isVisible(), true);
    // The lane of the printer lists both.
    const lane = page.locator(`.queue-lane[data-printer-id="${printer.id}"]`);
    assert.equal(await lane.locator(`.queue-item[data-item-id="${first}"]`).count(), 1);

    await item(second).locator('.queue-item__grip').dragTo(item(first), { targetPosition: { x: 20, y: 5 } });
    await page.locator('#queue-status').filter({ hasText: /moved/ }).waitFor({ timeout: 10_000 });
    await page.reload();
    order = (await shownOrder(page)).filter((id) => id === first || id === second);
    assert.deepEqual(order, [second, first], 'the dragged order was saved');
    assert.deepEqual((await ourJobs()).map((j) => j.id), [second, first]);

    // The keyboard way: focus the first job's "move down" button and press Enter.
    await item(second).locator('[data-move="down"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('#queue-status').filter({ hasText: /moved down/ }).waitFor({ timeout: 10_000 });
    await page.reload();
    order = (await shownOrder(page)).filter((id) => id === first || id === second);
    assert.deepEqual(order, [first, second]);

    await assertNoHorizontalScroll(page, 'queue at 1366 px');
    await screenshot(page, 'queue-1366');
    await page.setViewportSize({ width: 390, height: 844 });
    await assertNoHorizontalScroll(page, 'queue at 390 px');
    await screenshot(page, 'queue-390');
    await page.setViewportSize({ width: 1366, height: 900 });
  });

  test('cancel asks first, naming the file', async () => {
    const { page } = admin;
    const [first] = (await ourJobs()).map((j) => j.id);
    await page.goto(url('/queue'));
    const item = page.locator(`#queue-list > .queue-item[data-item-id="${first}"]`);
    await item.locator('[data-cancel]').click();
    const confirm = page.locator('#queue-confirm-dialog');
    await confirm.waitFor({ state: 'visible' });
    assert.match(await confirm.locator('#queue-confirm-title').innerText(), new RegExp(`Cancel “${FILE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}”`));
    await confirm.locator('[data-close-dialog]').click();
    assert.equal((await ourJobs()).length, 2, 'keeping it keeps it');
    await item.locator('[data-cancel]').click();
    await confirm.locator('#queue-confirm-submit').click();
    await page.locator('#queue-status').filter({ hasText: /was cancelled/ }).waitFor({ timeout: 10_000 });
    await page.locator(`#queue-list > .queue-item[data-item-id="${first}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal((await ourJobs()).length, 1);
  });
});
