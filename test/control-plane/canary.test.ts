/**
 * Canary rollout with simulated Envoys: a new snapshot goes to the canary subset only until
 * the soak ends, then to all; a canary NACK rolls the canaries back and the change is
 * reported rejected; a canary that disconnects is replaced.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { canaryCount, canarySettingsFromEnv, checkCanarySettings, chooseCanaries } from '../../lib/control-plane/runtime/canary';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { REGION, SimEnvoy, TABLE, TYPE, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });
const SOAK_MS = 1200;
const IDS = ['edge-1', 'edge-2', 'edge-3', 'edge-4'];

describe('canary settings', () => {
  it('counts at least one canary, none without nodes or with the canary off', () => {
    expect(canaryCount(0, 0.05)).toBe(0);
    expect(canaryCount(1, 0.05)).toBe(1);
    expect(canaryCount(40, 0.05)).toBe(2);
    expect(canaryCount(41, 0.05)).toBe(3);
    expect(canaryCount(10, 0)).toBe(0);
    expect(canaryCount(3, 1)).toBe(3);
  });

  it('chooses canaries deterministically, whatever the order of the nodes', () => {
    const a = chooseCanaries(IDS, (x) => x, 2);
    expect(chooseCanaries([...IDS].reverse(), (x) => x, 2)).toEqual(a);
    expect(a).toHaveLength(2);
  });

  it('reads and validates EDGE_CANARY_FRACTION and EDGE_CANARY_SOAK_MS', () => {
    const defaults = { fraction: 0.05, soakMs: 30_000 };
    expect(canarySettingsFromEnv({}, defaults)).toEqual(defaults);
    expect(canarySettingsFromEnv({ EDGE_CANARY_FRACTION: '0.2', EDGE_CANARY_SOAK_MS: '500' }, defaults)).toEqual({ fraction: 0.2, soakMs: 500 });
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_FRACTION: 'half' }, defaults)).toThrow('EDGE_CANARY_FRACTION: must be a number');
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_FRACTION: '1.5' }, defaults)).toThrow('EDGE_CANARY_FRACTION: must be a number from 0 (no canary) to 1');
    expect(() => canarySettingsFromEnv({ EDGE_CANARY_SOAK_MS: '-1' }, defaults)).toThrow('EDGE_CANARY_SOAK_MS: must be a whole number of milliseconds');
    expect(() => checkCanarySettings({ fraction: 0.1, soakMs: 1.5 }, (k) => `canary.${k}`)).toThrow('canary.soakMs');
  });
});

describe('canary rollout', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const nodes = new Map<string, SimEnvoy>();
  // 25% of 4 nodes: one canary, the node id with the lowest hash.
  const [canaryId] = chooseCanaries(IDS, (x) => x, 1);
  const canary = () => nodes.get(canaryId)!;
  const others = () => [...nodes.values()].filter((n) => n.id !== canaryId);

  const report = async () => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined;
  const holding = (r: ConvergenceReport, generation: number) => r.ackedGenerations.filter(([g]) => g >= generation).reduce((n, [, c]) => n + c, 0);
  const status = async () => (await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()) as { canary: { state: string; generation: number; nodes: number; acked: number; reason?: string } | null; rejected: Record<string, unknown> };
  const refuse = (response: { type_url: string; resources: Array<{ name: string }> }) =>
    response.type_url === TYPE.clusters && response.resources.some((r) => r.name === 'svc-poison') ? 'cluster svc-poison: invalid transport socket' : undefined;

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      routesRefreshMs: 100,
      settleMs: 500,
      convergenceReportMs: 50,
      canary: { fraction: 0.25, soakMs: SOAK_MS, ackTimeoutMs: 2500 },
    });
    for (const id of IDS) nodes.set(id, new SimEnvoy(cp.xdsPort, id, refuse));
    await waitFor('every node holding the base route', () => [...nodes.values()].every((n) => n.clusters().includes('svc-base')) || undefined);
  });

  afterAll(async () => {
    for (const n of nodes.values()) n.close();
    await cp?.stop();
    await table?.stop();
  });

  it('sends a new snapshot to the canary only until the soak ends, then to every node', async () => {
    const generation = await writeRoute(table, 'first', { hostnames: ['first.edge.example.com'], backends: [backend(8001)] });
    await waitFor('the canary to hold the change', () => canary().clusters().includes('svc-first') || undefined);
    const soaking = await waitFor('the canary soaking in the report', async () => {
      const r = await report();
      return r?.canary?.state === 'soaking' ? r : undefined;
    });
    expect(soaking.canary).toMatchObject({ generation, nodes: 1, acked: 1 });
    // Not held until promoted: the gate does not count the canary yet.
    expect(holding(soaking, generation)).toBe(0);
    for (const n of others()) expect(n.everSent().has('svc-first')).toBe(false);
    expect((await status()).canary).toMatchObject({ state: 'soaking', generation });

    const promoted = await waitFor(
      'every node holding the change after the soak',
      async () => {
        const r = await report();
        return r && holding(r, generation) === 4 ? r : undefined;
      },
      SOAK_MS + 5000,
    );
    expect(promoted.canary).toMatchObject({ state: 'promoted', generation });
    for (const n of nodes.values()) expect(n.clusters()).toContain('svc-first');
  });

  it('rolls the canary back on a NACK and reports the change rejected; the others never see it', async () => {
    const generation = await writeRoute(table, 'poison', { hostnames: ['poison.edge.example.com'], backends: [backend(8002)] });
    const rejected = await waitFor('the rejection in the report', async () => (await report())?.rejected.poison);
    expect(rejected).toMatchObject({ generation, source: 'nack', reason: 'cluster svc-poison: invalid transport socket', nodes: 1 });
    const r = (await report())!;
    expect(r.canary).toMatchObject({ state: 'rolled-back', reason: expect.stringContaining('svc-poison') });
    // The canary is back on (and ACKed) the stable clusters.
    await waitFor('the canary back on the stable config', () => (canary().latest.get(TYPE.clusters)?.acked && !canary().clusters().includes('svc-poison')) || undefined);
    expect(canary().clusters()).toEqual(['svc-base', 'svc-first']);
    await new Promise((resolve) => setTimeout(resolve, SOAK_MS + 300));
    for (const n of others()) expect(n.everSent().has('svc-poison')).toBe(false);
  });

  it('replaces a canary that disconnects during the rollout instead of blaming the change', async () => {
    const generation = await writeRoute(table, 'flaky', { hostnames: ['flaky.edge.example.com'], backends: [backend(8003)] });
    await waitFor('the canary to hold the change', () => canary().clusters().includes('svc-flaky') || undefined);
    canary().close();
    // The replacement: the lowest hash among the nodes left.
    const [replacementId] = chooseCanaries(others().map((n) => n.id), (x) => x, 1);
    await waitFor('the replacement canary to hold the change', () => nodes.get(replacementId)!.clusters().includes('svc-flaky') || undefined);
    const r = await waitFor(
      'every remaining node holding the change',
      async () => {
        const current = await report();
        return current?.connectedNodes === 3 && holding(current, generation) === 3 ? current : undefined;
      },
      SOAK_MS + 5000,
    );
    expect(r.rejected.flaky).toBeUndefined();
    expect(r.canary).toMatchObject({ state: 'promoted', generation });
    for (const n of others()) expect(n.clusters()).toContain('svc-flaky');
  });

  it('counts a canary that does not ACK in time as a health drop', async () => {
    const remaining = others();
    const [stuckId] = chooseCanaries(remaining.map((n) => n.id), (x) => x, 1);
    const stuck = nodes.get(stuckId)!;
    stuck.hold();
    const generation = await writeRoute(table, 'stuck', { hostnames: ['stuck.edge.example.com'], backends: [backend(8004)] });
    const rejected = await waitFor('the ACK timeout rejection', async () => (await report())?.rejected.stuck, 10000);
    expect(rejected).toMatchObject({ generation, source: 'canary-health', reason: expect.stringContaining(`did not ACK the candidate within 2.5 s: ${stuckId}`) });
    stuck.release();
    await waitFor('the stuck canary back on the stable config', () => (stuck.latest.get(TYPE.clusters)?.acked && !stuck.clusters().includes('svc-stuck')) || undefined);
    for (const n of remaining.filter((x) => x !== stuck)) expect(n.everSent().has('svc-stuck')).toBe(false);
  });
});
