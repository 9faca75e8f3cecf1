import { Duration, Fn, RemovalPolicy, SecretValue, Stack, StackProps, CfnOutput } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as applicationautoscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { checkRefreshWithinSession, validateImageUri, validatePublicUrl, validateRefreshExpiresIn } from './config';

/** Characters kept out of the generated database password so it can sit in a URL unescaped. */
const URL_UNSAFE_PASSWORD_CHARS = ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

const DB_NAME = 'latchkey';
const DB_USER = 'latchkey';
const APP_PORT = 8080;
/** METRICS_ADDR's port: not mapped, not behind the load balancer. */
export const METRICS_PORT = 9090;
const DB_PORT = 5432;
/** The image's non-root user (uid:gid), as the Kubernetes pods run. */
export const IMAGE_USER = '65532:65532';

export interface LatchkeyStackProps extends StackProps {
  /**
   * Refresh-token lifetime, passed to the application container (only) as
   * JWT_REFRESH_EXPIRES_IN. bin/app.ts reads it from
   * CDK_APP_JWT_REFRESH_EXPIRES_IN; it is validated again here.
   */
  readonly jwtRefreshExpiresIn: string;
  /**
   * SESSION_MAX_LIFETIME of the application; jwtRefreshExpiresIn may not
   * exceed it. @default Latchkey's own, 720h (then not set in the container)
   */
  readonly sessionMaxLifetime?: string;
  /** Container image for both containers, pinned by tag or digest (required; not latest). */
  readonly imageUri: string;
  /**
   * The URL clients reach Latchkey at (PUBLIC_URL, the tokens' issuer): an
   * https:// URL under a name the certificate covers. Required unless
   * insecureDemoWithoutTls.
   */
  readonly publicUrl?: string;
  /** ACM certificate ARN: the ALB serves HTTPS on 443 and redirects 80. Required unless insecureDemoWithoutTls. */
  readonly certificateArn?: string;
  /**
   * A throwaway demo stack: plain HTTP on the load balancer's own name
   * (passwords and refresh tokens in clear, production Secure cookies not
   * sent), a single-AZ database without deletion protection. Never for real
   * users. @default false
   */
  readonly insecureDemoWithoutTls?: boolean;
  /** Number of `latchkey serve` tasks. @default 2 */
  readonly desiredCount?: number;
  /** A standby database in a second AZ. @default true (false in a demo stack) */
  readonly databaseMultiAz?: boolean;
  /** Refuse to delete the database. @default true (false in a demo stack) */
  readonly databaseDeletionProtection?: boolean;
}

/**
 * Latchkey on AWS: N stateless `latchkey serve` tasks behind an ALB sharing
 * one PostgreSQL, plus `latchkey purge` run hourly by EventBridge
 * (docs/infrastructure.md).
 */
