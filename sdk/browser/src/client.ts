// The client: signs in, keeps the access token fresh, and shares one
// session between the tabs of a browser without ever sending one refresh
// token twice.
//
// Refresh rules (docs/clients.md, "Refreshing safely"):
//   - one refresh at a time: within the page (one promise in flight) and
//     across tabs (lock.ts); the lock holder reads the shared state again
//     once it holds the lock and does not refresh when another tab already
//     did;
//   - each attempt is bounded (attemptTimeoutMs); an attempt whose outcome
//     is unknown (no answer, a 5xx, an unreadable 2xx) is retried with the
//     same token while the retry still ends within the server's reuse
//     interval, after 250 ms, 500 ms, 1 s (or Retry-After, if longer);
//   - after a failure that is not "sign in again", refreshes wait for
//     max(Retry-After, backoff), the backoff growing from 1 s to 30 s;
//     calls go on with the access token until it expires;
//   - new tokens are stored before they are used;
//   - a 401 from an API refreshes and resends once, and only when a refresh
//     can help.
// The schedule is measured on this machine's clock from the moment the
// request was sent plus the server's expiresIn (or the token's exp - iat),
// so a client whose clock is wrong refreshes on time all the same.

import { LatchkeyError, errorOf, MAX_RETRY_AFTER_MS } from './errors.js';
import { StoredTokens, TokenStorage, memoryStorage, indexedDBStorage } from './storage.js';
import { Clock, Guard, LeaseLost, makeLock, sleep } from './lock.js';
import { dpopKey, DPoPKey } from './dpop.js';
import * as idb from './idb.js';

export type Mode = 'cookie' | 'body';

export interface ClientOptions {
  /** The Latchkey server's URL, e.g. "https://auth.example.com"; relative to the page when it is a path ("" or "/": the page's origin). */
  baseUrl: string;
  /** cookie: the refresh token is the server's HttpOnly cookie, which this script never sees. body: the refresh token is in the answers' bodies and kept in `storage`. */
  mode: Mode;
  /** Body mode: where the tokens are kept (default: indexedDBStorage() in a browser, memoryStorage() elsewhere). */
  storage?: TokenStorage;
  /** Bind the tokens to a non-extractable DPoP key (RFC 9449). */
  dpop?: boolean;
  /** Share the session with the other tabs (lock and BroadcastChannel); default true in a browser (a page or a worker), false elsewhere: in Node every client of the process would share one session. */
  crossTab?: boolean;
  /** Names the lock, the BroadcastChannel and the IndexedDB database; default "latchkey". Apps that talk to two servers give each client its own. */
  name?: string;
  /** Origins besides baseUrl's to which fetch() attaches the access token (your APIs). */
  apiOrigins?: string[];
  /** Bound of one refresh attempt, ms (default 3000). */
  attemptTimeoutMs?: number;
  /** The server's REFRESH_TOKEN_REUSE_INTERVAL, ms (default 10000; 0 means no prompt retries). */
  reuseIntervalMs?: number;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** The clock and timers (tests). */
  clock?: Partial<Clock>;
}

export interface User {
  id: string;
  email: string;
  status: string;
  createdAt: string;
  updatedAt: string;
}

export interface Session {
  id: string;
  current: boolean;
  createdAt: string;
  lastRefreshedAt: string;
  refreshExpiresAt: string;
  expiresAt: string;
  clientId?: string;
  userAgent?: string;
  ip?: string;
}

export type TokenSource = 'sign-in' | 'refresh' | 'shared' | 'storage';

export interface Events {
  /** New tokens: source says whether this tab signed in, refreshed, got them from another tab or from storage. */
  tokens: { accessToken: string; expiresAt: number; source: TokenSource };
  /** The session is over here: reason is the server's (session_revoked, refresh_token_reused, …), or "signed_out" after signOut (here or in another tab). */
  signedOut: { reason: string; message: string };
  /** A refresh failed for a reason worth retrying (network, 503 + Retry-After, 429): the next try is in retryInMs. */
  retrying: { error: LatchkeyError; retryInMs: number };
}

