import type { Logger } from '@aws-lambda-powertools/logger';
import { BROKER_METRICS } from '../../../model';
import { EdgeCloud } from '../cloud/types';
import { BrokerMetrics, NO_METRICS } from '../metrics';
import { OperationQueue } from '../queue';
import { BrokerSettings, OPERATION_TTL_SECONDS, WORKER_MAX_RECEIVE_COUNT } from '../settings';
import { BrokerStore } from '../store/store';
import { InstanceRecord, OperationOutcome, OperationRecord, OperationRef } from '../store/types';
import { PermanentError, Step, StepContext, StepResult, stepsFor } from './steps';

export interface WorkerOptions {
  /** Deliveries of one message before the operation fails and the message goes to the DLQ. */
  readonly maxAttempts: number;
  /** Seconds between polls of ACM / CloudFront (re-enqueue delay). */
  readonly waitSeconds: number;
  /** Longest a step may take (a crashed worker's lease expires after it). */
  readonly leaseSeconds: number;
  /** Seconds before a failed step is retried, given the attempt that failed (1-based). */
  backoffSeconds(attempt: number): number;
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  maxAttempts: WORKER_MAX_RECEIVE_COUNT,
  waitSeconds: 30,
  leaseSeconds: 120,
  backoffSeconds: (attempt) => Math.min(300, 5 * 2 ** (attempt - 1)),
};

export interface WorkerContext {
  readonly settings: BrokerSettings;
  readonly store: BrokerStore;
  readonly queue: OperationQueue;
  readonly cloud: EdgeCloud;
  readonly logger: Logger;
  readonly options: WorkerOptions;
  /** True once the process is shutting down: stop between steps, leave the message for later. */
  readonly stopping?: () => boolean;
  /** Where the worker counts outcomes and retries (default: nowhere). The caller flushes. */
  readonly metrics?: BrokerMetrics;
}

/**
 * What to do with the message after working on it:
 * - `ack`: delete it (done, or waiting: a fresh delayed message was already sent);
 * - `retry`: leave it to be redelivered after `delaySeconds` (a step failed);
 * - `dead`: the operation failed for good after its last attempt; the queue's redrive
 *   policy moves the message to the dead-letter queue.
 */
export type Settlement = { readonly kind: 'ack' } | { readonly kind: 'retry'; readonly delaySeconds: number } | { readonly kind: 'dead' };

const ACK: Settlement = { kind: 'ack' };
const metrics = (ctx: WorkerContext): BrokerMetrics => ctx.metrics ?? NO_METRICS;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Works on one operation as far as it can go now: runs its remaining steps in order,
 * recording each on the operation item, so that a redelivered message (or a new worker
 * after a crash) resumes after the last completed step.
 *
 * A step is claimed before it runs: one conditional write that succeeds only while the
 * operation has exactly the completed steps this worker read and no other worker's lease
 * (`busyUntil`) is running. A duplicated message (SQS delivers at least once; the sweeper
 * re-enqueues) therefore never runs a step twice: the loser of the claim drops its
 * message, since the winner carries the operation on with its own.
 */