export class LatchkeyStack extends Stack {
  readonly appTaskDefinition: ecs.FargateTaskDefinition;
  readonly purgeTaskDefinition: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: LatchkeyStackProps) {
    super(scope, id, props);

    const refreshExpiresIn = validateRefreshExpiresIn(props.jwtRefreshExpiresIn, 'jwtRefreshExpiresIn');
    checkRefreshWithinSession(refreshExpiresIn, props.sessionMaxLifetime ?? '720h', 'jwtRefreshExpiresIn');
    const image = ecs.ContainerImage.fromRegistry(validateImageUri(props.imageUri));
    const demo = props.insecureDemoWithoutTls === true;
    if (!demo) {
      if (!props.certificateArn || !props.publicUrl) {
        throw new Error(
          'certificateArn and publicUrl are both required: without a certificate the public listener is plain HTTP ' +
            '(passwords and refresh tokens in clear), and without publicUrl the issuer is the load balancer\'s name, ' +
            'which no certificate covers. For a throwaway demo, set insecureDemoWithoutTls=true.',
        );
      }
      validatePublicUrl(props.publicUrl);
    } else {
      if (props.certificateArn) {
        // The demo listener is plain HTTP: a certificate given with it would
        // be dropped, and an https:// issuer served over http.
        throw new Error(
          'insecureDemoWithoutTls=true serves plain HTTP, but certificateArn is set: drop insecureDemoWithoutTls ' +
            'to serve HTTPS with the certificate, or drop certificateArn for a demo',
        );
      }
      if (props.publicUrl) validatePublicUrl(props.publicUrl, ['http:', 'https:']);
    }

    // Network: public subnets for the ALB (and the NAT), private subnets with
    // egress for the tasks (they pull the image from a public registry),
    // isolated subnets for the database.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });

    // Database. The generated password excludes every URL-reserved character
    // so it can be placed in DATABASE_URL as is. Production: a standby in the
    // second AZ and deletion protection.
    const dbSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc,
      description: 'Latchkey PostgreSQL',
      allowAllOutbound: false,
    });
    const db = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSecurityGroup],
      port: DB_PORT,
      databaseName: DB_NAME,
      credentials: rds.Credentials.fromGeneratedSecret(DB_USER, {
        excludeCharacters: URL_UNSAFE_PASSWORD_CHARS,
      }),
      storageEncrypted: true,
      allocatedStorage: 20,
      backupRetention: Duration.days(7),
      multiAz: props.databaseMultiAz ?? !demo,
      deletionProtection: props.databaseDeletionProtection ?? !demo,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    const dbSecret = db.secret!;

    // DATABASE_URL as its own secret. Its value is a CloudFormation dynamic
    // reference into the RDS secret, resolved by CloudFormation at deploy
    // time: no password appears in the template, and ECS injects the whole
    // URL into the containers, so the image needs no shell to compose it.
    const dbPassword = dbSecret.secretValueFromJson('password').unsafeUnwrap();
    const databaseUrl = new secretsmanager.Secret(this, 'DatabaseUrl', {
      description: 'Latchkey DATABASE_URL (derived from the RDS credentials secret)',
      secretStringValue: SecretValue.unsafePlainText(
        Fn.join('', [
          `postgres://${DB_USER}:`,
          dbPassword,
          '@',
          db.dbInstanceEndpointAddress,
          ':',
          db.dbInstanceEndpointPort,
          `/${DB_NAME}?sslmode=require`,
        ]),
      ),
    });

    // Kept when the stack is deleted: a database restored from the final
    // snapshot then still accepts its sessions' refresh tokens.
    const refreshTokenSecret = new secretsmanager.Secret(this, 'RefreshTokenSecret', {
      description: 'Latchkey REFRESH_TOKEN_SECRET (HMAC key for refresh tokens)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });

    // Application: latchkey serve, as the image's non-root user on a
    // read-only root file system (PostgreSQL: it writes nothing locally).
    this.appTaskDefinition = new ecs.FargateTaskDefinition(this, 'AppTaskDefinition', {
      cpu: 512,
      memoryLimitMiB: 1024,
    });
    const appContainer = this.appTaskDefinition.addContainer('latchkey', {
      image,
      command: ['serve'],
      user: IMAGE_USER,
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: APP_PORT }],
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'serve',
        logGroup: new logs.LogGroup(this, 'AppLogs', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      }),
      environment: {
        APP_ENV: 'production',
        HTTP_ADDR: `:${APP_PORT}`,
        // /metrics on a port the load balancer never reaches (not mapped);
        // the public listener answers 404 for it.
        METRICS_ADDR: `:${METRICS_PORT}`,
        // Every request comes through the ALB, whose addresses are in the
        // VPC: believe its X-Forwarded-For, so per-IP limits are per client.
        TRUSTED_PROXIES: vpc.vpcCidrBlock,
        JWT_REFRESH_EXPIRES_IN: refreshExpiresIn,
        ...(props.sessionMaxLifetime ? { SESSION_MAX_LIFETIME: props.sessionMaxLifetime } : {}),
      },
      secrets: {
        DATABASE_URL: ecs.Secret.fromSecretsManager(databaseUrl),
        REFRESH_TOKEN_SECRET: ecs.Secret.fromSecretsManager(refreshTokenSecret),
      },
    });

    const certificate = demo ? undefined : acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn!);
    const service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'App', {
      cluster,
      taskDefinition: this.appTaskDefinition,
      desiredCount: props.desiredCount ?? 2,
      publicLoadBalancer: true,
      taskSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      certificate,
      redirectHTTP: certificate !== undefined,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
    });
    // Liveness, not readiness: a database blip must not fail every task's
    // check (ECS would replace them all, and the replacements would
    // crash-loop on their migrations until the database returned, taking the
    // JWKS down with them). The ALB has one check, so it is /healthz.
    service.targetGroup.configureHealthCheck({
      path: '/healthz',
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    // ECS deregisters a task from the target group, waits this long, then
    // sends SIGTERM: the ALB has stopped routing to it by then.
    service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', '30');
    const publicUrl = props.publicUrl ?? `http://${service.loadBalancer.loadBalancerDnsName}`;
    appContainer.addEnvironment('PUBLIC_URL', publicUrl);
    dbSecurityGroup.connections.allowFrom(service.service, ec2.Port.tcp(DB_PORT), 'latchkey serve');

    // Scheduled task: latchkey purge, hourly. Same image and database
    // settings; deliberately no JWT_REFRESH_EXPIRES_IN (sessions carry their
    // own expiry). REFRESH_TOKEN_SECRET is passed because every latchkey
    // subcommand validates the production configuration the same way. purge
    // never migrates: it refuses a schema other than its own.
    this.purgeTaskDefinition = new ecs.FargateTaskDefinition(this, 'PurgeTaskDefinition', {
      cpu: 256,
      memoryLimitMiB: 512,
    });
    this.purgeTaskDefinition.addContainer('latchkey-purge', {
      image,
      command: ['purge'],
      user: IMAGE_USER,
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'purge',
        logGroup: new logs.LogGroup(this, 'PurgeLogs', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      }),
      environment: { APP_ENV: 'production' },
      secrets: {
        DATABASE_URL: ecs.Secret.fromSecretsManager(databaseUrl),
        REFRESH_TOKEN_SECRET: ecs.Secret.fromSecretsManager(refreshTokenSecret),
      },
    });
    const purgeSecurityGroup = new ec2.SecurityGroup(this, 'PurgeSecurityGroup', {
      vpc,
      description: 'latchkey purge scheduled task',
    });
    new ecsPatterns.ScheduledFargateTask(this, 'Purge', {
      cluster,
      schedule: applicationautoscaling.Schedule.rate(Duration.hours(1)),
      scheduledFargateTaskDefinitionOptions: { taskDefinition: this.purgeTaskDefinition },
      subnetSelection: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [purgeSecurityGroup],
    });
    dbSecurityGroup.connections.allowFrom(purgeSecurityGroup, ec2.Port.tcp(DB_PORT), 'latchkey purge');

    new CfnOutput(this, 'PublicUrl', { value: publicUrl });
    new CfnOutput(this, 'DatabaseSecretArn', { value: dbSecret.secretArn });
  }
}
