// Two-factor authentication end to end: a user turns TOTP on from the account
// page (QR code, secret, confirm, ten backup codes shown once with Download and
// Print), signs in with a code from an authenticator app and with a backup
// code, makes new backup codes, turns TOTP off; an administrator resets
// another user's second factors from /users.
//
// The codes come from this file's own RFC 6238 implementation (node:crypto
// HMAC-SHA1), independent of the server's Rust one, and it is checked against
// the RFC's test vectors first. The server accepts each time step once and
// ±1 step around its clock, so the tests track the last step spent and use
// the next one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  clickAndWaitForLoad,
  signIn,
  signedIn,
} from '../lib/identity.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const ALICE = { username: 'totp-alice', password: 'e2e alice totp passphrase' };
const BOB = { username: 'totp-bob', password: 'e2e bob totp passphrase' };
const CHALLENGE_COOKIE = '__Host-pw_mfa';

// ---------------------------------------------------------------------------
// RFC 6238 TOTP (HMAC-SHA1, 30 s steps), written for this test
// ---------------------------------------------------------------------------

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 → bytes (padding and spaces ignored, any case). */
function base32Decode(text) {
  const out = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const value = BASE32.indexOf(ch);
    if (value < 0) throw new Error(`not base32: ${ch}`);
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >>> bits) & 0xff);
      buffer &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP of `counter`, `digits` long. */
function hotp(key, counter, digits = 6) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

const STEP_SECONDS = 30;
const stepAt = (unixSeconds) => Math.floor(unixSeconds / STEP_SECONDS);
const stepNow = () => stepAt(Date.now() / 1000);

/**
 * A time step the server will accept after `last` was spent: later than
 * `last` and no more than one step ahead of now. Waits for the clock when
 * `last` is already the next step.
 */
async function freshStep(last) {
  for (;;) {
    const now = stepNow();
    if (last < now) return now;
    if (last === now) return now + 1;
    const wait = (now + 1) * STEP_SECONDS * 1000 - Date.now() + 100;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** A six-digit code that no step near now produces (a certainly wrong code). */
function wrongCode(key) {
  const near = new Set([-2, -1, 0, 1, 2].map((d) => hotp(key, stepNow() + d)));
  for (let n = 123456; ; n = (n + 111111) % 1_000_000) {
    const code = String(n).padStart(6, '0');
    if (!near.has(code)) return code;
  }
}

// ---------------------------------------------------------------------------

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
/** Alice's browser, her TOTP key and the last step the server accepted from her. */
let alice;
let aliceKey;
let aliceStep = -1;
let backupCodes = [];

/** Waits until setup is done (identity.test.mjs performs it). */
async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

async function createUser(user) {
  const created = await apiCall(admin.context, 'POST', '/api/v1/users', {
    username: user.username,
    password: user.password,
    group_ids: [],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

/** The password form of /login, up to the code step. */
async function passwordStep(page, user, next) {
  await page.goto(url(next ? `/login?next=${encodeURIComponent(next)}` : '/login'));
  await page.locator('#login-username').fill(user.username);
  await page.locator('#login-password').fill(user.password);
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#mfa-form').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#login-form').isHidden(), true, 'the password form gave way');
}

/** Submits the code step and waits until the browser has left /login. */
async function verifyAndLeave(page) {
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 }),
    page.locator('#mfa-form button[type=submit]').click(),
  ]);
}

async function signOut(page) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/login'),
    page.locator('#sign-out').click(),
  ]);
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
});

after(async () => {
  await alice?.context.close();
  await admin?.context.close();
  await browser?.close();
});

