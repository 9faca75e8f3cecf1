// The client against a real `latchkey serve` (LATCHKEY_URL; web/sdk_test.go
// starts one), in body mode: what Node (server-side rendering, scripts)
// gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, memoryStorage, isReauthRequired } from '../dist/index.js';

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
