import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface BrokerQueueProps {
  /** The worker's timeout: the queue's visibility timeout is six times it plus the batching window. */
  readonly workerTimeout: Duration;
  readonly maxBatchingWindow: Duration;
  /** Deliveries of one message before it moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** An existing alarm topic (config `alarms.topicArns`); default: the queue creates its own. */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * The operations queue (one message = one operation id to advance), its dead-letter
 * queue, and the broker's alarm topic (encrypted SNS). The alarms themselves, the DLQ's
 * included, are in lib/monitoring/broker-alarms.ts.
 */
export class BrokerQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly alarmTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: BrokerQueueProps) {
    super(scope, id);

    // SQS-managed encryption (SSE-SQS): encrypted at rest with no key policy to keep in
    // step with every producer and consumer role.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This is the dead-letter queue of the operations queue; a DLQ of a DLQ would only move the same messages again.',
    });

    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS guidance for Lambda event sources: at least six times the function timeout
      // (plus the batching window), so a message is not redelivered while being worked on.
      visibilityTimeout: Duration.seconds(props.workerTimeout.toSeconds() * 6 + props.maxBatchingWindow.toSeconds()),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });

    this.alarmTopic = props.alarmTopic ?? this.createAlarmTopic();
  }

  /**
   * The home region's alarm topic. Its name stays generated: renaming would replace the topic
   * and drop its subscribers (the stack outputs its ARN). SSL-only, so it has a topic policy,
   * which replaces SNS's default one: lib/monitoring's AlarmTopic adds the statement that lets
   * this account's alarms publish (without it no broker alarm could notify anyone).
   */
  private createAlarmTopic(): sns.Topic {
    // CloudWatch alarms can publish to an encrypted topic only with a customer managed
    // key whose policy lets CloudWatch use it (the AWS managed aws/sns key cannot).
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the broker region alarm topic',
      enableKeyRotation: true,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    return new sns.Topic(this, 'AlarmTopic', { masterKey: topicKey, enforceSSL: true });
  }
}
