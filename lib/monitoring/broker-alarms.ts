import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { BROKER_METRICS, METRIC_NAMESPACES, metricService } from '../model/metrics';
import { FIVE_MINUTES, ONE_MINUTE, runbookAlarm } from './runbook';

const { GREATER_THAN_THRESHOLD, GREATER_THAN_OR_EQUAL_TO_THRESHOLD } = cloudwatch.ComparisonOperator;
const { NOT_BREACHING } = cloudwatch.TreatMissingData;

/** The DynamoDB operations the broker's api, worker and sweeper call (lib/broker/runtime). */
export const BROKER_TABLE_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.SCAN,
];

/** A broker Lambda function and the handler name it runs (`api`, `worker`, `authorizer`, `sweeper`). */
export interface MonitoredFunction {
  readonly handler: string;
  readonly fn: lambda.IFunction;
}

export interface BrokerAlarmsProps {
  readonly config: PlatformConfig;
  readonly topic: sns.ITopic;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly api: apigateway.RestApi;
  readonly table: dynamodb.ITableV2;
  /** Every broker function; a sweeper, when the broker has one, is simply one more. */
  readonly functions: readonly MonitoredFunction[];
}

/**
 * The broker's alarms (home region), one per failure mode of issue 7, each naming its runbook.
 * Missing data is "not breaching" throughout: SQS, API Gateway and Lambda publish nothing while
 * idle, and an idle broker is healthy.
 */
export class BrokerAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: BrokerAlarmsProps) {
    super(scope, id);
    const { config, topic } = props;
    const limits = config.alarms.thresholds;
    const base = { namePrefix: config.platformName, topic };
    const add = (alarm: cloudwatch.Alarm) => {
      this.alarms.push(alarm);
      return alarm;
    };

    add(
      runbookAlarm(this, 'DeadLetterQueueNotEmpty', {
        ...base,
        runbook: 'broker-dlq-not-empty',
        meaning: 'An operation exhausted its retries and landed in the broker dead-letter queue.',
        details: 'Any visible message in the DLQ alarms; the instance behind it is stuck until the message is redriven.',
        metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'QueueMessageAge', {
        ...base,
        runbook: 'broker-queue-message-age',
        meaning: 'The worker is not keeping up: the oldest message on the broker work queue is too old.',
        details: `Oldest message older than ${limits.queueOldestMessageSeconds} s for 3 periods of 5 minutes.`,
        metric: props.queue.metricApproximateAgeOfOldestMessage({ period: FIVE_MINUTES, statistic: 'Maximum' }),
        threshold: limits.queueOldestMessageSeconds,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'Api5xx', {
        ...base,
        runbook: 'broker-api-5xx',
        meaning: 'The OSB API answers 5XX: platforms cannot provision, update or deprovision.',
        details: `At least ${limits.api5xxPer5Minutes} 5XX answers in 5 minutes.`,
        metric: props.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: limits.api5xxPer5Minutes,
        comparisonOperator: GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'ApiLatency', {
        ...base,
        runbook: 'broker-api-latency',
        meaning: 'The OSB API is slow: p99 latency is above its limit, platforms may time out.',
        details: `p99 above ${limits.apiLatencyP99Ms} ms for 3 periods of 5 minutes.`,
        metric: props.api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99' }),
        threshold: limits.apiLatencyP99Ms,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: NOT_BREACHING,
      }),
    );

    for (const { handler, fn } of props.functions) {
      const name = handler.charAt(0).toUpperCase() + handler.slice(1);
      add(
        runbookAlarm(this, `${name}Errors`, {
          ...base,
          runbook: 'broker-lambda-errors',
          nameSuffix: handler,
          meaning: `The broker ${handler} function fails: invocations end in an error.`,
          details: 'Any error in 5 minutes (a handled OSB error is not an invocation error).',
          metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: NOT_BREACHING,
        }),
      );
      add(
        runbookAlarm(this, `${name}Throttles`, {
          ...base,
          runbook: 'broker-lambda-throttles',
          nameSuffix: handler,
          meaning: `The broker ${handler} function is throttled: Lambda refused invocations for lack of concurrency.`,
          details: 'Any throttle in 5 minutes.',
          metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: NOT_BREACHING,
        }),
      );
    }

    const tableMetric = (metricName: string) => props.table.metric(metricName, { period: FIVE_MINUTES, statistic: 'Sum' });
    add(
      runbookAlarm(this, 'TableThrottles', {
        ...base,
        runbook: 'broker-dynamodb-throttles',
        meaning: 'DynamoDB throttles reads or writes of the broker table (hot key or account limits).',
        details: 'ReadThrottleEvents + WriteThrottleEvents above 0 in 2 of 3 periods of 5 minutes.',
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(reads, 0) + FILL(writes, 0)',
          usingMetrics: { reads: tableMetric('ReadThrottleEvents'), writes: tableMetric('WriteThrottleEvents') },
          label: 'Throttle events',
          period: FIVE_MINUTES,
        }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'TableSystemErrors', {
        ...base,
        runbook: 'broker-dynamodb-system-errors',
        meaning: 'DynamoDB answers the broker with internal errors (HTTP 500): the table or the service is impaired.',
        details: `SystemErrors summed over ${BROKER_TABLE_OPERATIONS.join(', ')}, above 0 in 2 of 3 periods of 5 minutes.`,
        metric: props.table.metricSystemErrorsForOperations({ operations: BROKER_TABLE_OPERATIONS, period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: NOT_BREACHING,
      }),
    );
    add(
      runbookAlarm(this, 'OperationsStuck', {
        ...base,
        runbook: 'broker-operations-stuck',
        meaning: 'Broker operations are still in progress past their deadline (reported by the sweeper).',
        details: 'OperationsStuck above 0 in 2 consecutive sweeps of 5 minutes.',
        metric: new cloudwatch.Metric({
          namespace: METRIC_NAMESPACES.broker,
          metricName: BROKER_METRICS.operationsStuck,
          dimensionsMap: { service: metricService(config.platformName, 'sweeper') },
          period: FIVE_MINUTES,
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        // No sweeper data is not a stuck operation; a sweeper that stopped shows as sweeper Errors.
        treatMissingData: NOT_BREACHING,
      }),
    );
  }
}
