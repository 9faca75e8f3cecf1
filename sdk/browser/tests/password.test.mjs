// The password lifecycle: changePassword is an authenticated call (token,
// DPoP proof and nonce, one resend after a 401 invalid_token) that leaves
// this session, and the tabs that share it, signed in; the reset and
// verification calls need no session and send neither token nor proof; a
// reset ends the session held here when it was the user's; the server's
// codes come through as LatchkeyError codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, memoryStorage, LatchkeyError, isReauthRequired } from '../dist/index.js';
import { createHash } from 'node:crypto';
import { startServer, fakeClock, until, signInAnswer, tokens, user, opener } from './helpers.mjs';

const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

function client(t, srv, extra = {}) {
  const storage = memoryStorage();
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage, clock: fakeClock().clock, ...extra });
  const events = [];
  c.on('tokens', (e) => events.push({ type: 'tokens', source: e.source }));
  c.on('signedOut', (e) => events.push({ type: 'signedOut', reason: e.reason }));
  t.after(() => c.close());
  return { c, events, storage };
}

async function failure(p) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LatchkeyError, String(e));
    return e;
  }
  assert.fail('the call succeeded');
}

test('changePassword: an authenticated call; the session and its tokens stay, in either mode', async (t) => {
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    if (r.path === '/auth/password') {
      if (r.body.currentPassword === 'wrong') return { status: 400, body: { error: 'invalid_current_password', message: 'the current password is wrong' } };
      if (r.body.currentPassword === 'often') return { status: 429, headers: { 'Retry-After': '30' }, body: { error: 'rate_limited', message: 'too many' } };
      return { status: 204 };
    }
    return { status: 500 };
  });
  const { c, events, storage } = client(t, srv);
  await c.signIn('ann@example.com', 'old');
  const token = await c.getAccessToken();
  const before = await storage.get();
  await c.changePassword('old', 'new');
  await c.changePassword('new', 'newer', { signOutOthers: false });
  const calls = srv.requests.filter((r) => r.path === '/auth/password');
  assert.deepEqual(
    calls.map((r) => [r.method, r.headers.authorization, r.headers['content-type'], r.body]),
    [
      ['POST', 'Bearer ' + token, 'application/json', { currentPassword: 'old', newPassword: 'new', signOutOthers: true }],
      ['POST', 'Bearer ' + token, 'application/json', { currentPassword: 'new', newPassword: 'newer', signOutOthers: false }],
    ],
    'signOutOthers is sent, true unless asked otherwise',
  );
  const wrong = await failure(c.changePassword('wrong', 'x'));
  assert.deepEqual([wrong.status, wrong.code, wrong.reauthRequired, isReauthRequired(wrong)], [400, 'invalid_current_password', false, false]);
  const limited = await failure(c.changePassword('often', 'x'));
  assert.deepEqual([limited.status, limited.code, limited.retryAfterMs, limited.reauthRequired], [429, 'rate_limited', 30_000, false]);
  assert.equal(c.signedIn, true);
  assert.deepEqual(await storage.get(), before, 'the tokens are the same');
  assert.deepEqual(events, [{ type: 'tokens', source: 'sign-in' }], 'no signedOut, no refresh');
  assert.equal(srv.requests.filter((r) => r.path === '/token').length, 0);
});

test('changePassword: a 401 invalid_token refreshes and resends once, with the same body', async (t) => {
  let n = 0;
  let refused = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    if (r.path === '/token') return tokens(++n, 100);
    if (r.path === '/auth/password') {
      if (!refused++) return { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token', message: 'expired' } };
      return { status: 204 };
    }
    return { status: 500 };
  });
  const { c } = client(t, srv);
  await c.signIn('ann@example.com', 'old');
  const first = await c.getAccessToken();
  await c.changePassword('old', 'new');
  const calls = srv.requests.filter((r) => r.path !== '/auth/sign-in');
  assert.deepEqual(
    calls.map((r) => r.path),
    ['/auth/password', '/token', '/auth/password'],
  );
  assert.equal(calls[0].headers.authorization, 'Bearer ' + first);
  assert.equal(calls[2].headers.authorization, 'Bearer ' + (await c.getAccessToken()));
  assert.notEqual(first, await c.getAccessToken());
  assert.deepEqual(calls[2].body, calls[0].body);
  // A second 401 (a session that is over) is the caller's to see: no loop.
  refused = 0;
  const srv2 = await startServer(t, (r) =>
    r.path === '/auth/sign-in' ? signInAnswer(0, 100) : r.path === '/token' ? tokens(++n, 100) : { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token', message: 'no' } },
  );
  const { c: c2 } = client(t, srv2);
  await c2.signIn('ann@example.com', 'old');
  const e = await failure(c2.changePassword('old', 'new'));
  assert.equal(e.code, 'invalid_token');
  assert.equal(srv2.requests.filter((r) => r.path === '/auth/password').length, 2);
});

