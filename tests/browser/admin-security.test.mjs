// The admin center's Security page in headless Chromium, at desktop and phone widths: a
// Global Administrator signs in to /admin (registering an authenticator app, as security
// defaults require of administrators), opens Security, sees security defaults on and full
// coverage, turns them off through the warning page, sees the coverage check list the users,
// the legacy clients and the administrators a password alone now signs in, and turns them on
// again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  BIN,
  enterUsernameAndPassword,
  launchBrowser,
  registerTotpAndContinue,
  startServer,
} from './helpers.mjs';

const execFileP = promisify(execFile);

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Adds a user holding `role` through the CLI. */
async function addAdmin(upn, role) {
  await server.addUser(upn);
  await execFileP(BIN, ['--data', server.dataDir, 'user', 'set', upn, '--role', role]);
  return upn;
}

/** Signs `upn` in to the admin center (registering TOTP) and lands on the overview. */
async function signInToAdminCenter(page, upn) {
  await page.goto(new URL('/admin', server.origin).toString());
  await enterUsernameAndPassword(page, upn);
  await page.getByRole('heading', { name: 'More information required' }).waitFor();
  await registerTotpAndContinue(page);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

for (const [label, viewport] of [
  ['desktop', { width: 1280, height: 900 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`security defaults toggle and coverage (${label})`, async () => {
    const upn = await addAdmin(`sec-${label}@mailward.localhost`, 'GlobalAdministrator');
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    const page = await context.newPage();
    try {
      await signInToAdminCenter(page, upn);

      await page.getByRole('link', { name: 'Security', exact: true }).first().click();
      await page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
      const defaults = page.locator('#security-defaults');
      assert.match(await defaults.textContent(), /Security defaults:\s*on/);
      await page.locator('#fully-covered').waitFor();

      // Turning them off first says what stops applying.
      await page.getByRole('button', { name: 'Turn security defaults off…' }).click();
      await page.getByRole('heading', { name: 'Turn security defaults off?' }).waitFor();
      const warning = await page.locator('#warning').textContent();
      assert.match(warning, /stops requiring MFA for every user and for administrators/);
      assert.match(warning, /legacy clients/);
      await page.getByRole('button', { name: 'Turn off', exact: true }).click();

      await page.getByText('Security defaults are off.', { exact: true }).waitFor();
      assert.match(await defaults.textContent(), /Security defaults:\s*off/);
      assert.equal(await page.locator('#fully-covered').count(), 0);
      const users = await page.locator('#users-without-mfa').textContent();
      assert.ok(users.includes(upn), `users without MFA: ${users}`);
      const legacy = await page.locator('#legacy-clients').textContent();
      assert.match(legacy, /not blocked/);
      const admins = await page.locator('#admins-without-mfa').textContent();
      assert.ok(admins.includes(upn) && admins.includes('GlobalAdministrator'), `admins: ${admins}`);

      // And on again.
      await page.getByRole('button', { name: 'Turn security defaults on' }).click();
      await page.getByText('Security defaults are on.', { exact: true }).waitFor();
      assert.match(await defaults.textContent(), /Security defaults:\s*on/);
      await page.locator('#fully-covered').waitFor();

      const { stdout } = await execFileP(BIN, ['--data', server.dataDir, 'ca', 'security-defaults']);
      assert.match(stdout, /Security defaults are on/);
    } finally {
      await context.close();
    }
  });
}
