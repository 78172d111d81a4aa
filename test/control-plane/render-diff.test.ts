/**
 * Render what changed, at the cost of what changed (issue 16): the context merge hands the
 * render the instances whose route changed (sources/merge.ts ContextRevisions), and the
 * renderer revisits those alone on its persistent assembly (snapshot.ts, render/resource-map.ts).
 * Each test checks what a node is sent against names and versions known from the routes, and
 * against a renderer that renders every instance of the same context (no revision).
 */
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { RESOURCE_KINDS } from '../../lib/control-plane/runtime/protos';
import { ResourceMap } from '../../lib/control-plane/runtime/render/resource-map';
import { SharedUnits } from '../../lib/control-plane/runtime/render/shared-units';
import { Snapshot, SnapshotRenderer, mixOf } from '../../lib/control-plane/runtime/snapshot';
import { ContextRevisions } from '../../lib/control-plane/runtime/sources/merge';
import { DEFAULT_TEMPLATES, NodeInfo, Template, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { RouteDocument } from '../../lib/model';
import { countingTemplates, envoyNode, httpBackend, renderSettings, routeDocument } from '../support/fixtures';

const settings = renderSettings();
const delta: NodeInfo = envoyNode({ id: 'n1', cluster: 'fleet', deltaXds: true });
const route = (id: string, generation: number, spec: Partial<RouteDocument['spec']> = {}) => routeDocument(id, { generation, spec });

/** A renderer whose per-instance templates record what they render (`<template id>:<instance id>`). */
function counting(node: NodeInfo = delta) {
  const { rendered, templates } = countingTemplates();
  const registry = new TemplateRegistry(templates);
  return { rendered, renderer: new SnapshotRenderer(registry, registry.profileOf(node), node) };
}

/** The instances a counting renderer rendered. */
const instancesIn = (rendered: string[]) => new Set(rendered.map((r) => r.slice(r.indexOf(':') + 1)));

function ok(outcome: ReturnType<SnapshotRenderer['render']>): Snapshot {
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
  return outcome.snapshot;
}

/** What a node is sent: per type, each resource's name and version. */
function sent(snapshot: Snapshot): Record<string, Record<string, string>> {
  return Object.fromEntries(RESOURCE_KINDS.map((k) => [k, Object.fromEntries([...snapshot.types[k].resources.values()].map((r) => [r.name, r.version]))]));
}

/** The same context rendered whole by a renderer of its own (every instance revisited). */
function whole(context: RenderContext, node: NodeInfo = delta): Snapshot {
  const { revision: _revision, ...plain } = context;
  const registry = new TemplateRegistry();
  return ok(new SnapshotRenderer(registry, registry.profileOf(node), node).render(plain));
}

/** A node whose route table holds the virtual hosts inline (State of the World). */
const sotw: NodeInfo = { ...delta, deltaXds: undefined };
/** A generation Envoy refuses: a local rate limit of 0 requests (token_bucket.max_tokens must be > 0). */
const refused = (id: string, generation: number) => route(id, generation, { rate_limit: { requests_per_unit: 0, unit: 'second' } });

const ROUTES = Array.from({ length: 30 }, (_, i) => route(`svc${String(i).padStart(2, '0')}`, i + 1));

describe('the per-instance diff from the merge to the render', () => {
  it('revisits only the changed instance, and serves what a whole render serves', () => {
    const revisions = new ContextRevisions();
    const { rendered, renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    expect(renderer.lastPass).toEqual({ kind: 'all', instances: 30 });
    rendered.length = 0;
    const moved = route('svc07', 99, { backends: [httpBackend('10.0.0.7', 81)] });
    const context = revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc07' ? moved : r)) });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(instancesIn(rendered)).toEqual(new Set(['svc07']));
    expect(second.types.endpoints.previous?.changed).toEqual(new Set(['svc-svc07']));
    // A backend move changes the endpoints only (the EDS cluster and the virtual host name the cluster, not the address).
    expect(second.types.virtualHosts.previous?.changed).toEqual(new Set());
    expect(second.types.clusters.previous?.changed).toEqual(new Set());
    expect(sent(second)).toEqual(sent(whole(context)));
    for (const kind of RESOURCE_KINDS) expect(second.types[kind].version).toBe(whole(context).types[kind].version);
    // The snapshot before (the stable one, while this one is a candidate) is as it was.
    expect((first.types.endpoints.resources.get('svc-svc07')!.json as { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }> }).endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(80);
  });

  it("removes a removed instance's resources, and adds an added one's", () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const routes = [...ROUTES.filter((r) => r.instanceId !== 'svc03'), route('svc99', 1)];
    const context = revisions.stamp({ settings, routes });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 2 });
    for (const kind of ['clusters', 'endpoints'] as const) {
      expect(second.types[kind].resources.has('svc-svc03')).toBe(false);
      expect(second.types[kind].resources.has('svc-svc99')).toBe(true);
      expect(second.types[kind].resources.size).toBe(30);
    }
    expect(second.types.virtualHosts.resources.has('edge-https/svc-svc03')).toBe(false);
    expect(second.types.virtualHosts.previous?.removed).toEqual(['edge-https/svc-svc03']);
    expect(second.types.endpoints.previous?.removed).toEqual(['svc-svc03']);
    // Make-before-break: the removed cluster stays in the transitional set.
    expect(second.transitionalClusters?.resources.has('svc-svc03')).toBe(true);
    expect(sent(second)).toEqual(sent(whole(context)));
    // And back: the instance returns with the same resources as before it left.
    const third = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES }), second));
    expect(sent(third)).toEqual(sent(first));
    for (const kind of RESOURCE_KINDS) expect(third.types[kind].version).toBe(first.types[kind].version);
  });

  it('re-renders every instance when the context changed in something other than a route', () => {
    const revisions = new ContextRevisions();
    const { rendered, renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    rendered.length = 0;
    const context = revisions.stamp({ settings: { ...settings, accessLogPath: '/var/log/envoy/access.log' }, routes: ROUTES });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'all', instances: 30 });
    expect(instancesIn(rendered).size).toBe(30);
    expect(sent(second)).toEqual(sent(whole(context)));
    // The cdn origin values are part of every cdn virtual host: a change re-renders all too.
    rendered.length = 0;
    ok(renderer.render(revisions.stamp({ settings: context.settings, routes: ROUTES, cdnOrigin: { values: ['s3cret'] } }), second));
    expect(renderer.lastPass?.kind).toBe('all');
  });

  it('takes every change since its last good render, over several merges and a failed render', () => {
    const revisions = new ContextRevisions();
    const broken: Template = {
      id: 'edge-listeners-broken',
      kind: 'listeners',
      description: 'fails when asked to',
      appliesTo: () => true,
      render: ({ context }) => {
        if (context.settings.platformName === 'fail') throw new Error('boom');
        return [];
      },
    };
    const registry = new TemplateRegistry([...DEFAULT_TEMPLATES, broken]);
    const renderer = new SnapshotRenderer(registry, registry.profileOf(delta), delta);
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const a = route('svc01', 50, { backends: [httpBackend('10.0.0.9', 90)] });
    revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc01' ? a : r)) }); // never rendered (a profile on a train)
    const b = route('svc02', 51, { backends: [httpBackend('10.0.0.9', 91)] });
    const routes = ROUTES.map((r) => (r.instanceId === 'svc01' ? a : r.instanceId === 'svc02' ? b : r));
    const context = revisions.stamp({ settings, routes });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 2 });
    expect(second.types.endpoints.previous?.changed).toEqual(new Set(['svc-svc01', 'svc-svc02']));
    // A render that fails leaves the assembly as it was: the next one still takes svc03's change.
    const c = route('svc03', 52, { backends: [httpBackend('10.0.0.9', 92)] });
    const withC = routes.map((r) => (r.instanceId === 'svc03' ? c : r));
    expect(renderer.render(revisions.stamp({ settings: { ...settings, platformName: 'fail' }, routes: withC }), second).ok).toBe(false);
    const third = ok(renderer.render(revisions.stamp({ settings, routes: withC }), second));
    expect(third.types.endpoints.previous?.changed).toEqual(new Set(['svc-svc03']));
    expect(sent(third)).toEqual(sent(whole({ settings, routes: withC })));
  });

  it('revisits every instance when a change touches a hostname another instance lists', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    // svc05 now also asks for svc06's hostname: svc05 (the lower id) takes it, svc06 loses it.
    const taken = route('svc05', 70, { hostnames: ['svc05.edge.example.com', 'svc06.edge.example.com'] });
    const context = revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc05' ? taken : r)) });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass?.kind).toBe('all');
    expect(second.types.virtualHosts.resources.has('edge-https/svc-svc06')).toBe(false);
    expect(second.warnings).toEqual([expect.objectContaining({ instanceId: 'svc06', message: expect.stringContaining('svc06.edge.example.com is already served') })]);
    expect(sent(second)).toEqual(sent(whole(context)));
    // svc05 lets it go: svc06 gets its virtual host back (again a whole pass: the hostname was shared).
    const third = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc05' ? route('svc05', 71) : r)) }), second));
    expect(renderer.lastPass?.kind).toBe('all');
    expect(third.types.virtualHosts.resources.has('edge-https/svc-svc06')).toBe(true);
    expect(third.warnings).toEqual([]);
  });

  it('keeps serving the last good generation of an instance whose change is invalid, on the changed path', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const invalid = route('svc04', 80, { backends: [httpBackend('10.0.0.4', 70000)] });
    const context = revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc04' ? invalid : r)) });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(second.excluded).toEqual([expect.objectContaining({ instanceId: 'svc04', generation: 80, servedGeneration: 5 })]);
    expect(second.types.endpoints.resources.get('svc-svc04')!.version).toBe(first.types.endpoints.resources.get('svc-svc04')!.version);
    for (const kind of RESOURCE_KINDS) expect(second.types[kind].version).toBe(first.types[kind].version);
    // Another instance changes: svc04 stays excluded and held.
    const third = ok(renderer.render(revisions.stamp({ settings, routes: context.routes.map((r) => (r.instanceId === 'svc09' ? route('svc09', 81) : r)) }), second));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(third.excluded.map((e) => e.instanceId)).toEqual(['svc04']);
    expect(third.types.endpoints.resources.get('svc-svc04')!.version).toBe(first.types.endpoints.resources.get('svc-svc04')!.version);
  });
});

