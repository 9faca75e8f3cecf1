// Errors: every failure is a LatchkeyError carrying the server's
// machine-readable reason, so that an app can tell "retry later" from
// "sign in again".

/**
 * The reasons for which only a new sign-in helps: the refresh token (or the
 * cookie that holds it) is gone, expired, reused, or its session or user is
 * over. docs/api.md lists them per dialect.
 */
export const REAUTH_CODES: readonly string[] = [
  'refresh_token_expired',
  'refresh_token_reused',
  'refresh_token_invalid',
  'refresh_token_missing',
  'session_revoked',
  'session_expired',
  'user_inactive',
  'user_not_found',
  'cookie_disabled',
  'not_signed_in',
];

/**
 * The codes a LatchkeyError may carry that an app is likely to tell apart
 * (docs/api.md lists every one the server answers; any other string may
 * come too): the server's, then the SDK's own.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_credentials'
  | 'email_taken'
  | 'email_not_verified'
  | 'invalid_current_password'
  | 'email_token_invalid'
  | 'email_token_expired'
  | 'refresh_token_expired'
  | 'refresh_token_reused'
  | 'refresh_token_invalid'
  | 'refresh_token_missing'
  | 'session_revoked'
  | 'session_expired'
  | 'user_inactive'
  | 'user_not_found'
  | 'invalid_token'
  | 'not_found'
  | 'not_implemented'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'request_too_large'
  | 'network_error'
  | 'timeout'
  | 'not_signed_in'
  | 'bad_response'
  | 'no_server'
  | 'dpop_unavailable'
  | 'cookie_disabled'
  | (string & {});

/** A failed call. `code` is the server's reason (`error` in its answer) or one of the SDK's own: `network_error`, `timeout`, `not_signed_in`, `bad_response`, `no_server` (a relative baseUrl outside a page). */
export class LatchkeyError extends Error {
  /** The HTTP status, 0 when there was no answer. */
  readonly status: number;
  /** The machine-readable reason. */
  readonly code: ErrorCode;
  /** How long the server asked to wait before trying again (Retry-After), in ms; 0 when it did not say. */
  readonly retryAfterMs: number;
  /** True when only a new sign-in helps (the session is over). */
  readonly reauthRequired: boolean;
  /** The server's finer reason where it gives one (DPoP refusals: missing, key_mismatch, iat, …). */
  readonly reason: string;

  constructor(status: number, code: ErrorCode, message: string, retryAfterMs = 0, reason = '') {
    super(message || code);
    this.name = 'LatchkeyError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.reason = reason;
    // A session bound to a DPoP key this client no longer holds (its
    // IndexedDB was cleared) can never be refreshed again.
    this.reauthRequired = REAUTH_CODES.includes(code) || (code === 'invalid_dpop_proof' && reason === 'key_mismatch');
  }
}

/** isReauthRequired reports whether err says the user must sign in again. */
export function isReauthRequired(err: unknown): boolean {
  return err instanceof LatchkeyError && err.reauthRequired;
}

/** The longest Retry-After taken as it is: a misconfigured proxy's day would leave the user stuck for a day. */
export const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

/**
 * retryAfterMs reads Retry-After (RFC 9110 §10.2.3): delay-seconds, or an
 * HTTP-date measured from the answer's own Date header (never from this
 * machine's clock, which may be wrong). Invalid values count as none; the
 * result is capped at MAX_RETRY_AFTER_MS.
 */
export function retryAfterMs(h: Headers): number {
  const v = (h.get('Retry-After') || '').trim();
  if (!v) return 0;
  let ms: number;
  if (/^\d+$/.test(v)) {
    ms = Number(v) * 1000;
  } else {
    const at = Date.parse(v);
    const date = Date.parse(h.get('Date') || '');
    if (isNaN(at) || isNaN(date)) return 0;
    ms = at - date;
  }
  return ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
}

/**
 * errorOf turns a non-2xx answer into a LatchkeyError. The canonical and
 * cookie dialects answer {"error", "message"}; an answer that is not JSON
 * (a proxy's page) keeps the status as its reason.
 */
export async function errorOf(resp: Response): Promise<LatchkeyError> {
  let code = '';
  let message = '';
  let reason = '';
  try {
    const b = await resp.json();
    code = typeof b.error === 'string' ? b.error : '';
    message = typeof b.message === 'string' ? b.message : '';
    reason = typeof b.reason === 'string' ? b.reason : '';
  } catch {
    // not JSON
  }
  if (!code) code = resp.status >= 500 ? 'temporarily_unavailable' : 'http_' + resp.status;
  return new LatchkeyError(resp.status, code, message || resp.status + ' ' + resp.statusText, retryAfterMs(resp.headers), reason);
}
