// A real OpenID Connect provider (panva's oidc-provider) on loopback for the accounts tests.
// One public native client `visio-desktop` (PKCE required, loopback redirect on any port),
// refresh tokens, revocation and RP-initiated logout. Its dev login form accepts any login.
//
// Usage: node provider.js [PORT]   (0 or absent: a free port). Prints `ISSUER <url>` when ready.
// Reads commands on stdin, so a test can take the provider off the network and back while its
// state (grants, refresh tokens, signing keys) stays in memory:
//   down  -> stop listening (clients get "connection refused"), prints `DOWN`
//   up    -> listen again on the same port, prints `UP`
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const requestedPort = Number(process.argv[2] || 0);
const accessTtl = Number(process.env.OIDC_ACCESS_TTL || 3600);

// Listen first, so the issuer can name the real port.
let server = http.createServer();
await new Promise((resolve) => server.listen(requestedPort, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'visio-desktop',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/logout'],
  }],
  // The test user: any login name becomes the subject; claims derived from it.
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: `Test User ${sub}`, email: `${sub}@example.gouv.fr`, email_verified: true };
      },
    };
  },
  // Profile claims in the ID token itself (the app caches them for offline use).
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  // A native client always gets a refresh token (silent refresh is what the tests check).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: { AccessToken: accessTtl, IdToken: accessTtl, RefreshToken: 14 * 24 * 3600 },
  cookies: { keys: ['visio-test-cookie-key'] },
});

const callback = provider.callback();
const sockets = new Set();
function attach(srv) {
  srv.on('request', callback);
  srv.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
}
attach(server);
console.log(`ISSUER ${issuer}`);

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'down' && server) {
    const closing = new Promise((resolve) => server.close(resolve));
    for (const s of sockets) s.destroy();
    await closing;
    server = null;
    console.log('DOWN');
  } else if (cmd === 'up' && !server) {
    server = http.createServer();
    attach(server);
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    console.log('UP');
  }
});
rl.on('close', () => process.exit(0));
