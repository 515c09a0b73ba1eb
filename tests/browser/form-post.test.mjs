// response_mode=form_post in a browser with scripts on: after sign-in the identity
// server answers with a page holding the code in a form aimed at the client, and that
// page's script (/assets/autosubmit.js, same origin because the CSP forbids inline
// scripts) posts it on its own, so the user never sees or clicks "Continue".

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  authorizeRequest,
  enterUsernameAndPassword,
  interceptClient,
  launchBrowser,
  redeemCode,
  registerTotpAndContinue,
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

test('form_post response posts the code to the client by itself', { timeout: 20_000 }, async () => {
  const upn = await server.addUser('finn@mailward.localhost');
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const client = await interceptClient(page);
  const req = authorizeRequest(server.origin, { response_mode: 'form_post' });

  const autosubmit = page.waitForResponse((r) => r.url().endsWith('/assets/autosubmit.js'));
  await page.goto(req.url);
  await enterUsernameAndPassword(page, upn);
  await registerTotpAndContinue(page);

  // The page with the form must submit itself; nothing here clicks its button. (It may
  // already be gone when this line runs, so wait on its script and the post instead.)
  const script = await autosubmit;
  assert.equal(script.status(), 200, `GET /assets/autosubmit.js answered HTTP ${script.status()}: the form_post page cannot post itself`);
  const hit = await client.first;
  assert.equal(hit.method, 'POST');
  assert.equal(hit.url.search, '', 'form_post must not put the response in the query');
  assert.equal(hit.form.get('state'), req.state);
  const code = hit.form.get('code');
  assert.ok(code, `no code in the posted form: ${hit.form}`);
  const res = await redeemCode(server, code, req.verifier);
  assert.equal(res.status, 200, `token endpoint: ${res.status} ${res.text}`);
  await context.close();
});
