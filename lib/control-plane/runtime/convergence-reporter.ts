import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CONVERGENCE_PARTITION, CONVERGENCE_REPORT_TTL_SECONDS, ConvergenceReport, RejectedChange, TTL_ATTRIBUTE, convergenceKey } from '../../model';
import { ControlPlane, RegionRollout } from './control-plane';

export interface ReporterTimings {
  /** Least time between two writes when the report changes (default 1000 ms; 200 ms locally). */
  readonly debounceMs: number;
  /** A write at least this often even when nothing changed, so the report stays fresh (default 10 s). */
  readonly heartbeatMs: number;
}

export const DEFAULT_REPORTER_TIMINGS: ReporterTimings = { debounceMs: 1000, heartbeatMs: 10_000 };

/**
 * This task's id in AWS: the ECS task id (last part of the task ARN from the task metadata
 * endpoint v4); elsewhere (or if the endpoint does not answer) the host name plus a random suffix.
 */
export async function resolveTaskId(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.EDGE_TASK_ID) return env.EDGE_TASK_ID;
  const metadata = env.ECS_CONTAINER_METADATA_URI_V4;
  if (metadata) {
    try {
      const response = await fetch(`${metadata}/task`, { signal: AbortSignal.timeout(2000) });
      const task = (await response.json()) as { TaskARN?: string };
      const id = task.TaskARN?.split('/').pop();
      if (id) return id;
    } catch {
      // Fall through to a local id; the report still works, only its key is less telling.
    }
  }
  return `${hostname()}-${randomUUID().slice(0, 8)}`;
}

/**
 * Writes this task's convergence report (lib/model/convergence.ts) to the table whenever it
 * changes (at most once per `debounceMs`) and every `heartbeatMs`, so the broker's worker
 * can tell when a change reached the proxies of a region; deletes it at stop.
 *
 * - A node holds generation G once it ACKed every type it subscribes at the versions of the
 *   stable (promoted) snapshot rendered from a context of generation G. A canary that holds
 *   only the candidate still counts at its older generation until the candidate is promoted.
 * - Rejections: instances left out or held back by validation (`validation`), and the changes
 *   the proxies NACKed or whose canaries dropped (`nack`, `canary-health`; ControlPlane.rejections).
 *   Both are recorded in the same synchronous step that quarantines the change, before any
 *   re-render, and each report is built from one consistent state and written in order, so a
 *   rejection is never in a later report than one counting nodes past the rejected change.
 */
export class ConvergenceReporter {
  private readonly doc: DynamoDBDocumentClient;
  private heartbeat?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private lastWriteAt = 0;
  private writing?: Promise<void>;
  private dirty = false;
  private stopped = true;
  private unsubscribe?: () => void;
  private lastError?: string;
  /** Writes done (tests, /status). */
  writes = 0;

  constructor(
    private readonly cp: ControlPlane,
    client: DynamoDBClient,
    private readonly tableName: string,
    readonly taskId: string,
    private readonly timings: ReporterTimings = DEFAULT_REPORTER_TIMINGS,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.cp.onChange(() => this.schedule());
    const beat = () => {
      this.schedule();
      this.heartbeat = setTimeout(beat, this.timings.heartbeatMs);
    };
    beat();
    const poll = () => {
      void this.readRegion().finally(() => {
        if (!this.stopped) this.regionPoll = setTimeout(poll, this.timings.debounceMs);
      });
    };
    poll();
  }

  private regionPoll?: NodeJS.Timeout;

