import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { rootLogger } from '../log';
import { EmfBrokerMetrics } from '../metrics';
import { SqsOperationQueue } from '../queue';
import { settingsFromEnv } from '../settings';
import { BrokerStore } from '../store/store';
import { DEFAULT_SWEEP_OPTIONS, SweepContext, SweepOptions, sweepOperations } from '../worker/sweep';

/** The sweep's options from `EDGE_SWEEP_STALE_SECONDS` / `EDGE_SWEEP_MAX_REENQUEUES` (both optional); a bad value throws naming it. */
export function sweepOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SweepOptions {
  const whole = (name: string, fallback: number, min: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min) throw new Error(`${name}: must be a whole number of at least ${min} (got ${JSON.stringify(raw)})`);
    return Number(raw);
  };
  return {
    staleAfterSeconds: whole('EDGE_SWEEP_STALE_SECONDS', DEFAULT_SWEEP_OPTIONS.staleAfterSeconds, 1),
    maxSweeps: whole('EDGE_SWEEP_MAX_REENQUEUES', DEFAULT_SWEEP_OPTIONS.maxSweeps, 0),
  };
}

let context: { sweep: SweepContext; metrics: EmfBrokerMetrics; options: SweepOptions } | undefined;

function sweeperContext() {
  if (!context) {
    const settings = settingsFromEnv();
    const metrics = new EmfBrokerMetrics(settings.platformName, 'sweeper');
    context = {
      metrics,
      options: sweepOptionsFromEnv(),
      sweep: {
        store: new BrokerStore(new DynamoDBClient({}), settings.tableName),
        queue: new SqsOperationQueue(new SQSClient({}), settings.queueUrl),
        convergence: settings.convergence,
        logger: rootLogger(),
        metrics,
      },
    };
  }
  return context;
}

/** EventBridge schedule (every 5 minutes): one sweep, its metrics flushed as one EMF line. */
export async function handler(): Promise<{ inProgress: number; stuck: number; reenqueued: number }> {
  const { sweep, metrics, options } = sweeperContext();
  try {
    const result = await sweepOperations(sweep, options);
    sweep.logger.info('sweep done', { inProgress: result.inProgress, stuck: result.stuck.length, reenqueued: result.reenqueued.length });
    return { inProgress: result.inProgress, stuck: result.stuck.length, reenqueued: result.reenqueued.length };
  } finally {
    metrics.flush();
  }
}
