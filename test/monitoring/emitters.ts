/**
 * The platform's own metric emitters, run for real, and what they emit: the broker's worker
 * and sweeper (Embedded Metric Format through Powertools, on the local broker over the
 * emulators), the control plane's EMF publisher (on a running local control plane), and the
 * fleet's access-log metric filters (their patterns applied to the access-log lines Envoy
 * writes with the edge listeners' json_format). The monitoring tests compare every custom
 * metric an alarm or a dashboard names with these.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { publishControlPlaneMetrics } from '../../lib/control-plane/runtime/emf';
import { edgeListeners } from '../../lib/control-plane/runtime/templates/edge-listeners';
import { NodeInfo } from '../../lib/control-plane/runtime/templates/types';
import { LocalCloud } from '../../lib/broker/runtime/cloud/local';
import { DnsRecord } from '../../lib/broker/runtime/cloud/types';
import { PermanentError } from '../../lib/broker/runtime/worker/steps';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { LocalBroker, brokerFixture, osbClient, provisionBody, waitForOperation } from '../broker/support';
import { SimEnvoy, startTable, startTestControlPlane, waitFor } from '../control-plane/support';
import { matchesFilter } from './aws/filter-pattern';
import { envoyNode, renderSettings } from '../support/fixtures';

/** One metric as CloudWatch would store it: namespace, name, and its dimensions with their values. */
export interface EmittedMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

export const metricKey = (m: EmittedMetric) =>
  `${m.namespace} ${m.name} {${Object.entries(m.dimensions)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}}`;

interface EmfDirective {
  Namespace: string;
  Dimensions: string[][];
  Metrics: Array<{ Name: string }>;
}

/** The metrics CloudWatch Logs extracts from EMF lines (every dimension set of every directive, as the EMF specification says). */
export function metricsOfEmf(lines: readonly string[]): EmittedMetric[] {
  const out: EmittedMetric[] = [];
  for (const line of lines) {
    const doc = JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: EmfDirective[] } };
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        for (const metric of directive.Metrics) {
          out.push({ namespace: directive.Namespace, name: metric.Name, dimensions: Object.fromEntries(set.map((k) => [k, String(doc[k])])) });
        }
      }
    }
  }
  return out;
}

/** Fails the first `failures` Route 53 writes (a retryable error), then works; refuses `refused.*` names for good. */
export class FlakyCloud extends LocalCloud {
  constructor(private failures: number) {
    super({});
  }
  override async upsertRecords(records: readonly DnsRecord[]): Promise<void> {
    if (records.some((r) => r.name.startsWith('refused.'))) throw new PermanentError('the record is refused (injected)');
    if (this.failures > 0) {
      this.failures--;
      throw new Error('Route 53 throttled (injected)');
    }
    return super.upsertRecords(records);
  }
}

const ASYNC = '?accepts_incomplete=true';

async function writeReport(b: LocalBroker, report: ConvergenceReport): Promise<void> {
  await b.store.doc.send(new PutCommand({ TableName: b.store.tableName, Item: { ...convergenceKey(report.region, report.taskId), kind: 'convergence', ...report } }));
}

/**
 * The worker through every outcome it counts: a success after one retried DNS write, a success,
 * a permanent failure, and a change the proxies of eu-west-1 reject (withdrawn, then failed).
 * Returns the local broker's EMF lines once the last failure is flushed.
 */
export async function runWorkerScenario(fixture: ReturnType<typeof brokerFixture>): Promise<{ lines: string[]; broker: LocalBroker }> {
  const lines: string[] = [];
  const b = await fixture.start({ cloud: new FlakyCloud(1), metrics: (line) => lines.push(line), convergence: { pollSeconds: 0.05 } });
  const call = osbClient(b.url);
  await writeReport(b, {
    region: 'eu-west-1',
    taskId: 'task-a',
    reportedAt: new Date().toISOString(),
    stableGeneration: 0,
    connectedNodes: 3,
    ackedGenerations: [[0, 3]],
    rejected: { bad: { generation: 1_000_000, source: 'nack', reason: 'port 0 out of range', nodes: 3 } },
  });
  const put = async (id: string, hostname: string, regions: string[]) => {
    const reply = await call('PUT', `/v2/service_instances/${id}${ASYNC}`, { body: provisionBody([hostname], { regions }) });
    if (reply.status !== 202) throw new Error(`provision ${id}: ${reply.status}`);
    return (await waitForOperation(call, id, reply.body.operation)).body.state as string;
  };
  const states = [
    await put('flaky', 'flaky.edge.example.com', ['us-east-1']),
    await put('ok', 'ok.edge.example.com', ['us-east-1']),
    await put('refused', 'refused.edge.example.com', ['us-east-1']),
    await put('bad', 'bad.edge.example.com', ['eu-west-1']),
  ];
  if (states.join() !== 'succeeded,succeeded,failed,failed') throw new Error(`worker scenario ended ${states.join()}`);
  // last_operation shows the end as soon as it is written; the worker flushes a moment later.
  await waitFor('both failures to be flushed', () => lines.reduce((n, l) => n + ((JSON.parse(l) as Record<string, number>).OperationsFailed ?? 0), 0) >= 2 || undefined);
  return { lines, broker: b };
}

