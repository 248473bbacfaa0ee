// Test OpenID Provider: a Keycloak stand-in built on oidc-provider v9.
//
// Run: node tests/op/server.mjs
// Prints exactly one stdout line `OP_LISTENING http://127.0.0.1:<port>` once discovery is served;
// everything else goes to stderr. See README.md in this directory for the contract.

import * as http from 'node:http';
import * as https from 'node:https';
import * as crypto from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';

// oidc-provider writes NOTICEs with console.info (stdout). stdout belongs to the harness
// (one OP_LISTENING line only), so route every console method to stderr before loading it.
for (const m of ['log', 'info', 'debug']) {
  console[m] = (...args) => console.error(...args);
}
{
  // we hand oidc-provider pre-read request bodies on purpose (see toProvider); drop that warning
  const { warn } = console;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('already parsed request body detected')) return;
    warn(...args);
  };
}

const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------------------------
// configuration from the environment

const HOST = '127.0.0.1';
const REALM_PATH = '/realms/demo';
const KC = '/protocol/openid-connect';

function envInt(name, dflt, { min = 1 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    fatal(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function fatal(msg) {
  console.error(`test-op: ${msg}`);
  process.exit(1);
}

const PORT = envInt('OP_PORT', 0, { min: 0 });
const ACCESS_TOKEN_TTL = envInt('OP_ACCESS_TOKEN_TTL', 300);
const ID_TOKEN_TTL = envInt('OP_ID_TOKEN_TTL', 300);
const REFRESH_TOKEN_TTL = envInt('OP_REFRESH_TOKEN_TTL', 1800);
const SESSION_TTL = envInt('OP_SESSION_TTL', 36000);
const BIG_ROLES = envInt('OP_BIG_ROLES', 0, { min: 0 });
const REFRESH_DELAY_MS = envInt('OP_REFRESH_DELAY_MS', 0, { min: 0 });

const DEFAULT_CLIENTS = ['a', 'b'].map((x, i) => ({
  client_id: `gw-${x}`,
  client_secret: `gw-${x}-secret`,
  redirect_uris: [`http://auth.${x}.localhost:${8081 + i}/sso/callback`],
  post_logout_redirect_uris: [`http://auth.${x}.localhost:${8081 + i}/sso/logged-out`],
  backchannel_logout_uri: `http://127.0.0.1:${8081 + i}/sso/backchannel-logout`,
  token_endpoint_auth_method: 'client_secret_basic',
}));

let clientInput = DEFAULT_CLIENTS;
if (process.env.OP_CLIENTS) {
  try {
    clientInput = JSON.parse(process.env.OP_CLIENTS);
  } catch (e) {
    fatal(`OP_CLIENTS is not valid JSON: ${e.message}`);
  }
  if (!Array.isArray(clientInput) || clientInput.length === 0) fatal('OP_CLIENTS must be a non-empty JSON array');
}

const CLIENTS = clientInput.map((c) => {
  if (!c || typeof c.client_id !== 'string' || typeof c.client_secret !== 'string') {
    fatal(`every OP_CLIENTS entry needs client_id and client_secret: ${JSON.stringify(c)}`);
  }
  const method = c.token_endpoint_auth_method || 'client_secret_basic';
  if (!['client_secret_basic', 'client_secret_post'].includes(method)) {
    fatal(`${c.client_id}: token_endpoint_auth_method must be client_secret_basic or client_secret_post`);
  }
  const out = {
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris || [],
    post_logout_redirect_uris: c.post_logout_redirect_uris || [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    backchannel_logout_session_required: true,
    require_auth_time: true, // Keycloak always puts auth_time in the ID token
  };
  if (c.backchannel_logout_uri) out.backchannel_logout_uri = c.backchannel_logout_uri;
  return out;
});
const CLIENT_BY_ID = new Map(CLIENTS.map((c) => [c.client_id, c]));

const bigRoles = Array.from({ length: BIG_ROLES }, (_, i) => `role-${String(i + 1).padStart(4, '0')}-with-a-long-name-for-padding`);

const USERS = [
  {
    username: 'alice',
    password: 'alice-password',
    sub: '1b8f0e3c-0000-4000-8000-00000000a11c',
    email: 'alice@example.com',
    given_name: 'Alice',
    family_name: 'Example',
    roles: ['user', 'admin'],
  },
  {
    username: 'bob',
    password: 'bob-password',
    sub: '1b8f0e3c-0000-4000-8000-000000000b0b',
    email: 'bob@example.com',
    given_name: 'Bob',
    family_name: 'Example',
    roles: ['user'],
  },
];
const USER_BY_SUB = new Map(USERS.map((u) => [u.sub, u]));
const USER_BY_NAME = new Map(USERS.map((u) => [u.username, u]));

function userClaims(u) {
  return {
    sub: u.sub,
    preferred_username: u.username,
    email: u.email,
    email_verified: true,
    name: `${u.given_name} ${u.family_name}`,
    given_name: u.given_name,
    family_name: u.family_name,
  };
}

// ---------------------------------------------------------------------------------------------
// test statistics

const stats = {
  token: { authorization_code: 0, refresh_token: 0 },
  rp_backchannel_logout: 0, // POST /logout with refresh_token (Keycloak's server-side RP logout), any outcome
  backchannel: [],
};
function resetStats() {
  stats.token = { authorization_code: 0, refresh_token: 0 };
  stats.rp_backchannel_logout = 0;
  stats.backchannel = [];
}

// ---------------------------------------------------------------------------------------------
// in-memory adapter (unbounded, unlike the built-in LRU one, and enumerable for admin logout)

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);
const store = new Map(); // `${model}:${id}` -> { payload, expiresAt (ms) }
const grantIndex = new Map(); // grantId -> Set of store keys
const sessionUidIndex = new Map(); // session uid -> session id
const CLOCK_TOLERANCE_MS = 15_000;

function storeGet(key) {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return e.payload;
}

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 + CLOCK_TOLERANCE_MS : Infinity;
    store.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) sessionUidIndex.set(payload.uid, id);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let set = grantIndex.get(payload.grantId);
      if (!set) grantIndex.set(payload.grantId, (set = new Set()));
      set.add(key);
    }
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUid(uid) {
    const id = sessionUidIndex.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const e = store.get(key);
    store.delete(key);
    if (e && this.model === 'Session' && sessionUidIndex.get(e.payload.uid) === id) {
      sessionUidIndex.delete(e.payload.uid);
    }
  }

  async revokeByGrantId(grantId) {
    const set = grantIndex.get(grantId);
    if (!set) return;
    const prefix = `${this.model}:`;
    for (const key of set) {
      if (key.startsWith(prefix)) {
        store.delete(key);
        set.delete(key);
      }
    }
    if (set.size === 0) grantIndex.delete(grantId);
  }
}

