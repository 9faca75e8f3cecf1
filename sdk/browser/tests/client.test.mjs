// Unit tests of the client's schedule, retries, error mapping and fetch,
// against a scripted HTTP server on loopback and a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, memoryStorage, webStorage, LatchkeyError, isReauthRequired } from '../dist/index.js';
import { startServer, fakeClock, until, settle, tokens, signInAnswer, jwt, user } from './helpers.mjs';

function client(t, srv, fc, extra = {}) {
  const storage = extra.storage || memoryStorage();
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage, clock: fc.clock, ...extra });
  const events = [];
  c.on('tokens', (e) => events.push({ type: 'tokens', ...e }));
  c.on('signedOut', (e) => events.push({ type: 'signedOut', ...e }));
  c.on('retrying', (e) => events.push({ type: 'retrying', code: e.error.code, retryInMs: e.retryInMs }));
  t.after(() => c.close());
  return { c, events, storage };
}

const refreshes = (srv) => srv.requests.filter((r) => r.path === '/token');

test('a refresh is due a fifth of the lifetime before expiry, timed from expiresIn on this clock', async (t) => {
  let n = 0;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : tokens(++n, 100)));
  const fc = fakeClock();
  const { c, events, storage } = client(t, srv, fc);
  assert.deepEqual(await c.signIn('ann@example.com', 'pw'), user);
  assert.deepEqual(srv.requests[0].body, { email: 'ann@example.com', password: 'pw' });
  assert.equal(events[0].source, 'sign-in');
  assert.equal(events[0].expiresAt, fc.now + 100_000);
  await fc.advance(79_999);
  assert.equal(refreshes(srv).length, 0, 'refreshed before it was due');
  let stored;
  c.on('tokens', async () => (stored = await storage.get()));
  await fc.advance(1);
  await until(() => events.length === 2, 'the refresh');
  assert.deepEqual(refreshes(srv)[0].body, { refreshToken: 'rt-0' });
  assert.equal(events[1].source, 'refresh');
  await until(() => stored, 'the storage read');
  assert.equal(stored.refreshToken, 'rt-1', 'the new tokens are stored before the event');
  assert.equal(await c.getAccessToken(), events[1].accessToken);
  // The next one is due 80 s after the refresh was sent.
  assert.deepEqual(fc.timers(), [80_000]);
});

test('a wrong client clock does not matter: the schedule comes from expiresIn, not exp', async (t) => {
  // The server's time is 2026; this client believes it is 2001. The
  // token's exp (in 2026) would look valid for 25 years.
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 60, '2026-06-01T12:00:00Z') : tokens(1, 60)));
  const fc = fakeClock(Date.parse('2001-01-01T00:00:00Z'));
  const { c, events } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  assert.equal(events[0].expiresAt, fc.now + 60_000);
  await fc.advance(48_000);
  await until(() => refreshes(srv).length === 1, 'the refresh at 48 s');
  // A cookie refresh answers the access token alone: its lifetime is exp - iat.
  const srv2 = await startServer(t, () => ({ body: { accessToken: jwt({ iat: Date.parse('2026-06-01T12:00:00Z') / 1000, exp: Date.parse('2026-06-01T12:00:00Z') / 1000 + 30 }) } }));
  const c2 = createClient({ baseUrl: srv2.url, mode: 'cookie', crossTab: false, clock: fc.clock });
  t.after(() => c2.close());
  let got;
  c2.on('tokens', (e) => (got = e));
  assert.equal(await c2.resume(), true);
  assert.equal(srv2.requests[0].path, '/api/refresh/refreshtoken');
  assert.equal(got.expiresAt, fc.now + 30_000);
});

