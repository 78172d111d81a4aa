/**
 * Fault: the control plane restarts while its source (DynamoDB) is down. A node that
 * connects to the new control plane must get the last good config (persisted under the
 * data dir) before the source is back; once DynamoDB returns, the node catches up with a
 * route provisioned after the restart.
 */
import { LocalBroker } from '../../lib/broker/runtime/local/local-broker';
import { startTestBroker } from '../broker/support';
import { LocalControlPlane, LocalControlPlaneOptions, startLocalControlPlane } from '../../lib/control-plane/runtime/local';
import { silentLogger } from '../../lib/control-plane/runtime/logger';
import { LocalEmulators, startEmulators } from '../../lib/local/emulators';
import { resourceBaseName } from '../../lib/model';
import { SimFleet } from '../e2e/support/sim-envoy';
import { restDiscovery } from '../support/rest-discovery';
import { DOMAIN, Osb, PASSWORD, TOKEN, osb, provisionBody, settle, tempDataDir, waitFor } from './support/harness';

const TABLE = 'faults-cp-restart';
const REGION = 'us-east-1';
const BEFORE = 'cp-before';
const AFTER = 'cp-after';

/** The cluster names a REST discovery request returns (or the status when it fails). */
async function restClusters(controlPlaneUrl: string): Promise<string[] | number> {
  const response = await restDiscovery(controlPlaneUrl, 'clusters', { nodeId: 'faults-rest-node', node: { cluster: `edge-fleet-${REGION}`, locality: { region: REGION } }, token: TOKEN });
  if (response.status !== 200) return response.status;
  const body = (await response.json()) as { resources?: Array<{ name?: string }> };
  return (body.resources ?? []).map((r) => r.name ?? '');
}

describe('fault: the control plane restarted while DynamoDB is down', () => {
  const dir = tempDataDir('cp-restart');
  let emulators: LocalEmulators;
  let broker: LocalBroker;
  let call: Osb;
  const controlPlanes: LocalControlPlane[] = [];
  const fleets: SimFleet[] = [];

  const controlPlaneOptions = (): LocalControlPlaneOptions => ({
    xdsPort: 0,
    restPort: 0,
    region: REGION,
    tableName: TABLE,
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    authToken: TOKEN,
    dataDir: dir.path,
    domain: DOMAIN,
    logger: silentLogger,
    routesRefreshMs: 150,
    settleMs: 500,
    persistDebounceMs: 50,
    canary: { fraction: 0 },
  });

  beforeAll(async () => {
    emulators = await startEmulators({ dataDir: dir.path });
    broker = await startTestBroker(emulators, {
      password: PASSWORD,
      tableName: TABLE,
      regions: [REGION],
      worker: { pollWaitSeconds: 1, waitSeconds: 0.2, backoffSeconds: () => 1, leaseSeconds: 5 },
    });
    call = osb(broker.url);
  });

  afterAll(async () => {
    for (const fleet of fleets) fleet.close();
    await emulators?.startDynamodb().catch(() => undefined);
    for (const cp of controlPlanes) await cp.stop();
    await broker?.stop();
    await emulators?.stop();
    dir.remove();
  });

  it('serves the last good config from the data dir, then catches up when DynamoDB returns', async () => {
    // A control plane serving one provisioned route, seen by a node.
    const first = await startLocalControlPlane(controlPlaneOptions());
    controlPlanes.push(first);
    const provisioned = await call('PUT', `/v2/service_instances/${BEFORE}?accepts_incomplete=true`, provisionBody([`${BEFORE}.${DOMAIN}`]));
    expect(provisioned.status).toBe(202);
    expect((await settle(call, BEFORE, provisioned.body.operation)).body.state).toBe('succeeded');
    const firstUrl = `http://127.0.0.1:${first.restPort}`;
    await waitFor('the first control plane to serve the route', async () => {
      const names = await restClusters(firstUrl);
      return Array.isArray(names) && names.includes(resourceBaseName(BEFORE));
    });

    // Down: the control plane and DynamoDB; the control plane comes back alone.
    await first.stop();
    await emulators.stopDynamodb();
    const second = await startLocalControlPlane(controlPlaneOptions());
    controlPlanes.push(second);
    const secondUrl = `http://127.0.0.1:${second.restPort}`;

    // The sources are still down, yet a node gets the last good config: over REST and over ADS.
    const fromRest = await restClusters(secondUrl);
    expect(fromRest).toEqual(expect.arrayContaining([resourceBaseName(BEFORE)]));
    const fleet = await SimFleet.connect({ xdsAddress: `127.0.0.1:${second.xdsPort}`, token: TOKEN, region: REGION, nodes: 2, idPrefix: 'faults-cp', connectTimeoutMs: 10_000 });
    fleets.push(fleet);
    for (const node of fleet.nodes) expect(node.holds('clusters', resourceBaseName(BEFORE))).toBe(true);
    // It says so: the context is the persisted one, and the DynamoDB source fails (once its
    // first read, with the SDK's retries, has given up: the nodes were served before that).
    type Status = { contextOrigin: string; routes: number; sources: Array<{ name: string; ok: boolean; lastError?: string }> };
    const status = await waitFor('/status to report the failing source', async () => {
      const body = (await (await fetch(`${secondUrl}/status`)).json()) as Status;
      return body.sources.find((s) => s.name === 'dynamodb')?.lastError ? body : undefined;
    });
    expect(status.contextOrigin).toBe('persisted');
    expect(status.routes).toBe(1);
    expect(status.sources.find((s) => s.name === 'dynamodb')).toMatchObject({ ok: false, lastError: expect.stringMatching(/ECONNREFUSED/) });

    // DynamoDB returns; a route provisioned now reaches the nodes of the restarted control plane.
    await emulators.startDynamodb();
    const later = await call('PUT', `/v2/service_instances/${AFTER}?accepts_incomplete=true`, provisionBody([`${AFTER}.${DOMAIN}`], { regions: [REGION] }));
    expect(later.status).toBe(202);
    await fleet.waitForAll('the nodes to catch up with the new route', (node) => node.holds('clusters', resourceBaseName(AFTER)) && node.holds('clusters', resourceBaseName(BEFORE)), 20_000);
    expect((await settle(call, AFTER, later.body.operation)).body.state).toBe('succeeded');
  });
});
