// Test helpers: a scripted HTTP server on loopback (real requests, real
// sockets) and a clock whose time moves only when a test says so.
import http from 'node:http';
import { createClient } from '../dist/index.js';

// jwt makes an unsigned token with the given claims: the SDK only reads a
// token's claims, the server is what verifies it.
export function jwt(claims) {
  const b = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return b({ alg: 'ES256', typ: 'at+jwt' }) + '.' + b(claims) + '.c2ln';
}

// startServer answers each request with handler(req) → {status, headers,
// body} | 'drop' (close the connection without an answer) | 'stall'
// (answer nothing until the test ends). Every request is recorded with its
// body.
export async function startServer(t, handler) {
  const requests = [];
  const stalled = [];
  const srv = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    const r = { method: req.method, path: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
    requests.push(r);
    const out = await handler(r, requests.length);
    if (out === 'drop') return req.socket.destroy();
    if (out === 'stall') return stalled.push(res);
    const headers = { 'Content-Type': 'application/json', ...(out.headers || {}) };
    res.writeHead(out.status || 200, headers);
    res.end(out.body === undefined ? '' : typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const res of stalled) res.socket.destroy();
    srv.closeAllConnections();
    srv.close();
  });
  return { url: 'http://127.0.0.1:' + srv.address().port, requests };
}

// until waits (real time, bounded) for cond to hold.
export async function until(cond, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// fakeClock: the SDK's timers fire only in advance(); now() is the fake
// time. Real I/O goes on in real time, so tests wait for it with until().
export function fakeClock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let now = start;
  let seq = 0;
  const timers = new Map();
  const clock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms || 0), fn });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    random: () => 0,
  };
  return {
    clock,
    get now() {
      return now;
    },
    // advance moves the time by ms, firing every timer due on the way, in
    // order, letting promises settle after each.
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        let next;
        for (const [id, tm] of timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
        await settle();
      }
      now = end;
      await settle();
    },
    // jump moves the time without firing timers (a throttled background tab).
    jump(ms) {
      now += ms;
    },
    timers: () => [...timers.values()].map((tm) => tm.at - now).sort((a, b) => a - b),
  };
}

export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

// tokens answers a sign-in or refresh with lifetime s and the n-th refresh
// token.
export function tokens(n, lifetime = 100, extra = {}) {
  return {
    status: 200,
    body: {
      accessToken: jwt({ sub: 'u1', sid: 's1', iat: 1000, exp: 1000 + lifetime, n }),
      refreshToken: 'rt-' + n,
      tokenType: 'Bearer',
      expiresIn: lifetime,
      ...extra,
    },
  };
}

export const user = { id: 'u1', email: 'ann@example.com', status: 'active', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

export function signInAnswer(n = 0, lifetime = 100, serverTime = '2026-01-01T00:00:00Z') {
  return tokens(n, lifetime, { user, serverTime, refreshExpiresIn: 3600, sessionExpiresAt: '2026-02-01T00:00:00Z' });
}

// opener returns a function that makes a client of opts (extra options on
// top), closed when test t ends.
export function opener(t, opts) {
  return (extra = {}) => {
    const c = createClient({ ...opts, ...extra });
    t.after(() => c.close());
    return c;
  };
}