test('errors carry the server reason and say whether to sign in again', async (t) => {
  const srv = await startServer(t, (r) => {
    if (r.body && r.body.password === 'wrong') return { status: 401, body: { error: 'invalid_credentials', message: 'wrong email or password' } };
    if (r.body && r.body.password === 'busy') return { status: 429, headers: { 'Retry-After': '7' }, body: { error: 'rate_limited', message: 'too many' } };
    if (r.body && r.body.password === 'proxy') return { status: 502, headers: { 'Content-Type': 'text/html' }, body: '<html>bad gateway</html>' };
    if (r.body && r.body.password === 'date') return { status: 503, headers: { Date: 'Wed, 01 Jan 2020 00:00:00 GMT', 'Retry-After': 'Wed, 01 Jan 2020 00:00:12 GMT' }, body: { error: 'temporarily_unavailable', message: 'later' } };
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    return { status: 400, body: { error: 'refresh_token_reused', message: 'the refresh token was already used' } };
  });
  const fc = fakeClock();
  const { c, events, storage } = client(t, srv, fc);
  const fail = async (pw) => {
    try {
      await c.signIn('ann@example.com', pw);
    } catch (e) {
      return e;
    }
    assert.fail('sign-in with ' + pw + ' succeeded');
  };
  let e = await fail('wrong');
  assert.ok(e instanceof LatchkeyError);
  assert.deepEqual([e.status, e.code, e.message, e.reauthRequired, e.retryAfterMs], [401, 'invalid_credentials', 'wrong email or password', false, 0]);
  e = await fail('busy');
  assert.deepEqual([e.status, e.code, e.retryAfterMs], [429, 'rate_limited', 7000]);
  e = await fail('proxy');
  assert.deepEqual([e.status, e.code, e.reauthRequired], [502, 'temporarily_unavailable', false]);
  e = await fail('date');
  assert.equal(e.retryAfterMs, 12_000, 'an HTTP-date Retry-After is measured from the answer\'s Date');
  await c.signIn('ann@example.com', 'pw');
  assert.equal(c.signedIn, true);
  // The refresh is refused for good: signed out with the reason, the storage forgotten.
  await assert.rejects(c.refresh(), (err) => isReauthRequired(err) && err.code === 'refresh_token_reused' && err.status === 400);
  assert.equal(c.signedIn, false);
  assert.equal(await storage.get(), null);
  assert.deepEqual(events.at(-1), { type: 'signedOut', reason: 'refresh_token_reused', message: 'the refresh token was already used' });
  await assert.rejects(c.getAccessToken(), (err) => err.code === 'not_signed_in' && isReauthRequired(err));
});

test('a lost answer is retried promptly with the same refresh token', async (t) => {
  let calls = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    return ++calls === 1 ? 'drop' : tokens(calls, 100);
  });
  const fc = fakeClock();
  const { c, events } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const p = c.refresh();
  await until(() => events.some((e) => e.type === 'retrying'), 'the retrying event');
  assert.deepEqual(events.at(-1), { type: 'retrying', code: 'network_error', retryInMs: 250 });
  await fc.advance(250);
  await p;
  assert.deepEqual(refreshes(srv).map((r) => r.body.refreshToken), ['rt-0', 'rt-0']);
  assert.equal(events.at(-1).source, 'refresh');
});

test('503 with Retry-After: the retry waits for it, inside the reuse interval', async (t) => {
  let calls = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    return ++calls < 3 ? { status: 503, headers: { 'Retry-After': '2' }, body: { error: 'temporarily_unavailable', message: 'database unavailable' } } : tokens(calls);
  });
  const fc = fakeClock();
  const { c, events } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const t0 = fc.now;
  const at = [];
  srv.requests.length = 0;
  const p = c.refresh();
  for (let i = 1; i <= 3; i++) {
    await until(() => refreshes(srv).length === i, 'attempt ' + i);
    at.push(fc.now - t0);
    if (i < 3) {
      await until(() => events.filter((e) => e.type === 'retrying').length === i, 'retrying ' + i);
      await fc.advance(2000);
    }
  }
  await p;
  assert.deepEqual(at, [0, 2000, 4000]);
  assert.deepEqual(events.filter((e) => e.type === 'retrying').map((e) => e.retryInMs), [2000, 2000]);
  assert.deepEqual(new Set(refreshes(srv).map((r) => r.body.refreshToken)), new Set(['rt-0']));
});

test('stalled attempts are cut at 3 s and retried only while they end within the reuse interval', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : 'stall'));
  const fc = fakeClock();
  const { c, events } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const t0 = fc.now;
  const at = [];
  const p = c.refresh().catch((e) => e);
  for (let i = 1; i <= 3; i++) {
    await until(() => refreshes(srv).length === i, 'attempt ' + i);
    at.push(fc.now - t0);
    await fc.advance(3000); // the attempt times out
    if (i < 3) await fc.advance(i === 1 ? 250 : 500);
  }
  const err = await p;
  assert.equal(err.code, 'timeout');
  assert.deepEqual(at, [0, 3250, 6750], 'attempts at 0, 3.25 s and 6.75 s; a fourth would end after 10 s');
  assert.equal(refreshes(srv).length, 3);
  // Then refreshes hold for the backoff (1 s): a call with a valid token
  // goes on with it without a request.
  const tok = await c.getAccessToken();
  assert.equal(tok, events[0].accessToken);
  assert.equal(refreshes(srv).length, 3);
});

