// sso.js — browser client for an sso-gateway deployment. An ES module, no build step, no
// dependencies. Types: sso.d.ts next to this file.
//
//   import { createClient } from './sso.js';
//   const sso = createClient({ gateway: 'https://auth.a.com' });
//   const s = await sso.session();            // {authenticated, sub, name, ...}
//   if (!s.authenticated) sso.login();         // top-level navigation, back to this URL
//   const r = await sso.fetch('https://api.a.com/api/me');  // 401 → refresh once → retry
//
// The tokens stay in HttpOnly cookies: this module never sees one. It only asks the gateway.
// What each status means is in docs/clients.md §1 ("Statuses and what to do").

/** The gateway (or an API) is unavailable for now: wait `retryAfter` seconds, do not log in. */
export class SsoUnavailable extends Error {
  constructor(retryAfter, status) {
    super(`sign-in service temporarily unavailable (HTTP ${status ?? 'network error'}), retry in ${retryAfter} s`);
    this.name = 'SsoUnavailable';
    this.retryAfter = retryAfter;
    this.status = status ?? 0;
  }
}

/** The gateway refused this page's origin (403): a configuration error, never retried. */
export class SsoForbidden extends Error {
  constructor(what) {
    super(`${what}: this page's origin is not allowed by the gateway (cors.allowed_origins)`);
    this.name = 'SsoForbidden';
  }
}

