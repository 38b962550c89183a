// The farm at a glance (issue 18, items 1 and 2): the home page's live counts and lists, and
// the printers page's view choice, state-aware controls, per-printer rights and the dense list.
//
// The demo has three printers; this file starts a second simulator (`printwarden simulate`,
// its own pid, stopped in `after`) and adds 47 of its printers so the farm has exactly 50, as
// the list view's density promise says. Everything it adds is removed again in `after`, so
// the files that follow see the demo's three printers only.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { EXPECTED_4XX, NAVIGATION_ABORT, apiCall, assertNoHorizontalScroll, confirmStyled, signedIn } from '../lib/identity.mjs';
import { slicedProject } from '../lib/threemf.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const EDITOR = { username: 'glance-editor', password: 'e2e glance editor passphrase' };
const FARM_SIZE = 50;
const LONG_NAME = `E2E-${'W'.repeat(96)}`;
const SERVER_BIN = process.env.PW_SERVER_BIN || path.join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'printwarden');
const CUBE = slicedProject({ title: 'glance-cube', seconds: 1200 });
/** Where the README's screenshots go (viewport-sized), when set: `docs/screenshots`. */
const DOCS_DIR = process.env.PW_DOCS_SCREENSHOTS ?? '';
/** The screen heights the screenshots and overflow checks use, per width. */
const HEIGHT = { 1366: 900, 390: 844 };

/** The full-page screenshot of the run, plus the README's viewport one when asked for. */
async function shot(page, name) {
  await screenshot(page, name);
  if (DOCS_DIR) await page.screenshot({ path: path.join(DOCS_DIR, `${name}.png`) });
}

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let simulator;
let stateDir;
/** Printers this file added (ids), removed in `after`. */
const added = [];
const cleanup = [];

async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
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

