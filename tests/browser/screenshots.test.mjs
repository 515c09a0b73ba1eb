// Screenshots of the sign-in pages (username, password with an error, authenticator app
// registration, passkey registration, passkey and app-code verification, recovery codes)
// (light and dark on a desktop, light on a phone), written to a temporary directory (or
// $MAILWARD_SCREENSHOT_DIR) for people to look at. On a 360 px wide phone viewport every
// page must fit without scrolling sideways.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  PASSWORD,
  authorizeRequest,
  enterUsernameAndPassword,
  interceptClient,
  launchBrowser,
  newPageWithAuthenticator,
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
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailward-screenshots-'));
  }
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const VIEWPORTS = {
  desktop: { width: 1024, height: 720 },
  phone: { width: 360, height: 740 },
};

// Pages wider than their viewport, reported after every picture has been taken.
const overflows = [];

/** Saves the page in every viewport and scheme; notes any sideways overflow. */
async function shoot(page, name) {
  for (const [viewportName, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    for (const colorScheme of viewportName === 'desktop' ? ['light', 'dark'] : ['light']) {
      await page.emulateMedia({ colorScheme });
      await page.screenshot({ path: path.join(dir, `${name}-${viewportName}-${colorScheme}.png`), fullPage: true });
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) overflows.push(`${name} is ${overflow}px wider than the ${viewport.width}px ${viewportName} viewport`);
  }
  await page.setViewportSize(VIEWPORTS.desktop);
  await page.emulateMedia({ colorScheme: 'light' });
}

test('sign-in pages render and fit a phone screen', async (t) => {
  t.diagnostic(`screenshots in ${dir}`);
  const totpUser = await server.addUser('sasha.with.a.rather.long.name@mailward.localhost');
  const passkeyUser = await server.addUser('pat@mailward.localhost');

  // Authenticator app user: username, wrong password, registration, recovery codes.
  {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await interceptClient(page);
    await page.goto(authorizeRequest(server.origin).url);
    await page.locator('#username').waitFor();
    await shoot(page, '01-username');

    await enterUsernameAndPassword(page, totpUser, 'a wrong password');
    await page.getByRole('alert').waitFor();
    await shoot(page, '02-password-error');

    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.locator('.qr svg').waitFor();
    await shoot(page, '03-register-app');

    await page.fill('#code', '000000');
    await page.getByRole('button', { name: 'Verify and continue' }).click();
    await page.getByRole('alert').waitFor();
    await shoot(page, '04-register-app-wrong-code');

    await page.getByRole('link', { name: 'Use a passkey instead' }).click();
    await page.locator('[data-passkey="register"]').waitFor();
    await shoot(page, '05-register-passkey');
    await page.getByRole('link', { name: 'Use an authenticator app instead' }).click();
    await page.locator('.key').waitFor();

    // Recovery codes are shown on the way; stop there for a picture.
    const key = (await page.locator('.key').textContent()).trim();
    await page.fill('#code', totp(key));
    await page.getByRole('button', { name: 'Verify and continue' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    await shoot(page, '06-recovery-codes');
    await context.close();

    // Next sign-in: the app code page.
    const again = await browser.newContext({ ignoreHTTPSErrors: true });
    const page2 = await again.newPage();
    await interceptClient(page2);
    await page2.goto(authorizeRequest(server.origin).url);
    await enterUsernameAndPassword(page2, totpUser);
    await page2.getByRole('heading', { name: 'Verify your identity' }).waitFor();
    await page2.locator('#code').waitFor();
    await shoot(page2, '07-verify-app-code');
    await again.close();
  }

  // Passkey user: register, then the passkey verification page.
  {
    const first = await newPageWithAuthenticator(browser);
    const client = await interceptClient(first.page);
    await first.page.goto(authorizeRequest(server.origin).url);
    await enterUsernameAndPassword(first.page, passkeyUser);
    await first.page.getByRole('link', { name: 'Use a passkey instead' }).click();
    await first.page.locator('[data-passkey="register"]').click();
    await first.page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    await first.page.getByRole('button', { name: /continue/ }).click();
    await client.first;
    const { credentials } = await first.cdp.send('WebAuthn.getCredentials', { authenticatorId: first.authenticatorId });
    await first.context.close();

    const second = await newPageWithAuthenticator(browser, credentials);
    await interceptClient(second.page);
    await second.page.goto(authorizeRequest(server.origin).url);
    await enterUsernameAndPassword(second.page, passkeyUser);
    await second.page.locator('[data-passkey="authenticate"]').waitFor();
    await shoot(second.page, '08-verify-passkey');
    await second.context.close();
  }

  assert.deepEqual(overflows, [], `pages scroll sideways (screenshots in ${dir}):\n${overflows.join('\n')}`);
});
