// Generated from web/page/app.js and the browser SDK (sdk/browser/src) by
// sdk/browser/build.mjs: do not edit. `npm run build` in sdk/browser writes it
// again; web/sdk_test.go (TestBundleIsCurrent) fails when it differs from a
// fresh build.
(() => {
  // sdk/browser/src/errors.ts
  var REAUTH_CODES = [
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalid",
    "refresh_token_missing",
    "session_revoked",
    "session_expired",
    "user_inactive",
    "user_not_found",
    "cookie_disabled",
    "not_signed_in"
  ];
  var LatchkeyError = class extends Error {
    constructor(status, code, message, retryAfterMs2 = 0, reason = "") {
      super(message || code);
      this.name = "LatchkeyError";
      this.status = status;
      this.code = code;
      this.retryAfterMs = retryAfterMs2;
      this.reason = reason;
      this.reauthRequired = REAUTH_CODES.includes(code) || code === "invalid_dpop_proof" && reason === "key_mismatch";
    }
  };
  var MAX_RETRY_AFTER_MS = 10 * 60 * 1e3;
  function retryAfterMs(h) {
    const v = (h.get("Retry-After") || "").trim();
    if (!v) return 0;
    let ms;
    if (/^\d+$/.test(v)) {
      ms = Number(v) * 1e3;
    } else {
      const at = Date.parse(v);
      const date = Date.parse(h.get("Date") || "");
      if (isNaN(at) || isNaN(date)) return 0;
      ms = at - date;
    }
    return ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
  }
  async function errorOf(resp) {
    let code = "";
    let message = "";
    let reason = "";
    try {
      const b = await resp.json();
      code = typeof b.error === "string" ? b.error : "";
      message = typeof b.message === "string" ? b.message : "";
      reason = typeof b.reason === "string" ? b.reason : "";
    } catch {
    }
    if (!code) code = resp.status >= 500 ? "temporarily_unavailable" : "http_" + resp.status;
    return new LatchkeyError(resp.status, code, message || resp.status + " " + resp.statusText, retryAfterMs(resp.headers), reason);
  }

  // sdk/browser/src/idb.ts
  var dbs = /* @__PURE__ */ new Map();
  function open(name) {
    let p = dbs.get(name);
    if (!p) {
      p = new Promise((resolve, reject) => {
        const req = indexedDB.open(name);
        req.onupgradeneeded = () => req.result.createObjectStore("kv");
        req.onsuccess = () => {
          const d = req.result;
          d.onversionchange = () => {
            d.close();
            if (dbs.get(name) === p) dbs.delete(name);
          };
          resolve(d);
        };
        req.onerror = () => reject(req.error);
      });
      dbs.set(name, p);
      p.catch(() => dbs.delete(name));
    }
    return p;
  }
  async function update(db, key, change) {
    const d = await open(db);
    return new Promise((resolve, reject) => {
      const tx = d.transaction("kv", "readwrite");
      const store = tx.objectStore("kv");
      let out;
      const get = store.get(key);
      get.onsuccess = () => {
        out = change(get.result);
        if (out === null) store.delete(key);
        else if (out !== void 0) store.put(out, key);
      };
      tx.oncomplete = () => resolve(out);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }
  async function read(db, key) {
    let v;
    await update(db, key, (old) => {
      v = old;
      return void 0;
    });
    return v;
  }
  function available() {
    return typeof indexedDB !== "undefined";
  }

  // sdk/browser/src/storage.ts
  function memoryStorage() {
    let v = null;
    return {
      shared: false,
      get: async () => v,
      set: async (t) => {
        v = t;
      }
    };
  }
  function indexedDBStorage(name = "latchkey") {
    return {
      shared: true,
      get: async () => await read(name, "tokens") || null,
      set: async (t) => {
        await update(name, "tokens", () => t);
      }
    };
  }

  // sdk/browser/src/lock.ts
  var LEASE_MS = 2e4;
  var POLL_MS = 50;
  function sleep(clock, ms) {
    return new Promise((resolve) => clock.setTimeout(resolve, ms));
  }
  var LeaseLost = class extends Error {
  };
  var held = async () => void 0;
  function makeLock(name, crossTab, clock, db) {
    let tail = Promise.resolve();
    const locks = typeof navigator !== "undefined" ? navigator.locks : void 0;
    const kind = !crossTab ? "local" : locks && typeof locks.request === "function" ? "web-locks" : available() ? "indexeddb" : "local";
    const key = "lock:" + name;
    async function lease(fn) {
      const me = String(clock.random()).slice(2) + clock.now() + Math.random();
      for (; ; ) {
        const got = await update(db, key, (l) => !l || l.until <= Date.now() || l.until > Date.now() + LEASE_MS ? { owner: me, until: Date.now() + LEASE_MS } : void 0);
        if (got) break;
        await sleep(clock, POLL_MS + clock.random() * POLL_MS);
      }
      const guard = async () => {
        const ok = await update(db, key, (l) => l && l.owner === me ? { owner: me, until: Date.now() + LEASE_MS } : void 0);
        if (!ok) throw new LeaseLost("the lock was lost");
      };
      try {
        return await fn(guard);
      } finally {
        await update(db, key, (l) => l && l.owner === me ? null : void 0);
      }
    }
    function run(fn) {
      if (kind === "web-locks") return locks.request(name, () => fn(held));
      const p = tail.then(() => kind === "indexeddb" ? lease(fn) : fn(held));
      tail = p.catch(() => void 0);
      return p;
    }
    return { run, kind };
  }

  // sdk/browser/src/dpop.ts
  var enc = new TextEncoder();
  function b64url(bytes) {
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  var b64json = (v) => b64url(enc.encode(JSON.stringify(v)));
  function htu(url) {
    const u = new URL(url);
    return u.origin + u.pathname;
  }
  function generate() {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  }
  function usable(p) {
    return !!p && p.privateKey instanceof CryptoKey && p.publicKey instanceof CryptoKey && p.privateKey.algorithm.name === "ECDSA";
  }
  function dpopKey(db, persist = available()) {
    let pair;
    let jwk;
    async function load() {
      if (!persist) return generate();
      const have = await read(db, "dpop");
      if (usable(have)) return have;
      const made = await generate();
      let winner = made;
      await update(db, "dpop", (old) => {
        if (usable(old)) {
          winner = old;
          return void 0;
        }
        return made;
      });
      return winner;
    }
    function keyPair() {
      if (!pair) {
        pair = load();
        pair.catch(() => pair = void 0);
      }
      return pair;
    }
    async function publicJwk() {
      if (!jwk) {
        jwk = keyPair().then(async (p) => {
          const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", p.publicKey);
          return { kty, crv, x, y };
        });
        jwk.catch(() => jwk = void 0);
      }
      return jwk;
    }
    async function proof(htm, url, o = {}) {
      const p = await keyPair();
      const header = { typ: "dpop+jwt", alg: "ES256", jwk: await publicJwk() };
      const payload = {
        jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
        htm,
        htu: htu(url),
        iat: Math.floor(((o.now ?? Date.now()) + (o.skewMs || 0)) / 1e3)
      };
      if (o.accessToken) payload.ath = b64url(await crypto.subtle.digest("SHA-256", enc.encode(o.accessToken)));
      if (o.nonce) payload.nonce = o.nonce;
      const input = b64json(header) + "." + b64json(payload);
      const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, p.privateKey, enc.encode(input));
      return input + "." + b64url(sig);
    }
    return { keyPair, proof };
  }

  // sdk/browser/src/client.ts
  var REFRESH_COOKIE_PATH = "/api/refresh/refreshtoken";
  var MAX_EARLY_MS = 6e4;
  var MAX_TIMER_MS = 2 ** 31 - 1;
  var ASK_WAIT_MS = 150;
  var GEN_WAIT_MS = 500;
  var GEN_FRESH_MS = 2e3;
  var netErr = (e) => e instanceof LatchkeyError ? e : new LatchkeyError(0, "network_error", "the server cannot be reached");
  function randomId() {
    const b = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function claimsOf(jwt) {
    try {
      let p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      p += "=".repeat((4 - p.length % 4) % 4);
      return JSON.parse(atob(p));
    } catch {
      return {};
    }
  }
  function dueAt(t) {
    return t.expiresAt - Math.min(t.lifetimeMs / 5, MAX_EARLY_MS);
  }
  function createClient(opts) {
    const mode = opts.mode;
    if (mode !== "cookie" && mode !== "body") throw new TypeError('latchkey: mode must be "cookie" or "body"');
    const name = opts.name || "latchkey";
    const loc = typeof location !== "undefined" ? location.href : void 0;
    let base = "";
    try {
      base = new URL(opts.baseUrl || "/", loc).href.replace(/\/$/, "");
    } catch {
    }
    const origins = new Set((opts.apiOrigins || []).map((o) => new URL(o).origin));
    if (base) origins.add(new URL(base).origin);
    if (loc) origins.add(new URL(loc).origin);
    const doFetch = opts.fetch || ((i, n) => globalThis.fetch(i, n));
    const clock = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => {
        const id = setTimeout(fn, ms);
        if (id && id.unref) id.unref();
        return id;
      },
      clearTimeout: (id) => clearTimeout(id),
      random: Math.random,
      ...opts.clock
    };
    const T = opts.attemptTimeoutMs ?? 3e3;
    const I = opts.reuseIntervalMs ?? 1e4;
    const storage = mode === "body" ? opts.storage || (available() ? indexedDBStorage(name) : memoryStorage()) : null;
    const inBrowser = typeof document !== "undefined" || typeof globalThis.WorkerGlobalScope !== "undefined";
    const shared = (opts.crossTab ?? inBrowser) && (mode === "cookie" || storage.shared);
    const lock = makeLock(name + "-refresh", shared, clock, name);
    const channel = shared && typeof BroadcastChannel !== "undefined" ? new BroadcastChannel(name) : null;
    if (channel && channel.unref) channel.unref();
    const dpop = opts.dpop ? dpopKey(name) : null;
    const nonces = /* @__PURE__ */ new Map();
    const credentials = mode === "cookie" ? "include" : "omit";
    const genDb = mode === "cookie" && shared && available();
    const holdDb = shared && available();
    const setSharedHold = (until) => holdDb && update(name, "hold", () => until ? { until } : null);
    const recent = /* @__PURE__ */ new Map();
    let arrived = [];
    let cur = null;
    let epoch = 0;
    let timer;
    let inflight = null;
    let hold = null;
    let backoff = 1e3;
    let skew;
    let closed = false;
    let out = false;
    const listeners = {};
    function emit(ev, e) {
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
    const post = (m) => channel && !closed && channel.postMessage({ ...m, server: base });
    const postTokens = (t, source) => post({ type: "tokens", t: { ...t, refreshToken: void 0 }, source });
    function takeHold(id, until) {
      const now = clock.now();
      if (!(until > now && until <= now + MAX_RETRY_AFTER_MS) || hold && hold.until >= until) return;
      hold = { id, until };
      schedule();
    }
    function dropStaleHold() {
      if (hold && hold.until > clock.now() + MAX_RETRY_AFTER_MS) hold = null;
    }
    function schedule() {
      clock.clearTimeout(timer);
      if (closed) return;
      dropStaleHold();
      const at = Math.max(cur ? dueAt(cur) : 0, hold ? hold.until : 0);
      if (!at) return;
      timer = clock.setTimeout(() => {
        if (clock.now() < at) schedule();
        else if (cur) refreshFrom(cur.id).catch(() => void 0);
        else if (mode === "cookie" && hold) {
          hold = null;
          refreshFrom(void 0).catch(() => void 0);
        }
      }, Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS));
    }
    function adopt(t, source) {
      if (source === "sign-in") epoch++;
      if (source !== "shared") out = false;
      cur = t;
      if (hold && hold.id !== t.id) hold = null;
      if (source !== "shared") backoff = 1e3;
      schedule();
      emit("tokens", { accessToken: t.accessToken, expiresAt: t.expiresAt, source });
    }
    async function signedOutHere(reason, message, tell) {
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
        post({ type: "signedOut", reason, message });
      }
      if (had || tell) emit("signedOut", { reason, message });
    }
    function url(path) {
      if (!base) throw new LatchkeyError(0, "no_server", 'baseUrl "' + opts.baseUrl + '" is relative, and there is no page to resolve it against');
      return base + path;
    }
    async function send(method, u, init, token, signal, before) {
      const origin = new URL(u).origin;
      for (let i = 0; ; i++) {
        const headers = new Headers(init.headers);
        if (!headers.has("Accept")) headers.set("Accept", "application/json");
        if (token) headers.set("Authorization", (token.tokenType === "DPoP" ? "DPoP " : "Bearer ") + token.accessToken);
        const skewMs = skew ?? (token || cur)?.skewMs ?? 0;
        if (dpop) {
          const ath = token && token.tokenType === "DPoP" ? token.accessToken : void 0;
          let proof;
          try {
            proof = await dpop.proof(method, u, { accessToken: ath, nonce: nonces.get(origin), skewMs, now: clock.now() });
          } catch (e) {
            throw new LatchkeyError(0, "dpop_unavailable", "the DPoP key cannot be loaded or kept: " + (e.message || e));
          }
          headers.set("DPoP", proof);
        }
        if (before) await before();
        const sent = clock.now();
        const resp = await doFetch(u, { ...init, method, headers, signal, cache: "no-store" });
        const date = Date.parse(resp.headers.get("Date") || "");
        if (!isNaN(date)) skew = date + 500 - (sent + clock.now()) / 2;
        const n = resp.headers.get("DPoP-Nonce");
        if (n) nonces.set(origin, n);
        if (!dpop || i > 0 || resp.status !== 400 && resp.status !== 401) return resp;
        let b = {};
        const challenge = resp.headers.get("WWW-Authenticate") || "";
        if (!/use_dpop_nonce/.test(challenge)) {
          try {
            b = await resp.clone().json() || {};
          } catch {
          }
        }
        const nonce = n && (/use_dpop_nonce/.test(challenge) || b.error === "use_dpop_nonce");
        const iat = b.error === "invalid_dpop_proof" && b.reason === "iat" && skew !== void 0 && Math.abs(skew - skewMs) > 2e3;
        if (!nonce && !iat) return resp;
      }
    }
    function tokensFrom(b, sentAt, skewMs) {
      if (!b || typeof b.accessToken !== "string") throw new LatchkeyError(0, "bad_response", "the answer has no access token");
      const c = claimsOf(b.accessToken);
      const lifetimeMs = typeof b.expiresIn === "number" ? b.expiresIn * 1e3 : typeof c.exp === "number" && typeof c.iat === "number" && c.exp > c.iat ? (c.exp - c.iat) * 1e3 : 6e4;
      const t = {
        id: randomId(),
        accessToken: b.accessToken,
        tokenType: b.tokenType === "DPoP" || c.cnf && c.cnf.jkt ? "DPoP" : "Bearer",
        expiresAt: sentAt + lifetimeMs,
        lifetimeMs,
        skewMs,
        server: base
      };
      if (mode === "body" && typeof b.refreshToken === "string") t.refreshToken = b.refreshToken;
      return t;
    }
    async function attempt(from, guard) {
      const u = url(mode === "cookie" ? REFRESH_COOKIE_PATH : "/token");
      const ctl = new AbortController();
      const to = clock.setTimeout(() => ctl.abort(), T);
      const sentAt = clock.now();
      try {
        const resp = mode === "cookie" ? await send("GET", u, { credentials }, void 0, ctl.signal, guard) : await send("POST", u, { credentials, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken: from.refreshToken }) }, void 0, ctl.signal, guard);
        if (!resp.ok) return { err: await errorOf(resp) };
        return { t: tokensFrom(await resp.json(), sentAt, from ? from.skewMs : 0) };
      } catch (e) {
        if (e instanceof LatchkeyError) return { err: e };
        if (e instanceof LeaseLost) throw e;
        return { err: ctl.signal.aborted ? new LatchkeyError(0, "timeout", "the refresh took longer than " + T + " ms") : new LatchkeyError(0, "network_error", "the server cannot be reached") };
      } finally {
        clock.clearTimeout(to);
      }
    }
    async function startHold(id, err) {
      const wait = Math.max(Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS), backoff * (1 + clock.random() / 4));
      backoff = Math.min(backoff * 2, 3e4);
      hold = { id, until: clock.now() + wait, err };
      await setSharedHold(hold.until);
      post({ type: "hold", id, until: hold.until });
      schedule();
      emit("retrying", { error: err, retryInMs: wait });
    }
    async function trade(from, guard) {
      const t0 = clock.now();
      let pause = 250;
      let unknown = false;
      for (let n = 1; ; n++) {
        const r = await attempt(from, guard);
        if (r.t) return r.t;
        const err = r.err;
        if (err.reauthRequired || mode === "cookie" && err.status === 404) {
          const e = err.reauthRequired ? err : new LatchkeyError(404, "cookie_disabled", err.message);
          await signedOutHere(e.code, e.message, e.code !== "refresh_token_missing" || from !== null);
          throw e;
        }
        unknown = unknown || err.status === 0 || err.status >= 500;
        const wait = Math.max(pause, err.retryAfterMs);
        if (!unknown || n >= 4 || clock.now() + wait + T > t0 + I) {
          await startHold(from ? from.id : "", err);
          throw err;
        }
        emit("retrying", { error: err, retryInMs: wait });
        await sleep(clock, wait);
        pause *= 2;
      }
    }
    async function stored() {
      const t = await storage.get();
      return t && t.server === base ? t : null;
    }
    async function readShared() {
      if (storage) return stored();
      if (!genDb) return cur;
      const g = await read(name, "gen");
      if (!g || cur && cur.id === g.id) return cur;
      const end = clock.now() + GEN_WAIT_MS;
      while (!recent.has(g.id) && clock.now() < end && Date.now() - g.at < GEN_FRESH_MS) {
        await new Promise((r) => {
          arrived.push(r);
          clock.setTimeout(r, 25);
        });
      }
      return recent.get(g.id) || cur;
    }
    async function writeGen(t) {
      if (genDb) await update(name, "gen", () => t ? { id: t.id, at: Date.now() } : null);
    }
    async function keep(t, clearHold) {
      if (storage) await storage.set(t);
      await writeGen(t);
      if (clearHold) await setSharedHold(null);
    }
    function refreshFrom(seen, force = false, for401 = false) {
      if (inflight) return inflight;
      const once = () => lock.run(async (guard) => {
        const e = epoch;
        const latest = await readShared();
        if (latest && latest.id !== seen && (force || clock.now() < dueAt(latest))) {
          if (!cur || cur.id !== latest.id) adopt(latest, "shared");
          return latest;
        }
        if (!latest && (mode === "body" || seen !== void 0)) {
          if (cur) await signedOutHere("signed_out", "Signed out in another tab.", false);
          throw new LatchkeyError(0, "not_signed_in", "not signed in");
        }
        const id = latest ? latest.id : "";
        const h = holdDb && await read(name, "hold");
        if (h) takeHold(id, h.until);
        dropStaleHold();
        if (hold && hold.id === id && clock.now() < hold.until) throw hold.err || new LatchkeyError(0, "temporarily_unavailable", "another tab is waiting to retry the refresh", hold.until - clock.now());
        const t = await trade(latest, guard);
        if (for401) t.forced = true;
        if (e !== epoch) throw new LatchkeyError(0, "not_signed_in", "signed out during the refresh");
        await keep(t, !!h);
        adopt(t, latest ? "refresh" : "sign-in");
        postTokens(t, "shared");
        return t;
      });
      const p = (async () => {
        for (let i = 1; ; i++) {
          try {
            return await once();
          } catch (err) {
            if (!(err instanceof LeaseLost)) throw err;
            if (i >= 3) throw new LatchkeyError(0, "timeout", "the lock was lost while waiting to refresh");
          }
        }
      })();
      inflight = p;
      p.then(
        () => inflight = null,
        () => inflight = null
      );
      return p;
    }
    async function getAccessToken() {
      return (await fresh()).accessToken;
    }
    async function fresh() {
      let t = cur;
      if (!t) throw new LatchkeyError(0, "not_signed_in", "not signed in");
      const now = clock.now();
      if (now < dueAt(t)) return t;
      if (now < t.expiresAt) {
        refreshFrom(t.id).catch(() => void 0);
        return t;
      }
      return refreshFrom(t.id);
    }
    function attachable(u) {
      try {
        return origins.has(new URL(u).origin);
      } catch {
        return false;
      }
    }
    async function apiFetch(input, init) {
      const req = new Request(input instanceof URL ? input.href : input, init);
      if (!attachable(req.url)) return doFetch(req);
      const go = async (t2) => {
        const headers = new Headers(req.headers);
        const body = req.body ? await req.clone().arrayBuffer() : void 0;
        return send(req.method, req.url, { headers, body, credentials: req.credentials, redirect: req.redirect, signal: req.signal }, t2);
      };
      const t = await fresh();
      const resp = await go(t);
      if (resp.status !== 401) return resp;
      if (cur && cur.id !== t.id) return go(cur);
      const invalid = await invalidToken(resp);
      if (!invalid || t.forced) return resp;
      const n = await refreshFrom(t.id, true, true);
      return go(n);
    }
    async function invalidToken(resp) {
      if (/invalid_token/.test(resp.headers.get("WWW-Authenticate") || "")) return true;
      try {
        return (await resp.clone().json()).error === "invalid_token";
      } catch {
        return false;
      }
    }
    async function call(method, path, body) {
      const resp = await apiFetch(url(path), {
        method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : void 0
      });
      if (!resp.ok) throw await errorOf(resp);
      return resp.status === 204 ? void 0 : resp.json();
    }
    async function postJSON(path, body, creds, token) {
      try {
        return await send("POST", url(path), { credentials: creds, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }, token);
      } catch (e) {
        throw netErr(e);
      }
    }
    async function anon(path, body) {
      let resp;
      const u = url(path);
      try {
        resp = await doFetch(u, { method: "POST", credentials: "omit", cache: "no-store", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
      } catch (e) {
        throw netErr(e);
      }
      if (!resp.ok) throw await errorOf(resp);
    }
    async function signIn2(email, password) {
      return lock.run(async () => {
        const sentAt = clock.now();
        const resp = await postJSON("/auth/sign-in", { email, password }, credentials);
        if (!resp.ok) throw await errorOf(resp);
        const b = await resp.json();
        const server = Date.parse(b.serverTime);
        const t = tokensFrom(b, sentAt, isNaN(server) ? 0 : server - clock.now());
        await keep(t, true);
        adopt(t, "sign-in");
        postTokens(t, "sign-in");
        return b.user;
      });
    }
    async function signUp(email, password) {
      const resp = await postJSON("/auth/sign-up", { email, password }, "omit");
      if (!resp.ok) throw await errorOf(resp);
      return (await resp.json()).user;
    }
    async function signOut2(o = {}) {
      const scope = o.scope || "local";
      for (let again = true; ; again = false) {
        let t;
        try {
          t = await fresh();
        } catch (e) {
          if (e instanceof LatchkeyError && e.reauthRequired) return;
          throw e;
        }
        const refused = await lock.run(async () => {
          const resp = await postJSON("/auth/sign-out", { scope }, credentials, cur || t);
          if (again && resp.status === 401 && await invalidToken(resp)) return cur || t;
          if (!resp.ok && resp.status !== 401) throw await errorOf(resp);
          if (scope !== "others") await signedOutHere("signed_out", scope === "global" ? "Signed out everywhere." : "Signed out.", true);
        });
        if (!refused) return;
        try {
          await refreshFrom(refused.id, true);
        } catch (e) {
          if (e instanceof LatchkeyError && e.reauthRequired) return;
          throw e;
        }
      }
    }
    async function resume() {
      if (!base) return false;
      if (cur) return true;
      if (storage) {
        const t = await stored();
        if (!t) return false;
        adopt(t, "storage");
        if (clock.now() >= t.expiresAt) await refreshFrom(t.id);
        return cur !== null;
      }
      if (channel) {
        post({ type: "ask" });
        await sleep(clock, ASK_WAIT_MS);
        if (cur) return true;
      }
      try {
        await refreshFrom(void 0);
      } catch (e) {
        if (e instanceof LatchkeyError && e.reauthRequired) return false;
        throw e;
      }
      return cur !== null;
    }
    if (channel) {
      channel.onmessage = (ev) => {
        const m = ev.data;
        if (!m || closed || m.server !== base) return;
        if (m.type === "tokens") {
          const t = m.t;
          if (!t || typeof t.id !== "string" || typeof t.accessToken !== "string" || !(t.expiresAt > 0) || !(t.lifetimeMs > 0)) return;
          recent.set(m.t.id, m.t);
          if (recent.size > 8) recent.delete(recent.keys().next().value);
          const w = arrived;
          arrived = [];
          w.forEach((r) => r());
          if (m.source === "sign-in" || !out && (!cur || cur.id !== m.t.id && m.t.expiresAt >= cur.expiresAt)) {
            adopt(m.t, m.source === "sign-in" ? "sign-in" : "shared");
          }
        } else if (m.type === "signedOut") {
          signedOutHere(m.reason, m.message, false);
        } else if (m.type === "hold") {
          if (cur && cur.id === m.id) takeHold(m.id, m.until);
        } else if (m.type === "ask") {
          if (cur) postTokens(cur, "shared");
        }
      };
    }
    const onVisible = () => {
      if (document.visibilityState === "visible" && cur && clock.now() >= dueAt(cur)) refreshFrom(cur.id).catch(() => void 0);
    };
    const hasDocument = typeof document !== "undefined" && !!document.addEventListener;
    if (hasDocument) document.addEventListener("visibilitychange", onVisible);
    return {
      signUp,
      signIn: signIn2,
      signOut: signOut2,
      me: async () => (await call("GET", "/auth/me")).user,
      sessions: async () => (await call("GET", "/auth/sessions")).sessions,
      async revokeSession(id) {
        const sid = cur ? claimsOf(cur.accessToken).sid : void 0;
        await call("DELETE", "/auth/sessions/" + encodeURIComponent(id));
        if (sid === id) await signedOutHere("session_revoked", "This session was revoked.", true);
      },
      async changePassword(currentPassword, newPassword, o = {}) {
        await call("POST", "/auth/password", { currentPassword, newPassword, signOutOthers: o.signOutOthers ?? true });
      },
      requestPasswordReset: (email) => anon("/auth/recover", { email }),
      async resetPassword(token, newPassword) {
        await anon("/auth/reset", { token, newPassword });
        if (cur) await refreshFrom(cur.id, true).catch(() => void 0);
      },
      verifyEmail: (token) => anon("/auth/verify", { token }),
      resendVerification: (email) => anon("/auth/verify/resend", { email }),
      getAccessToken,
      fetch: apiFetch,
      resume,
      async refresh() {
        await refreshFrom(cur ? cur.id : void 0, true);
      },
      on(ev, fn) {
        (listeners[ev] || (listeners[ev] = /* @__PURE__ */ new Set())).add(fn);
        return () => listeners[ev].delete(fn);
      },
      get signedIn() {
        return cur !== null;
      },
      lockKind: lock.kind,
      dpopKeyPair: async () => dpop ? dpop.keyPair() : void 0,
      close() {
        closed = true;
        clock.clearTimeout(timer);
        if (channel) channel.close();
        if (hasDocument) document.removeEventListener("visibilitychange", onVisible);
      }
    };
  }

  // web/page/app.js
  var client = createClient({ baseUrl: "/", mode: "cookie" });
  var $ = (id) => document.getElementById(id);
  var el = {
    body: document.body,
    message: $("message"),
    loading: $("loading"),
    signin: $("signin"),
    form: $("signin-form"),
    email: $("email"),
    password: $("password"),
    signinButton: $("signin-button"),
    account: $("account"),
    userEmail: $("user-email"),
    countdown: $("countdown"),
    renewals: $("renewals"),
    ownRefreshes: $("own-refreshes"),
    renewedAt: $("renewed-at"),
    signout: $("signout"),
    signoutAll: $("signout-all"),
    reload: $("reload-sessions"),
    sessions: $("sessions-body")
  };
  var view = { email: "", expiresAt: 0, lifetimeMs: 0, renewals: 0, own: 0, epoch: 0, signedIn: false };
  var quietSignOut = false;
  function say(text, kind) {
    el.message.textContent = text || "";
    el.message.className = "message" + (kind ? " " + kind : "");
    el.message.hidden = !text;
  }
  function show(state) {
    el.body.dataset.state = state;
    el.loading.hidden = state !== "loading";
    el.signin.hidden = state !== "signed-out";
    el.account.hidden = state !== "signed-in";
  }
  var reasons = {
    refresh_token_reused: "This session was ended because its refresh token was used twice.",
    session_revoked: "This session was revoked.",
    session_expired: "This session reached its maximum lifetime.",
    refresh_token_expired: "This session expired.",
    refresh_token_missing: "This session has ended.",
    refresh_token_invalid: "This session has ended.",
    user_inactive: "This account is deactivated.",
    user_not_found: "This account no longer exists."
  };
  client.on("tokens", (e) => {
    const renewal = view.signedIn && e.source !== "sign-in";
    if (!renewal) {
      view.epoch++;
      view.signedIn = true;
      view.renewals = 0;
      view.own = 0;
    } else {
      view.renewals++;
      if (e.source === "refresh") view.own++;
    }
    view.expiresAt = e.expiresAt;
    view.lifetimeMs = Math.max(1, e.expiresAt - Date.now());
    el.renewals.textContent = String(view.renewals);
    el.ownRefreshes.textContent = String(view.own);
    el.renewedAt.textContent = renewal ? (/* @__PURE__ */ new Date()).toLocaleTimeString() : "–";
    if (!renewal || el.message.classList.contains("warn")) say("");
    if (!renewal) {
      show("signed-in");
      if (!view.email) whoAmI();
    }
    tick();
    loadSessions();
  });
  client.on("signedOut", (e) => {
    if (quietSignOut) {
      quietSignOut = false;
      return;
    }
    if (e.reason === "signed_out") {
      signedOut(e.message, "info");
    } else if (e.reason === "cookie_disabled") {
      const text = "This server does not refresh tokens through a cookie, so this page cannot keep you signed in.";
      signedOut(view.signedIn ? text + " Sign in again." : text, "warn");
    } else {
      signedOut((reasons[e.reason] || e.message || "Your session has ended.") + " Sign in again.", "error");
    }
  });
  client.on("retrying", (e) => {
    say(e.error.status === 0 ? "The server cannot be reached; retrying." : "The server is busy; retrying.", "warn");
  });
  function signedOut(text, kind) {
    view.signedIn = false;
    view.email = "";
    view.renewals = 0;
    view.own = 0;
    view.epoch++;
    el.sessions.replaceChildren();
    el.password.value = "";
    show("signed-out");
    say(text, kind || "error");
    if (client.signedIn) {
      quietSignOut = true;
      client.signOut().catch(() => quietSignOut = false);
    }
  }
  async function whoAmI() {
    const epoch = view.epoch;
    try {
      const user = await client.me();
      if (epoch !== view.epoch) return;
      view.email = user.email;
      el.userEmail.textContent = user.email;
    } catch (e) {
    }
  }
  async function errorOf2(resp) {
    try {
      const b = await resp.json();
      return { error: String(b.error || ""), message: String(b.message || "") };
    } catch (e) {
      return { error: "", message: resp.status + " " + resp.statusText };
    }
  }
  async function api(method, path, body) {
    if (!client.signedIn) return null;
    const epoch = view.epoch;
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== void 0) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await client.fetch(path, init);
    } catch (e) {
      if (!(e instanceof LatchkeyError) || !e.reauthRequired) say("The server cannot be reached.", "warn");
      return null;
    }
    if (epoch !== view.epoch) return null;
    if (resp.status === 401) {
      const err = await errorOf2(resp);
      signedOut((err.message ? err.message + ". " : "Your session has ended. ") + "Sign in again.");
      return null;
    }
    return resp;
  }
  async function loadSessions() {
    const epoch = view.epoch;
    const resp = await api("GET", "/auth/sessions");
    if (!resp || epoch !== view.epoch) return;
    if (!resp.ok) {
      say("Could not list the sessions: " + (await errorOf2(resp)).message, "warn");
      return;
    }
    const { sessions } = await resp.json();
    if (epoch !== view.epoch) return;
    el.sessions.replaceChildren(...sessions.map(row));
  }
  function cell(text, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (title) td.title = title;
    return td;
  }
  function row(s) {
    const tr = document.createElement("tr");
    tr.dataset.sessionId = s.id;
    if (s.current) tr.className = "current";
    const id = cell(shortId(s.id));
    id.title = s.id;
    if (s.current) {
      const mark = document.createElement("span");
      mark.className = "badge";
      mark.textContent = "this session";
      id.append(" ", mark);
    }
    const act = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small danger";
    b.textContent = "Revoke";
    b.dataset.revoke = s.id;
    b.dataset.current = s.current ? "true" : "false";
    act.append(b);
    tr.append(id, cell(device(s.userAgent), s.userAgent), cell(s.ip || ""), cell(when(s.createdAt)), cell(when(s.lastRefreshedAt)), act);
    return tr;
  }
  function shortId(id) {
    return "…" + id.slice(-8);
  }
  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString();
  }
  function device(ua) {
    if (!ua) return "unknown";
    const b = /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Version(?=.*Safari))\/(\d+)/.exec(ua);
    const os = /(Windows|Android|iPhone|iPad|Mac OS X|CrOS|Linux)/.exec(ua);
    const names = { Edg: "Edge", OPR: "Opera", Version: "Safari", HeadlessChrome: "Headless Chrome", "Mac OS X": "macOS", CrOS: "ChromeOS" };
    const name = b ? (names[b[1]] || b[1]) + " " + b[2] : ua.split(" ")[0];
    return os ? name + " on " + (names[os[1]] || os[1]) : name;
  }
  async function revoke(id, current) {
    try {
      await client.revokeSession(id);
    } catch (e) {
      if (e instanceof LatchkeyError && e.status === 404) {
        loadSessions();
        return;
      }
      say("Could not revoke the session: " + e.message, "warn");
      return;
    }
    if (current) return;
    say("Session " + shortId(id) + " revoked: it is signed out at its next refresh.", "info");
    loadSessions();
  }
  async function signIn(email, password) {
    el.signinButton.disabled = true;
    try {
      const user = await client.signIn(email, password);
      el.password.value = "";
      view.email = user.email;
      el.userEmail.textContent = user.email;
    } catch (e) {
      const wait = e.retryAfterMs || 0;
      const text = e.code === "network_error" ? "The server cannot be reached." : e.message || "Sign-in failed.";
      say(text + (wait ? " Try again in " + Math.ceil(wait / 1e3) + " s." : ""), "error");
    } finally {
      el.signinButton.disabled = false;
    }
  }
  async function signOut(scope) {
    try {
      await client.signOut({ scope });
    } catch (e) {
      say(e.code === "network_error" ? "The server cannot be reached." : "Could not sign out: " + e.message, "warn");
    }
  }
  function tick() {
    if (!view.signedIn) return;
    const left = view.expiresAt - Date.now();
    el.countdown.textContent = String(Math.max(0, Math.ceil(left / 1e3)));
    el.countdown.classList.toggle("soon", left <= view.lifetimeMs / 5);
  }
  el.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    say("");
    signIn(el.email.value.trim(), el.password.value);
  });
  el.signout.addEventListener("click", () => signOut("local"));
  el.signoutAll.addEventListener("click", () => signOut("global"));
  el.reload.addEventListener("click", () => loadSessions());
  el.sessions.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-revoke]");
    if (b) revoke(b.dataset.revoke, b.dataset.current === "true");
  });
  setInterval(tick, 250);
  self.latchkeyAccount = { api, say, loadSessions, signedOut };
  show("loading");
  client.resume().then(
    (ok) => {
      if (!ok && el.body.dataset.state === "loading") show("signed-out");
    },
    () => say("The server cannot be reached; retrying.", "warn")
  );
})();
