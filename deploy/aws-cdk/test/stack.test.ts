import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { App, Stack, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { buildApp } from '../bin/app';
import { LatchkeyStack, METRICS_PORT } from '../lib/latchkey-stack';

const VAR = 'CDK_APP_JWT_REFRESH_EXPIRES_IN';
// A dummy environment: nothing in the stack looks anything up, so these never reach AWS.
const ENV = { account: '123456789012', region: 'eu-west-1' };
const IMAGE = 'ghcr.io/latchkey-dev/latchkey:1.4.0';
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-0000-0000-000000000000';
const URL = 'https://auth.example.com';
/** The context a production deployment passes with -c. */
const PROD = { imageUri: IMAGE, certificateArn: CERT, publicUrl: URL };
/** Props of a production stack built directly. */
const PROPS = { env: ENV, jwtRefreshExpiresIn: '24h', imageUri: IMAGE, certificateArn: CERT, publicUrl: URL };

interface KeyValue {
  Name: string;
  Value?: unknown;
  ValueFrom?: unknown;
}
interface ContainerDefinition {
  Name: string;
  Image: unknown;
  User?: string;
  ReadonlyRootFilesystem?: boolean;
  Command?: string[];
  EntryPoint?: string[];
  Environment?: KeyValue[];
  Secrets?: KeyValue[];
  PortMappings?: Array<{ ContainerPort: number }>;
}

function logicalId(stack: Stack, taskDefinition: ecs.TaskDefinition): string {
  return stack.getLogicalId(taskDefinition.node.defaultChild as ecs.CfnTaskDefinition);
}

function containers(template: Template, id: string): ContainerDefinition[] {
  const resource = template.toJSON().Resources[id];
  assert.equal(resource?.Type, 'AWS::ECS::TaskDefinition', `${id} is a task definition`);
  return resource.Properties.ContainerDefinitions;
}

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `exactly one ${what}`);
  return items[0];
}

function envEntries(c: ContainerDefinition, name: string): KeyValue[] {
  return (c.Environment ?? []).filter((e) => e.Name === name);
}

/** Synthesized pieces of one stack, found through the constructs rather than by guessing logical IDs. */
interface Synth {
  stack: LatchkeyStack;
  template: Template;
  app: ContainerDefinition;
  purge: ContainerDefinition;
  purgeTaskDefinitionId: string;
}

function synth(stack: LatchkeyStack): Synth {
  const template = Template.fromStack(stack);
  const purgeTaskDefinitionId = logicalId(stack, stack.purgeTaskDefinition);
  return {
    stack,
    template,
    app: only(containers(template, logicalId(stack, stack.appTaskDefinition)), 'application container'),
    purge: only(containers(template, purgeTaskDefinitionId), 'scheduled task container'),
    purgeTaskDefinitionId,
  };
}

function stackOf(app: App): LatchkeyStack {
  const stack = only(app.node.children.filter((c): c is LatchkeyStack => c instanceof LatchkeyStack), 'Latchkey stack');
  return stack;
}

