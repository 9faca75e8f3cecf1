import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

// Runs bin/app.ts the way cdk.json's "app" does, in a child process whose
// environment the test controls, so the process.env path is covered end to end.
const ROOT = join(__dirname, '..');
const VAR = 'CDK_APP_JWT_REFRESH_EXPIRES_IN';

// The context `cdk synth -c …` passes, which the CLI hands the app as CDK_CONTEXT_JSON.
const CONTEXT = {
  imageUri: 'ghcr.io/latchkey-dev/latchkey:1.4.0',
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-0000-0000-000000000000',
  publicUrl: 'https://auth.example.com',
};

function runApp(extraEnv: Record<string, string>, context: Record<string, string> = CONTEXT) {
  const outdir = mkdtempSync(join(tmpdir(), 'latchkey-cdk-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context), ...extraEnv };
  delete env.CDK_DEFAULT_ACCOUNT;
  delete env.CDK_DEFAULT_REGION;
  if (!(VAR in extraEnv)) delete env[VAR];
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], { cwd: ROOT, env, encoding: 'utf8' });
  return { result, outdir };
}

function containerEnv(template: any, command: string): Record<string, unknown> {
  const defs = Object.values<any>(template.Resources)
    .filter((r) => r.Type === 'AWS::ECS::TaskDefinition')
    .flatMap((r) => r.Properties.ContainerDefinitions)
    .filter((c) => JSON.stringify(c.Command) === JSON.stringify([command]));
  assert.equal(defs.length, 1, `one container runs ${command}`);
  return Object.fromEntries((defs[0].Environment ?? []).map((e: any) => [e.Name, e.Value]));
}

describe('bin/app.ts as the CDK app process', () => {
  it('synthesizes offline with the lifetime from the process environment', () => {
    const { result, outdir } = runApp({ [VAR]: '2w' });
    try {
      assert.equal(result.status, 0, result.stderr);
      const template = JSON.parse(readFileSync(join(outdir, 'Latchkey.template.json'), 'utf8'));
      assert.equal(containerEnv(template, 'serve').JWT_REFRESH_EXPIRES_IN, '2w');
      assert.equal('JWT_REFRESH_EXPIRES_IN' in containerEnv(template, 'purge'), false);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('exits non-zero with one line when imageUri is missing', () => {
    const { imageUri: _, ...rest } = CONTEXT;
    const { result, outdir } = runApp({}, rest);
    rmSync(outdir, { recursive: true, force: true });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /^latchkey-cdk: imageUri: set the image to deploy/);
  });

  it('exits non-zero naming the variable when the value is invalid', () => {
    const { result, outdir } = runApp({ [VAR]: 'one day' });
    rmSync(outdir, { recursive: true, force: true });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /CDK_APP_JWT_REFRESH_EXPIRES_IN: "one day" is not a valid duration/);
  });
});