test('with no reuse interval there is no prompt retry', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : 'drop'));
  const fc = fakeClock();
  const { c } = client(t, srv, fc, { reuseIntervalMs: 0 });
  await c.signIn('ann@example.com', 'pw');
  await assert.rejects(c.refresh(), (e) => e.code === 'network_error');
  assert.equal(refreshes(srv).length, 1);
});

test('after a failure, refreshes hold for Retry-After; a valid token keeps working, an expired one fails with "retry later"', async (t) => {
  let calls = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 10);
    if (r.path === '/auth/me') return { body: { user } };
    return ++calls === 1 ? { status: 429, headers: { 'Retry-After': '30' }, body: { error: 'rate_limited', message: 'slow down' } } : tokens(calls, 10);
  });
  const fc = fakeClock();
  const { c, events } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  await fc.advance(8000); // due: the timer refreshes, 429
  await until(() => events.some((e) => e.type === 'retrying'), 'the hold');
  assert.deepEqual(events.at(-1), { type: 'retrying', code: 'rate_limited', retryInMs: 30_000 });
  const resp = await c.fetch(srv.url + '/auth/me');
  assert.equal(resp.status, 200, 'a call with the still valid token');
  assert.equal(refreshes(srv).length, 1, 'no refresh while the hold lasts');
  await fc.advance(3000); // expired, still held
  await assert.rejects(c.getAccessToken(), (e) => e.code === 'rate_limited' && !isReauthRequired(e));
  assert.equal(refreshes(srv).length, 1);
  await fc.advance(27_000); // the hold is over: the timer refreshes
  await until(() => refreshes(srv).length === 2, 'the refresh after the hold');
  await until(() => events.at(-1).source === 'refresh', 'new tokens');
});

test('calls that need a refresh at once share one request', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 10) : tokens(1, 10)));
  const fc = fakeClock();
  const { c } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const all = await Promise.all(Array.from({ length: 8 }, () => c.getAccessToken()));
  assert.equal(new Set(all).size, 1);
  assert.equal(refreshes(srv).length, 0, 'a fresh token needs no refresh');
  fc.jump(11_000); // expired, and the timer has not fired (a throttled tab)
  const renewed = await Promise.all(Array.from({ length: 8 }, () => c.getAccessToken()));
  assert.equal(new Set(renewed).size, 1);
  assert.notEqual(renewed[0], all[0]);
  assert.equal(refreshes(srv).length, 1, 'eight callers, one refresh');
});

test('fetch: the token goes to the server and apiOrigins only; a 401 invalid_token refreshes and resends once', async (t) => {
  let me = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    if (r.path === '/token') return tokens(refreshes(srv).length, 100);
    if (r.path === '/always-401') return { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="x", error="invalid_token"' }, body: { error: 'invalid_token', message: 'expired' } };
    if (r.path === '/no-challenge') return { status: 401, body: { error: 'nope', message: 'nope' } };
    ++me;
    return me === 1 ? { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="latchkey", error="invalid_token"' }, body: { error: 'invalid_token', message: 'token expired' } } : { body: { user } };
  });
  const other = await startServer(t, () => ({ body: {} }));
  const fc = fakeClock();
  const { c } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const first = await c.getAccessToken();
  const resp = await c.fetch(srv.url + '/auth/me', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"x":1}' });
  assert.equal(resp.status, 200);
  const sent = srv.requests.filter((r) => r.path === '/auth/me');
  assert.equal(sent.length, 2);
  assert.equal(sent[0].headers.authorization, 'Bearer ' + first);
  assert.notEqual(sent[1].headers.authorization, 'Bearer ' + first);
  assert.deepEqual(sent[1].body, { x: 1 }, 'the body is sent again');
  assert.equal(refreshes(srv).length, 1);
  // A target that refuses every token costs no more refreshes: the token
  // in use came from a refresh a 401 asked for.
  assert.equal((await c.fetch(srv.url + '/always-401')).status, 401);
  assert.equal((await c.fetch(srv.url + '/always-401')).status, 401);
  assert.equal(refreshes(srv).length, 1, 'the token got after a 401 is not refreshed again for a 401');
  assert.equal(srv.requests.filter((r) => r.path === '/always-401').length, 2, 'each call sent once');
  // No challenge: the 401 is the app's.
  assert.equal((await c.fetch(srv.url + '/no-challenge')).status, 401);
  assert.equal(refreshes(srv).length, 1);
  // Another origin gets no token.
  await c.fetch(other.url + '/x');
  assert.equal(other.requests[0].headers.authorization, undefined);
  const c2 = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), clock: fc.clock, apiOrigins: [other.url] });
  t.after(() => c2.close());
  await c2.signIn('ann@example.com', 'pw');
  await c2.fetch(other.url + '/y');
  assert.match(other.requests[1].headers.authorization, /^Bearer /);
});

