import type { Logger } from '@aws-lambda-powertools/logger';
import { BROKER_METRICS } from '../../../model';
import { BrokerMetrics, NO_METRICS } from '../metrics';
import { OperationQueue } from '../queue';
import { ConvergenceSettings, CustomDomainSettings, DEFAULT_CUSTOM_DOMAINS } from '../settings';
import { BrokerStore } from '../store/store';
import { OperationRecord } from '../store/types';

export interface SweepOptions {
  /**
   * An operation in progress that nobody has written for longer than this (no step
   * started, waited, retried or finished, and no sweep) may have lost its queue message.
   * Must exceed the longest silence of a healthy operation: the longest SQS delay (900 s)
   * and the queue's visibility timeout (a crashed worker's message comes back after it).
   */
  readonly staleAfterSeconds: number;
  /** Re-enqueues of one operation before the sweeper leaves it to the stuck alarm (a poison operation must not loop forever). */
  readonly maxSweeps: number;
}

/** In AWS: silent for 15 minutes (> the 900 s SQS delay cap and the 361 s visibility timeout), 3 re-enqueues at most. */
export const DEFAULT_SWEEP_OPTIONS: SweepOptions = { staleAfterSeconds: 900, maxSweeps: 3 };

/** Beyond the convergence timeout: what the other steps of a standard operation may take (DNS, claims, retries). */
export const STANDARD_ALLOWANCE_SECONDS = 30 * 60;
/** Beyond the convergence timeout: ACM DNS validation and CloudFront deploying or disabling a distribution. */
export const CDN_ALLOWANCE_SECONDS = 2 * 3600;

/**
 * When an operation in progress counts as stuck (epoch ms): its creation plus the
 * convergence gate's timeout plus what its other steps may take (CDN_ALLOWANCE_SECONDS
 * for a cdn-plan change and for any deprovision, which may have to disable a
 * distribution; STANDARD_ALLOWANCE_SECONDS otherwise). Every step's retries are bounded
 * (maxReceiveCount) and the gate's wait too, so a healthy operation ends before it. An
 * operation that waits for the owners of its custom domains may wait their limit on top.
 */
export function operationDeadline(operation: OperationRecord, convergence: ConvergenceSettings, customDomains: CustomDomainSettings = DEFAULT_CUSTOM_DOMAINS): number {
  const slow = operation.type === 'deprovision' || operation.target?.plan === 'cdn';
  const owners = operation.ownershipStartedAt !== undefined ? customDomains.ownershipTimeoutSeconds + CDN_ALLOWANCE_SECONDS : 0;
  return Date.parse(operation.createdAt) + (convergence.timeoutSeconds + (slow ? CDN_ALLOWANCE_SECONDS : STANDARD_ALLOWANCE_SECONDS) + owners) * 1000;
}

/** The last time anything wrote the operation: a worker (updatedAt) or a sweep (lastSweptAt). */
function lastActivity(operation: OperationRecord): number {
  return Math.max(Date.parse(operation.updatedAt), operation.lastSweptAt ? Date.parse(operation.lastSweptAt) : 0);
}

export interface SweepContext {
  readonly store: BrokerStore;
  readonly queue: OperationQueue;
  readonly convergence: ConvergenceSettings;
  /** Custom domains' limits (default: AWS's defaults, the 72 h ACM validation window). */
  readonly customDomains?: CustomDomainSettings;
  readonly logger: Logger;
  readonly metrics?: BrokerMetrics;
}

export interface SweepResult {
  /** Operations in progress the sweep looked at. */
  readonly inProgress: number;
  /** Past their deadline (the OperationsStuck gauge). */
  readonly stuck: readonly string[];
  /** Sent to the queue again (OperationsReenqueued). */
  readonly reenqueued: readonly string[];
}

/**
 * One sweep: every operation in progress whose message may be lost (silent past
 * `staleAfterSeconds`, no worker inside a step) goes to the queue again, which is safe
 * because the worker claims each step (a duplicate message runs nothing twice); every
 * operation past its deadline is counted as stuck. Records the two metrics; the caller
 * flushes them.
 */
export async function sweepOperations(ctx: SweepContext, options: SweepOptions = DEFAULT_SWEEP_OPTIONS, now = Date.now()): Promise<SweepResult> {
  const operations = await ctx.store.operationsInProgress();
  const stuck: string[] = [];
  const reenqueued: string[] = [];
  for (const operation of operations) {
    const ids = { operationId: operation.operationId, instanceId: operation.instanceId };
    const deadline = operationDeadline(operation, ctx.convergence, ctx.customDomains);
    if (now > deadline) {
      stuck.push(operation.operationId);
      ctx.logger.warn('operation stuck past its deadline', { ...ids, type: operation.type, step: operation.step, deadline: new Date(deadline).toISOString(), sweeps: operation.sweeps ?? 0 });
    }
    const silentMs = now - lastActivity(operation);
    const inStep = (operation.busyUntil ?? 0) > now;
    if (silentMs <= options.staleAfterSeconds * 1000 || inStep) continue;
    if ((operation.sweeps ?? 0) >= options.maxSweeps) {
      ctx.logger.warn('operation still silent after the last re-enqueue allowed; leaving it to the operators', { ...ids, sweeps: operation.sweeps });
      continue;
    }
    // Marked first, conditionally: of two sweeps (or a sweep racing the worker) only one sends.
    if (!(await ctx.store.markSwept(operation, now))) continue;
    try {
      await ctx.queue.enqueue(ids);
      reenqueued.push(operation.operationId);
      ctx.logger.info('re-enqueued a silent operation', { ...ids, step: operation.step, silentSeconds: Math.round(silentMs / 1000) });
    } catch (err) {
      // The mark stays: the next sweep after staleAfterSeconds tries again.
      ctx.logger.error('could not re-enqueue a silent operation', { ...ids, error: err as Error });
    }
  }
  const metrics = ctx.metrics ?? NO_METRICS;
  metrics.gauge(BROKER_METRICS.operationsStuck, stuck.length);
  metrics.count(BROKER_METRICS.operationsReenqueued, reenqueued.length);
  return { inProgress: operations.length, stuck, reenqueued };
}
