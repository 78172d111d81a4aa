import { CfnOutput, Duration, Stack, StackProps, Tags, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaEventSources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { BrokerApi } from './broker-api';
import { arnIn, BrokerFunction, nagArn, TABLE_DATA_ACTIONS } from './broker-functions';
import { BrokerQueue } from './broker-queue';
import { BrokerSweeper } from './broker-sweeper';
import { BrokerTableRef, importBrokerTable } from './broker-table';
import { WORKER_MAX_RECEIVE_COUNT } from './runtime/settings';
import { GENERATION_INDEX } from '../model/table';
import { CDN_ORIGIN_HEADER, INSTANCE_TAG, cdnOriginSecretName, PLATFORM_TAG, PURPOSE_TAG, edgeListenerParameterName } from '../model/fleet-contract';
import { importedAlarmTopic } from '../monitoring/alarm-topic';
import { BrokerMonitoring } from '../monitoring/broker-monitoring';

export interface BrokerStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** Username of the generated broker credentials (the password is generated). */
export const BROKER_USERNAME = 'broker';
/** The worker's Lambda timeout; it never waits long (it re-enqueues itself with a delay). */
export const WORKER_TIMEOUT = Duration.seconds(60);
const WORKER_BATCHING_WINDOW = Duration.seconds(1);

/**
 * The Open Service Broker in the home region: API Gateway -> api Lambda -> DynamoDB
 * global table + SQS -> worker Lambda (Route 53, ACM, CloudFront). See docs/stacks.md.
 */
export class BrokerStack extends Stack {
  /** The broker table, deployed by its own stack (`<platform>-table`, lib/broker/broker-table.ts). */
  readonly table: BrokerTableRef;
  readonly queue: BrokerQueue;
  readonly credentials: secretsmanager.Secret;
  readonly api: BrokerApi;
  readonly apiFunction: BrokerFunction;
  readonly workerFunction: BrokerFunction;
  readonly authorizerFunction: BrokerFunction;
  /** Alarm topic, broker alarms and the global dashboard (lib/monitoring). */
  readonly monitoring: BrokerMonitoring;
  /** The stuck-operation sweeper (every 5 minutes; see broker-sweeper.ts). */
  readonly sweeper: BrokerSweeper;
  /** The cdn plan's origin header value, replicated to every fleet region, rotated every 30 days. */
  readonly cdnOriginSecret: secretsmanager.Secret;
  /** Rotates the cdn origin secret and updates every distribution (runtime/origin-secret.ts). */
  readonly originSecretRotationFunction: BrokerFunction;

  constructor(scope: Construct, id: string, props: BrokerStackProps) {
    super(scope, id, props);
    const { config } = props;
    Tags.of(this).add('component', 'broker');

    this.table = importBrokerTable(this, 'Table', config);
    this.queue = new BrokerQueue(this, 'Operations', {
      workerTimeout: WORKER_TIMEOUT,
      maxBatchingWindow: WORKER_BATCHING_WINDOW,
      maxReceiveCount: WORKER_MAX_RECEIVE_COUNT,
      alarmTopic: importedAlarmTopic(this, 'ImportedAlarmTopic', config, config.homeRegion),
    });

    this.credentials = new secretsmanager.Secret(this, 'Credentials', {
      description: `${config.platformName} broker basic-auth credentials for OSB platforms ({"username","password"})`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: BROKER_USERNAME }),
        generateStringKey: 'password',
        passwordLength: 40,
        // Basic auth joins user and password with ':'; keep the password URL- and shell-safe too.
        excludePunctuation: true,
      },
    });
    Validations.of(this.credentials).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The password is registered with every OSB platform that uses the broker (cf create-service-broker, a ClusterServiceBroker secret); rotating it is a coordinated operator step with the platforms, not an automatic rotation that would lock them out.',
    });

    // The edge reads it in every region (phase 2: the control plane accepts the current and the
    // previous value), so each fleet region holds a replica; the home region holds the primary.
    this.cdnOriginSecret = new secretsmanager.Secret(this, 'CdnOriginSecret', {
      // A fixed name: each region's control plane reads its replica by it (no cross-region reference).
      secretName: cdnOriginSecretName(config.platformName),
      description: `${config.platformName}: value of the ${CDN_ORIGIN_HEADER} header CloudFront sends the edge for cdn-plan instances`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      replicaRegions: config.regions.filter((r) => r.region !== this.region && r.region !== config.homeRegion).map((r) => ({ region: r.region })),
    });

    const environment = {
      EDGE_TABLE_NAME: this.table.table.tableName,
      EDGE_QUEUE_URL: this.queue.queue.queueUrl,
      EDGE_BROKER_SECRET_ARN: this.credentials.secretArn,
      EDGE_PLATFORM_NAME: config.platformName,
      EDGE_DOMAIN: config.domain,
      EDGE_HOSTED_ZONE_ID: config.hostedZoneId,
      EDGE_HOME_REGION: config.homeRegion,
      EDGE_REGIONS: config.regions.map((r) => r.region).join(','),
      EDGE_CDN_ORIGIN_SECRET_ARN: this.cdnOriginSecret.secretArn,
      // The api refuses backends and auth targets in the fleet's networks (issue 13).
      EDGE_FLEET_CIDRS: config.regions.map((r) => r.vpcCidr).join(','),
    };

    // No reserved concurrency: API Gateway throttling bounds the api and authorizer, and
    // the event source's maxConcurrency bounds the worker without the throttling-driven
    // redeliveries (and the account-minimum deploy failures) reserved concurrency brings.
    this.apiFunction = new BrokerFunction(this, 'ApiHandler', {
      config,
      handler: 'api',
      description: 'OSB API: every /v2 route (API Gateway Lambda proxy integration)',
      environment,
      timeout: Duration.seconds(15),
      memorySize: 512,
    });
    this.workerFunction = new BrokerFunction(this, 'Worker', {
      config,
      handler: 'worker',
      description: 'Advances broker operations from the queue (Route 53, ACM, CloudFront, routes)',
      environment,
      timeout: WORKER_TIMEOUT,
      memorySize: 512,
    });
    this.authorizerFunction = new BrokerFunction(this, 'Authorizer', {
      config,
      handler: 'authorizer',
      description: 'API Gateway REQUEST authorizer: HTTP basic auth against the broker secret',
      environment,
      timeout: Duration.seconds(5),
      memorySize: 256,
    });

    // Least privilege: the api and the worker use the table and the queue, only the
    // authorizer reads the secret, only the worker touches DNS, certificates and CDN.
    this.grantTableData(this.apiFunction);
    this.grantTableData(this.workerFunction);
    this.queue.queue.grantSendMessages(this.apiFunction.role);
    this.queue.queue.grantSendMessages(this.workerFunction.role);
    this.credentials.grantRead(this.authorizerFunction.role);
    this.workerFunction.fn.addEventSource(
      new lambdaEventSources.SqsEventSource(this.queue.queue, {
        batchSize: 10,
        maxBatchingWindow: WORKER_BATCHING_WINDOW,
        reportBatchItemFailures: true,
        // Route 53 allows 5 ChangeResourceRecordSets per second per account.
        maxConcurrency: 5,
      }),
    );
    this.grantEdgeApis(this.workerFunction, config);
    this.sweeper = new BrokerSweeper(this, 'Sweeper', { config, environment, table: this.table.table, queue: this.queue.queue });
    this.originSecretRotationFunction = this.originSecretRotation(config, environment);

    this.api = new BrokerApi(this, 'Osb', {
      config,
      apiFunction: this.apiFunction.fn,
      authorizerFunction: this.authorizerFunction.fn,
    });

    // Last, so that every broker function (a sweeper included) is there to be watched.
    this.monitoring = new BrokerMonitoring(this, 'Monitoring', {
      config,
      topic: this.queue.alarmTopic,
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
      api: this.api.api,
      table: this.table.table,
      functions: this.node.findAll().filter((c): c is BrokerFunction => c instanceof BrokerFunction),
    });

    new CfnOutput(this, 'BrokerUrl', { value: this.api.api.url, description: 'OSB base URL (register it with the platforms)' });
    new CfnOutput(this, 'CredentialsSecretArn', { value: this.credentials.secretArn, description: 'Secrets Manager secret with the broker basic-auth credentials' });
    new CfnOutput(this, 'TableName', { value: this.table.table.tableName });
    new CfnOutput(this, 'QueueUrl', { value: this.queue.queue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.queue.alarmTopic.topicArn, description: 'Subscribe operators here: every broker alarm (docs/monitoring.md)' });
  }

  /**
   * Secrets Manager's rotation of the cdn origin secret, every 30 days: the function finds
   * the instances with a distribution (a Scan), updates their origin header and records the
   * version (UpdateItem); CDK grants it the secret's rotation calls and Secrets Manager the invoke.
   */
  private originSecretRotation(config: PlatformConfig, environment: Record<string, string>): BrokerFunction {
    const fn = new BrokerFunction(this, 'OriginSecretRotation', {
      config,
      handler: 'originSecretRotation',
      description: 'Rotates the cdn origin secret and moves every CloudFront distribution to the new value',
      environment,
      timeout: Duration.minutes(5),
      memorySize: 256,
    });
    fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'FindDistributions', actions: ['dynamodb:Scan', 'dynamodb:UpdateItem'], resources: [this.table.table.tableArn] }));
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UpdateTaggedDistributions',
        actions: ['cloudfront:GetDistribution', 'cloudfront:UpdateDistribution'],
        resources: [`arn:${this.partition}:cloudfront::${this.account}:distribution/*`],
        conditions: { StringEquals: { [`aws:ResourceTag/${PLATFORM_TAG}`]: config.platformName } },
      }),
    );
    this.cdnOriginSecret.addRotationSchedule('Rotation', { rotationLambda: fn.fn, automaticallyAfter: Duration.days(30) });
    Validations.of(fn.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:cloudfront::${a}:distribution/*`)}]`,
        reason: 'CloudFront generates distribution ids; the statement only applies to distributions carrying the platform tag.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray PutTraceSegments/PutTelemetryRecords and secretsmanager:GetRandomPassword support no resource-level permissions.',
      },
    );
    return fn;
  }

  /** Item reads and writes on the table and its one index, named exactly (no `index/*`). */
  private grantTableData(fn: BrokerFunction): void {
    const table = this.table.table;
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BrokerTableItems',
        actions: TABLE_DATA_ACTIONS,
        resources: [table.tableArn, `${table.tableArn}/index/${GENERATION_INDEX.name}`],
      }),
    );
  }

  /**
   * What the worker may touch outside the table and queue, each statement scoped to what the
   * platform manages (issue 12, and issue 13 item 3):
   * - Route 53: only UPSERT/DELETE of CNAME records one or more labels under the platform
   *   domain (tenant names, their cdn validation records), never the platform's own
   *   (`<domain>`'s latency records and its certificates' validation records, `<region>.<domain>`
   *   and below, `internal.<domain>` and below), with Route 53's record-set condition keys;
   * - ACM: certificates requested with the platform's tag, and only tagged ones described or
   *   deleted, in the home and fleet regions (custom domains in every region, cdn in us-east-1);
   * - ELB: certificate lists of the edge listeners the fleet stacks tagged; SSM: the
   *   parameters where each region publishes its listener;
   * - CloudFront: distributions created with the platform's tag, and only tagged ones read,
   *   updated or deleted; Secrets Manager: the cdn origin secret, read.
   * Facts from the Service Authorization Reference (ACM, Elastic Load Balancing V2, CloudFront)
   * and Route 53's "Using IAM policy conditions for fine-grained access control".
   */
  private grantEdgeApis(worker: BrokerFunction, config: PlatformConfig): void {
    const partition = this.partition;
    const regions = [...new Set([config.homeRegion, 'us-east-1', ...config.regions.map((r) => r.region)])];
    const platformTag = { [`aws:ResourceTag/${PLATFORM_TAG}`]: config.platformName };
    for (const statement of workerZoneStatements(config, partition)) worker.role.addToPrincipalPolicy(statement);
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordChangeStatus',
        actions: ['route53:GetChange'],
        resources: [`arn:${partition}:route53:::change/*`],
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RequestTaggedCertificates',
        // RequestCertificate has no resource type (the certificate does not exist yet); tagging on request needs AddTagsToCertificate.
        actions: ['acm:RequestCertificate', 'acm:AddTagsToCertificate'],
        resources: ['*'],
        conditions: {
          StringEquals: { [`aws:RequestTag/${PLATFORM_TAG}`]: config.platformName, 'aws:RequestedRegion': regions },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [PLATFORM_TAG, INSTANCE_TAG, PURPOSE_TAG] },
        },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageTaggedCertificates',
        actions: ['acm:DescribeCertificate', 'acm:DeleteCertificate'],
        resources: [`arn:${partition}:acm:*:${this.account}:certificate/*`],
        conditions: { StringEquals: { ...platformTag, 'aws:RequestedRegion': regions } },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EdgeListenerCertificates',
        actions: ['elasticloadbalancing:AddListenerCertificates', 'elasticloadbalancing:RemoveListenerCertificates'],
        resources: [`arn:${partition}:elasticloadbalancing:*:${this.account}:listener/net/*`],
        conditions: { StringEquals: { ...platformTag, 'aws:ResourceTag/component': 'proxy-fleet', 'aws:RequestedRegion': regions } },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeListenerCertificates',
        // DescribeListenerCertificates supports no resource-level permissions.
        actions: ['elasticloadbalancing:DescribeListenerCertificates'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:RequestedRegion': regions } },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EdgeListenerParameters',
        actions: ['ssm:GetParameter'],
        resources: config.regions.map((r) => arnIn(this, 'ssm', r.region, `parameter${edgeListenerParameterName(config.platformName, r.region)}`)),
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CreateTaggedDistributions',
        // CreateDistribution has no resource type; CreateDistributionWithTags also needs TagResource on the new distribution.
        actions: ['cloudfront:CreateDistribution', 'cloudfront:TagResource'],
        resources: ['*'],
        conditions: { StringEquals: { [`aws:RequestTag/${PLATFORM_TAG}`]: config.platformName }, 'ForAllValues:StringEquals': { 'aws:TagKeys': [PLATFORM_TAG, INSTANCE_TAG] } },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageTaggedDistributions',
        actions: ['cloudfront:GetDistribution', 'cloudfront:UpdateDistribution', 'cloudfront:DeleteDistribution'],
        resources: [`arn:${partition}:cloudfront::${this.account}:distribution/*`],
        conditions: { StringEquals: platformTag },
      }),
    );
    this.cdnOriginSecret.grantRead(worker.role);
    Validations.of(worker.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p) => `arn:${p}:route53:::change/*`)}]`,
        reason: 'route53:GetChange polls change ids Route 53 generates per ChangeResourceRecordSets call; they cannot be known in advance.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Actions with no resource-level permissions: X-Ray PutTraceSegments/PutTelemetryRecords, acm:RequestCertificate and cloudfront:CreateDistribution (the resource does not exist yet; both only with the platform tag in the request), elasticloadbalancing:DescribeListenerCertificates (read-only, limited to the platform regions).',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:acm:*:${a}:certificate/*`)}]`,
        reason: 'ACM generates certificate ids at request time; the statement only applies to certificates carrying the platform tag, in the platform regions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:elasticloadbalancing:*:${a}:listener/net/*`)}]`,
        reason: "The fleet stacks' NLB listener ids are generated by CloudFormation; the statement only applies to listeners tagged with the platform and component=proxy-fleet.",
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:cloudfront::${a}:distribution/*`)}]`,
        reason: 'The worker creates one distribution per cdn-plan instance; CloudFront generates the ids; the statement only applies to distributions carrying the platform tag.',
      },
    );
  }
}

/**
 * The worker's Route 53 statement: ChangeResourceRecordSets on the platform zone, limited by
 * Route 53's record-set condition keys (values normalized: lowercase, no trailing dot) to
 * UPSERT and DELETE of CNAME records of tenant names, never the platform's own records.
 * `?` matches one character: ACM's validation records are `_` and 32 hex digits.
 */
export function workerZoneStatements(config: PlatformConfig, partition: string): iam.PolicyStatement[] {
  const domain = config.domain;
  const acmValidationLabel = `_${'?'.repeat(32)}`;
  const platformNames = [
    `${acmValidationLabel}.${domain}`,
    `internal.${domain}`,
    `*.internal.${domain}`,
    ...config.regions.flatMap((r) => [`${r.region}.${domain}`, `*.${r.region}.${domain}`]),
  ];
  return [
    new iam.PolicyStatement({
      sid: 'PlatformZoneTenantRecords',
      actions: ['route53:ChangeResourceRecordSets'],
      resources: [`arn:${partition}:route53:::hostedzone/${config.hostedZoneId}`],
      conditions: {
        'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsRecordTypes': ['CNAME'], 'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'] },
        'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`*.${domain}`] },
        'ForAllValues:StringNotLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': platformNames },
      },
    }),
    new iam.PolicyStatement({
      sid: 'PlatformZoneRead',
      actions: ['route53:ListResourceRecordSets'],
      resources: [`arn:${partition}:route53:::hostedzone/${config.hostedZoneId}`],
    }),
  ];
}
