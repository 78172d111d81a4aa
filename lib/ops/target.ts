import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../config';
import { BrokerStore } from '../broker/runtime/store/store';
import { localClientConfig } from '../local/emulators';
import { readLocalSettings } from '../local/settings';
import { OpsError, UsageError } from './errors';

/**
 * What a command works on: the broker table (through the broker's own store) and the
 * operations queue with its dead-letter queue.
 *
 * - `--local`: the running `npm start`, found through EDGE_DYNAMODB_PORT / EDGE_SQS_PORT
 *   (or `--dynamodb-endpoint` / `--sqs-endpoint`); queues by the names the local broker
 *   gives them (`<table>-operations`, `<table>-operations-dlq`).
 * - `--region <r>`: AWS with the default credential chain. The table name comes from the
 *   platform config; the operations queue is the one queue named after the broker stack
 *   (`<platform>-broker...`, CloudFormation's generated name) that has a redrive policy,
 *   and the dead-letter queue is the target of that policy.
 */
export interface TargetOptions {
  readonly local: boolean;
  readonly region?: string;
  readonly dynamodbEndpoint?: string;
  readonly sqsEndpoint?: string;
  readonly table?: string;
  readonly queueUrl?: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Queues {
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

export class Target {
  private sqsClient?: SQSClient;
  private queues?: Queues;

  private constructor(
    readonly description: string,
    readonly tableName: string,
    readonly platformName: string,
    /** Regions of the platform config (fleet regions and the home region). */
    readonly regions: readonly string[],
    readonly dynamodb: DynamoDBClient,
    readonly store: BrokerStore,
    private readonly makeSqs: () => SQSClient,
    private readonly options: TargetOptions,
  ) {}

  /**
   * What `open` would work on, checked without creating a client or connecting: the target
   * flags (exactly one of --local / --region), the platform config and its regions. A dry run
   * stops here.
   */
  static check(options: TargetOptions): { readonly description: string; readonly platformName: string; readonly tableName: string; readonly regions: readonly string[] } {
    if (options.local && options.region) throw new UsageError('--local and --region: choose one target', '--region');
    if (!options.local && !options.region) throw new UsageError('choose a target: --local (the running `npm start`) or --region <aws-region>', '--local');
    if (!options.local && (options.dynamodbEndpoint || options.sqsEndpoint)) {
      throw new UsageError('--dynamodb-endpoint and --sqs-endpoint: only with --local', options.dynamodbEndpoint ? '--dynamodb-endpoint' : '--sqs-endpoint');
    }
    if (options.region && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(options.region)) throw new UsageError(`--region: "${options.region}" is not an AWS region name`, '--region');
    let config;
    try {
      config = loadConfig(() => undefined, options.env);
    } catch (err) {
      throw new OpsError('config', `platform config: ${(err as Error).message}`);
    }
    const tableName = options.table ?? config.brokerTableName;
    const regions = [...new Set([...config.regions.map((r) => r.region), config.homeRegion])];
    const description = options.local ? `the local platform (table ${tableName})` : `AWS ${options.region} (table ${tableName})`;
    return { description, platformName: config.platformName, tableName, regions };
  }

  static open(options: TargetOptions): Target {
    const { tableName, regions, platformName } = Target.check(options);
    if (options.local) {
      let settings;
      try {
        settings = readLocalSettings(options.env);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const dynamodbEndpoint = options.dynamodbEndpoint ?? `http://127.0.0.1:${settings.dynamodbPort}`;
      const sqsEndpoint = options.sqsEndpoint ?? `http://127.0.0.1:${settings.sqsPort}`;
      const dynamodb = new DynamoDBClient({ ...localClientConfig(dynamodbEndpoint), maxAttempts: 2 });
      return new Target(
        `local platform (DynamoDB ${dynamodbEndpoint}, SQS ${sqsEndpoint}, table ${tableName})`,
        tableName,
        platformName,
        regions,
        dynamodb,
        new BrokerStore(dynamodb, tableName),
        () => new SQSClient({ ...localClientConfig(sqsEndpoint), maxAttempts: 2 }),
        options,
      );
    }
    const region = options.region!;
    const dynamodb = new DynamoDBClient({ region });
    return new Target(`AWS ${region} (table ${tableName})`, tableName, platformName, regions, dynamodb, new BrokerStore(dynamodb, tableName), () => new SQSClient({ region }), options);
  }

  get sqs(): SQSClient {
    this.sqsClient ??= this.makeSqs();
    return this.sqsClient;
  }

  /** The AWS region of an AWS target (CloudWatch and SNS have no local emulator). */
  get awsRegion(): string | undefined {
    return this.options.local ? undefined : this.options.region;
  }

  async findQueues(): Promise<Queues> {
    if (this.queues) return this.queues;
    const queueUrl = this.options.queueUrl ?? (this.options.local ? await this.localQueueUrl() : await this.awsQueueUrl());
    this.queues = { queueUrl, dlqUrl: await this.deadLetterQueueOf(queueUrl) };
    return this.queues;
  }

  private async localQueueUrl(): Promise<string> {
    const name = `${this.tableName}-operations`;
    try {
      return (await this.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    } catch (err) {
      throw new OpsError('queue-not-found', `queue ${name}: not found on the local SQS (${(err as Error).message}); is \`npm start\` running?`);
    }
  }

  /** The broker stack's queue that has a redrive policy (its DLQ has none). */
  private async awsQueueUrl(): Promise<string> {
    const prefix = `${this.platformName}-broker`;
    const urls: string[] = [];
    let next: string | undefined;
    do {
      const out = await this.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix, NextToken: next, MaxResults: 100 }));
      urls.push(...(out.QueueUrls ?? []));
      next = out.NextToken;
    } while (next);
    const withRedrive: string[] = [];
    for (const url of urls) {
      const attributes = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['RedrivePolicy'] }));
      if (attributes.Attributes?.RedrivePolicy) withRedrive.push(url);
    }
    if (withRedrive.length !== 1) {
      throw new OpsError(
        'queue-not-found',
        `operations queue: expected one queue named ${prefix}* with a redrive policy, found ${withRedrive.length} (${withRedrive.join(', ') || 'none'}); pass --queue-url (the broker stack's QueueUrl output)`,
      );
    }
    return withRedrive[0];
  }

  private async deadLetterQueueOf(queueUrl: string): Promise<string> {
    const attributes = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
    const policy = attributes.Attributes?.RedrivePolicy;
    if (!policy) throw new OpsError('queue-not-found', `queue ${queueUrl}: has no redrive policy, so no dead-letter queue`);
    const arn = String((JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn ?? '');
    const [, , , , account, name] = arn.split(':');
    if (!name) throw new OpsError('queue-not-found', `queue ${queueUrl}: redrive policy names no dead-letter queue (${policy})`);
    return (await this.sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: this.options.local ? undefined : account }))).QueueUrl!;
  }

  close(): void {
    this.dynamodb.destroy();
    this.sqsClient?.destroy();
  }
}