describe('LatchkeyStack synthesized through bin/app.ts with the variable unset', () => {
  let s: Synth;
  before(() => {
    s = synth(stackOf(buildApp({}, new App({ context: PROD }))));
  });

  it('(1) gives the application container JWT_REFRESH_EXPIRES_IN=24h', () => {
    assert.deepEqual(envEntries(s.app, 'JWT_REFRESH_EXPIRES_IN'), [{ Name: 'JWT_REFRESH_EXPIRES_IN', Value: '24h' }]);
  });

  it('(3) gives the scheduled task container no JWT_REFRESH_EXPIRES_IN in any form', () => {
    assertNoRefreshLifetime(s);
  });

  it('(4) runs `serve` in the application container and `purge` in the scheduled one', () => {
    assert.deepEqual(s.app.Command, ['serve']);
    assert.deepEqual(s.purge.Command, ['purge']);
    assert.equal(s.app.EntryPoint, undefined, 'the image entrypoint (latchkey) is kept');
    assert.equal(s.purge.EntryPoint, undefined, 'the image entrypoint (latchkey) is kept');
  });

  it('(6) passes REFRESH_TOKEN_SECRET to the application as a Secrets Manager secret, not plain env', () => {
    assert.deepEqual(envEntries(s.app, 'REFRESH_TOKEN_SECRET'), []);
    const secret = only((s.app.Secrets ?? []).filter((e) => e.Name === 'REFRESH_TOKEN_SECRET'), 'REFRESH_TOKEN_SECRET secret');
    const ref = (secret.ValueFrom as { Ref?: string }).Ref;
    assert.ok(ref, 'ValueFrom refers to a secret in this stack');
    const resource = s.template.toJSON().Resources[ref];
    assert.equal(resource.Type, 'AWS::SecretsManager::Secret');
    assert.ok(resource.Properties.GenerateSecretString, 'the secret is generated, not written in the template');
    assert.equal(resource.Properties.SecretString, undefined);
    // The execution role may read it (ECS resolves the secret before the container starts).
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['secretsmanager:GetSecretValue']),
            Resource: { Ref: ref },
          }),
        ]),
      },
    });
  });

  it('(7) schedules the purge task hourly on Fargate', () => {
    const rules = s.template.findResources('AWS::Events::Rule');
    const rule = only(Object.values(rules), 'EventBridge rule') as { Properties: Record<string, any> };
    assert.equal(rule.Properties.ScheduleExpression, 'rate(1 hour)');
    assert.equal(rule.Properties.State, 'ENABLED');
    const target = only(rule.Properties.Targets as any[], 'rule target');
    assert.deepEqual(target.EcsParameters.TaskDefinitionArn, { Ref: s.purgeTaskDefinitionId });
    assert.equal(target.EcsParameters.LaunchType, 'FARGATE');
    assert.equal(target.EcsParameters.TaskCount, 1);
  });

  it('gives both containers APP_ENV=production and DATABASE_URL from one secret', () => {
    for (const c of [s.app, s.purge]) {
      assert.deepEqual(envEntries(c, 'APP_ENV'), [{ Name: 'APP_ENV', Value: 'production' }]);
      assert.deepEqual(envEntries(c, 'DATABASE_URL'), []);
    }
    const appUrl = only((s.app.Secrets ?? []).filter((e) => e.Name === 'DATABASE_URL'), 'app DATABASE_URL');
    const purgeUrl = only((s.purge.Secrets ?? []).filter((e) => e.Name === 'DATABASE_URL'), 'purge DATABASE_URL');
    assert.deepEqual(appUrl.ValueFrom, purgeUrl.ValueFrom);
    const secret = s.template.toJSON().Resources[(appUrl.ValueFrom as { Ref: string }).Ref];
    // postgres://latchkey:{{resolve:...password}}@host:port/latchkey — the password is a dynamic reference.
    const parts = secret.Properties.SecretString['Fn::Join'][1] as unknown[];
    assert.match(String(parts[0]), /^postgres:\/\/latchkey:\{\{resolve:secretsmanager:$/);
    assert.ok(parts.some((p) => typeof p === 'string' && p.startsWith(':SecretString:password::}}@')));
    assert.equal(parts[parts.length - 1], '/latchkey?sslmode=require');
  });

  it('gives the purge task only the database URL and the secret production config requires', () => {
    assert.deepEqual((s.purge.Environment ?? []).map((e) => e.Name), ['APP_ENV']);
    assert.deepEqual((s.purge.Secrets ?? []).map((e) => e.Name), ['DATABASE_URL', 'REFRESH_TOKEN_SECRET']);
  });

  it('serves on :8080 with PUBLIC_URL the https URL given, behind HTTPS with HTTP redirected', () => {
    assert.deepEqual(envEntries(s.app, 'HTTP_ADDR'), [{ Name: 'HTTP_ADDR', Value: ':8080' }]);
    assert.deepEqual(envEntries(s.app, 'PUBLIC_URL'), [{ Name: 'PUBLIC_URL', Value: URL }]);
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERT }],
    });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
    });
  });

  it('health-checks the targets on /healthz, not /readyz: a database blip does not replace every task', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
    });
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
    s.template.resourceCountIs('AWS::ECS::Service', 1);
    s.template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 2,
      // ECS registers each task's IP with the container port, so the ALB reaches :8080.
      LoadBalancers: [Match.objectLike({ ContainerName: 'latchkey', ContainerPort: 8080 })],
    });
  });

  it('trusts X-Forwarded-For from the VPC, where the load balancer is', () => {
    const vpcId = only(Object.keys(s.template.findResources('AWS::EC2::VPC')), 'VPC');
    assert.deepEqual(envEntries(s.app, 'TRUSTED_PROXIES'), [
      { Name: 'TRUSTED_PROXIES', Value: { 'Fn::GetAtt': [vpcId, 'CidrBlock'] } },
    ]);
  });

  it('serves /metrics on METRICS_ADDR, a port neither mapped nor reachable from the load balancer', () => {
    assert.deepEqual(envEntries(s.app, 'METRICS_ADDR'), [{ Name: 'METRICS_ADDR', Value: `:${METRICS_PORT}` }]);
    assert.deepEqual(s.app.PortMappings?.map((p) => p.ContainerPort), [8080]);
    const template = JSON.stringify(s.template.toJSON());
    assert.ok(!template.includes(`"FromPort":${METRICS_PORT}`) && !template.includes(`"Port":${METRICS_PORT}`), 'no rule or listener on the metrics port');
    // The task's security group lets the ALB in on 8080 only.
    const ingress = Object.values<any>(s.template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r) => r.Properties.FromPort !== 5432,
    );
    assert.ok(ingress.length > 0 && ingress.every((r) => r.Properties.FromPort === 8080 && r.Properties.ToPort === 8080), JSON.stringify(ingress));
  });

  it('runs both containers as the image\'s non-root user on a read-only root file system', () => {
    for (const c of [s.app, s.purge]) {
      assert.equal(c.User, '65532:65532');
      assert.equal(c.ReadonlyRootFilesystem, true);
    }
  });

  it('keeps the refresh secret when the stack is deleted; the database is multi-AZ and deletion-protected', () => {
    const ref = (only((s.app.Secrets ?? []).filter((e) => e.Name === 'REFRESH_TOKEN_SECRET'), 'secret').ValueFrom as { Ref: string }).Ref;
    const secret = s.template.toJSON().Resources[ref];
    assert.equal(secret.DeletionPolicy, 'Retain');
    assert.equal(secret.UpdateReplacePolicy, 'Retain');
    s.template.hasResourceProperties('AWS::RDS::DBInstance', { MultiAZ: true, DeletionProtection: true });
  });

  it('creates a PostgreSQL instance with generated credentials', () => {
    s.template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      DBName: 'latchkey',
      StorageEncrypted: true,
      PubliclyAccessible: false,
      Port: '5432',
    });
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"latchkey"}', GenerateStringKey: 'password' }),
    });
    s.template.resourceCountIs('AWS::EC2::VPC', 1);
    s.template.resourceCountIs('AWS::ECS::Cluster', 1);
  });

  it('lets both tasks, and nothing else, reach the database port', () => {
    const ingress = Object.values(s.template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r: any) => r.Properties.FromPort === 5432,
    );
    assert.equal(ingress.length, 2);
  });

  it('uses the imageUri given, in both containers', () => {
    assert.equal(s.app.Image, IMAGE);
    assert.equal(s.purge.Image, IMAGE);
  });

  it('is environment-agnostic when CDK_DEFAULT_ACCOUNT/REGION are absent', () => {
    assert.ok(Token.isUnresolved(s.stack.account));
    assert.ok(Token.isUnresolved(s.stack.region));
  });
});

