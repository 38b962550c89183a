// Mail end to end, through the pages only: an administrator sets up SMTP in
// Settings → Email (STARTTLS to the SMTP sink test peer, its CA, its AUTH
// user), sends a test mail, turns Advanced Auth via Email on and edits a
// template (with its sandboxed HTML preview). A user created without a
// password follows the mailed set-password link, signs in, uses "Forgot
// password?" and the mailed reset link; an administrator mails a reset link
// from /users; the user turns on codes by email and signs in with one.
//
// The SMTP sink (scripts/peers/smtp_sink.py) is started by scripts/test.sh
// before the e2e stage; it writes each accepted mail as a JSON file
// ({rcpt_tos, subject, text, html, tls, auth, …}) into $PW_TEST_SMTP_DIR. Every
// address here is unique to the run, so mails of other tests never match.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BASE_URL, fetchWithCa, launchBrowser, openPage, screenshot, url } from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  assertNoHorizontalScroll,
  clickAndWaitForLoad,
  expectForbidden,
  signIn,
  signedIn,
} from '../lib/identity.mjs';

// The administrator identity.test.mjs creates at setup.
const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };

function smtpEnv() {
  const names = {
    host: 'PW_TEST_SMTP_HOST',
    port: 'PW_TEST_SMTP_STARTTLS_PORT',
    ca: 'PW_TEST_SMTP_CA',
    dir: 'PW_TEST_SMTP_DIR',
    user: 'PW_TEST_SMTP_USER',
    password: 'PW_TEST_SMTP_PASSWORD',
  };
  const env = {};
  for (const [key, name] of Object.entries(names)) {
    const value = process.env[name];
    if (!value) {
      throw new Error(
        `${name} is not set. The mail tests need the SMTP sink test peer, which ` +
          '`TEST_STAGES=e2e scripts/test.sh` starts before the browser tests.',
      );
    }
    env[key] = value;
  }
  return env;
}

const SMTP = smtpEnv();
const RUN = randomBytes(5).toString('hex');
const address = (label) => `${label}-${RUN}@sink.test`;

const CAROL = {
  username: `mail-carol-${RUN}`,
  email: address('carol'),
  password: 'carol chose this passphrase',
  newPassword: 'carol reset to this passphrase',
};
const TESTER = address('tester');
const UNKNOWN = address('nobody');
const WELCOME_SUBJECT = 'Welcome to the farm, {{username}}';
/** Chromium logs a script a sandboxed frame was not allowed to run. */
const SANDBOXED_SCRIPT = /Blocked script execution in 'about:srcdoc'/;

// ---------------------------------------------------------------------------
// The sink's mailbox
// ---------------------------------------------------------------------------

/** Every captured mail to `to`, oldest first. */
function mailsTo(to) {
  if (!existsSync(SMTP.dir)) return [];
  return readdirSync(SMTP.dir)
    .filter((f) => /^\d+\.json$/.test(f))
    .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
    .map((f) => ({ file: f, ...JSON.parse(readFileSync(path.join(SMTP.dir, f), 'utf8')) }))
    .filter((m) => m.rcpt_tos.some((r) => r.toLowerCase() === to.toLowerCase()));
}

const taken = new Set();

