/**
 * The control plane's Embedded Metric Format publisher: every line is checked against the
 * EMF document structure (root object, `_aws.Timestamp` in ms, `CloudWatchMetrics`
 * directives, every dimension and metric a root member of the right type), and the values:
 * counters are deltas since the last flush, gauges are current values, one document per
 * context source for SourceStalenessSeconds. Then a real control plane with a NACKing node.
 */
import { CONTROL_PLANE_METRICS } from '../../lib/model';
import { ControlPlaneReadings, publishControlPlaneMetrics, startEmfPublisher } from '../../lib/control-plane/runtime/emf';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { DEFAULT_TEMPLATES, RenderedResource, Template, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
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
      counters: { nacks: 5, canaryRollbacks: 1 },
      connectedNodes: 40,
      instancesExcluded: 3,
      profilesRenderFailing: 0,
      profilesHeldBack: 0,
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
    set({ counters: { nacks: 8, canaryRollbacks: 2 }, connectedNodes: 38, profilesRenderFailing: 1, profilesHeldBack: 2 });
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
        CONTROL_PLANE_METRICS.canaryRollbacks,
        CONTROL_PLANE_METRICS.profilesRenderFailing,
        CONTROL_PLANE_METRICS.profilesHeldBack,
      ].sort(),
    );
    for (const m of directive(main).Metrics) expect(m.Unit).toBe('Count');
    // Counters: what happened since the publisher started (5 -> 8 NACKs, 1 -> 2 rollbacks); gauges: now.
    expect(main).toMatchObject({ NacksReceived: 3, CanaryRollbacks: 1, ConnectedNodes: 38, InstancesExcluded: 3, ProfilesRenderFailing: 1, ProfilesHeldBack: 2 });

    expect(directive(routes)).toMatchObject({ Namespace: 'Edge/ControlPlane', Dimensions: [['service', 'Source']] });
    expect(routes).toMatchObject({ service: 'acme-control-plane', Source: 'dynamodb-routes', SourceStalenessSeconds: 61.5 });
    expect(unitOf(routes, CONTROL_PLANE_METRICS.sourceStalenessSeconds)).toBe('Seconds');
    expect(directive(routes).Metrics.map((m) => m.Name)).toEqual([CONTROL_PLANE_METRICS.sourceStalenessSeconds]);
    // Never refreshed: stale since the publisher started.
    expect(s3).toMatchObject({ Source: 's3-context', SourceStalenessSeconds: 60 });

    // The last flush: no new NACK or rollback since the one before (deltas are 0), gauges stay.
    expect(docs[3]).toMatchObject({ NacksReceived: 0, CanaryRollbacks: 0, ConnectedNodes: 38, ProfilesRenderFailing: 1, ProfilesHeldBack: 2 });
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
    const good = new SimEnvoy(cp.xdsPort, 'good-node');
    const nacking = new SimEnvoy(cp.xdsPort, 'nack-node', (r: Response) => (r.type_url === TYPE.clusters ? 'cluster svc: unsupported field' : undefined));
    envoys.push(good, nacking);
    // The NACKs are counted by the nodes that sent them, not read from the counter under test.
    await waitFor('a NACK from nack-node', () => nacking.nacksSent >= 1 && controlPlane.sessions.size === 2);
    await new Promise((r) => setTimeout(r, 300));
    const nacks = good.nacksSent + nacking.nacksSent;
    expect(good.nacksSent).toBe(0);

    publisher.flush();
    const [main, ...sources] = lines.map(validEmf);
    expect(main).toMatchObject({ service: 'edge-control-plane', ConnectedNodes: 2, NacksReceived: nacks, CanaryRollbacks: 0, InstancesExcluded: 0, ProfilesRenderFailing: 0, ProfilesHeldBack: 0 });
    // The test control plane reads one context source, the routes table: one staleness
    // document for it (none at all would leave the staleness alarm without data).
    expect(sources.map((s) => s.Source)).toEqual(['dynamodb']);
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
    expect(nacking.nacksSent).toBe(nacks);
    expect(after).toMatchObject({ ConnectedNodes: 1, NacksReceived: 0 });
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
    await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
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
    await writeRoute(table, 'poison', { hostnames: ['poison.edge.example.com'], backends: [backend(8002)] });
    await waitFor('the rollback', () => controlPlane.lastCanary?.state === 'rolled-back' || undefined);
    publisher.flush();
    const first = validEmf(lines[0]);
    expect(first).toMatchObject({ CanaryRollbacks: 1, ConnectedNodes: 2 });
    // Every NACK the canary sent since the publisher started (counted by the nodes themselves).
    const sent = nodes.reduce((sum, n) => sum + n.nacksSent, 0);
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(first.NacksReceived).toBe(sent);
    lines.length = 0;
    publisher.stop();
    expect(validEmf(lines[0])).toMatchObject({ CanaryRollbacks: 0 });
  });
});

/**
 * The edge listeners template with two switches: `broken` makes it throw (the render fails as a
 * whole: nothing new is served), `variant` renders a valid but different edge-https listener
 * (a candidate with no route change, which the test's canary rejects: a render fault).
 */
const VARIANT_BUFFER_BYTES = 40961;
function switchableListeners(): { registry: TemplateRegistry; switches: { broken: boolean; variant: boolean } } {
  const switches = { broken: false, variant: false };
  const good = DEFAULT_TEMPLATES.find((t) => t.id === 'edge-listeners')!;
  const switchable: Template = {
    ...good,
    render(input): RenderedResource[] {
      if (switches.broken) throw new Error('listener template bug (injected)');
      const rendered = good.render(input);
      if (!switches.variant) return rendered;
      return rendered.map((r) => (r.name === 'edge-https' ? { ...r, resource: { ...r.resource, per_connection_buffer_limit_bytes: VARIANT_BUFFER_BYTES } } : r));
    },
  };
  return { registry: new TemplateRegistry(DEFAULT_TEMPLATES.map((t) => (t.id === good.id ? switchable : t))), switches };
}

