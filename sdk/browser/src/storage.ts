// Where the body mode keeps its tokens. Three adapters: memory (the
// default outside a browser), Web Storage (sessionStorage), IndexedDB (the
// default in a browser). README.md compares them.

import * as idb from './idb.js';

/** The tokens of one generation, as the client keeps and shares them. */
export interface StoredTokens {
  /** Random id of this generation: changes at every sign-in and refresh. */
  id: string;
  accessToken: string;
  /** "Bearer", or "DPoP" for a token bound to the client's DPoP key. */
  tokenType: string;
  /** When the access token expires, in ms on this machine's clock (Date.now()), measured from when the request that got it was sent plus the server's expiresIn. */
  expiresAt: number;
  /** The access token's lifetime in ms (expiresIn). */
  lifetimeMs: number;
  /** Server clock minus this machine's clock, in ms, from the sign-in's serverTime. */
  skewMs: number;
  /** The server (baseUrl) the tokens are for. */
  server: string;
  /** Got by a refresh that a 401 asked for: a 401 for these tokens does not refresh again. */
  forced?: boolean;
  /** Body mode only: the refresh token. Never present in cookie mode. */
  refreshToken?: string;
}

/** A place for the body mode's tokens. */
export interface TokenStorage {
  /** True when every tab of the origin sees the same data: then the tabs share one session and refresh it under one lock. */
  readonly shared: boolean;
  get(): Promise<StoredTokens | null>;
  /** set(null) forgets the tokens. */
  set(t: StoredTokens | null): Promise<void>;
}

/** memoryStorage keeps the tokens in this page's memory: gone at reload, one session per tab. */
export function memoryStorage(): TokenStorage {
  let v: StoredTokens | null = null;
  return {
    shared: false,
    get: async () => v,
    set: async (t) => {
      v = t;
    },
  };
}

/**
 * webStorage keeps the tokens in a Storage object under key, usually
 * sessionStorage (per tab, survives reloads of that tab). Tabs do not share
 * it, so each tab has its own session; a tab duplicated by the browser
 * starts with a copy of the original's refresh token, and the first of the
 * two to refresh leaves the other with a superseded one.
 */
export function webStorage(store: Storage, key = 'latchkey'): TokenStorage {
  return {
    shared: false,
    get: async () => {
      const s = store.getItem(key);
      return s ? (JSON.parse(s) as StoredTokens) : null;
    },
    set: async (t) => {
      if (t) store.setItem(key, JSON.stringify(t));
      else store.removeItem(key);
    },
  };
}

/**
 * indexedDBStorage keeps the tokens in IndexedDB (database name, default
 * "latchkey"): shared by every tab of the origin and kept across reloads
 * and restarts of the browser, so the tabs share one session.
 */
export function indexedDBStorage(name = 'latchkey'): TokenStorage {
  return {
    shared: true,
    get: async () => (await idb.read<StoredTokens>(name, 'tokens')) || null,
    set: async (t) => {
      await idb.update<StoredTokens>(name, 'tokens', () => t);
    },
  };
}
