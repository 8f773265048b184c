// A real OpenID Connect provider (node-oidc-provider) for the SSO tests (tests/me/idp.py).
//
// Reads its configuration from the JSON file named by OIDC_TEST_CONFIG:
//   { "port": 8080, "host": "127.0.0.1", "scheme": "http" | "https",
//     "tls": {"key": path, "cert": path},
//     "keys": [private JWKs, each with kid and alg],
//     "clients": [{"client_id", "client_secret", "alg", "claims": {...}}],
//     "resources": {"<resource indicator>": {"ttl": seconds}} }
// Tokens: the client_credentials grant with a `resource` indicator (RFC 8707) gives a JWT access
// token signed with the client's `alg`, `aud` = the resource, `sub` = the client id, plus the
// client's `claims`. Prints one JSON line `{"issuer": ...}` once it is listening, and
// `served /jwks` on stderr for each download of its key set.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.env.OIDC_TEST_CONFIG, 'utf8'));
const host = config.host || '127.0.0.1';
const scheme = config.scheme || 'http';
const issuer = `${scheme}://${host}:${config.port}`;
const clients = new Map(config.clients.map((c) => [c.client_id, c]));

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
    scope: 'feed',
  })),
  jwks: { keys: config.keys },
  scopes: ['openid', 'feed'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        const known = config.resources[resource];
        if (!known) throw new errors.InvalidTarget();
        return {
          scope: 'feed',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: known.ttl || 300,
          jwt: { sign: { alg: clients.get(client.clientId).alg } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => clients.get(token.clientId)?.claims,
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/jwks') process.stderr.write('served /jwks\n');
  await next();
});

const server = scheme === 'https'
  ? https.createServer(
    { key: readFileSync(config.tls.key), cert: readFileSync(config.tls.cert) },
    provider.callback(),
  )
  : http.createServer(provider.callback());
server.listen(config.port, host, () => {
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
