// A minimal key-value store on IndexedDB: one database per name with one
// object store, "kv". Every tab of an origin sees the same data, and
// readwrite transactions on one store run one at a time (IndexedDB 3.0,
// "Transaction scheduling"), which update() relies on.

const dbs = new Map<string, Promise<IDBDatabase>>();

function open(name: string): Promise<IDBDatabase> {
  let p = dbs.get(name);
  if (!p) {
    p = new Promise((resolve, reject) => {
      // Whatever version is there (a later version of this SDK may have
      // upgraded it): made with the one store when new.
      const req = indexedDB.open(name);
      req.onupgradeneeded = () => req.result.createObjectStore('kv');
      req.onsuccess = () => {
        const d = req.result;
        // Let go when another page deletes the database or opens a new
        // version of it: an open connection blocks both (IndexedDB 3.0,
        // "versionchange"). The next use opens it again.
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

/**
 * update runs change on the value under key inside one readwrite
 * transaction and stores what it returns (null deletes, undefined leaves the
 * value as it is). It resolves with what change returned once the
 * transaction has committed.
 */
export async function update<T>(db: string, key: string, change: (old: T | undefined) => T | null | undefined): Promise<T | null | undefined> {
  const d = await open(db);
  return new Promise((resolve, reject) => {
    const tx = d.transaction('kv', 'readwrite');
    const store = tx.objectStore('kv');
    let out: T | null | undefined;
    const get = store.get(key);
    get.onsuccess = () => {
      out = change(get.result as T | undefined);
      if (out === null) store.delete(key);
      else if (out !== undefined) store.put(out, key);
    };
    tx.oncomplete = () => resolve(out);
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

export async function read<T>(db: string, key: string): Promise<T | undefined> {
  let v: T | undefined;
  await update<T>(db, key, (old) => {
    v = old;
    return undefined;
  });
  return v;
}

export function available(): boolean {
  return typeof indexedDB !== 'undefined';
}
