// DPoP (RFC 9449): the proofs the client sends, checked as a server would
// (signature by the embedded key, htm, htu, iat, jti, ath, nonce), the
// nonce challenge followed once, and a key that cannot be exported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { createClient, memoryStorage } from '../dist/index.js';
import { startServer, fakeClock, signInAnswer, tokens, user } from './helpers.mjs';

const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

// verify checks a proof as RFC 9449 §4.3 says and returns its parts.
async function verify(proof) {
  const [h, p, sig] = proof.split('.');
  const header = dec(h);
  assert.equal(header.typ, 'dpop+jwt');
  assert.equal(header.alg, 'ES256');
  assert.deepEqual(Object.keys(header.jwk).sort(), ['crv', 'kty', 'x', 'y'], 'the public key only');
  const key = await webcrypto.subtle.importKey('jwk', header.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const ok = await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(sig, 'base64url'), Buffer.from(h + '.' + p));
  assert.ok(ok, 'the signature verifies with the embedded key');
  return { header, payload: dec(p) };
}

test('every request carries a fresh proof by one key; ath binds the access token; nonces are followed', async (t) => {
  let nonceAsked = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') {
      if (!nonceAsked++) return { status: 400, headers: { 'DPoP-Nonce': 'n-1' }, body: { error: 'use_dpop_nonce', message: 'a nonce is required' } };
      return signInAnswer(0, 100, new Date().toISOString());
    }
    if (r.path === '/token') return tokens(1, 100, { tokenType: 'DPoP' });
    if (r.path.startsWith('/auth/me') && dec(r.headers.dpop.split('.')[1]).nonce !== 'n-2')
      return { status: 401, headers: { 'WWW-Authenticate': 'DPoP algs="ES256", error="use_dpop_nonce"', 'DPoP-Nonce': 'n-2' }, body: { error: 'use_dpop_nonce', message: 'nonce' } };
    return { body: { user } };
  });
  // This client's clock is 30 minutes behind the server's, whose answers
  // carry Date (Node's server adds it).
  const fc = fakeClock(Date.now() - 30 * 60_000);
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), dpop: true, clock: fc.clock });
  t.after(() => c.close());
  await c.signIn('ann@example.com', 'pw');
  const [s1, s2] = srv.requests;
  const p1 = await verify(s1.headers.dpop);
  const p2 = await verify(s2.headers.dpop);
  assert.equal(p1.payload.nonce, undefined);
  assert.equal(p2.payload.nonce, 'n-1', 'the sign-in is sent again with the server\'s nonce');
  assert.deepEqual([p2.payload.htm, p2.payload.htu], ['POST', srv.url + '/auth/sign-in']);
  assert.equal(p2.payload.ath, undefined, 'no access token yet');
  assert.notEqual(p1.payload.jti, p2.payload.jti);
  await c.refresh();
  const p3 = await verify(srv.requests[2].headers.dpop);
  assert.deepEqual([p3.payload.htm, p3.payload.htu], ['POST', srv.url + '/token']);
  assert.deepEqual(p3.header.jwk, p1.header.jwk, 'one key for the session');
  // iat is the server's time, learnt from its Date header, not this clock's.
  assert.ok(Math.abs(p3.payload.iat - Date.now() / 1000) <= 2, `iat ${p3.payload.iat}, server time ${Date.now() / 1000}`);
  assert.ok(p1.payload.iat < Date.now() / 1000 - 29 * 60, 'the very first proof, before any answer, has this clock\'s time');
  const token = await c.getAccessToken();
  const resp = await c.fetch(srv.url + '/auth/me?x=1#frag');
  assert.equal(resp.status, 200);
  const me = srv.requests.filter((r) => r.path.startsWith('/auth/me'));
  assert.equal(me.length, 2, 'resent once with the new nonce');
  assert.equal(me[1].headers.authorization, 'DPoP ' + token);
  const p4 = await verify(me[1].headers.dpop);
  assert.deepEqual([p4.payload.htm, p4.payload.htu, p4.payload.nonce], ['GET', srv.url + '/auth/me', 'n-2']);
  assert.equal(p4.payload.ath, createHash('sha256').update(token).digest('base64url'));
});

test('the private key cannot be exported', async (t) => {
  const c = createClient({ baseUrl: 'http://127.0.0.1:9', mode: 'body', storage: memoryStorage(), dpop: true });
  t.after(() => c.close());
  const pair = await c.dpopKeyPair();
  assert.equal(pair.privateKey.extractable, false);
  assert.equal(pair.privateKey.algorithm.namedCurve, 'P-256');
  await assert.rejects(webcrypto.subtle.exportKey('jwk', pair.privateKey));
  assert.equal(await c.dpopKeyPair(), pair, 'the same key for every proof');
});

test('a refresh refused because the session is bound to another key ends the session; a stale proof does not', async (t) => {
  let answer;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 100) : answer));
  const fc = fakeClock();
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), dpop: true, clock: fc.clock });
  t.after(() => c.close());
  const out = [];
  c.on('signedOut', (e) => out.push(e.reason));
  await c.signIn('ann@example.com', 'pw');
  answer = { status: 400, body: { error: 'invalid_dpop_proof', message: 'the DPoP proof is missing or invalid (iat)', reason: 'iat' } };
  await assert.rejects(c.refresh(), (e) => e.code === 'invalid_dpop_proof' && e.reason === 'iat' && !e.reauthRequired);
  assert.equal(c.signedIn, true, 'a stale proof is worth another try');
  await fc.advance(2000); // the hold
  answer = { status: 400, body: { error: 'invalid_dpop_proof', message: 'the DPoP proof is missing or invalid (key_mismatch)', reason: 'key_mismatch' } };
  await assert.rejects(c.refresh(), (e) => e.reason === 'key_mismatch' && e.reauthRequired);
  assert.equal(c.signedIn, false);
  assert.deepEqual(out, ['invalid_dpop_proof']);
});

// Where IndexedDB refuses to open (some private modes, sandboxed frames:
// indexedDB.open throws SecurityError), the key can be neither loaded nor
// kept. The client must not fall back to an unbound session (no request
// without a proof), and must say so: not "the server cannot be reached",
// which an app shows as "offline, retrying".
test('a DPoP key that cannot be kept fails the sign-in with its own code, sending nothing', async (t) => {
  const srv = await startServer(t, () => signInAnswer(0, 100));
  globalThis.indexedDB = {
    open() {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    },
  };
  t.after(() => delete globalThis.indexedDB);
  const c = createClient({ baseUrl: srv.url, mode: 'body', storage: memoryStorage(), dpop: true, crossTab: false });
  t.after(() => c.close());
  await assert.rejects(c.signIn('ann@example.com', 'pw'), (e) => e.code === 'dpop_unavailable' && /insecure/.test(e.message) && !e.reauthRequired);
  await assert.rejects(c.signUp('ann@example.com', 'pw'), (e) => e.code === 'dpop_unavailable');
  assert.equal(srv.requests.length, 0, 'nothing was sent without a proof');
});
