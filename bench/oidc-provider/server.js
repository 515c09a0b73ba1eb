// The peer for mailward's token-endpoint benchmark: panva's oidc-provider with its default
// in-memory adapter, ES256 JWT access tokens (through resource indicators), refresh-token
// rotation, and a confidential client allowed client_credentials and refresh_token.
//
// oidc-provider has no password grant, so refresh-token chains are minted straight into the
// in-memory store (a Grant plus a RefreshToken per chain, as the authorization-code grant
// would leave them) by `GET /bench/seed?n=N`, which answers {"refresh_tokens": [...]}.
// That route is served by this file, outside the provider, and is only for the benchmark.
//
// Environment: PORT (default 9443), TLS_CERT and TLS_KEY (PEM paths; without them plain
// HTTP), CLIENT_ID (default "bench"), CLIENT_SECRET (default a fixed bench secret),
// RESOURCE (default "urn:mailward:bench").

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 9443);
const tls = Boolean(process.env.TLS_CERT && process.env.TLS_KEY);
const issuer = `${tls ? 'https' : 'http'}://localhost:${port}`;
const clientId = process.env.CLIENT_ID || 'bench';
const clientSecret = process.env.CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789abcdef';
const resource = process.env.RESOURCE || 'urn:mailward:bench';
const accountId = 'bench-user';

function jwk(type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return privateKey.export({ format: 'jwk' });
}

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
    response_types: ['code'],
    redirect_uris: ['https://localhost/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid offline_access api:read',
  }],
  jwks: {
    keys: [
      { ...jwk('ec', { namedCurve: 'P-256' }), alg: 'ES256', use: 'sig', kid: 'es256' },
      { ...jwk('rsa', { modulusLength: 2048 }), alg: 'RS256', use: 'sig', kid: 'rs256' },
    ],
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'api:read'],
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id }),
  }),
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

async function seed(n) {
  const client = await provider.Client.find(clientId);
  const tokens = [];
  for (let i = 0; i < n; i += 1) {
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(resource, 'api:read');
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId,
      client,
      grantId,
      gty: 'authorization_code',
      scope: 'offline_access api:read',
      resource,
      authTime: Math.floor(Date.now() / 1000),
      expiresWithSession: false,
    });
    tokens.push(await rt.save());
  }
  return tokens;
}

const callback = provider.callback();
async function handler(req, res) {
  if (req.url.startsWith('/bench/seed')) {
    const n = Math.min(Number(new URL(req.url, issuer).searchParams.get('n') || 1), 10000);
    try {
      const body = JSON.stringify({ refresh_tokens: await seed(n) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
    return;
  }
  callback(req, res);
}

const server = tls
  ? https.createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 120000;
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} (token endpoint ${issuer}/token, client ${clientId})`);
});