export async function workOnOperation(ctx: WorkerContext, ref: OperationRef, receiveCount: number): Promise<Settlement> {
  const logger = ctx.logger.createChild({ persistentKeys: { operationId: ref.operationId, instanceId: ref.instanceId } });
  let operation = await ctx.store.getOperation(ref.instanceId, ref.operationId);
  if (!operation) {
    logger.warn('operation not found (expired or never written); dropping the message');
    return ACK;
  }
  let instance = await ctx.store.getInstance(ref.instanceId);
  if (operation.state !== 'in progress') {
    // A crash after the operation finished but before the instance did: finish it now.
    if (instance?.currentOperationId === operation.operationId) await finishInstance(ctx, operation);
    return ACK;
  }
  if (!instance && operation.type === 'provision' && operation.completedSteps.length === 0) {
    // The provision request wrote its operation, then stopped before the instance (a crash):
    // it was never answered 202 and nothing was created; the platform's retry starts afresh.
    const description = 'provision interrupted before the instance was recorded (the request was never accepted); nothing was created';
    if (await ctx.store.updateOperation(ref.instanceId, operation.operationId, { state: 'failed', description, expiresAt: nowSeconds() + OPERATION_TTL_SECONDS })) {
      metrics(ctx).count(BROKER_METRICS.operationsFailed);
    }
    logger.warn('orphaned provision operation closed', { reason: description });
    return ACK;
  }
  if (!instance) {
    await failOperation(ctx, operation, 'the instance no longer exists', logger);
    return ACK;
  }

  let progressed = false;
  for (;;) {
    // Recomputed after every step: what a step records (a withdrawal) can change what follows.
    const done: readonly string[] = operation.completedSteps;
    const step: Step | undefined = stepsFor(operation, ctx.settings).find((s) => !done.includes(s.name));
    if (!step) break;
    if (instance.currentOperationId !== operation.operationId) {
      logger.info('operation superseded; halting', { current: instance.currentOperationId });
      const cancelled = await ctx.store.updateOperation(ref.instanceId, operation.operationId, {
        state: 'failed',
        description: `${operation.type} cancelled before ${step.describe}`,
        expiresAt: nowSeconds() + OPERATION_TTL_SECONDS,
      });
      if (cancelled) metrics(ctx).count(BROKER_METRICS.operationsFailed);
      return ACK;
    }
    // A redelivered message that made progress hands over to a fresh message, so that the
    // delivery count (and so the DLQ limit) counts failures of one step, not of the whole run.
    if (progressed && receiveCount > 1) {
      await ctx.queue.enqueue(ref);
      return ACK;
    }
    if (ctx.stopping?.()) return { kind: 'retry', delaySeconds: 0 };
    const started = Date.now();
    // One write marks the step (what last_operation shows) and the lease on it.
    // Back in a step it was waiting in: keep showing the progress it reported.
    const described: string = operation.step === step.name && operation.attempts === 0 ? operation.description : `${operation.type}: ${step.describe}`;
    const guard = { completedCount: done.length };
    const claim = { step: step.name, description: described, busyUntil: started + ctx.options.leaseSeconds * 1000 };
    if (!(await ctx.store.updateOperation(ref.instanceId, operation.operationId, claim, { ...guard, freeAt: started }))) {
      // Finished, or another worker holds this step or has moved past it: it goes on with its own message.
      logger.info('step claimed by another worker (or the operation moved on); dropping this message', { step: step.name });
      return ACK;
    }
    operation = { ...operation, step: step.name, description: described };
    const stepContext: StepContext = {
      settings: ctx.settings,
      store: ctx.store,
      cloud: ctx.cloud,
      logger,
      waitSeconds: ctx.options.waitSeconds,
      operation,
      instance,
    };
    let result: StepResult;
    try {
      result = await step.run(stepContext).catch(async (err: unknown) => {
        await ctx.store.setOperationLease(ref.instanceId, operation!.operationId, 0);
        throw err;
      });
      if (!result.done) {
        logger.info('waiting', { step: step.name, for: result.waitingFor, seconds: result.waitSeconds });
        const stillRunning = await ctx.store.updateOperation(ref.instanceId, operation.operationId, {
          ...result.record,
          description: `${operation.type}: ${result.progress ?? `${step.describe}: waiting for ${result.waitingFor}`}`,
          attempts: 0,
          busyUntil: 0,
        }, guard);
        if (!stillRunning) {
          // Cancelled meanwhile: just leave the step, so a waiting deprovision can go on.
          await ctx.store.setOperationLease(ref.instanceId, operation.operationId, 0);
          return ACK;
        }
        await ctx.queue.enqueue(ref, result.waitSeconds);
        return ACK;
      }
    } catch (err) {
      return handleStepError(ctx, operation, step.name, step.describe, err, receiveCount, logger);
    }
    const completedSteps: string[] = [...operation.completedSteps, step.name];
    if (!(await ctx.store.updateOperation(ref.instanceId, operation.operationId, { ...result.record, completedSteps, attempts: 0, busyUntil: 0 }, guard))) {
      await ctx.store.setOperationLease(ref.instanceId, operation.operationId, 0);
      return ACK;
    }
    operation = { ...operation, ...result.record, completedSteps, attempts: 0 };
    logger.info('step done', { step: step.name, ms: Date.now() - started });
    progressed = true;
    instance = (await ctx.store.getInstance(ref.instanceId)) ?? instance;
  }
  if (operation.withdrawal) await failWithdrawn(ctx, operation, logger);
  else await succeed(ctx, operation, instance, logger);
  return ACK;
}

