/**
 * The control plane's Embedded Metric Format publisher: every line is checked against the
 * EMF document structure (root object, `_aws.Timestamp` in ms, `CloudWatchMetrics`
 * directives, every dimension and metric a root member of the right type), and the values:
 * counters are deltas since the last flush, gauges are current values, one document per
 * context source for SourceStalenessSeconds. Then a real control plane with a NACKing node.
 */
import { CONTROL_PLANE_METRICS } from '../../lib/model';
import { ControlPlaneReadings, controlPlaneReadings, publishControlPlaneMetrics, startEmfPublisher } from '../../lib/control-plane/runtime/emf';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { Response, SimEnvoy, TYPE, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

type Doc = Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit?: string }> }> } };

/**
 * The rules of the EMF specification a document must meet for CloudWatch Logs to extract
 * its metrics: a JSON object with `_aws` {Timestamp: epoch ms, CloudWatchMetrics: directives};
 * each directive a non-empty Namespace, at most 30 dimensions per set, at most 100 metrics;
 * every referenced dimension a root string member and every metric a root number member.
 */
function validEmf(line: string): Doc {
  const doc = JSON.parse(line) as Doc;
  expect(typeof doc).toBe('object');
  expect(Object.keys(doc._aws).sort()).toEqual(['CloudWatchMetrics', 'Timestamp']);
  expect(Number.isInteger(doc._aws.Timestamp)).toBe(true);
  expect(Math.abs(doc._aws.Timestamp - Date.now())).toBeLessThan(3600_000);
  expect(doc._aws.CloudWatchMetrics.length).toBeGreaterThan(0);
  for (const directive of doc._aws.CloudWatchMetrics) {
    expect(directive.Namespace).toMatch(/^[^:].{0,255}$/);
    for (const set of directive.Dimensions) {
      expect(set.length).toBeLessThanOrEqual(30);
      for (const key of set) expect(typeof doc[key]).toBe('string');
    }
    expect(directive.Metrics.length).toBeGreaterThan(0);
    expect(directive.Metrics.length).toBeLessThanOrEqual(100);
    for (const metric of directive.Metrics) {
      expect(typeof metric.Name).toBe('string');
      expect(typeof doc[metric.Name]).toBe('number');
    }
  }
  return doc;
}

const directive = (doc: Doc) => doc._aws.CloudWatchMetrics[0];
const unitOf = (doc: Doc, name: string) => directive(doc).Metrics.find((m) => m.Name === name)?.Unit;

describe('the EMF publisher', () => {
  const T0 = Date.parse('2026-11-22T06:00:00.000Z');
  let now = T0;
  let readings: ControlPlaneReadings;
  const set = (fields: Partial<ControlPlaneReadings>) => (readings = { ...readings, ...fields });

  beforeEach(() => {
    now = T0;
    readings = {
      counters: { nacks: 5, renderFailures: 2, canaryRollbacks: 1, renderFaultsHeldBack: 0 },
      connectedNodes: 40,
      instancesExcluded: 3,
      sources: [
        { name: 'dynamodb-routes', lastSuccessAt: new Date(T0 - 1500).toISOString() },
        { name: 's3-context' }, // never refreshed
      ],
    };
  });

  test('one document of counters and gauges (dimension service), one per source (service and Source)', () => {
    const lines: string[] = [];
    const publisher = startEmfPublisher(() => readings, { platformName: 'acme', sink: (l) => lines.push(l), intervalMs: 3600_000, now: () => now });
    now = T0 + 60_000;
    set({ counters: { nacks: 8, renderFailures: 2, canaryRollbacks: 2, renderFaultsHeldBack: 1 }, connectedNodes: 38 });
    publisher.flush();
    publisher.stop();

    const docs = lines.map(validEmf);
    // flush(), then stop()'s last flush: three documents each.
    expect(docs).toHaveLength(6);
    const [main, routes, s3] = docs;
    expect(directive(main)).toMatchObject({ Namespace: 'Edge/ControlPlane', Dimensions: [['service']] });
    expect(main.service).toBe('acme-control-plane');
    expect(directive(main).Metrics.map((m) => m.Name).sort()).toEqual(
      [
        CONTROL_PLANE_METRICS.connectedNodes,
        CONTROL_PLANE_METRICS.instancesExcluded,
        CONTROL_PLANE_METRICS.nacks,
        CONTROL_PLANE_METRICS.renderFailures,
        CONTROL_PLANE_METRICS.canaryRollbacks,
        CONTROL_PLANE_METRICS.renderFaultsHeldBack,
      ].sort(),
    );
    for (const m of directive(main).Metrics) expect(m.Unit).toBe('Count');
    // Counters: what happened since the publisher started (5 -> 8 NACKs, 1 -> 2 rollbacks).
    expect(main).toMatchObject({ NacksReceived: 3, RenderFailures: 0, CanaryRollbacks: 1, RenderFaultsHeldBack: 1, ConnectedNodes: 38, InstancesExcluded: 3 });

    expect(directive(routes)).toMatchObject({ Namespace: 'Edge/ControlPlane', Dimensions: [['service', 'Source']] });
    expect(routes).toMatchObject({ service: 'acme-control-plane', Source: 'dynamodb-routes', SourceStalenessSeconds: 61.5 });
    expect(unitOf(routes, CONTROL_PLANE_METRICS.sourceStalenessSeconds)).toBe('Seconds');
    expect(directive(routes).Metrics.map((m) => m.Name)).toEqual([CONTROL_PLANE_METRICS.sourceStalenessSeconds]);
    // Never refreshed: stale since the publisher started.
    expect(s3).toMatchObject({ Source: 's3-context', SourceStalenessSeconds: 60 });

    // The last flush: no new NACK, rollback or failure since the one before (deltas are 0), gauges stay.
    expect(docs[3]).toMatchObject({ NacksReceived: 0, RenderFailures: 0, CanaryRollbacks: 0, ConnectedNodes: 38 });
  });

  test('flushes every interval, and stop() flushes once more and ends the timer', async () => {
    const lines: string[] = [];
    const publisher = startEmfPublisher(() => readings, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 40 });
    await waitFor('two flushes', () => lines.length >= 6);
    publisher.stop();
    const count = lines.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(lines.length).toBe(count);
    expect(count % 3).toBe(0);
    for (const line of lines) expect(validEmf(line).service).toBe('edge-control-plane');
  });

  test('a bad interval is refused, naming the option', () => {
    expect(() => startEmfPublisher(() => readings, { platformName: 'edge', intervalMs: 0 })).toThrow(/intervalMs: must be greater than 0/);
  });
});

