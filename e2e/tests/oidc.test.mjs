// OpenID Connect end to end, in Chromium, against the real OpenID provider
// test peer (npm oidc-provider 9, scripts/peers/oidc-server.mjs, started by
// scripts/test.sh; PW_TEST_OIDC_ISSUER and PW_TEST_OIDC_CA name it):
//
// - sign in: the sign-in page's "Sign in with …" link, the provider's own
//   login page (typed into like a person would), and back signed in. The
//   provider is on https://localhost:PORT and printwarden on 127.0.0.1, so the
//   __Host-pw_oidc cookie (SameSite=Lax) must survive a cross-site redirect;
// - Settings: the administrator adds the provider through Settings →
//   Authentication → OpenID Connect (the form, not the API), at 360 px;
// - link from Account: the administrator clicks "Link" on Account → Sign-in
//   methods, types the password, goes through the provider's login page as
//   another provider user and comes back to /account; signs out, signs in
//   with the provider's button as that provider user, and unlinks with the
//   button. An account created by the provider (no password) is refused the
//   unlink of its last way in, in words;
// - a provider sign-in for an account with a second factor lands on the
//   sign-in page's code step (/login?step=mfa).
//
// The administrator was made by identity.test.mjs (files run in name order).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { launchBrowser, openPage, screenshot, url } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  apiCall,
  assertNoHorizontalScroll,
  clickAndWaitForLoad,
  signedIn,
} from '../lib/identity.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const ISSUER = process.env.PW_TEST_OIDC_ISSUER ?? '';
/** The provider's own login page asks for a web font the test machine cannot reach. */
const PROVIDER_PAGE = { allow: [EXPECTED_4XX, /fonts\.googleapis\.com/], allowFailed: [/fonts\.googleapis\.com/, /ERR_ABORTED/] };
const CA = process.env.PW_TEST_OIDC_CA ?? '';

/** Types `user` into the provider's login page (devInteractions: any password) and submits. */
async function providerLogin(page, user) {
  await page.waitForURL((u) => u.toString().startsWith(ISSUER), { timeout: 15_000 });
  await page.locator('input[name=login]').fill(user);
  await page.locator('input[name=password]').fill('any password');
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(url('/')), { timeout: 15_000 }),
    page.locator('button[type=submit], input[type=submit]').first().click(),
  ]);
}

