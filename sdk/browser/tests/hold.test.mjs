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