describe('the per-instance diff: what each render keeps from the last', () => {
  it('keeps reporting a warned instance while other instances change', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const taken = route('svc05', 70, { hostnames: ['svc05.edge.example.com', 'svc06.edge.example.com'] });
    const withTaken = ROUTES.map((r) => (r.instanceId === 'svc05' ? taken : r));
    const first = ok(renderer.render(revisions.stamp({ settings, routes: withTaken })));
    const warning = expect.objectContaining({ instanceId: 'svc06', message: expect.stringContaining('svc06.edge.example.com is already served') });
    expect(first.warnings).toEqual([warning]);
    const moved = withTaken.map((r) => (r.instanceId === 'svc09' ? route('svc09', 90, { backends: [httpBackend('10.0.0.9', 80)] }) : r));
    const second = ok(renderer.render(revisions.stamp({ settings, routes: moved }), first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(second.warnings).toEqual([warning]);
    expect(second.types.virtualHosts.resources.has('edge-https/svc-svc06')).toBe(false);
  });

  it('stops reporting an excluded instance once its next generation is valid, on the changed path', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES.map((r) => (r.instanceId === 'svc04' ? refused('svc04', 80) : r)) })));
    expect(first.excluded.map((e) => [e.instanceId, e.servedGeneration])).toEqual([['svc04', undefined]]);
    expect(first.types.clusters.resources.has('svc-svc04')).toBe(false);
    const fixed = ROUTES.map((r) => (r.instanceId === 'svc04' ? route('svc04', 81) : r));
    const second = ok(renderer.render(revisions.stamp({ settings, routes: fixed }), first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(second.excluded).toEqual([]);
    expect(second.types.clusters.resources.has('svc-svc04')).toBe(true);
    expect(sent(second)).toEqual(sent(whole({ settings, routes: fixed })));
  });

  it('keeps an excluded instance out of the templates over every instance while another instance changes (inline route table)', () => {
    const revisions = new ContextRevisions();
    const renderer = new SnapshotRenderer(new TemplateRegistry(), new TemplateRegistry().profileOf(sotw), sotw);
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const bad = ROUTES.map((r) => (r.instanceId === 'svc04' ? refused('svc04', 80) : r));
    const second = ok(renderer.render(revisions.stamp({ settings, routes: bad }), first));
    expect(second.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration])).toEqual([['svc04', 80, 5]]);
    for (const kind of RESOURCE_KINDS) expect(second.types[kind].version).toBe(first.types[kind].version);
    const other = bad.map((r) => (r.instanceId === 'svc09' ? route('svc09', 90, { backends: [httpBackend('10.0.0.9', 80)] }) : r));
    const third = ok(renderer.render(revisions.stamp({ settings, routes: other }), second));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(third.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration])).toEqual([['svc04', 80, 5]]);
    expect(third.types.routes.version).toBe(first.types.routes.version);
    expect([...third.types.endpoints.previous!.changed]).toEqual(['svc-svc09']);
  });

  it('forgets an instance removed on the changed path: back with an invalid generation, it is left out', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const without = ROUTES.filter((r) => r.instanceId !== 'svc03');
    const second = ok(renderer.render(revisions.stamp({ settings, routes: without }), first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    const back = [...without, refused('svc03', 60)];
    const third = ok(renderer.render(revisions.stamp({ settings, routes: back }), second));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(third.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration])).toEqual([['svc03', 60, undefined]]);
    expect(third.types.clusters.resources.has('svc-svc03')).toBe(false);
  });

  it('revisits every instance when two changed instances ask for the same new hostname: the first by id serves it', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const shared = 'new.edge.example.com';
    const routes = ROUTES.map((r) => (r.instanceId === 'svc11' || r.instanceId === 'svc12' ? route(r.instanceId, 100, { hostnames: [`${r.instanceId}.edge.example.com`, shared] }) : r));
    const context = revisions.stamp({ settings, routes });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass?.kind).toBe('all');
    const domains = (id: string) => (second.types.virtualHosts.resources.get(`edge-https/svc-${id}`)!.json as { domains: string[] }).domains;
    expect(domains('svc11')).toContain(shared);
    expect(domains('svc12')).not.toContain(shared);
    expect(second.warnings).toEqual([expect.objectContaining({ instanceId: 'svc12', message: expect.stringContaining(`${shared} is already served`) })]);
    expect(sent(second)).toEqual(sent(whole(context)));
  });

  it('revisits every instance when a changed instance still lists a hostname another instance serves', () => {
    const revisions = new ContextRevisions();
    const { renderer } = counting();
    const taken = ROUTES.map((r) => (r.instanceId === 'svc05' ? route('svc05', 70, { hostnames: ['svc05.edge.example.com', 'svc06.edge.example.com'] }) : r));
    const first = ok(renderer.render(revisions.stamp({ settings, routes: taken })));
    // svc06 changes its backend only: it still lists the hostname svc05 serves, so the change is not its alone.
    const routes = taken.map((r) => (r.instanceId === 'svc06' ? route('svc06', 71, { backends: [httpBackend('10.0.0.6', 80)] }) : r));
    const context = revisions.stamp({ settings, routes });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass?.kind).toBe('all');
    expect(sent(second)).toEqual(sent(whole(context)));
  });

  it('on a node with the virtual hosts inline, a change to a shared hostname re-renders that instance only: the route table is rendered over every instance anyway', () => {
    const revisions = new ContextRevisions();
    const renderer = new SnapshotRenderer(new TemplateRegistry(), new TemplateRegistry().profileOf(sotw), sotw);
    const first = ok(renderer.render(revisions.stamp({ settings, routes: ROUTES })));
    const routes = ROUTES.map((r) => (r.instanceId === 'svc05' ? route('svc05', 70, { hostnames: ['svc05.edge.example.com', 'svc06.edge.example.com'] }) : r));
    const context = revisions.stamp({ settings, routes });
    const second = ok(renderer.render(context, first));
    expect(renderer.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(sent(second)).toEqual(sent(whole(context, sotw)));
  });
});

