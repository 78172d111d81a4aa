import * as path from 'path';
import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { logRetention } from '../control-plane/log-retention';

/** RE2's WebAssembly module, which the bundled handlers read next to themselves. */
const RE2_WASM = 'node_modules/@adguard/re2-wasm/build/wasm/re2.wasm';

/** Handler entries (CONTRACTS.md "Broker Lambda contract"); the broker runtime owns the files. */
export const BROKER_LAMBDA_ENTRIES = {
  api: path.join(__dirname, 'runtime', 'lambda', 'api.ts'),
  worker: path.join(__dirname, 'runtime', 'lambda', 'worker.ts'),
  authorizer: path.join(__dirname, 'runtime', 'lambda', 'authorizer.ts'),
  sweeper: path.join(__dirname, 'runtime', 'lambda', 'sweeper.ts'),
  originSecretRotation: path.join(__dirname, 'runtime', 'lambda', 'origin-secret-rotation.ts'),
} as const;

export interface BrokerFunctionProps {
  readonly config: PlatformConfig;
  /** Which handler (an entry of BROKER_LAMBDA_ENTRIES). */
  readonly handler: keyof typeof BROKER_LAMBDA_ENTRIES;
  readonly description: string;
  readonly environment: Record<string, string>;
  readonly timeout: Duration;
  readonly memorySize: number;
}

/**
 * One broker Lambda: ARM64 on Node.js 22, bundled by esbuild (minified, with source maps,
 * the AWS SDK v3 left to the runtime), active X-Ray tracing, JSON logs to its own log
 * group with the platform's retention, and its own role that starts with nothing but
 * writing to that log group (no AWSLambdaBasicExecutionRole, which allows every group).
 */
export class BrokerFunction extends Construct {
  /** Which handler this is (alarms and dashboards name functions by it). */
  readonly handler: BrokerFunctionProps['handler'];
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    super(scope, id);
    const { config } = props;
    this.handler = props.handler;
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logRetention(config.logRetentionDays) });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${config.platformName} broker ${props.handler} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: BROKER_LAMBDA_ENTRIES[props.handler],
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: `${config.platformName}-broker-${props.handler}`,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        // The Node.js 22 runtime ships the AWS SDK v3 (and its @smithy packages).
        externalModules: ['@aws-sdk/*', '@smithy/*'],
        forceDockerBundling: false,
        // RE2 (lib/model/re2.ts, package @adguard/re2-wasm) loads its WebAssembly module
        // from the bundle's directory when the handler is loaded.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [`cp "${inputDir}/${RE2_WASM}" "${outputDir}/re2.wasm"`],
        },
      },
    });

    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 on purpose (CONTRACTS.md): the same major as the control plane image and the local platform, so one Node version is tested; it is an LTS line with Lambda support into 2027. Moving to 24 is a one-line change.',
      },
    );
  }
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>` in the stack's partition and account. */
export function arnIn(scope: Construct, service: string, region: string, resource: string): string {
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:${service}:${region}:${stack.account}:${resource}`;
}

/**
 * How cdk-nag spells a resource string in a finding id (`AwsSolutions-IAM5[Resource::...]`):
 * literal partition and account when the stack has them, `<AWS::Partition>` and
 * `<AWS::AccountId>` when they are deploy-time tokens. Give it the same pieces as the ARN.
 */
export function nagArn(scope: Construct, build: (partition: string, account: string) => string): string {
  const stack = Stack.of(scope);
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  return build(partition, account);
}

/** Item-level DynamoDB actions the broker's api and worker use (no streams, no table admin). */
export const TABLE_DATA_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
