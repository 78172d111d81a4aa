/**
 * Rollouts as trains (scale issue, items 2-4), with simulated Envoys: a rollout runs to its
 * end on a fixed candidate while changes keep arriving; a rejection is pinned on the resource
 * the proxy rejected; a non-canary's NACK does not silently drop the candidate.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { chooseCanaries } from '../../lib/control-plane/runtime/canary';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { REGION, Response, SimEnvoy, TABLE, TYPE, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });
const SOAK_MS = 500;
const IDS = ['train-1', 'train-2', 'train-3', 'train-4'];

describe('rollouts as trains', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const nodes = new Map<string, SimEnvoy>();
  // 25% of 4 nodes: one canary, the node id with the lowest hash.
  const [canaryId] = chooseCanaries(IDS, (x) => x, 1);

  const report = async () => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined;
  // The canary rejects any CDS response holding svc-bad, with an error that names no instance.
  const refuse = (response: Response) => (response.type_url === TYPE.clusters && response.resources.some((r) => r.name === 'svc-bad') ? 'cluster rejected: invalid transport socket' : undefined);

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, {
      routesRefreshMs: 50,
      settleMs: 300,
      convergenceReportMs: 50,
      canary: { fraction: 0.25, soakMs: SOAK_MS, ackTimeoutMs: 5000 },
    });
    for (const id of IDS) nodes.set(id, new SimEnvoy(cp.xdsPort, id, id === canaryId ? refuse : undefined));
    await waitFor('every node holding the base route', () => [...nodes.values()].every((n) => n.clusters().includes('svc-base')) || undefined);
  });

  afterAll(async () => {
    for (const n of nodes.values()) n.close();
    await cp?.stop();
    await table?.stop();
  });

  it('promotes changes while they keep arriving faster than ACK + soak (soak 500 ms, a change every 400 ms)', async () => {
    const initial = (await waitFor('a first report', report)).stableGeneration;
    let last = 0;
    for (let i = 0; i < 15; i++) {
      last = await writeRoute(table, 'churn', { hostnames: ['churn.edge.example.com'], backends: [backend(9000 + i)] });
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    // Before: each change restarted the rollout, and the stable generation never moved.
    const during = (await report())!.stableGeneration;
    expect(during).toBeGreaterThan(initial);
    const settled = await waitFor('the last change promoted', async () => {
      const r = await report();
      return r && r.stableGeneration >= last ? r : undefined;
    }, 15_000);
    expect(settled.rejected).toEqual({});
  });

  it('pins a NACK that names no instance on the owner of the rejected resource; the other change of the train is promoted', async () => {
    // Two changes in flight: bad adds a cluster the canary rejects, base only moves its endpoints.
    const bad = await writeRoute(table, 'bad', { hostnames: ['bad.edge.example.com'], backends: [backend(8101)] });
    const moved = await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8102)] });
    const rejected = await waitFor('the rejection of bad', async () => (await report())?.rejected.bad);
    expect(rejected).toMatchObject({ generation: bad, source: 'nack', reason: 'cluster rejected: invalid transport socket' });
    // Before: a NACK naming no instance blamed every change of the candidate.
    const r = await waitFor('the endpoint change promoted', async () => {
      const current = await report();
      return current && current.stableGeneration >= moved ? current : undefined;
    }, 15_000);
    expect(r.rejected.base).toBeUndefined();
    for (const n of nodes.values()) expect(n.everSent().has('svc-bad')).toBe(n.id === canaryId);
  });

  it('keeps the candidate when a node that is not a canary rejects what it runs (the node, not the change, is at fault)', async () => {
    const generation = await writeRoute(table, 'steady', { hostnames: ['steady.edge.example.com'], backends: [backend(8201)] });
    await waitFor('the canary holding the change', () => nodes.get(canaryId)!.clusters().includes('svc-steady') || undefined);
    // A new node that rejects everything it is sent joins during the rollout. Its id ranks after
    // every other node's, so no later train and no replacement of a canary picks it while any
    // other node is there (a canary's NACK would rightly reject the change): only a non-canary's
    // NACK is in play.
    const names = Array.from({ length: 64 }, (_, i) => `train-grumpy-${i + 1}`);
    const id = names.find((x) => !chooseCanaries([...IDS, x], (y) => y, IDS.length).includes(x))!;
    expect(id).toBeDefined();
    const grumpy = new SimEnvoy(cp.xdsPort, id, () => 'this node rejects everything');
    try {
      await waitFor('the newcomer NACKing', () => grumpy.latest.get(TYPE.clusters)?.acked === false || undefined);
      const r = await waitFor('the change promoted', async () => {
        const current = await report();
        return current && current.stableGeneration >= generation ? current : undefined;
      }, 15_000);
      expect(r.rejected.steady).toBeUndefined();
      expect(r.canary).toMatchObject({ state: 'promoted', generation });
    } finally {
      grumpy.close();
    }
  });
});
