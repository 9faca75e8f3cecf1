#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { refreshExpiresInFromEnv, validateImageUri } from '../lib/config';
import { LatchkeyStack } from '../lib/latchkey-stack';

/**
 * Builds the app from the process environment and CDK context. Exported so
 * tests can run exactly what `cdk synth` runs, with an environment of their
 * choosing.
 */
export function buildApp(env: NodeJS.ProcessEnv = process.env, app: App = new App()): App {
  const context = (key: string): string | undefined => {
    const v = app.node.tryGetContext(key);
    return v === undefined || v === '' ? undefined : String(v);
  };
  const flag = (key: string): boolean | undefined => {
    const v = context(key);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw new Error(`${key}: want true or false, got ${JSON.stringify(v)}`);
    return v === 'true';
  };
  new LatchkeyStack(app, context('stackName') ?? 'Latchkey', {
    jwtRefreshExpiresIn: refreshExpiresInFromEnv(env),
    sessionMaxLifetime: context('sessionMaxLifetime'),
    imageUri: validateImageUri(context('imageUri')),
    publicUrl: context('publicUrl'),
    certificateArn: context('certificateArn'),
    insecureDemoWithoutTls: flag('insecureDemoWithoutTls'),
    databaseMultiAz: flag('databaseMultiAz'),
    databaseDeletionProtection: flag('databaseDeletionProtection'),
    // Environment-agnostic unless the CLI's account/region are present;
    // nothing in the stack looks anything up, so synth needs no credentials.
    env:
      env.CDK_DEFAULT_ACCOUNT && env.CDK_DEFAULT_REGION
        ? { account: env.CDK_DEFAULT_ACCOUNT, region: env.CDK_DEFAULT_REGION }
        : undefined,
    description: 'Latchkey token service: latchkey serve on Fargate behind an ALB, hourly latchkey purge',
  });
  return app;
}

if (require.main === module) {
  try {
    buildApp().synth();
  } catch (e) {
    // A configuration mistake gets one line naming the variable, not a stack trace.
    console.error(`latchkey-cdk: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