test('sign-out: local and global end the session here; others keeps it', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : { status: 204 }));
  const fc = fakeClock();
  const { c, events, storage } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const token = await c.getAccessToken();
  await c.signOut({ scope: 'others' });
  assert.equal(c.signedIn, true);
  await c.signOut({ scope: 'global' });
  const outs = srv.requests.filter((r) => r.path === '/auth/sign-out');
  assert.deepEqual(outs.map((r) => [r.body.scope, r.headers.authorization]), [
    ['others', 'Bearer ' + token],
    ['global', 'Bearer ' + token],
  ]);
  assert.equal(c.signedIn, false);
  assert.equal(await storage.get(), null);
  assert.deepEqual(events.at(-1), { type: 'signedOut', reason: 'signed_out', message: 'Signed out everywhere.' });
  assert.deepEqual(fc.timers(), [], 'no refresh is scheduled after sign-out');
});

test('storage adapters: memory, Web Storage; resume takes up stored tokens', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : tokens(1, 100)));
  const fc = fakeClock();
  // A Storage as the Web Storage API defines it (Node has none).
  const data = new Map();
  const store = {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
  const ws = webStorage(store, 'app-tokens');
  assert.equal(ws.shared, false);
  assert.equal(memoryStorage().shared, false);
  const { c } = client(t, srv, fc, { storage: ws });
  await c.signIn('ann@example.com', 'pw');
  const saved = JSON.parse(data.get('app-tokens'));
  assert.equal(saved.refreshToken, 'rt-0');
  // A new page (a reload) resumes from the storage without a request.
  const before = srv.requests.length;
  const { c: again, events } = client(t, srv, fc, { storage: ws });
  assert.equal(await again.resume(), true);
  assert.equal(events[0].source, 'storage');
  assert.equal(await again.getAccessToken(), saved.accessToken);
  assert.equal(srv.requests.length, before);
  // Expired while away: resume refreshes with the stored refresh token.
  c.close();
  again.close();
  await fc.advance(200_000);
  const { c: late } = client(t, srv, fc, { storage: ws });
  assert.equal(await late.resume(), true);
  assert.equal(refreshes(srv).at(-1).body.refreshToken, 'rt-0');
  assert.equal(JSON.parse(data.get('app-tokens')).refreshToken, 'rt-1');
  await late.signOut();
  assert.equal(data.has('app-tokens'), false);
  assert.equal(await client(t, srv, fc, { storage: ws }).c.resume(), false);
});

test('cookie mode never sees the refresh token and sends credentials', async (t) => {
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : { status: 400, body: { error: 'refresh_token_missing', message: 'no cookie' } }));
  const fc = fakeClock();
  let seen;
  const c = createClient({
    baseUrl: srv.url,
    mode: 'cookie',
    crossTab: false,
    clock: fc.clock,
    fetch: (u, init) => {
      seen = init;
      return fetch(u, init);
    },
  });
  t.after(() => c.close());
  assert.equal(await c.resume(), false, 'no cookie: not signed in, quietly');
  assert.equal(srv.requests[0].method, 'GET');
  assert.equal(srv.requests[0].path, '/api/refresh/refreshtoken');
  await c.signIn('ann@example.com', 'pw');
  assert.equal(seen.credentials, 'include', 'the sign-in must be allowed to set the cookie');
  // Body mode asks the browser to ignore the cookie.
  const b = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), clock: fc.clock, fetch: (u, init) => ((seen = init), fetch(u, init)) });
  await b.signIn('ann@example.com', 'pw');
  assert.equal(seen.credentials, 'omit');
});

