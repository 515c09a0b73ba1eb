// Passkeys end to end in headless Chromium with a DevTools virtual authenticator
// (CTAP2, internal, resident keys, user verification): the first sign-in registers a
// passkey from the MFA registration page (after one attempt that fails user verification
// and must show an error without posting) and shows recovery codes; a second sign-in in a
// fresh browser context (no cookies, the credential imported into a new authenticator)
// uses the passkey as the second factor. Both end at the loopback redirect with a code,
// and the code redeems for an access token whose `amr` says hwk + mfa.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  REDIRECT_URI,
  authorizeRequest,
  enterUsernameAndPassword,
  interceptClient,
  jwtClaims,
  launchBrowser,
  newPageWithAuthenticator,
  redeemCode,
  startServer,
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

function assertCodeRedirect(url, state) {
  assert.equal(`${url.origin}${url.pathname}`, REDIRECT_URI);
  assert.equal(url.searchParams.get('error'), null, `error redirect: ${url}`);
  assert.ok(url.searchParams.get('code'), `no code in ${url}`);
  assert.equal(url.searchParams.get('state'), state);
  return url.searchParams.get('code');
}

async function assertPasskeyToken(code, verifier) {
  const res = await redeemCode(server, code, verifier);
  assert.equal(res.status, 200, `token endpoint: ${res.status} ${res.text}`);
  assert.ok(res.json.access_token, 'no access_token');
  assert.ok(res.json.id_token, 'no id_token');
  const claims = jwtClaims(res.json.access_token);
  assert.ok(Array.isArray(claims.amr), `amr missing: ${JSON.stringify(claims)}`);
  assert.ok(claims.amr.includes('hwk'), `amr ${JSON.stringify(claims.amr)} lacks hwk`);
  assert.ok(claims.amr.includes('mfa'), `amr ${JSON.stringify(claims.amr)} lacks mfa`);
  assert.ok(claims.amr.includes('pwd'), `amr ${JSON.stringify(claims.amr)} lacks pwd`);
  return claims;
}

test('passkey registration during sign-in, then sign-in with the passkey', async () => {
  const upn = await server.addUser('pia@mailward.localhost');

  // First sign-in: register a passkey.
  const first = await newPageWithAuthenticator(browser);
  const req1 = authorizeRequest(server.origin);
  const client1 = await interceptClient(first.page);
  await first.page.goto(req1.url);
  await enterUsernameAndPassword(first.page, upn);

  // MFA registration (TOTP by default), then the passkey alternative.
  const passkeyLink = first.page.getByRole('link', { name: 'Use a passkey instead' });
  await passkeyLink.waitFor();
  assert.equal(await first.page.evaluate(() => window.isSecureContext), true, 'https://localhost must be a secure context');
  await Promise.all([first.page.waitForURL(/[?&]method=passkey/), passkeyLink.click()]);
  const register = first.page.locator('[data-passkey="register"]');
  await register.waitFor();
  await first.page.waitForFunction(() => typeof window.mailwardPasskeyRegister === 'function');

  // An authenticator that fails user verification: an error on the page, nothing posted.
  await first.cdp.send('WebAuthn.setUserVerified', { authenticatorId: first.authenticatorId, isUserVerified: false });
  const passkeyError = first.page.locator('#passkey-error');
  await register.click();
  await passkeyError.waitFor({ state: 'visible' });
  assert.match(await passkeyError.textContent(), /cancelled|timed out|try again/i);
  assert.match(first.page.url(), /[?&]method=passkey/, 'a failed ceremony must not leave the page');

  // The user tries again and it works.
  await first.cdp.send('WebAuthn.setUserVerified', { authenticatorId: first.authenticatorId, isUserVerified: true });
  await register.click();

  // Recovery codes, shown once.
  await first.page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await first.page.locator('ul.codes li').allTextContents();
  assert.ok(codes.length >= 5, `expected recovery codes, got ${JSON.stringify(codes)}`);
  assert.equal(new Set(codes).size, codes.length, 'recovery codes repeat');
  await first.page.getByRole('button', { name: /continue/ }).click();
  const code1 = assertCodeRedirect((await client1.first).url, req1.state);
  await assertPasskeyToken(code1, req1.verifier);

  const { credentials } = await first.cdp.send('WebAuthn.getCredentials', { authenticatorId: first.authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator should hold one credential');
  assert.equal(credentials[0].rpId, 'localhost');
  await first.context.close();

  // Second sign-in in a fresh context: no session cookie, the same passkey.
  const second = await newPageWithAuthenticator(browser, credentials);
  const req2 = authorizeRequest(server.origin);
  const client2 = await interceptClient(second.page);
  await second.page.goto(req2.url);
  await enterUsernameAndPassword(second.page, upn);

  // The passkey is the default second factor; recovery codes are the other way.
  await second.page.getByRole('heading', { name: 'Verify your identity' }).waitFor();
  const authenticate = second.page.locator('[data-passkey="authenticate"]');
  await authenticate.waitFor();
  await second.page.getByRole('link', { name: 'Recovery code' }).waitFor();
  await authenticate.click();
  const code2 = assertCodeRedirect((await client2.first).url, req2.state);
  await assertPasskeyToken(code2, req2.verifier);

  const used = await second.cdp.send('WebAuthn.getCredentials', { authenticatorId: second.authenticatorId });
  assert.ok(used.credentials[0].signCount > credentials[0].signCount, 'the passkey was not used');
  await second.context.close();
});