describe('OpenID Connect', () => {
  let browser;
  let admin;
  let provider;
  let allowedBefore = [];

  before(async () => {
    assert.ok(ISSUER && CA, 'PW_TEST_OIDC_ISSUER and PW_TEST_OIDC_CA: run through scripts/test.sh');
    browser = await launchBrowser();
    admin = await signedIn(browser, ADMIN.username, ADMIN.password);
    // The provider is on loopback: an internal IdP the administrator admits by name.
    const outbound = await apiCall(admin.context, 'GET', '/api/v1/settings/outbound');
    assert.equal(outbound.status, 200);
    allowedBefore = outbound.body.allowed_hosts;
    const host = new URL(ISSUER).hostname;
    const put = await apiCall(admin.context, 'PUT', '/api/v1/settings/outbound', {
      allowed_hosts: [...allowedBefore, host],
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    // Settings → Authentication → OpenID Connect, as a person fills it in, at 360 px.
    const { page } = admin;
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(url('/settings'));
    await page.locator('#oidc-name').fill('Farm IdP');
    await page.locator('#oidc-issuer').fill(ISSUER);
    await page.locator('#oidc-client-id').fill('farm');
    await page.locator('#oidc-client-secret').fill('farm-secret');
    await page.locator('#oidc-scopes').fill('openid email profile groups');
    await page.locator('#oidc-ca').fill(readFileSync(CA, 'utf8'));
    await page.locator('#oidc-auto-create').check();
    await assertNoHorizontalScroll(page, 'settings with the provider form filled');
    await clickAndWaitForLoad(page, page.locator('#oidc-save'));
    const row = page.locator('#oidc-list [data-oidc-id]').filter({ hasText: 'Farm IdP' });
    assert.equal(await row.count(), 1);
    provider = Number(await row.getAttribute('data-oidc-id'));
    assert.match(await row.innerText(), /secret stored/);
    assert.match(await page.locator('#flash').innerText(), /Farm IdP added/);
    await assertNoHorizontalScroll(page, 'settings with a provider listed');
    // Editing without the secret keeps it; a new issuer without it is refused in the server's words.
    await page.locator(`[data-oidc-edit="${provider}"]`).click();
    // The page fetches the provider before it fills the form (the same task shows Cancel):
    // reading the fields before that read an empty form on a busy machine.
    await page.locator('#oidc-cancel').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#oidc-client-id').inputValue(), 'farm');
    assert.equal(await page.locator('#oidc-auto-create').isChecked(), true);
    await page.locator('#oidc-issuer').fill(ISSUER.replace('localhost', '127.0.0.1'));
    await page.locator('#oidc-save').click();
    await page.locator('#oidc-status:not([hidden])').waitFor();
    assert.match(await page.locator('#oidc-status').innerText(), /secret/i);
    await page.locator('#oidc-cancel').click();
    const listed = await apiCall(admin.context, 'GET', '/api/v1/settings/oidc/providers');
    const saved = listed.body.find((p) => p.id === provider);
    assert.equal(saved.issuer.replace(/\/$/, ''), ISSUER);
    assert.equal(saved.client_secret_set, true);
    assert.equal(saved.auto_create, true);
    await admin.assertClean({ allow: [EXPECTED_4XX] });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  after(async () => {
    if (admin && provider) {
      await apiCall(admin.context, 'DELETE', `/api/v1/settings/oidc/providers/${provider}`);
      await apiCall(admin.context, 'PUT', '/api/v1/settings/outbound', { allowed_hosts: allowedBefore });
    }
    await browser?.close();
  });

  test('signs in through the provider login page', async () => {
    const { context, page } = await openPage(browser, { viewport: { width: 360, height: 740 } });
    await page.goto(url('/login'));
    const link = page.locator(`[data-oidc-provider="${provider}"]`);
    assert.equal((await link.innerText()).trim(), 'Sign in with Farm IdP');
    await assertNoHorizontalScroll(page, 'sign-in page with a provider');
    const t0 = Date.now();
    await link.click();
    await providerLogin(page, 'alice');
    const elapsed = Date.now() - t0;
    console.log(`OIDC browser sign-in (click → provider login → back): ${elapsed} ms`);
    assert.equal(new URL(page.url()).pathname, '/');
    const me = await apiCall(context, 'GET', '/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'alice');
    assert.equal(me.body.auth_source, 'oidc');
    // The binding cookie was used up by the callback.
    const cookies = await context.cookies(url('/'));
    assert.ok(!cookies.some((c) => c.name === '__Host-pw_oidc'), JSON.stringify(cookies));
    await screenshot(page, 'oidc-signed-in');
    await context.close();
  });

  test('a failed provider sign-in says so on the sign-in page', async () => {
    const { context, page } = await openPage(browser);
    // Straight to the callback with a made-up state: refused, in plain words.
    await page.goto(url('/auth/oidc/callback?code=x&state=made-up'));
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.match(await page.locator('#oidc-failed').innerText(), /did not work/);
    await context.close();
  });

  test('links a provider from Account with the buttons, then signs in with it', async () => {
    const { context, page } = admin;
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(url('/account'));
    assert.equal(await page.locator('#oidc-links-none').count(), 1);
    await page.locator(`[data-oidc-link-start="${provider}"]`).click();
    // A wrong password is refused in words, and nothing is linked.
    await page.locator('#oidc-reauth-password').fill('not the password');
    await page.locator('#oidc-reauth-submit').click();
    await page.locator('#oidc-reauth-status:not([hidden])').waitFor();
    assert.match(await page.locator('#oidc-reauth-status').innerText(), /password/i);
    await page.locator('#oidc-reauth-password').fill(ADMIN.password);
    await page.locator('#oidc-reauth-submit').click();
    await providerLogin(page, 'dave');
    const back = new URL(page.url());
    assert.equal(back.pathname, '/account');
    assert.equal(back.searchParams.get('oidc'), 'linked');
    assert.match(await page.locator('#oidc-notice').innerText(), /linked/);
    assert.match(await page.locator('#oidc-links').innerText(), /Farm IdP/);
    await assertNoHorizontalScroll(page, 'account with a linked provider');
    await screenshot(page, 'oidc-account-linked');

    // Sign out, then in again through the provider: dave there is the administrator here.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/login', { timeout: 15_000 }),
      page.locator('#sign-out').click(),
    ]);
    // Forget the provider's own session too, so its login page is shown again.
    await context.clearCookies({ domain: 'localhost' });
    await page.locator(`[data-oidc-provider="${provider}"]`).click();
    await providerLogin(page, 'dave');
    const me = await apiCall(context, 'GET', '/api/v1/auth/me');
    assert.equal(me.body.username, 'admin');
    assert.equal(new URL(page.url()).pathname, '/');

    // Unlink with the button (the password is still a way in).
    await page.goto(url('/account'));
    await page.locator(`[data-oidc-unlink="${provider}"]`).click();
    await page.locator('#oidc-reauth-password').fill(ADMIN.password);
    await clickAndWaitForLoad(page, page.locator('#oidc-reauth-submit'));
    assert.equal(await page.locator('#oidc-links-none').count(), 1);
    assert.match(await page.locator('#flash').innerText(), /unlinked/);
    const links = await apiCall(context, 'GET', '/api/v1/auth/oidc/links');
    assert.deepEqual(links.body, []);
    await admin.assertClean(PROVIDER_PAGE);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('the last way in cannot be unlinked, and the page says why', async () => {
    // alice was created by the provider: no password, one link.
    const { context, page, assertClean } = await openPage(browser, { viewport: { width: 360, height: 740 } });
    await page.goto(url('/login'));
    await page.locator(`[data-oidc-provider="${provider}"]`).click();
    await providerLogin(page, 'alice');
    await page.goto(url('/account'));
    await page.locator(`[data-oidc-unlink="${provider}"]`).click();
    await page.locator('#oidc-reauth-submit').click();
    await page.locator('#oidc-reauth-status:not([hidden])').waitFor();
    assert.match(await page.locator('#oidc-reauth-status').innerText(), /last|only|way to sign in/i);
    assert.match(await page.locator('#oidc-links').innerText(), /Farm IdP/);
    await assertNoHorizontalScroll(page, 'account refusing the last unlink');
    await assertClean(PROVIDER_PAGE);
    await context.close();
  });

  test('a provider sign-in with a second factor lands on the code step', async () => {
    // erin signs in once (the account is created) and turns an authenticator app on.
    const first = await openPage(browser);
    await first.page.goto(url('/login'));
    await first.page.locator(`[data-oidc-provider="${provider}"]`).click();
    await providerLogin(first.page, 'erin');
    const setup = await apiCall(first.context, 'POST', '/api/v1/auth/mfa/totp/setup', {});
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    const key = base32Decode(setup.body.secret);
    const enabledAt = Math.floor(Date.now() / 30_000);
    const enabled = await apiCall(first.context, 'POST', '/api/v1/auth/mfa/totp/enable', {
      code: hotp(key, enabledAt),
    });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    await first.context.close();

    const { context, page, assertClean } = await openPage(browser, { viewport: { width: 360, height: 740 } });
    await page.goto(url('/login'));
    await page.locator(`[data-oidc-provider="${provider}"]`).click();
    await providerLogin(page, 'erin');
    assert.equal(new URL(page.url()).searchParams.get('step'), 'mfa');
    await page.locator('#mfa-form:not([hidden])').waitFor();
    assert.equal(await page.locator('#login-form').isHidden(), true);
    assert.equal(await page.locator('#mfa-totp-code').isVisible(), true);
    await assertNoHorizontalScroll(page, 'code step after a provider sign-in');
    // A step after the one spent on enabling (the server refuses a reused step).
    let step = Math.floor(Date.now() / 30_000);
    if (step <= enabledAt) {
      await new Promise((r) => setTimeout(r, (enabledAt + 1) * 30_000 - Date.now() + 200));
      step = enabledAt + 1;
    }
    await page.locator('#mfa-totp-code').fill(hotp(key, step));
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/', { timeout: 15_000 }),
      page.locator('#mfa-form button[type=submit]').click(),
    ]);
    const me = await apiCall(context, 'GET', '/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.auth_source, 'oidc');
    await assertClean(PROVIDER_PAGE);
    await context.close();
  });
});

/** RFC 4648 base32 → bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    buffer = (buffer << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >>> bits) & 0xff);
      buffer &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP of `counter`, six digits (TOTP: counter = 30 s step). */
function hotp(key, counter) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