test('changePassword with DPoP: a proof with ath by the session key, the nonce challenge followed once', async (t) => {
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return tokens(0, 100, { user, serverTime: new Date().toISOString(), tokenType: 'DPoP' });
    if (r.path === '/auth/password') {
      if (dec(r.headers.dpop.split('.')[1]).nonce !== 'n-1')
        return { status: 401, headers: { 'WWW-Authenticate': 'DPoP algs="ES256", error="use_dpop_nonce"', 'DPoP-Nonce': 'n-1' }, body: { error: 'use_dpop_nonce', message: 'nonce' } };
      return { status: 204 };
    }
    return { status: 500 };
  });
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), dpop: true });
  t.after(() => c.close());
  await c.signIn('ann@example.com', 'old');
  const token = await c.getAccessToken();
  await c.changePassword('old', 'new');
  const calls = srv.requests.filter((r) => r.path === '/auth/password');
  assert.equal(calls.length, 2);
  for (const r of calls) assert.equal(r.headers.authorization, 'DPoP ' + token);
  assert.equal(dec(calls[1].headers.dpop.split('.')[1]).ath, createHash('sha256').update(token).digest('base64url'), 'ath: the access token\'s hash');
  const [p1, p2] = calls.map((r) => dec(r.headers.dpop.split('.')[1]));
  assert.deepEqual([p2.htm, p2.htu, p2.nonce], ['POST', srv.url + '/auth/password', 'n-1']);
  assert.equal(p1.nonce, undefined);
  assert.notEqual(p1.jti, p2.jti);
  const signIn = dec(srv.requests[0].headers.dpop.split('.')[0]);
  assert.deepEqual(dec(calls[1].headers.dpop.split('.')[0]).jwk, signIn.jwk, 'the session key');
  assert.deepEqual(calls[1].body, { currentPassword: 'old', newPassword: 'new', signOutOthers: true });
});

test('changePassword in one tab signs no tab out: they share the session that stays', async (t) => {
  let n = 0;
  const srv = await startServer(t, (r) =>
    r.path === '/auth/sign-in' ? signInAnswer(0, 900) : r.path === '/auth/password' ? { status: 204 } : r.path === '/api/refresh/refreshtoken' ? tokens(++n, 900) : { status: 500 },
  );
  const open = opener(t, { baseUrl: srv.url, mode: 'cookie', crossTab: true });
  const tab1 = open();
  const tab2 = open();
  const seen = [];
  tab2.on('tokens', (e) => seen.push(e.accessToken));
  tab2.on('signedOut', (e) => seen.push('signedOut:' + e.reason));
  await tab1.signIn('ann@example.com', 'old');
  const signedIn = await tab1.getAccessToken();
  await until(() => seen.includes(signedIn), "tab1's sign-in reaching tab2");
  await tab1.changePassword('old', 'new');
  await tab1.changePassword('new', 'newer', { signOutOthers: false });
  // Messages of one tab arrive in order: once tab1's next refresh has
  // reached tab2, anything the changes posted would have too.
  await tab1.refresh();
  const renewed = await tab1.getAccessToken();
  await until(() => seen.includes(renewed), "tab1's refresh reaching tab2");
  assert.deepEqual(seen, [signedIn, renewed], 'tab2 was not signed out');
  assert.equal(tab1.signedIn && tab2.signedIn, true);
});