describe('LatchkeyStack synthesized through bin/app.ts with CDK_APP_JWT_REFRESH_EXPIRES_IN=7d', () => {
  let s: Synth;
  before(() => {
    const app = new App({ context: { ...PROD, imageUri: 'registry.example.com/latchkey:1.2.3' } });
    s = synth(stackOf(buildApp({ [VAR]: '7d' }, app)));
  });

  it('(2) gives the application container JWT_REFRESH_EXPIRES_IN=7d', () => {
    assert.deepEqual(envEntries(s.app, 'JWT_REFRESH_EXPIRES_IN'), [{ Name: 'JWT_REFRESH_EXPIRES_IN', Value: '7d' }]);
  });

  it('(3) still gives the scheduled task container no JWT_REFRESH_EXPIRES_IN', () => {
    assertNoRefreshLifetime(s);
    assert.ok(!JSON.stringify(s.purge).includes('7d'), 'the value does not reach the purge container either');
  });

  it('takes the image from the imageUri context', () => {
    assert.equal(s.app.Image, 'registry.example.com/latchkey:1.2.3');
    assert.equal(s.purge.Image, 'registry.example.com/latchkey:1.2.3');
  });
});

describe('LatchkeyStack props', () => {
  it('passes jwtRefreshExpiresIn to the application container as given', () => {
    const s = synth(new LatchkeyStack(new App(), 'T', { ...PROPS, jwtRefreshExpiresIn: '1d12h' }));
    assert.deepEqual(envEntries(s.app, 'JWT_REFRESH_EXPIRES_IN'), [{ Name: 'JWT_REFRESH_EXPIRES_IN', Value: '1d12h' }]);
    assert.deepEqual(envEntries(s.app, 'PUBLIC_URL'), [{ Name: 'PUBLIC_URL', Value: 'https://auth.example.com' }]);
    assertNoRefreshLifetime(s);
  });

  it('(5) rejects an invalid jwtRefreshExpiresIn before building anything', () => {
    assert.throws(
      () => new LatchkeyStack(new App(), 'T', { ...PROPS, jwtRefreshExpiresIn: '24 hours' }),
      /jwtRefreshExpiresIn: "24 hours" is not a valid duration/,
    );
  });
});