export interface LatchkeyClient {
  signUp(email: string, password: string): Promise<User>;
  signIn(email: string, password: string): Promise<User>;
  /** Ends the session on the server (scope local, others or global) and, unless "others", here and in every tab. */
  signOut(o?: { scope?: 'local' | 'others' | 'global' }): Promise<void>;
  me(): Promise<User>;
  sessions(): Promise<Session[]>;
  revokeSession(id: string): Promise<void>;
  /**
   * Changes the signed-in user's password (POST /auth/password), as an
   * authenticated call: DPoP proof and nonce, a 401 invalid_token refreshed
   * and resent once. signOutOthers (default true) ends every other session
   * of the user; this one, which this browser's tabs share, stays with its
   * tokens, and nothing is posted to the other tabs. A wrong current
   * password: LatchkeyError invalid_current_password (it counts as a failed
   * sign-in: rate_limited after too many).
   */
  changePassword(currentPassword: string, newPassword: string, o?: { signOutOthers?: boolean }): Promise<void>;
  /** Asks for a password-reset link by e-mail (POST /auth/recover); resolves whether or not the address is a user's (the server never says). */
  requestPasswordReset(email: string): Promise<void>;
  /**
   * Sets a new password with a reset link's token (POST /auth/reset): every
   * session of the user ends. A client that holds a session then refreshes
   * it: when it was the user's, the refresh is refused session_revoked, and
   * the session ends here and in every tab (signedOut). Refused tokens:
   * email_token_invalid (unknown, used, superseded, voided), email_token_expired.
   */
  resetPassword(token: string, newPassword: string): Promise<void>;
  /** Verifies the user's address with a verification link's token (POST /auth/verify); errors as resetPassword's. */
  verifyEmail(token: string): Promise<void>;
  /** Asks for a new verification link (POST /auth/verify/resend); resolves whatever the address. */
  resendVerification(email: string): Promise<void>;
  /** A fresh access token, refreshing first when it is due. Throws LatchkeyError (not_signed_in, or the refresh's error). */
  getAccessToken(): Promise<string>;
  /** fetch with the access token (to baseUrl's origin and apiOrigins), refreshed as needed; a 401 refreshes and resends once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Takes up a session left by an earlier page: body mode from storage, cookie mode from another tab or the cookie. Resolves true when signed in. */
  resume(): Promise<boolean>;
  /** Refreshes now unless another tab just did. */
  refresh(): Promise<void>;
  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void;
  readonly signedIn: boolean;
  /** The lock in use: web-locks, indexeddb (the fallback without Web Locks) or local (this page only). */
  readonly lockKind: string;
  /** The DPoP key pair, when dpop is on. */
  dpopKeyPair(): Promise<CryptoKeyPair | undefined>;
  /** Stops timers and closes the channel. */
  close(): void;
}

type Msg =
  | { type: 'tokens'; t: StoredTokens; source: TokenSource }
  | { type: 'signedOut'; reason: string; message: string }
  | { type: 'hold'; id: string; until: number }
  | { type: 'ask' };

const REFRESH_COOKIE_PATH = '/api/refresh/refreshtoken';
const MAX_EARLY_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1; // HTML's timers (and Node's) take a signed 32-bit delay
const ASK_WAIT_MS = 150;
const GEN_WAIT_MS = 500; // at most this long for another tab's tokens message
const GEN_FRESH_MS = 2000; // only for a generation written this recently

// netErr is the error of a request that got no answer (or was not sent).
const netErr = (e: unknown) => (e instanceof LatchkeyError ? e : new LatchkeyError(0, 'network_error', 'the server cannot be reached'));

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** claimsOf returns a JWT's payload claims: read, never trusted (the server verifies the token). */
export function claimsOf(jwt: string): Record<string, any> {
  try {
    let p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    p += '='.repeat((4 - (p.length % 4)) % 4);
    return JSON.parse(atob(p));
  } catch {
    return {};
  }
}

/** dueAt is when tokens are refreshed: a fifth of the lifetime before expiry, at most a minute. */
export function dueAt(t: StoredTokens): number {
  return t.expiresAt - Math.min(t.lifetimeMs / 5, MAX_EARLY_MS);
}

