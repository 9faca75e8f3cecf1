// Latchkey account page: plain JavaScript, no framework, no build step.
//
// Tokens. The access token lives in this script's memory only (never in
// Web Storage, nor in a cookie the script can read). The refresh token is the
// HttpOnly cookie that POST /auth/sign-in sets and GET
// /api/refresh/refreshtoken rotates; the script never sees it, and it drops
// the copy that the sign-in response body carries.
//
// Renewal. A token is renewed when 80% of its lifetime has passed (at most
// a minute early), through the cookie: one request, no body.
//
// Several tabs. All tabs of this origin share the one cookie, and with
// rotation every refresh spends it: two tabs refreshing with the same
// cookie at once would look like a stolen token being replayed, and the
// server would revoke the session (reuse detection). So
//   1. every request that writes the cookie (refresh, sign-in, sign-out)
//      runs under one Web Lock, navigator.locks "latchkey-refresh": one at a
//      time per browser profile, each reading the cookie the previous one
//      left;
//   2. the tab that refreshed posts the new access token on the
//      BroadcastChannel "latchkey", and the other tabs adopt it;
//   3. a tab whose timer fires queues for the lock, and once it holds it,
//      looks again: if a fresh token arrived on the channel meanwhile it
//      does not call the server at all.
// Point 1 alone prevents reuse; 2 and 3 save the redundant refreshes. A
// sign-in or sign-out in one tab is broadcast too, since it changes the
// cookie under every tab. Where navigator.locks is missing (a page served
// over plain HTTP to another host is not a secure context), tabs refresh
// without the lock, and the server's REFRESH_TOKEN_REUSE_INTERVAL absorbs
// the rare collision.
'use strict';