describe('two-factor authentication', () => {
  test("the test's own TOTP matches the RFC 6238 vectors", () => {
    const key = Buffer.from('12345678901234567890', 'ascii');
    for (const [time, code] of [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ]) {
      assert.equal(hotp(key, stepAt(time), 8), code, `T = ${time}`);
    }
    assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), key);
  });

  test('a user turns TOTP on from the account page and gets ten backup codes once', async () => {
    await createUser(ALICE);
    alice = await signedIn(browser, ALICE.username, ALICE.password);
    const { page, context } = alice;
    await page.goto(url('/account'));
    const section = page.locator('#two-factor');
    assert.equal(await section.getAttribute('data-totp'), 'off');
    assert.equal(await page.locator('#totp-badge-off').isVisible(), true);
    assert.equal(await page.locator('#totp-on').isHidden(), true);

    await page.locator('#totp-start').click();
    await page.locator('#totp-setup-form').waitFor({ state: 'visible' });
    const secret = (await page.locator('#totp-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{16,}$/, 'a base32 secret');
    aliceKey = base32Decode(secret);
    // The server's QR code is in the page as an SVG drawing (no style attributes).
    const qr = page.locator('#totp-qr svg');
    assert.equal(await qr.count(), 1);
    assert.equal(await qr.locator('path').count(), 1);
    const box = await qr.boundingBox();
    assert.ok(box && box.width >= 150, `the QR code is drawn large enough: ${JSON.stringify(box)}`);
    assert.equal(await page.locator('#totp-confirm-code').getAttribute('autocomplete'), 'one-time-code');
    await screenshot(page, 'account-totp-setup');

    // A typo is refused in the section's own status region, before any request.
    await page.locator('#totp-confirm-code').fill('12345');
    await page.locator('#totp-setup-form button[type=submit]').click();
    assert.match(await page.locator('#totp-status').innerText(), /6 digits/);

    const step = await freshStep(aliceStep);
    await page.locator('#totp-confirm-code').fill(hotp(aliceKey, step));
    await page.locator('#totp-setup-form button[type=submit]').click();
    await page.locator('#backup-codes').waitFor({ state: 'visible' });
    aliceStep = step;

    backupCodes = await page.locator('#backup-codes-list li').allInnerTexts();
    backupCodes = backupCodes.map((c) => c.trim());
    assert.equal(backupCodes.length, 10);
    for (const code of backupCodes) assert.match(code, /^[a-z0-9]{5}-[a-z0-9]{5}$/);
    assert.equal(new Set(backupCodes).size, 10, 'all different');
    assert.match(await page.locator('#backup-codes').innerText(), /will not be shown again/i);
    assert.equal(await section.getAttribute('data-totp'), 'on');
    assert.equal(await page.locator('#totp-badge-on').isVisible(), true);
    assert.equal(await page.locator('#totp-setup-form').isHidden(), true, 'the secret left the page');
    assert.equal(await page.locator('#totp-secret').innerText(), '');
    assert.match(await page.locator('#totp-status').innerText(), /Two-factor authentication is on/);
    await screenshot(page, 'account-backup-codes');

    // Download: a text file with every code, from a blob: URL.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#backup-codes-download').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'printwarden-backup-codes.txt');
    const file = readFileSync(await download.path(), 'utf8');
    for (const code of backupCodes) assert.ok(file.includes(`\n${code}\n`), `${code} is in the file`);
    assert.match(file, new RegExp(`for ${ALICE.username}`));

    // Print: only the codes are printed (window.print is stubbed: headless has no dialog).
    await page.evaluate(() => {
      window.print = () => {
        window.__printClass = document.documentElement.classList.contains('print-backup-codes');
      };
    });
    await page.locator('#backup-codes-print').click();
    assert.equal(await page.evaluate(() => window.__printClass), true);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('#backup-codes-list').isVisible(), true);
    assert.equal(await page.locator('.backup-codes__print-title').isVisible(), true);
    for (const other of ['#password', '#sessions', '.app-header', '#backup-codes-print', '#totp-on']) {
      assert.equal(await page.locator(other).isVisible(), false, `${other} is not printed`);
    }
    await page.evaluate(() => window.dispatchEvent(new Event('afterprint')));
    await page.emulateMedia({ media: 'screen' });
    assert.equal(
      await page.evaluate(() => document.documentElement.classList.contains('print-backup-codes')),
      false,
    );

    const me = await apiCall(context, 'GET', '/api/v1/auth/me');
    assert.equal(me.body.mfa.totp, true);

    // Shown once: a reload has the state but no codes.
    await page.reload();
    assert.equal(await section.getAttribute('data-totp'), 'on');
    assert.equal(await page.locator('#backup-codes').isHidden(), true);
    const html = await page.content();
    for (const code of backupCodes) assert.ok(!html.includes(code), 'no backup code after a reload');
    assert.ok(!html.includes(secret), 'no secret after a reload');
    await alice.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('signing in asks for a code from the app; a wrong one is refused', async () => {
    const { page } = alice;
    await signOut(page);
    await passwordStep(page, ALICE, '/account');
    const totp = page.locator('#mfa-totp-code');
    assert.equal(await totp.isVisible(), true);
    assert.equal(await totp.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await totp.getAttribute('inputmode'), 'numeric');
    assert.equal(await page.locator('#mfa-backup-code').isHidden(), true);
    assert.equal(await page.locator('[data-mfa-use="backup"]').isVisible(), true);
    assert.equal(await page.locator('[data-mfa-use="totp"]').isHidden(), true);
    assert.equal(await totp.evaluate((el) => el === document.activeElement), true, 'the code field has focus');
    await screenshot(page, 'login-code-step');

    await totp.fill(wrongCode(aliceKey));
    await page.locator('#mfa-form button[type=submit]').click();
    await page.locator('#mfa-status').waitFor({ state: 'visible' });
    assert.match(await page.locator('#mfa-status').innerText(), /not correct/);
    assert.equal(new URL(page.url()).pathname, '/login');

    // The next step's code: the current one was spent when TOTP was turned on.
    const step = await freshStep(aliceStep);
    await totp.fill(hotp(aliceKey, step));
    await verifyAndLeave(page);
    aliceStep = step;
    assert.equal(new URL(page.url()).pathname, '/account', 'the same redirect as a password sign-in');
    assert.equal(await page.locator('#account-username').innerText(), ALICE.username);
    await alice.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('a backup code signs in once; an expired step goes back to the password', async () => {
    const { page, context } = alice;
    await signOut(page);
    await passwordStep(page, ALICE);
    await page.locator('[data-mfa-use="backup"]').click();
    const backup = page.locator('#mfa-backup-code');
    assert.equal(await backup.isVisible(), true);
    assert.equal(await page.locator('#mfa-totp-code').isHidden(), true);
    assert.equal(await page.locator('[data-mfa-use="totp"]').isVisible(), true, 'and back to the app');
    await backup.fill(backupCodes[0]);
    await verifyAndLeave(page);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal((await apiCall(context, 'GET', '/api/v1/auth/me')).body.username, ALICE.username);

    // Spent: the same code again is refused.
    await signOut(page);
    await passwordStep(page, ALICE);
    await page.locator('[data-mfa-use="backup"]').click();
    await backup.fill(backupCodes[0]);
    await page.locator('#mfa-form button[type=submit]').click();
    await page.locator('#mfa-status').waitFor({ state: 'visible' });
    assert.match(await page.locator('#mfa-status').innerText(), /already used/);

    // "Start over" returns to the password form.
    await page.locator('#mfa-restart').click();
    assert.equal(await page.locator('#login-form').isVisible(), true);
    assert.equal(await page.locator('#mfa-form').isHidden(), true);
    assert.equal(await page.locator('#login-username').inputValue(), ALICE.username);

    // The challenge is gone (expired, or another browser): back to the password, with the reason.
    await passwordStep(page, ALICE);
    await context.clearCookies({ name: CHALLENGE_COOKIE });
    await page.locator('[data-mfa-use="backup"]').click();
    await backup.fill(backupCodes[1]);
    await page.locator('#mfa-form button[type=submit]').click();
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.match(await page.locator('#login-status').innerText(), /Sign in again/);
    assert.equal(await page.locator('#mfa-form').isHidden(), true);

    // That code was not spent by the refused step.
    await passwordStep(page, ALICE);
    await page.locator('[data-mfa-use="backup"]').click();
    await backup.fill(backupCodes[1]);
    await verifyAndLeave(page);
    await alice.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('new backup codes need a current code; the old set is replaced', async () => {
    const { page } = alice;
    await page.goto(url('/account'));
    await page.locator('[data-totp-action="regenerate"]').click();
    const form = page.locator('#totp-code-form');
    await form.waitFor({ state: 'visible' });
    assert.match(await form.locator('h3').innerText(), /New backup codes/);
    assert.equal(await page.locator('#totp-code').getAttribute('inputmode'), 'numeric');

    // The server's refusal is shown in the section's status region.
    await page.locator('#totp-code').fill(wrongCode(aliceKey));
    await page.locator('#totp-code-submit').click();
    await page.locator('#totp-status.banner--error').waitFor();
    assert.match(await page.locator('#totp-status').innerText(), /not correct/);

    const step = await freshStep(aliceStep);
    await page.locator('#totp-code').fill(hotp(aliceKey, step));
    await page.locator('#totp-code-submit').click();
    await page.locator('#backup-codes').waitFor({ state: 'visible' });
    aliceStep = step;
    const fresh = (await page.locator('#backup-codes-list li').allInnerTexts()).map((c) => c.trim());
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !backupCodes.includes(c)), 'a new set');
    assert.match(await page.locator('#totp-status').innerText(), /old ones no longer work/);
    assert.equal(await form.isHidden(), true);
    backupCodes = fresh;
    await alice.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('turning TOTP off with a backup code; the password alone signs in again', async () => {
    const { page, context } = alice;
    await page.goto(url('/account'));
    await page.locator('[data-totp-action="disable"]').click();
    const input = page.locator('#totp-code');
    await input.waitFor({ state: 'visible' });
    assert.equal(await input.getAttribute('inputmode'), 'text', 'a backup code has letters');
    assert.match(await page.locator('#totp-code-submit').getAttribute('class'), /btn--danger/);
    await input.fill(backupCodes[0]);
    await page.locator('#totp-code-submit').click();
    await page.locator('#totp-status.banner--success').waitFor();
    assert.match(await page.locator('#totp-status').innerText(), /is off/);
    assert.equal(await page.locator('#two-factor').getAttribute('data-totp'), 'off');
    assert.equal(await page.locator('#totp-start').isVisible(), true);
    assert.equal((await apiCall(context, 'GET', '/api/v1/auth/me')).body.mfa.totp, false);

    await signOut(page);
    await signIn(page, ALICE.username, ALICE.password);
    assert.equal(new URL(page.url()).pathname, '/');
    await alice.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test("an administrator resets a user's 2FA from /users, which signs them out", async (t) => {
    const bobId = await createUser(BOB);
    const bob = await signedIn(browser, BOB.username, BOB.password);
    t.after(() => bob.context.close());
    // Bob turns TOTP on through the API (the page is covered above).
    const setup = await apiCall(bob.context, 'POST', '/api/v1/auth/mfa/totp/setup', {});
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    const bobKey = base32Decode(setup.body.secret);
    const enabled = await apiCall(bob.context, 'POST', '/api/v1/auth/mfa/totp/enable', {
      code: hotp(bobKey, stepNow()),
    });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));

    const { page } = admin;
    await page.goto(url('/users'));
    const row = page.locator(`#users-table tr[data-user-id="${bobId}"]`);
    assert.equal(await row.locator('.badge', { hasText: '2FA' }).count(), 1, 'the list shows 2FA');
    await row.locator('[data-reset-mfa]').click();
    const dialog = page.locator('#reset-mfa-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.locator('h2').innerText(), new RegExp(BOB.username));
    assert.match(await dialog.innerText(), /signs them out everywhere/);
    await screenshot(page, 'users-reset-2fa');
    await clickAndWaitForLoad(page, page.locator('#reset-mfa-submit'));
    await page.locator('#flash').waitFor({ state: 'visible' });
    assert.match(await page.locator('#flash').innerText(), /totp-bob.*reset.*signed out everywhere/);
    // The reloaded list no longer marks Bob as having a second factor.
    assert.equal(await row.locator('[data-reset-mfa]').count(), 0, 'no reset button without 2FA');
    assert.equal(await row.locator('.badge', { hasText: '2FA' }).count(), 0);

    assert.equal((await apiCall(bob.context, 'GET', '/api/v1/auth/me')).status, 401, 'signed out');
    // Bob's open page notices within seconds (the session watcher).
    await bob.page.waitForURL((u) => u.pathname === '/login', { timeout: 15_000 });
    // The password alone signs in now.
    await signIn(bob.page, BOB.username, BOB.password);
    assert.equal(new URL(bob.page.url()).pathname, '/');
    assert.equal((await apiCall(bob.context, 'GET', '/api/v1/auth/me')).body.mfa.totp, false);
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
    await bob.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
});
