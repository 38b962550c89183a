// OpenID provider test peer: npm `oidc-provider` 9 (panva, a certified implementation) for
// printwarden's OIDC sign-in tests (crates/server/tests/api/oidc.rs, pw_testkit::oidc, e2e).
//
// Started by scripts/test.sh (peer_oidc_start): node oidc-server.mjs --state-dir DIR --port P
// [--parent-pid PID]. It listens on 127.0.0.1 only, over HTTPS with a throwaway CA it makes at
// start with openssl (DIR/ca.pem; the leaf is for `localhost` and 127.0.0.1). The issuer is
// https://localhost:P: printwarden's outbound guard refuses loopback unless the administrator
// allows the IdP's host by name, which is exactly what an internal IdP needs (the tests do it).
//
// Clients: `farm` (confidential, client_secret_basic, secret `farm-secret`) and `farm-public`
// (public, PKCE only). PKCE is required for both, S256 only. Any https redirect URI on
// 127.0.0.1/localhost ending in /auth/oidc/callback is accepted (the server under test takes a
// new port each time); everything else is checked by the provider as usual.
//
// Users (the login page takes the user name, any password): alice (verified email, groups
// farm-leads and farm-ops), bob (unverified email), carol (verified, no groups), mallory
// (verified, in farm-admins: the group a misused mapping would hand out). The email of each
// is <name>@idp.test.
//
// Test controls on the same port, under /_test/ (loopback only, test peer only):
//   POST /_test/rotate            new signing key (new kid); the old one leaves the JWKS
//   POST /_test/tamper?claim=X    the NEXT id_token from /token is re-signed with claim X
//                                 broken: aud, nonce, expired, iss, azp, sig (signed with a key
//                                 that is not in the JWKS, same kid)
//   GET  /_test/jwks-fetches      how many times /jwks was fetched
// It exits by itself when the process it watches (--parent-pid, default its parent) is gone.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import * as jose from 'jose';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const dir = arg('state-dir');
const port = Number(arg('port', '0'));
const parent = Number(arg('parent-pid', String(process.ppid)));
if (!dir || !port) {
  console.error('usage: oidc-server.mjs --state-dir DIR --port PORT [--parent-pid PID]');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });

// A throwaway CA and a leaf for localhost / 127.0.0.1.
function makeCertificates() {
  const o = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=printwarden OIDC test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-keyout', 'leaf.key', '-out', 'leaf.csr']);
  writeFileSync(join(dir, 'leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
}
if (!existsSync(join(dir, 'leaf.pem'))) makeCertificates();

const issuer = `https://localhost:${port}`;
const USERS = {
  alice: { email: 'alice@idp.test', email_verified: true, name: 'Alice Example', groups: ['farm-leads', 'farm-ops'] },
  bob: { email: 'bob@idp.test', email_verified: false, name: 'Bob Unverified', groups: ['farm-ops'] },
  carol: { email: 'carol@idp.test', email_verified: true, name: 'Carol Example', groups: [] },
  dave: { email: 'dave@idp.test', email_verified: true, name: 'Dave Example', groups: ['farm-ops'] },
  erin: { email: 'erin@idp.test', email_verified: true, name: 'Erin Example', groups: [] },
  mallory: { email: 'mallory@idp.test', email_verified: true, name: 'Mallory Example', groups: ['farm-admins'] },
};

async function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = randomBytes(8).toString('hex');
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

let jwksFetches = 0;
let tamper = null;
let signingKey = await newKey();

function redirectAllowed(uri) {
  try {
    const u = new URL(uri);
    return u.protocol === 'https:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost')
      && u.pathname === '/auth/oidc/callback' && !u.search && !u.hash;
  } catch {
    return false;
  }
}

function makeProvider(key) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'farm',
        client_secret: 'farm-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['https://127.0.0.1/auth/oidc/callback'],
      },
      {
        client_id: 'farm-public',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['https://127.0.0.1/auth/oidc/callback'],
      },
    ],
    jwks: { keys: [key] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    // Fixed, so that a key rotation (a new Provider) keeps sign-ins in flight working.
    cookies: { keys: ['printwarden oidc test peer cookie key: not a secret'] },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, sub) {
      const user = USERS[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, preferred_username: sub, ...user };
        },
      };
    },
    async loadExistingGrant(ctx) {
      // Auto-consent: the consent screen is not what these tests are about.
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups', 'preferred_username']);
      await grant.save();
      return grant;
    },
    ttl: { Session: 60, Interaction: 600, Grant: 600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
  });
  provider.proxy = false;
  // Any loopback https callback (see the header): the server under test changes port.
  const original = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function allowed(uri) {
    return redirectAllowed(uri) || original.call(this, uri);
  };
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}

let provider = makeProvider(signingKey);

async function breakToken(idToken) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = await jose.importJWK(signingKey, 'RS256');
  switch (tamper) {
    case 'aud': claims.aud = 'someone-else'; break;
    case 'nonce': claims.nonce = 'not-the-nonce'; break;
    case 'expired': claims.iat = now - 1200; claims.exp = now - 600; break;
    case 'iss': claims.iss = 'https://evil.example'; break;
    case 'azp': claims.aud = [claims.aud, 'other-client']; claims.azp = 'other-client'; break;
    case 'sig': key = await jose.importJWK(await newKey(), 'RS256'); break;
    default: return idToken;
  }
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: signingKey.kid }).sign(key);
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function control(req, res, url) {
  if (req.method === 'POST' && url.pathname === '/_test/rotate') {
    signingKey = await newKey();
    provider = makeProvider(signingKey);
    return send(res, 200, { kid: signingKey.kid });
  }
  if (req.method === 'POST' && url.pathname === '/_test/tamper') {
    tamper = url.searchParams.get('claim');
    return send(res, 200, { tamper });
  }
  if (req.method === 'GET' && url.pathname === '/_test/jwks-fetches') {
    return send(res, 200, { fetches: jwksFetches });
  }
  return send(res, 404, { error: 'unknown test control' });
}

const server = https.createServer({
  key: readFileSync(join(dir, 'leaf.key')),
  cert: readFileSync(join(dir, 'leaf.pem')),
}, (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/_test/')) {
    control(req, res, url).catch((e) => send(res, 500, { error: String(e) }));
    return;
  }
  if (url.pathname === '/jwks') jwksFetches += 1;
  if (url.pathname === '/token' && tamper) {
    // Re-sign the id_token of this one answer with the armed defect.
    const armed = tamper;
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const chunks = [];
    res.write = (c) => { chunks.push(Buffer.from(c)); return true; };
    res.end = (c) => {
      if (c) chunks.push(Buffer.from(c));
      const text = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(text); } catch { body = null; }
      if (!body || !body.id_token) { res.write = write; res.end = end; return end(text); }
      tamper = armed;
      breakToken(body.id_token).then((t) => {
        tamper = null;
        body.id_token = t;
        const out = JSON.stringify(body);
        res.removeHeader('content-length');
        res.setHeader('content-length', Buffer.byteLength(out));
        end(out);
      }, (e) => { console.error('tamper failed', e); end(text); });
      return res;
    };
  }
  provider.callback()(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc test provider on ${issuer} (127.0.0.1:${port})`);
});

// Stop with the run that started us, even when it was killed.
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    process.exit(0);
  }
}, 1000).unref();
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
