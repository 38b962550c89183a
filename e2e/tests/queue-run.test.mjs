// The queue at work, against the demo (three simulated printers, already added), as issue 16's
// browser test asks: three jobs queued for one printer through "Add to queue…" with the AMS
// mapping (one filament moved to another tray than proposed), the third dragged to the top on
// /queue, the printer's lane resumed, and the three run one after the other in the new order,
// each waiting for someone to press "Plate cleared" on the printer card after the one before.
// The oracles: the simulated printer's own start log (read over the demo's control socket),
// the archive entries, the queue items and what the pages show.
//
// The demo's prints last 120 s; the simulator's control socket fast-forwards the running one
// (`{"command":"finish"}`: the printer reports FINISH at 100 % exactly as at the natural end),
// so three jobs take seconds.
//
// A webhook receiver on 127.0.0.1 (allow-listed for the outbound guard) subscribed to
// ["print.", "queue."] with a secret checks every delivery's signature:
// `x-printwarden-signature: sha256=HMAC-SHA256(secret, "{x-printwarden-timestamp}.{body}")`.
// The print and queue notification events (print.started, print.finished, queue.dispatched)
// follow the contract of issue 16's notifications (body `{event, at, printer?, job?,
// queue_item?, text}`).
//
// Only one printer's lane is paused while the jobs are queued and reordered (never the whole
// queue); at the end the lane runs, the plate is marked clear and our webhook is removed, so
// the printer is ready for the files after this one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { DATA_DIR, fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { NAVIGATION_ABORT, apiCall, signedIn } from '../lib/identity.mjs';
import { slicedProject } from '../lib/printfile.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const RUN = Date.now().toString(36);
const SECRET = `e2e queue-run webhook secret ${RUN}`;
// Queued in this order; the third is dragged to the top, so they run charlie, alpha, bravo.
const JOBS = [
  { key: 'alpha', plate: 1 },
  { key: 'bravo', plate: 2 },
  { key: 'charlie', plate: 1 },
].map((j) => ({ ...j, file: `E2E run ${RUN} ${j.key}.gcode.3mf` }));
const byKey = Object.fromEntries(JOBS.map((j) => [j.key, j]));
const RUN_ORDER = ['charlie', 'alpha', 'bravo'];

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let printer;
let webhookId;
let allowedBefore;
let receiver;
/** Every delivery: { headers, body (Buffer), json }. */
const received = [];
/** The simulated printer's start log before our jobs. */
let startsBefore = 0;

async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

