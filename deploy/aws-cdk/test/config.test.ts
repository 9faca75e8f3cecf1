import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refreshExpiresInFromEnv, validateRefreshExpiresIn } from '../lib/config';

const VAR = 'CDK_APP_JWT_REFRESH_EXPIRES_IN';

describe('refreshExpiresInFromEnv (the read-from-env layer of bin/app.ts)', () => {
  it('defaults to 24h when the variable is unset', () => {
    assert.equal(refreshExpiresInFromEnv({}), '24h');
  });

  it('defaults to 24h when the variable is empty', () => {
    assert.equal(refreshExpiresInFromEnv({ [VAR]: '' }), '24h');
  });

  it('passes a valid value through unchanged', () => {
    for (const v of ['7d', '90m', '1d12h', '2w', '30d', '1.5h']) {
      assert.equal(refreshExpiresInFromEnv({ [VAR]: v }), v);
    }
  });

  it('ignores other variables, including the application-side name', () => {
    assert.equal(refreshExpiresInFromEnv({ JWT_REFRESH_EXPIRES_IN: '1h' }), '24h');
  });

  it('reads process.env by default', () => {
    const saved = process.env[VAR];
    try {
      process.env[VAR] = '3d';
      assert.equal(refreshExpiresInFromEnv(), '3d');
      delete process.env[VAR];
      assert.equal(refreshExpiresInFromEnv(), '24h');
    } finally {
      if (saved === undefined) delete process.env[VAR];
      else process.env[VAR] = saved;
    }
  });

  for (const bad of ['forever', '24', '1y', ' 24h', '0', '0s', '-1h']) {
    it(`rejects ${JSON.stringify(bad)} with an error naming ${VAR}`, () => {
      assert.throws(
        () => refreshExpiresInFromEnv({ [VAR]: bad }),
        (e: unknown) => e instanceof Error && e.message.startsWith(`${VAR}: `) && e.message.includes(JSON.stringify(bad)),
      );
    });
  }
});

describe('validateRefreshExpiresIn', () => {
  it('names the source it is given', () => {
    assert.throws(() => validateRefreshExpiresIn('soon', 'jwtRefreshExpiresIn'), /^Error: jwtRefreshExpiresIn: "soon" is not a valid duration/);
  });
});
