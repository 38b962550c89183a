// Identity end to end: first-run setup, users, groups and the permission
// grid, what a user without rights sees, API keys and session revocation.
//
// This is the only e2e file that performs setup. Its tests run in order and
// build on each other (one server for the whole run, see scripts/test.sh).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  CA_CERT,
  DATA_DIR,
  fetchWithCa,
  launchBrowser,
  openPage,
  screenshot,
  url,
} from '../lib/browser.mjs';
import {
  EXPECTED_4XX,
  NAVIGATION_ABORT,
  apiCall,
  assertNoHorizontalScroll,
  clickAndWaitForLoad,
  expectForbidden,
  navLinks,
  signIn,
  signedIn,
} from '../lib/identity.mjs';

const ADMIN = { username: 'admin', password: 'e2e admin passphrase one' };
const OPERATOR = { username: 'operator1', password: 'e2e operator passphrase' };
const VIEWER = { username: 'viewer1', password: 'e2e viewer passphrase' };
const GROUP_NAME = 'Auditors';

/** @type {import('playwright-core').Browser} */
let browser;
/** The administrator's browser (context A), signed in by setup. */
let admin;
/** The custom group the tests create. */
let groupId;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

describe('identity pages', () => {
  test('an anonymous visitor to /account is sent to the sign-in page', async (t) => {
    const { context, page, assertClean } = await openPage(browser);
    t.after(() => context.close());
    await page.goto(url('/account'));
    const here = new URL(page.url());
    assert.equal(here.pathname, '/login');
    assert.equal(here.searchParams.get('next'), '/account');
    // The raw form: the brief's canonical encoding, or the equally valid bare path.
    assert.match(here.search, /^\?next=(%2F|\/)account$/);
    assert.equal(await page.locator('#login-form').count(), 1);
    await assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('setup: a wrong code is refused, the right one signs the admin in', async () => {
    admin = await openPage(browser);
    const { page } = admin;
    await page.goto(url('/setup'));
    assert.match(await page.locator('#setup-code-hint').innerText(), /setup-code/);

    const fill = async (code) => {
      await page.locator('#setup-code').fill(code);
      await page.locator('#setup-username').fill(ADMIN.username);
      await page.locator('#setup-password').fill(ADMIN.password);
      await page.locator('#setup-confirm').fill(ADMIN.password);
    };

    await fill('not-the-setup-code');
    await page.locator('#setup-form button[type=submit]').click();
    const status = page.locator('#setup-status');
    await status.waitFor({ state: 'visible' });
    assert.match(await status.innerText(), /setup code is not right/i);
    assert.equal(new URL(page.url()).pathname, '/setup');

    const code = readFileSync(path.join(DATA_DIR, 'setup-code'), 'utf8').trim();
    assert.ok(code.length > 0, 'the setup code file is not empty');
    await fill(code);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/', { timeout: 15_000 }),
      page.locator('#setup-form button[type=submit]').click(),
    ]);
    // Setup lands on the home page: the farm at a glance.
    await page.locator('#glance-counts').waitFor();
    await page.goto(url('/account'));
    assert.equal(await page.locator('#account-username').innerText(), ADMIN.username);
    assert.match(await page.locator('#signed-in-user').innerText(), /admin/);
    assert.deepEqual(await navLinks(page), ['Printers', 'Library', 'Queue', 'Archive', 'Projects', 'Users', 'Groups', 'Webhooks', 'Audit', 'Settings', 'Account']);
    assert.equal(await page.locator('#sessions-table tr[data-current="true"]').count(), 1);
    await screenshot(page, 'account');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });

    // Once set up, /setup is the sign-in page's business.
    await page.goto(url('/setup'));
    assert.equal(new URL(page.url()).pathname, '/', '/setup → /login → / for a signed-in admin');
  });

  test('the admin creates operator1 on /users', async () => {
    const { page } = admin;
    await page.goto(url('/users'));
    const me = page.locator('#users-table tr[data-username="admin"]');
    assert.match(await me.innerText(), /You/);
    assert.match(await me.innerText(), /Admin/);

    await page.locator('#new-username').fill(OPERATOR.username);
    await page.locator('#new-user-password').fill(OPERATOR.password);
    await clickAndWaitForLoad(page, page.locator('#create-user-form button[type=submit]'));
    await page.locator('#flash').waitFor({ state: 'visible' });
    assert.match(await page.locator('#flash').innerText(), /operator1.*created/);
    const row = page.locator(`#users-table tr[data-username="${OPERATOR.username}"]`);
    assert.match(await row.innerText(), /No group/);

    // A duplicate shows the server's message instead of failing silently.
    await page.locator('#new-username').fill(OPERATOR.username);
    await page.locator('#new-user-password').fill(OPERATOR.password);
    await page.locator('#create-user-form button[type=submit]').click();
    await page.locator('#create-user-status').waitFor({ state: 'visible' });
    assert.match(await page.locator('#create-user-status').innerText(), /taken/i);
    await screenshot(page, 'users');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the admin builds a custom group with the permission grid', async () => {
    const { page, context } = admin;
    const catalogue = await apiCall(context, 'GET', '/api/v1/permissions');
    assert.equal(catalogue.status, 200);
    const categories = Array.isArray(catalogue.body) ? catalogue.body : catalogue.body.items;
    const total = categories.reduce((n, c) => n + c.permissions.length, 0);
    const groupsCategory = categories.find((c) => c.permissions.some((p) => p.name === 'groups:read'));
    const auditCategory = categories.find((c) => c.permissions.some((p) => p.name === 'audit:read'));

    await page.goto(url('/groups'));
    await page.locator('#new-group').click();
    await page.locator('#new-group-name').fill(GROUP_NAME);
    await page.locator('#new-group-description').fill('Read the audit log and the groups');
    await Promise.all([
      page.waitForURL((u) => /^\/groups\/\d+$/.test(u.pathname), { timeout: 15_000 }),
      page.locator('#new-group-form button[type=submit]').click(),
    ]);
    groupId = new URL(page.url()).pathname.split('/').pop();
    await page.locator('#flash').waitFor({ state: 'visible' });
    assert.match(await page.locator('#flash').innerText(), /Auditors.*created/);
    assert.equal(await page.locator('#group-form input[name=permissions]:checked').count(), 0);

    // Filter: only the audit category stays; its toggle selects what is shown.
    const search = page.locator('#permission-search');
    await search.fill('audit');
    const shownCategories = await page.locator('fieldset[data-category]:visible').count();
    assert.equal(shownCategories, 1, 'only the category with a match is shown');
    const audit = page.locator(`fieldset[data-category="${auditCategory.key}"]`);
    await audit.locator('input[data-category-toggle]').check();
    assert.equal(await page.locator('input[value="audit:read"]').isChecked(), true);
    assert.equal(
      await audit.locator('[data-category-count]').innerText(),
      `${auditCategory.permissions.length}/${auditCategory.permissions.length}`,
    );

    // Select all / Clear all act on the filtered checkboxes only.
    await search.fill('system:read');
    await page.locator('#permission-select-all').click();
    assert.equal(await page.locator('input[value="system:read"]').isChecked(), true);
    await page.locator('#permission-clear-all').click();
    assert.equal(await page.locator('input[value="system:read"]').isChecked(), false);
    assert.equal(await page.locator('input[value="audit:read"]').isChecked(), true, 'hidden boxes untouched');

    await search.fill('groups:read');
    await page.locator('input[value="groups:read"]').check();
    const groupsBadge = page.locator(`fieldset[data-category="${groupsCategory.key}"] [data-category-count]`);
    assert.equal(await groupsBadge.innerText(), `1/${groupsCategory.permissions.length}`);
    await search.fill('');
    assert.equal(
      await page.locator('fieldset[data-category]:visible').count(),
      categories.length,
      'clearing the filter shows every category',
    );
    assert.equal(await page.locator('#permission-total [data-granted]').innerText(), '2');

    await page.locator('#group-save').click();
    await page.locator('#group-status.banner--success').waitFor();
    const saved = await apiCall(context, 'GET', `/api/v1/groups/${groupId}`);
    assert.equal(saved.status, 200);
    assert.deepEqual([...saved.body.permissions].sort(), ['audit:read', 'groups:read']);
    assert.equal(saved.body.scope, null);

    // Members: add operator1 from the select.
    await page.locator('#add-member').selectOption({ label: OPERATOR.username });
    await page.locator('#add-member-form button[type=submit]').click();
    await page.locator('#member-list li[data-member-id] .member-list__name', { hasText: OPERATOR.username }).waitFor();
    assert.equal(await page.locator('#member-count').innerText(), '1');
    await screenshot(page, 'group-editor');

    // After a reload the server shows what was saved.
    await page.reload();
    assert.equal(await page.locator('#group-form input[name=permissions]:checked').count(), 2);
    assert.equal(await groupsBadge.innerText(), `1/${groupsCategory.permissions.length}`);
    assert.equal(await page.locator('#member-list li[data-member-id]').count(), 1);

    await page.goto(url('/groups'));
    const row = page.locator(`#groups-table tr[data-group-id="${groupId}"]`);
    assert.equal(await row.locator('[data-permission-count]').innerText(), `2 / ${total}`);
    const system = page.locator('#groups-table tr[data-system="true"]').first();
    assert.equal(await system.locator('[data-delete-group]').count(), 0, 'system groups cannot be deleted');
    assert.equal(await system.locator('[data-clone-group]').count(), 1, 'system groups can be cloned');
    await screenshot(page, 'groups');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('a system group is read-only and can be cloned; a bad id is a 404 page', async () => {
    const { page, context } = admin;
    const groups = await apiCall(context, 'GET', '/api/v1/groups');
    const viewers = groups.body.items.find((g) => g.is_system && /viewer/i.test(g.name));
    assert.ok(viewers, 'a system group named Viewers exists');
    await page.goto(url(`/groups/${viewers.id}`));
    assert.equal(await page.locator('#system-group-note').count(), 1);
    assert.equal(await page.locator('#group-save').count(), 0, 'no Save on a system group');
    assert.equal(await page.locator('#group-form input[name=permissions]:enabled').count(), 0);
    await Promise.all([
      page.waitForURL((u) => /^\/groups\/\d+$/.test(u.pathname) && u.pathname !== `/groups/${viewers.id}`),
      page.locator('#clone-group').click(),
    ]);
    assert.equal(await page.locator('#group-save').count(), 1, 'the copy is editable');
    const copyId = new URL(page.url()).pathname.split('/').pop();

    // Delete the copy with its name typed.
    await page.goto(url('/groups'));
    const row = page.locator(`#groups-table tr[data-group-id="${copyId}"]`);
    const name = await row.getAttribute('data-group-name');
    await row.locator('[data-delete-group]').click();
    assert.equal(await page.locator('#delete-group-submit').isDisabled(), true);
    await page.locator('#delete-group-confirm').fill(name);
    await clickAndWaitForLoad(page, page.locator('#delete-group-submit'));
    assert.equal(await row.count(), 0, 'the copy is gone');
    assert.match(await page.locator('#flash').innerText(), /deleted/);

    const missing = await page.goto(url('/groups/999999'));
    assert.equal(missing?.status(), 404);
    assert.match(await page.locator('#error-title').innerText(), /Not found/);
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('operator1 sees Groups and Audit but not Users', async (t) => {
    const operator = await signedIn(browser, OPERATOR.username, OPERATOR.password);
    t.after(() => operator.context.close());
    const { page } = operator;
    assert.equal(new URL(page.url()).pathname, '/');
    assert.deepEqual(await navLinks(page), ['Groups', 'Audit', 'Account']);
    assert.equal(await page.locator('#your-pages a[href="/users"]').count(), 0);
    assert.equal(await page.locator('#your-pages a[href="/audit"]').count(), 1);

    await expectForbidden(page, '/users');

    const audit = await page.goto(url('/audit'));
    assert.equal(audit?.status(), 200);
    assert.ok((await page.locator('#audit-table tbody tr[data-event]').count()) > 0, 'events are listed');

    const groups = await page.goto(url('/groups'));
    assert.equal(groups?.status(), 200);
    assert.equal(await page.locator('#new-group').count(), 0, 'no New group without groups:create');
    await page.goto(url(`/groups/${groupId}`));
    assert.equal(await page.locator('#group-save').count(), 0, 'read-only without groups:update');

    // operator1 lacks api_keys:create: the form is not offered.
    await page.goto(url('/account'));
    assert.equal(await page.locator('#api-key-form').count(), 0);
    assert.equal(await page.locator('#api-key-create-denied').count(), 1);

    // Sign out from the header.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/login'),
      page.locator('#sign-out').click(),
    ]);
    await page.goto(url('/account'));
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out for real');
    await operator.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('a Viewers-only user gets no admin pages', async (t) => {
    const groups = await apiCall(admin.context, 'GET', '/api/v1/groups');
    const viewers = groups.body.items.find((g) => g.is_system && /viewer/i.test(g.name));
    const created = await apiCall(admin.context, 'POST', '/api/v1/users', {
      username: VIEWER.username,
      password: VIEWER.password,
      group_ids: [viewers.id],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const viewer = await signedIn(browser, VIEWER.username, VIEWER.password);
    t.after(() => viewer.context.close());
    const { page } = viewer;
    const links = await navLinks(page);
    for (const admin of ['Users', 'Groups', 'Audit']) {
      assert.ok(!links.includes(admin), `no ${admin} in ${links}`);
    }
    for (const p of ['/users', '/groups', `/groups/${groupId}`, '/audit']) {
      await expectForbidden(page, p);
    }
    await screenshot(page, 'forbidden');
    await viewer.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the admin edits and deletes users through the dialogs', async () => {
    const { page } = admin;
    await page.goto(url('/users'));

    // Edit: only the changed field is sent; the table shows the result.
    const operatorRow = page.locator(`#users-table tr[data-username="${OPERATOR.username}"]`);
    await operatorRow.locator('[data-edit-user]').click();
    const edit = page.locator('#edit-user-dialog');
    await edit.waitFor({ state: 'visible' });
    assert.match(await edit.locator('h2').innerText(), /operator1/);
    assert.match(await edit.innerText(), /signs them out everywhere/);
    await page.locator('#edit-email').fill('op1@example.com');
    await clickAndWaitForLoad(page, edit.locator('button[type=submit]'));
    await page.locator('#flash').waitFor({ state: 'visible' });
    assert.match(await page.locator('#flash').innerText(), /operator1.*updated/);
    assert.match(await operatorRow.innerText(), /op1@example\.com/);
    assert.match(await operatorRow.innerText(), new RegExp(GROUP_NAME), 'groups untouched');

    // Delete: the counts, keep as the default, and the name typed to confirm.
    const viewerRow = page.locator(`#users-table tr[data-username="${VIEWER.username}"]`);
    await viewerRow.locator('[data-delete-user]').click();
    const dialog = page.locator('#delete-user-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.waitForFunction(
      () => !/Counting/.test(document.getElementById('delete-user-items')?.textContent ?? ''),
    );
    assert.match(await page.locator('#delete-user-items').innerText(), /owns no items|owns \d/);
    assert.equal(await dialog.locator('input[name=items][value=keep]').isChecked(), true);
    const submit = page.locator('#delete-user-submit');
    assert.equal(await submit.isDisabled(), true);
    await page.locator('#delete-user-confirm').fill('viewer');
    assert.equal(await submit.isDisabled(), true, 'a partial name does not unlock');
    await page.locator('#delete-user-confirm').fill(VIEWER.username);
    assert.equal(await submit.isDisabled(), false);
    await clickAndWaitForLoad(page, submit);
    await page.locator('#flash').waitFor({ state: 'visible' });
    assert.match(await page.locator('#flash').innerText(), /viewer1.*deleted/);
    assert.equal(await viewerRow.count(), 0);

    // One's own row offers no admin actions (the server refuses them: admin routes never
    // target yourself); it points to the Account page instead.
    const ownRow = page.locator('#users-table tr[data-username="admin"]');
    for (const action of ['[data-edit-user]', '[data-delete-user]', '[data-reset-mfa]', '[data-send-reset]']) {
      assert.equal(await ownRow.locator(action).count(), 0, `no ${action} on one's own row`);
    }
    assert.equal(await ownRow.locator('a[href="/account"]').count(), 1);
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the wrong password gets one generic message', async (t) => {
    const { context, page, assertClean } = await openPage(browser);
    t.after(() => context.close());
    for (const username of [ADMIN.username, 'nobody-here']) {
      await page.goto(url('/login'));
      await page.locator('#login-username').fill(username);
      await page.locator('#login-password').fill('definitely wrong password');
      await page.locator('#login-form button[type=submit]').click();
      await page.locator('#login-status').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#login-status').innerText(), 'Wrong username or password.');
    }
    // ?next= keeps same-site paths only.
    await signIn(page, ADMIN.username, ADMIN.password, '//evil.example/');
    assert.equal(new URL(page.url()).host, new URL(url('/')).host);
    assert.equal(new URL(page.url()).pathname, '/');
    await page.goto(url('/login?next=%2Faudit'));
    assert.equal(new URL(page.url()).pathname, '/audit', 'a signed-in visitor goes straight on');
    await assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('an API key is shown once and works as a Bearer token', async () => {
    const { page } = admin;
    await page.goto(url('/account'));
    assert.ok(await page.locator('#key-expires').inputValue(), 'an expiry date is preset');
    await page.locator('#key-name').fill('e2e key');
    await page.locator('#api-key-form input[name=scopes][value="audit:read"]').check();
    await page.locator('#api-key-form button[type=submit]').click();
    await page.locator('#new-key').waitFor({ state: 'visible' });
    const key = (await page.locator('#new-key-value').innerText()).trim();
    assert.match(key, /^pwk_\d+_/);
    assert.match(await page.locator('#new-key').innerText(), /will not be shown again/i);
    assert.equal(await page.locator('#api-keys-table tr[data-key-id]').count(), 1);

    const me = await fetchWithCa('/api/v1/auth/me', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200, me.body);
    assert.equal(JSON.parse(me.body).username, ADMIN.username);
    const audit = await fetchWithCa('/api/v1/audit?limit=1', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(audit.status, 200, 'the key has its scope');
    const users = await fetchWithCa('/api/v1/users', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(users.status, 403, 'and nothing more');

    await page.reload();
    assert.equal(await page.locator('#new-key').isHidden(), true);
    assert.ok(!(await page.content()).includes(key), 'the key is not in the page after a reload');
    const row = page.locator('#api-keys-table tr[data-key-id]');
    assert.match(await row.innerText(), /e2e key/);
    assert.match(await row.innerText(), /audit:read/);
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('the audit log filters and pages', async () => {
    const { page } = admin;
    await page.goto(url('/audit?event=auth.login'));
    const events = await page.locator('#audit-table tbody tr[data-event]').evaluateAll((rows) =>
      rows.map((r) => r.getAttribute('data-event')),
    );
    assert.ok(events.length >= 2, 'logins were recorded');
    assert.ok(events.every((e) => e === 'auth.login'), `only logins: ${events}`);
    assert.equal(await page.locator('#audit-table tbody tr .badge--danger').count() > 0, true, 'failed logins are marked');

    await page.goto(url('/audit?limit=2'));
    assert.equal(await page.locator('#audit-table tbody tr[data-event]').count(), 2);
    await Promise.all([page.waitForURL(/cursor=/), page.locator('#audit-older').click()]);
    assert.equal(await page.locator('#audit-table tbody tr[data-event]').count(), 2);

    // The filter form turns local time into RFC 3339 UTC.
    await page.goto(url('/audit'));
    await page.locator('#audit-since').fill('2000-01-01T00:00:00');
    await page.locator('#audit-event').fill('user.create');
    await Promise.all([page.waitForURL(/event=user\.create/), page.locator('#audit-filters button[type=submit]').click()]);
    const since = new URL(page.url()).searchParams.get('since');
    assert.match(since ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok((await page.locator('#audit-table tbody tr[data-event="user.create"]').count()) >= 2);

    const bad = await page.goto(url('/audit?since=yesterday'));
    assert.equal(bad?.status(), 400);
    assert.match(await page.locator('#audit-error').innerText(), /since/);
    await screenshot(page, 'audit-error');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the pages fit a 360 px phone and render in dark mode', async (t) => {
    for (const options of [
      { viewport: { width: 360, height: 740 } },
      { colorScheme: 'dark' },
    ]) {
      const session = await signedIn(browser, ADMIN.username, ADMIN.password, options);
      t.after(() => session.context.close());
      const tag = options.colorScheme ?? 'phone';
      for (const p of ['/', '/printers', '/account', '/users', '/groups', `/groups/${groupId}`, '/audit', '/webhooks', '/settings', '/settings/email']) {
        const res = await session.page.goto(url(p));
        assert.equal(res?.status(), 200, p);
        if (options.viewport) await assertNoHorizontalScroll(session.page, p);
        const name = p === '/' ? 'home' : p === `/groups/${groupId}` ? 'group-editor' : p.slice(1).replaceAll('/', '-');
        await screenshot(session.page, `${name}-${tag}`);
      }
      await session.assertClean({ allowFailed: [NAVIGATION_ABORT] });
    }
  });

  test('revoking a session signs that browser out', async (t) => {
    const other = await signedIn(browser, ADMIN.username, ADMIN.password, {
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) pw-e2e-second-browser',
    });
    t.after(() => other.context.close());
    await other.page.goto(url('/account'));

    const { page } = admin;
    await page.goto(url('/account'));
    const row = page.locator('#sessions-table tr[data-session-id]', {
      has: page.locator('span[title*="pw-e2e-second-browser"]'),
    });
    assert.equal(await row.count(), 1, 'the second browser is listed');
    await row.locator('button[data-revoke-session]').click();
    await row.waitFor({ state: 'detached' });
    assert.match(await page.locator('#sessions-status').innerText(), /revoked/i);

    await other.page.waitForURL((u) => u.pathname === '/login', { timeout: 15_000 });
    assert.equal(new URL(other.page.url()).searchParams.get('next'), '/account');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  test('webhooks: a private target is refused, an allowed one gets a signed test delivery', async (t) => {
    const { page } = admin;
    // A receiver on loopback: private, so the SSRF guard refuses it until it is allow-listed.
    const received = [];
    const receiver = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t.after(() => receiver.close());
    const target = `http://127.0.0.1:${receiver.address().port}/hook`;
    const secret = 'e2e webhook signing secret';

    await page.goto(url('/webhooks'));
    await page.locator('#new-webhook-name').fill('Farm chat');
    await page.locator('#new-webhook-url').fill(target);
    await page.locator('#new-webhook-audit').fill('auth., webhook.test');
    await page.locator('#new-webhook-secret').fill(secret);
    await page.locator('#create-webhook-form button[type=submit]').click();
    const refused = page.locator('#create-webhook-status');
    await refused.waitFor({ state: 'visible' });
    assert.match(await refused.innerText(), /127\.0\.0\.1 is 127\.0\.0\.1, a loopback address/);

    await page.goto(url('/settings'));
    await page.locator('#allowed-hosts').fill('127.0.0.1');
    await clickAndWaitForLoad(page, page.locator('#outbound-form button[type=submit]'));
    assert.match(await page.locator('#flash').innerText(), /Allow-list saved \(1 entries\)/);
    assert.equal(await page.locator('#allowed-hosts').inputValue(), '127.0.0.1');

    await page.goto(url('/webhooks'));
    await page.locator('#new-webhook-name').fill('Farm chat');
    await page.locator('#new-webhook-url').fill(target);
    await page.locator('#new-webhook-audit').fill('auth., webhook.test');
    // The catalogue's events are checkboxes, grouped (Printing, Queue, Printers).
    await page.locator('#new-webhook-events fieldset[data-event-group="Printing"] input[value="print.finished"]').check();
    await page.locator('#new-webhook-secret').fill(secret);
    await clickAndWaitForLoad(page, page.locator('#create-webhook-form button[type=submit]'));
    const row = page.locator('#webhooks-table tr[data-name="Farm chat"]');
    assert.equal(await row.getAttribute('data-events'), 'print.finished, auth., webhook.test');
    assert.match(await row.innerText(), /Signed/);
    assert.ok(!(await page.content()).includes(secret), 'the secret is never on the page');
    await clickAndWaitForLoad(page, row.locator('button[data-test-webhook]'));
    assert.match(await page.locator('#flash').innerText(), /Test delivered to “Farm chat” \(HTTP 204\)/);
    assert.match(await row.locator('[data-last-delivery]').innerText(), /Delivered/);

    // The receiver checks the signature with its own HMAC (node:crypto), as a real one would.
    const test = received.find((r) => r.headers['x-printwarden-event'] === 'webhook.test');
    assert.ok(test, 'the test delivery arrived');
    const expected = createHmac('sha256', secret)
      .update(`${test.headers['x-printwarden-timestamp']}.`)
      .update(test.body)
      .digest('hex');
    assert.equal(test.headers['x-printwarden-signature'], `sha256=${expected}`);
    assert.equal(JSON.parse(test.body.toString()).event, 'webhook.test');
    await screenshot(page, 'webhooks');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('settings: the certificate card shows what is served and refuses a mismatched upload', async () => {
    const { page } = admin;
    await page.goto(url('/settings'));
    assert.match(await page.locator('#tls-source').innerText(), /Generated/);
    const served = (await fetchWithCa('/healthz')).peerChain[0].fingerprint256;
    assert.equal(await page.locator('#tls-fingerprint').innerText(), served);
    assert.equal(await page.locator('a[href="/ca.crt"]').count(), 1);

    // Someone else's certificate with a freshly made key: refused, nothing changes.
    const chain = readFileSync(CA_CERT, 'utf8');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await page.locator('#tls-chain').fill(chain);
    await page.locator('#tls-key').fill(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await page.locator('#tls-upload-form button[type=submit]').click();
    const status = page.locator('#tls-upload-status');
    await status.waitFor({ state: 'visible' });
    assert.match(await status.innerText(), /private key does not belong/);
    assert.equal((await fetchWithCa('/healthz')).peerChain[0].fingerprint256, served);
    await screenshot(page, 'settings');
    await admin.assertClean({ allow: [EXPECTED_4XX], allowFailed: [NAVIGATION_ABORT] });
  });

  test('the API documentation renders every operation under the CSP', async () => {
    const { page } = admin;
    await page.goto(url('/api/docs/'));
    await page.locator('.opblock').first().waitFor({ state: 'visible', timeout: 20_000 });
    const doc = JSON.parse((await fetchWithCa('/api/openapi.json')).body);
    const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(await page.locator('.opblock').count(), operations);
    await screenshot(page, 'api-docs');
    await admin.assertClean({ allowFailed: [NAVIGATION_ABORT] });
  });

  after(async () => {
    await admin?.context.close();
  });
});
