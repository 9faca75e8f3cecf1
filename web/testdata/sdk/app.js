// A minimal app on the browser SDK for web/sdk_browser_test.go: one client
// per tab (mode, dpop and nolocks from the query), counters of what it saw,
// and a loop of protected calls through client.fetch. The test drives it
// through window.t.
const q = new URLSearchParams(location.search);
if (q.get('nolocks') === '1') {
  // What a page outside a secure context sees: no Web Locks.
  Object.defineProperty(Navigator.prototype, 'locks', { value: undefined, configurable: true });
}
const { createClient, indexedDBStorage } = await import('/sdk-test/latchkey.js');

// The page's clock, which the test may move ahead of the other tabs' (a tab
// that has been frozen sees the time jump when it thaws; the others, which
// went on, see the time the frozen one saw move on). The SDK reads it
// through Date.now.
const realNow = Date.now.bind(Date);
let clockShift = 0;
Date.now = () => realNow() + clockShift;

// Body mode's storage: IndexedDB, whose reads the test can stop right after
// they happen (a tab frozen or starved just after it read the tokens).
const idbStore = indexedDBStorage();
const reads = { hold: false, held: false, release: null };
const storage = {
  shared: true,
  async get() {
    const v = await idbStore.get();
    if (reads.hold) {
      reads.hold = false;
      reads.held = true;
      await new Promise((r) => (reads.release = r));
      reads.held = false;
    }
    return v;
  },
  set: (t) => idbStore.set(t),
};

const stats = {
  tokens: 0,
  refreshes: 0, // tokens this tab got from the server by a refresh
  shared: 0, // tokens another tab handed over
  refreshInFlight: 0,
  calls: 0,
  ok: 0,
  failed: [],
  retrying: [],
  signedOut: '',
  signedOutAt: 0,
  signOutStartedAt: 0,
  refreshOutcome: '',
};
const isRefresh = (u) => /\/token$|\/api\/refresh\/refreshtoken$/.test(String(u));
const client = createClient({
  baseUrl: '/',
  mode: q.get('mode'),
  dpop: q.get('dpop') === '1',
  storage: q.get('mode') === 'body' ? storage : undefined,
  fetch: (u, init) => {
    if (!isRefresh(u)) return fetch(u, init);
    stats.refreshInFlight++;
    return fetch(u, init).finally(() => stats.refreshInFlight--);
  },
});
client.on('tokens', (e) => {
  stats.tokens++;
  if (e.source === 'refresh') stats.refreshes++;
  if (e.source === 'shared') stats.shared++;
});
client.on('signedOut', (e) => {
  stats.signedOut = e.reason;
  stats.signedOutAt = Date.now();
});
client.on('retrying', (e) => stats.retrying.push(e.error.code));

let loop = 0;
window.t = {
  stats,
  client,
  lockKind: client.lockKind,
  signedIn: () => client.signedIn,
  resume: () => client.resume(),
  signIn: async (email, password) => (await client.signIn(email, password)).email,
  signOut: async (scope) => {
    stats.signOutStartedAt = Date.now();
    await client.signOut({ scope });
  },
  token: () => client.getAccessToken(),
  me: async () => {
    const r = await client.fetch('/auth/me');
    return r.status;
  },
  // startCalls calls GET /auth/me every ms; a call fails when it throws or
  // answers other than 200.
  startCalls(ms) {
    clearInterval(loop);
    loop = setInterval(async () => {
      stats.calls++;
      try {
        const r = await client.fetch('/auth/me');
        if (r.status === 200) stats.ok++;
        else stats.failed.push(r.status + ' ' + (await r.text()).slice(0, 200));
      } catch (e) {
        stats.failed.push(String(e.code || e));
      }
    }, ms);
  },
  stopCalls() {
    clearInterval(loop);
  },
  // stolenRefreshToken reads the body mode's refresh token out of
  // IndexedDB, as a script injected into the page could.
  stolenRefreshToken: () =>
    new Promise((resolve, reject) => {
      const open = indexedDB.open('latchkey');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction('kv').objectStore('kv').get('tokens');
        get.onsuccess = () => resolve(get.result ? get.result.refreshToken : '');
        get.onerror = () => reject(get.error);
      };
    }),
  // holdNextRead stops the next read of the storage after it has read.
  holdNextRead() {
    reads.hold = true;
  },
  readHeld: () => reads.held,
  releaseRead() {
    if (reads.release) reads.release();
  },
  shiftClock(ms) {
    clockShift += ms;
  },
  // refreshInBackground starts a refresh; its outcome lands in
  // stats.refreshOutcome.
  refreshInBackground() {
    stats.refreshOutcome = '';
    client.refresh().then(
      () => (stats.refreshOutcome = 'ok'),
      (e) => (stats.refreshOutcome = String(e.code || e)),
    );
  },
  keyInfo: async () => {
    const p = await client.dpopKeyPair();
    return { extractable: p.privateKey.extractable, publicJwk: await crypto.subtle.exportKey('jwk', p.publicKey) };
  },
};
window.ready = true;
