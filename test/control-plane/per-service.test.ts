/**
 * Per-service configuration on the wire (scale issue, item 1): a change renders, validates and
 * encodes one instance; nodes on Delta ADS get their virtual hosts over VHDS, one resource per
 * instance, so one service's route change sends that service's virtual host alone.
 */
import { ControlPlane } from '../../lib/control-plane/runtime/control-plane';
import { LocalControlPlane } from '../../lib/control-plane/runtime/local';
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { SnapshotRenderer } from '../../lib/control-plane/runtime/snapshot';
import { NodeInfo, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';
import { countingTemplates, envoyNode as fleetNode, httpBackend, renderSettings, routeDocument } from '../support/fixtures';
import { RawAdsClient, Response, TYPE, TestTable, envoyNode, startTable, startTestControlPlane, waitFor, writeRoute } from './support';

const VHDS = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
const settings = renderSettings();
const envoy: NodeInfo = fleetNode({ id: 'n1', cluster: 'fleet' });
const route = (id: string, generation: number, spec: Partial<RouteDocument['spec']> = {}) => routeDocument(id, { generation, spec });

describe('render what changed', () => {
  /** Counts the instances each template renders. */
  function counting(node: NodeInfo) {
    const { rendered, templates } = countingTemplates();
    const registry = new TemplateRegistry(templates);
    return { rendered, renderer: new SnapshotRenderer(registry, registry.profileOf(node), node) };
  }

  it('renders the per-instance resources of the changed instance only', () => {
    const { rendered, renderer } = counting({ ...envoy, deltaXds: true });
    const routes = Array.from({ length: 20 }, (_, i) => route(`svc${i}`, i + 1));
    const first = renderer.render({ settings, routes });
    if (!first.ok) throw new Error(JSON.stringify(first.problems));
    expect(first.snapshot.types.virtualHosts.resources.size).toBe(20);
    rendered.length = 0;
    const changed: RenderContext = { settings, routes: routes.map((r) => (r.instanceId === 'svc7' ? route('svc7', 99, { backends: [httpBackend('10.0.0.7', 81)] }) : r)) };
    const second = renderer.render(changed, first.snapshot);
    if (!second.ok) throw new Error(JSON.stringify(second.problems));
    expect(new Set(rendered)).toEqual(new Set(['edge-clusters:svc7', 'endpoints:svc7', 'edge-virtual-hosts:svc7']));
    expect(second.snapshot.types.endpoints.previous?.changed).toEqual(new Set(['svc-svc7']));
    // A settings change renders every instance again.
    rendered.length = 0;
    renderer.render({ ...changed, settings: { ...settings, httpsTrafficPort: 9443 } }, second.snapshot);
    expect(rendered.filter((r) => r.startsWith('edge-clusters:'))).toHaveLength(20);
  });

  it('swaps units in and out of the last assembly, and a failed render leaves it as it was', () => {
    const { renderer } = counting({ ...envoy, deltaXds: true });
    const names = (outcome: ReturnType<SnapshotRenderer['render']>) => (outcome.ok ? [...outcome.snapshot.types.clusters.resources.keys()].sort() : outcome.problems.map((p) => p.message));
    const first = renderer.render({ settings, routes: [route('a', 1), route('b', 2), route('c', 3)] });
    expect(names(first)).toEqual(['svc-a', 'svc-b', 'svc-c']);
    const removed = renderer.render({ settings, routes: [route('a', 1), route('c', 3)] }, first.ok ? first.snapshot : undefined);
    expect(names(removed)).toEqual(['svc-a', 'svc-c']);
    expect(removed.ok && [...removed.snapshot.types.virtualHosts.resources.keys()].sort()).toEqual(['edge-https/svc-a', 'edge-https/svc-c']);
    // Two instance ids with the same resource name: the render fails as a whole...
    const clash = renderer.render({ settings, routes: [route('a', 1), route('c', 3), route('C', 4, { hostnames: ['other.example.com'] })] });
    expect(clash.ok).toBe(false);
    // ... and the next render starts from the last good assembly.
    const again = renderer.render({ settings, routes: [route('a', 1), route('c', 3)] });
    expect(names(again)).toEqual(['svc-a', 'svc-c']);
    // The same resources give the same versions, whatever the order they were assembled in.
    const fresh = counting({ ...envoy, deltaXds: true }).renderer.render({ settings, routes: [route('a', 1), route('c', 3)] });
    if (!again.ok || !fresh.ok) throw new Error('render failed');
    for (const kind of ['listeners', 'routes', 'clusters', 'endpoints', 'virtualHosts'] as const) expect(again.snapshot.types[kind].version).toBe(fresh.snapshot.types[kind].version);
  });

  it('serves a hostname claimed twice once, in the virtual host of the first instance by id', () => {
    const { renderer } = counting({ ...envoy, deltaXds: true });
    const outcome = renderer.render({ settings, routes: [route('a', 1, { hostnames: ['shared.example.com', 'a.example.com'] }), route('b', 2, { hostnames: ['shared.example.com', 'b.example.com'] })] });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
    const domains = (name: string) => (outcome.snapshot.types.virtualHosts.resources.get(name)!.json as { domains: string[] }).domains;
    expect(domains('edge-https/svc-a')).toEqual(['shared.example.com', 'a.example.com']);
    expect(domains('edge-https/svc-b')).toEqual(['b.example.com']);
    expect(outcome.snapshot.warnings).toEqual([expect.objectContaining({ instanceId: 'b', message: expect.stringContaining('shared.example.com is already served') })]);
  });

  it('gives SotW nodes the virtual hosts inline and Delta nodes a route table that points at VHDS', () => {
    const registry = new TemplateRegistry();
    const sotw = new SnapshotRenderer(registry, registry.profileOf(envoy), envoy).render({ settings, routes: [route('a', 1)] });
    const delta = new SnapshotRenderer(registry, registry.profileOf({ ...envoy, deltaXds: true }), { ...envoy, deltaXds: true }).render({ settings, routes: [route('a', 1)] });
    if (!sotw.ok || !delta.ok) throw new Error('render failed');
    expect(registry.profileOf(envoy)).not.toBe(registry.profileOf({ ...envoy, deltaXds: true }));
    expect((sotw.snapshot.types.routes.resources.get('edge-https')!.json as { virtual_hosts: unknown[] }).virtual_hosts).toHaveLength(1);
    expect(sotw.snapshot.types.virtualHosts.resources.size).toBe(0);
    expect(delta.snapshot.types.routes.resources.get('edge-https')!.json).toMatchObject({ vhds: { config_source: { ads: {}, resource_api_version: 'V3' } } });
    expect(delta.snapshot.types.routes.resources.get('edge-https')!.json).not.toHaveProperty('virtual_hosts');
    expect([...delta.snapshot.types.virtualHosts.resources.keys()]).toEqual(['edge-https/svc-a']);
  });
});

describe('profiles', () => {
  it('drops profiles no node used for the idle time, and the longest idle past the cap', async () => {
    const cp = new ControlPlane({ region: 'us-east-1', authToken: 't', settings, sources: [], maxProfiles: 2, profileIdleMs: 60_000 });
    cp.rebuild();
    const a = cp.profileFor({ ...envoy, region: 'eu-west-1' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    cp.profileFor({ ...envoy, region: 'us-west-2' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    cp.profileFor({ ...envoy, region: 'ap-south-1' });
    // The cap: the longest idle (eu-west-1) made room.
    expect([...cp.profiles.keys()].map((k) => k.split('|')[0]).sort()).toEqual(['ap-south-1', 'us-west-2']);
    expect(cp.profiles.has(a.key)).toBe(false);

    const idle = new ControlPlane({ region: 'us-east-1', authToken: 't', settings, sources: [], profileIdleMs: 1 });
    idle.rebuild();
    idle.profileFor(envoy);
    await new Promise((resolve) => setTimeout(resolve, 10));
    idle.rebuild();
    expect(idle.profiles.size).toBe(0);
    await cp.stop();
    await idle.stop();
  });
});

describe('VHDS over Delta ADS', () => {
  let table: TestTable;
  let cp: LocalControlPlane;
  const clients: RawAdsClient[] = [];
  const backend = (port: number) => httpBackend('10.0.0.1', port);

  beforeAll(async () => {
    table = await startTable();
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(8001)] });
    await writeRoute(table, 'beta', { hostnames: ['beta.edge.example.com'], backends: [backend(8002)] });
    cp = await startTestControlPlane(table.emulators.dynamodbEndpoint, { routesRefreshMs: 100, settleMs: 300, canary: { fraction: 0 } });
    await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${cp.restPort}/readyz`)).status === 200 || undefined);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.stop();
    await table?.stop();
  });

  it("serves the route table's virtual hosts one resource each, and one service's route change sends its virtual host alone", async () => {
    const c = new RawAdsClient(cp.xdsPort, true);
    clients.push(c);
    const ack = (r: Response) => c.send({ type_url: r.type_url, response_nonce: r.nonce });
    c.send({ node: envoyNode('vhds-node'), type_url: TYPE.clusters });
    ack(await c.next(TYPE.clusters));
    c.send({ type_url: TYPE.endpoints, resource_names_subscribe: ['svc-alpha', 'svc-beta'] });
    ack(await c.next(TYPE.endpoints));
    c.send({ type_url: TYPE.listeners });
    ack(await c.next(TYPE.listeners));
    c.send({ type_url: TYPE.routes, resource_names_subscribe: ['edge-https'] });
    const rds = await c.next(TYPE.routes);
    expect(rds.resources[0].value).toMatchObject({ name: 'edge-https', vhds: { config_source: { ads: {} } } });
    ack(rds);
    // Envoy's VHDS subscription names the route configuration (source/common/router/vhds.cc).
    c.send({ type_url: VHDS, resource_names_subscribe: ['edge-https'] });
    const vhds = await c.next(VHDS);
    expect(vhds.resources.map((r) => r.name).sort()).toEqual(['edge-https/svc-alpha', 'edge-https/svc-beta']);
    expect(vhds.resources.find((r) => r.name === 'edge-https/svc-alpha')!.value).toMatchObject({ name: 'edge-https/svc-alpha', domains: ['alpha.edge.example.com'] });
    ack(vhds);
    await c.nothingFor(300);

    // A route change of alpha (a rewrite): the node gets alpha's virtual host and nothing else.
    const before = c.responses.length;
    await writeRoute(table, 'alpha', { hostnames: ['alpha.edge.example.com'], backends: [backend(8001)], routes: [{ match: { prefix: '/' }, rewrite: { prefix: '/v2/' } }] });
    const change = await c.next(VHDS);
    expect(change.resources.map((r) => r.name)).toEqual(['edge-https/svc-alpha']);
    ack(change);
    await c.nothingFor(400);
    expect(c.responses.slice(before).map((r) => r.type_url)).toEqual([VHDS]);

    // Deprovisioning removes the virtual host (before the cluster it routes to).
    await writeRoute(table, 'beta', { hostnames: ['beta.edge.example.com'], backends: [backend(8002)] }, true);
    const removal: Response[] = [];
    while (!removal.some((r) => r.type_url === TYPE.clusters)) {
      const r = await c.next();
      removal.push(r);
      ack(r);
    }
    const vhAt = removal.findIndex((r) => r.type_url === VHDS && (r.removed_resources ?? []).includes('edge-https/svc-beta'));
    const cdsAt = removal.findIndex((r) => r.type_url === TYPE.clusters && (r.removed_resources ?? []).includes('svc-beta'));
    expect(vhAt).toBeGreaterThanOrEqual(0);
    expect(cdsAt).toBeGreaterThan(vhAt);
  });
});
