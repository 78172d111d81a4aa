import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { BrokerFunction } from './broker-functions';

/** How often the sweeper runs. */
export const SWEEP_RATE = Duration.minutes(5);

export interface BrokerSweeperProps {
  readonly config: PlatformConfig;
  /** The broker functions' environment (table, queue, domain, regions, convergence). */
  readonly environment: Record<string, string>;
  readonly table: dynamodb.ITableV2;
  readonly queue: sqs.IQueue;
}

/**
 * The stuck-operation sweeper (lib/broker/runtime/lambda/sweeper.ts) on an EventBridge
 * schedule: re-enqueues operations in progress whose queue message was lost (an SQS send
 * that failed after the table write) and reports operations past their deadline
 * (OperationsStuck, OperationsReenqueued in Edge/Broker). It may only scan and update the
 * table's items and send to the operations queue.
 */
export class BrokerSweeper extends Construct {
  readonly function: BrokerFunction;
  readonly fn: lambda.IFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: BrokerSweeperProps) {
    super(scope, id);
    this.function = new BrokerFunction(this, 'Handler', {
      config: props.config,
      handler: 'sweeper',
      description: 'Re-enqueues broker operations whose queue message was lost; counts operations stuck past their deadline',
      environment: props.environment,
      // One paginated scan of the table and a few sends; far below this even with many operations.
      timeout: Duration.minutes(2),
      memorySize: 256,
    });
    this.fn = this.function.fn;
    this.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SweepOperations',
        // Scan: operations live under their instance's partition, no index lists them by state.
        // UpdateItem: the conditional mark of a re-enqueue (lastSweptAt, sweeps).
        actions: ['dynamodb:Scan', 'dynamodb:UpdateItem'],
        resources: [props.table.tableArn],
      }),
    );
    props.queue.grantSendMessages(this.function.role);
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Runs the broker stuck-operation sweeper',
      schedule: events.Schedule.rate(SWEEP_RATE),
      // A missed sweep is replaced by the next one five minutes later: no retries.
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
  }
}
