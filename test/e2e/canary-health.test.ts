/**
 * Valid-but-wrong config caught by the canary, end to end: OSB provision -> worker -> route
 * -> control plane -> canary rollout to simulated Envoys that speak HDS and really
 * health-check the backends. A provision whose backend nothing listens on is halted on the
 * canary, fails with the canary-health reason and is withdrawn; a healthy one succeeds.
 */
import { createServer, Server } from 'node:net';
import { AddressInfo } from 'node:net';
import { LocalPlatform, startLocalPlatform } from '../../lib/local/platform';
import { resourceBaseName } from '../../lib/model';
import { catalogIds, finishOperation, freePort, osbClient, OsbCall, provisionBody, testSettings, TOKEN } from './support/platform';
import { SimFleet } from './support/sim-envoy';

describe('canary health through the broker', () => {
  let platform: LocalPlatform;
  let call: OsbCall;
  let ids: { serviceId: string; planId: string };
  let fleet: SimFleet;
  let backend: Server;
  let backendPort: number;
  /** Every cluster name each node ever held. */
  const everHeld = new Map<string, Set<string>>();

  beforeAll(async () => {
    backend = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendPort = (backend.address() as AddressInfo).port;
    platform = await startLocalPlatform(testSettings(), {
      quiet: true,
      controlPlane: { routesRefreshMs: 150, settleMs: 500, canary: { fraction: 0.05, soakMs: 500 }, canaryHealth: { mode: 'hds', timeoutMs: 3000 } },
    });
    call = osbClient(platform.brokerUrl);
    ids = await catalogIds(call);
    fleet = await SimFleet.connect({ xdsAddress: platform.xdsAddress, token: TOKEN, region: platform.region, nodes: 4, idPrefix: 'hds-envoy', hds: true });
    for (const node of fleet.nodes) {
      const seen = new Set<string>();
      everHeld.set(node.options.id, seen);
      const previous = node.onChange;
      node.onChange = (n) => {
        for (const name of n.held.get('clusters')?.names ?? []) seen.add(name);
        previous?.(n);
      };
    }
  });

  afterAll(async () => {
    fleet?.close();
    await platform?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  it('a provision whose backend is dead fails with the canary-health reason and is withdrawn', async () => {
    const instance = 'e2e-dead-backend';
    const deadPort = await freePort();
    const put = await call('PUT', `/v2/service_instances/${instance}?accepts_incomplete=true`, provisionBody(ids, { hostnames: ['dead-e2e.edge.example.com'], backends: [{ address: '127.0.0.1', port: deadPort, protocol: 'http' }] }));
    expect(put.status).toBe(202);
    const done = await finishOperation(call, instance, 30_000);
    expect(done.body.state).toBe('failed');
    expect(done.body.description).toContain(`canary health: instance ${instance}, cluster ${resourceBaseName(instance)} has no healthy endpoint (127.0.0.1:${deadPort} unhealthy) on 1 of 1 canaries`);
    expect(done.body.description).toMatch(/withdrawn/);
    // Only the canary ever held it; every node ends without it.
    const holders = [...everHeld].filter(([, seen]) => seen.has(resourceBaseName(instance))).map(([id]) => id);
    // Exactly one node held it (0 would mean no canary ever checked it), and it is the node
    // that health-checked the dead backend and reported it (HDS).
    const reporters = fleet.nodes.filter((n) => n.hds!.reports.some((r) => r.clusters[resourceBaseName(instance)] !== undefined)).map((n) => n.options.id);
    expect(reporters).toHaveLength(1);
    expect(holders).toEqual(reporters);
    await fleet.waitForAll('every node without the withdrawn change', (n) => !n.servesInstance(instance) && !n.holds('clusters', resourceBaseName(instance)), 15_000);
    const status = await (await fetch(`${platform.controlPlaneUrl}/status`)).json();
    expect(status.canaryHealth).toMatchObject({ mode: 'hds', hdsStreams: 4 });
  });

  it('a provision whose backend is healthy succeeds and reaches every node', async () => {
    const instance = 'e2e-live-backend';
    const put = await call('PUT', `/v2/service_instances/${instance}?accepts_incomplete=true`, provisionBody(ids, { hostnames: ['live-e2e.edge.example.com'], backends: [{ address: '127.0.0.1', port: backendPort, protocol: 'http' }] }));
    expect(put.status).toBe(202);
    const done = await finishOperation(call, instance, 30_000);
    expect(done.body).toEqual(expect.objectContaining({ state: 'succeeded' }));
    await fleet.waitForAll('every node to serve the instance', (n) => n.servesInstance(instance), 15_000);
    const canary = fleet.nodes.find((n) => n.hds!.reports.some((r) => r.clusters[resourceBaseName(instance)]?.[`127.0.0.1:${backendPort}`] === 'HEALTHY'));
    expect(canary).toBeDefined();
  });
});