test('reset and verification calls: no session needed, no token, no proof sent; codes come through', async (t) => {
  const srv = await startServer(t, (r) => {
    const b = r.body || {};
    if (r.path === '/auth/recover' || r.path === '/auth/verify/resend') {
      if (b.email === 'often@example.com') return { status: 429, headers: { 'Retry-After': '60' }, body: { error: 'rate_limited', message: 'too many' } };
      if (b.email === 'nomail@example.com') return { status: 501, body: { error: 'not_implemented', message: 'no mail server: set SMTP_URL' } };
      return { status: 202 };
    }
    if (r.path === '/auth/reset' || r.path === '/auth/verify') {
      if (b.token === 'old') return { status: 400, body: { error: 'email_token_expired', message: 'the link has expired' } };
      if (b.token !== 'good') return { status: 400, body: { error: 'email_token_invalid', message: 'the link is not valid' } };
      return { status: 204 };
    }
    return { status: 500 };
  });
  // dpop on: these calls still go without a proof (nor a key).
  const { c, events } = client(t, srv, { dpop: true });
  await c.requestPasswordReset('ann@example.com');
  await c.resendVerification('ann@example.com');
  await c.verifyEmail('good');
  await c.resetPassword('good', 'new password');
  assert.deepEqual(
    srv.requests.map((r) => [r.method, r.path, r.body]),
    [
      ['POST', '/auth/recover', { email: 'ann@example.com' }],
      ['POST', '/auth/verify/resend', { email: 'ann@example.com' }],
      ['POST', '/auth/verify', { token: 'good' }],
      ['POST', '/auth/reset', { token: 'good', newPassword: 'new password' }],
    ],
    'nothing else: no refresh when not signed in',
  );
  for (const r of srv.requests) {
    assert.equal(r.headers.authorization, undefined);
    assert.equal(r.headers.dpop, undefined);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  const codes = [];
  for (const p of [
    c.resetPassword('used', 'x'),
    c.resetPassword('old', 'x'),
    c.verifyEmail('used'),
    c.verifyEmail('old'),
    c.requestPasswordReset('often@example.com'),
    c.resendVerification('nomail@example.com'),
  ]) {
    const e = await failure(p);
    assert.equal(e.reauthRequired, false, e.code);
    codes.push([e.status, e.code, e.retryAfterMs]);
  }
  assert.deepEqual(codes, [
    [400, 'email_token_invalid', 0],
    [400, 'email_token_expired', 0],
    [400, 'email_token_invalid', 0],
    [400, 'email_token_expired', 0],
    [429, 'rate_limited', 60_000],
    [501, 'not_implemented', 0],
  ]);
  assert.deepEqual(events, []);
  // No server: the SDK's own code, nothing thrown but a LatchkeyError.
  const down = createClient({ baseUrl: 'http://127.0.0.1:1', mode: 'body', storage: memoryStorage() });
  t.after(() => down.close());
  assert.equal((await failure(down.requestPasswordReset('ann@example.com'))).code, 'network_error');
});

test('resetPassword while signed in: the session held here ends when it was the user\'s, and goes on when not', async (t) => {
  let n = 0;
  let revoked = true;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 100);
    if (r.path === '/auth/reset') return { status: 204 };
    if (r.path === '/token') return revoked ? { status: 400, body: { error: 'session_revoked', message: 'the session was revoked' } } : tokens(++n, 100);
    return { status: 500 };
  });
  const { c, events, storage } = client(t, srv);
  await c.signIn('ann@example.com', 'old');
  await c.resetPassword('good', 'new');
  assert.deepEqual(
    srv.requests.map((r) => r.path),
    ['/auth/sign-in', '/auth/reset', '/token'],
  );
  assert.equal(c.signedIn, false);
  assert.equal(await storage.get(), null);
  assert.deepEqual(events.at(-1), { type: 'signedOut', reason: 'session_revoked' });
  // Another user's session (the refresh succeeds) is kept.
  revoked = false;
  const other = client(t, srv);
  await other.c.signIn('bob@example.com', 'pw');
  await other.c.resetPassword('good', 'new');
  assert.equal(other.c.signedIn, true);
  assert.deepEqual(other.events.map((e) => e.type + ':' + (e.source || e.reason)), ['tokens:sign-in', 'tokens:refresh']);
});
