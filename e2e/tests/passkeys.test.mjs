// Passkeys end to end with Chromium's virtual authenticator (DevTools protocol
// WebAuthn.enable + WebAuthn.addVirtualAuthenticator through playwright-core's
// CDP session): a user adds a passkey from the account page, signs out, and
// signs in with the passkey alone from "Sign in with a passkey".
//
// WebAuthn refuses IP addresses as relying-party ids, so this file talks to
// the server as https://localhost:PORT (the generated certificate names
// localhost, and the Host allow-list admits it); without a public_url the
// server takes its relying party from that screened origin.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, fetchWithCa, launchBrowser, openPage, screenshot } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  assertNoHorizontalScroll,
  clickAndWaitForLoad,
  signedIn,
} from '../lib/identity.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const CAROL = { username: 'passkey-carol', password: 'e2e carol passkey passphrase' };

const LOCAL = (() => {
  const u = new URL(BASE_URL);
  u.hostname = 'localhost';
  return u.origin;
})();
const local = (p) => new URL(p, `${LOCAL}/`).toString();

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let carol;
let cdp;
let authenticatorId;

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
  const created = await apiCall(admin.context, 'POST', '/api/v1/users', {
    username: CAROL.username,
    password: CAROL.password,
    group_ids: [],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  carol = await openPage(browser);
  // A platform authenticator that keeps discoverable credentials and verifies its user.
  cdp = await carol.context.newCDPSession(carol.page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  }));
});

after(async () => {
  await carol?.context.close();
  await admin?.context.close();
  await browser?.close();
});

describe('passkeys', () => {
  test('a user adds a passkey on the account page, signs out and signs in with it', async () => {
    const { page, assertClean } = carol;
    await page.goto(local('/login'));
    await page.locator('#login-username').fill(CAROL.username);
    await page.locator('#login-password').fill(CAROL.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 }),
      page.locator('#login-form button[type=submit]').click(),
    ]);

    await page.goto(local('/account'));
    assert.equal(await page.locator('#passkeys-none').isVisible(), true);
    await page.locator('#passkey-name').fill('E2E laptop');
    await page.locator('#passkey-password').fill(CAROL.password);
    await clickAndWaitForLoad(page, page.locator('#passkey-add'));
    const rows = page.locator('#passkeys-table tbody tr');
    await rows.first().waitFor({ state: 'visible' });
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /E2E laptop/);
    assert.match(await page.locator('#flash').innerText(), /Passkey “E2E laptop” added/);

    // The authenticator holds one discoverable credential for this server.
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true);
    assert.equal(credentials[0].rpId, 'localhost');

    await page.setViewportSize({ width: 360, height: 740 });
    await assertNoHorizontalScroll(page, 'account page with a passkey at 360 px');
    await screenshot(page, 'passkeys-account-360');
    await page.setViewportSize({ width: 1280, height: 800 });

    await Promise.all([
      page.waitForURL((u) => u.pathname === '/login'),
      page.locator('#sign-out').click(),
    ]);
    const button = page.locator('#passkey-login-button');
    await button.waitFor({ state: 'visible' });
    const started = Date.now();
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 }),
      button.click(),
    ]);
    const elapsed = Date.now() - started;
    console.log(`passkey sign-in in the browser (click to next page): ${elapsed} ms`);

    // Asked from the page (localhost): the session cookie belongs to that host.
    const here = await page.evaluate(async () => {
      const res = await fetch('/api/v1/auth/me', { headers: { accept: 'application/json' } });
      return { status: res.status, body: await res.json() };
    });
    assert.equal(here.status, 200);
    assert.equal(here.body.username, CAROL.username);
    assert.equal(here.body.mfa.passkeys, 1);

    // The sign-in counted on the credential and shows on the account page.
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0].signCount >= 1);
    await page.goto(local('/account'));
    assert.doesNotMatch(await rows.first().innerText(), /Never/);
    await assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });

    const audit = await apiCall(admin.context, 'GET', '/api/v1/audit?event=auth.&limit=100');
    const events = audit.body.items.map((e) => `${e.event}:${e.success}:${e.details?.method ?? ''}`);
    assert.ok(events.includes('auth.passkey.register:true:'), events.join(' '));
    assert.ok(events.includes('auth.login:true:passkey'), events.join(' '));
  });
});
