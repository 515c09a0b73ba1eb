// The sign-in pages without JavaScript: with scripting disabled in Chromium, a new user
// signs in with username and password, registers an authenticator app (TOTP computed here
// from the manual key on the page), is shown recovery codes, and reaches the client's
// redirect with a code that redeems for tokens (amr otp + mfa). Only passkeys need
// scripts; their page must still offer a way back to the app.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD,
  REDIRECT_URI,
  authorizeRequest,
  interceptClient,
  jwtClaims,
  launchBrowser,
  redeemCode,
  startServer,
  totp,
} from './helpers.mjs';

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('TOTP registration and sign-in with JavaScript disabled', async () => {
  const upn = await server.addUser('noah@mailward.localhost');
  const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
  const page = await context.newPage();
  const req = authorizeRequest(server.origin);
  const client = await interceptClient(page);

  await page.goto(req.url);
  await page.fill('#username', upn);
  await Promise.all([page.waitForSelector('#password'), page.click('button[type=submit]')]);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');

  // Registration page: TOTP by default, with a QR code and the key to type by hand.
  await page.getByRole('heading', { name: 'More information required' }).waitFor();
  assert.equal(await page.locator('.qr svg').count(), 1, 'QR code missing');

  // The passkey alternative cannot work without scripts but must lead back.
  await page.getByRole('link', { name: 'Use a passkey instead' }).click();
  await page.waitForURL(/[?&]method=passkey/);
  await page.locator('[data-passkey="register"]').waitFor();
  assert.equal(
    await page.evaluate(() => typeof window.mailwardPasskeyRegister),
    'undefined',
    'webauthn.js ran although scripts are disabled',
  );
  await page.getByRole('link', { name: 'Use an authenticator app instead' }).click();
  await page.waitForURL(/[?&]method=totp/);

  const key = (await page.locator('.key').textContent()).trim();
  assert.match(key, /^[A-Z2-7 ]{16,}$/, `manual key ${JSON.stringify(key)}`);
  await page.fill('#code', totp(key));
  await page.getByRole('button', { name: 'Verify and continue' }).click();

  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await page.locator('ul.codes li').allTextContents();
  assert.ok(codes.length >= 5, `expected recovery codes, got ${JSON.stringify(codes)}`);
  await page.getByRole('button', { name: /continue/ }).click();

  const url = (await client.first).url;
  assert.equal(`${url.origin}${url.pathname}`, REDIRECT_URI);
  assert.equal(url.searchParams.get('error'), null, `error redirect: ${url}`);
  assert.equal(url.searchParams.get('state'), req.state);
  const code = url.searchParams.get('code');
  assert.ok(code, `no code in ${url}`);

  const res = await redeemCode(server, code, req.verifier);
  assert.equal(res.status, 200, `token endpoint: ${res.status} ${res.text}`);
  const amr = jwtClaims(res.json.access_token).amr;
  assert.ok(amr.includes('otp') && amr.includes('mfa') && amr.includes('pwd'), `amr ${JSON.stringify(amr)}`);

  // The code is single-use.
  const again = await redeemCode(server, code, req.verifier);
  assert.equal(again.status, 400, `second redemption: ${again.status} ${again.text}`);
  assert.equal(again.json?.error, 'invalid_grant');
  await context.close();
});