function liveSessions() {
  const out = [];
  const now = Date.now();
  for (const [key, e] of store) {
    if (!key.startsWith('Session:')) continue;
    if (e.expiresAt <= now || (e.payload.exp && e.payload.exp * 1000 <= now)) continue;
    out.push({ id: key.slice('Session:'.length), payload: e.payload });
  }
  return out;
}

const sweeper = setInterval(() => {
  const now = Date.now();
  for (const [key, e] of store) {
    if (e.expiresAt <= now) {
      store.delete(key);
      if (key.startsWith('Session:') && sessionUidIndex.get(e.payload.uid) === key.slice(8)) {
        sessionUidIndex.delete(e.payload.uid);
      }
    }
  }
  for (const [grantId, set] of grantIndex) {
    for (const key of set) if (!store.has(key)) set.delete(key);
    if (set.size === 0) grantIndex.delete(grantId);
  }
}, 30_000);
sweeper.unref();

// ---------------------------------------------------------------------------------------------
// outgoing HTTP: loopback only (oidc-provider's own fetch refuses loopback targets)

const bcCollector = new AsyncLocalStorage();

function loopbackAddress(hostname) {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (h === '::1') return '::1';
  if (h === 'localhost' || h.endsWith('.localhost')) return '127.0.0.1';
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return h;
  return undefined;
}

function decodeJwtPart(jwt, i) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

