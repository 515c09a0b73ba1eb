// The admin center (/admin) end to end in headless Chromium, at desktop width and at a
// 390 px phone width: an administrator signs in (password, authenticator app registration;
// later a real TOTP verification), creates, edits and deletes a named location, creates a
// policy with the form (the JSON view follows it, and the form follows the JSON view),
// edits it, turns it on and off, runs What-If, filters the sign-in log, deletes the
// policy and signs out (which ends identity's session too). Every write is a form post
// Chromium makes itself, so the CSRF check sees exactly what a browser sends (Origin,
// Sec-Fetch-Site). On the phone every page must fit the width without table cells
// squeezed to a few letters, and the navigation folds behind a Menu button. Screenshots
// go to a temporary directory (or $MAILWARD_SCREENSHOT_DIR). A last test saves a policy
// from the form and from the JSON view with scripting off.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  PASSWORD,
  enterUsernameAndPassword,
  launchBrowser,
  registerTotpAndContinue,
  startServer,
  totp,
} from './helpers.mjs';

let server;
let browser;
let dir;

before(async () => {
  if (process.env.MAILWARD_SCREENSHOT_DIR) {
    dir = process.env.MAILWARD_SCREENSHOT_DIR;
    await mkdir(dir, { recursive: true });
  } else {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailward-admin-screenshots-'));
  }
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/** A browser page for one admin, with every script error and CSP report collected. */
async function adminPage(viewport) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Chromium asks for /favicon.ico on its own; there is none.
    if (m.type() === 'error' && !(m.location().url ?? '').endsWith('/favicon.ico')) {
      problems.push(`console: ${m.text()} (${m.location().url})`);
    }
  });
  return { context, page, problems };
}

/**
 * What the phone layout must avoid: a page wider than the screen, or table cells squeezed
 * so narrow that their text wraps letter by letter.
 */
async function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const overflow = document.documentElement.scrollWidth - window.innerWidth;
    if (overflow > 0) out.push(`page is ${overflow}px wider than the screen`);
    for (const cell of document.querySelectorAll('td, th, .log-row > span')) {
      const r = cell.getBoundingClientRect();
      const text = cell.textContent.trim();
      if (r.width > 0 && text.length > 3 && r.width < 48) {
        out.push(`cell "${text.slice(0, 30)}" is only ${Math.round(r.width)}px wide`);
      }
    }
    return out;
  });
}

/** Screenshot (and, on the phone, the layout check) of the page as it stands. */
async function look(page, viewportName, name, issues) {
  await page.screenshot({ path: path.join(dir, `admin-${viewportName}-${name}.png`), fullPage: true });
  for (const p of await layoutProblems(page)) issues.push(`${name}: ${p}`);
}

/** Follows a navigation link; on the phone the menu opens first. */
async function nav(page, viewportName, label) {
  if (viewportName === 'phone') {
    const link = page.locator('header nav').getByRole('link', { name: label });
    assert.equal(await link.isVisible(), false, 'the phone menu starts folded');
    await page.locator('label.menu-button').click();
  }
  await page.locator('header nav').getByRole('link', { name: label }).click();
}

/** Signs out through the header (the phone opens the menu first). */
async function signOut(page, viewportName) {
  if (viewportName === 'phone') await page.locator('label.menu-button').click();
  await page.locator('header').getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You signed out of the admin center' }).waitFor();
}

