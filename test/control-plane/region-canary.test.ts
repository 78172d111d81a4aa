/**
 * One canary subset and one soak per region (scale issue, item 7): two control plane tasks
 * of one region on one table; the leader (lowest task id with nodes, from the convergence
 * reports) canaries a change, the follower promotes it once the leader did, and takes the
 * leader's rejections.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { chooseCanaries } from '../../lib/control-plane/runtime/canary';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { ConvergenceReport, convergenceKey } from '../../lib/model';
import { REGION, Response, SimEnvoy, TABLE, TYPE, TestTable, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const backend = (port: number) => ({ address: '10.0.0.1', port, protocol: 'http' as const });
const SOAK_MS = 800;

describe('region-wide canary', () => {
  let table: TestTable;
  let leader: LocalControlPlane;
  let follower: LocalControlPlane;
  const onLeader = ['lead-1', 'lead-2'];
  const onFollower = ['follow-1', 'follow-2'];
  const nodes = new Map<string, SimEnvoy>();
  // 25% of the region's 4 nodes: one canary, on the leader (the leader's nodes only can be canaries).
  const [canaryId] = chooseCanaries(onLeader, (x) => x, 1);
  const refuse = (response: Response) => (response.type_url === TYPE.clusters && response.resources.some((r) => r.name === 'svc-poison') ? 'cluster svc-poison: invalid transport socket' : undefined);

  const report = async (cp: LocalControlPlane) => (await table.doc.send(new GetCommand({ TableName: TABLE, Key: convergenceKey(REGION, cp.taskId!) }))).Item as ConvergenceReport | undefined;

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'base', { hostnames: ['base.edge.example.com'], backends: [backend(8000)] });
    const options = { routesRefreshMs: 100, settleMs: 300, convergenceReportMs: 50, canary: { fraction: 0.25, soakMs: SOAK_MS, ackTimeoutMs: 5000 } };
    leader = await startTestControlPlane(table.emulators.dynamodbEndpoint, { ...options, taskId: 'task-a' });
    follower = await startTestControlPlane(table.emulators.dynamodbEndpoint, { ...options, taskId: 'task-b' });
    for (const id of onLeader) nodes.set(id, new SimEnvoy(leader.xdsPort, id, refuse));
    for (const id of onFollower) nodes.set(id, new SimEnvoy(follower.xdsPort, id, refuse));
    await waitFor('every node holding the base route', () => [...nodes.values()].every((n) => n.clusters().includes('svc-base')) || undefined);
    await waitFor('the roles in the reports', async () => ((await report(follower))?.rollout?.role === 'follower' && (await report(leader))?.rollout?.role === 'leader') || undefined);
  });

  afterAll(async () => {
    for (const n of nodes.values()) n.close();
    await follower?.stop();
    await leader?.stop();
    await table?.stop();
  });

  it("canaries a change on the leader's canary only, then every node of both tasks holds it", async () => {
    expect((await report(follower))?.rollout).toEqual({ role: 'follower', leader: 'task-a' });
    const generation = await writeRoute(table, 'first', { hostnames: ['first.edge.example.com'], backends: [backend(8001)] });
    await waitFor('the canary holding the change', () => nodes.get(canaryId)!.clusters().includes('svc-first') || undefined);
    // During the soak, no node but the canary (on either task) was sent it: one canary for the region.
    await new Promise((resolve) => setTimeout(resolve, SOAK_MS / 2));
    for (const n of nodes.values()) if (n.id !== canaryId) expect(n.everSent().has('svc-first')).toBe(false);
    await waitFor('every node holding the change', () => [...nodes.values()].every((n) => n.clusters().includes('svc-first')) || undefined, SOAK_MS + 8000);
    // The follower's report is written on its own (debounced) beat, after its nodes ACKed: wait for it.
    const promoted = await waitFor("the follower's report of the promotion", async () => ((await report(follower))!.stableGeneration >= generation ? true : undefined));
    expect(promoted).toBe(true);
  });

  it("takes the leader's rejection: the follower's nodes never see the rejected change", async () => {
    const generation = await writeRoute(table, 'poison', { hostnames: ['poison.edge.example.com'], backends: [backend(8002)] });
    const rejected = await waitFor('the rejection in the follower report', async () => (await report(follower))?.rejected.poison);
    expect(rejected).toMatchObject({ generation, source: 'nack', reason: expect.stringContaining('svc-poison') });
    await new Promise((resolve) => setTimeout(resolve, SOAK_MS + 500));
    for (const id of onFollower) expect(nodes.get(id)!.everSent().has('svc-poison')).toBe(false);
  });
});