describe('bin/app.ts with an invalid CDK_APP_JWT_REFRESH_EXPIRES_IN', () => {
  it('(5) throws an error naming the variable', () => {
    assert.throws(
      () => buildApp({ [VAR]: '1 day' }, new App({ context: PROD })),
      (e: unknown) => e instanceof Error && e.message.includes(VAR) && e.message.includes('"1 day"'),
    );
  });
});

describe('TLS is required', () => {
  const build = (context: Record<string, string>) => () => buildApp({}, new App({ context: { imageUri: IMAGE, ...context } }));

  it('refuses to synthesize without a certificate', () => {
    assert.throws(build({ publicUrl: URL }), /certificateArn and publicUrl are both required/);
    assert.throws(build({}), /certificateArn and publicUrl are both required.*insecureDemoWithoutTls/);
  });

  it('refuses a certificate without publicUrl (the issuer would be the ALB name no certificate covers)', () => {
    assert.throws(build({ certificateArn: CERT }), /certificateArn and publicUrl are both required/);
  });

  it('refuses an http:// publicUrl', () => {
    assert.throws(build({ certificateArn: CERT, publicUrl: 'http://auth.example.com' }), /must be an https:\/\/ URL/);
  });

  // latchkey refuses these PUBLIC_URLs at start-up (config.checkPublicURL):
  // a stack that synthesizes with one deploys tasks that crash-loop until
  // the deployment circuit breaker rolls the stack back.
  for (const bad of [
    'https://',
    'https://auth.example.com?tenant=1',
    'https://auth.example.com?',
    'https://auth.example.com#top',
    'https://admin:pw@auth.example.com',
    'https://auth example.com',
  ]) {
    it(`refuses publicUrl ${JSON.stringify(bad)}, which latchkey refuses at start-up`, () => {
      assert.throws(build({ certificateArn: CERT, publicUrl: bad }), /publicUrl/);
    });
  }

  it('accepts the publicUrls latchkey accepts: a path, a port, a trailing slash', () => {
    for (const good of ['https://auth.example.com/', 'https://example.com/auth', 'https://auth.example.com:8443']) {
      assert.doesNotThrow(build({ certificateArn: CERT, publicUrl: good }), good);
    }
  });

  // The demo switch must not quietly drop a certificate it is given: the
  // stack would serve plain HTTP under an https:// issuer.
  it('refuses insecureDemoWithoutTls together with a certificate', () => {
    assert.throws(build({ insecureDemoWithoutTls: 'true', certificateArn: CERT, publicUrl: URL }), /insecureDemoWithoutTls.*certificateArn/);
  });

  it('builds a plain-HTTP demo stack only when asked by name, single-AZ and deletable', () => {
    const s = synth(stackOf(build({ insecureDemoWithoutTls: 'true' })()));
    const publicUrl = only(envEntries(s.app, 'PUBLIC_URL'), 'PUBLIC_URL');
    const lbId = only(Object.keys(s.template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer')), 'ALB');
    assert.deepEqual(publicUrl.Value, { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [lbId, 'DNSName'] }]] });
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    s.template.hasResourceProperties('AWS::RDS::DBInstance', { MultiAZ: false, DeletionProtection: false });
  });
});

