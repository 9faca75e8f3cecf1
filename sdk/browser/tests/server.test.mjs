// The client against a real `latchkey serve` (LATCHKEY_URL; web/sdk_test.go
// starts one), in body mode: what Node (server-side rendering, scripts)
// gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, memoryStorage, isReauthRequired } from '../dist/index.js';
import { opener } from './helpers.mjs';

const base = process.env.LATCHKEY_URL;
const skip = base ? false : 'LATCHKEY_URL is not set (web/sdk_test.go sets it)';

test('sign-up, sign-in, calls, refresh, sessions, sign-out against the real server', { skip }, async (t) => {
  const email = `sdk-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'correct horse battery staple';
  const storage = memoryStorage();
  const c = createClient({ baseUrl: base, mode: 'body', storage });
  t.after(() => c.close());
  const u = await c.signUp(email, password);
  assert.equal(u.email, email);
  await assert.rejects(c.signUp(email, password), (e) => e.status === 409 && e.code === 'email_taken');
  await assert.rejects(c.signIn(email, 'wrong password'), (e) => e.status === 401 && e.code === 'invalid_credentials' && !isReauthRequired(e));
  assert.equal((await c.signIn(email, password)).email, email);
  assert.equal((await c.me()).email, email);
  const first = await storage.get();
  await c.refresh();
  const second = await storage.get();
  assert.notEqual(second.refreshToken, first.refreshToken, 'the refresh token rotated');
  assert.notEqual(second.accessToken, first.accessToken);
  const resp = await c.fetch(base + '/auth/me');
  assert.equal(resp.status, 200);
  assert.equal(resp.headers.get('Cache-Control'), 'no-store');
  // A second session, revoked from this one.
  const other = createClient({ baseUrl: base, mode: 'body', storage: memoryStorage() });
  t.after(() => other.close());
  await other.signIn(email, password);
  const sessions = await c.sessions();
  assert.equal(sessions.length, 2);
  const mine = sessions.find((s) => s.current);
  const theirs = sessions.find((s) => !s.current);
  await c.revokeSession(theirs.id);
  const events = [];
  other.on('signedOut', (e) => events.push(e));
  await assert.rejects(other.refresh(), (e) => e.code === 'session_revoked' && isReauthRequired(e));
  assert.deepEqual(events.map((e) => e.reason), ['session_revoked']);
  assert.equal(other.signedIn, false);
  // Sign out: the stored refresh token is refused from then on.
  await c.signOut();
  assert.equal(await storage.get(), null);
  const replay = await fetch(base + '/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken: second.refreshToken }) });
  assert.equal(replay.status, 400);
  assert.equal((await replay.json()).error, 'session_revoked');
  assert.ok(mine.id);
});

// A DPoP proof's iat must be the server's time within seconds (RFC 9449
// §11.1). A client whose clock is hours off learns the server's from the
// Date header of the first answer: the very first request (a sign-in
// straight after loading the page) must not fail for it.
test('DPoP: a client whose clock is hours off signs in at the first try', { skip }, async (t) => {
  const email = `sdk-skew-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'correct horse battery staple';
  const setup = createClient({ baseUrl: base, mode: 'body', storage: memoryStorage() });
  t.after(() => setup.close());
  await setup.signUp(email, password);
  for (const hours of [-3, 2]) {
    const c = createClient({ baseUrl: base, mode: 'body', storage: memoryStorage(), dpop: true, clock: { now: () => Date.now() + hours * 3_600_000 } });
    t.after(() => c.close());
    assert.equal((await c.signIn(email, password)).email, email, `clock ${hours} h off`);
    await c.refresh();
    assert.equal((await c.fetch(base + '/auth/me')).status, 200);
  }
});

