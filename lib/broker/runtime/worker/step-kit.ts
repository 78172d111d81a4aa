import type { Logger } from '@aws-lambda-powertools/logger';
import { RouteDocument } from '../../../model';
import { EdgeCloud } from '../cloud/types';
import { BrokerSettings } from '../settings';
import { BrokerStore } from '../store/store';
import { InstanceConfig, InstanceRecord, OperationRecord } from '../store/types';

/** What every worker step is made of (steps.ts and custom-domains.ts). */

/** A failure no retry can fix (a taken hostname, invalid parameters): the operation fails now. */
export class PermanentError extends Error {}

export interface StepContext {
  readonly settings: BrokerSettings;
  readonly store: BrokerStore;
  readonly cloud: EdgeCloud;
  readonly logger: Logger;
  /** Seconds between polls while waiting on ACM or CloudFront. */
  readonly waitSeconds: number;
  readonly operation: OperationRecord;
  /** Re-read before every step. */
  readonly instance: InstanceRecord;
}

/**
 * A step is done, or must be polled again later (e.g. a distribution still deploying).
 * `record`: fields the worker writes on the operation with the outcome (in the same write
 * that marks the step completed, so a crash never separates them).
 */
export type StepResult =
  | { readonly done: true; readonly record?: Partial<OperationRecord> }
  | {
      readonly done: false;
      readonly waitSeconds: number;
      readonly waitingFor: string;
      /** What last_operation shows while waiting (default: the step and what it waits for). */
      readonly progress?: string;
      readonly record?: Partial<OperationRecord>;
    };

export interface Step {
  readonly name: string;
  /** Whether the step has anything to do for this operation (skipped steps cost nothing). */
  readonly appliesTo?: (operation: OperationRecord, settings: BrokerSettings) => boolean;
  /** What last_operation says while this step runs. */
  readonly describe: string;
  run(ctx: StepContext): Promise<StepResult>;
}

export const DONE: StepResult = { done: true };
export const wait = (ctx: StepContext, waitingFor: string): StepResult => ({ done: false, waitSeconds: ctx.waitSeconds, waitingFor });

export function target(ctx: StepContext): InstanceConfig {
  if (!ctx.operation.target) throw new PermanentError(`operation ${ctx.operation.operationId} has no target configuration`);
  return ctx.operation.target;
}

/** The route spec of a configuration: its parameters with `regions` resolved (never empty). */
export function routeSpec(config: InstanceConfig, settings: BrokerSettings): RouteDocument['spec'] {
  const regions = config.parameters.regions?.length ? config.parameters.regions : settings.regions;
  return { ...config.parameters, regions: [...regions] };
}

