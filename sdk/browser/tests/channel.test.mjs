// What the tabs tell each other on the BroadcastChannel. A script of the
// page's own origin is trusted as the web trusts it (it can read IndexedDB
// and call the server with the page's cookie), so the SDK does not try to
// tell a hostile message from a tab's. But the channel's name is shared by
// everything on the origin: a client of another Latchkey server left with
// the default name, or any other code posting on "latchkey", must neither
// install its tokens here nor sign this client out, and a message of
// another shape is ignored. Node's BroadcastChannel stands for the
// browser's (crossTab: true: every client here is a tab of one origin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../dist/index.js';
import { startServer, until, signInAnswer, tokens, opener } from './helpers.mjs';

test('tokens and sign-outs of another server, or of another shape, are not taken up', async (t) => {
  let n = 0;
  const mine = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 900) : tokens(++n, 900)));
  const theirs = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(100, 900) : { status: 204 }));
  const open = (url) => {
    const c = createClient({ baseUrl: url, mode: 'cookie', crossTab: true });
    t.after(() => c.close());
    return c;
  };
  const tab1 = open(mine.url);
  const tab2 = open(mine.url);
  const other = open(theirs.url); // another app of the origin, same default name
  const seen = [];
  tab1.on('tokens', (e) => seen.push(e.accessToken));
  tab1.on('signedOut', (e) => seen.push('signedOut:' + e.reason));
  const raw = new BroadcastChannel('latchkey');
  t.after(() => raw.close());
  raw.postMessage({ type: 'tokens', t: { id: 'x', accessToken: 42, expiresAt: 'soon' }, source: 'sign-in' });
  raw.postMessage({ type: 'tokens', source: 'sign-in' });
  raw.postMessage('hello');
  await other.signIn('bob@example.com', 'pw');
  await tab2.signIn('ann@example.com', 'pw');
  const ann = await tab2.getAccessToken();
  await until(() => seen.includes(ann), "tab2's sign-in reaching tab1");
  await other.signOut({ scope: 'local' });
  await tab2.refresh();
  const renewed = await tab2.getAccessToken();
  await until(() => seen.includes(renewed), "tab2's refresh reaching tab1");
  assert.deepEqual(seen, [ann, renewed], 'tab1 took up only its own server\'s tokens, and was not signed out');
  assert.equal(tab1.signedIn, true);
});

// Messages of different tabs may arrive in any order: the tokens a tab got
// from a refresh just before another tab signed out can reach a third tab
// after the sign-out (or the signing-out tab itself, whose lock was granted
// when the refreshing tab released it, before its message arrived). The
// late message must not bring the session back: after a sign-out only a
// new sign-in does.
test('tokens that arrive after a sign-out do not sign the tab in again', async (t) => {
  let n = 0;
  const srv = await startServer(t, (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 900) : r.path === '/auth/sign-out' ? { status: 204 } : tokens(++n, 900)));
  const open = opener(t, { baseUrl: srv.url, mode: 'cookie', crossTab: true });
  const tab1 = open();
  const tab2 = open();
  const spy = new BroadcastChannel('latchkey');
  t.after(() => spy.close());
  const msgs = [];
  spy.onmessage = (e) => msgs.push(e.data);
  await tab1.signIn('ann@example.com', 'pw');
  await until(() => tab2.signedIn, 'the sign-in reaching tab2');
  await tab2.refresh();
  await until(() => msgs.some((m) => m.type === 'tokens' && m.source === 'shared'), "tab2's refresh message");
  const late = msgs.find((m) => m.type === 'tokens' && m.source === 'shared');
  await tab1.signOut();
  await until(() => !tab2.signedIn, 'the sign-out reaching tab2');
  const back = [];
  tab1.on('tokens', () => back.push('tab1'));
  tab2.on('tokens', () => back.push('tab2'));
  spy.postMessage(late); // delivered late
  // A message posted after it by the same sender arrives after it.
  spy.postMessage({ type: 'ask', server: late.server });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(back, []);
  assert.equal(tab1.signedIn, false);
  assert.equal(tab2.signedIn, false);
  // A new sign-in does sign every tab in.
  await tab2.signIn('ann@example.com', 'pw');
  await until(() => tab1.signedIn, 'the new sign-in reaching tab1');
});

// An API that refuses every token with error="invalid_token" (it does not
// accept this server's tokens, say) gets one refresh and one resend, and no
// more for tokens that came from such a refresh. The tabs share the tokens,
// so they must share that too: else each tab refreshes for the tokens
// another tab's 401 got, and the tabs take turns refreshing at every call.
test('an API that answers every token 401 costs one refresh for all tabs, not one per call', async (t) => {
  let n = 0;
  const srv = await startServer(t, (r) => {
    if (r.path === '/auth/sign-in') return signInAnswer(0, 900);
    if (r.path === '/api') return { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' }, body: { error: 'invalid_token', message: 'no' } };
    return tokens(++n, 900);
  });
  const open = opener(t, { baseUrl: srv.url, mode: 'cookie', crossTab: true });
  const tabs = [open(), open()];
  const latest = new Map();
  for (const tab of tabs) tab.on('tokens', (e) => latest.set(tab, e.accessToken));
  await tabs[0].signIn('ann@example.com', 'pw');
  await until(() => tabs[1].signedIn, 'the sign-in reaching tab 2');
  const refreshes = () => srv.requests.filter((r) => r.path === '/api/refresh/refreshtoken').length;
  for (let i = 0; i < 6; i++) {
    const [tab, other] = i % 2 ? [tabs[1], tabs[0]] : [tabs[0], tabs[1]];
    assert.equal((await tab.fetch(srv.url + '/api')).status, 401);
    const now = await tab.getAccessToken();
    await until(() => latest.get(other) === now, 'the tokens reaching the other tab');
  }
  assert.equal(refreshes(), 1, `${refreshes()} refreshes for 6 calls refused 401`);
});

// An app closes its client (a component unmounted, a page hidden for good)
// while a refresh or a sign-in is in flight: what was in flight ends as it
// would have, and does not throw because the channel is closed.
test('a client closed while its refresh is in flight', async (t) => {
  let release;
  const gate = new Promise((r) => (release = r));
  const srv = await startServer(t, async (r) => (r.path === '/auth/sign-in' ? signInAnswer(0, 900) : (await gate, tokens(1, 900))));
  const c = createClient({ baseUrl: srv.url, mode: 'cookie', crossTab: true });
  await c.signIn('ann@example.com', 'pw');
  const p = c.refresh();
  await until(() => srv.requests.length === 2, 'the refresh request');
  c.close();
  release();
  await p;
});
