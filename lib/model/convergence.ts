/**
 * What a regional control plane task reports about the proxies connected to it, so that
 * the broker's worker (home region) can tell when a change has reached the edge. Each
 * control plane task writes its own item (a region runs several tasks, each holding a
 * share of the proxies); the worker sums the fresh items of a region.
 *
 * | item                 | pk           | sk                               |
 * | -------------------- | ------------ | -------------------------------- |
 * | task's fleet report  | CONVERGENCE  | REGION#<region>#TASK#<taskId>    |
 */
export interface ConvergenceReport {
  readonly region: string;
  readonly taskId: string;
  /** ISO time of the report; reports older than `CONVERGENCE_REPORT_TTL_SECONDS` are ignored. */
  readonly reportedAt: string;
  /** Highest route generation in the snapshot every node of this task is offered. */
  readonly stableGeneration: number;
  /** Healthy nodes connected to this task. */
  readonly connectedNodes: number;
  /**
   * Connected nodes by the route generation of the newest snapshot they ACKed:
   * `[generation, nodes]` pairs. A node holding generation N holds every change <= N.
   */
  readonly ackedGenerations: readonly (readonly [number, number])[];
  /** The canary of a newer snapshot, while one is rolling out. */
  readonly canary?: CanaryState;
  /** Instances whose change this task's proxies (or its validation) rejected. */
  readonly rejected: Readonly<Record<string, RejectedChange>>;
  /** Set while an operator pins the region: the task serves its last good snapshot and takes no new generation. */
  readonly pinned?: { readonly reason: string; readonly since: string };
  /**
   * This task's part in the region's rollouts: one canary subset and one soak per region. The
   * leader (elected from the fresh reports: the lowest task id among the tasks with nodes)
   * canaries each change; followers promote up to the leader's `stableGeneration` and take
   * its rejections.
   */
  readonly rollout?: { readonly role: 'leader' | 'follower'; readonly leader: string };
}

/**
 * An operator's pin of a region (`npm run ops -- pin <region>`): the region's control planes
 * keep serving their last good snapshot and ignore new route generations until it is removed.
 * Stored under `keys.pin(region)` (lib/model/table.ts).
 */
export interface RegionPin {
  readonly region: string;
  readonly reason: string;
  /** ISO time the pin was set. */
  readonly since: string;
  /** Who set it (the operator's user name, as the CLI saw it). */
  readonly by?: string;
}

export const PIN_PARTITION = 'PIN';

/** A pin as read from its table item (`keys.pin(region)`, written by `npm run ops -- pin`). */
export function pinFromItem(item: Record<string, unknown>): RegionPin {
  return { region: String(item.region ?? ''), reason: String(item.reason ?? ''), since: String(item.since ?? ''), by: item.by as string | undefined };
}

export interface CanaryState {
  readonly generation: number;
  readonly nodes: number;
  readonly acked: number;
  readonly startedAt: string;
  readonly state: 'waiting-for-acks' | 'soaking' | 'promoted' | 'rolled-back';
  readonly reason?: string;
}

export interface RejectedChange {
  readonly generation: number;
  /** `validation`: the control plane refused to render it; `nack`: proxies NACKed it. */
  readonly source: 'validation' | 'nack' | 'canary-health';
  /** A person-readable reason, e.g. the proxies' error_detail. */
  readonly reason: string;
  readonly nodes: number;
}

export const CONVERGENCE_PARTITION = 'CONVERGENCE';
export const CONVERGENCE_REPORT_TTL_SECONDS = 30;

export const convergenceKey = (region: string, taskId: string) => ({
  pk: CONVERGENCE_PARTITION,
  sk: `REGION#${region}#TASK#${taskId}`,
});

/** The gate's verdict for one region. */
export interface RegionProgress {
  readonly region: string;
  readonly connected: number;
  readonly accepted: number;
  readonly rejection?: RejectedChange;
  /** Set when a fresh report says an operator pinned the region (it takes no new generation). */
  readonly pinned?: { readonly reason: string; readonly since: string };
}

/**
 * Sums a region's fresh task reports into how many connected proxies hold `generation`
 * (and whether any rejected the instance's change).
 */
export function regionProgress(
  region: string,
  reports: readonly ConvergenceReport[],
  instanceId: string,
  generation: number,
  now: Date = new Date(),
): RegionProgress {
  let connected = 0;
  let accepted = 0;
  let rejection: RejectedChange | undefined;
  let pinned: RegionProgress['pinned'];
  for (const report of reports) {
    if (report.region !== region) continue;
    if (now.getTime() - Date.parse(report.reportedAt) > CONVERGENCE_REPORT_TTL_SECONDS * 1000) continue;
    connected += report.connectedNodes;
    for (const [acked, nodes] of report.ackedGenerations) if (acked >= generation) accepted += nodes;
    const rejected = report.rejected[instanceId];
    if (rejected && rejected.generation >= generation) rejection = rejected;
    pinned ??= report.pinned;
  }
  return pinned ? { region, connected, accepted, rejection, pinned } : { region, connected, accepted, rejection };
}
