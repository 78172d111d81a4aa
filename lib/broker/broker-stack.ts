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

    const environment = {
      EDGE_TABLE_NAME: this.table.table.tableName,
      EDGE_QUEUE_URL: this.queue.queue.queueUrl,
      EDGE_BROKER_SECRET_ARN: this.credentials.secretArn,
      EDGE_PLATFORM_NAME: config.platformName,
      EDGE_DOMAIN: config.domain,
      EDGE_HOSTED_ZONE_ID: config.hostedZoneId,
      EDGE_HOME_REGION: config.homeRegion,
      EDGE_REGIONS: config.regions.map((r) => r.region).join(','),
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

  /** Route 53 on the platform zone, ACM certificates in us-east-1 and CloudFront distributions. */
  private grantEdgeApis(worker: BrokerFunction, config: PlatformConfig): void {
    const partition = this.partition;
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PlatformZoneRecords',
        actions: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'],
        resources: [`arn:${partition}:route53:::hostedzone/${config.hostedZoneId}`],
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordChangeStatus',
        actions: ['route53:GetChange'],
        resources: [`arn:${partition}:route53:::change/*`],
      }),
    );
    // CloudFront only accepts certificates from us-east-1.
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RequestCdnCertificates',
        actions: ['acm:RequestCertificate', 'acm:AddTagsToCertificate'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } },
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageCdnCertificates',
        actions: ['acm:DescribeCertificate', 'acm:DeleteCertificate', 'acm:AddTagsToCertificate'],
        resources: [arnIn(this, 'acm', 'us-east-1', 'certificate/*')],
      }),
    );
    worker.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageDistributions',
        actions: [
          'cloudfront:CreateDistribution',
          'cloudfront:GetDistribution',
          'cloudfront:UpdateDistribution',
          'cloudfront:DeleteDistribution',
          'cloudfront:TagResource',
        ],
        resources: [`arn:${partition}:cloudfront::${this.account}:distribution/*`],
      }),
    );
    Validations.of(worker.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p) => `arn:${p}:route53:::change/*`)}]`,
        reason: 'route53:GetChange polls change ids Route 53 generates per ChangeResourceRecordSets call; they cannot be known in advance.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray PutTraceSegments/PutTelemetryRecords and acm:RequestCertificate support no resource-level permissions (the certificate ARN does not exist yet); the ACM statement is limited to us-east-1 by aws:RequestedRegion.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:acm:us-east-1:${a}:certificate/*`)}]`,
        reason: 'The worker manages certificates it requested itself; their ids are generated by ACM at request time.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, (p, a) => `arn:${p}:cloudfront::${a}:distribution/*`)}]`,
        reason: 'The worker creates one distribution per cdn-plan instance; distribution ids are generated by CloudFront at creation.',
      },
    );
  }
}
