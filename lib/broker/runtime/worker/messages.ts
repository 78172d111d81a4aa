import { BROKER_METRICS } from '../../../model';
import { parseOperationMessage } from '../queue';
import { Settlement, WorkerContext, workOnOperation } from './worker';

/**
 * One queue message, whatever delivers it (the Lambda event source or the local loop):
 * parse the operation reference and work on it. A fault outside the steps (the table
 * unreachable, say) is retried like a failed step.
 */
export async function settleMessage(ctx: WorkerContext, body: string, receiveCount: number): Promise<Settlement> {
  const ref = parseOperationMessage(body);
  if (!ref) {
    ctx.logger.error('not an operation message; dropping it', { body: body.slice(0, 200) });
    return { kind: 'ack' };
  }
  try {
    return await workOnOperation(ctx, ref, receiveCount);
  } catch (err) {
    ctx.logger.error('worker fault', { operationId: ref.operationId, instanceId: ref.instanceId, attempt: receiveCount, error: err as Error });
    if (receiveCount >= ctx.options.maxAttempts) return { kind: 'dead' };
    // Retried like a failed step, so counted like one.
    ctx.metrics?.count(BROKER_METRICS.stepRetries);
    return { kind: 'retry', delaySeconds: ctx.options.backoffSeconds(receiveCount) };
  }
}