for (const [viewportName, viewport] of Object.entries(VIEWPORTS)) {
  test(`every admin center action at ${viewportName} width (${viewport.width}px)`, { timeout: 120_000 }, async (t) => {
    t.diagnostic(`screenshots in ${dir}`);
    const upn = await server.addUser(`ada.${viewportName}@mailward.localhost`, PASSWORD, ['GlobalAdministrator']);
    const { context, page, problems } = await adminPage(viewport);
    const issues = [];

    // Sign in: the admin center sends the browser to identity; password, then the
    // authenticator app is registered (first sign-in), then back to the overview.
    await page.goto(`${server.origin}/admin`);
    await page.locator('#username').waitFor();
    await enterUsernameAndPassword(page, upn);
    const { key } = await registerTotpAndContinue(page);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/admin');
    await look(page, viewportName, '01-overview', issues);
    if (viewportName === 'phone') {
      await page.locator('label.menu-button').click();
      await page.locator('header nav').getByRole('link', { name: 'Sign-in logs' }).waitFor();
      await look(page, viewportName, '01-menu-open', issues);
      await page.locator('label.menu-button').click();
    }

    // Named location: create, edit, (deleted at the end).
    await nav(page, viewportName, 'Named locations');
    await page.getByRole('heading', { name: 'Named locations' }).waitFor();
    await page.getByRole('link', { name: 'New named location' }).click();
    await page.locator('#json').fill(
      JSON.stringify({
        '@odata.type': '#microsoft.graph.ipNamedLocation',
        displayName: `Branch ${viewportName}`,
        isTrusted: true,
        ipRanges: [{ '@odata.type': '#microsoft.graph.iPv4CidrRange', cidrAddress: '198.51.100.0/24' }],
      }),
    );
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Created.').waitFor();
    await page.getByRole('link', { name: `Branch ${viewportName}` }).click();
    const location = JSON.parse(await page.locator('#json').inputValue());
    location.displayName = `Branch office ${viewportName}`;
    location.ipRanges.push({ '@odata.type': '#microsoft.graph.iPv4CidrRange', cidrAddress: '203.0.113.0/24' });
    await page.locator('#json').fill(JSON.stringify(location, null, 2));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    const row = page.locator('tr', { hasText: `Branch office ${viewportName}` });
    assert.match(await row.textContent(), /203\.0\.113\.0\/24/);
    await look(page, viewportName, '02-locations', issues);

    // Policy: the form, with the JSON view following every change.
    await nav(page, viewportName, 'Conditional access');
    await page.getByRole('heading', { name: 'Conditional access policies' }).waitFor();
    await page.getByRole('link', { name: 'New policy' }).click();
    await page.locator('#policy-form').waitFor();
    const name = `MFA outside the branch (${viewportName})`;
    await page.locator('#displayName').fill(name);
    await page.locator('#state').selectOption('enabledForReportingButNotEnforced');
    await page.locator('[id="conditions.users.includeUsers"]').fill('All');
    await page.locator('[id="conditions.applications.includeApplications"]').fill('Office365');
    const form = page.locator('#policy-form');
    // The sample the page starts from applies to all client apps: narrow it.
    await form.locator('input[name="conditions.clientAppTypes"][value="all"]').uncheck();
    await form.locator('input[name="conditions.clientAppTypes"][value="browser"]').check();
    await form.locator('input[name="conditions.clientAppTypes"][value="mobileAppsAndDesktopClients"]').check();
    await form.locator('input[name="conditions.locations.includeLocations"][value="All"]').check();
    await form
      .locator('input[name="conditions.locations.excludeLocations"]')
      .and(page.locator(`xpath=//label[contains(., "Branch office ${viewportName}")]/input`))
      .check();
    await form.locator('input[name="grantControls.builtInControls"][value="mfa"]').check();
    await form.locator('input[name="grantControls.builtInControls"][value="passwordChange"]').check();
    await page.locator('[id="operator"]').selectOption('AND');
    const drafted = JSON.parse(await page.locator('#json').inputValue());
    assert.equal(drafted.displayName, name);
    assert.equal(drafted.state, 'enabledForReportingButNotEnforced');
    assert.deepEqual(drafted.conditions.users.includeUsers, ['All']);
    assert.deepEqual(drafted.conditions.applications.includeApplications, ['Office365']);
    assert.deepEqual(drafted.conditions.clientAppTypes, ['browser', 'mobileAppsAndDesktopClients']);
    assert.deepEqual(drafted.conditions.locations.includeLocations, ['All']);
    assert.equal(drafted.conditions.locations.excludeLocations.length, 1);
    assert.deepEqual(drafted.grantControls, { operator: 'AND', builtInControls: ['mfa', 'passwordChange'] });
    // ... and the form follows the JSON view.
    drafted.grantControls.operator = 'OR';
    drafted.grantControls.builtInControls = ['mfa'];
    await page.locator('#json').fill(JSON.stringify(drafted, null, 2));
    assert.equal(await page.locator('#operator').inputValue(), 'OR');
    assert.equal(await form.locator('input[name="grantControls.builtInControls"][value="passwordChange"]').isChecked(), false);
    await look(page, viewportName, '03-policy-form', issues);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Created.').waitFor();
    const policyRow = () => page.locator('tr', { hasText: 'MFA outside' });
    assert.match(await policyRow().textContent(), /Report-only/);
    assert.match(await policyRow().textContent(), /Require MFA/);
    await look(page, viewportName, '04-policies', issues);

    // Edit it with the form.
    await page.getByRole('link', { name }).click();
    await page.locator('#policy-form').waitFor();
    const renamed = `MFA outside the branch office (${viewportName})`;
    await page.locator('#displayName').fill(renamed);
    assert.equal(JSON.parse(await page.locator('#json').inputValue()).displayName, renamed);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    assert.match(await policyRow().textContent(), new RegExp(renamed.replace(/[()]/g, '\\$&')));

    // State: on, then off.
    await policyRow().getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('State changed.').waitFor();
    assert.match(await policyRow().textContent(), /\bOn\b/);
    await policyRow().getByRole('button', { name: 'Turn off' }).click();
    await page.getByText('State changed.').waitFor();
    assert.match(await policyRow().textContent(), /\bOff\b/);
    await policyRow().getByRole('button', { name: 'Report-only' }).click();
    await page.getByText('State changed.').waitFor();
    assert.match(await policyRow().textContent(), /Report-only/);

    // What-If for the admin's own browser sign-in to a mail app.
    await nav(page, viewportName, 'What If');
    await page.locator('#user').fill(upn);
    await page.locator('#clientAppType').selectOption('browser');
    await page.locator('#ipAddress').fill('192.0.2.10');
    await page.locator('main').getByRole('button', { name: 'What If' }).click();
    await page.getByRole('heading', { name: /Decision:/ }).waitFor();
    assert.match(await page.locator('main').textContent(), /MFA outside the branch office/);
    await look(page, viewportName, '05-whatif', issues);

    // The sign-in log, filtered to this admin's successful sign-ins; one opened.
    await nav(page, viewportName, 'Sign-in logs');
    await page.locator('input[name=user]').fill(upn);
    await page.locator('select[name=result]').selectOption('success');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/admin\/signins\?user=/);
    const entries = page.locator('details.entry');
    assert.ok((await entries.count()) > 0, 'the admin sign-in is listed');
    for (const text of await entries.locator('summary').allTextContents()) {
      assert.ok(text.includes(upn) && text.includes('success'), text);
    }
    await entries.first().locator('summary').click();
    await entries.first().getByRole('heading', { name: 'Steps' }).waitFor();
    await look(page, viewportName, '06-signins', issues);

    // Delete the policy, then the location (no longer used).
    await nav(page, viewportName, 'Conditional access');
    await policyRow().getByRole('link', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'Delete policy' }).waitFor();
    await look(page, viewportName, '07-confirm-delete', issues);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted.').waitFor();
    assert.equal(await policyRow().count(), 0);
    await nav(page, viewportName, 'Named locations');
    await page.locator('tr', { hasText: `Branch office ${viewportName}` }).getByRole('link', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted.').waitFor();
    assert.equal(await page.locator('tr', { hasText: `Branch office ${viewportName}` }).count(), 0);

    // Sign out: both sessions end, so the next visit asks for the password and the app
    // code (the next step's code: the registration spent the current one).
    await signOut(page, viewportName);
    await look(page, viewportName, '08-signed-out', issues);
    await page.goto(`${server.origin}/admin`);
    await page.locator('#username').waitFor();
    await enterUsernameAndPassword(page, upn);
    await page.locator('#code').waitFor();
    await page.fill('#code', totp(key, Math.floor(Date.now() / 1000) + 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await signOut(page, viewportName);

    await context.close();
    assert.deepEqual(problems, [], 'no script errors or CSP violations');
    assert.deepEqual(issues, [], `the ${viewportName} layout (screenshots in ${dir})`);
  });
}

test('the policy form and the JSON view each save without JavaScript', { timeout: 60_000 }, async () => {
  const upn = await server.addUser('noah.admin@mailward.localhost', PASSWORD, ['SecurityAdministrator']);
  const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.origin}/admin`);
  await page.locator('#username').waitFor();
  await enterUsernameAndPassword(page, upn);
  await registerTotpAndContinue(page);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();

  // The form alone: the JSON view keeps the sample it started with; the server sets the
  // form's members in it.
  await page.goto(`${server.origin}/admin/policies/new`);
  await page.locator('#displayName').fill('Block legacy clients (no script)');
  await page.locator('#state').selectOption('enabled');
  await page.locator('[id="conditions.users.includeUsers"]').fill('All');
  await page.locator('[id="conditions.users.excludeUsers"]').fill('');
  await page.locator('[id="conditions.applications.includeApplications"]').fill('All');
  const form = page.locator('#policy-form');
  await form.locator('input[name="conditions.clientAppTypes"][value="all"]').uncheck();
  await form.locator('input[name="conditions.clientAppTypes"][value="exchangeActiveSync"]').check();
  await form.locator('input[name="conditions.clientAppTypes"][value="other"]').check();
  await form.locator('input[name="grantControls.builtInControls"][value="mfa"]').uncheck();
  await form.locator('input[name="grantControls.builtInControls"][value="block"]').check();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Created.').waitFor();
  const row = page.locator('tr', { hasText: 'Block legacy clients (no script)' });
  assert.match(await row.textContent(), /Block access/);
  assert.match(await row.textContent(), /\bOn\b/);

  // The JSON view alone.
  await row.getByRole('link', { name: 'Block legacy clients (no script)' }).click();
  const doc = JSON.parse(await page.locator('#json').inputValue());
  assert.deepEqual(doc.conditions.clientAppTypes, ['exchangeActiveSync', 'other']);
  doc.displayName = 'Block legacy clients (JSON)';
  await page.locator('#json').fill(JSON.stringify(doc, null, 2));
  await page.getByRole('button', { name: 'Save JSON' }).click();
  await page.getByText('Saved.').waitFor();
  assert.equal(await page.locator('tr', { hasText: 'Block legacy clients (JSON)' }).count(), 1);
  await context.close();
});