async function loopbackFetch(url, options = {}) {
  const u = new URL(url);
  let body = options.body;
  if (body instanceof URLSearchParams) body = body.toString();
  if (typeof body === 'string') body = Buffer.from(body);
  const headers = Object.fromEntries(new Headers(options.headers || {}));
  if (body) headers['content-length'] = String(body.length);
  headers.host = u.host;

  // record back-channel logout deliveries (client id from the logout token's aud)
  let record;
  if (body && headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
    const token = new URLSearchParams(body.toString()).get('logout_token');
    if (token) {
      const aud = decodeJwtPart(token, 1)?.aud;
      record = { client_id: Array.isArray(aud) ? aud[0] : aud, uri: u.href, status: null };
      stats.backchannel.push(record);
      bcCollector.getStore()?.push(record);
    }
  }

  const address = loopbackAddress(u.hostname);
  if (!address || !['http:', 'https:'].includes(u.protocol)) {
    const err = new Error(`test OP refuses outgoing request to non-loopback target ${u.origin}`);
    if (record) record.error = err.message;
    throw err;
  }

  const started = Date.now();
  try {
    const res = await new Promise((resolve, reject) => {
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request({
        host: address,
        port: u.port || (u.protocol === 'https:' ? 443 : 80),
        path: `${u.pathname}${u.search}`,
        method: options.method || 'GET',
        headers,
        servername: u.protocol === 'https:' ? u.hostname : undefined,
        signal: options.signal,
      }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
        r.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    if (record) {
      record.status = res.status;
      console.error(`test-op: back-channel logout ${record.client_id} -> ${u.href}: HTTP ${res.status} (${Date.now() - started} ms)`);
    }
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (Array.isArray(v)) v.forEach((x) => h.append(k, x)); else if (v !== undefined) h.set(k, v);
    }
    const nullBody = res.status === 204 || res.status === 304 || res.status < 200;
    return new Response(nullBody ? null : res.body, { status: res.status < 200 ? 200 : res.status, headers: h });
  } catch (err) {
    if (record) {
      record.error = err.message;
      console.error(`test-op: back-channel logout ${record.client_id} -> ${u.href} failed: ${err.message}`);
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// HTML (inline only: no remote fonts, scripts or stylesheets)

function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

const CSS = 'body{font-family:system-ui,sans-serif;background:#f3f3f3;margin:40px}'
  + '.box{max-width:340px;margin:0 auto;background:#fff;padding:24px;border:1px solid #ddd;border-radius:4px}'
  + 'h1{font-size:1.3em;font-weight:500}label{display:block;margin-top:12px}'
  + 'input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:6px;margin-top:4px}'
  + 'button{margin-top:16px;padding:8px 16px}.error{color:#b00020}pre{white-space:pre-wrap;word-break:break-word}';

function page(title, inner) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<div class="box">
<h1>${esc(title)}</h1>
${inner}
</div>
</body>
</html>`;
}

function loginPage({ action, clientId, username = '', error }) {
  return page('Sign in to demo', `
<p>Signing in to <strong>${esc(clientId)}</strong></p>
${error ? `<p class="error" id="input-error">${esc(error)}</p>` : ''}
<form id="login" method="post" action="${esc(action)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${esc(username)}" autofocus autocomplete="username">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
<button type="submit" id="kc-login" name="login" value="Sign In">Sign In</button>
</form>`);
}

// ---------------------------------------------------------------------------------------------
// keys

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKey = crypto.createPublicKey(privateKey);
const KID = crypto.randomBytes(8).toString('base64url');
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };

// ---------------------------------------------------------------------------------------------
// HTTP server (listen first: the issuer needs the port)

const server = http.createServer();
server.keepAliveTimeout = 5000;
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, () => {
    server.off('error', reject);
    resolve();
  });
}).catch((e) => fatal(`cannot listen on ${HOST}:${PORT}: ${e.message}`));

const { port } = server.address();
const ORIGIN = `http://${HOST}:${port}`;
const ISSUER = `${ORIGIN}${REALM_PATH}`;
const RESOURCE = `${ISSUER}/resource/gateway`; // internal resource indicator; aud is the client id
const RS_SCOPE = 'openid profile email offline_access';

// ---------------------------------------------------------------------------------------------
// provider

async function findAccount(ctx, sub) {
  const u = USER_BY_SUB.get(sub);
  if (!u) return undefined;
  return {
    accountId: u.sub,
    async claims() {
      return userClaims(u);
    },
  };
}

// Consent is implicit for every client (like a Keycloak client with "Consent Required" off):
// make sure the session's grant covers whatever the request asks for, so no consent prompt
// ever runs and an existing SSO session redirects straight back to the client.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant;
  if (grantId) grant = await oidc.provider.Grant.find(grantId);
  if (!grant) {
    if (!oidc.session.accountId) return undefined;
    grant = new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes];
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  for (const [indicator, rs] of Object.entries(oidc.resourceServers || {})) {
    const rsScopes = [...oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
    if (rsScopes.length) grant.addResourceScope(indicator, rsScopes.join(' '));
  }
  await grant.save();
  return grant;
}

function accessTokenCustomizer(ctx, token, jwt) {
  const u = USER_BY_SUB.get(token.accountId);
  const p = jwt.payload;
  p.typ = 'Bearer';
  p.azp = token.clientId;
  if (token.sid) p.sid = token.sid;
  const scopes = new Set((p.scope || '').split(' ').filter(Boolean));
  // Keycloak's default client scopes (profile, email) are always applied
  for (const s of ['profile', 'email']) scopes.add(s);
  p.scope = [...scopes].join(' ');
  if (u) {
    Object.assign(p, userClaims(u), { sub: p.sub });
    p.realm_access = { roles: [...u.roles, ...bigRoles] };
    p.resource_access = { [token.clientId]: { roles: ['client-user'] } };
  }
}

function renderError(ctx, out, error) {
  ctx.type = 'html';
  if (error) console.error(`test-op: error page ${ctx.status}: ${out.error}: ${out.error_description ?? ''}`);
  ctx.body = page('We are sorry...', `
<p class="error" id="kc-error-message">${esc(out.error)}</p>
${out.error_description ? `<pre>${esc(out.error_description)}</pre>` : ''}`);
}

const provider = new Provider(ISSUER, {
  adapter: MemoryAdapter,
  clients: CLIENTS,
  jwks: { keys: [signingJwk] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    names: { session: 'KC_TEST_SESSION', interaction: 'KC_TEST_INTERACTION', resume: 'KC_TEST_RESUME' },
  },
  findAccount,
  loadExistingGrant,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: {
    // Keycloak applies the profile and email client scopes by default: so do we
    openid: ['sub', 'preferred_username', 'email', 'email_verified', 'name', 'given_name', 'family_name'],
    profile: ['preferred_username', 'name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: { required: () => true },
  clientBasedCORS: () => false,
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  routes: {
    authorization: `${KC}/auth`,
    token: `${KC}/token`,
    jwks: `${KC}/certs`,
    userinfo: `${KC}/userinfo`,
    end_session: `${KC}/logout`,
    introspection: `${KC}/token/introspect`,
    revocation: `${KC}/revoke`,
    pushed_authorization_request: `${KC}/ext/par/request`,
  },
  ttl: {
    AccessToken: () => ACCESS_TOKEN_TTL,
    AuthorizationCode: () => 60,
    IdToken: () => ID_TOKEN_TTL,
    RefreshToken: () => REFRESH_TOKEN_TTL,
    Session: () => SESSION_TTL,
    Grant: () => SESSION_TTL,
    Interaction: () => 1800,
  },
  interactions: {
    url: (ctx, interaction) => `${REALM_PATH}/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    introspection: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx) {
        const action = ctx.oidc.urlFor('end_session_confirm');
        const xsrf = ctx.oidc.session.state.secret;
        ctx.body = page('Logging out', `
<form id="op-logout" method="post" action="${esc(action)}">
<input type="hidden" name="xsrf" value="${esc(xsrf)}">
<input type="hidden" name="logout" value="yes">
<noscript><button type="submit">Log out</button></noscript>
</form>
<script>document.getElementById('op-logout').submit()</script>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('You are logged out', '<p id="op-logged-out">You are logged out.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: RS_SCOPE,
          audience: client.clientId,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  formats: { customizers: { jwt: accessTokenCustomizer } },
  renderError,
  fetch: loopbackFetch,
});

// Keycloak-style extras in successful token responses
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    const rt = ctx.oidc.entities.RefreshToken;
    if (ctx.body.refresh_token && rt) {
      ctx.body.refresh_expires_in = rt.remainingTTL ?? rt.expiration;
    }
    const at = ctx.oidc.entities.AccessToken;
    if (at?.sid) ctx.body.session_state = at.sid;
  }
});

provider.on('server_error', (ctx, err) => console.error('test-op: server_error', err));
provider.on('backchannel.error', (ctx, err, client) => console.error(`test-op: back-channel logout to ${client.clientId} failed: ${err.message}`));

// fail fast on bad client metadata
for (const c of CLIENTS) {
  try {
    const found = await provider.Client.find(c.client_id);
    if (!found) throw new Error('not found');
  } catch (e) {
    fatal(`client ${c.client_id} rejected by oidc-provider: ${e.error_description || e.message}`);
  }
}

// Keycloak shares one session id (`sid`) across all clients of an SSO session; oidc-provider
// makes one per client. Share it like Keycloak unless OP_PER_CLIENT_SID=1.
if (process.env.OP_PER_CLIENT_SID !== '1') {
  provider.Session.prototype.ensureClientContainer = function ensureClientContainer(clientId) {
    if (!this.sidFor(clientId)) {
      this.sidFor(clientId, this.uid);
    }
  };
}

const providerCallback = provider.callback();

// ---------------------------------------------------------------------------------------------
// helpers for the outer server

function readBody(req, limit = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// hand a request to oidc-provider mounted under /realms/demo
function toProvider(req, res, rawBody) {
  if (rawBody !== undefined) {
    // the body stream was consumed here; oidc-provider falls back to req.body
    req.body = rawBody;
  }
  req.originalUrl = req.url;
  req.url = req.url.slice(REALM_PATH.length) || '/';
  providerCallback(req, res);
}

// Verify one of our JWT access tokens (RS256, typ at+jwt) and check the OP session behind it is
// still alive, like Keycloak's userinfo/introspection do. Returns payload or throws.
async function verifyAccessToken(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('malformed token');
  const header = decodeJwtPart(token, 0);
  const payload = decodeJwtPart(token, 1);
  if (!header || !payload) throw new Error('malformed token');
  if (header.alg !== 'RS256' || header.kid !== KID || header.typ !== 'at+jwt') throw new Error('not an access token of this OP');
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  if (!ok) throw new Error('invalid signature');
  if (payload.iss !== ISSUER) throw new Error('wrong issuer');
  if (typeof payload.exp !== 'number' || payload.exp * 1000 <= Date.now()) throw new Error('token expired');
  // session liveness: a live OP session whose authorization for azp carries this sid and whose
  // grant still exists (logout, admin logout and refresh-token reuse all end it)
  let alive = false;
  for (const { payload: s } of liveSessions()) {
    const a = s.authorizations?.[payload.azp];
    if (s.accountId === payload.sub && a?.sid === payload.sid && a.grantId && await provider.Grant.find(a.grantId)) {
      alive = true;
      break;
    }
  }
  if (!alive) throw new Error('session not active');
  return payload;
}

// Client authentication with the token endpoint's rules: oidc-provider's checks and messages for
// client_secret_basic / client_secret_post, plus the registered method enforced exactly (as
// authMethodMismatch does in front of oidc-provider). Returns { client } or { status, body, headers }.
const BASIC_RE = /^[A-Za-z0-9+/]*={0,2}$/;
function clientAuthentication(req, params) {
  const auth = req.headers.authorization;
  const invalidRequest = (d) => ({ status: 400, body: { error: 'invalid_request', error_description: d } });
  const invalidClient = (detail, id) => {
    console.error(`test-op: client authentication of ${JSON.stringify(id ?? null)} failed: ${detail}`);
    return {
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
      headers: auth === undefined ? {} : {
        'www-authenticate': `Basic realm="${ISSUER}", error="invalid_client", error_description="client authentication failed"`,
      },
    };
  };
  for (const p of ['client_id', 'client_secret']) {
    if (params.getAll(p).length > 1) return invalidRequest(`'${p}' parameter must not be provided twice`);
  }
  const postSecret = params.get('client_secret') || '';
  if ([auth, postSecret].filter(Boolean).length > 1) {
    return invalidRequest('client authentication must only be provided using one mechanism');
  }
  let id = params.has('client_id') ? params.get('client_id') : undefined;
  let secret;
  let method = 'none';
  if (postSecret) {
    secret = postSecret;
    method = 'client_secret_post';
  } else if (auth !== undefined) {
    const parts = auth.split(' ');
    if (parts.length !== 2 || parts[0].toLowerCase() !== 'basic' || !parts[1] || !BASIC_RE.test(parts[1])) {
      return invalidRequest('invalid authorization header value format');
    }
    const decoded = Buffer.from(parts[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return invalidRequest('invalid authorization header value format');
    let basicId;
    try {
      basicId = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, '%20'));
      secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, '%20'));
    } catch {
      return invalidRequest('client_id and client_secret in the authorization header are not properly encoded');
    }
    if (id !== undefined && id !== basicId) return invalidRequest('client_id mismatch');
    id = basicId;
    if (!secret) return invalidRequest('client_secret must be provided in the Authorization header');
    method = 'client_secret_basic';
  }
  if (!id) return invalidRequest('no client authentication mechanism provided');
  const c = CLIENT_BY_ID.get(id);
  if (!c) return invalidClient('client not found', id);
  if (c.token_endpoint_auth_method !== method) {
    return invalidClient(`used ${method} but is registered with ${c.token_endpoint_auth_method}`, id);
  }
  const a = Buffer.from(String(secret));
  const b = Buffer.from(c.client_secret);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return invalidClient('invalid secret provided', id);
  return { client: c };
}

// oidc-provider 9.13 accepts client_secret_basic and client_secret_post interchangeably; enforce
// the registered method exactly so a gateway using the wrong one fails here as it would against a
// strict server. Returns true when it answered the request.
function authMethodMismatch(req, params, res) {
  const auth = req.headers.authorization;
  const basic = !!auth && /^basic /i.test(auth);
  const post = params.has('client_secret');
  if (basic === post) return false; // none or both: oidc-provider answers that itself
  let id = params.get('client_id');
  if (basic) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    try {
      id = decodeURIComponent(decoded.slice(0, Math.max(decoded.indexOf(':'), 0)).replace(/\+/g, ' '));
    } catch {
      return false;
    }
  }
  const c = CLIENT_BY_ID.get(id);
  const used = basic ? 'client_secret_basic' : 'client_secret_post';
  if (!c || c.token_endpoint_auth_method === used) return false;
  console.error(`test-op: ${id} used ${used} but is registered with ${c.token_endpoint_auth_method}: invalid_client`);
  sendJson(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
  return true;
}

// ---------------------------------------------------------------------------------------------
// interactions (our own login page; consent is implicit)

async function handleInteraction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
  } catch (e) {
    console.error(`test-op: interaction ${uid}: ${e.message}`);
    sendHtml(res, 400, page('We are sorry...', '<p class="error" id="kc-error-message">Your login attempt timed out or is no longer valid. Start again from the application.</p>'));
    return;
  }
  const { prompt, params } = details;
  const loginAction = `${REALM_PATH}/interaction/${uid}/login`;

  if (prompt.name === 'consent') {
    // should not happen (loadExistingGrant grants everything) but never show a consent page
    const accountId = details.session?.accountId;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  if (prompt.name !== 'login') {
    sendHtml(res, 400, page('We are sorry...', `<p class="error">Unsupported prompt ${esc(prompt.name)}</p>`));
    return;
  }

  if (action === undefined && req.method === 'GET') {
    sendHtml(res, 200, loginPage({ action: loginAction, clientId: params.client_id, username: params.login_hint || '' }));
    return;
  }

  if (action === 'login' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const username = (form.get('username') || '').trim();
    const u = USER_BY_NAME.get(username);
    if (!u || form.get('password') !== u.password) {
      console.error(`test-op: failed login for ${JSON.stringify(username)}`);
      sendHtml(res, 200, loginPage({
        action: loginAction, clientId: params.client_id, username, error: 'Invalid username or password.',
      }));
      return;
    }
    console.error(`test-op: login ${u.username} for ${params.client_id}`);
    await provider.interactionFinished(req, res, {
      login: { accountId: u.sub, amr: ['pwd'], remember: true },
    }, { mergeWithLastSubmission: false });
    return;
  }

  sendHtml(res, 405, page('We are sorry...', '<p class="error">Method not allowed</p>'));
}

// ---------------------------------------------------------------------------------------------
// ending OP sessions (admin logout and Keycloak's server-side RP logout)

async function revokeGrant(grantId) {
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ]);
}

// End OP sessions like Keycloak ends a user session: revoke every client's grant (its refresh tokens
// die; access-token JWTs then fail userinfo and introspection), destroy the session, and send a
// back-channel logout to every client of it that has a back-channel URI, with that client's sid.
// `sessions` are { id, payload } (adapter form). Resolves after the back-channel calls have finished;
// returns the deliveries attempted ({ client_id, uri, status[, error] }).
async function endSessions(sessions, label) {
  const backchannel = [];
  const calls = [];
  for (const s of sessions) {
    const { accountId } = s.payload;
    for (const [clientId, a] of Object.entries(s.payload.authorizations || {})) {
      if (a.grantId) await revokeGrant(a.grantId);
      const client = await provider.Client.find(clientId).catch(() => undefined);
      if (client?.backchannelLogoutUri) {
        calls.push(bcCollector.run(backchannel, () => client.backchannelLogout(accountId, a.sid)).catch((err) => {
          console.error(`test-op: ${label} back-channel logout to ${clientId} failed: ${err.message}`);
        }));
      }
    }
    await provider.Session.adapter.destroy(s.id);
  }
  await Promise.all(calls);
  return backchannel;
}

// admin "log out user" (Keycloak: Users > Sessions > Sign out)
async function adminLogout(username) {
  const u = USER_BY_NAME.get(username);
  if (!u) return { status: 404, body: { error: 'user_not_found', username } };
  const sessions = liveSessions().filter((s) => s.payload.accountId === u.sub);
  const backchannel = await endSessions(sessions, 'admin');
  console.error(`test-op: admin logout ${username}: ${sessions.length} session(s), ${backchannel.length} back-channel call(s)`);
  return {
    status: 200,
    body: {
      username, sub: u.sub, sessions: sessions.length, backchannel,
    },
  };
}

// Keycloak's server-side RP logout: POST /logout with client credentials and refresh_token, no
// cookies. Client authentication as at the token endpoint (401 invalid_client), then the refresh
// token must be live, unused, issued to this client and bound to a live OP session (else 400
// invalid_grant). Ends that whole SSO session (every client, back-channel to each) and answers 204.
async function rpBackchannelLogout(req, params) {
  const invalidGrant = (d) => ({ status: 400, body: { error: 'invalid_grant', error_description: d } });
  const ca = clientAuthentication(req, params);
  if (!ca.client) return ca;
  const { client_id: clientId } = ca.client;
  if (params.getAll('refresh_token').length > 1) {
    return { status: 400, body: { error: 'invalid_request', error_description: "'refresh_token' parameter must not be provided twice" } };
  }
  const value = params.get('refresh_token');
  if (!value) return { status: 400, body: { error: 'invalid_request', error_description: 'No refresh token' } };
  // find() also drops session-bound tokens whose OP session, account or grant no longer match
  const rt = await provider.RefreshToken.find(value, { ignoreExpiration: true });
  if (!rt) return invalidGrant('Invalid refresh token');
  if (rt.clientId !== clientId) return invalidGrant('Unmatching clients');
  if (rt.isExpired) return invalidGrant('Refresh token expired');
  if (rt.consumed) return invalidGrant('Refresh token already used');
  const grant = rt.grantId && await provider.Grant.find(rt.grantId);
  if (!grant || grant.clientId !== clientId || grant.accountId !== rt.accountId) return invalidGrant('Invalid refresh token');
  const session = rt.sessionUid && await provider.Session.findByUid(rt.sessionUid);
  if (!session || session.accountId !== rt.accountId || session.grantIdFor(clientId) !== rt.grantId) {
    return invalidGrant('Session not active');
  }
  const stored = await provider.Session.adapter.find(session.id);
  if (!stored) return invalidGrant('Session not active');
  await revokeGrant(rt.grantId); // covered by endSessions too; explicit so this token dies whatever happens
  const backchannel = await endSessions([{ id: session.id, payload: stored }], 'rp');
  const user = USER_BY_SUB.get(rt.accountId)?.username ?? rt.accountId;
  console.error(`test-op: rp back-channel logout by ${clientId}: session ${session.uid} of ${user} ended, `
    + `${backchannel.length} back-channel call(s)`);
  return { status: 204 };
}

// ---------------------------------------------------------------------------------------------
// routing

const TOKEN_PATH = `${REALM_PATH}${KC}/token`;
const USERINFO_PATH = `${REALM_PATH}${KC}/userinfo`;
const INTROSPECT_PATH = `${REALM_PATH}${KC}/token/introspect`;
const REVOKE_PATH = `${REALM_PATH}${KC}/revoke`;
const LOGOUT_PATH = `${REALM_PATH}${KC}/logout`;
const INTERACTION_RE = new RegExp(`^${REALM_PATH}/interaction/([A-Za-z0-9_-]+)(?:/(login))?$`);

async function handle(req, res) {
  const url = new URL(req.url, ORIGIN);
  const path = url.pathname;

  if (path === '/__test/health') {
    sendJson(res, 200, { status: 'UP', issuer: ISSUER });
    return;
  }
  if (path === '/__test/stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
    return;
  }
  if (path === '/__test/stats/reset' && req.method === 'POST') {
    await readBody(req);
    resetStats();
    sendJson(res, 200, stats);
    return;
  }
  if (path === '/__test/admin-logout' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const { status, body } = await adminLogout(form.get('username') || url.searchParams.get('username') || '');
    sendJson(res, status, body);
    return;
  }

  const m = INTERACTION_RE.exec(path);
  if (m) {
    await handleInteraction(req, res, m[1], m[2]);
    return;
  }

  if (path === TOKEN_PATH) {
    const raw = req.method === 'POST' ? await readBody(req) : '';
    const params = new URLSearchParams(raw);
    const gt = params.get('grant_type') || '(none)';
    stats.token[gt] = (stats.token[gt] || 0) + 1;
    if (gt === 'refresh_token' && REFRESH_DELAY_MS > 0) await sleep(REFRESH_DELAY_MS);
    if (authMethodMismatch(req, params, res)) return;
    toProvider(req, res, req.method === 'POST' ? raw : undefined);
    return;
  }

  // Keycloak's server-side RP logout: a form POST to /logout carrying refresh_token (a browser's
  // logout never has one). Everything else on /logout goes to oidc-provider unchanged.
  if (path === LOGOUT_PATH && req.method === 'POST'
      && /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] || '')) {
    const raw = await readBody(req);
    const params = new URLSearchParams(raw);
    if (!params.has('refresh_token')) {
      toProvider(req, res, raw);
      return;
    }
    stats.rp_backchannel_logout += 1;
    const { status, body, headers } = await rpBackchannelLogout(req, params);
    if (status === 204) {
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
    } else {
      sendJson(res, status, body, headers);
    }
    return;
  }

  if (path === REVOKE_PATH && req.method === 'POST') {
    const raw = await readBody(req);
    if (authMethodMismatch(req, new URLSearchParams(raw), res)) return;
    toProvider(req, res, raw);
    return;
  }

  // Keycloak's userinfo accepts its JWT access tokens; oidc-provider's refuses tokens with aud.
  if (path === USERINFO_PATH && /^bearer [^.\s]+\.[^.\s]+\.[^.\s]+$/i.test(req.headers.authorization || '')) {
    try {
      const p = await verifyAccessToken(req.headers.authorization.slice(7).trim());
      const u = USER_BY_SUB.get(p.sub);
      if (!u) throw new Error('user not found');
      if (req.method === 'POST') await readBody(req);
      sendJson(res, 200, userClaims(u));
    } catch (e) {
      sendJson(res, 401, { error: 'invalid_token', error_description: e.message }, {
        'www-authenticate': `Bearer realm="demo", error="invalid_token", error_description="${e.message.replace(/"/g, '')}"`,
      });
    }
    return;
  }

  // Same for introspection of JWT access tokens; anything else goes to oidc-provider.
  if (path === INTROSPECT_PATH && req.method === 'POST') {
    const raw = await readBody(req);
    const params = new URLSearchParams(raw);
    if (authMethodMismatch(req, params, res)) return;
    const token = params.get('token') || '';
    if (token.split('.').length === 3) {
      const ca = clientAuthentication(req, params);
      if (!ca.client) {
        sendJson(res, ca.status, ca.body, ca.headers);
        return;
      }
      try {
        const p = await verifyAccessToken(token);
        sendJson(res, 200, {
          ...p, active: true, token_type: 'Bearer', client_id: p.azp, username: p.preferred_username,
        });
      } catch {
        sendJson(res, 200, { active: false });
      }
      return;
    }
    toProvider(req, res, raw);
    return;
  }

  if (path === REALM_PATH || path.startsWith(`${REALM_PATH}/`)) {
    toProvider(req, res);
    return;
  }

  sendJson(res, 404, { error: 'not_found' });
}