  /**
   * Reads the region's fresh reports and tells the control plane its part in the region's
   * rollouts: the leader is the lowest task id among the tasks with nodes (this one as it is
   * now, the others as last reported); with no other task, this one decides alone.
   */
  private async readRegion(): Promise<void> {
    if (this.stopped || !this.cp.ready()) return;
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
          ExpressionAttributeValues: { ':pk': CONVERGENCE_PARTITION, ':sk': `REGION#${this.cp.region}#TASK#` },
        }),
      );
      if (this.stopped) return;
      const fresh = Date.now() - CONVERGENCE_REPORT_TTL_SECONDS * 1000;
      const others = ((out.Items ?? []) as ConvergenceReport[]).filter((r) => r.taskId !== this.taskId && Date.parse(r.reportedAt) >= fresh);
      const own = this.report();
      const candidates = [own, ...others].filter((r) => r.connectedNodes > 0).sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
      const leader = candidates[0] ?? own;
      const view: RegionRollout = {
        leader: leader.taskId === this.taskId,
        leaderTaskId: leader.taskId,
        leaderStable: leader.stableGeneration,
        leaderRejected: leader.rejected ?? {},
        regionNodes: [own, ...others].reduce((n, r) => n + (r.connectedNodes ?? 0), 0),
      };
      this.cp.followRegion(view);
    } catch (err) {
      if ((err as Error).message !== this.lastError) this.cp.logger.log('warn', "could not read the region's convergence reports", { error: (err as Error).message });
      this.lastError = (err as Error).message;
    }
  }

  /** Stops writing and deletes the report (it would go stale within CONVERGENCE_REPORT_TTL_SECONDS anyway). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.heartbeat);
    clearTimeout(this.debounce);
    clearTimeout(this.regionPoll);
    await this.writing;
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: convergenceKey(this.cp.region, this.taskId) }));
    } catch (err) {
      this.cp.logger.log('warn', 'could not delete the convergence report; it goes stale on its own', { error: (err as Error).message });
    }
  }

  /** Asks for a write: now if the last one is older than the debounce, else when it is. */
  private schedule(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.debounce || this.writing) return;
    const wait = Math.max(0, this.lastWriteAt + this.timings.debounceMs - Date.now());
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (this.stopped || !this.dirty) return;
    if (!this.cp.ready()) return;
    this.dirty = false;
    this.lastWriteAt = Date.now();
    this.writing = this.write(this.report())
      .then(() => {
        this.writes++;
        this.lastError = undefined;
      })
      .catch((err: Error) => {
        // Logged once per distinct error, not on every write.
        if (err.message !== this.lastError) this.cp.logger.log('warn', 'could not write the convergence report', { error: err.message });
        this.lastError = err.message;
        this.dirty = true;
      })
      .finally(() => {
        this.writing = undefined;
        if (this.dirty) this.schedule();
      });
  }

  /** The report as of now, from one consistent view of the control plane. */
  report(): ConvergenceReport {
    const held = new Map<number, number>();
    let connected = 0;
    for (const session of this.cp.sessions) {
      const record = session.record;
      if (record.protocol === 'rest') continue;
      connected++;
      const generation = this.cp.heldGeneration(record) ?? 0;
      held.set(generation, (held.get(generation) ?? 0) + 1);
    }
    const rejected: Record<string, RejectedChange> = {};
    const keep = (instanceId: string, change: RejectedChange) => {
      const prior = rejected[instanceId];
      if (!prior || prior.generation <= change.generation) rejected[instanceId] = change;
    };
    for (const profile of this.cp.profiles.values()) {
      for (const snapshot of [profile.stable, profile.snapshot]) {
        for (const ex of snapshot?.excluded ?? []) {
          const first = ex.problems[0];
          const reason = first ? `${first.resource} ${first.field}: ${first.message} (template ${first.template})` : 'invalid';
          keep(ex.instanceId, { generation: ex.generation, source: 'validation', reason, nodes: 0 });
        }
      }
    }
    for (const [instanceId, change] of this.cp.rejections) keep(instanceId, change);
    const stables = [...this.cp.profiles.values()].map((p) => this.cp.stableSnapshot(p)?.generation).filter((g): g is number => g !== undefined);
    return {
      region: this.cp.region,
      taskId: this.taskId,
      reportedAt: new Date().toISOString(),
      stableGeneration: stables.length > 0 ? Math.min(...stables) : this.cp.contextGeneration(),
      connectedNodes: connected,
      ackedGenerations: [...held.entries()].sort((a, b) => a[0] - b[0]),
      canary: this.cp.canary(),
      rejected,
      pinned: this.pinned(),
      rollout: this.cp.regionRole(),
    };
  }

  /** The operator pin the primary (routes) source obeys, if any. */
  private pinned(): ConvergenceReport['pinned'] {
    const pin = this.cp.pinned();
    return pin ? { reason: pin.reason, since: pin.since } : undefined;
  }

  private async write(report: ConvergenceReport): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...convergenceKey(report.region, report.taskId), kind: 'convergence', ...report, [TTL_ATTRIBUTE]: Math.floor(Date.now() / 1000) + 86400 },
      }),
    );
  }
}
