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

/** Latchkey's own default for SESSION_MAX_LIFETIME: the cap of JWT_REFRESH_EXPIRES_IN. */
export const DEFAULT_SESSION_MAX_LIFETIME = '720h';

/**
 * Checks that the refresh lifetime is at most the session cap, as Latchkey
 * does at start-up (it refuses to start otherwise): a stack that synthesizes
 * must not deploy tasks that crash-loop.
 */
export function checkRefreshWithinSession(refreshExpiresIn: string, sessionMaxLifetime: string, source: string): void {
  const session = validateRefreshExpiresIn(sessionMaxLifetime, 'sessionMaxLifetime');
  if (parseDuration(refreshExpiresIn) > parseDuration(session)) {
    throw new Error(
      `${source}: ${JSON.stringify(refreshExpiresIn)} is longer than SESSION_MAX_LIFETIME (${session}); ` +
        'latchkey would refuse to start. Shorten it, or raise the cap with -c sessionMaxLifetime=…',
    );
  }
}

/** The one image name of every deployment file (the builder's, internal/tools/image). */
export const IMAGE_REPOSITORY = 'ghcr.io/latchkey-dev/latchkey';

/**
 * Checks the image to deploy: name:tag or name@sha256:digest, pinned, not
 * latest (which changes under a running service and cannot be rolled back
 * to). Any registry works (a mirror in ECR, say); the tag is the deployer's.
 */
export function validateImageUri(value: string | undefined): string {
  const example = `e.g. -c imageUri=${IMAGE_REPOSITORY}:1.4.0 (or …@sha256:<digest>, or your ECR copy)`;
  if (value === undefined || value === '') {
    throw new Error(`imageUri: set the image to deploy, pinned by tag or digest; ${example}`);
  }
  const m = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)(?::([\w][\w.-]{0,127})|@sha256:[0-9a-f]{64})$/.exec(
    value,
  );
  if (m === null) {
    throw new Error(`imageUri: ${JSON.stringify(value)} is not registry/name:tag or registry/name@sha256:<digest>; ${example}`);
  }
  if (m[2] === 'latest') {
    throw new Error(`imageUri: ${JSON.stringify(value)}: pin a release, not latest; ${example}`);
  }
  return value;
}

/**
 * Checks PUBLIC_URL the way Latchkey does at start-up (it refuses to start
 * otherwise): an absolute http(s) URL with a host and no user, query or
 * fragment (a path is allowed). `schemes` are the ones this stack allows:
 * https only, unless it is a demo stack. Returns the value unchanged.
 */
export function validatePublicUrl(value: string, schemes: readonly string[] = ['https:']): string {
  const example = 'e.g. -c publicUrl=https://auth.example.com';
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`publicUrl: ${JSON.stringify(value)} is not an absolute URL; ${example}`);
  }
  if (!schemes.includes(u.protocol)) {
    const want = schemes.map((p) => p + '//').join(' or ');
    throw new Error(`publicUrl: ${JSON.stringify(value)} must be an ${want} URL the certificate covers; ${example}`);
  }
  // WHATWG URL drops an empty query or fragment ("…?", "…#"): read the raw text too.
  if (u.hostname === '' || u.username !== '' || u.password !== '' || /[?#]/.test(value)) {
    throw new Error(
      `publicUrl: ${JSON.stringify(value)}: a base URL has a host and no user, query or fragment ` +
        `(latchkey would refuse to start); ${example}`,
    );
  }
  return value;
}