server.on('request', (req, res) => {
  handle(req, res).catch((err) => {
    console.error('test-op: request failed', err);
    if (!res.headersSent) sendHtml(res, 500, page('We are sorry...', '<p class="error">Internal error</p>'));
    else res.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// ready: prove discovery is served, then announce

{
  // node:http rather than fetch: fetch refuses "bad ports" (e.g. 6000) a test may pick
  const status = await new Promise((resolve) => {
    http.get(`${ISSUER}/.well-known/openid-configuration`, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode));
    }).on('error', (e) => resolve(e.message));
  });
  if (status !== 200) fatal(`discovery self-check failed: ${status}`);
}

process.stdout.write(`OP_LISTENING ${ORIGIN}\n`);
console.error(`test-op: issuer ${ISSUER}; clients ${CLIENTS.map((c) => c.client_id).join(', ')}; `
  + `ttl at=${ACCESS_TOKEN_TTL}s id=${ID_TOKEN_TTL}s rt=${REFRESH_TOKEN_TTL}s session=${SESSION_TTL}s; `
  + `big roles=${BIG_ROLES}; refresh delay=${REFRESH_DELAY_MS}ms; startup ${Math.round(process.uptime() * 1000)} ms`);

let stopping = false;
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  console.error(`test-op: shutting down (${why})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (process.env.OP_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