describe('ResourceMap', () => {
  const res = (name: string, version: string) => ({ name, version, json: {}, any: new Uint8Array(), deltaEntry: new Uint8Array(), template: 't', instanceIds: [] });

  it('copies on write: an edit leaves the map it started from as it was', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `r${i}`);
    const base = ResourceMap.of(mixOf, names.map((n) => [n, res(n, 'v1')] as const));
    const editor = base.edit();
    editor.set('r1', res('r1', 'v2'));
    editor.delete('r2');
    editor.set('new', res('new', 'v1'));
    const next = editor.seal();
    expect(base.get('r1')!.version).toBe('v1');
    expect(base.has('r2')).toBe(true);
    expect(base.size).toBe(1000);
    expect(next.get('r1')!.version).toBe('v2');
    expect(next.has('r2')).toBe(false);
    expect(next.size).toBe(1000);
    expect([...next.keys()].sort()).toEqual([...names.filter((n) => n !== 'r2'), 'new'].sort());
    const diff = next.diff(base);
    expect(diff.changed).toEqual(new Set(['r1', 'new']));
    expect(diff.removed).toEqual(['r2']);
    // The same diff against a plain map with the same entries.
    expect(next.diff(new Map(base))).toEqual(diff);
  });

  it('hashes its content whatever the order it was built in', () => {
    const entries = Array.from({ length: 300 }, (_, i) => [`r${i}`, res(`r${i}`, `v${i % 7}`)] as const);
    const one = ResourceMap.of(mixOf, entries);
    const two = ResourceMap.of(mixOf, [...entries].reverse());
    expect(two.sums()).toEqual(one.sums());
    const editor = one.edit();
    editor.set('r5', res('r5', 'other'));
    expect(editor.seal().sums()).not.toEqual(one.sums());
    const back = one.edit();
    back.delete('r5');
    back.set('r5', entries[5][1]);
    expect(back.seal().sums()).toEqual(one.sums());
  });
});