/** Polls `check` (async, returns a truthy value when done) until it holds. */
async function waitFor(check, what, timeout = 30_000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: never happened`);
}

/**
 * One request to the demo printers' control socket (`<data dir>/demo-printers/control.sock`,
 * see crates/simulator/src/control.rs): one JSON line out, one JSON line back.
 */
function simulator(request) {
  assert.ok(DATA_DIR, 'PW_DATA_DIR is needed to reach the demo printers’ control socket');
  const socket = path.join(DATA_DIR, 'demo-printers', 'control.sock');
  return new Promise((resolve, reject) => {
    const conn = net.createConnection({ path: socket });
    let buffer = '';
    conn.setEncoding('utf8');
    conn.setTimeout(10_000, () => conn.destroy(new Error(`the simulator did not answer ${JSON.stringify(request)}`)));
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (chunk) => {
      buffer += chunk;
      const end = buffer.indexOf('\n');
      if (end >= 0) {
        conn.end();
        resolve(JSON.parse(buffer.slice(0, end)));
      }
    });
    conn.on('error', reject);
  });
}

async function simulatorStarts() {
  const answer = await simulator({ command: 'starts', serial: printer.serial });
  assert.equal(answer.ok, true, JSON.stringify(answer));
  return answer.starts;
}

async function item(id) {
  const res = await apiCall(admin.context, 'GET', `/api/v1/queue/${id}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

async function printerNow() {
  return (await apiCall(admin.context, 'GET', `/api/v1/printers/${printer.id}`)).body;
}

/** The ids of the global list's jobs on the page, in order, ours only. */
async function shownOrder(page) {
  const ours = new Set(JOBS.map((j) => j.id));
  const ids = await page.locator('#queue-list > .queue-item').evaluateAll((items) => items.map((i) => Number(i.getAttribute('data-item-id'))));
  return ids.filter((id) => ours.has(id));
}

function escaped(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function timeOf(at) {
  return typeof at === 'number' ? at : Date.parse(at);
}

/** Whether a delivery's body is about this job (its file, queue item or archive entry). */
function about(json, job) {
  return (
    JSON.stringify(json).includes(`${RUN} ${job.key}`) ||
    json.queue_item?.id === job.id ||
    (job.archiveId != null && (json.job?.archive_id === job.archiveId || json.job?.id === job.archiveId))
  );
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
  await admin.page.setViewportSize({ width: 1366, height: 900 });
  const { context } = admin;
  // The X1C: the library and archive files print on the A1, the printers file on the P1S.
  const printers = (await apiCall(context, 'GET', '/api/v1/printers')).body.items;
  printer = printers.find((p) => p.model === 'X1C') ?? printers[0];
  await waitFor(async () => {
    const p = await printerNow();
    return p.connection === 'online' && p.status && !p.status.busy;
  }, 'the printer is online and free', 60_000);
  // Ready for the queue: a plate left from an earlier file is confirmed clear first.
  if ((await printerNow()).plate_cleared === false) {
    const cleared = await apiCall(context, 'POST', `/api/v1/printers/${printer.id}/plate-cleared`, {});
    assert.equal(cleared.status, 204, JSON.stringify(cleared.body));
  }
  // Nothing of ours starts on it while we queue and reorder (only this printer's lane).
  const paused = await apiCall(context, 'POST', '/api/v1/queue/pause', { printer_id: printer.id });
  assert.equal(paused.status, 200, JSON.stringify(paused.body));
  startsBefore = (await simulatorStarts()).length;

  const origin = new URL(url('/')).origin;
  for (const job of JOBS) {
    const uploaded = await context.request.post(url('/api/v1/library/files'), {
      headers: { accept: 'application/json', origin },
      multipart: { file: { name: job.file, mimeType: 'application/octet-stream', buffer: slicedProject() } },
      failOnStatusCode: false,
    });
    assert.equal(uploaded.status(), 201, await uploaded.text());
    job.fileId = (await uploaded.json()).id;
  }

  // The webhook receiver: loopback is private, so the outbound guard needs it allow-listed.
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let json = null;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        // Kept as is: the assertions say what was wrong with it.
      }
      received.push({ headers: req.headers, body, json });
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const outbound = await apiCall(context, 'GET', '/api/v1/settings/outbound');
  assert.equal(outbound.status, 200, JSON.stringify(outbound.body));
  allowedBefore = outbound.body.allowed_hosts;
  if (!allowedBefore.includes('127.0.0.1')) {
    const put = await apiCall(context, 'PUT', '/api/v1/settings/outbound', { allowed_hosts: [...allowedBefore, '127.0.0.1'] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }
  const hook = await apiCall(context, 'POST', '/api/v1/webhooks', {
    name: `E2E queue run ${RUN}`,
    url: `http://127.0.0.1:${receiver.address().port}/printwarden`,
    secret: SECRET,
    events: ['print.', 'queue.'],
  });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  webhookId = hook.body.id;
});

after(async () => {
  if (admin) {
    const { context } = admin;
    // Leave the printer ready whatever happened: our waiting jobs cancelled, a job of ours
    // still running stopped, the plate confirmed clear, the lane running.
    for (const job of JOBS.filter((j) => j.id)) {
      const now = await apiCall(context, 'GET', `/api/v1/queue/${job.id}`);
      if (now.body?.state === 'queued') await apiCall(context, 'DELETE', `/api/v1/queue/${job.id}`);
    }
    if (printer) {
      await apiCall(context, 'POST', '/api/v1/queue/resume', { printer_id: printer.id });
      const p = await printerNow().catch(() => null);
      if (p?.status?.busy && JOBS.some((j) => p.status.job_name?.includes(`${RUN} ${j.key}`))) {
        await apiCall(context, 'POST', `/api/v1/printers/${printer.id}/commands`, { command: 'stop' });
        await waitFor(async () => !(await printerNow()).status?.busy && (await printerNow()).archive_id == null, 'the stopped job ended', 30_000).catch(() => {});
      }
      if ((await printerNow().catch(() => null))?.plate_cleared === false) {
        await apiCall(context, 'POST', `/api/v1/printers/${printer.id}/plate-cleared`, {});
      }
    }
    if (webhookId) await apiCall(context, 'DELETE', `/api/v1/webhooks/${webhookId}`);
    if (allowedBefore && !allowedBefore.includes('127.0.0.1')) {
      await apiCall(context, 'PUT', '/api/v1/settings/outbound', { allowed_hosts: allowedBefore });
    }
    await context.close();
  }
  receiver?.close();
  await browser?.close();
});

describe('the queue at work', () => {
  test('queue three jobs for one printer with their AMS mapping, one tray changed', async () => {
    const { page } = admin;
    for (const job of JOBS) {
      await page.goto(url(`/library/files/${job.fileId}`));
      await page.locator('#open-queue').click();
      const dialog = page.locator('#queue-dialog');
      await dialog.waitFor({ state: 'visible' });
      await page.locator(`#queue-plate-${job.plate}`).check();
      await page.locator('#queue-target').selectOption(`printer:${printer.id}`);
      const map = `.ams-map[data-plate="${job.plate}"]`;
      await dialog.locator(`${map}:not([hidden]) .ams-row`).first().waitFor({ state: 'visible', timeout: 15_000 });
      // The proposal from the printer's live trays fills every filament.
      await page.waitForFunction(
        (sel) => [...document.querySelectorAll(`${sel} select`)].every((s) => s.value !== ''),
        map,
        { timeout: 15_000 },
      );
      if (job.key === 'alpha') {
        // Plate 1's PLA goes to another PLA tray than the one proposed (a user's choice).
        const pla = dialog.locator(`${map} select[data-ams-slot="1"]`);
        const proposed = await pla.inputValue();
        const other = await pla.evaluate(
          (s, was) => [...s.options].find((o) => o.value !== '' && o.value !== was && /: PLA\b/.test(o.textContent))?.value,
          proposed,
        );
        assert.ok(other, 'the X1C has a second PLA tray');
        await pla.selectOption(other);
        job.changed = { slot: 1, from: Number(proposed), to: Number(other) };
        // The swatch follows the chosen tray's colour.
        const row = dialog.locator(`${map} .ams-row`).filter({ has: page.locator('select[data-ams-slot="1"]') });
        assert.match(await row.locator('[data-tray-swatch] circle').getAttribute('fill'), /^#[0-9A-Fa-f]{6}$/);
        await screenshot(page, 'queue-run-add-dialog');
      }
      await page.locator('#queue-submit').click();
      await page.locator('#queue-form-status').filter({ hasText: /is in the queue/ }).waitFor({ timeout: 10_000 });
      await dialog.locator('[data-close-dialog]').click();
    }

    const listed = (await apiCall(admin.context, 'GET', '/api/v1/queue?state=queued&limit=500')).body.items;
    for (const job of JOBS) {
      const queued = listed.find((i) => i.file_name === job.file);
      assert.ok(queued, `${job.file} is queued`);
      assert.equal(queued.target.printer_id, printer.id);
      assert.equal(queued.plate, job.plate);
      job.id = queued.id;
      job.mapping = queued.ams_mapping;
    }
    assert.deepEqual(byKey.alpha.mapping.find((m) => m.slot === 1), { slot: 1, tray: byKey.alpha.changed.to }, 'the changed tray was kept');
    assert.equal(byKey.alpha.mapping.length, 2);
    assert.equal(byKey.bravo.mapping.length, 1);
    assert.equal(byKey.charlie.mapping.find((m) => m.slot === 1).tray, byKey.alpha.changed.from, 'charlie keeps the proposal');
    const order = listed.filter((i) => JOBS.some((j) => j.id === i.id)).map((i) => i.id);
    assert.deepEqual(order, JOBS.map((j) => j.id), 'queued in the order added');
  });

  test('drag the third job to the top of the queue', async () => {
    const { page } = admin;
    const [alpha, bravo, charlie] = JOBS.map((j) => j.id);
    await page.goto(url('/queue'));
    assert.deepEqual(await shownOrder(page), [alpha, bravo, charlie]);
    const row = (id) => page.locator(`#queue-list > .queue-item[data-item-id="${id}"]`);
    // Why they wait, in words: this printer's lane is paused.
    assert.match(await row(alpha).locator('[data-field="waiting-for"]').innerText(), new RegExp(`Paused: ${escaped(printer.name)}'s lane is paused\\.`));
    await row(charlie).locator('.queue-item__grip').dragTo(row(alpha), { targetPosition: { x: 20, y: 5 } });
    await page.locator('#queue-status').filter({ hasText: /moved/ }).waitFor({ timeout: 10_000 });
    await page.reload();
    assert.deepEqual(await shownOrder(page), [charlie, alpha, bravo], 'the dragged order was saved');
    const lane = page.locator(`.queue-lane[data-printer-id="${printer.id}"]`);
    const laneOrder = await lane.locator('.queue-item').evaluateAll((items) => items.map((i) => Number(i.getAttribute('data-item-id'))));
    assert.deepEqual(laneOrder.filter((id) => [alpha, bravo, charlie].includes(id)), [charlie, alpha, bravo], 'the lane shows the same order');
    await screenshot(page, 'queue-run-reordered');
  });

  test('resume the lane: the three run in the new order, each after "Plate cleared"', { timeout: 240_000 }, async () => {
    const { page, context } = admin;
    await page.goto(url('/queue'));
    const lane = page.locator(`.queue-lane[data-printer-id="${printer.id}"]`);
    await lane.locator('[data-lane-resume]').click();
    await page.locator('#queue-status').filter({ hasText: /runs again/ }).waitFor({ timeout: 10_000 });

    for (const [n, key] of RUN_ORDER.entries()) {
      const job = byKey[key];
      const next = byKey[RUN_ORDER[n + 1]];
      // The printer takes this one, and only this one.
      const taken = await waitFor(async () => {
        const it = await item(job.id);
        return it.state === 'printing' && it.run_archive_id != null ? it : null;
      }, `${job.file} printing`, 60_000);
      job.archiveId = taken.run_archive_id;
      for (const later of RUN_ORDER.slice(n + 1)) {
        assert.equal((await item(byKey[later].id)).state, 'queued', `${later} still waits while ${key} prints`);
      }
      await page.goto(url('/queue'));
      const row = page.locator(`#queue-list > .queue-item[data-item-id="${job.id}"]`);
      assert.equal(await row.locator('[data-field="state"]').innerText(), 'Printing');
      if (next) {
        assert.match(await page.locator(`#queue-list > .queue-item[data-item-id="${next.id}"] [data-field="waiting-for"]`).innerText(), new RegExp(`Waiting for ${escaped(printer.name)} to be free\\.`));
      }
      if (n === 0) await screenshot(page, 'queue-run-printing');

      // The Printers page: the card shows the job; the archive has opened its entry.
      await page.goto(url('/printers'));
      const card = page.locator(`#printers [data-printer-id="${printer.id}"]`);
      await card.locator('[data-field="job"]', { hasText: key }).waitFor({ timeout: 30_000 });
      await waitFor(async () => (await apiCall(context, 'GET', `/api/v1/archives/${job.archiveId}`)).body?.outcome === 'printing', `${key}'s archive entry is open`);

      // Fast-forward the simulated print to its end: FINISH, and the plate holds the print.
      const finished = await simulator({ command: 'finish', serial: printer.serial });
      assert.equal(finished.ok, true, JSON.stringify(finished));
      const plate = card.locator('[data-field="plate"]');
      await plate.waitFor({ state: 'visible', timeout: 30_000 });
      assert.match(await plate.innerText(), /waits until someone confirms the plate is clear/);
      await card.locator('[data-field="state"]', { hasText: 'Finished — needs plate clearing' }).waitFor({ timeout: 15_000 });
      await waitFor(async () => (await item(job.id)).state === 'done', `${key} done`);
      if (next) {
        // Nothing starts on a full plate: the next job says so, in words.
        const words = `Waiting for the plate of ${printer.name} to be cleared.`;
        await waitFor(async () => (await item(next.id)).waiting_for === words, `${next.key} waits for the plate`);
        assert.equal((await item(next.id)).state, 'queued');
      }
      if (n === 0) await screenshot(page, 'queue-run-plate-cleared-button');
      await plate.locator('[data-plate-cleared]').click();
      await card.locator('[data-field="status"]').filter({ hasText: /the plate is marked clear/ }).waitFor({ timeout: 10_000 });
      await plate.waitFor({ state: 'hidden' });
    }

    // The simulated printer's own record: three starts, once each, in the new order, each
    // with the AMS mapping queued (slot n → tray, -1 for an unused slot).
    const starts = (await simulatorStarts()).slice(startsBefore);
    assert.deepEqual(starts.map((s) => s.accepted), [true, true, true], JSON.stringify(starts));
    assert.deepEqual(
      starts.map((s) => RUN_ORDER.find((key) => s.path.includes(`${RUN} ${key}`))),
      RUN_ORDER,
      JSON.stringify(starts.map((s) => s.path)),
    );
    for (const [i, key] of RUN_ORDER.entries()) {
      const job = byKey[key];
      assert.equal(starts[i].plate, job.plate);
      const vector = Array(Math.max(...job.mapping.map((m) => m.slot))).fill(-1);
      for (const m of job.mapping) vector[m.slot - 1] = m.tray;
      assert.deepEqual(starts[i].ams_mapping, vector, `${key}'s AMS mapping reached the printer`);
    }
    assert.equal(starts[RUN_ORDER.indexOf('alpha')].ams_mapping[0], byKey.alpha.changed.to, 'the changed tray reached the printer');

    // The archive: three finished entries, started in the new order, each the run of its item.
    const entries = (await apiCall(context, 'GET', `/api/v1/archives?printer_id=${printer.id}&limit=100`)).body.items
      .filter((e) => e.file_name.includes(`E2E run ${RUN} `))
      .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    assert.deepEqual(entries.map((e) => e.file_name), RUN_ORDER.map((key) => byKey[key].file));
    assert.deepEqual(entries.map((e) => e.outcome), ['finished', 'finished', 'finished']);
    assert.deepEqual(entries.map((e) => e.id), RUN_ORDER.map((key) => byKey[key].archiveId));
    assert.deepEqual(entries.map((e) => e.source), ['printwarden', 'printwarden', 'printwarden']);

    // The queue page lists them as done.
    await page.goto(url('/queue'));
    for (const job of JOBS) {
      const ended = page.locator(`#queue-ended > .queue-item[data-item-id="${job.id}"]`);
      assert.equal(await ended.locator('[data-field="state"]').innerText(), 'Done');
    }
    assert.equal(await page.locator(`#queue-list > .queue-item[data-item-id="${byKey.bravo.id}"]`).count(), 0);
    await screenshot(page, 'queue-run-done');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the webhook receiver got signed queue events', async () => {
    // Audit events under the "queue." prefix (the reorder above) are delivered signed.
    await waitFor(() => received.find((r) => r.headers['x-printwarden-event'] === 'queue.reorder'), 'a queue.reorder delivery', 15_000);
    // Every delivery, whatever its event, carries a valid signature and only what was asked for.
    for (const delivery of received) {
      assertSigned(delivery);
      assert.match(delivery.headers['x-printwarden-event'], /^(print|queue)\./);
    }
  });

  // Issue 16's print and queue notification events (the contract between the helpers:
  // print.started / print.finished / queue.dispatched, body {event, at, printer?, job?,
  // queue_item?, text}).
  test('the webhook receiver got signed print.started, print.finished and queue.dispatched for each job, in the run order', async () => {
    const names = ['queue.dispatched', 'print.started', 'print.finished'];
    const of = (name, job) => received.filter((r) => r.headers['x-printwarden-event'] === name && r.json && about(r.json, job));
    await waitFor(
      () => RUN_ORDER.every((key) => names.every((name) => of(name, byKey[key]).length > 0)),
      `deliveries of ${names.join(', ')} for ${RUN_ORDER.join(', ')} (got ${JSON.stringify(received.map((r) => r.headers['x-printwarden-event']))})`,
      20_000,
    );
    for (const name of names) {
      const firsts = RUN_ORDER.map((key) => {
        const [delivery, ...more] = of(name, byKey[key]);
        assert.equal(more.length, 0, `one ${name} for ${key}`);
        assertSigned(delivery);
        assert.equal(delivery.json.event, name);
        assert.equal(delivery.json.printer?.id, printer.id, `${name} names the printer`);
        assert.equal(delivery.json.printer?.name, printer.name);
        assert.equal(typeof delivery.json.text, 'string');
        assert.ok(delivery.json.text.length > 10, `${name} says what happened in words: ${delivery.json.text}`);
        return timeOf(delivery.json.at);
      });
      assert.deepEqual([...firsts].sort((a, b) => a - b), firsts, `${name} in the run order ${RUN_ORDER.join(', ')}`);
    }
    for (const key of RUN_ORDER) {
      const job = byKey[key];
      assert.equal(of('queue.dispatched', job)[0].json.queue_item?.id, job.id, `queue.dispatched names ${key}'s queue item`);
      assert.ok(timeOf(of('print.started', job)[0].json.at) <= timeOf(of('print.finished', job)[0].json.at));
    }
  });
});

/** The delivery carries our signature over "{timestamp}.{body}", and the event it names. */
function assertSigned(delivery) {
  const { headers, body } = delivery;
  assert.match(headers['x-printwarden-timestamp'] ?? '', /^\d+$/);
  assert.match(headers['x-printwarden-delivery'] ?? '', /\S/);
  const expected = createHmac('sha256', SECRET).update(`${headers['x-printwarden-timestamp']}.`).update(body).digest('hex');
  assert.equal(headers['x-printwarden-signature'], `sha256=${expected}`, `${headers['x-printwarden-event']} is signed with our secret`);
  assert.equal(delivery.json?.event, headers['x-printwarden-event']);
}
