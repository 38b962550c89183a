// The archive against the demo (three simulated printers): a print started
// through printwarden gets a link on its printer card to its archive entry;
// stopping it ends the entry as "Cancelled" with its duration, in the grid,
// the list view (remembered) and the detail page; notes, tags and rating are
// edited on the detail page; the filter form is a shareable address; the
// pages fit 1366×900 and 390×844; a user without archive rights has no link
// and gets the 403 page.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  assertNoHorizontalScroll,
  confirmStyled,
  expectForbidden,
  navLinks,
  signedIn,
} from '../lib/identity.mjs';
import { slicedProject } from '../lib/threemf.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const OUTSIDER = { username: 'e2e-no-archive', password: 'e2e outsider passphrase' };
const FILE = 'e2e-archive benchy.gcode.3mf';

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let printer;
let entryId;

/** Waits until setup is done (identity.test.mjs performs it). */
async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

/** Polls the printer (as the admin) until `check` holds. */
async function waitPrinter(check, what, timeout = 30_000) {
  const end = Date.now() + timeout;
  let last = null;
  while (Date.now() < end) {
    last = (await apiCall(admin.context, 'GET', `/api/v1/printers/${printer.id}`)).body;
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: never happened; last ${JSON.stringify(last)}`);
}

const BUSY = new Set(['RUNNING', 'PREPARE', 'PAUSE', 'SLICING']);

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
  // The A1: the printers test prints on the P1S and moves the X1C into a location.
  const printers = (await apiCall(admin.context, 'GET', '/api/v1/printers')).body.items;
  printer = printers.find((p) => p.model === 'A1') ?? printers[0];
  await waitPrinter((p) => p.connection === 'online' && !BUSY.has(p.status?.state), 'the printer is free', 60_000);
});

after(async () => {
  await admin?.context.close();
  await browser?.close();
});

describe('archive', () => {
  test('a print links its card to its archive entry, and stopping it archives "Cancelled"', async () => {
    const { page, context } = admin;
    // Start a print the way the card's form does: upload-and-print with the file as the body.
    const started = await context.request.fetch(
      url(`/api/v1/printers/${printer.id}/print?file=${encodeURIComponent(FILE)}`),
      {
        method: 'POST',
        data: slicedProject({ title: 'benchy' }),
        headers: {
          'content-type': 'application/octet-stream',
          accept: 'application/json',
          origin: new URL(url('/')).origin,
        },
        failOnStatusCode: false,
      },
    );
    assert.equal(started.status(), 200, await started.text());

    await page.goto(url('/printers'));
    const card = page.locator(`#printers [data-printer-id="${printer.id}"]`);
    const link = card.locator('[data-field="archive"] a');
    // The link appears live, once the archive has opened the entry.
    await link.waitFor({ state: 'visible', timeout: 30_000 });
    const href = await link.getAttribute('href');
    assert.match(href, /^\/archive\/\d+$/);
    entryId = Number(href.split('/').pop());
    assert.match(await card.locator('[data-field="job"]').innerText(), /benchy/);
    assert.match((await link.innerText()).trim(), /^details/);
    await screenshot(page, 'archive-printer-card');

    // The link leads to the running entry.
    await link.click();
    await page.waitForURL((u) => u.pathname === `/archive/${entryId}`);
    assert.equal(await page.locator('#entry-outcome').innerText(), 'Printing');
    assert.match(await page.locator('#entry-timeline').innerText(), /Still printing/);
    assert.equal(await page.locator('#entry-who').innerText(), ADMIN.username);

    // Stop it from the card (the confirmation names the printer).
    await page.goto(url('/printers'));
    await card.locator('[data-field="archive"]').waitFor({ state: 'visible', timeout: 15_000 });
    await card.locator('[data-command="stop"]').click();
    await confirmStyled(page, /Stop the job on/);
    await card.locator('[data-field="status"]', { hasText: 'sent' }).waitFor({ timeout: 15_000 });
    // The entry ended: the link goes away without a reload.
    await card.locator('[data-field="archive"]').waitFor({ state: 'hidden', timeout: 30_000 });
    const entry = (await apiCall(context, 'GET', `/api/v1/archives/${entryId}`)).body;
    assert.equal(entry.outcome, 'cancelled');
    assert.equal(entry.file_name, FILE);
    assert.ok(Number.isInteger(entry.duration_s), JSON.stringify(entry));
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the grid and the remembered list show the cancelled print with its duration', async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.goto(url('/archive'));
    const tile = page.locator(`#archive-grid [data-archive-id="${entryId}"]`);
    await tile.waitFor();
    assert.equal(await tile.locator('[data-field="outcome"]').innerText(), 'Cancelled');
    assert.match(await tile.locator('[data-field="duration"]').innerText(), /^\d+ (s|min)$|^\d+ h( \d+ min)?$/);
    assert.match(await tile.innerText(), /today \d\d:\d\d/); // ("07:42 AM" in en-US)
    assert.ok((await tile.innerText()).includes(FILE));
    assert.ok((await tile.innerText()).includes(printer.name));
    await assertNoHorizontalScroll(page, 'archive grid at 1366');
    await screenshot(page, 'archive-grid');

    // The list view, remembered across a reload.
    await page.locator('[data-archive-view="list"]').click();
    assert.equal(await page.locator('#archive-grid').isVisible(), false);
    const row = page.locator(`#archive-table tr[data-archive-id="${entryId}"]`);
    assert.match(await row.innerText(), /Cancelled/);
    await page.reload();
    assert.equal(await page.locator('#archive-list').isVisible(), true, 'the list view is remembered');
    assert.equal(await page.locator('[data-archive-view="list"]').getAttribute('aria-pressed'), 'true');
    await screenshot(page, 'archive-list');
    await page.locator('[data-archive-view="grid"]').click();
    assert.equal(await page.locator('#archive-grid').isVisible(), true);

    // The filters are an address: a search and an outcome come back in the form.
    await page.fill('#archive-q', 'e2e-archive');
    await page.selectOption('#archive-outcome', 'cancelled');
    await Promise.all([page.waitForURL((u) => u.search.includes('q=')), page.click('#archive-filters button[type=submit]')]);
    const address = new URL(page.url());
    assert.equal(address.searchParams.get('q'), 'e2e-archive');
    assert.equal(address.searchParams.get('outcome'), 'cancelled');
    assert.equal(address.searchParams.get('user'), null, 'empty filters stay out of the address');
    await tile.waitFor();
    assert.equal(await page.locator('#archive-q').inputValue(), 'e2e-archive');
    const csv = await page.locator('#archive-export').getAttribute('href');
    assert.match(csv, /^\/api\/v1\/archives\/export\.csv\?.*q=e2e-archive/);
    const none = new URL(page.url());
    none.searchParams.set('outcome', 'finished');
    await page.goto(none.toString());
    assert.equal(await tile.count(), 0, 'the cancelled print is not "finished"');

    // A phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url('/archive'));
    await assertNoHorizontalScroll(page, 'archive at 390');
    await screenshot(page, 'archive-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the detail shows the timeline and saves notes, tags and rating', async () => {
    const { page, context } = admin;
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.goto(url(`/archive/${entryId}`));
    assert.equal(await page.locator('#entry-outcome').innerText(), 'Cancelled');
    const timeline = await page.locator('#entry-timeline').innerText();
    assert.match(timeline, /Started today \d\d:\d\d( [AP]M)?\n/);
    assert.match(timeline, /Ended today \d\d:\d\d( [AP]M)? after \d+ (s|min)/);
    assert.equal(await page.locator('#entry-error').count(), 0, 'a cancel is no failure');

    await page.fill('#entry-notes', 'Stopped on purpose: e2e.');
    await page.fill('#entry-tags', 'e2e, calibration , e2e');
    await page.locator('#entry-form input[name=rating][value="4"]').check();
    await page.click('#entry-form button[type=submit]');
    await page.locator('#entry-status', { hasText: 'Saved.' }).waitFor();
    assert.equal(await page.locator('#entry-tags').inputValue(), 'e2e, calibration', 'tags as stored');
    await page.reload();
    assert.equal(await page.locator('#entry-notes').inputValue(), 'Stopped on purpose: e2e.');
    assert.equal(await page.locator('#entry-form input[name=rating][value="4"]').isChecked(), true);
    const stored = (await apiCall(context, 'GET', `/api/v1/archives/${entryId}`)).body;
    assert.equal(stored.notes, 'Stopped on purpose: e2e.');
    assert.deepEqual(stored.tags, ['e2e', 'calibration']);
    assert.equal(stored.rating, 4);
    await assertNoHorizontalScroll(page, 'archive entry at 1366');
    await screenshot(page, 'archive-entry');

    // The delete dialog names the file and can be dismissed.
    await page.click('#entry-delete');
    const dialog = page.locator('#delete-entry-dialog');
    assert.ok(await dialog.isVisible());
    assert.ok((await dialog.innerText()).includes(FILE));
    await dialog.locator('[data-close-dialog]').click();
    assert.equal(await dialog.isVisible(), false);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await assertNoHorizontalScroll(page, 'archive entry at 390');
    await screenshot(page, 'archive-entry-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('a user without archive rights has no Archive link and gets the 403 page', async () => {
    const { context } = admin;
    const group = await apiCall(context, 'POST', '/api/v1/groups', {
      // Not library.test.mjs's 'E2E printer watchers': group names are unique.
      name: 'E2E archive outsiders',
      permissions: ['printers:read'],
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const user = await apiCall(context, 'POST', '/api/v1/users', {
      username: OUTSIDER.username,
      password: OUTSIDER.password,
      group_ids: [group.body.id],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    const outsider = await signedIn(browser, OUTSIDER.username, OUTSIDER.password);
    try {
      await outsider.page.goto(url('/printers'));
      assert.ok(!(await navLinks(outsider.page)).includes('Archive'));
      await expectForbidden(outsider.page, '/archive');
      await expectForbidden(outsider.page, `/archive/${entryId}`);
      await outsider.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
    } finally {
      await outsider.context.close();
    }
    assert.ok((await navLinks(admin.page)).includes('Archive'));
  });
});
