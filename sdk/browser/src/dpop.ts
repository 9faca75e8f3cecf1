// DPoP (RFC 9449): a key pair that proves possession of the tokens.
//
// The key pair is made by WebCrypto with extractable: false, so no script
// (the app's, an injected one, this SDK) can read the private key: it can
// only ask the browser to sign with it. In a browser the CryptoKeyPair is
// kept in IndexedDB (structured clone keeps it non-extractable), so it
// survives reloads and every tab of the origin signs with the same key; the
// first tab to store one wins and the others adopt it. Elsewhere (Node) it
// lives in memory.

import * as idb from './idb.js';

const enc = new TextEncoder();

export function b64url(bytes: Uint8Array | ArrayBuffer): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const b64json = (v: unknown) => b64url(enc.encode(JSON.stringify(v)));

/** htu (RFC 9449 §4.2): the request's URL without query and fragment. */
export function htu(url: string): string {
  const u = new URL(url);
  return u.origin + u.pathname;
}

export interface ProofOptions {
  /** The access token the request carries: its hash becomes ath (§4.2). */
  accessToken?: string;
  /** The server's latest DPoP-Nonce (§8). */
  nonce?: string;
  /** Server clock minus this machine's, in ms: iat is the server's time. */
  skewMs?: number;
  /** This machine's time in ms (default Date.now()). */
  now?: number;
}

export interface DPoPKey {
  /** The key pair; its privateKey has extractable === false. */
  keyPair(): Promise<CryptoKeyPair>;
  /** A DPoP proof JWT for one request (§4.2). */
  proof(htm: string, url: string, o?: ProofOptions): Promise<string>;
}

function generate(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

function usable(p: CryptoKeyPair | undefined): boolean {
  return !!p && p.privateKey instanceof CryptoKey && p.publicKey instanceof CryptoKey && p.privateKey.algorithm.name === 'ECDSA';
}

/** dpopKey returns the origin's DPoP key, made on first use (db: the IndexedDB database, when there is one). */
export function dpopKey(db: string, persist = idb.available()): DPoPKey {
  let pair: Promise<CryptoKeyPair> | undefined;
  let jwk: Promise<JsonWebKey> | undefined;

  async function load(): Promise<CryptoKeyPair> {
    if (!persist) return generate();
    const have = await idb.read<CryptoKeyPair>(db, 'dpop');
    if (usable(have)) return have!;
    // None yet, or something else under the name (other code of the
    // origin, another format): a new pair, unless another tab stored one
    // meanwhile.
    const made = await generate();
    let winner: CryptoKeyPair = made;
    await idb.update<CryptoKeyPair>(db, 'dpop', (old) => {
      if (usable(old)) {
        winner = old!;
        return undefined;
      }
      return made;
    });
    return winner;
  }

  function keyPair() {
    if (!pair) {
      pair = load();
      pair.catch(() => (pair = undefined));
    }
    return pair;
  }

  async function publicJwk(): Promise<JsonWebKey> {
    if (!jwk) {
      jwk = keyPair().then(async (p) => {
        const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', p.publicKey);
        return { kty, crv, x, y };
      });
      jwk.catch(() => (jwk = undefined));
    }
    return jwk;
  }

  async function proof(htm: string, url: string, o: ProofOptions = {}): Promise<string> {
    const p = await keyPair();
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: await publicJwk() };
    const payload: Record<string, unknown> = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm,
      htu: htu(url),
      iat: Math.floor(((o.now ?? Date.now()) + (o.skewMs || 0)) / 1000),
    };
    if (o.accessToken) payload.ath = b64url(await crypto.subtle.digest('SHA-256', enc.encode(o.accessToken)));
    if (o.nonce) payload.nonce = o.nonce;
    const input = b64json(header) + '.' + b64json(payload);
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, p.privateKey, enc.encode(input));
    return input + '.' + b64url(sig);
  }

  return { keyPair, proof };
}
