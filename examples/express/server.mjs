// A tiny Express resource server for a sibling subdomain of an sso-gateway cookie domain
// (for example api.a.com next to auth.a.com).
//
// It takes the access token from `Authorization: Bearer …` or, failing that, from the
// gateway's `sso_at` cookie, which the gateway splits into `sso_at`, `sso_at.1`, … when the
// token is large (they are joined in order). The token is verified locally: signature with
// the issuer's JWKS (`jwks_uri` from discovery, cached by jose, refetched for an unknown
// `kid`), an asymmetric algorithm, `iss` equal to ISSUER, `exp` in the future, and the same
// "is an access token" checks the gateway makes (header and payload `typ`, `nonce`, `events`).
//
//   GET /api/me  → 200 {sub, preferred_username, email}
//                → 401 {error, error_description} + WWW-Authenticate: Bearer …
//                → 503 {error: "temporarily_unavailable"} + Retry-After when the OP's
//                  discovery or JWKS cannot be fetched (not the caller's fault: retry,
//                  do not send the user to log in again)
//
// Environment:
//   ISSUER              required, e.g. http://127.0.0.1:8080/realms/demo (exact string of `iss`)
//   PORT                default 3000; 0 picks a free port
//   HOST                default 127.0.0.1
//   ACCEPTED_CLIENTS    optional, comma-separated client ids (e.g. "gw-a,gw-b"): the token's `azp`
//                       (or `client_id`) must be one of them, as with the gateway's
//                       `forward_auth.accepted_clients` / ResourceServer's `accepted_clients`
//   EXIT_ON_STDIN_EOF   "1": exit when stdin closes (test harnesses keep a pipe open)
//
// Stdout gets exactly one line, `EXPRESS_LISTENING http://<host>:<port>`, once the server
// accepts connections. Everything else goes to stderr.

import { createServer } from 'node:http';
import express from 'express';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';

const ISSUER = process.env.ISSUER;
if (!ISSUER) {
  console.error('ISSUER is required, e.g. ISSUER=https://kc.example.com/realms/demo');
  process.exit(2);
}
const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST || '127.0.0.1';
const ACCEPTED_CLIENTS = (process.env.ACCEPTED_CLIENTS || '').split(',').map((s) => s.trim()).filter(Boolean);

const COOKIE = 'sso_at';
const MAX_CHUNKS = 16; // same bound as the gateway (a 60 KB token)
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const ACCESS_TOKEN_TYPS = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

class ProviderUnavailable extends Error {}

// ---------------------------------------------------------------- discovery + JWKS

let jwksPromise = null;

