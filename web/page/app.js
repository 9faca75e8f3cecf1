// Latchkey account page, built on the browser SDK (sdk/browser): this file
// is bundled with it into web/app.js by sdk/browser/build.mjs.
//
// Tokens. The SDK runs in cookie mode: the refresh token is the HttpOnly
// cookie that POST /auth/sign-in sets and GET /api/refresh/refreshtoken
// rotates; this script never sees it, and the SDK drops the copy that the
// sign-in response body carries. The access token lives in memory only
// (never in Web Storage, nor in a cookie the script can read).
//
// Several tabs. All tabs share the one cookie, and every refresh spends
// it, so the SDK runs every request that writes the cookie (refresh,
// sign-in, sign-out) under one Web Lock, "latchkey-refresh"; the tab that
// refreshed hands the new access token to the others on the
// BroadcastChannel "latchkey", and a tab that queued for the lock does not
// call the server when a fresh token has arrived meanwhile. Sign-ins and
// sign-outs go to every tab the same way. sdk/browser/README.md explains
// the protocol and its fallback where Web Locks are missing.
import { createClient, dueAt, LatchkeyError } from '../../sdk/browser/src/index.ts';

const client = createClient({ baseUrl: '/', mode: 'cookie' });

const $ = (id) => document.getElementById(id);
const el = {
  body: document.body,
  message: $('message'),
  loading: $('loading'),
  signin: $('signin'),
  form: $('signin-form'),
  email: $('email'),
  password: $('password'),
  signinButton: $('signin-button'),
  account: $('account'),
  userEmail: $('user-email'),
  countdown: $('countdown'),
  renewals: $('renewals'),
  ownRefreshes: $('own-refreshes'),
  renewedAt: $('renewed-at'),
  signout: $('signout'),
  signoutAll: $('signout-all'),
  reload: $('reload-sessions'),
  sessions: $('sessions-body'),
};

// What the page shows of the session. epoch changes at every sign-in and
// sign-out, so that an answer to a request made before it is ignored.
const view = { email: '', expiresAt: 0, lifetimeMs: 0, renewals: 0, own: 0, epoch: 0, signedIn: false };
let quietSignOut = false; // the page itself ends the SDK's session: keep its message

// ---- messages and views ----

function say(text, kind) {
  el.message.textContent = text || '';
  el.message.className = 'message' + (kind ? ' ' + kind : '');
  el.message.hidden = !text;
}

function show(state) {
  el.body.dataset.state = state;
  el.loading.hidden = state !== 'loading';
  el.signin.hidden = state !== 'signed-out';
  el.account.hidden = state !== 'signed-in';
}

const reasons = {
  refresh_token_reused: 'This session was ended because its refresh token was used twice.',
  session_revoked: 'This session was revoked.',
  session_expired: 'This session reached its maximum lifetime.',
  refresh_token_expired: 'This session expired.',
  refresh_token_missing: 'This session has ended.',
  refresh_token_invalid: 'This session has ended.',
  user_inactive: 'This account is deactivated.',
  user_not_found: 'This account no longer exists.',
};

// ---- the SDK's events ----

client.on('tokens', (e) => {
  const renewal = view.signedIn && e.source !== 'sign-in';
  if (!renewal) {
    view.epoch++;
    view.signedIn = true;
    view.renewals = 0;
    view.own = 0;
  } else {
    view.renewals++;
    if (e.source === 'refresh') view.own++;
  }
  view.expiresAt = e.expiresAt;
  view.lifetimeMs = Math.max(1, e.expiresAt - Date.now());
  el.renewals.textContent = String(view.renewals);
  el.ownRefreshes.textContent = String(view.own);
  el.renewedAt.textContent = renewal ? new Date().toLocaleTimeString() : '–';
  if (!renewal || el.message.classList.contains('warn')) say('');
  if (!renewal) {
    show('signed-in');
    if (!view.email) whoAmI();
  }
  tick();
  loadSessions();
});

client.on('signedOut', (e) => {
  if (quietSignOut) {
    quietSignOut = false;
    return;
  }
  if (e.reason === 'signed_out') {
    signedOut(e.message, 'info');
  } else if (e.reason === 'cookie_disabled') {
    const text = 'This server does not refresh tokens through a cookie, so this page cannot keep you signed in.';
    signedOut(view.signedIn ? text + ' Sign in again.' : text, 'warn');
  } else {
    signedOut((reasons[e.reason] || e.message || 'Your session has ended.') + ' Sign in again.', 'error');
  }
});

client.on('retrying', (e) => {
  say(e.error.status === 0 ? 'The server cannot be reached; retrying.' : 'The server is busy; retrying.', 'warn');
});

// signedOut forgets the session in the page and shows the form with text.
// When the SDK still holds the session (password.js after a reset, a 401
// from the API), it ends it too.
function signedOut(text, kind) {
  view.signedIn = false;
  view.email = '';
  view.renewals = 0;
  view.own = 0;
  view.epoch++;
  el.sessions.replaceChildren();
  el.password.value = '';
  show('signed-out');
  say(text, kind || 'error');
  if (client.signedIn) {
    quietSignOut = true;
    client.signOut().catch(() => (quietSignOut = false));
  }
}

async function whoAmI() {
  const epoch = view.epoch;
  try {
    const user = await client.me();
    if (epoch !== view.epoch) return;
    view.email = user.email;
    el.userEmail.textContent = user.email;
  } catch (e) {
    // the next renewal tries again
  }
}