async function handleStepError(
  ctx: WorkerContext,
  operation: OperationRecord,
  stepName: string,
  stepDescription: string,
  err: unknown,
  receiveCount: number,
  logger: Logger,
): Promise<Settlement> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PermanentError) {
    logger.warn('step failed permanently', { step: stepName, reason: message });
    await failOperation(ctx, operation, `${operation.type} failed while ${stepDescription}: ${message}`, logger);
    return ACK;
  }
  if (receiveCount >= ctx.options.maxAttempts) {
    logger.error('step failed; giving up', { step: stepName, attempt: receiveCount, error: err as Error });
    await failOperation(ctx, operation, `${operation.type} failed while ${stepDescription}: gave up after ${receiveCount} attempts: ${message}`, logger);
    return { kind: 'dead' };
  }
  const delaySeconds = ctx.options.backoffSeconds(receiveCount);
  logger.warn('step failed; will retry', { step: stepName, attempt: receiveCount, delaySeconds, error: err as Error });
  metrics(ctx).count(BROKER_METRICS.stepRetries);
  await ctx.store.updateOperation(operation.instanceId, operation.operationId, {
    attempts: receiveCount,
    description: `${operation.type}: ${stepDescription}: attempt ${receiveCount} of ${ctx.options.maxAttempts} failed (${message}); retrying in ${delaySeconds}s`,
  });
  return { kind: 'retry', delaySeconds };
}

function summary(operation: OperationRecord, instance: InstanceRecord, settings: BrokerSettings): string {
  if (operation.type === 'deprovision') {
    // Only the cdn plan has CloudFront resources (a move to standard already removed them).
    const cdn = instance.plan === 'cdn' ? 'the CloudFront distribution and its certificate, ' : '';
    return `deprovisioned: the DNS records, ${cdn}the route and the hostname claims are removed`;
  }
  const t = operation.target ?? instance;
  const regions = t.parameters.regions?.length ? t.parameters.regions.length : settings.regions.length;
  const verb = operation.type === 'provision' ? 'provisioned' : 'updated';
  // What the edge did is the gate's summary (judgeConvergence), which names the regions with no proxies.
  const edge = operation.edgeSummary ? `; ${operation.edgeSummary}` : '';
  return `${verb}: ${t.parameters.hostnames.join(', ')} on the ${t.plan} plan for ${regions} ${regions === 1 ? 'region' : 'regions'}${edge}`;
}

async function succeed(ctx: WorkerContext, operation: OperationRecord, instance: InstanceRecord, logger: Logger): Promise<void> {
  const finished = { ...operation, state: 'succeeded' as const, description: summary(operation, instance, ctx.settings) };
  if (!(await ctx.store.updateOperation(operation.instanceId, operation.operationId, { state: 'succeeded', description: finished.description, step: 'done', expiresAt: nowSeconds() + OPERATION_TTL_SECONDS }))) return;
  metrics(ctx).count(BROKER_METRICS.operationsSucceeded);
  await finishInstance(ctx, finished);
  logger.info('operation succeeded', { type: operation.type });
}

