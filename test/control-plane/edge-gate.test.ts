/**
 * End to end through the broker: its worker's convergence gate reads this control plane's
 * reports. A provision succeeds only once the simulated Envoys ACKed it (canary first, then
 * all); a change the Envoys NACK fails the operation with their error_detail and is withdrawn.
 */
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { LocalBroker, LocalEmulators, osbClient, provisionBody, startEmulators, startTestBroker, waitForOperation } from '../broker/support';
import { REGION, SimEnvoy, TYPE, startTestControlPlane, waitFor } from './support';

describe('the broker gate over real convergence reports', () => {
  let emulators: LocalEmulators;
  let broker: LocalBroker;
  let cp: LocalControlPlane;
  let osb: ReturnType<typeof osbClient>;
  const nodes: SimEnvoy[] = [];
  const refuse = (response: { type_url: string; resources: Array<{ name: string }> }) =>
    response.type_url === TYPE.clusters && response.resources.some((r) => r.name === 'svc-refused') ? 'cluster svc-refused: upstream TLS context rejected' : undefined;

  beforeAll(async () => {
    emulators = await startEmulators();
    broker = await startTestBroker(emulators, { regions: [REGION], convergence: { pollSeconds: 0.1, emptyRegion: 'wait', timeoutSeconds: 30, fraction: 1 } });
    osb = osbClient(broker.url);
    cp = await startTestControlPlane(emulators.dynamodbEndpoint, {
      routesRefreshMs: 100,
      settleMs: 500,
      convergenceReportMs: 50,
      canary: { fraction: 0.5, soakMs: 300 },
    });
    for (const id of ['gate-1', 'gate-2']) nodes.push(new SimEnvoy(cp.xdsPort, id, refuse));
    await waitFor('both nodes on their first snapshot', () => nodes.every((n) => n.latest.get(TYPE.clusters)?.acked) || undefined);
  });

  afterAll(async () => {
    for (const n of nodes) n.close();
    await cp?.stop();
    await broker?.stop();
    await emulators?.stop();
  });

  it('a provision succeeds only after the proxies ACK it', async () => {
    for (const n of nodes) n.hold();
    const put = await osb('PUT', '/v2/service_instances/welcome?accepts_incomplete=true', { body: provisionBody(['welcome.edge.example.com']) });
    expect(put.status).toBe(202);
    const lastOperation = `/v2/service_instances/welcome/last_operation?operation=${encodeURIComponent(put.body.operation)}`;
    try {
      // The worker's earlier steps take as long as the machine's load makes them: wait for the gate
      // itself (not a fixed time), then the held proxies must keep the operation at 0 of 2.
      const waiting = await waitFor('the operation at the edge gate', async () => {
        const reply = await osb('GET', lastOperation);
        return /waiting for the edge: accepted by \d+ of/.test(String(reply.body?.description ?? '')) ? reply : undefined;
      });
      expect(waiting.body).toMatchObject({ state: 'in progress', description: expect.stringContaining('0 of 2') });
    } finally {
      for (const n of nodes) n.release();
    }
    const done = await waitForOperation(osb, 'welcome', put.body.operation, 20000);
    expect(done.body).toMatchObject({ state: 'succeeded', description: expect.stringContaining('accepted by 2 of 2 proxies in 1 region') });
    for (const n of nodes) expect(n.clusters()).toContain('svc-welcome');
  });

  it('a change the proxies NACK fails with their error_detail and is withdrawn', async () => {
    const put = await osb('PUT', '/v2/service_instances/refused?accepts_incomplete=true', { body: provisionBody(['refused.edge.example.com']) });
    expect(put.status).toBe(202);
    const done = await waitForOperation(osb, 'refused', put.body.operation, 20000);
    expect(done.body.state).toBe('failed');
    expect(done.body.description).toContain('rejected by the edge in us-east-1: cluster svc-refused: upstream TLS context rejected (NACKed by 1 proxy');
    expect(done.body.description).toContain('The change was withdrawn');
    // Only the canary ever saw it, and it is back on the last good config.
    await waitFor('every node without the refused cluster', () => nodes.every((n) => n.latest.get(TYPE.clusters)?.acked && !n.clusters().includes('svc-refused')) || undefined);
    expect(nodes.filter((n) => n.everSent().has('svc-refused'))).toHaveLength(1);
  });
});