describe('profiles share rendered resources', () => {
  it('renders and validates an instance once for two profiles of a region that apply the same template, and both serve the same objects', () => {
    const { rendered: renders, templates } = countingTemplates();
    const registry = new TemplateRegistry(templates);
    const shared = new SharedUnits();
    const sotwNode: NodeInfo = { ...delta, deltaXds: undefined };
    const sotw = new SnapshotRenderer(registry, registry.profileOf(sotwNode), sotwNode, shared);
    const vhds = new SnapshotRenderer(registry, registry.profileOf(delta), delta, shared);
    const revisions = new ContextRevisions();
    const context = revisions.stamp({ settings, routes: ROUTES.slice(0, 5) });
    const a = ok(sotw.render(context));
    const b = ok(vhds.render(context));
    // Clusters and endpoints: once per instance for both profiles; the VHDS virtual hosts are the Delta profile's own.
    expect(renders.filter((r) => r.startsWith('edge-clusters:')).sort()).toEqual(ROUTES.slice(0, 5).map((r) => `edge-clusters:${r.instanceId}`));
    expect(renders.filter((r) => r.startsWith('endpoints:')).sort()).toEqual(ROUTES.slice(0, 5).map((r) => `endpoints:${r.instanceId}`));
    expect(renders.filter((r) => r.startsWith('edge-virtual-hosts:'))).toHaveLength(5);
    for (const kind of ['clusters', 'endpoints'] as const) for (const name of a.types[kind].resources.keys()) expect(b.types[kind].resources.get(name)).toBe(a.types[kind].resources.get(name));
    expect(a.types.virtualHosts.resources.size).toBe(0);
    // A change: the first profile to render it renders it, the other takes it.
    renders.length = 0;
    const next = revisions.stamp({ settings, routes: ROUTES.slice(0, 5).map((r) => (r.instanceId === 'svc02' ? route('svc02', 40, { backends: [httpBackend('10.0.0.2', 82)] }) : r)) });
    const a2 = ok(sotw.render(next, a));
    const b2 = ok(vhds.render(next, b));
    expect(renders.filter((r) => !r.startsWith('edge-virtual-hosts:')).sort()).toEqual(['edge-clusters:svc02', 'endpoints:svc02']);
    expect(b2.types.endpoints.resources.get('svc-svc02')).toBe(a2.types.endpoints.resources.get('svc-svc02'));
    // Another region's profile has endpoint priorities of its own: not shared.
    const euNode: NodeInfo = { ...delta, region: 'eu-west-1' };
    const eu = ok(new SnapshotRenderer(registry, registry.profileOf(euNode), euNode, shared).render(next));
    expect(eu.types.endpoints.resources.get('svc-svc02')).not.toBe(b2.types.endpoints.resources.get('svc-svc02'));
  });
});
