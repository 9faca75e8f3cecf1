import { DurationSyntaxError, parseDuration } from './duration';

/** The synth-time variable that sets the application's refresh-token lifetime. */
export const REFRESH_EXPIRES_IN_ENV = 'CDK_APP_JWT_REFRESH_EXPIRES_IN';

/** Latchkey's own default for JWT_REFRESH_EXPIRES_IN (docs/configuration.md). */
export const DEFAULT_REFRESH_EXPIRES_IN = '24h';

/**
 * Checks a refresh-token lifetime the way Latchkey will at start-up and
 * returns it unchanged. `source` names where the value came from, so the
 * error tells the operator which variable to fix.
 *
 * A refresh lifetime must also be positive: "0" and "-1h" parse as durations
 * but would issue refresh tokens that are already expired.
 */
export function validateRefreshExpiresIn(value: string, source: string = REFRESH_EXPIRES_IN_ENV): string {
  let nanos: bigint;
  try {
    nanos = parseDuration(value);
  } catch (e) {
    if (!(e instanceof DurationSyntaxError)) throw e;
    throw new Error(
      `${source}: ${JSON.stringify(value)} is not a valid duration (${e.message}); ` +
        'use a Go duration or days/weeks, e.g. 90m, 24h, 1d, 30d, 2w, 1d12h',
    );
  }
  if (nanos <= 0n) {
    throw new Error(`${source}: ${JSON.stringify(value)} must be a positive duration, e.g. 24h or 7d`);
  }
  return value;
}

/**
 * Reads CDK_APP_JWT_REFRESH_EXPIRES_IN from an environment (process.env by
 * default). Unset or empty means Latchkey's default, 24h.
 */
export function refreshExpiresInFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env[REFRESH_EXPIRES_IN_ENV];
  if (raw === undefined || raw === '') return DEFAULT_REFRESH_EXPIRES_IN;
  return validateRefreshExpiresIn(raw, REFRESH_EXPIRES_IN_ENV);
}