describe('render state gauges on a running control plane (a state, not a count)', () => {
  let table: TestTable;

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'gauge-base', { hostnames: ['gauge-base.edge.example.com'], backends: [{ address: '10.0.0.1', port: 8000, protocol: 'http' }] });
  });
  afterAll(async () => {
    await table?.stop();
  });

  test('a failing render: ProfilesRenderFailing 1 on every flush however often it re-renders, 0 once a render succeeds', async () => {
    const { registry, switches } = switchableListeners();
    const cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { registry, routesRefreshMs: 100, canary: { fraction: 0 } });
    const node = new SimEnvoy(cp.xdsPort, 'gauge-render');
    try {
      const controlPlane = cp.running.controlPlane;
      await waitFor('the node to hold its listeners', () => node.latest.get(TYPE.listeners)?.acked || undefined);
      const lines: string[] = [];
      const publisher = publishControlPlaneMetrics(controlPlane, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 3600_000 });
      const flush = () => {
        lines.length = 0;
        publisher.flush();
        return validEmf(lines[0]);
      };
      expect(flush()).toMatchObject({ ProfilesRenderFailing: 0, ProfilesHeldBack: 0 });

      switches.broken = true;
      // Three renders fail: a route change, then two rebuilds (as the periodic full resync forces them).
      const before = controlPlane.metrics.renders;
      await writeRoute(table, 'gauge-broken', { hostnames: ['gauge-broken.edge.example.com'], backends: [{ address: '10.0.0.1', port: 8001, protocol: 'http' }] });
      await waitFor('the failed render of the route change', () => controlPlane.metrics.renders > before || undefined);
      for (const n of [2, 3]) {
        controlPlane.scheduleRebuild();
        await waitFor(`failed render ${n}`, () => controlPlane.metrics.renders - before >= n || undefined);
      }
      expect(flush()).toMatchObject({ ProfilesRenderFailing: 1, ProfilesHeldBack: 0 });
      // A minute later, nothing changed: still failing, still 1 (a count would say 0 and the alarm would recover).
      controlPlane.scheduleRebuild();
      await new Promise((r) => setTimeout(r, 50));
      expect(flush()).toMatchObject({ ProfilesRenderFailing: 1 });
      expect(flush()).toMatchObject({ ProfilesRenderFailing: 1 });

      switches.broken = false;
      await writeRoute(table, 'gauge-fixed', { hostnames: ['gauge-fixed.edge.example.com'], backends: [{ address: '10.0.0.1', port: 8100, protocol: 'http' }] });
      await waitFor('a good render', () => controlPlane.renderStateGauges().profilesRenderFailing === 0 || undefined);
      expect(flush()).toMatchObject({ ProfilesRenderFailing: 0, ProfilesHeldBack: 0 });
      publisher.stop();
    } finally {
      node.close();
      await cp.stop();
    }
  });

  test('a render fault held back: ProfilesHeldBack 1 on every flush while held, not a render failure; 0 once a candidate is promoted', async () => {
    const { registry, switches } = switchableListeners();
    const cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { registry, routesRefreshMs: 100, canary: { fraction: 0.5, soakMs: 60_000 } });
    // Both nodes reject the variant listener; whichever is the canary NACKs it.
    const rejectVariant = (r: Response) => (r.type_url === TYPE.listeners && JSON.stringify(r.resources).includes(String(VARIANT_BUFFER_BYTES)) ? 'listener edge-https: rejected (injected)' : undefined);
    const nodes = ['gauge-held-1', 'gauge-held-2'].map((id) => new SimEnvoy(cp.xdsPort, id, rejectVariant));
    try {
      const controlPlane = cp.running.controlPlane;
      await waitFor('both nodes to hold their listeners', () => nodes.every((n) => n.latest.get(TYPE.listeners)?.acked) || undefined);
      const lines: string[] = [];
      const publisher = publishControlPlaneMetrics(controlPlane, { platformName: 'edge', sink: (l) => lines.push(l), intervalMs: 3600_000 });
      const flush = () => {
        lines.length = 0;
        publisher.flush();
        return validEmf(lines[0]);
      };

      // A new candidate with no route change (as a new control plane image would render): the canary NACKs it.
      switches.variant = true;
      controlPlane.scheduleRebuild();
      await waitFor('the render fault', () => controlPlane.renderStateGauges().profilesHeldBack === 1 || undefined);
      expect(flush()).toMatchObject({ ProfilesHeldBack: 1, ProfilesRenderFailing: 0 });
      // The region stays blocked: later flushes (and re-renders of the same candidate) still say 1.
      controlPlane.scheduleRebuild();
      await new Promise((r) => setTimeout(r, 50));
      expect(flush()).toMatchObject({ ProfilesHeldBack: 1, ProfilesRenderFailing: 0 });
      expect(flush()).toMatchObject({ ProfilesHeldBack: 1 });

      // The fix renders the stable snapshot again: promoted, no longer held back.
      switches.variant = false;
      controlPlane.scheduleRebuild();
      await waitFor('the hold to end', () => controlPlane.renderStateGauges().profilesHeldBack === 0 || undefined);
      expect(flush()).toMatchObject({ ProfilesHeldBack: 0, ProfilesRenderFailing: 0 });
      publisher.stop();
    } finally {
      for (const n of nodes) n.close();
      await cp.stop();
    }
  });
});
