// @latchkey/browser: keeps a web app signed in to a Latchkey server. See
// README.md.
export { createClient, dueAt, claimsOf } from './client.js';
export type { ClientOptions, LatchkeyClient, Mode, User, Session, Events, TokenSource } from './client.js';
export { LatchkeyError, isReauthRequired, REAUTH_CODES } from './errors.js';
export type { ErrorCode } from './errors.js';
export { memoryStorage, webStorage, indexedDBStorage } from './storage.js';
export type { TokenStorage, StoredTokens } from './storage.js';
export type { Clock } from './lock.js';