// Timers take at most 2^31 - 1 ms (HTML "timer initialisation steps";
// Node's setTimeout alike): a longer delay fires at once, and a refresh
// timer re-armed for a token not yet due would spin. JWT_EXPIRES_IN has no
// upper bound, and a client clock moved back leaves a long wait too.
test('a refresh due in more than 24.8 days never asks for a longer timer', async (t) => {
  const days30 = 30 * 24 * 3600;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, days30) : tokens(1, days30)));
  const fc = fakeClock();
  const asked = [];
  const clock = { ...fc.clock, setTimeout: (fn, ms) => (asked.push(ms), fc.clock.setTimeout(fn, ms)) };
  const { c } = client(t, srv, fc, { clock });
  await c.signIn('ann@example.com', 'pw');
  assert.ok(asked.length > 0);
  assert.ok(Math.max(...asked) <= 2 ** 31 - 1, `asked for a ${Math.max(...asked)} ms timer`);
  // The shorter timer re-arms without refreshing until the token is due.
  await fc.advance(days30 * 800);
  assert.equal(refreshes(srv).length, 0, 'refreshed before it was due');
  await fc.advance(days30 * 200);
  await until(() => refreshes(srv).length === 1, 'the refresh when due');
  assert.ok(Math.max(...asked) <= 2 ** 31 - 1);
});

// Two clients of two servers that share a storage (two apps of one origin
// left with the default name share its IndexedDB database) must not take
// up each other's tokens: the refresh token of one server would be sent to
// the other.
test('tokens stored by a client of another server are not used', async (t) => {
  const x = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : tokens(1, 100)));
  const y = await startServer(t, () => ({ status: 400, body: { error: 'refresh_token_invalid', message: 'not ours' } }));
  const fc = fakeClock();
  const storage = memoryStorage(); // one storage, as one IndexedDB database
  const { c: cx } = client(t, x, fc, { storage });
  await cx.signIn('ann@example.com', 'pw');
  const { c: cy } = client(t, y, fc, { storage });
  assert.equal(await cy.resume(), false);
  await assert.rejects(cy.refresh(), (e) => e.code === 'not_signed_in');
  assert.equal(y.requests.length, 0, "the other server's refresh token was sent");
  assert.equal((await storage.get()).refreshToken, 'rt-0', "the other client's tokens are left alone");
});

// A sign-out is refused 401 invalid_token when the access token is no good
// though this client believes it valid (the clock was set back since it
// got it): the session is alive, and with it the refresh token (the cookie
// stays; the next page takes the session up again). The client refreshes
// and signs out with the new token; only when that is refused too is the
// session taken for over.
test('a sign-out refused for its access token refreshes and signs out again', async (t) => {
  let outs = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    if (r.path === '/token') return tokens(1, 100);
    if (++outs === 1) return { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token', message: 'the access token expired' } };
    return { status: 204 };
  });
  const fc = fakeClock();
  const { c, storage } = client(t, srv, fc);
  await c.signIn('ann@example.com', 'pw');
  const first = await c.getAccessToken();
  await c.signOut();
  const sent = srv.requests.filter((r) => r.path === '/auth/sign-out');
  assert.equal(sent.length, 2, 'signed out again after the refresh');
  assert.equal(sent[0].headers.authorization, 'Bearer ' + first);
  assert.notEqual(sent[1].headers.authorization, 'Bearer ' + first);
  assert.deepEqual(refreshes(srv).map((r) => r.body.refreshToken), ['rt-0']);
  assert.equal(c.signedIn, false);
  assert.equal(await storage.get(), null);
  // Refused again: the session is over all the same.
  const srv2 = await startServer(t, (r) =>
    r.path === '/auth/sign-in' ? signInAnswer(0, 100) : r.path === '/token' ? tokens(1, 100) : { status: 401, body: { error: 'invalid_token', message: 'no' } },
  );
  const { c: c2 } = client(t, srv2, fc);
  await c2.signIn('ann@example.com', 'pw');
  await c2.signOut();
  assert.equal(c2.signedIn, false);
  assert.equal(srv2.requests.filter((r) => r.path === '/auth/sign-out').length, 2);
});
