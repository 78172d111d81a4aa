import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { SWEEP_RATE } from '../broker/broker-sweeper';
import { PlatformConfig } from '../config';
import { BROKER_METRICS, METRIC_NAMESPACES, metricService } from '../model/metrics';
import { FIVE_MINUTES, ONE_MINUTE, runbookAlarm, silence } from './runbook';

const { GREATER_THAN_THRESHOLD, GREATER_THAN_OR_EQUAL_TO_THRESHOLD, LESS_THAN_THRESHOLD } = cloudwatch.ComparisonOperator;

/**
 * The DynamoDB operations the broker's api, worker and sweeper call (lib/broker/runtime/store:
 * Get/Put/Update/Delete commands, the paginated Query, and the sweeper's paginated Scan);
 * test/monitoring/emitted-metrics.test.ts reads them off the store's code.
 */
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
 * `FILL(a, 0) + FILL(b, 0) + ...` over the metrics: a sum of event counts over several series
 * (each published only when its event happens) that has a datapoint whenever any series has one.
 */
export function sumOfSparse(usingMetrics: Record<string, cloudwatch.IMetric>, label: string, period: Duration): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: Object.keys(usingMetrics).map((id) => `FILL(${id}, 0)`).join(' + '),
    usingMetrics,
    label,
    period,
  });
}

/** The broker table's SystemErrors summed over every operation the broker calls (one series per Operation). */
export function tableSystemErrors(table: dynamodb.ITableV2, period: Duration): cloudwatch.MathExpression {
  const perOperation = Object.fromEntries(
    BROKER_TABLE_OPERATIONS.map((operation) => [
      operation.charAt(0).toLowerCase() + operation.slice(1),
      new cloudwatch.Metric({ namespace: 'AWS/DynamoDB', metricName: 'SystemErrors', dimensionsMap: { TableName: table.tableName, Operation: operation }, statistic: 'Sum', period }),
    ]),
  );
  return sumOfSparse(perOperation, 'System errors (all operations)', period);
}

/** The sweeper's OperationsStuck gauge (one datapoint per sweep). */
export function operationsStuckMetric(config: PlatformConfig, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACES.broker,
    metricName: BROKER_METRICS.operationsStuck,
    dimensionsMap: { service: metricService(config.platformName, 'sweeper') },
    period,
    statistic,
  });
}

/**
 * The broker's alarms (home region), one per failure mode, each naming its runbook and saying
 * what silence means: SQS, API Gateway, Lambda and DynamoDB publish their metrics when there is
 * activity (an idle broker is healthy); the sweeper reports on every run, so its silence pages.
 */
export class BrokerAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: BrokerAlarmsProps) {
    super(scope, id);
    const { config, topic } = props;
    const limits = config.alarms.thresholds;
    const base = { namePrefix: config.platformName, topic };
    const awsEvents = (what: string) => silence.notBreaching(`AWS publishes ${what}`);
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
        silence: awsEvents('queue metrics while the queue is active; a queue holding a message is active'),
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
        silence: awsEvents('queue metrics while the queue is active; a queue holding a message is active'),
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
        silence: awsEvents('API metrics only for periods with requests'),
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
        silence: awsEvents('API metrics only for periods with requests'),
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
          details:
            handler === 'authorizer'
              ? 'Any error in 5 minutes. Wrong credentials are not errors (the authorizer answers them with a Deny policy); an error is a broken authorizer, and API Gateway answers 500.'
              : 'Any error in 5 minutes (a handled OSB error is not an invocation error).',
          metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          silence: awsEvents('Errors only for periods with invocations'),
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
          silence: awsEvents('Throttles only when an invocation is throttled'),
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
        metric: sumOfSparse({ reads: tableMetric('ReadThrottleEvents'), writes: tableMetric('WriteThrottleEvents') }, 'Throttle events', FIVE_MINUTES),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        silence: awsEvents('throttle events only when a request is throttled'),
      }),
    );
    add(
      runbookAlarm(this, 'TableSystemErrors', {
        ...base,
        runbook: 'broker-dynamodb-system-errors',
        meaning: 'DynamoDB answers the broker with internal errors (HTTP 500): the table or the service is impaired.',
        details: `SystemErrors summed over ${BROKER_TABLE_OPERATIONS.join(', ')} (each filled with 0: an operation with no error has no datapoint), above 0 in 2 of 3 periods of 5 minutes.`,
        metric: tableSystemErrors(props.table, FIVE_MINUTES),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        silence: awsEvents('SystemErrors only when a request fails with a 500'),
      }),
    );
    add(
      runbookAlarm(this, 'OperationsStuck', {
        ...base,
        runbook: 'broker-operations-stuck',
        meaning: 'Broker operations are still in progress past their deadline (reported by the sweeper).',
        details: 'OperationsStuck above 0 in 2 consecutive sweeps of 5 minutes.',
        metric: operationsStuckMetric(config, 'Maximum', FIVE_MINUTES),
        threshold: 0,
        comparisonOperator: GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        silence: silence.notBreaching('no sweep, no count; a stopped sweeper is not a stuck operation', 'broker-sweeper-silent'),
      }),
    );
    // Every sweep reports OperationsStuck, 0 included: a window with no datapoint had no sweep
    // that got to report (not scheduled, not invoked, or failing before its flush).
    const heartbeat = Duration.minutes(SWEEP_RATE.toMinutes() * 2);
    add(
      runbookAlarm(this, 'SweeperSilent', {
        ...base,
        runbook: 'broker-sweeper-silent',
        meaning: 'The stuck-operation sweeper has reported nothing: it is not scheduled, not invoked, or fails before it reports; lost queue messages are not re-enqueued and stuck operations not counted.',
        details: `No OperationsStuck datapoint (one per sweep, every ${SWEEP_RATE.toMinutes()} minutes) in 2 periods of ${heartbeat.toMinutes()} minutes.`,
        metric: operationsStuckMetric(config, 'SampleCount', heartbeat),
        threshold: 1,
        comparisonOperator: LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        silence: silence.breaching(`the sweeper reports on every run, every ${SWEEP_RATE.toMinutes()} minutes`),
      }),
    );
  }
}