/** Sign-in did not stick after `attempts` logins in this tab (cookies blocked?). */
export class SsoLoginLoop extends Error {
  constructor(attempts) {
    super(`sign-in did not stick after ${attempts} attempts: are cookies blocked for this site?`);
    this.name = 'SsoLoginLoop';
    this.attempts = attempts;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date), within [1, max]. */
export function retryAfterSeconds(value, fallback = 5, max = 60) {
  let s = fallback;
  if (value != null && value !== '') {
    const n = Number(value);
    if (Number.isFinite(n)) s = n;
    else {
      const t = Date.parse(value);
      if (!Number.isNaN(t)) s = Math.ceil((t - Date.now()) / 1000);
    }
  }
  return Math.min(Math.max(s, 1), max);
}

/**
 * A client for one gateway. Options (all but `gateway` optional):
 * - `gateway`: the gateway's origin, e.g. `https://auth.a.com`
 * - `prefix`: the gateway's path prefix (`/sso`)
 * - `maxLoginAttempts`: logins per tab without a signed-in session in between (2)
 * - `maxWaits`: how many 503 answers in a row one call waits through before it throws
 *   `SsoUnavailable` (3)
 * - `maxRetryAfter`: cap on one wait, seconds (60)
 * - `onUnavailable(seconds, error)`: called before each wait (show "temporarily unavailable")
 * - `storage`: where the login counter lives (`sessionStorage`: per tab, survives the
 *   login's navigations)
 */
export function createClient(options) {
  const opts = { prefix: '/sso', maxLoginAttempts: 2, maxWaits: 3, maxRetryAfter: 60, ...options };
  if (!opts.gateway) throw new Error('sso.js: createClient needs {gateway}');
  const base = opts.gateway.replace(/\/+$/, '') + opts.prefix;
  const storage = opts.storage ?? globalThis.sessionStorage;
  const counterKey = `sso-login-attempts:${base}`;
  let refreshing = null; // the refresh in flight, shared by every caller (single-flight)

  const attempts = () => Number(storage?.getItem(counterKey) || 0);
  const resetLoginGuard = () => storage?.removeItem(counterKey);

  // One gateway call; 503 / network errors wait `Retry-After` and try again (up to maxWaits).
  async function call(method, path) {
    for (let wait = 0; ; wait++) {
      let r;
      let err;
      try {
        r = await fetch(base + path, {
          method,
          credentials: 'include', // send and accept the cookies of the gateway's domain
          headers: { Accept: 'application/json' },
          cache: 'no-store',
        });
      } catch (e) {
        // network failure, or CORS refused the answer (the browser hides which)
        err = new SsoUnavailable(retryAfterSeconds(null, 5, opts.maxRetryAfter), 0);
      }
      if (r && r.status === 503) {
        err = new SsoUnavailable(retryAfterSeconds(r.headers.get('Retry-After'), 5, opts.maxRetryAfter), 503);
      }
      if (!err) return r;
      if (wait >= opts.maxWaits) throw err;
      opts.onUnavailable?.(err.retryAfter, err);
      await sleep(err.retryAfter * 1000);
    }
  }

  function seen(s) {
    if (s && s.authenticated) resetLoginGuard();
    return s;
  }

  /** `GET /sso/session`: {authenticated, sub, name, email, preferred_username, expires_at}. */
  async function session() {
    const r = await call('GET', '/session');
    if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
    return seen(await r.json());
  }

  /**
   * `POST /sso/refresh` now. Single-flight: concurrent callers share one request.
   * Resolves to the session JSON, or `null` when there is no live session (401).
   */
  function refresh() {
    if (!refreshing) {
      refreshing = (async () => {
        const r = await call('POST', '/refresh');
        if (r.status === 401) return null;
        if (r.status === 403) throw new SsoForbidden('refresh');
        if (!r.ok) throw new Error(`refresh: HTTP ${r.status}`);
        return seen(await r.json());
      })().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  /**
   * Start a login as a top-level navigation; the gateway brings the browser back to `rd`
   * (default: this page). Throws `SsoLoginLoop` instead once `maxLoginAttempts` logins in
   * this tab have not produced a session (the counter resets when one is seen).
   */
  function login(rd = globalThis.location.href) {
    const n = attempts();
    if (n >= opts.maxLoginAttempts) throw new SsoLoginLoop(n);
    storage?.setItem(counterKey, String(n + 1));
    globalThis.location.assign(`${base}/login?rd=${encodeURIComponent(rd)}`);
  }

  /**
   * `POST /sso/logout` with `Accept: application/json`: ends the session on every gateway,
   * clears the cookies and ends the OP session server-side. Resolves to
   * {logged_out, sessions, op_session_ended}.
   */
  async function logout() {
    const r = await call('POST', '/logout');
    if (r.status === 403) throw new SsoForbidden('logout');
    if (!r.ok) throw new Error(`logout: HTTP ${r.status}`);
    resetLoginGuard();
    return r.json();
  }

  /** Full logout as a top-level navigation (also ends the OP's browser session for sure). */
  function logoutNavigate(rd = globalThis.location.origin + '/') {
    globalThis.location.assign(`${base}/logout?rd=${encodeURIComponent(rd)}`);
  }

  /**
   * `fetch` for your APIs on sibling subdomains, with credentials. On 401: one `refresh()`,
   * then one retry; if there is no session any more, the 401 is returned (call `login()`).
   * On 503 (or a network error): waits `Retry-After` like the gateway calls, then throws
   * `SsoUnavailable`.
   */
  async function ssoFetch(input, init = {}) {
    const go = async () => {
      for (let wait = 0; ; wait++) {
        let r;
        try {
          r = await fetch(input, { ...init, credentials: 'include' });
        } catch (e) {
          r = null;
        }
        if (r && r.status !== 503) return r;
        const err = new SsoUnavailable(
          retryAfterSeconds(r?.headers.get('Retry-After'), 5, opts.maxRetryAfter),
          r?.status,
        );
        if (wait >= opts.maxWaits) throw err;
        opts.onUnavailable?.(err.retryAfter, err);
        await sleep(err.retryAfter * 1000);
      }
    };
    let r = await go();
    if (r.status === 401) {
      const s = await refresh();
      if (s && s.authenticated !== false) r = await go();
    }
    return r;
  }

  return {
    session,
    refresh,
    login,
    logout,
    logoutNavigate,
    fetch: ssoFetch,
    loginAttempts: attempts,
    resetLoginGuard,
    base,
  };
}