async function errorOf(resp) {
  try {
    const b = await resp.json();
    return { error: String(b.error || ''), message: String(b.message || '') };
  } catch (e) {
    return { error: '', message: resp.status + ' ' + resp.statusText };
  }
}

// api calls a Bearer route through the SDK (fresh token, one retry on an
// expired one). A 401 means the session is over. It returns the response,
// or null when the request could not be made.
async function api(method, path, body) {
  if (!client.signedIn) return null;
  const epoch = view.epoch;
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await client.fetch(path, init);
  } catch (e) {
    if (!(e instanceof LatchkeyError) || !e.reauthRequired) say('The server cannot be reached.', 'warn');
    return null;
  }
  if (epoch !== view.epoch) return null;
  if (resp.status === 401) {
    const err = await errorOf(resp);
    signedOut((err.message ? err.message + '. ' : 'Your session has ended. ') + 'Sign in again.');
    return null;
  }
  return resp;
}

// ---- sessions ----

async function loadSessions() {
  const epoch = view.epoch;
  const resp = await api('GET', '/auth/sessions');
  if (!resp || epoch !== view.epoch) return;
  if (!resp.ok) {
    say('Could not list the sessions: ' + (await errorOf(resp)).message, 'warn');
    return;
  }
  const { sessions } = await resp.json();
  if (epoch !== view.epoch) return;
  el.sessions.replaceChildren(...sessions.map(row));
}

function cell(text, title) {
  const td = document.createElement('td');
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function row(s) {
  const tr = document.createElement('tr');
  tr.dataset.sessionId = s.id;
  if (s.current) tr.className = 'current';
  const id = cell(shortId(s.id));
  id.title = s.id;
  if (s.current) {
    const mark = document.createElement('span');
    mark.className = 'badge';
    mark.textContent = 'this session';
    id.append(' ', mark);
  }
  const act = document.createElement('td');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'small danger';
  b.textContent = 'Revoke';
  b.dataset.revoke = s.id;
  b.dataset.current = s.current ? 'true' : 'false';
  act.append(b);
  tr.append(id, cell(device(s.userAgent), s.userAgent), cell(s.ip || ''), cell(when(s.createdAt)), cell(when(s.lastRefreshedAt)), act);
  return tr;
}

// shortId shows the end of a session id: ids are UUIDv7, whose first
// digits are the creation time and so alike for sessions of one day.
function shortId(id) {
  return '…' + id.slice(-8);
}

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleString();
}

// device turns a User-Agent into "Chrome 156 on Linux".
function device(ua) {
  if (!ua) return 'unknown';
  const b = /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Version(?=.*Safari))\/(\d+)/.exec(ua);
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|CrOS|Linux)/.exec(ua);
  const names = { Edg: 'Edge', OPR: 'Opera', Version: 'Safari', HeadlessChrome: 'Headless Chrome', 'Mac OS X': 'macOS', CrOS: 'ChromeOS' };
  const name = b ? (names[b[1]] || b[1]) + ' ' + b[2] : ua.split(' ')[0];
  return os ? name + ' on ' + (names[os[1]] || os[1]) : name;
}

async function revoke(id, current) {
  try {
    await client.revokeSession(id);
  } catch (e) {
    if (e instanceof LatchkeyError && e.status === 404) {
      loadSessions();
      return;
    }
    say('Could not revoke the session: ' + e.message, 'warn');
    return;
  }
  if (current) return; // the SDK signed this tab (and the others) out
  say('Session ' + shortId(id) + ' revoked: it is signed out at its next refresh.', 'info');
  loadSessions();
}

// ---- sign-in and sign-out ----

async function signIn(email, password) {
  el.signinButton.disabled = true;
  try {
    const user = await client.signIn(email, password);
    el.password.value = '';
    view.email = user.email;
    el.userEmail.textContent = user.email;
  } catch (e) {
    const wait = e.retryAfterMs || 0;
    const text = e.code === 'network_error' ? 'The server cannot be reached.' : e.message || 'Sign-in failed.';
    say(text + (wait ? ' Try again in ' + Math.ceil(wait / 1000) + ' s.' : ''), 'error');
  } finally {
    el.signinButton.disabled = false;
  }
}

async function signOut(scope) {
  try {
    await client.signOut({ scope });
  } catch (e) {
    say(e.code === 'network_error' ? 'The server cannot be reached.' : 'Could not sign out: ' + e.message, 'warn');
  }
}

// ---- wiring ----

function tick() {
  if (!view.signedIn) return;
  const left = view.expiresAt - Date.now();
  el.countdown.textContent = String(Math.max(0, Math.ceil(left / 1000)));
  el.countdown.classList.toggle('soon', left <= view.lifetimeMs / 5);
}

el.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  say('');
  signIn(el.email.value.trim(), el.password.value);
});
el.signout.addEventListener('click', () => signOut('local'));
el.signoutAll.addEventListener('click', () => signOut('global'));
el.reload.addEventListener('click', () => loadSessions());
el.sessions.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-revoke]');
  if (b) revoke(b.dataset.revoke, b.dataset.current === 'true');
});
setInterval(tick, 250);

// What password.js (the password forms) uses of this page: its session's
// calls, its message line, its session list and its sign-out.
self.latchkeyAccount = { api, say, loadSessions, signedOut };

// On load the cookie may already hold a session (or another tab has its
// access token): take it up before showing the form.
show('loading');
client.resume().then(
  (ok) => {
    if (!ok && el.body.dataset.state === 'loading') show('signed-out');
  },
  () => say('The server cannot be reached; retrying.', 'warn'),
);