/** Starts `printwarden simulate` with P1S printers and reads where they listen. */
async function startSimulator(count) {
  assert.ok(existsSync(SERVER_BIN), `the server binary (PW_SERVER_BIN) is needed: ${SERVER_BIN}`);
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'pw-e2e-glance-'));
  simulator = spawn(SERVER_BIN, ['simulate', '--count', String(count), '--models', 'P1S', '--job-seconds', '1200', '--state-dir', stateDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const file = path.join(stateDir, 'printers.json');
  await waitFor(() => existsSync(file), 'the simulator wrote printers.json', 60_000);
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function printers(context) {
  return (await apiCall(context, 'GET', '/api/v1/printers?limit=500')).body.items;
}

/** Upload-and-print through the API, as the card's Print button does. */
async function startPrint(context, id) {
  const res = await context.request.fetch(url(`/api/v1/printers/${id}/print?file=glance-cube.gcode.3mf`), {
    method: 'POST',
    data: CUBE,
    headers: { 'content-type': 'application/octet-stream', accept: 'application/json', origin: new URL(url('/')).origin },
    failOnStatusCode: false,
  });
  assert.equal(res.status(), 200, await res.text());
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
  const known = new Set((await printers(admin.context)).map((p) => p.serial));
  const sims = await startSimulator(FARM_SIZE);
  const wanted = FARM_SIZE - known.size;
  for (const sim of sims.filter((s) => !known.has(s.serial)).slice(0, wanted)) {
    const res = await apiCall(admin.context, 'POST', '/api/v1/printers', {
      name: `Glance ${sim.serial.slice(-3)}`,
      serial: sim.serial,
      host: sim.host,
      access_code: sim.access_code,
      model: 'P1S',
      mqtt_port: sim.mqtt_port,
      ftps_port: sim.ftps_port,
      camera_port: sim.camera_port,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    added.push(res.body.id);
  }
  assert.equal((await printers(admin.context)).length, FARM_SIZE);
});

after(async () => {
  if (admin) {
    for (const [method, p] of cleanup.reverse()) await apiCall(admin.context, method, p);
    for (const id of added) await apiCall(admin.context, 'DELETE', `/api/v1/printers/${id}`);
    await admin.context.close();
  }
  await browser?.close();
  if (simulator && simulator.exitCode === null) {
    simulator.kill('SIGTERM');
    await new Promise((r) => simulator.once('exit', r));
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** The count shown for a state on the home page. */
async function count(page, glance) {
  return Number(await page.locator(`#glance-counts [data-glance="${glance}"] [data-count]`).innerText());
}

describe('the farm at a glance', () => {
  test('home counts follow a printer that starts printing, without a reload', async () => {
    const { page, context } = admin;
    const id = added[0];
    await waitFor(async () => {
      const p = (await apiCall(context, 'GET', `/api/v1/printers/${id}`)).body;
      return p.connection === 'online' && p.glance === 'idle';
    }, 'the added printer is online and idle');
    await page.goto(url('/'));
    await page.locator('#live-state', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
    // The counts add up to the farm.
    const glances = ['printing', 'paused', 'finished', 'error', 'certificate_changed', 'offline', 'idle'];
    await waitFor(async () => {
      let sum = 0;
      for (const g of glances) sum += await count(page, g);
      return sum === FARM_SIZE;
    }, 'the counts add up to 50');
    const before = await count(page, 'printing');
    let navigated = false;
    page.once('framenavigated', () => {
      navigated = true;
    });
    await startPrint(context, id);
    await page.waitForFunction(
      ([el, n]) => Number(el.textContent) === n,
      [await page.locator('#glance-counts [data-glance="printing"] [data-count]').elementHandle(), before + 1],
      { timeout: 20_000 },
    );
    assert.equal(navigated, false, 'the count changed live, not by a reload');
    // Once it runs (past Preparing) it appears under "Finishing soon", with its end in local time.
    await waitFor(async () => (await apiCall(context, 'GET', `/api/v1/printers/${id}`)).body.ends_at_ms, 'an end time');
    await page.reload();
    const soon = page.locator('#finishing-soon li', { hasText: 'Glance' });
    await soon.first().waitFor();
    assert.match(await soon.first().innerText(), /\d+ (min|h)[\s\S]*done ≈ \d\d:\d\d/);
    for (const width of [1366, 390]) {
      await page.setViewportSize({ width, height: HEIGHT[width] });
      await page.reload();
      await page.locator('#live-state', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
      await assertNoHorizontalScroll(page, `/ at ${width}`);
      await shot(page, `home-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('controls follow the state: Pause while printing, Resume while paused, Stop with a job', async () => {
    const { page, context } = admin;
    const id = added[0];
    await page.goto(url('/printers'));
    const card = page.locator(`#printers [data-printer-id="${id}"]`);
    const control = (c) => card.locator(`[data-command="${c}"]`);
    await card.locator('[data-field="state"]', { hasText: /^(Preparing|Printing)$/ }).waitFor({ timeout: 20_000 });
    await card.locator('[data-field="state"]', { hasText: /^Printing$/ }).waitFor({ timeout: 20_000 });
    assert.equal(await control('pause').isVisible(), true);
    assert.equal(await control('resume').isVisible(), false, 'no Resume on a printing printer');
    assert.equal(await control('stop').isVisible(), true);
    assert.equal(await card.locator('[data-print]').isVisible(), false, 'no new print on a busy printer');
    assert.match(await card.locator('[data-field="time_left"]').innerText(), /^\d+ (min|h)/);

    await control('pause').click();
    await card.locator('[data-field="state"]', { hasText: /^Paused$/ }).waitFor({ timeout: 15_000 });
    await control('resume').waitFor({ state: 'visible' });
    assert.equal(await control('pause').isVisible(), false, 'no Pause on a paused printer');
    assert.equal(await control('stop').isVisible(), true);

    // Stop asks in the app's one styled dialog, naming the printer; Cancel keeps it paused.
    await control('stop').click();
    const dialog = page.locator('#confirm-action-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.innerText(), /Stop the job on Glance/);
    await dialog.locator('[data-confirm-cancel]').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await apiCall(context, 'GET', `/api/v1/printers/${id}`)).body.status.state, 'PAUSE');
    await control('stop').click();
    await confirmStyled(page, /Stop the job on Glance/);
    // A user's stop reads "Cancelled", never a red "Failed".
    await card.locator('[data-field="state"]', { hasText: /^Cancelled/ }).waitFor({ timeout: 15_000 });
    assert.equal(await control('pause').isVisible(), false);
    assert.equal(await control('resume').isVisible(), false);
    assert.equal(await control('stop').isVisible(), false, 'no Stop without a job');
    assert.equal(await card.evaluate((el) => el.classList.contains('card--failed')), false);

    // An idle printer offers none of the three.
    const idle = page.locator(`#printers [data-printer-id="${added[1]}"]`);
    await idle.locator('[data-field="state"]', { hasText: /^Idle$/ }).waitFor({ timeout: 15_000 });
    for (const c of ['pause', 'resume', 'stop']) {
      assert.equal(await idle.locator(`[data-command="${c}"]`).isVisible(), false, `no ${c} on an idle printer`);
    }
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('search, filter and sort are kept in the address; long names never widen the page', async () => {
    const { page, context } = admin;
    const renamed = await apiCall(context, 'PATCH', `/api/v1/printers/${added[2]}`, { name: LONG_NAME });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    await page.goto(url('/printers'));
    const visible = page.locator('#printers > [data-printer-id]:visible');
    assert.equal(await visible.count(), FARM_SIZE);

    await page.fill('#printer-search', 'WWWWWWWW');
    await waitFor(async () => (await visible.count()) === 1, 'the search leaves one printer');
    assert.equal(new URL(page.url()).searchParams.get('q'), 'WWWWWWWW');
    // The address reproduces the view.
    await page.reload();
    assert.equal(await visible.count(), 1);
    assert.equal(await page.inputValue('#printer-search'), 'WWWWWWWW');

    await page.goto(url('/printers?q=no-such-printer'));
    assert.equal(await visible.count(), 0);
    await page.locator('#no-match').waitFor({ state: 'visible' });
    // The state filter: the printer stopped above waits for its plate to be cleared.
    await page.goto(url('/printers?state=finished'));
    const finished = await visible.evaluateAll((els) => els.map((e) => e.getAttribute('data-glance')));
    assert.ok(finished.length >= 1 && finished.every((g) => g === 'finished'), JSON.stringify(finished));
    assert.ok((await page.locator(`#printers [data-printer-id="${added[0]}"]`).isVisible()));
    await page.selectOption('#printer-state', '');
    await page.selectOption('#printer-sort', 'state');
    assert.equal(new URL(page.url()).searchParams.get('sort'), 'state');
    assert.equal(await visible.count(), FARM_SIZE);
    // Sorted by state: the cancelled printer (waiting for its plate) comes before the idle ones.
    const first = await visible.first().getAttribute('data-glance');
    assert.notEqual(first, 'idle');

    for (const width of [1366, 390]) {
      await page.setViewportSize({ width, height: HEIGHT[width] });
      for (const view of ['cards', 'list']) {
        await page.goto(url(`/printers?view=${view}`));
        await page.locator('#live-state', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
        await assertNoHorizontalScroll(page, `/printers?view=${view} at ${width} with a 100-character name`);
        const name = page.locator(`#printers [data-printer-id="${added[2]}"] .printer-card__name`);
        const box = await name.boundingBox();
        assert.ok(box && box.x + box.width <= width, `the long name stays inside the page at ${width}`);
        await shot(page, `printers-${view}-${width}`);
      }
      await page.goto(url('/'));
      await assertNoHorizontalScroll(page, `/ at ${width} with a 100-character name`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the list view fits 50 printers on one 1920x1080 screen', async (t) => {
    const session = await signedIn(browser, ADMIN.username, ADMIN.password, { viewport: { width: 1920, height: 1080 } });
    t.after(() => session.context.close());
    const { page } = session;
    await page.goto(url('/printers'));
    // The choice of view is a radio: picking List rewrites the address.
    await page.locator('#printer-view input[value="list"]').check({ force: true });
    await page.waitForURL((u) => u.searchParams.get('view') === 'list');
    const rows = page.locator('#printers > [data-printer-id]:visible');
    assert.equal(await rows.count(), FARM_SIZE);
    const bottoms = await rows.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().bottom));
    const lowest = Math.max(...bottoms);
    assert.ok(lowest <= 1080, `the lowest printer row ends at ${lowest} px, below the 1080 px screen`);
    await assertNoHorizontalScroll(page, '/printers?view=list at 1920');
    await screenshot(page, 'printers-list-1920');
    await session.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('a user whose update right is scoped to one location sees Edit only there', async (t) => {
    const { context } = admin;
    const hall = await apiCall(context, 'POST', '/api/v1/locations', { name: 'E2E glance hall' });
    assert.equal(hall.status, 201, JSON.stringify(hall.body));
    cleanup.push(['DELETE', `/api/v1/locations/${hall.body.id}`]);
    const inside = added.slice(3, 5);
    for (const id of inside) {
      const moved = await apiCall(context, 'PATCH', `/api/v1/printers/${id}`, { location_id: hall.body.id });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
    }
    const viewers = await apiCall(context, 'POST', '/api/v1/groups', { name: 'E2E glance viewers', permissions: ['printers:read'] });
    assert.equal(viewers.status, 201, JSON.stringify(viewers.body));
    cleanup.push(['DELETE', `/api/v1/groups/${viewers.body.id}`]);
    const editors = await apiCall(context, 'POST', '/api/v1/groups', {
      name: 'E2E glance hall editors',
      permissions: ['printers:read', 'printers:update', 'printers:control'],
      scope: { locations: [hall.body.id] },
    });
    assert.equal(editors.status, 201, JSON.stringify(editors.body));
    cleanup.push(['DELETE', `/api/v1/groups/${editors.body.id}`]);
    const user = await apiCall(context, 'POST', '/api/v1/users', {
      username: EDITOR.username,
      password: EDITOR.password,
      group_ids: [viewers.body.id, editors.body.id],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    // Users go before the groups they are in.
    cleanup.push(['DELETE', `/api/v1/users/${user.body.id}`]);

    const editor = await signedIn(browser, EDITOR.username, EDITOR.password);
    t.after(() => editor.context.close());
    await editor.page.goto(url('/printers'));
    const cards = editor.page.locator('#printers [data-printer-id]');
    assert.equal(await cards.count(), FARM_SIZE, 'printers:read everywhere: every printer');
    const editable = await editor.page
      .locator('#printers [data-printer-id]:has([data-edit])')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-printer-id'))));
    assert.deepEqual(editable.sort(), [...inside].sort(), 'Edit only on the printers in the hall');
    const controllable = await editor.page
      .locator('#printers [data-printer-id]:has([data-command="pause"])')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-printer-id'))));
    assert.deepEqual(controllable.sort(), [...inside].sort(), 'controls only in the hall');
    // The home page counts the same 50 printers for this user.
    await editor.page.goto(url('/'));
    assert.equal(await editor.page.locator('#farm-total').innerText(), String(FARM_SIZE));
    await editor.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
});
