// One lock for every request that spends or sets the refresh token, across
// all tabs of an origin.
//
// With Web Locks (navigator.locks, secure contexts only) the browser grants
// the lock to one tab at a time and releases it when the holder's callback
// settles or its tab closes.
//
// Without Web Locks (a page served over plain HTTP to another host) the
// fallback is a lease in IndexedDB: a tab takes the lock by writing
// {owner, until} in a readwrite transaction that first checks that no
// unexpired lease is there. IndexedDB runs readwrite transactions on one
// store one at a time (IndexedDB 3.0, "Transaction scheduling"), so the
// check and the write are one atomic step and two tabs never hold the
// lease at once. A tab that
// closes while holding it blocks the others until the lease runs out
// (LEASE_MS, longer than a refresh with all its retries may last). Without
// IndexedDB either, the lock serializes the calls of this page only.

import * as idb from './idb.js';

export const LEASE_MS = 20_000;
const POLL_MS = 50;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  random(): number;
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

interface Lease {
  owner: string;
  until: number;
}

/** LeaseLost: the lease ran out while its holder was stopped (a frozen tab), and another tab may hold it now. */
export class LeaseLost extends Error {}

/** A guard resolves while fn still holds the lock (and extends it); it throws LeaseLost when it does not. */
export type Guard = () => Promise<void>;

const held: Guard = async () => undefined;

/** Lock is how the client runs fn alone: crossTab says whether other tabs must be excluded too. */
export function makeLock(name: string, crossTab: boolean, clock: Clock, db: string) {
  let tail: Promise<unknown> = Promise.resolve();
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator).locks : undefined;
  const kind = !crossTab ? 'local' : locks && typeof locks.request === 'function' ? 'web-locks' : idb.available() ? 'indexeddb' : 'local';
  const key = 'lock:' + name;

  async function lease<T>(fn: (guard: Guard) => Promise<T>): Promise<T> {
    const me = String(clock.random()).slice(2) + clock.now() + Math.random();
    for (;;) {
      // A lease ends LEASE_MS after it was taken at most: one that ends
      // later was taken before the clock was set back, and is over.
      const got = await idb.update<Lease>(db, key, (l) => (!l || l.until <= Date.now() || l.until > Date.now() + LEASE_MS ? { owner: me, until: Date.now() + LEASE_MS } : undefined));
      if (got) break;
      await sleep(clock, POLL_MS + clock.random() * POLL_MS);
    }
    // A tab can be stopped (frozen, starved) for longer than LEASE_MS
    // while it holds the lease, and another tab then takes it. Before each
    // request that spends the refresh token, the holder checks in one
    // transaction that the lease is still its own and extends it, and
    // sends the request in the same task: a page is frozen between tasks,
    // never inside one (WICG Page Lifecycle), so what it sends is what it
    // read under a lease it still held.
    const guard: Guard = async () => {
      const ok = await idb.update<Lease>(db, key, (l) => (l && l.owner === me ? { owner: me, until: Date.now() + LEASE_MS } : undefined));
      if (!ok) throw new LeaseLost('the lock was lost');
    };
    try {
      return await fn(guard);
    } finally {
      await idb.update<Lease>(db, key, (l) => (l && l.owner === me ? null : undefined));
    }
  }

  function run<T>(fn: (guard: Guard) => Promise<T>): Promise<T> {
    if (kind === 'web-locks') return locks!.request(name, () => fn(held)) as Promise<T>;
    // Serialize this page's own calls, then take the lease.
    const p = tail.then(() => (kind === 'indexeddb' ? lease(fn) : fn(held)));
    tail = p.catch(() => undefined);
    return p;
  }
  return { run, kind };
}