(() => {
  const REFRESH_URL = '/api/refresh/refreshtoken';
  const LOCK_NAME = 'latchkey-refresh';
  const CHANNEL_NAME = 'latchkey';
  const MAX_EARLY_MS = 60 * 1000; // refresh at most this long before expiry

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

  // The signed-in state. epoch changes at every sign-in and sign-out, so
  // that an answer to a request made before it is ignored.
  const state = {
    token: null,
    email: '',
    lifetimeMs: 0,
    expiresAt: 0, // this browser's clock, ms
    renewals: 0,
    own: 0,
    epoch: 0,
  };
  let timer = 0;
  let retryMs = 1000;

  const channel = 'BroadcastChannel' in self ? new BroadcastChannel(CHANNEL_NAME) : null;

  // withLock runs fn while this tab holds the refresh lock.
  function withLock(fn) {
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request(LOCK_NAME, fn);
    }
    return fn();
  }

  function post(msg) {
    if (channel) channel.postMessage(msg);
  }

  // ---- messages and views ----

  function say(text, kind) {
    el.message.textContent = text || '';
    el.message.className = 'message' + (kind ? ' ' + kind : '');
    el.message.hidden = !text;
  }

  function show(view) {
    el.body.dataset.state = view;
    el.loading.hidden = view !== 'loading';
    el.signin.hidden = view !== 'signed-out';
    el.account.hidden = view !== 'signed-in';
  }

  // ---- tokens ----

  // lifetimeOf reads exp - iat from a JWT's payload. The payload is only
  // read, never trusted: the server verifies the token. Measuring the
  // lifetime instead of comparing exp with this browser's clock keeps the
  // schedule right when the clocks disagree.
  function lifetimeOf(jwt) {
    try {
      let p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      p += '='.repeat((4 - (p.length % 4)) % 4);
      const c = JSON.parse(atob(p));
      if (typeof c.exp === 'number' && typeof c.iat === 'number' && c.exp > c.iat) {
        return (c.exp - c.iat) * 1000;
      }
    } catch (e) {
      // fall through
    }
    return 60 * 1000;
  }

  function dueAt() {
    return state.expiresAt - Math.min(state.lifetimeMs * 0.2, MAX_EARLY_MS);
  }

  function due() {
    return !state.token || Date.now() >= dueAt();
  }

  // adopt makes t ({token, expiresAt, lifetimeMs, email}) the current
  // token. how is 'sign-in', 'refresh' (this tab called the server) or
  // 'shared' (another tab did).
  function adopt(t, how) {
    const renewal = state.token !== null;
    if (!renewal) state.epoch++;
    state.token = t.token;
    state.expiresAt = t.expiresAt;
    state.lifetimeMs = t.lifetimeMs;
    if (t.email) state.email = t.email;
    if (renewal) {
      state.renewals++;
      if (how === 'refresh') state.own++;
    }
    retryMs = 1000;
    el.userEmail.textContent = state.email;
    el.renewals.textContent = String(state.renewals);
    el.ownRefreshes.textContent = String(state.own);
    el.renewedAt.textContent = renewal ? new Date().toLocaleTimeString() : '–';
    if (!renewal || el.message.classList.contains('warn')) say('');
    if (!renewal) show('signed-in');
    tick();
    schedule(dueAt() - Date.now());
    loadSessions();
  }

  function shared() {
    return { token: state.token, expiresAt: state.expiresAt, lifetimeMs: state.lifetimeMs, email: state.email };
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(), Math.max(0, ms));
  }

  // signedOut forgets the token and shows the form with text.
  function signedOut(text, kind) {
    clearTimeout(timer);
    state.token = null;
    state.email = '';
    state.expiresAt = 0;
    state.lifetimeMs = 0;
    state.renewals = 0;
    state.own = 0;
    state.epoch++;
    el.sessions.replaceChildren();
    el.password.value = '';
    show('signed-out');
    say(text, kind || 'error');
  }

  // refresh renews the access token through the cookie unless another tab
  // already did. It resolves when this tab has a fresh token, has been
  // signed out, or has scheduled a retry.
  function refresh() {
    return withLock(async () => {
      if (!due()) return; // a fresh token came on the channel while we queued
      if (state.token === null && el.body.dataset.state !== 'loading') return; // signed out meanwhile
      const epoch = state.epoch;
      let resp;
      try {
        resp = await fetch(REFRESH_URL, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
      } catch (e) {
        retry('The server cannot be reached; retrying.');
        return;
      }
      if (epoch !== state.epoch) return; // signed in or out meanwhile
      if (resp.ok) {
        const body = await resp.json();
        const t = { token: body.accessToken, lifetimeMs: lifetimeOf(body.accessToken), email: state.email };
        t.expiresAt = Date.now() + t.lifetimeMs;
        if (!t.email) t.email = await whoAmI(t.token);
        adopt(t, 'refresh');
        post({ type: 'token', ...shared() });
        return;
      }
      const err = await errorOf(resp);
      if (resp.status === 429 || resp.status >= 500) {
        retry('The server is busy; retrying.', retryAfter(resp));
        return;
      }
      // 400 (missing, invalid, expired, reused or revoked), 404 (no such
      // user, or the cookie dialect is off), 403: signing in again is the
      // only way on.
      const wasSignedIn = state.token !== null;
      if (resp.status === 404 && err.error !== 'user_not_found') {
        // The cookie dialect is off (DIALECTS) or REFRESH_COOKIE=off.
        const text = 'This server does not refresh tokens through a cookie, so this page cannot keep you signed in.';
        signedOut(wasSignedIn ? text + ' Sign in again.' : text, 'warn');
        return;
      }
      if (err.error === 'refresh_token_missing' && !wasSignedIn) {
        signedOut(''); // no session yet: just the form
        return;
      }
      const text = reasons[err.error] || err.message || 'Your session has ended.';
      signedOut(text + ' Sign in again.');
      post({ type: 'signed-out', message: text + ' Sign in again.' });
    });
  }

  const reasons = {
    refresh_token_reused: 'This session was ended because its refresh token was used twice.',
    session_revoked: 'This session was revoked.',
    session_expired: 'This session reached its maximum lifetime.',
    refresh_token_expired: 'This session expired.',
    refresh_token_missing: 'This session has ended.',
    user_inactive: 'This account is deactivated.',
    user_not_found: 'This account no longer exists.',
  };

  // retry keeps the current view (a token that is still valid goes on
  // working) and tries again later.
  function retry(text, ms) {
    say(text, 'warn');
    schedule(ms || retryMs);
    retryMs = Math.min(retryMs * 2, 30 * 1000);
  }

  function retryAfter(resp) {
    const s = Number(resp.headers.get('Retry-After'));
    return s > 0 ? s * 1000 : 0;
  }

  async function errorOf(resp) {
    try {
      const b = await resp.json();
      return { error: String(b.error || ''), message: String(b.message || '') };
    } catch (e) {
      return { error: '', message: resp.status + ' ' + resp.statusText };
    }
  }

  async function whoAmI(token) {
    const resp = await fetch('/auth/me', { headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' }, cache: 'no-store' });
    if (!resp.ok) return '';
    const b = await resp.json();
    return (b.user && b.user.email) || '';
  }

  // api calls a Bearer route with a token that is not about to expire. A
  // 401 means the session is over. It returns the response, or null when
  // the request could not be made.
  async function api(method, path, body) {
    if (state.token && Date.now() >= state.expiresAt - 1000) await refresh();
    if (!state.token) return null;
    const epoch = state.epoch;
    const init = { method, headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      say('The server cannot be reached.', 'warn');
      return null;
    }
    if (epoch !== state.epoch) return null;
    if (resp.status === 401) {
      const err = await errorOf(resp);
      signedOut((err.message ? err.message + '. ' : 'Your session has ended. ') + 'Sign in again.');
      return null;
    }
    return resp;
  }

  // ---- sessions ----

  async function loadSessions() {
    const epoch = state.epoch;
    const resp = await api('GET', '/auth/sessions');
    if (!resp || epoch !== state.epoch) return;
    if (!resp.ok) {
      say('Could not list the sessions: ' + (await errorOf(resp)).message, 'warn');
      return;
    }
    const { sessions } = await resp.json();
    if (epoch !== state.epoch) return;
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
    const resp = await api('DELETE', '/auth/sessions/' + encodeURIComponent(id));
    if (!resp) return;
    if (!resp.ok && resp.status !== 404) {
      say('Could not revoke the session: ' + (await errorOf(resp)).message, 'warn');
      return;
    }
    if (current) {
      const text = 'This session was revoked. Sign in again.';
      signedOut(text, 'info');
      post({ type: 'signed-out', message: text });
      return;
    }
    say('Session ' + shortId(id) + ' revoked: it is signed out at its next refresh.', 'info');
    loadSessions();
  }

  // ---- sign-in and sign-out ----

  async function signIn(email, password) {
    el.signinButton.disabled = true;
    try {
      await withLock(async () => {
        let resp;
        try {
          resp = await fetch('/auth/sign-in', {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify({ email, password }),
          });
        } catch (e) {
          say('The server cannot be reached.', 'error');
          return;
        }
        if (!resp.ok) {
          const err = await errorOf(resp);
          const wait = retryAfter(resp);
          say((err.message || 'Sign-in failed.') + (wait ? ' Try again in ' + wait / 1000 + ' s.' : ''), 'error');
          return;
        }
        // Take what the page needs; the refresh token in the body is
        // dropped with it (the browser keeps it in the HttpOnly cookie).
        const { accessToken, expiresIn, user } = await resp.json();
        el.password.value = '';
        const t = { token: accessToken, lifetimeMs: expiresIn * 1000, email: user.email };
        t.expiresAt = Date.now() + t.lifetimeMs;
        state.token = null; // a new session, not a renewal
        adopt(t, 'sign-in');
        post({ type: 'token', ...shared() });
      });
    } finally {
      el.signinButton.disabled = false;
    }
  }

  async function signOut(scope) {
    if (state.token && Date.now() >= state.expiresAt - 1000) await refresh();
    if (!state.token) return;
    const token = state.token;
    await withLock(async () => {
      let resp;
      try {
        resp = await fetch('/auth/sign-out', {
          method: 'POST',
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ scope }),
        });
      } catch (e) {
        say('The server cannot be reached.', 'warn');
        return;
      }
      if (!resp.ok && resp.status !== 401) {
        say('Could not sign out: ' + (await errorOf(resp)).message, 'warn');
        return;
      }
      const text = scope === 'global' ? 'Signed out everywhere.' : 'Signed out.';
      signedOut(text, 'info');
      post({ type: 'signed-out', message: text });
    });
  }

  // ---- other tabs ----

  if (channel) {
    channel.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === 'token' && typeof m.token === 'string') {
        if (state.token === null || m.expiresAt > state.expiresAt) adopt(m, 'shared');
      } else if (m.type === 'signed-out' && (state.token !== null || el.body.dataset.state === 'loading')) {
        signedOut(String(m.message || 'Signed out in another tab.'), 'info');
      }
    };
  }

  // ---- wiring ----

  function tick() {
    if (!state.token) return;
    const left = state.expiresAt - Date.now();
    el.countdown.textContent = String(Math.max(0, Math.ceil(left / 1000)));
    el.countdown.classList.toggle('soon', Date.now() >= dueAt());
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
  // A hidden tab's timers are throttled; catch up when it is shown again.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.token && due()) refresh();
  });
  setInterval(tick, 250);

  // What password.js (the password forms) uses of this page: its session's
  // calls, its message line, its session list and its sign-out.
  self.latchkeyAccount = { api, say, loadSessions, signedOut };

  // On load the cookie may already hold a session: try it before showing
  // the form.
  show('loading');
  refresh();
})();
