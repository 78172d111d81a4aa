/**
 * The task's convergence report (read by the broker's gate) as simulated Envoys ACK and NACK:
 * counts by held generation, NACK -> rejection + quarantine (the fleet returns to its last
 * good config), validation failure of one instance while the others converge.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { judgeConvergence } from '../../lib/broker/runtime/worker/gate';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { REGION, SimEnvoy, TABLE, TYPE, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });
const GATE = { fraction: 1, emptyRegion: 'pass' as const, timeoutSeconds: 60, pollSeconds: 1 };

describe('convergence reports', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const nodes: SimEnvoy[] = [];

  const report = async () => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined;
  const holding = (r: ConvergenceReport, generation: number) => r.ackedGenerations.filter(([g]) => g >= generation).reduce((n, [, c]) => n + c, 0);
  const judge = (r: ConvergenceReport, instanceId: string, generation: number) => judgeConvergence({ instanceId, generation, regions: [REGION], rejectable: true }, [r], GATE);
  // Any cluster named svc-bad* is refused the way Envoy refuses a config it cannot load (until the test says it is fixed).
  let badIsBroken = true;
  const refuseBad = (response: { type_url: string; resources: Array<{ name: string }> }) =>
    badIsBroken && response.type_url === TYPE.clusters && response.resources.some((r) => r.name.startsWith('svc-bad')) ? 'cluster svc-bad: unknown field in the typed config' : undefined;

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      routesRefreshMs: 100,
      settleMs: 500,
      convergenceReportMs: 50,
      convergenceHeartbeatMs: 250,
      canary: { fraction: 0 },
    });
    for (const id of ['node-a', 'node-b', 'node-c']) nodes.push(new SimEnvoy(cp.xdsPort, id, refuseBad));
    await waitFor('every node holding the base route', () => nodes.every((n) => n.clusters().includes('svc-base')) || undefined);
  });

  afterAll(async () => {
    for (const n of nodes) n.close();
    await cp?.stop();
    await table?.stop();
  });

  it('counts nodes by the generation they ACKed, a slow node at its older one', async () => {
    const slow = nodes[2];
    slow.hold();
    const generation = await writeRoute(table, 'one', { hostnames: ['one.edge.example.com'], backends: [backend(8001)] });
    const partial = await waitFor('two of three nodes holding the new generation', async () => {
      const r = await report();
      return r && r.connectedNodes === 3 && holding(r, generation) === 2 ? r : undefined;
    });
    expect(partial).toMatchObject({ region: REGION, taskId: cp.taskId, rejected: {} });
    expect(partial.stableGeneration).toBeGreaterThanOrEqual(generation);
    expect(judge(partial, 'one', generation)).toMatchObject({ kind: 'waiting', progress: expect.stringContaining('2 of 3') });
    slow.release();
    const full = await waitFor('all three nodes holding it', async () => {
      const r = await report();
      return r && holding(r, generation) === 3 ? r : undefined;
    });
    expect(judge(full, 'one', generation)).toEqual({ kind: 'converged', summary: 'accepted by 3 of 3 proxies in 1 region' });
  });

  it('reports a NACK as a rejection with the error_detail and returns the fleet to its last good config', async () => {
    const before = nodes[0].clusters();
    const generation = await writeRoute(table, 'bad', { hostnames: ['bad.edge.example.com'], backends: [backend(8002)] });
    const rejected = await waitFor('the rejection in the report', async () => (await report())?.rejected.bad);
    expect(rejected).toMatchObject({ generation, source: 'nack', reason: 'cluster svc-bad: unknown field in the typed config' });
    expect(rejected.nodes).toBeGreaterThanOrEqual(1);
    // Quarantined: every node is back on (and ACKed) the config without it.
    await waitFor('every node back on its last good clusters', () => nodes.every((n) => n.latest.get(TYPE.clusters)?.acked && n.clusters().join() === before.join()) || undefined);
    const r = await waitFor('a report with all nodes past the rejected generation', async () => {
      const current = await report();
      return current && holding(current, generation) === 3 ? current : undefined;
    });
    // The gate reads the rejection before the acceptance: the operation fails.
    expect(judge(r, 'bad', generation)).toMatchObject({ kind: 'rejected', reason: expect.stringContaining('cluster svc-bad: unknown field') });
    expect(judge(r, 'one', 1)).toMatchObject({ kind: 'converged' });
    const status = (await (await fetch(`http://127.0.0.1:${cp.restPort}/status`)).json()) as { rejected: Record<string, { source: string }> };
    expect(status.rejected.bad).toMatchObject({ source: 'nack' });

  });

  it('A newer generation of the instance lifts the quarantine: the fixed instance is served again', async () => {
    expect((await report())?.rejected.bad).toBeDefined();
    for (const n of nodes) expect(n.clusters()).not.toContain('svc-bad');
    // The team fixes the instance: a newer generation (not a tombstone, which would lift the
    // quarantine by another branch) that the proxies accept.
    badIsBroken = false;
    const fixed = await writeRoute(table, 'bad', { hostnames: ['bad.edge.example.com'], backends: [backend(8012)] });
    await waitFor('every node serving the fixed instance', () => nodes.every((n) => n.latest.get(TYPE.clusters)?.acked && n.clusters().includes('svc-bad')) || undefined);
    const r = await waitFor('the rejection to clear and all nodes to hold the fix', async () => {
      const current = await report();
      return current && !current.rejected.bad && holding(current, fixed) === 3 ? current : undefined;
    });
    expect(judge(r, 'bad', fixed)).toEqual({ kind: 'converged', summary: 'accepted by 3 of 3 proxies in 1 region' });
  });

  it('reports an invalid route as rejected by validation while the other instances converge', async () => {
    const broken = await writeRoute(table, 'broken', { hostnames: ['broken.edge.example.com'], backends: [backend(70000)] });
    const fine = await writeRoute(table, 'fine', { hostnames: ['fine.edge.example.com'], backends: [backend(8003)] });
    const r = await waitFor('the validation rejection and the fine route held by all', async () => {
      const current = await report();
      return current?.rejected.broken && holding(current, fine) === 3 ? current : undefined;
    });
    expect(r.rejected.broken).toMatchObject({ generation: broken, source: 'validation', reason: expect.stringContaining('port_value') });
    expect(judge(r, 'broken', broken)).toMatchObject({ kind: 'rejected' });
    expect(judge(r, 'fine', fine)).toMatchObject({ kind: 'converged' });
    for (const n of nodes) expect(n.clusters()).toEqual(expect.arrayContaining(['svc-fine']));
    for (const n of nodes) expect(n.clusters()).not.toContain('svc-broken');
  });

  it('writes a heartbeat while nothing changes and deletes the report at stop', async () => {
    const first = (await report())!;
    const later = await waitFor('a heartbeat', async () => {
      const r = await report();
      return r && Date.parse(r.reportedAt) > Date.parse(first.reportedAt) ? r : undefined;
    });
    expect(later.connectedNodes).toBe(3);
    const taskId = cp.taskId!;
    await cp.stop();
    const gone = await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, taskId) }));
    expect(gone.Item).toBeUndefined();
    cp = undefined as unknown as LocalControlPlane;
  });
});
