// The SPA of examples/spa: uses the gateway's client module (clients/js/sso.js, served next
// to this file as ./sso.js) and calls an API on a sibling subdomain with credentials.
// config.json gives {gateway, api}; the demo app generates it for the host the SPA runs on.
import { createClient, SsoLoginLoop, SsoUnavailable, SsoForbidden } from './sso.js';

const $ = (id) => document.getElementById(id);

// Every request this page makes, with its status ('blocked' when the browser refused to
// let the page read the answer): shown under "Requests", and read by the browser tests.
const net = [];
const pageFetch = globalThis.fetch.bind(globalThis);
globalThis.fetch = async (input, init = {}) => {
  const url = String(input instanceof Request ? input.url : input);
  const entry = { method: (init.method || 'GET').toUpperCase(), url, status: null };
  net.push(entry);
  try {
    const r = await pageFetch(input, init);
    entry.status = r.status;
    return r;
  } catch (e) {
    entry.status = 'blocked';
    throw e;
  } finally {
    const li = document.createElement('li');
    li.textContent = `${entry.method} ${new URL(url).host}${new URL(url).pathname} → ${entry.status}`;
    $('net').append(li);
  }
};

function show(status, message = '', { error = false } = {}) {
  $('status').textContent = status;
  $('message').textContent = message;
  $('message').className = error ? 'error' : '';
  for (const id of ['login', 'call-api', 'logout', 'who']) $(id).hidden = true;
}

function signedIn(s) {
  show('Signed in');
  $('user').textContent = s.preferred_username || s.sub;
  $('email').textContent = s.email ? `(${s.email})` : '';
  $('who').hidden = false;
  $('call-api').hidden = false;
  $('logout').hidden = false;
}

function signedOut(message = '') {
  show('Signed out', message);
  $('login').hidden = false;
}

function problem(e) {
  if (e instanceof SsoLoginLoop) {
    show('Sign-in problem', `${e.message} Allow cookies for this site, then reload the page.`, { error: true });
  } else if (e instanceof SsoUnavailable) {
    show('Temporarily unavailable', 'The sign-in service is unavailable. Reload the page in a minute.', { error: true });
    $('login').hidden = true;
  } else if (e instanceof SsoForbidden) {
    show('Not allowed here', e.message, { error: true });
  } else {
    show('Error', String(e && e.message ? e.message : e), { error: true });
  }
}

const cfg = await (await pageFetch('config.json', { cache: 'no-store' })).json();
const sso = createClient({
  gateway: cfg.gateway,
  maxWaits: 20,
  onUnavailable: (seconds) => {
    show('Temporarily unavailable', `The sign-in service is unavailable. Trying again in ${seconds} s…`);
    globalThis.spa.waits += 1;
  },
});
$('host').textContent = location.host;

function login() {
  try {
    sso.login();
  } catch (e) {
    problem(e);
  }
}

async function start() {
  show('Loading…');
  let s;
  try {
    s = await sso.session();
  } catch (e) {
    return problem(e);
  }
  if (s.authenticated) return signedIn(s);
  // Back from a login that did not produce a session: try again, up to the guard's limit.
  if (sso.loginAttempts() > 0) return login();
  signedOut();
}

async function callApi() {
  $('api').hidden = false;
  $('api-status').textContent = '…';
  try {
    const r = await sso.fetch(cfg.api, { headers: { Accept: 'application/json' } });
    $('api-status').textContent = String(r.status);
    $('api-result').textContent = JSON.stringify(await r.json().catch(() => null), null, 2);
    if (r.status === 401) signedOut('Your session has ended. Sign in again.');
  } catch (e) {
    $('api-status').textContent = 'failed';
    problem(e);
  }
}

async function logout() {
  try {
    const r = await sso.logout();
    $('api').hidden = true;
    signedOut(r.op_session_ended ? 'You are signed out everywhere.' : 'You are signed out here; the identity provider may still remember you.');
  } catch (e) {
    problem(e);
  }
}

$('login').addEventListener('click', login);
$('call-api').addEventListener('click', callApi);
$('logout').addEventListener('click', logout);

globalThis.spa = { sso, cfg, net, waits: 0, start };
await start();