/** The broker's metrics: the worker scenario, then one sweep. */
export async function brokerEmits(fixture: ReturnType<typeof brokerFixture>): Promise<EmittedMetric[]> {
  const { lines, broker } = await runWorkerScenario(fixture);
  await broker.sweep();
  return metricsOfEmf(lines);
}

/** The control plane's metrics: a running local control plane (the AWS runtime's sources) with a connected node, one flush. */
export async function controlPlaneEmits(): Promise<EmittedMetric[]> {
  const table = await startTable();
  const cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { canary: { fraction: 0 } });
  const node = new SimEnvoy(cp.xdsPort, 'emitter-node');
  try {
    const controlPlane = cp.running.controlPlane;
    await waitFor('the sources and a node', () => (controlPlane.sourceStatuses().every((s) => s.ok) && controlPlane.sessions.size === 1) || undefined);
    const lines: string[] = [];
    const publisher = publishControlPlaneMetrics(controlPlane, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 3600_000 });
    publisher.flush();
    publisher.stop();
    return metricsOfEmf(lines);
  } finally {
    node.close();
    await cp.stop();
    await table.stop();
  }
}

/** The edge listeners' access-log json_format, rendered as the control plane renders it for an Envoy node. */
export function accessLogFormats(): Array<Record<string, string>> {
  const settings = renderSettings({ accessLogPath: '/var/log/envoy/access.log' });
  const node: NodeInfo = envoyNode();
  const found: Array<Record<string, string>> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        if (key === 'json_format') found.push(v as Record<string, string>);
        else walk(v);
      }
    }
  };
  walk(edgeListeners.render({ context: { settings, routes: [] }, node, warn: () => undefined }));
  return found;
}

/**
 * An access-log line as Envoy writes it with a json_format: command operators that produce
 * numbers (%RESPONSE_CODE%, %DURATION%, %BYTES_*%) are written as JSON numbers, the rest as
 * strings (Envoy docs, "Format dictionaries": values are rendered as the types they are).
 */
export function accessLogLine(format: Record<string, string>, status: number): string {
  const numeric: Record<string, number> = { '%RESPONSE_CODE%': status, '%DURATION%': 12, '%BYTES_RECEIVED%': 0, '%BYTES_SENT%': 512 };
  return JSON.stringify(Object.fromEntries(Object.entries(format).map(([k, v]) => [k, v in numeric ? numeric[v] : `${k}-value`])));
}

export interface MetricFilterDefinition {
  readonly pattern: string;
  readonly transformations: ReadonlyArray<{ readonly namespace: string; readonly name: string; readonly value: string; readonly defaultValue?: number; readonly dimensions?: Readonly<Record<string, string>> }>;
}

/** What each metric filter extracts from the lines of every edge listener's access log (statuses 200, 404, 503). */
export function accessLogEmits(filters: readonly MetricFilterDefinition[]): { metrics: EmittedMetric[]; matches: Array<{ name: string; statuses: number[] }> } {
  const statuses = [200, 404, 503];
  const lines = accessLogFormats().flatMap((format) => statuses.map((status) => ({ status, line: accessLogLine(format, status) })));
  const metrics: EmittedMetric[] = [];
  const matches: Array<{ name: string; statuses: number[] }> = [];
  for (const filter of filters) {
    const matched = lines.filter((l) => matchesFilter(filter.pattern, l.line)).map((l) => l.status);
    for (const t of filter.transformations) {
      matches.push({ name: t.name, statuses: [...new Set(matched)] });
      if (matched.length > 0 || t.defaultValue !== undefined) metrics.push({ namespace: t.namespace, name: t.name, dimensions: t.dimensions ?? {} });
    }
  }
  return { metrics, matches };
}
