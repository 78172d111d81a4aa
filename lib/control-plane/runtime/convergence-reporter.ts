import { hostname } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConvergenceReport, RejectedChange, TTL_ATTRIBUTE, convergenceKey } from '../../model';
import { ControlPlane } from './control-plane';

/**
 * Writes this task's convergence report (lib/model/convergence.ts) to the table every few
 * seconds, so the broker's worker can tell when a change reached the proxies of a region.
 *
 * A node holds generation G when it has ACKed every type at the versions of a snapshot
 * rendered from a context whose route generation was G (an unchanged render also moves
 * current nodes forward: what they hold already reflects G). Rejections: instances left
 * out or held back by validation (`validation`), and, for nodes whose newest response was
 * NACKed, the instances changed since the generation they hold (`nack`, with the node's
 * error_detail).
 */
export class ConvergenceReporter {
  private readonly doc: DynamoDBDocumentClient;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private lastError?: string;

  constructor(
    private readonly cp: ControlPlane,
    client: DynamoDBClient,
    private readonly tableName: string,
    readonly taskId: string = process.env.EDGE_TASK_ID ?? `${hostname()}-${process.pid}`,
    private readonly intervalMs = 5000,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  start(): void {
    const tick = () => {
      this.writing = this.write()
        .then(() => {
          this.lastError = undefined;
        })
        .catch((err: Error) => {
          // Logged once per distinct error, not every few seconds.
          if (err.message !== this.lastError) this.cp.logger.log('warn', 'could not write the convergence report', { error: err.message });
          this.lastError = err.message;
        })
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = undefined;
    clearTimeout(timer);
    await this.writing;
  }

  /** The report as of now. */
  report(): ConvergenceReport {
    const held = new Map<number, number>();
    const rejected: Record<string, RejectedChange> = {};
    const context = this.cp.currentContext();
    let connected = 0;
    for (const session of this.cp.sessions) {
      const record = session.record;
      if (record.protocol === 'rest') continue;
      connected++;
      const profile = this.cp.profiles.get(record.profile);
      if (this.cp.isCurrent(record) && profile?.snapshot) record.heldGeneration = profile.snapshot.generation;
      const generation = record.heldGeneration ?? 0;
      held.set(generation, (held.get(generation) ?? 0) + 1);
      const nack = record.lastNack;
      if (nack && profile?.snapshot && nack.version === profile.snapshot.types[nack.kind].version && context) {
        for (const route of context.routes) {
          if (route.generation <= generation) continue;
          const prior = rejected[route.instanceId];
          rejected[route.instanceId] = { generation: route.generation, source: 'nack', reason: nack.message, nodes: (prior?.nodes ?? 0) + 1 };
        }
      }
    }
    for (const profile of this.cp.profiles.values()) {
      for (const ex of profile.snapshot?.excluded ?? []) {
        const first = ex.problems[0];
        rejected[ex.instanceId] = {
          generation: ex.generation,
          source: 'validation',
          reason: first ? `${first.resource} ${first.field}: ${first.message} (template ${first.template})` : 'invalid',
          nodes: 0,
        };
      }
    }
    const stable = Math.min(...[...this.cp.profiles.values()].map((p) => p.snapshot?.generation ?? 0), Number.MAX_SAFE_INTEGER);
    return {
      region: this.cp.region,
      taskId: this.taskId,
      reportedAt: new Date().toISOString(),
      stableGeneration: stable === Number.MAX_SAFE_INTEGER ? this.cp.contextGeneration() : stable,
      connectedNodes: connected,
      ackedGenerations: [...held.entries()].sort((a, b) => a[0] - b[0]),
      rejected,
    };
  }

  private async write(): Promise<void> {
    if (!this.cp.ready()) return;
    const report = this.report();
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...convergenceKey(report.region, report.taskId), kind: 'convergence', ...report, [TTL_ATTRIBUTE]: Math.floor(Date.now() / 1000) + 86400 },
      }),
    );
  }
}