async function discover() {
  const url = `${ISSUER.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let meta;
  try {
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    meta = await res.json();
  } catch (e) {
    throw new ProviderUnavailable(`discovery ${url}: ${e.message}`);
  }
  if (meta.issuer !== ISSUER) {
    throw new ProviderUnavailable(`discovery issuer ${JSON.stringify(meta.issuer)} != ISSUER ${JSON.stringify(ISSUER)}`);
  }
  if (typeof meta.jwks_uri !== 'string') throw new ProviderUnavailable('discovery has no jwks_uri');
  return createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: 5000, cooldownDuration: 10_000 });
}

// Discovery once; a failure is not cached, so the next request tries again.
function jwks() {
  if (!jwksPromise) {
    jwksPromise = discover().catch((e) => {
      jwksPromise = null;
      throw e;
    });
  }
  return jwksPromise;
}

// ---------------------------------------------------------------- token extraction

function parseCookies(header) {
  const out = new Map();
  for (const part of (header || '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!out.has(name)) out.set(name, value); // first one wins, as with most cookie parsers
  }
  return out;
}

/** `Authorization: Bearer` first, else the joined `sso_at`, `sso_at.1`, … chunks. */
function tokenFromRequest(req) {
  const auth = req.get('authorization');
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const cookies = parseCookies(req.get('cookie'));
  let joined = '';
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const v = cookies.get(i === 0 ? COOKIE : `${COOKIE}.${i}`);
    if (!v) break;
    joined += v;
  }
  return joined || null;
}

// ---------------------------------------------------------------- verification

class Unauthorized extends Error {}

async function verify(token) {
  const keys = await jwks();
  let result;
  try {
    result = await jwtVerify(token, keys, {
      issuer: ISSUER,
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'sub'],
    });
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new Unauthorized('access token expired');
    if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) {
      throw new ProviderUnavailable(e.message);
    }
    if (e instanceof joseErrors.JOSEError) throw new Unauthorized('access token invalid');
    throw new ProviderUnavailable(e.message); // JWKS fetch failed (network)
  }
  const { payload, protectedHeader } = result;
  // RFC 9068 §4 and the gateway's own check: an ID token or logout token is not an access token.
  if (protectedHeader.typ && !ACCESS_TOKEN_TYPS.has(protectedHeader.typ.toLowerCase())) {
    throw new Unauthorized('access token invalid');
  }
  if ('events' in payload) throw new Unauthorized('access token invalid');
  // Keycloak's payload `typ`: only "Bearer" is an access token (ID, Refresh, Logout are not).
  // Without it, a `nonce` marks an ID token; with it, `nonce` comes from Keycloak's
  // "Nonce backwards compatible" mapper.
  if ('typ' in payload) {
    if (typeof payload.typ !== 'string' || payload.typ.toLowerCase() !== 'bearer') {
      throw new Unauthorized('access token invalid');
    }
  } else if ('nonce' in payload) {
    throw new Unauthorized('access token invalid');
  }
  // Issued to an accepted client: `azp` (Keycloak) or `client_id` (RFC 9068). `aud` alone is
  // not enough: Keycloak's audience resolution adds every client the user holds roles of.
  if (ACCEPTED_CLIENTS.length) {
    if (!ACCEPTED_CLIENTS.includes(payload.azp) && !ACCEPTED_CLIENTS.includes(payload.client_id)) {
      throw new Unauthorized('access token issued to another client');
    }
  }
  return payload;
}

/** Express middleware: sets req.user to the verified claims or answers 401/503. */
async function requireUser(req, res, next) {
  const token = tokenFromRequest(req);
  res.set('Cache-Control', 'no-store');
  if (!token) {
    res.set('WWW-Authenticate', 'Bearer');
    return res.status(401).json({ error: 'unauthorized', error_description: 'no access token' });
  }
  try {
    req.user = await verify(token);
    return next();
  } catch (e) {
    if (e instanceof Unauthorized) {
      res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${e.message}"`);
      return res.status(401).json({ error: 'unauthorized', error_description: e.message });
    }
    console.error(`identity provider unavailable: ${e.message}`);
    res.set('Retry-After', '5');
    return res.status(503).json({
      error: 'temporarily_unavailable',
      error_description: 'identity provider keys unavailable',
    });
  }
}

// ---------------------------------------------------------------- app

const app = express();
app.disable('x-powered-by');

app.get('/api/me', requireUser, (req, res) => {
  const { sub, preferred_username, email } = req.user;
  res.json({ sub, preferred_username: preferred_username ?? null, email: email ?? null });
});

app.use((req, res) => res.status(404).json({ error: 'not_found' }));

// Node's default request-header limit is 16 KB; a big access token in sso_at chunks plus
// sso_rt can pass that, so allow up to the gateway's bound (16 chunks of ~3.8 KB).
const server = createServer({ maxHeaderSize: 64 * 1024 }, app);
server.on('error', (err) => {
  console.error(`listen ${HOST}:${PORT}: ${err.message}`);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const shown = HOST.includes(':') ? `[${HOST}]` : HOST;
  process.stdout.write(`EXPRESS_LISTENING http://${shown}:${port}\n`);
});

if (process.env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