/** The next mail to `to` that no earlier call returned. */
async function nextMail(to, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const mail = mailsTo(to).find((m) => !taken.has(m.file));
    if (mail) {
      taken.add(mail.file);
      return mail;
    }
    if (Date.now() > deadline) throw new Error(`no new mail to ${to} within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The link to `page` (set-password or reset-password) in a mail's text. */
function linkIn(mail, page) {
  const match = mail.text.match(new RegExp(`(https?://\\S+/${page}\\?token=[0-9a-f]+)`));
  assert.ok(match, `a ${page} link in: ${mail.text}`);
  const link = new URL(match[1]);
  assert.equal(link.origin, new URL(BASE_URL).origin, 'links start with the external URL');
  return link;
}

// ---------------------------------------------------------------------------

/** @type {import('playwright-core').Browser} */
let browser;
let admin;
let carol;
let carolId;

/** Waits until setup is done (identity.test.mjs performs it). */
async function setupDone() {
  for (let i = 0; i < 600; i++) {
    const res = await fetchWithCa('/api/v1/auth/status');
    if (res.status === 200 && JSON.parse(res.body).setup_required === false) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('setup was never completed');
}

async function groupId(pattern) {
  const groups = await apiCall(admin.context, 'GET', '/api/v1/groups');
  const group = groups.body.items.find((g) => g.is_system && pattern.test(g.name));
  assert.ok(group, `a system group like ${pattern}`);
  return group.id;
}

/**
 * Records the Referer of every request a page makes, so a test can check that
 * a page with a token in its address does not pass it on.
 */
function refererLog(page) {
  const seen = [];
  page.on('request', async (req) => {
    const headers = await req.allHeaders().catch(() => ({}));
    seen.push({ url: req.url(), referer: headers.referer ?? null });
  });
  return seen;
}

/** A mailed link opened in `page`: the page itself must not contain the token. */
async function openLink(page, link) {
  const res = await page.goto(link.toString());
  assert.equal(res?.status(), 200);
  const token = link.searchParams.get('token');
  assert.ok(!(await res.text()).includes(token), 'the server did not render the token');
  assert.equal(
    res.headers()['cache-control'],
    'no-store',
    'the page behind a link is not cached',
  );
  return token;
}

before(async () => {
  browser = await launchBrowser();
  await setupDone();
  admin = await signedIn(browser, ADMIN.username, ADMIN.password);
});

after(async () => {
  await carol?.context.close();
  await admin?.context.close();
  await browser?.close();
});

describe('mail', () => {
  test('Settings → Email: SMTP through the page, a test mail, Advanced Auth on', async () => {
    const { page } = admin;
    await page.goto(url('/settings'));
    // The sink is a relay on this machine: like any LAN target it must be on the outbound
    // allow-list, which an operator sets on the Security tab.
    const allowed = page.locator('#allowed-hosts');
    const hosts = (await allowed.inputValue()).split(/\s+/).filter(Boolean);
    if (!hosts.includes(SMTP.host)) {
      await allowed.fill([...hosts, SMTP.host].join('\n'));
      await clickAndWaitForLoad(page, page.locator('#outbound-form button[type=submit]'));
      assert.match(await page.locator('#flash').innerText(), /Allow-list saved/);
    }
    await clickAndWaitForLoad(page, page.locator('.tabs a[href="/settings/email"]'));
    assert.equal(new URL(page.url()).pathname, '/settings/email');
    assert.equal(await page.locator('.tabs a[aria-current="page"]').innerText(), 'Email');
    assert.equal(await page.locator('nav.nav a[aria-current="page"]').innerText(), 'Settings');

    // Nothing tested yet: the switch cannot be turned on, and says why.
    const sw = page.locator('#advanced-auth');
    assert.equal(await sw.isDisabled(), true);
    assert.match(await page.locator('#advanced-auth-hint').innerText(), /Send a test email/);

    // Plaintext is called out and needs explicit consent.
    const security = page.locator('#smtp-security');
    await security.selectOption('none');
    assert.equal(await page.locator('#smtp-plaintext-warning').isVisible(), true);
    assert.match(await page.locator('#smtp-plaintext-warning').innerText(), /readable by anyone/);
    assert.equal(await page.locator('#smtp-port').inputValue(), '25');
    await security.selectOption('tls');
    assert.equal(await page.locator('#smtp-plaintext').isHidden(), true);
    assert.equal(await page.locator('#smtp-port').inputValue(), '465');
    await security.selectOption('starttls');
    assert.equal(await page.locator('#smtp-port').inputValue(), '587');

    // The sink over STARTTLS with its own CA; first with a wrong password.
    await page.locator('#smtp-host').fill(SMTP.host);
    await page.locator('#smtp-port').fill(SMTP.port);
    await page.locator('#smtp-username').fill(SMTP.user);
    await page.locator('#smtp-password').fill('not the sink password');
    await page.locator('#smtp-from-name').fill('Farm e2e');
    await page.locator('#smtp-from-address').fill(address('farm'));
    await page.locator('#smtp-external-url').fill(BASE_URL);
    await page.locator('#smtp-ca').fill(readFileSync(SMTP.ca, 'utf8'));
    await clickAndWaitForLoad(page, page.locator('#smtp-form button[type=submit]'));
    assert.match(await page.locator('#flash').innerText(), /Mail settings saved\. Send a test email/);
    assert.equal(await page.locator('#smtp-host').inputValue(), SMTP.host);
    assert.equal(await page.locator('#smtp-password').inputValue(), '', 'the password is write-only');
    assert.equal(await page.locator('#smtp-password-stored').isVisible(), true);

    // The server's answer is shown as it is: here the refused AUTH.
    await page.locator('#email-test-to').fill(TESTER);
    await page.locator('#email-test-send').click();
    const testStatus = page.locator('#email-test-status');
    await testStatus.locator('#email-test-answer').waitFor({ timeout: 30_000 });
    assert.match(await testStatus.getAttribute('class'), /banner--error/);
    assert.match(await page.locator('#email-test-answer').innerText(), /authentication failed \(535/);
    assert.equal(await sw.isDisabled(), true, 'still untested');

    // The right password: only it changes; the rest of the settings stay.
    await page.locator('#smtp-password').fill(SMTP.password);
    await clickAndWaitForLoad(page, page.locator('#smtp-form button[type=submit]'));
    const html = await page.content();
    assert.ok(!html.includes(SMTP.password), 'the SMTP password is never on the page');
    assert.equal(await page.locator('#smtp-username').inputValue(), SMTP.user);

    await page.locator('#email-test-to').fill(TESTER);
    await page.locator('#email-test-send').click();
    await testStatus.locator('#email-test-answer').waitFor({ timeout: 30_000 });
    assert.match(await testStatus.getAttribute('class'), /banner--success/);
    const answer = await page.locator('#email-test-answer').innerText();
    const mail = await nextMail(TESTER);
    assert.equal(mail.subject, 'printwarden test email');
    assert.equal(mail.tls, true, 'sent over STARTTLS');
    assert.equal(mail.auth, SMTP.user, 'signed in to the mail server');
    // Verbatim: the sink's own reply names the file it stored the mail as.
    assert.match(answer, new RegExp(`stored as ${mail.file.replace('.', '\\.')}`));
    await screenshot(page, 'settings-email-tested');

    // Tested: the switch works now, and stays on after a reload.
    assert.equal(await sw.isDisabled(), false);
    await sw.check();
    await page.locator('#advanced-auth-status.banner--success').waitFor();
    assert.equal(await page.locator('#advanced-auth-on').isVisible(), true);
    await page.reload();
    assert.equal(await sw.isChecked(), true);
    const settings = await apiCall(admin.context, 'GET', '/api/v1/settings/email');
    assert.equal(settings.body.advanced_auth, true);
    assert.equal(settings.body.tested, true);

    // Changing where mail or its links go needs the stored password again: the page says so,
    // marks the field, and sends nothing.
    const smtpStatus = page.locator('#smtp-status');
    for (const [field, value] of [['#smtp-port', '2525'], ['#smtp-external-url', 'https://elsewhere.example']]) {
      await page.goto(url('/settings/email'));
      await page.locator(field).fill(value);
      await page.locator('#smtp-form button[type=submit]').click();
      await smtpStatus.waitFor({ state: 'visible' });
      assert.match(await smtpStatus.innerText(), /needs it again/);
      assert.equal(await page.locator('#smtp-password').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.locator('#transport-dialog').isVisible(), false);
    }
    // The server refuses it as well, whatever the page does.
    const direct = await apiCall(admin.context, 'PUT', '/api/v1/settings/email', {
      ...Object.fromEntries(
        ['host', 'port', 'security', 'allow_plaintext', 'username', 'from_name', 'from_address', 'ca_cert_pem', 'advanced_auth']
          .map((k) => [k, settings.body[k]]),
      ),
      external_url: 'https://elsewhere.example',
    });
    assert.equal(direct.status, 400);
    assert.match(direct.body.error.message, /password/);

    // With the password typed again it would void the test: the page asks first.
    await page.goto(url('/settings/email'));
    await page.locator('#smtp-port').fill('2525');
    await page.locator('#smtp-password').fill(SMTP.password);
    await page.locator('#smtp-form button[type=submit]').click();
    const dialog = page.locator('#transport-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.innerText(), /turns it off/);
    await dialog.locator('[data-close-dialog]').click();
    await page.goto(url('/settings/email'));
    assert.equal(await page.locator('#smtp-port').inputValue(), SMTP.port, 'nothing was saved');
    assert.equal(await sw.isChecked(), true);
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('templates: a sandboxed HTML preview, unknown placeholders refused, saved', async () => {
    const { page } = admin;
    await page.goto(url('/settings/email'));
    await page.locator('#template-select').selectOption('welcome');
    const form = page.locator('form[data-template="welcome"]');
    assert.equal(await form.isVisible(), true);
    assert.equal(await page.locator('form[data-template="password_reset"]').isHidden(), true);
    assert.match(await form.locator('.tag-list').innerText(), /\{\{username\}\}[\s\S]*\{\{link\}\}/);
    assert.equal(await form.locator('[data-template-builtin]').isVisible(), true);

    // Markup in a value is escaped by the server; the preview is a sandboxed document.
    await form.locator('input[name="subject"]').fill(WELCOME_SUBJECT);
    await form
      .locator('textarea[name="html"]')
      .fill('<h1 id="hello">Hello {{username}}</h1><p><a href="{{link}}">Choose a password</a></p><script>parent.__leak = 1</script>');
    await form.locator('[data-template-preview]').click();
    await page.locator('#template-preview').waitFor({ state: 'visible' });
    assert.match(await page.locator('#template-preview-subject').innerText(), /^Welcome to the farm, /);
    const frame = page.locator('#template-preview-html');
    assert.equal(await frame.getAttribute('sandbox'), '', 'no scripts, no same origin');
    assert.ok((await frame.evaluate((f) => f.srcdoc)).includes('id="hello"'));
    const inside = page.frameLocator('#template-preview-html');
    assert.match(await inside.locator('#hello').innerText(), /^Hello /);
    assert.match(await inside.locator('a').getAttribute('href'), /reset-password|set-password|token=/);
    assert.equal(await page.evaluate(() => window.__leak), undefined, 'the preview ran no script');
    // Not in this page's DOM as markup.
    assert.equal(await page.locator('main #hello').count(), 0);
    await screenshot(page, 'settings-email-preview');

    // A placeholder the template does not have is named in the refusal.
    await form.locator('textarea[name="text"]').fill('Hello {{username}}, {{password}}');
    await form.locator('button[type=submit]').click();
    const status = form.locator('[data-template-status]');
    await status.waitFor({ state: 'visible' });
    assert.match(await status.innerText(), /Unknown placeholder \{\{password\}\} in the text/);
    assert.match(await status.getAttribute('class'), /banner--error/);

    await form.locator('textarea[name="text"]').fill('Hello {{username}},\n\nchoose your password: {{link}}\n');
    await form.locator('textarea[name="html"]').fill('<p>Hello {{username}},</p><p><a href="{{link}}">Choose your password</a></p>');
    await form.locator('button[type=submit]').click();
    await form.locator('[data-template-status].banner--success').waitFor();
    assert.equal(await form.locator('[data-template-customised]').isVisible(), true);
    assert.equal(await form.locator('[data-template-reset]').isVisible(), true);
    await page.goto(url('/settings/email'));
    await page.locator('#template-select').selectOption('welcome');
    assert.equal(await form.locator('input[name="subject"]').inputValue(), WELCOME_SUBJECT);
    await admin.assertClean({
      // Chromium's note that the sandbox kept the preview's <script> from running.
      allow: [EXPECTED_4XX, SANDBOXED_SCRIPT],
      allowFailed: [NAVIGATION_ABORT],
    });
  });

  test('a user created without a password sets one from the mailed link', async () => {
    const { page } = admin;
    await page.goto(url('/users'));
    assert.match(await page.locator('#new-user-password-hint').innerText(), /link to choose their own password/);
    await page.locator('#new-username').fill(CAROL.username);
    await page.locator('#new-email').fill(CAROL.email);
    const operators = await groupId(/operator/i);
    await page.locator(`#create-user-form input[name="group_ids"][value="${operators}"]`).check();
    await clickAndWaitForLoad(page, page.locator('#create-user-form button[type=submit]'));
    assert.match(
      await page.locator('#flash').innerText(),
      new RegExp(`${CAROL.username}.* created\\. A link to choose their password is on its way to ${CAROL.email.replace('.', '\\.')}`),
    );
    const row = page.locator(`#users-table tr[data-username="${CAROL.username}"]`);
    carolId = await row.getAttribute('data-user-id');
    assert.match(await row.innerText(), /No password/);

    // The welcome mail, with the customised subject; links start with the external URL.
    const mail = await nextMail(CAROL.email);
    assert.equal(mail.subject, `Welcome to the farm, ${CAROL.username}`);
    const link = linkIn(mail, 'set-password');
    assert.ok(mail.html.includes(`href="${link.toString().replaceAll('&', '&amp;')}"`), mail.html);

    carol = await openPage(browser);
    const referers = refererLog(carol.page);
    const token = await openLink(carol.page, link);
    assert.equal(await carol.page.locator('#password-link-title').innerText(), 'Choose your password');
    assert.equal(
      await carol.page.locator('meta[name="referrer"]').getAttribute('content'),
      'no-referrer',
    );

    // Typos and weak passwords are refused; the link survives them.
    await carol.page.locator('#link-new-password').fill(CAROL.password);
    await carol.page.locator('#link-confirm').fill(`${CAROL.password}!`);
    await carol.page.locator('#password-link-form button[type=submit]').click();
    assert.match(await carol.page.locator('#password-link-status').innerText(), /do not match/);
    await carol.page.locator('#link-new-password').fill('short');
    await carol.page.locator('#link-confirm').fill('short');
    await carol.page.locator('#password-link-form button[type=submit]').click();
    await carol.page.locator('#password-link-status').filter({ hasText: /characters/ }).waitFor();
    await screenshot(carol.page, 'set-password-refused');

    await carol.page.locator('#link-new-password').fill(CAROL.password);
    await carol.page.locator('#link-confirm').fill(CAROL.password);
    await carol.page.locator('#password-link-form button[type=submit]').click();
    await carol.page.locator('#password-link-done').waitFor({ state: 'visible' });
    assert.equal(await carol.page.locator('#password-link-form').isHidden(), true);
    assert.equal(new URL(carol.page.url()).search, '', 'the spent token left the address bar');

    // No request of the page carried its address (with the token) as Referer. A module's
    // own imports name the importing module, an asset URL.
    const assets = `${new URL(BASE_URL).origin}/assets/`;
    for (const r of referers) {
      assert.ok(!String(r.referer ?? '').includes(token), `${r.url} got the token as Referer`);
      assert.ok(r.referer === null || r.referer.startsWith(assets), `${r.url} got Referer ${r.referer}`);
    }
    assert.ok(referers.length >= 3, 'the page loaded its assets and called the API');

    // Sign in from the link on the page.
    await carol.page.locator('#password-link-sign-in').click();
    await carol.page.waitForURL((u) => u.pathname === '/login');
    await signIn(carol.page, CAROL.username, CAROL.password);
    assert.equal((await apiCall(carol.context, 'GET', '/api/v1/auth/me')).body.username, CAROL.username);

    // The link works once.
    const again = await openPage(browser);
    await openLink(again.page, link);
    await again.page.locator('#link-new-password').fill('another long passphrase');
    await again.page.locator('#link-confirm').fill('another long passphrase');
    await again.page.locator('#password-link-form button[type=submit]').click();
    await again.page.locator('#password-link-status').waitFor({ state: 'visible' });
    assert.match(await again.page.locator('#password-link-status').innerText(), /already used/);
    await again.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
    await again.context.close();
    await carol.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('"Forgot password?" mails a reset link; unknown addresses get the same answer', async (t) => {
    const visitor = await openPage(browser, { viewport: { width: 360, height: 740 } });
    t.after(() => visitor.context.close());
    const { page } = visitor;
    const referers = refererLog(page);
    await page.goto(url('/login'));
    await clickAndWaitForLoad(page, page.locator('#forgot-password-link'));
    assert.equal(new URL(page.url()).pathname, '/forgot-password');
    await assertNoHorizontalScroll(page, '/forgot-password');
    // An ordinary page sends its Referer (the check below on the link page means something).
    assert.ok(referers.some((r) => r.referer?.endsWith('/forgot-password')));

    const ask = async (email) => {
      await page.locator('#forgot-email').fill(email);
      await page.locator('#forgot-form button[type=submit]').click();
      const status = page.locator('#forgot-status');
      await status.waitFor({ state: 'visible' });
      const answer = { text: await status.innerText(), kind: await status.getAttribute('class') };
      await page.reload();
      return answer;
    };
    const known = await ask(CAROL.email.toUpperCase());
    const unknown = await ask(UNKNOWN);
    assert.deepEqual(unknown, known, 'the same answer for an unknown address');
    assert.match(known.text, /If an account has this address, a reset link is on its way/);
    await screenshot(page, 'forgot-password-phone');

    const mail = await nextMail(CAROL.email);
    assert.equal(mail.subject, 'Reset your printwarden password');
    const link = linkIn(mail, 'reset-password');
    await openLink(page, link);
    assert.equal(await page.locator('#password-link-title').innerText(), 'Choose a new password');
    await assertNoHorizontalScroll(page, '/reset-password');
    await page.locator('#link-new-password').fill(CAROL.newPassword);
    await page.locator('#link-confirm').fill(CAROL.newPassword);
    await page.locator('#password-link-form button[type=submit]').click();
    await page.locator('#password-link-done').waitFor({ state: 'visible' });
    assert.match(await page.locator('#password-link-done-text').innerText(), /signed out/);
    await screenshot(page, 'reset-password-done-phone');

    // Every session of the account ended; the old password no longer works, the new one does.
    assert.equal((await apiCall(carol.context, 'GET', '/api/v1/auth/me')).status, 401);
    await page.goto(url('/login'));
    await page.locator('#login-username').fill(CAROL.username);
    await page.locator('#login-password').fill(CAROL.password);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#login-status').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#login-status').innerText(), 'Wrong username or password.');
    // Carol's own tab finds out by itself that its session ended (the session watcher asks
    // every 5 s) and goes to the sign-in page. Wait for that: a sign-in started before it
    // would be cut short by the watcher's navigation (net::ERR_ABORTED, seen in CI).
    await carol.page.waitForURL((u) => u.pathname === '/login', { timeout: 15_000 });
    await signIn(carol.page, CAROL.username, CAROL.newPassword);
    assert.equal((await apiCall(carol.context, 'GET', '/api/v1/auth/me')).body.username, CAROL.username);

    // Nothing went to the unknown address.
    assert.equal(mailsTo(UNKNOWN).length, 0);
    await visitor.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
    await carol.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('an administrator mails a reset link from /users', async () => {
    const dave = await apiCall(admin.context, 'POST', '/api/v1/users', {
      username: `mail-dave-${RUN}`,
      password: 'dave has a passphrase',
      group_ids: [],
    });
    assert.equal(dave.status, 201, JSON.stringify(dave.body));

    const { page } = admin;
    await page.goto(url('/users'));
    // No address, no link: the button says why.
    const daveButton = page.locator(`#users-table tr[data-user-id="${dave.body.id}"] [data-send-reset]`);
    assert.equal(await daveButton.getAttribute('aria-disabled'), 'true');
    assert.match(await daveButton.getAttribute('title'), /no email address/);

    await page.locator(`#users-table tr[data-user-id="${carolId}"] [data-send-reset]`).click();
    const status = page.locator('#users-status');
    await status.waitFor({ state: 'visible' });
    assert.match(await status.innerText(), new RegExp(`on its way to ${CAROL.email.replace('.', '\\.')}`));
    const mail = await nextMail(CAROL.email);
    assert.equal(mail.subject, 'Reset your printwarden password');
    linkIn(mail, 'reset-password');
    await screenshot(page, 'users-reset-link');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('codes by email: turned on from the account page, then asked for at sign-in', async () => {
    const { page } = carol;
    await page.goto(url('/account'));
    const section = page.locator('#two-factor');
    assert.equal(await section.getAttribute('data-email-mfa'), 'off');
    assert.equal(await page.locator('#totp-badge-off').isVisible(), true);
    await page.locator('#email-mfa-start').click();
    const enable = page.locator('#email-mfa-enable-form');
    await enable.waitFor({ state: 'visible' });
    const setup = await nextMail(CAROL.email);
    const code = setup.subject.match(/(\d{6})$/)?.[1];
    assert.ok(code, setup.subject);
    // A typo is caught on the page. (No wrong code is sent: failed second-factor checks are
    // limited per client address, which every browser test shares.)
    await page.locator('#email-mfa-code').fill(code.slice(1));
    await enable.locator('button[type=submit]').click();
    await page.locator('#email-mfa-status.banner--error').waitFor();
    assert.match(await page.locator('#email-mfa-status').innerText(), /6 digits/);
    await page.locator('#email-mfa-code').fill(code);
    await enable.locator('button[type=submit]').click();
    await page.locator('#email-mfa-status.banner--success').waitFor();
    assert.equal(await section.getAttribute('data-email-mfa'), 'on');
    assert.equal(await page.locator('#email-mfa-badge-on').isVisible(), true);
    assert.equal(await page.locator('#totp-badge-on').isVisible(), true, 'two-factor is on');
    assert.equal((await apiCall(carol.context, 'GET', '/api/v1/auth/me')).body.mfa.email, true);

    // Operators may get mails about their prints: the four print events and a failed queue
    // item they added, saved.
    const prefs = page.locator('#mail-prints-form');
    assert.match(await page.locator('#mail-prints').innerText(), new RegExp(CAROL.email.replace('.', '\\.')));
    assert.equal(await prefs.locator('input[name="events"]').count(), 5);
    await prefs.locator('input[value="print_completed"]').check();
    await prefs.locator('input[value="print_failed"]').check();
    await prefs.locator('button[type=submit]').click();
    await page.locator('#mail-prints-status.banner--success').waitFor();
    await page.reload();
    assert.deepEqual(
      (await apiCall(carol.context, 'GET', '/api/v1/auth/mail-preferences')).body.events,
      ['print_completed', 'print_failed'],
    );
    assert.equal(await prefs.locator('input[value="print_failed"]').isChecked(), true);
    assert.equal(await prefs.locator('input[value="print_started"]').isChecked(), false);
    await screenshot(page, 'account-email-codes');

    // Sign-in asks for a mailed code, sent only when asked for.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/login'),
      page.locator('#sign-out').click(),
    ]);
    await page.locator('#login-username').fill(CAROL.username);
    await page.locator('#login-password').fill(CAROL.newPassword);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#mfa-form').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#mfa-email-code').isVisible(), true);
    assert.equal(await page.locator('[data-mfa-use="backup"]').isHidden(), true, 'no backup codes without TOTP');
    assert.equal(
      await page.locator('#mfa-email-send').evaluate((b) => b === document.activeElement),
      true,
      '"Send code" has the focus',
    );
    assert.equal(mailsTo(CAROL.email).filter((m) => !taken.has(m.file)).length, 0, 'nothing sent yet');
    await page.locator('#mfa-email-send').click();
    await page.locator('#mfa-status.banner--info').waitFor();
    assert.equal(await page.locator('#mfa-email-send').innerText(), 'Send another code');
    const login = await nextMail(CAROL.email);
    const loginCode = login.subject.match(/(\d{6})$/)?.[1];
    assert.ok(loginCode, login.subject);
    await screenshot(page, 'login-email-code');
    await page.locator('#mfa-email-code').fill(loginCode);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 }),
      page.locator('#mfa-form button[type=submit]').click(),
    ]);
    assert.equal((await apiCall(carol.context, 'GET', '/api/v1/auth/me')).body.username, CAROL.username);

    // Off again, with the password.
    await page.goto(url('/account'));
    await page.locator('#email-mfa-stop').click();
    await page.locator('#email-mfa-password').fill(CAROL.newPassword);
    await page.locator('#email-mfa-disable-form button[type=submit]').click();
    await page.locator('#email-mfa-status.banner--success').waitFor();
    assert.equal(await section.getAttribute('data-email-mfa'), 'off');
    assert.equal(await page.locator('#totp-badge-off').isVisible(), true);
    await carol.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('who may open Settings → Email; with Advanced Auth off, no password links', async (t) => {
    const viewerName = `mail-viewer-${RUN}`;
    const created = await apiCall(admin.context, 'POST', '/api/v1/users', {
      username: viewerName,
      password: 'mail viewer passphrase',
      group_ids: [await groupId(/viewer/i)],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const viewer = await signedIn(browser, viewerName, 'mail viewer passphrase');
    t.after(() => viewer.context.close());
    await expectForbidden(viewer.page, '/settings/email');
    // Operators have no settings:email either.
    await expectForbidden(carol.page, '/settings/email');
    // A Viewer does not get print mails: no such section.
    await viewer.page.goto(url('/account'));
    assert.equal(await viewer.page.locator('#mail-prints').count(), 0);

    // settings:email alone opens Settings → Email (and not the security settings).
    const group = await apiCall(admin.context, 'POST', '/api/v1/groups', {
      name: `Mail admins ${RUN}`,
      permissions: ['settings:email'],
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const mailAdmin = `mail-admin-${RUN}`;
    const made = await apiCall(admin.context, 'POST', '/api/v1/users', {
      username: mailAdmin,
      password: 'mail admin passphrase',
      group_ids: [group.body.id],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const mailer = await signedIn(browser, mailAdmin, 'mail admin passphrase');
    t.after(() => mailer.context.close());
    assert.equal(await mailer.page.locator('nav.nav a', { hasText: 'Settings' }).getAttribute('href'), '/settings/email');
    assert.equal(await mailer.page.locator('#your-pages a[href="/settings/email"]').count(), 1);
    const own = await mailer.page.goto(url('/settings/email'));
    assert.equal(own?.status(), 200);
    assert.equal(await mailer.page.locator('.tabs').count(), 0, 'no tab to a page it may not open');
    await expectForbidden(mailer.page, '/settings');
    await mailer.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });

    // The built-in welcome text comes back with "Reset to built-in".
    const { page } = admin;
    await page.goto(url('/settings/email'));
    await page.locator('#template-select').selectOption('welcome');
    const form = page.locator('form[data-template="welcome"]');
    await form.locator('[data-template-reset]').click();
    const dialog = page.locator('#template-reset-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.match(await dialog.innerText(), /Welcome \(set-password link\)/);
    await page.locator('#template-reset-confirm').click();
    await form.locator('[data-template-status].banner--success').waitFor();
    assert.equal(await form.locator('input[name="subject"]').inputValue(), 'Your printwarden account on {{instance}}');
    assert.equal(await form.locator('[data-template-builtin]').isVisible(), true);

    // Advanced Auth off: no "Forgot password?", and the forgot page says so.
    await page.locator('#advanced-auth').uncheck();
    await page.locator('#advanced-auth-status.banner--success').waitFor();
    assert.equal(await page.locator('#advanced-auth-off').isVisible(), true);
    const anonymous = await openPage(browser);
    t.after(() => anonymous.context.close());
    await anonymous.page.goto(url('/login'));
    assert.equal(await anonymous.page.locator('#forgot-password-link').count(), 0);
    await anonymous.page.goto(url('/forgot-password'));
    assert.equal(await anonymous.page.locator('#forgot-form').count(), 0);
    assert.match(await anonymous.page.locator('#forgot-unavailable').innerText(), /Ask an administrator/);
    await page.goto(url('/users'));
    assert.equal(await page.locator('[data-send-reset]').count(), 0, 'no reset links to send');
    assert.equal((await apiCall(admin.context, 'GET', '/api/v1/auth/status')).body.advanced_auth, false);

    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
    // Two navigations in a row can abort the first page's favicon request.
    await anonymous.assertClean({ allowFailed: [NAVIGATION_ABORT] });
    await viewer.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });
});
