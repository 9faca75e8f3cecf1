// In Node (server-side rendering, scripts) a signed-in client does not
// keep the process alive: its refresh timer and channel are unref'd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const script = `
import http from 'node:http';
import { createClient } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const srv = http.createServer((q, r) => {
  r.setHeader('Content-Type', 'application/json');
  r.end(JSON.stringify({ accessToken: 'a.eyJ9.c', refreshToken: 'r', tokenType: 'Bearer', expiresIn: 900, user: { email: 'ann@example.com' } }));
});
srv.listen(0, '127.0.0.1', async () => {
  const c = createClient({ baseUrl: 'http://127.0.0.1:' + srv.address().port, mode: 'cookie' });
  await c.signIn('ann@example.com', 'pw');
  srv.closeAllConnections();
  srv.close();
  console.log('signed in:', c.signedIn, c.lockKind);
});
`;

test('a script with a signed-in client ends by itself', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'the script did not end within 20 s: ' + (r.error && r.error.message));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /signed in: true local/);
});

// In Node every BroadcastChannel of a name reaches every other one in the
// process (and its workers): a server rendering pages for many users holds
// one client per user, and none may hand its tokens to another.
test('clients in one Node process do not share sessions', async (t) => {
  const { createClient } = await import('../dist/index.js');
  const { startServer, signInAnswer } = await import('./helpers.mjs');
  const srv = await startServer(t, (r) =>
    r.path === '/auth/sign-in' ? signInAnswer(0, 900) : { status: 400, body: { error: 'refresh_token_missing', message: 'no cookie' } },
  );
  const bob = createClient({ baseUrl: srv.url, mode: 'cookie' });
  const ann = createClient({ baseUrl: srv.url, mode: 'cookie' });
  t.after(() => (ann.close(), bob.close()));
  const got = [];
  bob.on('tokens', (e) => got.push(e.source));
  await ann.signIn('ann@example.com', 'pw');
  assert.equal(await bob.resume(), false, "bob's client took up ann's session");
  assert.equal(bob.signedIn, false);
  assert.deepEqual(got, []);
  assert.equal(ann.lockKind, 'local');
});

// Server-side rendering imports the app's modules in Node, where a client
// made at the top of a module with a baseUrl relative to the page (the
// usual "/" of an app served with its Latchkey) has no page to resolve it
// against. Making the client must not throw (the render would fail); using
// it says why it cannot work.
test('a client with a relative baseUrl can be made outside a page', async () => {
  const { createClient, LatchkeyError } = await import('../dist/index.js');
  assert.equal(typeof location, 'undefined');
  for (const mode of ['cookie', 'body']) {
    const c = createClient({ baseUrl: '/', mode, dpop: true });
    assert.equal(c.signedIn, false);
    assert.equal(await c.resume(), false);
    for (const call of [() => c.signIn('ann@example.com', 'pw'), () => c.signUp('ann@example.com', 'pw'), () => c.refresh(), () => c.me()]) {
      await assert.rejects(call(), (e) => e instanceof LatchkeyError && (e.code === 'no_server' || e.code === 'not_signed_in') && /relative|not signed in/.test(e.message));
    }
    await assert.rejects(c.signIn('ann@example.com', 'pw'), (e) => e.code === 'no_server' && !e.reauthRequired);
    c.close();
  }
});
