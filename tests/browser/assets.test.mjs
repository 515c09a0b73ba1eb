// A wrong password on the sign-in page shows an error and keeps the user on the password
// page; and the pages of a whole sign-in (username, password, MFA registration with its
// QR code, the passkey page with its script) load nothing from outside the identity
// origin and nothing that fails: every request the browser makes is recorded and checked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, REDIRECT_URI, authorizeRequest, interceptClient, launchBrowser, startServer } from './helpers.mjs';

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('wrong password shows an error; every request stays on the identity origin', async () => {
  const upn = await server.addUser('wren@mailward.localhost');
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const requests = [];
  const failures = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('requestfailed', (r) => failures.push(`${r.url()} ${r.failure()?.errorText}`));
  context.on('response', (r) => {
    if (r.status() >= 400) failures.push(`${r.url()} HTTP ${r.status()}`);
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const req = authorizeRequest(server.origin);
  await interceptClient(page);

  await page.goto(req.url);
  await page.fill('#username', upn);
  await Promise.all([page.waitForSelector('#password'), page.click('button[type=submit]')]);
  await page.fill('#password', 'not the password at all');
  await page.click('button[type=submit]');

  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.equal((await alert.textContent()).trim(), 'Your account or password is incorrect.');
  assert.equal(await page.locator('#password').count(), 1, 'should stay on the password page');
  assert.equal(await page.locator('#password').inputValue(), '', 'the wrong password must not be echoed back');
  assert.equal((await page.locator('.who').textContent()).trim(), upn);

  // The right password then works from the same page, and reaches MFA registration.
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.getByRole('heading', { name: 'More information required' }).waitFor();
  assert.equal(await page.getByRole('alert').count(), 0, 'the old error should be gone');
  await page.getByRole('link', { name: 'Use a passkey instead' }).click();
  await page.waitForURL(/[?&]method=passkey/);
  await page.locator('[data-passkey="register"]').waitFor();
  await page.waitForFunction(() => typeof window.mailwardPasskeyRegister === 'function');

  const origin = new URL(server.origin).origin;
  const outside = requests.filter((u) => {
    const o = new URL(u).origin;
    return o !== origin && !u.startsWith(REDIRECT_URI) && !u.startsWith('data:');
  });
  assert.deepEqual(outside, [], `requests to other origins:\n${outside.join('\n')}`);
  assert.ok(requests.some((u) => u === `${origin}/assets/webauthn.js`), 'webauthn.js was not loaded');
  assert.deepEqual(failures, [], `failed requests:\n${failures.join('\n')}`);
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
  await context.close();
});
