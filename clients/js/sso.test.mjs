// Unit tests of sso.js without a browser (`node --test clients/js/`, part of `make test`):
// fetch, location and storage are stubbed. The real-browser behaviour is tests/browser/spa.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, retryAfterSeconds, SsoLoginLoop, SsoForbidden } from './sso.js';

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** Stub global fetch with `answer(url, init)`; returns the list of calls. */
function stubFetch(answer) {
  const calls = [];
  globalThis.fetch = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method || 'GET', credentials: init.credentials });
    return answer(String(url), init, calls.length);
  };
  return calls;
}

test('retryAfterSeconds: seconds, HTTP dates, garbage, bounds', () => {
  assert.equal(retryAfterSeconds('5'), 5);
  assert.equal(retryAfterSeconds(null), 5);
  assert.equal(retryAfterSeconds('soon', 7), 7);
  assert.equal(retryAfterSeconds('0'), 1);
  assert.equal(retryAfterSeconds('3600'), 60);
  const in10 = new Date(Date.now() + 10_000).toUTCString();
  assert.ok([9, 10, 11].includes(retryAfterSeconds(in10)), retryAfterSeconds(in10));
});

test('refresh() is single-flight and resolves null on 401', async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const calls = stubFetch(async () => { await gate; return json(200, { authenticated: true, sub: 'u' }); });
  const sso = createClient({ gateway: 'https://auth.a.com/', storage: memoryStorage() });
  const all = Promise.all([sso.refresh(), sso.refresh(), sso.refresh()]);
  release();
  const r = await all;
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0], { url: 'https://auth.a.com/sso/refresh', method: 'POST', credentials: 'include' });
  assert.equal(r[2].sub, 'u');
  stubFetch(async () => json(401, { error: 'unauthenticated' }));
  assert.equal(await sso.refresh(), null, 'a new flight after the first settled');
  stubFetch(async () => json(403, { error: 'forbidden' }));
  await assert.rejects(sso.refresh(), SsoForbidden);
});

test('fetch(): 401 → one refresh → one retry; no session → the 401 is returned', async () => {
  let api = 0;
  const calls = stubFetch(async (url) => {
    if (url.endsWith('/sso/refresh')) return json(200, { authenticated: true });
    api += 1;
    return api === 1 ? json(401, {}) : json(200, { ok: true });
  });
  const sso = createClient({ gateway: 'https://auth.a.com', storage: memoryStorage() });
  const r = await sso.fetch('https://api.a.com/me');
  assert.equal(r.status, 200);
  assert.deepEqual(calls.map((c) => `${c.method} ${c.url}`), [
    'GET https://api.a.com/me', 'POST https://auth.a.com/sso/refresh', 'GET https://api.a.com/me',
  ]);
  assert.ok(calls.every((c) => c.credentials === 'include'));
  const calls2 = stubFetch(async (url) => (url.endsWith('/sso/refresh') ? json(401, {}) : json(401, {})));
  const r2 = await sso.fetch('https://api.a.com/me');
  assert.equal(r2.status, 401);
  assert.equal(calls2.length, 2, 'no retry without a session');
});

test('login(): top-level navigation with rd, guard stops after the limit, a session resets it', async () => {
  const went = [];
  globalThis.location = { href: 'https://app.a.com/page?x=1', assign: (u) => went.push(u) };
  const storage = memoryStorage();
  const sso = createClient({ gateway: 'https://auth.a.com', storage });
  sso.login();
  sso.login();
  assert.throws(() => sso.login(), SsoLoginLoop);
  assert.deepEqual(went, Array(2).fill('https://auth.a.com/sso/login?rd=https%3A%2F%2Fapp.a.com%2Fpage%3Fx%3D1'));
  assert.equal(sso.loginAttempts(), 2);
  stubFetch(async () => json(200, { authenticated: true }));
  await sso.session();
  assert.equal(sso.loginAttempts(), 0);
  sso.login();
  assert.equal(went.length, 3);
});

test('logout(): JSON POST with credentials', async () => {
  const calls = stubFetch(async () => json(200, { logged_out: true, sessions: 1, op_session_ended: true }));
  const sso = createClient({ gateway: 'https://auth.a.com', storage: memoryStorage() });
  assert.equal((await sso.logout()).op_session_ended, true);
  assert.deepEqual(calls, [{ url: 'https://auth.a.com/sso/logout', method: 'POST', credentials: 'include' }]);
});