async function failOperation(ctx: WorkerContext, operation: OperationRecord, reason: string, logger: Logger): Promise<void> {
  const completed = operation.completedSteps.length ? ` Completed steps: ${operation.completedSteps.join(', ')}.` : '';
  let description = reason;
  let fields: Partial<OperationRecord> = {};
  if (operation.type === 'provision') {
    description = `${reason}.${completed} Deprovision the instance to remove what was created.`;
    // A failed instance holds no names: release what this operation claimed.
    for (const hostname of operation.target?.parameters.hostnames ?? []) {
      if (!operation.completedSteps.includes('write-route')) await ctx.store.releaseHostname(hostname, operation.instanceId);
    }
  } else if (operation.type === 'update') {
    const routeWritten = operation.completedSteps.includes('write-route');
    description = `${reason}.${completed} ${routeWritten ? 'The edge already serves the new route; the instance keeps its previous parameters on record.' : 'The instance keeps serving its previous configuration.'} The update can be repeated.`;
    fields = { instanceUsable: true, updateRepeatable: true };
    if (!routeWritten) {
      const keep = new Set(operation.previous?.parameters.hostnames ?? []);
      for (const hostname of operation.target?.parameters.hostnames ?? []) {
        if (!keep.has(hostname)) await ctx.store.releaseHostname(hostname, operation.instanceId);
      }
    }
  } else {
    description = `${reason}.${completed} Repeat the deprovision to finish the cleanup.`;
    fields = { instanceUsable: false };
  }
  const failed = { ...operation, ...fields, state: 'failed' as const, description };
  if (await ctx.store.updateOperation(operation.instanceId, operation.operationId, { ...fields, state: 'failed', description, expiresAt: nowSeconds() + OPERATION_TTL_SECONDS })) {
    metrics(ctx).count(BROKER_METRICS.operationsFailed);
  }
  await finishInstance(ctx, failed);
  logger.warn('operation failed', { type: operation.type, reason: description });
}

/**
 * The gate failed a provision or update and the withdraw steps have undone it: the
 * operation fails with the gate's reason and says what the edge serves now.
 */
async function failWithdrawn(ctx: WorkerContext, operation: OperationRecord, logger: Logger): Promise<void> {
  const reason = operation.withdrawal?.reason ?? 'the edge did not take the change';
  const generation = operation.withdrawnGeneration === undefined ? '' : ` (generation ${operation.withdrawnGeneration})`;
  let description: string;
  let fields: Partial<OperationRecord> = {};
  if (operation.type === 'provision') {
    const cdn = operation.target?.plan === 'cdn' ? ' Deprovision the instance to remove its CloudFront distribution and certificate.' : ' Deprovision the instance, then provision it again once the cause is fixed.';
    description = `provision failed: ${reason}. The change was withdrawn: the route is removed from the edge${generation}, its DNS records are deleted and its hostnames released.${cdn}`;
  } else {
    description = `update failed: ${reason}. The change was withdrawn: the edge returns to the previous configuration${generation}, and the instance keeps its previous parameters. The update can be repeated once the cause is fixed.`;
    fields = { instanceUsable: true, updateRepeatable: true };
  }
  if (await ctx.store.updateOperation(operation.instanceId, operation.operationId, { ...fields, state: 'failed', description, expiresAt: nowSeconds() + OPERATION_TTL_SECONDS })) {
    metrics(ctx).count(BROKER_METRICS.operationsFailed);
    if (operation.withdrawal?.cause === 'rejected') metrics(ctx).count(BROKER_METRICS.changesRejectedByProxies);
  }
  await finishInstance(ctx, { ...operation, ...fields, state: 'failed', description });
  logger.warn('operation failed; change withdrawn', { type: operation.type, cause: operation.withdrawal?.cause, reason });
}

/** Applies a finished operation to its instance (idempotent: only while it is the current one). */
async function finishInstance(ctx: WorkerContext, operation: OperationRecord): Promise<void> {
  const { instanceId, operationId } = operation;
  const lastOutcome = outcomeOf(operation);
  if (operation.state === 'succeeded') {
    if (operation.type === 'deprovision') {
      await ctx.store.deleteBindings(instanceId);
      await ctx.store.finishInstanceOperation(instanceId, operationId, { state: 'deleted', lastOutcome });
    } else if (operation.target) {
      await ctx.store.finishInstanceOperation(instanceId, operationId, { state: 'provisioned', ...operation.target, lastOutcome });
    }
  } else if (operation.type === 'provision') {
    await ctx.store.finishInstanceOperation(instanceId, operationId, { state: 'failed', lastOutcome });
  } else {
    await ctx.store.finishInstanceOperation(instanceId, operationId, { lastOutcome });
  }
}

function outcomeOf(operation: OperationRecord): OperationOutcome {
  return {
    operationId: operation.operationId,
    type: operation.type,
    state: operation.state === 'succeeded' ? 'succeeded' : 'failed',
    description: operation.description,
    ...(operation.instanceUsable === undefined ? {} : { instanceUsable: operation.instanceUsable }),
    ...(operation.updateRepeatable === undefined ? {} : { updateRepeatable: operation.updateRepeatable }),
  };
}