describe('the image is pinned', () => {
  const build = (imageUri?: string) => () =>
    buildApp({}, new App({ context: { certificateArn: CERT, publicUrl: URL, ...(imageUri ? { imageUri } : {}) } }));

  it('refuses to synthesize without imageUri, or with latest', () => {
    assert.throws(build(), /imageUri: set the image to deploy/);
    assert.throws(build('ghcr.io/latchkey-dev/latchkey:latest'), /pin a release, not latest/);
    assert.throws(build('ghcr.io/latchkey-dev/latchkey'), /is not registry\/name:tag/);
  });

  it('takes a digest', () => {
    const digest = 'ghcr.io/latchkey-dev/latchkey@sha256:' + 'ab'.repeat(32);
    const s = synth(stackOf(build(digest)()));
    assert.equal(s.app.Image, digest);
    assert.equal(s.purge.Image, digest);
  });
});

describe('refresh lifetime and SESSION_MAX_LIFETIME', () => {
  it('refuses a refresh lifetime above SESSION_MAX_LIFETIME (720h unless raised), as latchkey does at start-up', () => {
    assert.throws(() => buildApp({ [VAR]: '31d' }, new App({ context: PROD })), /CDK_APP_JWT_REFRESH_EXPIRES_IN|jwtRefreshExpiresIn.*longer than SESSION_MAX_LIFETIME \(720h\)/);
    assert.throws(() => new LatchkeyStack(new App(), 'T', { ...PROPS, jwtRefreshExpiresIn: '90d', sessionMaxLifetime: '60d' }), /longer than SESSION_MAX_LIFETIME \(60d\)/);
  });

  it('passes a raised sessionMaxLifetime to the application', () => {
    const s = synth(stackOf(buildApp({ [VAR]: '60d' }, new App({ context: { ...PROD, sessionMaxLifetime: '90d' } }))));
    assert.deepEqual(envEntries(s.app, 'SESSION_MAX_LIFETIME'), [{ Name: 'SESSION_MAX_LIFETIME', Value: '90d' }]);
    assert.deepEqual(envEntries(s.app, 'JWT_REFRESH_EXPIRES_IN'), [{ Name: 'JWT_REFRESH_EXPIRES_IN', Value: '60d' }]);
    assert.deepEqual(envEntries(s.purge, 'SESSION_MAX_LIFETIME'), []);
  });
});

function assertNoRefreshLifetime(s: Synth): void {
  const forms = /JWT_REFRESH_EXPIRES_IN|REFRESH_EXPIRES/i;
  assert.deepEqual(envEntries(s.purge, 'JWT_REFRESH_EXPIRES_IN'), []);
  assert.ok(!(s.purge.Secrets ?? []).some((e) => forms.test(e.Name)), 'not as a secret');
  assert.ok(!forms.test(JSON.stringify(s.purge)), 'not anywhere in the container definition');
  const purgeTaskDefinition = s.template.toJSON().Resources[s.purgeTaskDefinitionId];
  assert.ok(!forms.test(JSON.stringify(purgeTaskDefinition)), 'not anywhere in the task definition');
  const rule = Object.values(s.template.findResources('AWS::Events::Rule'));
  assert.ok(!forms.test(JSON.stringify(rule)), 'not as a container override in the schedule');
}
