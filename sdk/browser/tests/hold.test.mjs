// Another tab's wait, announced on the BroadcastChannel: taken up when it
// is one the SDK could have set (over in the future, at most ten minutes
// away), for this tab's generation; the error it makes a call fail with
// tells the time left when it is thrown. Node's BroadcastChannel stands for
// the browser's (crossTab: true).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatchkeyError } from '../dist/index.js';
import { startServer, until, signInAnswer, tokens, fakeClock, opener } from './helpers.mjs';

async function signedInTab(t) {
  let n = 0;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 30) : tokens(++n, 30)));
  const fc = fakeClock();
  const tab = opener(t, { baseUrl: srv.url, mode: 'cookie', crossTab: true, clock: fc.clock })();
  const spy = new BroadcastChannel('latchkey');
  t.after(() => spy.close());
  const msgs = [];
  spy.onmessage = (e) => msgs.push(e.data);
  await tab.signIn('ann@example.com', 'pw');
  await until(() => msgs.some((m) => m.type === 'tokens'), 'the sign-in message');
  const m = msgs.find((m) => m.type === 'tokens');
  assert.equal(m.t.refreshToken, undefined, 'no refresh token is posted');
  const refreshes = () => srv.requests.filter((r) => r.path === '/api/refresh/refreshtoken').length;
  return { tab, fc, spy, id: m.t.id, server: m.server, refreshes };
}

test("another tab's announced wait reports the time left when a call fails with it", async (t) => {
  const { tab, fc, spy, id, server, refreshes } = await signedInTab(t);
  spy.postMessage({ type: 'hold', id, until: fc.now + 60_000, server });
  // the message is taken up: the timer now waits for the hold's end
  await until(() => fc.timers().includes(60_000), 'the hold reaching the tab');
  fc.jump(50_000); // the token (30 s) has expired; 10 s of the wait are left
  await assert.rejects(tab.getAccessToken(), (e) => {
    assert.ok(e instanceof LatchkeyError);
    assert.equal(e.code, 'temporarily_unavailable');
    assert.equal(e.retryAfterMs, 10_000, 'the time left, not the wait as it was when announced');
    return true;
  });
  assert.equal(refreshes(), 0, 'no refresh while the wait lasts');
});

for (const [what, until_] of [
  ['NaN', NaN],
  ['negative', -5],
  ['over', -1], // relative: one ms ago
  ['over eleven minutes away', 11 * 60_000],
  ['Infinity', Infinity],
  ['a string', 'later'],
  ['missing', undefined],
]) {
  test(`an announced wait that is ${what} is not taken up`, async (t) => {
    const { tab, fc, spy, id, server, refreshes } = await signedInTab(t);
    const v = typeof until_ === 'number' && Number.isFinite(until_) && Math.abs(until_) > 100 ? fc.now + until_ : what === 'over' ? fc.now - 1 : until_;
    spy.postMessage({ type: 'hold', id, until: v, server });
    spy.postMessage({ type: 'ask', server }); // arrives after the hold: it was read
    await new Promise((r) => setTimeout(r, 30));
    fc.jump(31_000); // expired
    await tab.getAccessToken();
    assert.equal(refreshes(), 1, 'the expired token is refreshed at once');
  });
}

test("another tab's wait taken up is over when the clock is set back past it", async (t) => {
  const { tab, fc, spy, id, server, refreshes } = await signedInTab(t);
  spy.postMessage({ type: 'hold', id, until: fc.now + 60_000, server });
  await until(() => fc.timers().includes(60_000), 'the hold reaching the tab');
  fc.jump(-3_600_000); // the wait now ends more than ten minutes away: set before the clock went back
  await tab.refresh();
  assert.equal(refreshes(), 1, 'the refresh is not held');
});

// A tab held by a 503 Retry-After (its own refresh failed) is freed by a
// sign-in in another tab: new tokens, a new generation, nothing to wait for.
test('a sign-in in another tab ends the wait of a tab whose refresh was answered 503 Retry-After', async (t) => {
  let busy = true;
  let n = 0;
  const srv = await startServer(t, (r) =>
    r.path === '/auth/sign-in'
      ? signInAnswer(0, 30)
      : busy
        ? { status: 503, headers: { 'Retry-After': '120' }, body: { error: 'temporarily_unavailable', message: 'busy' } }
        : tokens(++n, 30),
  );
  const fc = fakeClock();
  const open = opener(t, { baseUrl: srv.url, mode: 'cookie', crossTab: true, clock: fc.clock });
  const tab1 = open();
  const tab2 = open();
  await tab1.signIn('ann@example.com', 'pw');
  await until(() => tab2.signedIn, 'the sign-in reaching tab2');
  await assert.rejects(tab2.refresh(), (e) => e.code === "temporarily_unavailable");
  await until(() => fc.timers().includes(120_000), 'the wait reaching tab1');
  const signIns = [];
  tab2.on('tokens', (e) => e.source === 'sign-in' && signIns.push(e));
  busy = false;
  await tab1.signIn('ann@example.com', 'pw');
  await until(() => signIns.length === 1, "tab1's sign-in reaching tab2");
  fc.jump(31_000); // expired: tab2 refreshes at once, not in two minutes
  await tab2.getAccessToken();
  assert.equal(srv.requests.filter((r) => r.path === '/api/refresh/refreshtoken').length, 2, 'the failed refresh, then this one');
});

// Body mode with a storage every tab shares: the tabs read the refresh
// token there; no message carries it (sign-in, refresh, an answer to ask).
test('body mode: no tokens message carries the refresh token', async (t) => {
  let n = 0;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 900) : tokens(++n, 900)));
  let kept = null;
  const storage = { shared: true, get: async () => kept, set: async (v) => void (kept = v) };
  const tab = opener(t, { baseUrl: srv.url, mode: 'body', crossTab: true, storage })();
  const spy = new BroadcastChannel('latchkey');
  t.after(() => spy.close());
  const msgs = [];
  spy.onmessage = (e) => msgs.push(e.data);
  await tab.signIn('ann@example.com', 'pw');
  await tab.refresh();
  spy.postMessage({ type: 'ask', server: msgs[0] && msgs[0].server });
  await until(() => msgs.filter((m) => m.type === 'tokens').length === 3, 'three tokens messages');
  assert.equal(kept.refreshToken, 'rt-1', 'the storage has it');
  for (const m of msgs) assert.equal(JSON.stringify(m).includes('rt-'), false, m.source);
});
