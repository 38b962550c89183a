// Shared helpers for printwarden's browser tests.
//
// The tests drive Debian's Chromium (/usr/bin/chromium) through playwright-core,
// which downloads no browser of its own. They are run by node's built-in test
// runner; scripts/test.sh (stage `e2e`) starts a fresh server and sets:
//
//   PW_BASE_URL  https://127.0.0.1:PORT of the server under test (required)
//   PW_CA_CERT   path of the server's own CA certificate (<data dir>/tls/ca.crt)
//   PW_DATA_DIR  the server's data directory
//   PW_EXPECTED_VERSION  optional: the version the page must show (from Cargo.toml)
//   PW_SCREEN_DIR        optional: where screenshots go (default <repo>/target/e2e-screens)
//   PW_CHROMIUM          optional: browser binary (default /usr/bin/chromium)

import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set. The browser tests need a running server: ` +
        'run them with `TEST_STAGES=e2e scripts/test.sh` from the repository root.',
    );
  }
  return value;
}

export const BASE_URL = requireEnv('PW_BASE_URL').replace(/\/+$/, '');
export const CA_CERT = requireEnv('PW_CA_CERT');
export const DATA_DIR = process.env.PW_DATA_DIR ?? '';
export const EXPECTED_VERSION = process.env.PW_EXPECTED_VERSION ?? '';
export const CHROMIUM_PATH = process.env.PW_CHROMIUM || '/usr/bin/chromium';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREEN_DIR = process.env.PW_SCREEN_DIR || path.join(repoRoot, 'target', 'e2e-screens');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** The absolute URL of a path on the server under test. */
export function url(p = '/') {
  return new URL(p, `${BASE_URL}/`).toString();
}

/** Launches Debian's Chromium headless. Close it in an `after` hook. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

/**
 * A new browser context + page that records everything that should never
 * happen on a printwarden page: console errors, uncaught exceptions, failed
 * requests and Content-Security-Policy violations.
 *
 * The server's certificate comes from its own CA, which Chromium does not
 * know, so the context ignores certificate errors; `fetchWithCa` checks the
 * real chain against PW_CA_CERT instead.
 *
 * @param {import('playwright-core').Browser} browser
 * @param {import('playwright-core').BrowserContextOptions} [options]
 */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  await context.addInitScript(() => {
    // Runs in every document before the page's own scripts.
    window.__cspViolations = [];
    document.addEventListener(
      'securitypolicyviolation',
      (e) => {
        window.__cspViolations.push({
          directive: e.effectiveDirective || e.violatedDirective,
          blockedURI: e.blockedURI,
          sourceFile: e.sourceFile,
          line: e.lineNumber,
          sample: e.sample,
        });
      },
      true,
    );
  });
  const page = await context.newPage();
  const problems = { consoleErrors: [], pageErrors: [], failedRequests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      problems.consoleErrors.push(`${msg.text()} (${loc.url}:${loc.lineNumber})`);
    }
  });
  page.on('pageerror', (err) => problems.pageErrors.push(String(err?.stack ?? err)));
  page.on('requestfailed', (req) =>
    problems.failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
  );

  /**
   * Asserts that nothing bad happened on this page since the previous call
   * (or since it was opened). `allow` lists patterns of console errors a test
   * caused on purpose (Chromium logs every 4xx answer to fetch(), e.g. a
   * deliberately wrong password's 401); `allowFailed` lists patterns of
   * failed requests that are expected (a poll cut off by a navigation).
   */
  async function assertClean({ allow = [], allowFailed = [] } = {}) {
    let csp = [];
    try {
      csp = await page.evaluate(() => window.__cspViolations ?? []);
    } catch (err) {
      csp = [`could not read window.__cspViolations: ${err}`];
    }
    const consoleErrors = problems.consoleErrors.filter(
      (text) => !allow.some((pattern) => pattern.test(text)),
    );
    const failedRequests = problems.failedRequests.filter(
      (text) => !allowFailed.some((pattern) => pattern.test(text)),
    );
    const seen = { ...problems, consoleErrors, failedRequests, cspViolations: csp };
    // Start over, so a long-lived session's next check judges only what follows.
    problems.consoleErrors.length = 0;
    problems.pageErrors.length = 0;
    problems.failedRequests.length = 0;
    await page.evaluate(() => {
      window.__cspViolations = [];
    }).catch(() => {});
    assert.deepEqual(
      seen,
      { consoleErrors: [], pageErrors: [], failedRequests: [], cspViolations: [] },
      'the page logged errors or violated its Content-Security-Policy',
    );
  }

  return { context, page, problems, assertClean };
}

/** Saves a full-page screenshot as SCREEN_DIR/<name>.png and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(SCREEN_DIR, { recursive: true });
  const file = path.join(SCREEN_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Requests a path with node's https module, verifying the server certificate
 * strictly against PW_CA_CERT only (not the system roots). GET by default;
 * `options` may set { method, headers, body } (a non-string body is sent as
 * JSON).
 * Resolves to { status, headers, body, peerChain } where peerChain is the
 * list of certificates the client saw, leaf first.
 */
export function fetchWithCa(p = '/', options = {}) {
  const ca = readFileSync(CA_CERT);
  const headers = { ...(options.headers ?? {}) };
  let payload = options.body;
  if (payload !== undefined && typeof payload !== 'string') {
    payload = JSON.stringify(payload);
    headers['content-type'] ??= 'application/json';
  }
  const requestOptions = {
    ca,
    rejectUnauthorized: true,
    // A fresh connection every time: a resumed TLS session presents no certificate, and the
    // callers inspect it.
    agent: false,
    timeout: 15_000,
    method: options.method ?? 'GET',
    headers,
  };
  return new Promise((resolve, reject) => {
    const req = https.request(url(p), requestOptions, (res) => {
      const socket = res.socket;
      const authorized = socket.authorized;
      const peerChain = [];
      let cert = socket.getPeerCertificate(true);
      const seen = new Set();
      while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        peerChain.push(new X509Certificate(cert.raw));
        cert = cert.issuerCertificate;
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          authorized,
          peerChain,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${p}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The CA certificate from PW_CA_CERT. */
export function caCertificate() {
  return new X509Certificate(readFileSync(CA_CERT));
}
