// OpenID Connect end to end, in Chromium, against the real OpenID provider
// test peer (npm oidc-provider 9, scripts/peers/oidc-server.mjs, started by
// scripts/test.sh; PW_TEST_OIDC_ISSUER and PW_TEST_OIDC_CA name it):
//
// - sign in: the sign-in page's "Sign in with …" link, the provider's own
//   login page (typed into like a person would), and back signed in. The
//   provider is on https://localhost:PORT and printwarden on 127.0.0.1, so the
//   __Host-pw_oidc cookie (SameSite=Lax) must survive a cross-site redirect;
// - link from Account: the administrator's own session starts a link after
//   its password, goes through the provider's login page as another provider
//   user, comes back to /account, and that provider user then signs in as the
//   administrator.
//
// The administrator was made by identity.test.mjs (files run in name order).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launchBrowser, openPage, screenshot, url } from '../lib/browser.mjs';
import { apiCall, assertNoHorizontalScroll, signedIn } from '../lib/identity.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const ISSUER = process.env.PW_TEST_OIDC_ISSUER ?? '';
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
    const created = await apiCall(admin.context, 'POST', '/api/v1/settings/oidc/providers', {
      name: 'Farm IdP',
      issuer: ISSUER,
      client_id: 'farm',
      client_secret: 'farm-secret',
      ca_cert_pem: readFileSync(CA, 'utf8'),
      scopes: 'openid email profile groups',
      auto_create: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    provider = created.body.id;
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

  test('links a provider to the signed-in account, which it then signs in to', async () => {
    const { context, page } = admin;
    const start = await apiCall(context, 'POST', `/api/v1/auth/oidc/${provider}/link`, {
      current_password: ADMIN.password,
    });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    await page.goto(start.body.redirect);
    await providerLogin(page, 'dave');
    const back = new URL(page.url());
    assert.equal(back.pathname, '/account');
    assert.equal(back.searchParams.get('oidc'), 'linked');
    const links = await apiCall(context, 'GET', '/api/v1/auth/oidc/links');
    assert.equal(links.status, 200);
    assert.deepEqual(links.body.map((l) => l.provider_id), [provider]);

    // dave at the provider is now the administrator here.
    const other = await openPage(browser);
    await other.page.goto(url(`/api/v1/auth/oidc/${provider}/authorize`));
    await providerLogin(other.page, 'dave');
    const me = await apiCall(other.context, 'GET', '/api/v1/auth/me');
    assert.equal(me.body.username, 'admin');
    await other.context.close();

    const unlink = await apiCall(context, 'POST', `/api/v1/auth/oidc/${provider}/unlink`, {
      current_password: ADMIN.password,
    });
    assert.equal(unlink.status, 204, JSON.stringify(unlink.body));
  });
});