describe('on a running control plane', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const envoys: SimEnvoy[] = [];

  beforeAll(async () => {
    table = await startTable();
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { canary: { fraction: 0 } });
  });

  afterAll(async () => {
    for (const e of envoys) e.close();
    await cp?.stop();
    await table?.stop();
  });

  test('connected nodes and NACKs from the xDS server, staleness of the routes source', async () => {
    const lines: string[] = [];
    const publisher = publishControlPlaneMetrics(cp.running.controlPlane, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 3600_000 });
    const controlPlane = cp.running.controlPlane;
    await waitFor('the routes source', () => controlPlane.sourceStatuses().every((s) => s.ok));
    // One node ACKs everything; one NACKs the clusters it is sent.
    envoys.push(new SimEnvoy(cp.xdsPort, 'good-node'));
    envoys.push(new SimEnvoy(cp.xdsPort, 'nack-node', (r: Response) => (r.type_url === TYPE.clusters ? 'cluster svc: unsupported field' : undefined)));
    await waitFor('a NACK from nack-node', () => controlPlane.metrics.nacks >= 1 && controlPlane.sessions.size === 2);
    await new Promise((r) => setTimeout(r, 300));
    const nacks = controlPlane.metrics.nacks;

    publisher.flush();
    const [main, ...sources] = lines.map(validEmf);
    expect(main).toMatchObject({ service: 'edge-control-plane', ConnectedNodes: 2, NacksReceived: nacks, RenderFailures: 0, CanaryRollbacks: 0, InstancesExcluded: 0 });
    expect(sources.map((s) => s.Source)).toEqual(controlPlaneReadings(controlPlane).sources.map((s) => s.name));
    for (const s of sources) {
      expect(s.SourceStalenessSeconds as number).toBeGreaterThanOrEqual(0);
      expect(s.SourceStalenessSeconds as number).toBeLessThan(10);
    }

    // Nothing new since: the counters' deltas are 0, the gauge follows the node that left.
    envoys.pop()!.close();
    await waitFor('nack-node to disconnect', () => controlPlane.sessions.size === 1);
    lines.length = 0;
    publisher.stop();
    const after = validEmf(lines[0]);
    expect(after).toMatchObject({ ConnectedNodes: 1, NacksReceived: controlPlane.metrics.nacks - nacks });
    expect(after.NacksReceived).toBe(0);
  });
});

describe('canary rollbacks', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const nodes: SimEnvoy[] = [];
  const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });
  const refuse = (response: Response) => (response.type_url === TYPE.clusters && response.resources.some((r) => r.name === 'svc-poison') ? 'cluster svc-poison: invalid transport socket' : undefined);

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table.doc, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { routesRefreshMs: 100, settleMs: 500, canary: { fraction: 0.5, soakMs: 60_000 } });
    for (const id of ['edge-1', 'edge-2']) nodes.push(new SimEnvoy(cp.xdsPort, id, refuse));
    await waitFor('every node holding the base route', () => nodes.every((n) => n.clusters().includes('svc-base')) || undefined);
  });

  afterAll(async () => {
    for (const n of nodes) n.close();
    await cp?.stop();
    await table?.stop();
  });

  test('a canary NACK rolls the rollout back: CanaryRollbacks 1 and the NACK in that flush, 0 in the next', async () => {
    const lines: string[] = [];
    const controlPlane = cp.running.controlPlane;
    const publisher = publishControlPlaneMetrics(controlPlane, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 3600_000 });
    await writeRoute(table.doc, 'poison', { hostnames: ['poison.edge.example.com'], backends: [backend(8002)] });
    await waitFor('the rollback', () => controlPlane.lastCanary?.state === 'rolled-back' || undefined);
    publisher.flush();
    const first = validEmf(lines[0]);
    expect(first).toMatchObject({ CanaryRollbacks: 1, ConnectedNodes: 2 });
    expect(first.NacksReceived as number).toBeGreaterThanOrEqual(1);
    lines.length = 0;
    publisher.stop();
    expect(validEmf(lines[0])).toMatchObject({ CanaryRollbacks: 0 });
  });
});