// A password change ends the user's other sessions and keeps the caller's
// (here bound to a DPoP key, so the call carries a proof); a wrong current
// password changes nothing.
test('password change against the real server: the other session is revoked, this one refreshes on', { skip }, async (t) => {
  const email = `sdk-pw-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const [pw1, pw2, pw3] = ['correct horse battery staple', 'battery staple horse correct', 'staple correct battery horse'];
  const open = (extra = {}) => opener(t, { baseUrl: base, mode: 'body', storage: memoryStorage() })(extra);
  const mine = open({ dpop: true });
  const theirs = open();
  await mine.signUp(email, pw1);
  await mine.signIn(email, pw1);
  await theirs.signIn(email, pw1);
  const mineOut = [];
  mine.on('signedOut', (e) => mineOut.push(e.reason));
  const theirsOut = [];
  theirs.on('signedOut', (e) => theirsOut.push(e.reason));

  await assert.rejects(mine.changePassword('not my password', pw2), (e) => e.status === 400 && e.code === 'invalid_current_password' && !isReauthRequired(e));
  await assert.rejects(mine.changePassword(pw1, 'short'), (e) => e.status === 400 && e.code === 'invalid_request');
  await theirs.refresh(); // nothing changed: the other session goes on

  await mine.changePassword(pw1, pw2);
  await assert.rejects(theirs.refresh(), (e) => e.code === 'session_revoked' && isReauthRequired(e));
  assert.deepEqual(theirsOut, ['session_revoked']);
  assert.equal(theirs.signedIn, false);
  await mine.refresh();
  assert.equal((await mine.me()).email, email);
  assert.deepEqual(mineOut, []);
  assert.equal(mine.signedIn, true);
  await assert.rejects(open().signIn(email, pw1), (e) => e.code === 'invalid_credentials');

  // signOutOthers: false keeps the other sessions.
  const third = open();
  await third.signIn(email, pw2);
  await mine.changePassword(pw2, pw3, { signOutOthers: false });
  await third.refresh();
  await mine.refresh();
  assert.equal((await third.me()).email, email);
  assert.deepEqual(mineOut, []);
});

// The reset link's token, from the server's log: in development without
// SMTP_URL it writes each e-mail's link there (web/sdk_test.go serves the
// mail lines of the log at LATCHKEY_MAIL_LOG_URL). Waits (bounded) for the
// queued mail to be "sent".
async function resetToken(email) {
  const end = Date.now() + 15_000;
  for (;;) {
    const log = await (await fetch(process.env.LATCHKEY_MAIL_LOG_URL)).text();
    const lines = log.split('\n').filter((l) => l.includes(JSON.stringify(email)));
    const m = lines.length && /#reset=([A-Za-z0-9_-]{43})/.exec(lines[lines.length - 1]);
    if (m) return m[1];
    if (Date.now() > end) throw new Error('no reset link for ' + email + ' in the server log');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('password reset against the real server: the e-mailed token works once and ends every session', { skip: skip || (process.env.LATCHKEY_MAIL_LOG_URL ? false : 'LATCHKEY_MAIL_LOG_URL is not set (web/sdk_test.go sets it)') }, async (t) => {
  const email = `sdk-reset-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const [pw1, pw2] = ['correct horse battery staple', 'battery staple horse correct'];
  const open = (extra = {}) => opener(t, { baseUrl: base, mode: 'body', storage: memoryStorage() })(extra);
  const here = open({ dpop: true });
  const elsewhere = open();
  await here.signUp(email, pw1);
  await here.signIn(email, pw1);
  await elsewhere.signIn(email, pw1);
  const out = [];
  here.on('signedOut', (e) => out.push(e.reason));

  await here.requestPasswordReset(email);
  await here.requestPasswordReset('nobody-' + email); // the same answer
  const token = await resetToken(email);
  await here.resetPassword(token, pw2);
  // Every session is over: the one held here (found out by the refresh
  // resetPassword makes) and the other one.
  assert.equal(here.signedIn, false);
  assert.deepEqual(out, ['session_revoked']);
  await assert.rejects(elsewhere.refresh(), (e) => e.code === 'session_revoked');
  await assert.rejects(here.resetPassword(token, 'another new password'), (e) => e.status === 400 && e.code === 'email_token_invalid' && !isReauthRequired(e));
  await assert.rejects(here.verifyEmail(token), (e) => e.status === 400 && e.code === 'email_token_invalid');
  await here.resendVerification(email); // 202, verified or not
  await assert.rejects(open().signIn(email, pw1), (e) => e.code === 'invalid_credentials');
  assert.equal((await here.signIn(email, pw2)).email, email);
});