export function createClient(opts: ClientOptions): LatchkeyClient {
  const mode = opts.mode;
  if (mode !== 'cookie' && mode !== 'body') throw new TypeError('latchkey: mode must be "cookie" or "body"');
  const name = opts.name || 'latchkey';
  const loc = typeof location !== 'undefined' ? location.href : undefined;
  // A baseUrl relative to the page cannot be resolved outside one
  // (server-side rendering imports the app's modules in Node): the client
  // is made all the same, and every request to the server fails (url()).
  let base = '';
  try {
    base = new URL(opts.baseUrl || '/', loc).href.replace(/\/$/, '');
  } catch {
    // no page
  }
  const origins = new Set((opts.apiOrigins || []).map((o) => new URL(o).origin));
  if (base) origins.add(new URL(base).origin);
  if (loc) origins.add(new URL(loc).origin);
  const doFetch = opts.fetch || ((i: RequestInfo | URL, n?: RequestInit) => globalThis.fetch(i, n));
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      // In Node a pending refresh must not keep a finished script alive.
      const id: any = setTimeout(fn, ms);
      if (id && id.unref) id.unref();
      return id;
    },
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    random: Math.random,
    ...opts.clock,
  };
  const T = opts.attemptTimeoutMs ?? 3000;
  const I = opts.reuseIntervalMs ?? 10_000;
  const storage = mode === 'body' ? opts.storage || (idb.available() ? indexedDBStorage(name) : memoryStorage()) : null;
  // Tabs exist in a browser only. Elsewhere (Node: server-side rendering,
  // one client per user) a BroadcastChannel reaches every client of the
  // process, which would hand one user's tokens to all.
  const inBrowser = typeof document !== 'undefined' || typeof (globalThis as any).WorkerGlobalScope !== 'undefined';
  const shared = (opts.crossTab ?? inBrowser) && (mode === 'cookie' || storage!.shared);
  const lock = makeLock(name + '-refresh', shared, clock, name);
  const channel = shared && typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel(name) : null;
  if (channel && (channel as any).unref) (channel as any).unref(); // Node
  const dpop: DPoPKey | null = opts.dpop ? dpopKey(name) : null;
  const nonces = new Map<string, string>(); // origin -> latest DPoP-Nonce
  const credentials: RequestCredentials = mode === 'cookie' ? 'include' : 'omit';
  // Cookie mode keeps the id of the latest generation (never a token) in
  // IndexedDB, so that a tab that gets the lock can tell that another tab
  // refreshed just before, even when that tab's message is still on its
  // way.
  const genDb = mode === 'cookie' && shared && idb.available();
  // The tabs' hold (after a failed refresh, when the next may be tried) is
  // kept in IndexedDB too, written before the lock is released and read
  // under it: a tab that takes the lock next, or that opened meanwhile,
  // waits for it as well, whether or not the hold message reached it yet.
  const holdDb = shared && idb.available();
  const setSharedHold = (until: number | null) => holdDb && idb.update(name, 'hold', () => (until ? { until } : null));
  const recent = new Map<string, StoredTokens>(); // tokens other tabs posted, by id
  let arrived: (() => void)[] = [];

  let cur: StoredTokens | null = null;
  let epoch = 0; // changes at every sign-in and sign-out
  let timer: unknown;
  let inflight: Promise<StoredTokens> | null = null;
  // (err: this tab's failure; another tab's wait fails with the time left)
  let hold: { id: string; until: number; err?: LatchkeyError } | null = null;
  let backoff = 1000;
  let skew: number | undefined; // server clock minus this one, ms, from the latest Date header
  let closed = false;
  // out: signed out here (sign-out, a refusal). Until a sign-in, tokens
  // other tabs post are stale: messages of two tabs may arrive in any
  // order, and a refresh's may come after the sign-out that followed it.
  let out = false;
  const listeners: { [K in keyof Events]?: Set<(e: any) => void> } = {};

  function emit<K extends keyof Events>(ev: K, e: Events[K]) {
    for (const fn of listeners[ev] || []) {
      try {
        fn(e);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
  // Every message names the server: other code on the origin may use a
  // channel of the same name (a client of another server left with the
  // default name), and its tokens and sign-outs are not this client's.
  const post = (m: Msg) => channel && !closed && channel.postMessage({ ...m, server: base }); // a closed channel throws
  // The refresh token is never posted (body mode: the tabs read it from
  // the storage).
  const postTokens = (t: StoredTokens, source: TokenSource) => post({ type: 'tokens', t: { ...t, refreshToken: undefined }, source });

  // ---- timers ----

  // takeHold makes another tab's wait (its message, or the one kept in
  // IndexedDB) this tab's, unless it is over or this tab's own ends later.
  // A wait longer than any the SDK sets is not one: it was set before the
  // clock was set back, or it is not a tab's.
  function takeHold(id: string, until: number) {
    const now = clock.now();
    if (!(until > now && until <= now + MAX_RETRY_AFTER_MS) || (hold && hold.until >= until)) return;
    hold = { id, until };
    schedule();
  }

  // A wait longer than any the SDK sets was set before the clock was set
  // back: it is over.
  function dropStaleHold() {
    if (hold && hold.until > clock.now() + MAX_RETRY_AFTER_MS) hold = null;
  }

  function schedule() {
    clock.clearTimeout(timer);
    if (closed) return;
    dropStaleHold();
    // With tokens: when they are due, or when a hold ends, whichever is
    // later. Without (a cookie-mode resume that failed): when the hold ends.
    const at = Math.max(cur ? dueAt(cur) : 0, hold ? hold.until : 0);
    if (!at) return;
    // A timer waits at most MAX_TIMER_MS (a longer delay fires at once):
    // one that fires early is armed again.
    timer = clock.setTimeout(() => {
      if (clock.now() < at) schedule();
      else if (cur) refreshFrom(cur.id).catch(() => undefined);
      else if (mode === 'cookie' && hold) {
        hold = null;
        refreshFrom(undefined).catch(() => undefined);
      }
    }, Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS));
  }

  function adopt(t: StoredTokens, source: TokenSource) {
    if (source === 'sign-in') epoch++;
    if (source !== 'shared') out = false;
    cur = t;
    if (hold && hold.id !== t.id) hold = null;
    if (source !== 'shared') backoff = 1000;
    schedule();
    emit('tokens', { accessToken: t.accessToken, expiresAt: t.expiresAt, source });
  }

  // signedOutHere forgets the session in this tab (and, when tell, in the
  // storage and the other tabs).
  async function signedOutHere(reason: string, message: string, tell: boolean) {
    const had = cur !== null;
    out = true;
    cur = null;
    hold = null;
    epoch++;
    schedule();
    if (tell) {
      if (storage) await storage.set(null);
      await writeGen(null);
      await setSharedHold(null);
      post({ type: 'signedOut', reason, message });
    }
    if (had || tell) emit('signedOut', { reason, message });
  }

  // ---- requests ----

  function url(path: string) {
    if (!base) throw new LatchkeyError(0, 'no_server', 'baseUrl "' + opts.baseUrl + '" is relative, and there is no page to resolve it against');
    return base + path;
  }

  // send makes one request to the server, with a DPoP proof when on. It
  // sends it again once when the proof was refused and the answer tells how
  // to make a good one: the server's nonce (RFC 9449 §8, §9), or, for a
  // proof refused for its iat, the server's time (its Date header), which
  // a client whose clock is off learns from this very answer (§11.1). A
  // refused proof spends nothing: the server checks it first.
  // before, when given, runs right before each request goes out.
  async function send(method: string, u: string, init: RequestInit, token?: StoredTokens, signal?: AbortSignal, before?: Guard): Promise<Response> {
    const origin = new URL(u).origin;
    for (let i = 0; ; i++) {
      const headers = new Headers(init.headers);
      if (!headers.has('Accept')) headers.set('Accept', 'application/json');
      if (token) headers.set('Authorization', (token.tokenType === 'DPoP' ? 'DPoP ' : 'Bearer ') + token.accessToken);
      const skewMs = skew ?? (token || cur)?.skewMs ?? 0;
      if (dpop) {
        const ath = token && token.tokenType === 'DPoP' ? token.accessToken : undefined;
        let proof: string;
        try {
          proof = await dpop.proof(method, u, { accessToken: ath, nonce: nonces.get(origin), skewMs, now: clock.now() });
        } catch (e) {
          // No key (IndexedDB refused): nothing is sent without a proof.
          throw new LatchkeyError(0, 'dpop_unavailable', 'the DPoP key cannot be loaded or kept: ' + ((e as Error).message || e));
        }
        headers.set('DPoP', proof);
      }
      if (before) await before(); // nothing async between it and the request
      const sent = clock.now();
      const resp = await doFetch(u, { ...init, method, headers, signal, cache: 'no-store' });
      // The server's clock, for the proofs' iat: its Date header (whole
      // seconds; readable same-origin or when exposed), measured against
      // the middle of the exchange.
      const date = Date.parse(resp.headers.get('Date') || '');
      if (!isNaN(date)) skew = date + 500 - (sent + clock.now()) / 2;
      const n = resp.headers.get('DPoP-Nonce');
      if (n) nonces.set(origin, n);
      if (!dpop || i > 0 || (resp.status !== 400 && resp.status !== 401)) return resp;
      let b: any = {};
      const challenge = resp.headers.get('WWW-Authenticate') || '';
      if (!/use_dpop_nonce/.test(challenge)) {
        try {
          b = (await resp.clone().json()) || {};
        } catch {
          // not JSON
        }
      }
      const nonce = n && (/use_dpop_nonce/.test(challenge) || b.error === 'use_dpop_nonce');
      const iat = b.error === 'invalid_dpop_proof' && b.reason === 'iat' && skew !== undefined && Math.abs(skew - skewMs) > 2000;
      if (!nonce && !iat) return resp;
      // resend once (init.body is a string, a buffer or absent)
    }
  }

  function tokensFrom(b: any, sentAt: number, skewMs: number): StoredTokens {
    if (!b || typeof b.accessToken !== 'string') throw new LatchkeyError(0, 'bad_response', 'the answer has no access token');
    const c = claimsOf(b.accessToken);
    const lifetimeMs =
      typeof b.expiresIn === 'number' ? b.expiresIn * 1000 : typeof c.exp === 'number' && typeof c.iat === 'number' && c.exp > c.iat ? (c.exp - c.iat) * 1000 : 60_000;
    const t: StoredTokens = {
      id: randomId(),
      accessToken: b.accessToken,
      tokenType: b.tokenType === 'DPoP' || (c.cnf && c.cnf.jkt) ? 'DPoP' : 'Bearer',
      expiresAt: sentAt + lifetimeMs,
      lifetimeMs,
      skewMs,
      server: base,
    };
    if (mode === 'body' && typeof b.refreshToken === 'string') t.refreshToken = b.refreshToken;
    return t;
  }

  // attempt makes one refresh request, bounded by T from sending to the
  // whole answer read.
  async function attempt(from: StoredTokens | null, guard: Guard): Promise<{ t?: StoredTokens; err?: LatchkeyError }> {
    const u = url(mode === 'cookie' ? REFRESH_COOKIE_PATH : '/token');
    const ctl = new AbortController();
    const to = clock.setTimeout(() => ctl.abort(), T);
    const sentAt = clock.now();
    try {
      const resp =
        mode === 'cookie'
          ? await send('GET', u, { credentials }, undefined, ctl.signal, guard)
          : await send('POST', u, { credentials, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken: from!.refreshToken }) }, undefined, ctl.signal, guard);
      if (!resp.ok) return { err: await errorOf(resp) };
      return { t: tokensFrom(await resp.json(), sentAt, from ? from.skewMs : 0) };
    } catch (e) {
      if (e instanceof LatchkeyError) return { err: e };
      if (e instanceof LeaseLost) throw e;
      return { err: ctl.signal.aborted ? new LatchkeyError(0, 'timeout', 'the refresh took longer than ' + T + ' ms') : new LatchkeyError(0, 'network_error', 'the server cannot be reached') };
    } finally {
      clock.clearTimeout(to);
    }
  }

  async function startHold(id: string, err: LatchkeyError) {
    const wait = Math.max(Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS), backoff * (1 + clock.random() / 4));
    backoff = Math.min(backoff * 2, 30_000);
    hold = { id, until: clock.now() + wait, err };
    await setSharedHold(hold.until);
    post({ type: 'hold', id, until: hold.until });
    schedule();
    emit('retrying', { error: err, retryInMs: wait });
  }

  // trade spends the refresh token of from (body mode) or the cookie, with
  // prompt retries of unknown outcomes inside the reuse interval.
  async function trade(from: StoredTokens | null, guard: Guard): Promise<StoredTokens> {
    const t0 = clock.now();
    let pause = 250;
    let unknown = false;
    for (let n = 1; ; n++) {
      const r = await attempt(from, guard);
      if (r.t) return r.t;
      const err = r.err!;
      if (err.reauthRequired || (mode === 'cookie' && err.status === 404)) {
        const e = err.reauthRequired ? err : new LatchkeyError(404, 'cookie_disabled', err.message);
        await signedOutHere(e.code, e.message, e.code !== 'refresh_token_missing' || from !== null);
        throw e;
      }
      unknown = unknown || err.status === 0 || err.status >= 500;
      const wait = Math.max(pause, err.retryAfterMs);
      if (!unknown || n >= 4 || clock.now() + wait + T > t0 + I) {
        await startHold(from ? from.id : '', err);
        throw err;
      }
      emit('retrying', { error: err, retryInMs: wait });
      await sleep(clock, wait);
      pause *= 2;
    }
  }

  // stored returns the storage's tokens when they are this server's (two
  // apps of an origin left with one name share a storage): another
  // server's refresh token is never sent here.
  async function stored(): Promise<StoredTokens | null> {
    const t = await storage!.get();
    return t && t.server === base ? t : null;
  }

  // readShared returns the tokens as every tab sees them now.
  async function readShared(): Promise<StoredTokens | null> {
    if (storage) return stored();
    if (!genDb) return cur;
    const g = await idb.read<{ id: string; at: number }>(name, 'gen');
    if (!g || (cur && cur.id === g.id)) return cur;
    // Another tab wrote a newer generation; it posted the tokens before
    // releasing the lock. Wait a moment for them when it did so just now.
    const end = clock.now() + GEN_WAIT_MS;
    while (!recent.has(g.id) && clock.now() < end && Date.now() - g.at < GEN_FRESH_MS) {
      await new Promise<void>((r) => {
        arrived.push(r);
        clock.setTimeout(r, 25);
      });
    }
    return recent.get(g.id) || cur;
  }

  async function writeGen(t: StoredTokens | null) {
    if (genDb) await idb.update(name, 'gen', () => (t ? { id: t.id, at: Date.now() } : null));
  }

  // keep stores new tokens where every tab finds them, before they are
  // used, and clears the tabs' wait when there may be one.
  async function keep(t: StoredTokens, clearHold: boolean) {
    if (storage) await storage.set(t);
    await writeGen(t);
    if (clearHold) await setSharedHold(null);
  }

  // refreshFrom replaces the tokens of generation seen (undefined: none
  // yet, a cookie-mode resume) unless they have been replaced already.
  // for401: a 401 asked for it; the tokens are marked (and shared so), and
  // a 401 for them does not refresh again, in any tab.
  function refreshFrom(seen: string | undefined, force = false, for401 = false): Promise<StoredTokens> {
    if (inflight) return inflight;
    const once = () =>
      lock.run(async (guard) => {
        const e = epoch;
        const latest = await readShared();
        if (latest && latest.id !== seen && (force || clock.now() < dueAt(latest))) {
          // Another tab refreshed (or signed in) meanwhile.
          if (!cur || cur.id !== latest.id) adopt(latest, 'shared');
          return latest;
        }
        if (!latest && (mode === 'body' || seen !== undefined)) {
          // Signed out in another tab (the storage is empty).
          if (cur) await signedOutHere('signed_out', 'Signed out in another tab.', false);
          throw new LatchkeyError(0, 'not_signed_in', 'not signed in');
        }
        const id = latest ? latest.id : '';
        const h = holdDb && (await idb.read<{ until: number }>(name, 'hold'));
        if (h) takeHold(id, h.until);
        dropStaleHold();
        if (hold && hold.id === id && clock.now() < hold.until) throw hold.err || new LatchkeyError(0, 'temporarily_unavailable', 'another tab is waiting to retry the refresh', hold.until - clock.now());
        const t = await trade(latest, guard);
        if (for401) t.forced = true;
        if (e !== epoch) throw new LatchkeyError(0, 'not_signed_in', 'signed out during the refresh');
        await keep(t, !!h);
        adopt(t, latest ? 'refresh' : 'sign-in');
        postTokens(t, 'shared');
        return t;
      });
    // The lease ran out before the request went out (this tab was
    // stopped): another tab may have refreshed since; start again from
    // what it stored.
    const p = (async () => {
      for (let i = 1; ; i++) {
        try {
          return await once();
        } catch (err) {
          if (!(err instanceof LeaseLost)) throw err;
          if (i >= 3) throw new LatchkeyError(0, 'timeout', 'the lock was lost while waiting to refresh');
        }
      }
    })();
    inflight = p;
    p.then(
      () => (inflight = null),
      () => (inflight = null),
    );
    return p;
  }

  async function getAccessToken(): Promise<string> {
    return (await fresh()).accessToken;
  }

  async function fresh(): Promise<StoredTokens> {
    let t = cur;
    if (!t) throw new LatchkeyError(0, 'not_signed_in', 'not signed in');
    const now = clock.now();
    if (now < dueAt(t)) return t;
    if (now < t.expiresAt) {
      // Due but still valid: refresh without waiting for it.
      refreshFrom(t.id).catch(() => undefined);
      return t;
    }
    return refreshFrom(t.id);
  }

  function attachable(u: string) {
    try {
      return origins.has(new URL(u).origin);
    } catch {
      return false;
    }
  }

  async function apiFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const req = new Request(input instanceof URL ? input.href : input, init);
    if (!attachable(req.url)) return doFetch(req);
    const go = async (t: StoredTokens) => {
      const headers = new Headers(req.headers);
      const body = req.body ? await req.clone().arrayBuffer() : undefined;
      return send(req.method, req.url, { headers, body, credentials: req.credentials, redirect: req.redirect, signal: req.signal }, t);
    };
    const t = await fresh();
    const resp = await go(t);
    if (resp.status !== 401) return resp;
    // A 401: resend with newer tokens, or refresh when the challenge says
    // the token is invalid (RFC 6750 §3.1) and these tokens did not come
    // from a refresh a 401 asked for.
    if (cur && cur.id !== t.id) return go(cur);
    const invalid = await invalidToken(resp);
    if (!invalid || t.forced) return resp;
    const n = await refreshFrom(t.id, true, true);
    return go(n);
  }

  // invalidToken: a 401 that says the token is no good (RFC 6750 §3.1, in
  // the challenge or the JSON body).
  async function invalidToken(resp: Response): Promise<boolean> {
    if (/invalid_token/.test(resp.headers.get('WWW-Authenticate') || '')) return true;
    try {
      return (await resp.clone().json()).error === 'invalid_token';
    } catch {
      return false; // not JSON
    }
  }

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const resp = await apiFetch(url(path), {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!resp.ok) throw await errorOf(resp);
    return resp.status === 204 ? (undefined as T) : resp.json();
  }

  // postJSON posts body to path through send (with a proof when DPoP is
  // on): a request that got no answer fails network_error.
  async function postJSON(path: string, body: unknown, creds: RequestCredentials, token?: StoredTokens): Promise<Response> {
    try {
      return await send('POST', url(path), { credentials: creds, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }, token);
    } catch (e) {
      throw netErr(e);
    }
  }

  // anon makes a call that needs no session: no token, no cookie, no
  // proof (a reset must not depend on the DPoP key's storage).
  async function anon(path: string, body: unknown): Promise<void> {
    let resp: Response;
    const u = url(path);
    try {
      resp = await doFetch(u, { method: 'POST', credentials: 'omit', cache: 'no-store', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) });
    } catch (e) {
      throw netErr(e);
    }
    if (!resp.ok) throw await errorOf(resp);
  }

  async function signIn(email: string, password: string): Promise<User> {
    return lock.run(async () => {
      const sentAt = clock.now();
      const resp = await postJSON('/auth/sign-in', { email, password }, credentials);
      if (!resp.ok) throw await errorOf(resp);
      const b = await resp.json();
      const server = Date.parse(b.serverTime);
      const t = tokensFrom(b, sentAt, isNaN(server) ? 0 : server - clock.now());
      await keep(t, true);
      adopt(t, 'sign-in');
      postTokens(t, 'sign-in');
      return b.user as User;
    });
  }

  async function signUp(email: string, password: string): Promise<User> {
    const resp = await postJSON('/auth/sign-up', { email, password }, 'omit');
    if (!resp.ok) throw await errorOf(resp);
    return (await resp.json()).user;
  }

  async function signOut(o: { scope?: 'local' | 'others' | 'global' } = {}) {
    const scope = o.scope || 'local';
    // A 401 invalid_token says the access token is no good, not that the
    // session is over (the token may have expired under a clock set back):
    // refresh and sign out again once; a second refusal ends it here.
    for (let again = true; ; again = false) {
      let t: StoredTokens;
      try {
        t = await fresh();
      } catch (e) {
        if (e instanceof LatchkeyError && e.reauthRequired) return; // already over
        throw e;
      }
      const refused = await lock.run(async () => {
        const resp = await postJSON('/auth/sign-out', { scope }, credentials, cur || t);
        if (again && resp.status === 401 && (await invalidToken(resp))) return cur || t;
        if (!resp.ok && resp.status !== 401) throw await errorOf(resp);
        if (scope !== 'others') await signedOutHere('signed_out', scope === 'global' ? 'Signed out everywhere.' : 'Signed out.', true);
      });
      if (!refused) return;
      try {
        await refreshFrom(refused.id, true);
      } catch (e) {
        if (e instanceof LatchkeyError && e.reauthRequired) return; // over
        throw e;
      }
    }
  }

  async function resume(): Promise<boolean> {
    if (!base) return false;
    if (cur) return true;
    if (storage) {
      const t = await stored();
      if (!t) return false;
      adopt(t, 'storage');
      if (clock.now() >= t.expiresAt) await refreshFrom(t.id);
      return cur !== null;
    }
    // Cookie mode: ask the other tabs first, then the cookie.
    if (channel) {
      post({ type: 'ask' });
      await sleep(clock, ASK_WAIT_MS);
      if (cur) return true;
    }
    try {
      await refreshFrom(undefined);
    } catch (e) {
      if (e instanceof LatchkeyError && e.reauthRequired) return false;
      throw e;
    }
    return cur !== null;
  }

  if (channel) {
    channel.onmessage = (ev: MessageEvent<Msg>) => {
      const m = ev.data;
      if (!m || closed || (m as any).server !== base) return;
      if (m.type === 'tokens') {
        const t = m.t;
        if (!t || typeof t.id !== 'string' || typeof t.accessToken !== 'string' || !(t.expiresAt > 0) || !(t.lifetimeMs > 0)) return;
        recent.set(m.t.id, m.t);
        if (recent.size > 8) recent.delete(recent.keys().next().value!);
        const w = arrived;
        arrived = [];
        w.forEach((r) => r());
        if (m.source === 'sign-in' || (!out && (!cur || (cur.id !== m.t.id && m.t.expiresAt >= cur.expiresAt)))) {
          // In body mode the refresh token stays in the storage: the next
          // refresh reads it there.
          adopt(m.t, m.source === 'sign-in' ? 'sign-in' : 'shared');
        }
      } else if (m.type === 'signedOut') {
        signedOutHere(m.reason, m.message, false);
      } else if (m.type === 'hold') {
        if (cur && cur.id === m.id) takeHold(m.id, m.until);
      } else if (m.type === 'ask') {
        if (cur) postTokens(cur, 'shared');
      }
    };
  }

  // A hidden tab's timers are throttled: catch up when it is shown again.
  const onVisible = () => {
    if (document.visibilityState === 'visible' && cur && clock.now() >= dueAt(cur)) refreshFrom(cur.id).catch(() => undefined);
  };
  const hasDocument = typeof document !== 'undefined' && !!document.addEventListener;
  if (hasDocument) document.addEventListener('visibilitychange', onVisible);

  return {
    signUp,
    signIn,
    signOut,
    me: async () => (await call<{ user: User }>('GET', '/auth/me')).user,
    sessions: async () => (await call<{ sessions: Session[] }>('GET', '/auth/sessions')).sessions,
    async revokeSession(id: string) {
      const sid = cur ? claimsOf(cur.accessToken).sid : undefined;
      await call('DELETE', '/auth/sessions/' + encodeURIComponent(id));
      if (sid === id) await signedOutHere('session_revoked', 'This session was revoked.', true);
    },
    async changePassword(currentPassword: string, newPassword: string, o: { signOutOthers?: boolean } = {}) {
      await call('POST', '/auth/password', { currentPassword, newPassword, signOutOthers: o.signOutOthers ?? true });
    },
    requestPasswordReset: (email: string) => anon('/auth/recover', { email }),
    async resetPassword(token: string, newPassword: string) {
      await anon('/auth/reset', { token, newPassword });
      // Every session of the token's user is over. The one held here is
      // most likely that user's; a refresh tells (another user's goes on).
      if (cur) await refreshFrom(cur.id, true).catch(() => undefined);
    },
    verifyEmail: (token: string) => anon('/auth/verify', { token }),
    resendVerification: (email: string) => anon('/auth/verify/resend', { email }),
    getAccessToken,
    fetch: apiFetch,
    resume,
    async refresh() {
      await refreshFrom(cur ? cur.id : undefined, true);
    },
    on(ev, fn) {
      (listeners[ev] ||= new Set()).add(fn);
      return () => listeners[ev]!.delete(fn);
    },
    get signedIn() {
      return cur !== null;
    },
    lockKind: lock.kind,
    dpopKeyPair: async () => (dpop ? dpop.keyPair() : undefined),
    close() {
      closed = true;
      clock.clearTimeout(timer);
      if (channel) channel.close();
      if (hasDocument) document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
