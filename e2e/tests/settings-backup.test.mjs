// (Named to run after identity.test.mjs, which sets the administrator up.)
// Settings → Backup against the demo: two different passphrases are refused in words before
// anything is sent, a good one downloads a `.pwbk` file (an age file: it starts with the age
// header) with the size shown, the schedule form refuses a relative directory in the server's
// words, and the page fits 360 px wide.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fetchWithCa, launchBrowser, screenshot, url } from '../lib/browser.mjs';
import { assertNoHorizontalScroll, signedIn } from '../lib/identity.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const PASSPHRASE = 'e2e backup passphrase words';

/** @type {import('playwright-core').Browser} */
let browser;
let admin;

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
  admin = await signedIn(browser, ADMIN.username, ADMIN.password, { acceptDownloads: true });
});

after(async () => {
  await admin?.context.close();
  await browser?.close();
});

describe('backup page', () => {
  test('create and download, with the passphrase typed twice', async () => {
    const { page } = admin;
    await page.goto(url('/settings/backup'));
    await page.locator('#create-passphrase').fill(PASSPHRASE);
    await assert.doesNotReject(page.locator('#create-strength', { hasText: /Strong|Good/ }).waitFor());
    await page.locator('#create-confirm').fill(`${PASSPHRASE} typo`);
    await page.locator('#create-submit').click();
    await page.locator('#create-status', { hasText: 'The two passphrases differ' }).waitFor();

    await page.locator('#create-confirm').fill(PASSPHRASE);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 90_000 }),
      page.locator('#create-submit').click(),
    ]);
    assert.match(download.suggestedFilename(), /^printwarden-.*\.pwbk$/);
    const bytes = readFileSync(await download.path());
    assert.ok(bytes.subarray(0, 21).toString('latin1').startsWith('age-encryption.org/v1'));
    await page.locator('#create-status', { hasText: 'downloaded' }).waitFor();
    assert.equal(await page.locator('#create-passphrase').inputValue(), '', 'the field is cleared');
  });

  test('the schedule refuses a relative directory in words', async () => {
    const { page } = admin;
    await page.goto(url('/settings/backup'));
    await page.locator('#schedule-dir').fill('backups/here');
    await page.locator('#schedule-passphrase').fill(PASSPHRASE);
    await page.locator('#schedule-confirm').fill(PASSPHRASE);
    await page.locator('#schedule-form button[type=submit]').click();
    await page.locator('#schedule-status', { hasText: 'absolute path' }).waitFor();
  });

  test('fits 360 px wide', async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 360, height: 800 });
    await page.goto(url('/settings/backup'));
    await page.locator('#create-seal-recipient').check();
    await assertNoHorizontalScroll(page, 'backup page at 360 px');
    await screenshot(page, 'backup-360');
    await page.setViewportSize({ width: 1366, height: 900 });
  });
});
