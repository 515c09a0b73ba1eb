// Shared helpers of the browser suite: start a throwaway `mailward up` on a free port,
// add users with the admin CLI, launch Debian's headless Chromium through playwright-core,
// build PKCE sign-in URLs, catch the redirect to the loopback client, redeem codes at the
// token endpoint (trusting the instance's own CA), compute TOTP codes, and attach a
// DevTools WebAuthn virtual authenticator to a page.

import { spawn, execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const execFileP = promisify(execFile);

export const CHROMIUM = '/usr/bin/chromium';
export const BIN =
  process.env.MAILWARD_BIN || path.join(os.homedir(), '.cache/mailward-target/debug/mailward');

// The public first-party client every sign-in in this suite uses.
export const CLIENT_ID = 'd3590ed6-52b3-4102-aeff-aad2292ab01c';
// Registered as http://localhost (any port). Nothing listens here: the browser's request
// to it is intercepted.
export const REDIRECT_URI = 'http://localhost:53682/';

export const PASSWORD = 'correct horse battery staple';

/**
 * Starts `mailward up` in a fresh data directory. Resolves once it has printed its
 * identity URL and CA path. `stop()` ends it and removes the directory.
 */
export async function startServer() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailward-browser-'));
  await writeFile(
    path.join(dataDir, 'mailward.toml'),
    [
      'version = 1',
      `data_dir = ${JSON.stringify(dataDir)}`,
      '',
      '[log]',
      'level = "warn"',
      '',
      '[identity.passwords]',
      'memory_kib = 8192',
      'iterations = 1',
      '',
      // The mail role's listeners on free ports, so a run never collides with another
      // mailward on this machine.
      '[mail.listen]',
      ...['http', 'imap', 'imaps', 'pop3', 'pop3s', 'submission', 'submissions'].map(
        (name) => `${name} = "127.0.0.1:0"`,
      ),
      '',
    ].join('\n'),
  );
  const child = spawn(BIN, ['--data', dataDir, 'up', '--identity-listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const ready = await new Promise((resolve, reject) => {
    const onData = (d) => {
      stdout += d;
      const origin = /^\s+identity\s+(https:\/\/\S+)$/m.exec(stdout);
      const ca = /^\s+CA\s+(\S+)$/m.exec(stdout);
      if (origin && ca) {
        child.stdout.off('data', onData);
        resolve({ origin: origin[1], caPath: ca[1] });
      }
    };
    child.stdout.on('data', onData);
    child.once('error', (e) => reject(new Error(`cannot start ${BIN}: ${e.message}`)));
    exited.then(({ code, signal }) =>
      reject(new Error(`mailward up exited early (code ${code}, signal ${signal})\n${stdout}\n${stderr}`)),
    );
  });
  // Keep draining stdout so the server never blocks on a full pipe.
  child.stdout.resume();

  const ca = await readFile(ready.caPath);
  const server = {
    origin: ready.origin,
    ca,
    caPath: ready.caPath,
    dataDir,
    stderr: () => stderr,
    async addUser(upn, password = PASSWORD, roles = []) {
      const roleArgs = roles.flatMap((r) => ['--role', r]);
      await execFileP(BIN, ['--data', dataDir, 'user', 'add', upn, '--password', password, ...roleArgs]);
      return upn;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Launches Debian's Chromium headless (no browser download is possible here). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A PKCE pair (S256). */
export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** The authorize URL of a code flow with PKCE, plus what is needed to finish it. */
export function authorizeRequest(origin, extra = {}) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const url = new URL('/oauth2/v2.0/authorize', origin);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  }).toString();
  return { url: url.toString(), verifier, state, nonce };
}

/**
 * Answers every request to the loopback redirect URI with a small page, so the final
 * navigation of a sign-in lands somewhere. Resolves once the route is in place, to
 * {first}: a promise of the first such request as {url, method, form}, where form holds
 * the parameters of a POST body.
 */
export async function interceptClient(page) {
  let resolveFirst;
  const first = new Promise((resolve) => {
    resolveFirst = resolve;
  });
  await page.route(`${REDIRECT_URI}**`, (route) => {
    const r = route.request();
    resolveFirst({ url: new URL(r.url()), method: r.method(), form: new URLSearchParams(r.postData() ?? '') });
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title>ok' });
  });
  return { first };
}

/** POSTs a form to the instance, trusting its CA; resolves to {status, json}. */
export function postForm(server, pathname, params) {
  const body = new URLSearchParams(params).toString();
  const url = new URL(pathname, server.origin);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        ca: server.ca,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            // left null; the caller reports the raw text
          }
          resolve({ status: res.statusCode, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Redeems an authorization code with its PKCE verifier. */
export function redeemCode(server, code, verifier) {
  return postForm(server, '/oauth2/v2.0/token', {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  });
}

/** The payload of a JWT (no signature check: the token came straight from the issuer). */
export function jwtClaims(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${jwt}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** RFC 4648 base32 (spaces and padding ignored). */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${text}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA1, 30-second steps, 6 digits. */
export function totp(base32Key, unixSeconds = Math.floor(Date.now() / 1000)) {
  const key = base32Decode(base32Key);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 1_000_000).padStart(6, '0');
}

/** Username page, then password page (the page must be at the username page). */
export async function enterUsernameAndPassword(page, upn, password = PASSWORD) {
  await page.fill('#username', upn);
  await Promise.all([page.waitForSelector('#password'), page.click('button[type=submit]')]);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

/**
 * On the MFA registration page (authenticator app): types the current code for the key
 * shown, then continues past the recovery codes. Returns {key, codes}.
 */
export async function registerTotpAndContinue(page) {
  const keyLocator = page.locator('.key');
  await keyLocator.waitFor();
  const key = (await keyLocator.textContent()).trim();
  await page.fill('#code', totp(key));
  await page.getByRole('button', { name: 'Verify and continue' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await page.locator('ul.codes li').allTextContents();
  await page.getByRole('button', { name: /continue/ }).click();
  return { key, codes };
}

/** A DevTools virtual authenticator that answers like a platform passkey provider. */
export const VIRTUAL_AUTHENTICATOR = {
  protocol: 'ctap2',
  transport: 'internal',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
};

/**
 * A new context and page with a virtual authenticator attached (it lives with the page's
 * target), optionally holding credentials exported from another one.
 */
export async function newPageWithAuthenticator(browser, credentials = [], contextOptions = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...contextOptions });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: VIRTUAL_AUTHENTICATOR });
  for (const credential of credentials) {
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  }
  return { context, page, cdp, authenticatorId };
}
