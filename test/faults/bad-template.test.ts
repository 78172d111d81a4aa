/**
 * Fault: a control plane is deployed with a template bug. Its endpoints template renders
 * config that passes every proto and reference check but sends traffic nowhere: every
 * endpoint on 127.0.0.2 instead of the backend's address (the backends listen on 127.0.0.1
 * only, so the address refuses connections). No route changes; the candidate differs from the
 * persisted, good snapshot in every cluster. The canary must catch it: the canaries get the
 * candidate, health-check its clusters over HDS, find none healthy, and the rollout is halted
 * and rolled back to the persisted snapshot; the other nodes never see the bad config, the
 * same bad candidate is not tried again on every refresh (only when something changes), and
 * the persisted last good snapshot stays the good one.
 */
import { readFileSync } from 'node:fs';
import { AddressInfo, Server, createServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { chooseCanaries } from '../../lib/control-plane/runtime/canary';
import { RESTART_CANARY_WAIT_MS } from '../../lib/control-plane/runtime/control-plane';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { DEFAULT_TEMPLATES, Template, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { resourceBaseName } from '../../lib/model';
import { TestTable, startTable, startTestControlPlane, writeRoute, REGION, TOKEN } from '../control-plane/support';
import { SimEnvoy } from '../e2e/support/sim-envoy';
import { restDiscovery } from '../support/rest-discovery';
import { sleep, tempDataDir, waitFor } from './support/harness';

const IDS = ['tpl-node-1', 'tpl-node-2', 'tpl-node-3'];
const SOAK_MS = 300;
const HEALTH_TIMEOUT_MS = 2000;
const ROUTES_REFRESH_MS = 100;
const WRONG_ADDRESS = '127.0.0.2';

type Lb = { endpoint?: { address?: { socket_address?: { address?: string } } } };

/** The endpoints template with the bug: every endpoint's address is 127.0.0.2 (valid per the protos). */
function wrongAddressRegistry(): TemplateRegistry {
  const good = DEFAULT_TEMPLATES.find((t) => t.id === 'endpoints')!;
  const bad: Template = {
    ...good,
    render(input) {
      return good.render(input).map((rendered) => {
        const resource = structuredClone(rendered.resource) as { endpoints?: Array<{ lb_endpoints?: Lb[] }> };
        for (const group of resource.endpoints ?? []) for (const lb of group.lb_endpoints ?? []) lb.endpoint!.address!.socket_address!.address = WRONG_ADDRESS;
        return { ...rendered, resource: resource as Record<string, unknown> };
      });
    },
  };
  // Same template id: the same node profile, so the persisted snapshot is this profile's stable one.
  return new TemplateRegistry(DEFAULT_TEMPLATES.map((t) => (t.id === good.id ? bad : t)));
}

async function listeningBackend(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

interface Fleet {
  readonly nodes: Map<string, SimEnvoy>;
  /** Nodes that ever held (ACKed) endpoints on the wrong address. */
  readonly everBad: Set<string>;
  close(): void;
}

/** The simulated Envoys (ADS + HDS), each on its own connection. */
function connectFleet(xdsPort: number): Fleet {
  const clients: grpc.Client[] = [];
  const nodes = new Map<string, SimEnvoy>();
  const everBad = new Set<string>();
  for (const id of IDS) {
    const client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    clients.push(client);
    const node = new SimEnvoy(client, { id, token: TOKEN, region: REGION, hds: true });
    node.onChange = (n) => {
      if (n.mentions('endpoints', WRONG_ADDRESS)) everBad.add(id);
    };
    nodes.set(id, node);
  }
  return {
    nodes,
    everBad,
    close() {
      for (const node of nodes.values()) node.close();
      for (const client of clients) client.close();
    },
  };
}

interface Status {
  contextOrigin: string;
  canary: { state: string; reason?: string; generation: number } | null;
  rejected: Record<string, unknown>;
  profiles: Array<{ profile: string; origin: string; lastFailure: { at: string; problems: Array<{ template: string; message: string }> } | null }>;
  canaryHealth: { hdsStreams: number; checking: number };
}

describe('fault: a template renders valid-but-wrong config', () => {
  const dir = tempDataDir('bad-template');
  const ROUTES = ['tpl-alpha', 'tpl-beta'];
  let table: TestTable;
  const backends: Array<{ server: Server; port: number }> = [];
  const controlPlanes: LocalControlPlane[] = [];
  const fleets: Fleet[] = [];

  const start = (registry?: TemplateRegistry) =>
    startTestControlPlane(table.emulators.dynamodbEndpoint, {
      dataDir: dir.path,
      registry,
      routesRefreshMs: ROUTES_REFRESH_MS,
      settleMs: 300,
      persistDebounceMs: 50,
      convergenceReportMs: 0,
      canary: { fraction: 1 / IDS.length, soakMs: SOAK_MS, ackTimeoutMs: 10_000 },
      canaryHealth: { mode: 'hds', timeoutMs: HEALTH_TIMEOUT_MS },
    });

  const status = async (cp: LocalControlPlane) => (await (await fetch(`http://127.0.0.1:${cp.restPort}/status`, { signal: AbortSignal.timeout(5000) })).json()) as Status;
  const persisted = () => readFileSync(join(dir.path, 'control-plane', 'last-good-snapshot.json'), 'utf8');
  /** Whether a node holds every route's cluster with its endpoint on the backend's real address and port. */
  const holdsGood = (node: SimEnvoy) =>
    ROUTES.every((id) => node.holds('clusters', resourceBaseName(id)) && node.holds('endpoints', resourceBaseName(id))) &&
    node.mentions('endpoints', '127.0.0.1') &&
    !node.mentions('endpoints', WRONG_ADDRESS);

  beforeAll(async () => {
    table = await startTable();
    for (let i = 0; i < ROUTES.length; i++) backends.push(await listeningBackend());
    for (const [i, id] of ROUTES.entries()) await writeRoute(table, id, { hostnames: [`${id}.edge.example.com`], backends: [{ address: '127.0.0.1', port: backends[i].port, protocol: 'http' }] });
  });

  afterAll(async () => {
    for (const fleet of fleets) fleet.close();
    for (const cp of controlPlanes) await cp.stop();
    await table?.stop();
    for (const b of backends) await new Promise((resolve) => b.server.close(resolve));
    dir.remove();
  });

  it('is caught by the canary, halted and rolled back to the persisted good snapshot; the other nodes never get it', async () => {
    // The good control plane: every node holds the good endpoints, persisted under the data dir.
    const good = await start();
    controlPlanes.push(good);
    const before = connectFleet(good.xdsPort);
    fleets.push(before);
    await waitFor('every node holding the good config', () => [...before.nodes.values()].every(holdsGood) || undefined);
    await good.stop();
    before.close();
    expect(persisted()).toContain(resourceBaseName(ROUTES[0]));
    expect(persisted()).not.toContain(WRONG_ADDRESS);

    // The same data dir, the buggy template; the nodes reconnect once it has rendered (as after
    // a real restart: the sources answer within ms, proxies reconnect with a backoff). The
    // candidate waits for the first node to reconnect and canaries it.
    const bad = await start(wrongAddressRegistry());
    controlPlanes.push(bad);
    await waitFor('the first render after the restart', async () => (await status(bad)).contextOrigin === 'sources' || undefined);
    const fleet = connectFleet(bad.xdsPort);
    fleets.push(fleet);

    // Halted: the canary's health check finds no healthy endpoint in the changed clusters.
    const halted = await waitFor('the rollout halted', async () => {
      const s = await status(bad);
      return s.canary?.state === 'rolled-back' ? s : undefined;
    });
    for (const id of ROUTES) expect(halted.canary!.reason).toContain(`instance ${id}, cluster ${resourceBaseName(id)} has no healthy endpoint (${WRONG_ADDRESS}:`);

    // Exactly the canary got the candidate; its HDS reports showed the clusters unhealthy.
    expect(fleet.everBad.size).toBe(1);
    const canary = fleet.nodes.get([...fleet.everBad][0])!;
    for (const [i, id] of ROUTES.entries())
      expect(canary.hds!.reports.some((r) => r.clusters[resourceBaseName(id)]?.[`${WRONG_ADDRESS}:${backends[i].port}`] === 'UNHEALTHY')).toBe(true);

    // A render fault, not a bad change: reported on the profile, no route quarantined.
    expect(halted.rejected).toEqual({});
    const failure = halted.profiles.find((p) => p.lastFailure)?.lastFailure;
    expect(failure?.problems[0].message).toContain('failed canary health');
    expect(failure?.problems[0].message).toContain(resourceBaseName(ROUTES[0]));

    // Every node (the canary back from the candidate) holds the good endpoints.
    await waitFor('every node on the good endpoints', () => [...fleet.nodes.values()].every(holdsGood) || undefined, 10_000);

    // No loop: the same bad candidate is not rolled out again on the next refreshes.
    const specifiers = canary.hds!.specifiers.length;
    await sleep(Math.max(HEALTH_TIMEOUT_MS, 20 * ROUTES_REFRESH_MS) + SOAK_MS);
    const after = await status(bad);
    expect(after.canary).toEqual(halted.canary);
    expect(after.canaryHealth.checking).toBe(0);
    expect(canary.hds!.specifiers.length).toBe(specifiers);
    expect(bad.running.controlPlane.metrics.canaryRollbacks).toBe(1);
    // What pages on-call (control-plane-render-fault-held-back): one held-back render.
    expect(bad.running.controlPlane.metrics.renderFaultsHeldBack).toBe(1);
    expect(fleet.everBad.size).toBe(1);
    expect([...fleet.nodes.values()].every(holdsGood)).toBe(true);

    // The persisted last good snapshot is still the good one.
    expect(persisted()).not.toContain(WRONG_ADDRESS);
  });

  it('tries the bad template again only when something changes, and halts it again', async () => {
    const bad = controlPlanes[1];
    const fleet = fleets[1];
    const rollbacks = bad.running.controlPlane.metrics.canaryRollbacks;
    fleet.everBad.clear();
    const extra = await listeningBackend();
    backends.push(extra);
    const generation = await writeRoute(table, 'tpl-gamma', { hostnames: ['tpl-gamma.edge.example.com'], backends: [{ address: '127.0.0.1', port: extra.port, protocol: 'http' }] });
    const halted = await waitFor('the new rollout halted', async () => {
      const s = await status(bad);
      return s.canary?.state === 'rolled-back' && s.canary.generation >= generation ? s : undefined;
    });
    expect(halted.canary!.reason).toContain(`cluster ${resourceBaseName('tpl-gamma')} has no healthy endpoint (${WRONG_ADDRESS}:${extra.port}`);
    expect(bad.running.controlPlane.metrics.canaryRollbacks).toBe(rollbacks + 1);
    expect(bad.running.controlPlane.metrics.renderFaultsHeldBack).toBe(2);
    // The new route is held back with the render (not quarantined: the template is at fault).
    expect(halted.rejected).toEqual({});
    await waitFor('every node on the good endpoints', () => [...fleet.nodes.values()].every(holdsGood) || undefined, 10_000);
    // With every node connected, the canary is the one the hash picks; nobody else got the bad config.
    expect([...fleet.everBad]).toEqual(chooseCanaries(IDS, (id) => id, 1));
    expect(persisted()).not.toContain(WRONG_ADDRESS);
  });

  it('with no node reconnecting to canary it, serves the persisted snapshot for the reconnect wait only (bounded)', async () => {
    // The limit of a canary: with no ADS node, nothing can check the candidate. After a restart it
    // waits RESTART_CANARY_WAIT_MS for one; pollers get the persisted snapshot meanwhile, then the candidate.
    for (const fleet of fleets.splice(0)) fleet.close();
    for (const cp of controlPlanes.splice(0)) await cp.stop();
    const startedAt = Date.now();
    const bad = await start(wrongAddressRegistry());
    controlPlanes.push(bad);
    const cluster = resourceBaseName(ROUTES[0]);
    /** The endpoint addresses of a route's cluster as a REST poller (an Envoy node) gets them. */
    const polled = async () => {
      const response = await restDiscovery(`http://127.0.0.1:${bad.restPort}`, 'endpoints', {
        nodeId: 'tpl-rest-poller',
        node: { cluster: `edge-fleet-${REGION}`, locality: { region: REGION }, user_agent_build_version: { version: { major_number: 1, minor_number: 31, patch: 0 } } },
        token: TOKEN,
        resourceNames: [cluster],
      });
      const body = (await response.json()) as { resources?: Array<{ endpoints?: Array<{ lb_endpoints?: Lb[] }> }> };
      return (body.resources?.[0]?.endpoints ?? []).flatMap((l) => l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address);
    };
    await waitFor('the first render after the restart', async () => (await status(bad)).contextOrigin === 'sources' || undefined);
    expect(await polled()).toEqual(['127.0.0.1']);
    await sleep(Math.max(0, startedAt + RESTART_CANARY_WAIT_MS - 1000 - Date.now()));
    expect(await polled()).toEqual(['127.0.0.1']);
    await waitFor('the candidate promoted after the wait', async () => ((await polled())[0] === WRONG_ADDRESS ? true : undefined), RESTART_CANARY_WAIT_MS);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(RESTART_CANARY_WAIT_MS);
  });
});
