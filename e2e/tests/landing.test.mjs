// The landing page as an anonymous visitor sees it (setup may be pending or
// done: identity.test.mjs sets the server up concurrently).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EXPECTED_VERSION,
  caCertificate,
  fetchWithCa,
  launchBrowser,
  openPage,
  screenshot,
  url,
} from '../lib/browser.mjs';

/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/**
 * Opens `/` in a new context and records every response, so that the
 * page's own stylesheet and scripts can be checked.
 */
async function visitLanding(options = {}) {
  const session = await openPage(browser, options);
  const responses = new Map();
  session.page.on('response', (res) => responses.set(res.url(), res));
  const response = await session.page.goto(url('/'), { waitUntil: 'load' });
  assert.ok(response, 'navigation to / produced no response');
  // Give the page's scripts a moment to make their requests, so that errors
  // they cause are seen too (bounded: a page with a live stream never idles).
  await session.page.waitForLoadState('networkidle', { timeout: 3_000 }).catch(() => {});
  return { ...session, response, responses };
}

/** GET /api/v1/auth/status → setup_required. */
async function setupRequired() {
  const res = await fetchWithCa('/api/v1/auth/status');
  assert.equal(res.status, 200, 'GET /api/v1/auth/status');
  return JSON.parse(res.body).setup_required;
}

describe('landing page', () => {
  test('anonymous visit to / renders the page without errors', async (t) => {
    const before = await setupRequired();
    const { context, page, response, responses, assertClean } = await visitLanding();
    t.after(() => context.close());

    assert.equal(response.status(), 200, 'GET / status');
    assert.equal(new URL(page.url()).pathname, '/', 'GET / must not redirect an anonymous visitor');

    const text = await page.locator('body').innerText();
    assert.match(text, /printwarden/i, 'the page names the product');
    if (EXPECTED_VERSION) {
      assert.ok(text.includes(EXPECTED_VERSION), `the page shows version ${EXPECTED_VERSION}`);
    } else {
      assert.match(text, /\bv?\d+\.\d+\.\d+\b/, 'the page shows a version string');
    }

    const status = page.locator('#instance-status');
    assert.equal(await status.count(), 1, 'exactly one #instance-status element');
    // identity.test.mjs runs at the same time and performs setup, so the page
    // is compared with the API rather than assumed to be fresh. Setup only
    // goes from pending to done: the page shows what the API said before it
    // loaded or what it says now.
    const shown = await status.getAttribute('data-setup-required');
    const after = await setupRequired();
    assert.ok(
      [String(before), String(after)].includes(shown),
      `#instance-status[data-setup-required]=${shown}, API said ${before} before and ${after} after`,
    );

    // The page's own stylesheet and module script: served, and cacheable forever.
    const assets = await page.evaluate(() => ({
      styles: [...document.querySelectorAll('link[rel~="stylesheet"][href]')].map((l) => l.href),
      modules: [...document.querySelectorAll('script[type="module"][src]')].map((s) => s.src),
    }));
    assert.ok(assets.styles.length >= 1, 'the page links a stylesheet');
    assert.ok(assets.modules.length >= 1, 'the page loads a module script');
    for (const asset of [...assets.styles, ...assets.modules]) {
      const res = responses.get(asset);
      assert.ok(res, `${asset} was requested by the page`);
      assert.equal(res.status(), 200, `${asset} status`);
      const cacheControl = (await res.headerValue('cache-control')) ?? '';
      assert.match(cacheControl, /\bimmutable\b/, `${asset} Cache-Control: ${cacheControl}`);
    }

    await screenshot(page, 'landing');
    await assertClean();
  });

  test('the response carries the security headers', async (t) => {
    const { context, response, assertClean } = await visitLanding();
    t.after(() => context.close());

    const headers = await response.allHeaders(); // names are lower-case
    assert.ok(headers['strict-transport-security'], 'Strict-Transport-Security is set');
    assert.match(headers['strict-transport-security'], /max-age=\d+/);

    const csp = headers['content-security-policy'];
    assert.ok(csp, 'Content-Security-Policy is set');
    assert.doesNotMatch(csp, /unsafe-inline/, `CSP must not allow inline code: ${csp}`);

    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['x-frame-options']?.toUpperCase(), 'DENY');
    assert.equal(headers['referrer-policy'], 'strict-origin-when-cross-origin');
    await assertClean();
  });

  test('a 390 px wide phone screen has no horizontal scrollbar', async (t) => {
    const { context, page, assertClean } = await visitLanding({
      viewport: { width: 390, height: 844 },
    });
    t.after(() => context.close());

    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    assert.ok(scrollWidth <= innerWidth, `scrollWidth ${scrollWidth} > innerWidth ${innerWidth}`);
    await screenshot(page, 'landing-mobile');
    await assertClean();
  });

  test('dark mode renders without errors', async (t) => {
    const { context, page, response, assertClean } = await visitLanding({ colorScheme: 'dark' });
    t.after(() => context.close());

    assert.equal(response.status(), 200);
    assert.equal(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), true);
    await screenshot(page, 'landing-dark');
    await assertClean();
  });

  test('the certificate chains to the server CA in PW_CA_CERT', async () => {
    // Strict verification with node's https module: only PW_CA_CERT is trusted,
    // and the host name 127.0.0.1 must be in the certificate's SAN.
    const res = await fetchWithCa('/');
    assert.equal(res.authorized, true, 'TLS peer verified against PW_CA_CERT');
    assert.equal(res.status, 200);
    assert.match(res.body, /printwarden/i);

    const ca = caCertificate();
    assert.ok(ca.ca, 'PW_CA_CERT is a CA certificate');
    assert.ok(res.peerChain.length >= 1, 'the server presented a certificate');
    const leaf = res.peerChain[0];
    assert.equal(leaf.ca, false, 'the server certificate is not a CA');
    assert.ok(leaf.checkIP('127.0.0.1'), `127.0.0.1 is in the SAN: ${leaf.subjectAltName}`);

    // Walk up from the leaf: some certificate in the chain must be issued and
    // signed by the CA (or be the CA itself).
    const anchored = res.peerChain.some(
      (cert) =>
        cert.fingerprint256 === ca.fingerprint256 ||
        (cert.checkIssued(ca) && cert.verify(ca.publicKey)),
    );
    assert.ok(anchored, 'the chain ends at PW_CA_CERT');
  });
});
