/**
 * The render stage's parts called directly, no gRPC (issue 17: fast enough to run once per
 * mutant): the copy-on-write ResourceMap, the SharedUnits of the profiles, the type snapshots'
 * versions and diffs, encodeResource's wire forms, reference checks, and RenderStage's outcomes.
 * Expected values come from the rules (docs/control-plane.md "Stages", "Per-service routes";
 * google.protobuf.Any and envoy.service.discovery.v3.Resource as Envoy's protos define them,
 * decoded with the vendored protos), never from the code under test.
 */
import { createHash } from 'node:crypto';
import { AUTHZ_PLACEHOLDER_CLUSTER } from '../../lib/control-plane/runtime/authz-override';
import { sameVersions, versionsOf } from '../../lib/control-plane/runtime/cache/snapshot-cache';
import { ProfileState } from '../../lib/control-plane/runtime/cache/types';
import { RenderContext } from '../../lib/control-plane/runtime/context';
import { Logger } from '../../lib/control-plane/runtime/logger';
import { Metrics } from '../../lib/control-plane/runtime/metrics';
import { RESOURCE_KINDS, TYPE_URLS, messageType } from '../../lib/control-plane/runtime/protos';
import { RenderStage } from '../../lib/control-plane/runtime/render/render-stage';
import { Mixed, ResourceMap, SHARDS } from '../../lib/control-plane/runtime/render/resource-map';
import { SharedUnits } from '../../lib/control-plane/runtime/render/shared-units';
import { ContextRevisions } from '../../lib/control-plane/runtime/sources/merge';
import { EncodedResource, RenderOutcome, Snapshot, SnapshotRenderer, checkReferences, encodeResource, mixOf, typeSnapshot } from '../../lib/control-plane/runtime/snapshot';
import { NodeInfo, Template, TemplateRegistry } from '../../lib/control-plane/runtime/templates';
import { envoyNode, renderSettings, routeDocument } from '../support/fixtures';

type Item = Mixed & { readonly tag?: string };
/** A mix known from the test: two words of sha256(name:version), as snapshot.ts documents. */
const sha = (item: Mixed): readonly [number, number] => {
  const d = createHash('sha256').update(`${item.name}:${item.version}`).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
};
const item = (name: string, version = 'v1'): Item => ({ name, version });
const names = (n: number) => Array.from({ length: n }, (_, i) => `res-${i}`);
/** The FNV-1a shard index, written from the algorithm's definition (offset 2166136261, prime 16777619). */
function fnvShard(name: string): number {
  let h = 2166136261n;
  for (let i = 0; i < name.length; i++) {
    h ^= BigInt(name.charCodeAt(i));
    h = (h * 16777619n) % 2n ** 32n;
  }
  return Number(h % BigInt(SHARDS));
}

describe('ResourceMap', () => {
  const build = (list: readonly Item[]) => ResourceMap.of(sha, list.map((i) => [i.name, i] as const));

  it('reads like a Map: get, has, size, every entry once in keys, values, entries, forEach and iteration', () => {
    const list = names(600).map((n) => item(n, `v-${n}`));
    const map = build(list);
    expect(map.size).toBe(600);
    expect(map.get('res-17')).toBe(list[17]);
    expect(map.get('nope')).toBeUndefined();
    expect(map.has('res-599')).toBe(true);
    expect(map.has('res-600')).toBe(false);
    const want = list.map((i) => i.name).sort();
    expect([...map.keys()].sort()).toEqual(want);
    expect([...map.values()].map((v) => v.name).sort()).toEqual(want);
    expect([...map.entries()].map(([k, v]) => `${k}=${v.version}`).sort()).toEqual(list.map((i) => `${i.name}=${i.version}`).sort());
    expect([...map].map(([k]) => k).sort()).toEqual(want);
    const seen: string[] = [];
    const self = { marker: 1 };
    map.forEach(function (this: unknown, value, key, m) {
      expect(this).toBe(self);
      expect(m).toBe(map);
      expect(value.name).toBe(key);
      seen.push(key);
    }, self);
    expect(seen.sort()).toEqual(want);
    const it = map.keys();
    expect(it[Symbol.iterator]()).toBe(it);
  });

  it('keeps entries in the FNV-1a shard of their name, and an empty map has no shards', () => {
    const map = build(names(40).map((n) => item(n)));
    for (const n of names(40)) expect(map.shards[fnvShard(n)]?.map.get(n)?.name).toBe(n);
    expect(map.shards).toHaveLength(SHARDS);
    const empty = ResourceMap.empty(sha);
    expect(empty.size).toBe(0);
    expect(empty.shards.every((s) => s === undefined)).toBe(true);
    expect([...empty.keys()]).toEqual([]);
    expect(empty.sums()).toEqual([0, 0]);
    expect(empty.has('x')).toBe(false);
    expect(empty.get('x')).toBeUndefined();
    const editor = empty.edit();
    expect(editor.has('x')).toBe(false);
    expect(editor.get('x')).toBeUndefined();
    expect(editor.delete('x')).toBe(false);
    expect(editor.seal().size).toBe(0);
  });

  it('sums the mixes modulo 2^32, whatever the order, and takes a replaced or deleted value out', () => {
    const list = names(50).map((n) => item(n));
    const expected = list.reduce<[number, number]>(([a, b], i) => [Number((BigInt(a) + BigInt(sha(i)[0])) % 2n ** 32n), Number((BigInt(b) + BigInt(sha(i)[1])) % 2n ** 32n)], [0, 0]);
    expect(build(list).sums()).toEqual(expected);
    expect(build([...list].reverse()).sums()).toEqual(expected);
    const editor = build(list).edit();
    editor.set('res-3', item('res-3', 'v2'));
    editor.set('res-3', item('res-3', 'v1'));
    editor.set('extra', item('extra'));
    expect(editor.delete('extra')).toBe(true);
    expect(editor.delete('extra')).toBe(false);
    const again = editor.seal();
    expect(again.sums()).toEqual(expected);
    expect(again.size).toBe(50);
  });

  it('copies only the shards an edit changes; the older map stays as it was', () => {
    const list = names(300).map((n) => item(n));
    const older = build(list);
    const editor = older.edit();
    editor.set('res-5', item('res-5', 'v2'));
    expect(editor.get('res-5')?.version).toBe('v2');
    expect(editor.has('res-5')).toBe(true);
    expect(editor.has('absent')).toBe(false);
    expect(editor.get('absent')).toBeUndefined();
    expect(editor.delete('absent')).toBe(false);
    expect(editor.delete('res-6')).toBe(true);
    const newer = editor.seal();
    expect(older.get('res-5')?.version).toBe('v1');
    expect(older.has('res-6')).toBe(true);
    expect(older.size).toBe(300);
    expect(newer.size).toBe(299);
    const touched = new Set([fnvShard('res-5'), fnvShard('res-6')]);
    for (let i = 0; i < SHARDS; i++) {
      if (touched.has(i)) expect(newer.shards[i]).not.toBe(older.shards[i]);
      else expect(newer.shards[i]).toBe(older.shards[i]);
    }
    expect(() => editor.set('late', item('late'))).toThrow(/sealed/);
  });

  it('drops a shard left empty, and an editor that changes nothing gives the same shards', () => {
    const one = build([item('only')]);
    const editor = one.edit();
    expect(editor.delete('only')).toBe(true);
    const none = editor.seal();
    expect(none.size).toBe(0);
    expect(none.shards[fnvShard('only')]).toBeUndefined();
    const same = one.edit().seal();
    expect(same.shards).toEqual(one.shards);
    expect(same.shards[fnvShard('only')]).toBe(one.shards[fnvShard('only')]);
  });

  it('diffs against an older map of its lineage: new and re-versioned names changed, missing ones removed, shared shards skipped', () => {
    const older = build(names(100).map((n) => item(n)));
    const editor = older.edit();
    editor.set('res-1', item('res-1', 'v2'));
    editor.set('res-2', item('res-2', 'v1'));
    editor.set('new', item('new'));
    editor.delete('res-3');
    const newer = editor.seal();
    const { changed, removed } = newer.diff(older);
    expect([...changed].sort()).toEqual(['new', 'res-1']);
    expect(removed).toEqual(['res-3']);
    expect(newer.diff(newer)).toEqual({ changed: new Set(), removed: [] });
    // A map built apart (no shared shards) with the same content: nothing changed.
    expect(build(names(100).map((n) => item(n))).diff(older)).toEqual({ changed: new Set(), removed: [] });
    // Removed from a shard that is now empty.
    const lone = build([item('a'), item('b')]);
    const e = lone.edit();
    e.delete('a');
    expect(e.seal().diff(lone)).toEqual({ changed: new Set(), removed: ['a'] });
  });

  it('diffs against a plain Map by name and version', () => {
    const newer = build([item('a', 'v1'), item('b', 'v2'), item('c')]);
    const plain = new Map<string, Item>([
      ['a', item('a', 'v1')],
      ['b', item('b', 'v1')],
      ['gone', item('gone')],
    ]);
    const { changed, removed } = newer.diff(plain);
    expect([...changed].sort()).toEqual(['b', 'c']);
    expect(removed).toEqual(['gone']);
    // Nothing changed but one fewer: the removed name still shows.
    const fewer = newer.diff(new Map([...newer.entries(), ['old', item('old')]]));
    expect(fewer).toEqual({ changed: new Set(), removed: ['old'] });
    expect(newer.diff(new Map(newer.entries()))).toEqual({ changed: new Set(), removed: [] });
  });
});

describe('SharedUnits', () => {
  const render = (key: string) => ({ key, resources: [], warnings: [] });

  it('gives a render back for its template, region, instance and key only', () => {
    const units = new SharedUnits();
    const r = render('1|s|a.example.com');
    units.set('edge-clusters', 'us-east-1', 'a', r);
    expect(units.get('edge-clusters', 'us-east-1', 'a', '1|s|a.example.com')).toBe(r);
    expect(units.get('edge-clusters', 'us-east-1', 'a', '2|s|a.example.com')).toBeUndefined();
    expect(units.get('edge-clusters', 'eu-west-1', 'a', '1|s|a.example.com')).toBeUndefined();
    expect(units.get('edge-endpoints', 'us-east-1', 'a', '1|s|a.example.com')).toBeUndefined();
    expect(units.get('edge-clusters', 'us-east-1', 'b', '1|s|a.example.com')).toBeUndefined();
    const e = render('1|s|a.example.com');
    units.set('edge-endpoints', 'us-east-1', 'a', e);
    expect(units.get('edge-clusters', 'us-east-1', 'a', '1|s|a.example.com')).toBe(r);
    expect(units.get('edge-endpoints', 'us-east-1', 'a', '1|s|a.example.com')).toBe(e);
    const newer = render('2|s|a.example.com');
    units.set('edge-clusters', 'us-east-1', 'a', newer);
    expect(units.get('edge-clusters', 'us-east-1', 'a', '2|s|a.example.com')).toBe(newer);
    units.set('edge-clusters', 'us-east-1', 'b', render('k'));
    expect(units.size).toBe(2);
    units.forget('a');
    expect(units.size).toBe(1);
    expect(units.get('edge-endpoints', 'us-east-1', 'a', '1|s|a.example.com')).toBeUndefined();
    expect(units.get('edge-clusters', 'us-east-1', 'b', 'k')).toBeDefined();
  });
});

describe('encodeResource and typeSnapshot', () => {
  const cluster = (name: string, timeout = '5s') => encodeResource('clusters', name, { '@type': TYPE_URLS.clusters, name, connect_timeout: timeout, type: 'STATIC' }, 'edge-clusters', ['x']);

  it('encodes the Any and the Delta Resource as Envoy reads them, versioned by the bytes', () => {
    const res = cluster('svc-a');
    const Any = messageType('google.protobuf.Any');
    const any = Any.decode(res.any) as unknown as { type_url: string; value: Uint8Array };
    expect(any.type_url).toBe(TYPE_URLS.clusters);
    const Cluster = messageType(TYPE_URLS.clusters);
    const decoded = Cluster.toObject(Cluster.decode(any.value)) as { name: string };
    expect(decoded.name).toBe('svc-a');
    expect(res.version).toBe(createHash('sha256').update(any.value).digest('hex').slice(0, 16));
    const Resource = messageType('envoy.service.discovery.v3.Resource');
    const entry = Resource.decode(res.deltaEntry) as unknown as { name: string; version: string; resource: { type_url: string; value: Uint8Array } };
    expect(entry.name).toBe('svc-a');
    expect(entry.version).toBe(res.version);
    expect(entry.resource.type_url).toBe(TYPE_URLS.clusters);
    expect(Buffer.from(entry.resource.value)).toEqual(Buffer.from(any.value));
    expect(res.json).toEqual({ '@type': TYPE_URLS.clusters, name: 'svc-a', connect_timeout: '5s', type: 'STATIC' });
    expect(res.template).toBe('edge-clusters');
    expect(res.instanceIds).toEqual(['x']);
    expect(cluster('svc-a').version).toBe(res.version);
    expect(cluster('svc-a', '6s').version).not.toBe(res.version);
    expect(() => encodeResource('clusters', 'bad', { name: 'bad', connect_timeout: 5 }, 't', [])).toThrow();
  });

  it('mixes a resource as two words of sha256(name:version)', () => {
    const res = cluster('svc-a');
    expect(mixOf(res)).toEqual(sha(res));
    expect(mixOf(res)).toBe(mixOf(res));
  });

  it('versions a type by its resources alone: same content, same version, plain map or ResourceMap; any change moves it', () => {
    const a = cluster('svc-a');
    const b = cluster('svc-b');
    const plain = typeSnapshot('clusters', new Map([['svc-a', a], ['svc-b', b]]));
    const reversed = typeSnapshot('clusters', new Map([['svc-b', b], ['svc-a', a]]));
    const sharded = typeSnapshot('clusters', ResourceMap.of(mixOf, [['svc-a', a], ['svc-b', b]]));
    expect(plain.version).toBe(reversed.version);
    expect(sharded.version).toBe(plain.version);
    expect(plain.version).toMatch(/^[0-9a-f]{16}$/);
    expect(plain.kind).toBe('clusters');
    expect(plain.typeUrl).toBe(TYPE_URLS.clusters);
    expect(plain.previous).toBeUndefined();
    expect(plain.cache.size).toBe(0);
    const a2 = cluster('svc-a', '7s');
    expect(typeSnapshot('clusters', new Map([['svc-a', a2], ['svc-b', b]])).version).not.toBe(plain.version);
    expect(typeSnapshot('clusters', new Map([['svc-a', a]])).version).not.toBe(plain.version);
    expect(typeSnapshot('clusters', new Map()).version).not.toBe(plain.version);
    expect(typeSnapshot('clusters', ResourceMap.of(mixOf, [['svc-a', a]])).version).toBe(typeSnapshot('clusters', new Map([['svc-a', a]])).version);
  });

  it('diffs a type against the previous one, for plain maps and ResourceMaps alike', () => {
    const a = cluster('svc-a');
    const b = cluster('svc-b');
    const c = cluster('svc-c');
    const before = typeSnapshot('clusters', new Map([['svc-a', a], ['svc-b', b]]));
    const after = typeSnapshot('clusters', new Map([['svc-a', cluster('svc-a', '9s')], ['svc-c', c]]), before);
    expect(after.previous?.version).toBe(before.version);
    expect([...(after.previous?.changed ?? [])].sort()).toEqual(['svc-a', 'svc-c']);
    expect(after.previous?.removed).toEqual(['svc-b']);
    const fewer = typeSnapshot('clusters', new Map([['svc-a', a]]), before);
    expect(fewer.previous).toEqual({ version: before.version, changed: new Set(), removed: ['svc-b'] });
    const same = typeSnapshot('clusters', new Map([['svc-a', a], ['svc-b', b]]), before);
    expect(same.previous).toEqual({ version: before.version, changed: new Set(), removed: [] });
    const sharded = typeSnapshot('clusters', ResourceMap.of(mixOf, [['svc-a', a], ['svc-c', c]]), before);
    expect(sharded.previous?.version).toBe(before.version);
    expect([...(sharded.previous?.changed ?? [])]).toEqual(['svc-c']);
    expect(sharded.previous?.removed).toEqual(['svc-b']);
  });
});

describe('checkReferences', () => {
  const registry = new TemplateRegistry();
  const node = envoyNode();
  const templates = registry.forNode(node);
  const res = (kind: 'listeners' | 'routes' | 'clusters' | 'endpoints' | 'virtualHosts', json: Record<string, unknown>, name = 'r'): EncodedResource => ({
    name,
    version: 'v',
    json,
    any: new Uint8Array(),
    deltaEntry: new Uint8Array(),
    template: `t-${kind}`,
    instanceIds: [],
  });
  const maps = (parts: Partial<Record<'listeners' | 'routes' | 'clusters' | 'endpoints' | 'virtualHosts', EncodedResource[]>>) =>
    Object.fromEntries(RESOURCE_KINDS.map((k) => [k, new Map((parts[k] ?? []).map((r) => [r.name, r]))])) as Record<(typeof RESOURCE_KINDS)[number], Map<string, EncodedResource>>;

  it('names a missing cluster or route configuration with the field path; the authz placeholder and existing names pass', () => {
    const route = res('routes', { virtual_hosts: [{ routes: [{ route: { cluster: 'svc-missing' } }, { route: { cluster: 'svc-here' } }] }] }, 'edge-https');
    const listener = res('listeners', { filter_chains: [{ filters: [{ typed_config: { rds: { route_config_name: 'nope' } } }] }] }, 'l');
    const okListener = res('listeners', { rds: { route_config_name: 'edge-https' } }, 'l2');
    const vh = res('virtualHosts', { routes: [{ route: { cluster: 'ghost' } }] }, 'edge-https/svc-x');
    const placeholder = res('routes', { a: { cluster_name: AUTHZ_PLACEHOLDER_CLUSTER } }, 'p');
    const here = res('clusters', { name: 'svc-here', type: 'STATIC' }, 'svc-here');
    const problems = checkReferences(maps({ routes: [route, placeholder], listeners: [listener, okListener], virtualHosts: [vh], clusters: [here] }), templates);
    expect(problems).toEqual([
      { template: 't-listeners', resource: 'l', field: 'filter_chains[0].filters[0].typed_config.rds.route_config_name', message: 'names route configuration nope, which does not exist' },
      { template: 't-routes', resource: 'edge-https', field: 'virtual_hosts[0].routes[0].route.cluster', message: 'names cluster svc-missing, which does not exist' },
      { template: 't-virtualHosts', resource: 'edge-https/svc-x', field: 'routes[0].route.cluster', message: 'names cluster ghost, which does not exist' },
    ]);
  });

  it('asks an EDS cluster for its ClusterLoadAssignment, and not a STATIC one', () => {
    const eds = res('clusters', { name: 'svc-e', type: 'EDS' }, 'svc-e');
    const fixed = res('clusters', { name: 'svc-f', type: 'STATIC' }, 'svc-f');
    expect(checkReferences(maps({ clusters: [eds, fixed] }), templates)).toEqual([
      { template: 't-clusters', resource: 'svc-e', field: 'eds_cluster_config', message: 'EDS cluster without endpoints (ClusterLoadAssignment)' },
    ]);
    expect(checkReferences(maps({ clusters: [eds], endpoints: [res('endpoints', {}, 'svc-e')] }), templates)).toEqual([]);
    // A profile that renders no endpoints, clusters or routes checks none of them (they come from elsewhere).
    expect(checkReferences(maps({ clusters: [eds], routes: [res('routes', { x: { cluster: 'gone' } })], listeners: [res('listeners', { route_config_name: 'gone' })] }), [])).toEqual([]);
  });

  it('checks a cluster_name reference (GrpcService.EnvoyGrpc.cluster_name) like a cluster one; a non-string field named cluster names none', () => {
    const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    const authz = res('listeners', { filter_chains: [{ filters: [{ typed_config: { grpc_service: { envoy_grpc: { cluster_name: 'authz-missing' } } } }] }] }, 'l');
    expect(checkReferences(maps({ listeners: [authz] }), templates)).toEqual([
      { template: 't-listeners', resource: 'l', field: 'filter_chains[0].filters[0].typed_config.grpc_service.envoy_grpc.cluster_name', message: 'names cluster authz-missing, which does not exist' },
    ]);
    // A tracing custom tag read from the cluster's metadata: envoy.type.metadata.v3.MetadataKind's `cluster` is a message (type/metadata/v3/metadata.proto).
    const tag = { tag: 'zone', metadata: { kind: { cluster: {} }, metadata_key: { key: 'envoy.lb', path: [{ key: 'zone' }] } } };
    const traced = res('listeners', { filter_chains: [{ filters: [{ typed_config: { '@type': HCM, tracing: { custom_tags: [tag] } } }] }] }, 't');
    expect(checkReferences(maps({ listeners: [traced] }), templates)).toEqual([]);
  });

  it("checks a weighted cluster's name (WeightedCluster.ClusterWeight.name), which RDS would load unchecked", () => {
    // route/v3/route.proto: validate_clusters defaults to false for RDS, so Envoy loads the table and answers 404 at runtime.
    const here = res('clusters', { name: 'svc-here', type: 'STATIC' }, 'svc-here');
    const split = res('routes', { virtual_hosts: [{ routes: [{ route: { weighted_clusters: { clusters: [{ name: 'svc-here', weight: 90 }, { name: 'svc-gone', weight: 10 }] } } }] }] }, 'edge-https');
    expect(checkReferences(maps({ routes: [split], clusters: [here] }), templates)).toEqual([
      { template: 't-routes', resource: 'edge-https', field: 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name', message: 'names cluster svc-gone, which does not exist' },
    ]);
    // Only weighted_clusters' entries: a `clusters` list of named objects elsewhere names none.
    const other = res('listeners', { filter_chains: [{ filters: [{ typed_config: { clusters: [{ name: 'not-a-reference' }] } }] }] }, 'l');
    expect(checkReferences(maps({ listeners: [other], clusters: [here] }), templates)).toEqual([]);
  });

  it("a 'cluster' key inside metadata's free-form maps (filter_metadata, typed_filter_metadata) names nothing", () => {
    // config/core/v3/base.proto: Metadata.filter_metadata is map<string, Struct>, typed_filter_metadata map<string, Any>.
    const route = res('routes', { virtual_hosts: [{ routes: [{ metadata: { filter_metadata: { 'acme.owner': { cluster: 'team-a', cluster_name: 'b' } } } }] }] }, 'edge-https');
    const typed = res('virtualHosts', { routes: [{ metadata: { typed_filter_metadata: { x: { '@type': 't', cluster: 'c' } } } }] }, 'edge-https/svc-m');
    const listener = res('listeners', { filter_chains: [{ filters: [{ typed_config: { route_config: { virtual_hosts: [{ routes: [{ metadata: { filter_metadata: { a: { cluster: 'team-b' } } } }] }] } } }] }] }, 'l');
    expect(checkReferences(maps({ routes: [route], virtualHosts: [typed], listeners: [listener] }), templates)).toEqual([]);
  });

  it('checks only the kinds the profile renders: cluster names without a clusters template, EDS clusters without an endpoints one are not its to check', () => {
    const route = res('routes', { virtual_hosts: [{ routes: [{ route: { cluster: 'from-elsewhere' } }] }] }, 'edge-https');
    const noClusters = templates.filter((t) => t.kind !== 'clusters');
    expect(noClusters.some((t) => t.kind === 'routes')).toBe(true);
    expect(checkReferences(maps({ routes: [route] }), noClusters)).toEqual([]);
    const eds = res('clusters', { name: 'svc-e', type: 'EDS' }, 'svc-e');
    const noEndpoints = templates.filter((t) => t.kind !== 'endpoints');
    expect(noEndpoints.some((t) => t.kind === 'clusters')).toBe(true);
    expect(checkReferences(maps({ clusters: [eds] }), noEndpoints)).toEqual([]);
  });
});

// ---- the renderer, on the default templates ----

const delta: NodeInfo = envoyNode({ deltaXds: true });
const sotw: NodeInfo = envoyNode();
function renderer(node: NodeInfo, shared?: SharedUnits) {
  const registry = new TemplateRegistry();
  return new SnapshotRenderer(registry, registry.profileOf(node), node, shared);
}
function ok(outcome: RenderOutcome): Snapshot {
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
  return outcome.snapshot;
}
const keys = (s: Snapshot, kind: (typeof RESOURCE_KINDS)[number]) => [...s.types[kind].resources.keys()].sort();
const ctx = (routes: RenderContext['routes'], settings = renderSettings()): RenderContext => ({ settings, routes });

describe('SnapshotRenderer', () => {
  it('gives Delta nodes a virtual host resource per instance, edge-https/svc-<id>, and SotW nodes the virtual hosts inline', () => {
    const routes = [routeDocument('a'), routeDocument('b')];
    const d = ok(renderer(delta).render(ctx(routes)));
    expect(keys(d, 'virtualHosts')).toEqual(['edge-https/svc-a', 'edge-https/svc-b']);
    expect(keys(d, 'routes')).toEqual(['edge-https']);
    const table = d.types.routes.resources.get('edge-https')!.json as { virtual_hosts?: unknown[]; vhds?: unknown };
    expect(table.virtual_hosts ?? []).toEqual([]);
    expect(table.vhds).toEqual({ config_source: { ads: {}, resource_api_version: 'V3' } });
    const s = ok(renderer(sotw).render(ctx(routes)));
    expect(keys(s, 'virtualHosts')).toEqual([]);
    const inline = s.types.routes.resources.get('edge-https')!.json as { virtual_hosts: Array<{ domains: string[] }> };
    expect(inline.virtual_hosts.map((v) => v.domains[0]).sort()).toEqual(['a.edge.example.com', 'b.edge.example.com']);
    expect(keys(s, 'clusters')).toEqual(keys(d, 'clusters'));
    expect(keys(d, 'clusters')).toEqual(['svc-a', 'svc-b']);
    expect(d.generation).toBe(0);
    expect(d.profile).toBe(new TemplateRegistry().profileOf(delta));
    expect(s.seq).toBeGreaterThan(d.seq);
  });

  it('isolates an invalid instance: left out when it never rendered, its last good generation served after, both reported', () => {
    const r = renderer(delta);
    // A local rate limit of 0 requests: Envoy's token_bucket.max_tokens must be > 0 (PGV rule of type/v3/token_bucket.proto).
    const bad = (id: string, generation: number) => routeDocument(id, { generation, spec: { rate_limit: { requests_per_unit: 0, unit: 'second' } } });
    const first = ok(r.render(ctx([routeDocument('a'), bad('b', 1)])));
    expect(keys(first, 'clusters')).toEqual(['svc-a']);
    expect(first.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration])).toEqual([['b', 1, undefined]]);
    expect(first.excluded[0].problems.length).toBeGreaterThan(0);
    expect(first.excluded[0].problems.every((p) => p.instanceId === 'b')).toBe(true);
    const good = ok(r.render(ctx([routeDocument('a'), routeDocument('b', { generation: 2 })]), first));
    expect(good.excluded).toEqual([]);
    expect(keys(good, 'clusters')).toEqual(['svc-a', 'svc-b']);
    const held = ok(r.render(ctx([routeDocument('a'), bad('b', 3)]), good));
    expect(held.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration])).toEqual([['b', 3, 2]]);
    expect(keys(held, 'clusters')).toEqual(['svc-a', 'svc-b']);
    expect(held.types.clusters.version).toBe(good.types.clusters.version);
    expect(sameVersions(held, versionsOf(good))).toBe(true);
  });

  it('changes a version exactly when its content changes, and diffs each type against the previous snapshot', () => {
    const r = renderer(delta);
    const one = ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    const again = ok(r.render(ctx([routeDocument('a'), routeDocument('b')]), one));
    expect(versionsOf(again)).toEqual(versionsOf(one));
    for (const k of RESOURCE_KINDS) expect(again.types[k].previous).toEqual({ version: one.types[k].version, changed: new Set(), removed: [] });
    const moved = ok(r.render(ctx([routeDocument('a'), routeDocument('b', { generation: 2, spec: { backends: [{ address: '10.0.0.2', port: 80, protocol: 'http' }] } })]), again));
    expect(moved.types.endpoints.version).not.toBe(again.types.endpoints.version);
    expect([...moved.types.endpoints.previous!.changed]).toEqual(['svc-b']);
    expect(moved.types.listeners.version).toBe(again.types.listeners.version);
    expect(moved.types.virtualHosts.version).toBe(again.types.virtualHosts.version);
  });

  it('removes a deleted instance\'s resources, and serves the removed clusters in the transitional set until the rest moved on', () => {
    const r = renderer(delta);
    const two = ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    const one = ok(r.render(ctx([routeDocument('a')]), two));
    expect(keys(one, 'clusters')).toEqual(['svc-a']);
    expect(keys(one, 'endpoints')).toEqual(['svc-a']);
    expect(keys(one, 'virtualHosts')).toEqual(['edge-https/svc-a']);
    expect(one.types.clusters.previous?.removed).toEqual(['svc-b']);
    expect(one.types.virtualHosts.previous?.removed).toEqual(['edge-https/svc-b']);
    expect([...one.transitionalClusters!.resources.keys()].sort()).toEqual(['svc-a', 'svc-b']);
    expect(one.transitionalClusters!.resources.get('svc-b')).toBe(two.types.clusters.resources.get('svc-b'));
    expect(two.transitionalClusters).toBeUndefined();
    expect(ok(r.render(ctx([routeDocument('a')]), one)).transitionalClusters).toBeUndefined();
  });

  it('serves a hostname two instances list once, in the virtual host of the first by id, and warns on the other', () => {
    const both = 'shared.edge.example.com';
    const a = routeDocument('a', { spec: { hostnames: ['a.edge.example.com', both] } });
    const b = routeDocument('b', { spec: { hostnames: ['b.edge.example.com', both] } });
    const s = ok(renderer(delta).render(ctx([a, b])));
    const domains = (name: string) => (s.types.virtualHosts.resources.get(name)!.json as { domains: string[] }).domains;
    expect(domains('edge-https/svc-a')).toEqual(expect.arrayContaining(['a.edge.example.com', both]));
    expect(domains('edge-https/svc-b')).toContain('b.edge.example.com');
    expect(domains('edge-https/svc-b')).not.toContain(both);
    expect(s.warnings.filter((w) => w.message.includes(both))).toEqual([{ instanceId: 'b', template: 'edge-virtual-hosts', message: `hostname ${both} is already served by another instance; not served for this one` }]);
  });

  it('renders every instance again when the settings change, and serves them under the new settings', () => {
    const r = renderer(sotw);
    const before = ok(r.render(ctx([routeDocument('a')])));
    const after = ok(r.render(ctx([routeDocument('a')], renderSettings({ httpsTrafficPort: 9443 })), before));
    expect(r.lastPass).toEqual({ kind: 'all', instances: 1 });
    expect(after.types.listeners.version).not.toBe(before.types.listeners.version);
    const https = after.types.listeners.resources.get('edge-https')!.json as { address: { socket_address: { port_value: number } } };
    expect(https.address.socket_address.port_value).toBe(9443);
  });

  it('shares the clusters of one instance revision between the SotW and Delta profiles of a region', () => {
    const units = new SharedUnits();
    const routes = [routeDocument('a')];
    const s = ok(renderer(sotw, units).render(ctx(routes)));
    const d = ok(renderer(delta, units).render(ctx(routes)));
    expect(units.size).toBe(1);
    expect(d.types.clusters.resources.get('svc-a')).toBe(s.types.clusters.resources.get('svc-a'));
    expect(d.types.endpoints.resources.get('svc-a')).toBe(s.types.endpoints.resources.get('svc-a'));
    const west = envoyNode({ region: 'us-west-2' });
    const w = ok(renderer(west, units).render(ctx(routes)));
    expect(w.types.clusters.resources.get('svc-a')).not.toBe(s.types.clusters.resources.get('svc-a'));
    // A renderer that prunes an instance makes the shared units forget it.
    const r = renderer(sotw, units);
    ok(r.render(ctx(routes)));
    r.prune(ctx([]));
    expect(units.size).toBe(0);
  });

  it('rejects the whole render when a template fails, and the next good render starts from the last good assembly', () => {
    const registry = new TemplateRegistry(
      new TemplateRegistry().forNode(sotw).map((t) => (t.id === 'edge-listeners' ? { ...t, render: (input: Parameters<typeof t.render>[0]) => (input.context.settings.platformName === 'boom' ? (() => { throw new Error('kaput'); })() : t.render(input)) } : t)),
    );
    const r = new SnapshotRenderer(registry, registry.profileOf(sotw), sotw);
    const first = ok(r.render(ctx([routeDocument('a')])));
    const failed = r.render(ctx([routeDocument('a')], renderSettings({ platformName: 'boom' })), first);
    expect(failed.ok).toBe(false);
    if (!failed.ok) expect(failed.problems).toEqual([{ template: 'edge-listeners', resource: '', field: '', message: 'template failed: kaput' }]);
    const next = ok(r.render(ctx([routeDocument('a')]), first));
    expect(versionsOf(next)).toEqual(versionsOf(first));
  });
});

/** A generation Envoy refuses: a local rate limit of 0 requests (token_bucket.max_tokens must be > 0, PGV rule of type/v3/token_bucket.proto). */
const invalid = (id: string, generation: number) => routeDocument(id, { generation, spec: { rate_limit: { requests_per_unit: 0, unit: 'second' } } });
const servedOf = (s: Snapshot) => s.excluded.map((e) => [e.instanceId, e.generation, e.servedGeneration]);
/** A renderer of the default templates of `node` and `extra`. */
function withTemplates(node: NodeInfo, extra: Template[]) {
  const registry = new TemplateRegistry([...new TemplateRegistry().forNode(node), ...extra]);
  return new SnapshotRenderer(registry, registry.profileOf(node), node);
}
const fixedCluster = (id: string, name: string, perInstance: boolean, resource: Record<string, unknown> = { name, connect_timeout: '1s', type: 'STATIC' }): Template => ({
  id,
  kind: 'clusters',
  description: 'test',
  appliesTo: () => true,
  perInstance,
  render: () => [{ name, resource }],
});

describe('SnapshotRenderer: what it keeps between renders, and what it checks', () => {
  it('serves a remembered generation (the persisted snapshot\'s context) when the first render of the instance is invalid', () => {
    const r = renderer(delta);
    r.remember([routeDocument('a', { generation: 4 })]);
    const s = ok(r.render(ctx([invalid('a', 5), routeDocument('b')])));
    expect(servedOf(s)).toEqual([['a', 5, 4]]);
    expect(keys(s, 'clusters')).toEqual(['svc-a', 'svc-b']);
    expect(keys(s, 'virtualHosts')).toEqual(['edge-https/svc-a', 'edge-https/svc-b']);
  });

  it('forgets an instance that left the context: back with an invalid generation, it is left out, not served from before', () => {
    const r = renderer(delta);
    const both = ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    const gone = ok(r.render(ctx([routeDocument('a')]), both));
    const back = ok(r.render(ctx([routeDocument('a'), invalid('b', 2)]), gone));
    expect(servedOf(back)).toEqual([['b', 2, undefined]]);
    expect(keys(back, 'clusters')).toEqual(['svc-a']);
  });

  it('reports an excluded instance again in the next render, and no more once it is fixed', () => {
    const r = renderer(delta);
    const first = ok(r.render(ctx([routeDocument('a'), invalid('b', 1)])));
    const again = ok(r.render(ctx([routeDocument('a'), invalid('b', 1)]), first));
    expect(servedOf(again)).toEqual([['b', 1, undefined]]);
    const fixed = ok(r.render(ctx([routeDocument('a'), routeDocument('b', { generation: 2 })]), again));
    expect(fixed.excluded).toEqual([]);
    expect(keys(fixed, 'clusters')).toEqual(['svc-a', 'svc-b']);
  });

  it('lists excluded instances by instance id, whatever the order of the routes', () => {
    const s = ok(renderer(delta).render(ctx([invalid('z', 1), routeDocument('m'), invalid('b', 2), invalid('k', 3)])));
    expect(servedOf(s)).toEqual([
      ['b', 2, undefined],
      ['k', 3, undefined],
      ['z', 1, undefined],
    ]);
    expect(keys(s, 'clusters')).toEqual(['svc-m']);
  });

  it('lists warnings by instance id, whatever the order of the routes', () => {
    const both = 'shared.edge.example.com';
    const host = (id: string) => routeDocument(id, { spec: { hostnames: [`${id}.edge.example.com`, both] } });
    const s = ok(renderer(delta).render(ctx([host('z'), host('m'), host('b')])));
    // One of the three serves the shared hostname; the other two are warned, listed by id.
    const ids = s.warnings.map((w) => w.instanceId);
    expect(ids).toHaveLength(2);
    expect(ids).toEqual([...ids].sort());
    expect(s.warnings.every((w) => w.message === `hostname ${both} is already served by another instance; not served for this one`)).toBe(true);
  });

  it('carries the context\'s generation, a creation time and a sequence that grows', () => {
    const r = renderer(sotw);
    const one = ok(r.render({ ...ctx([routeDocument('a')]), generation: 7 }));
    expect(one.generation).toBe(7);
    expect(new Date(one.createdAt).toISOString()).toBe(one.createdAt);
    const two = ok(r.render({ ...ctx([routeDocument('a')]), generation: 8 }, one));
    expect(two.generation).toBe(8);
    expect(two.seq).toBe(one.seq + 1);
  });

  it('rejects a resource named twice: by two templates of the profile, or by two instances\' units', () => {
    const dup = { template: 'dup-clusters', resource: 'svc-a', field: 'name', message: 'another template already rendered a clusters resource with this name' };
    // Seen when the instance renders alone (every template of the profile, its route only): the instance is excluded, the others move on.
    const alwaysA = withTemplates(sotw, [fixedCluster('dup-clusters', 'svc-a', false)]).render(ctx([routeDocument('a'), routeDocument('b')]));
    expect(alwaysA.ok && servedOf(alwaysA.snapshot)).toEqual([['a', 1, undefined]]);
    expect(alwaysA.ok && alwaysA.snapshot.excluded[0].problems).toEqual([{ ...dup, instanceId: 'a' }]);
    // Seen only over every instance (a cross-instance problem): nothing of the render is served.
    const overAll: Template = { ...fixedCluster('dup-clusters', 'svc-a', false), render: ({ context }) => (context.routes.length > 1 ? [{ name: 'svc-a', resource: { name: 'svc-a', connect_timeout: '1s', type: 'STATIC' } }] : []) };
    const twice = withTemplates(sotw, [overAll]).render(ctx([routeDocument('a'), routeDocument('b')]));
    expect(twice.ok).toBe(false);
    if (!twice.ok) expect(twice.problems).toEqual([dup]);
    // A per-instance template that names the same cluster for every instance: each unit is valid alone, the assembly is not.
    const units = withTemplates(sotw, [fixedCluster('one-name', 'common', true)]).render(ctx([routeDocument('a'), routeDocument('b')]));
    expect(units.ok).toBe(false);
    if (!units.ok) expect(units.problems).toEqual([{ template: 'one-name', resource: 'common', field: 'name', message: 'another template already rendered a clusters resource with this name' }]);
    const alone = withTemplates(sotw, [fixedCluster('one-name', 'common', true)]).render(ctx([routeDocument('a')]));
    expect(alone.ok).toBe(true);
  });

  it('rejects a resource whose name is not the name it is served under', () => {
    const outcome = withTemplates(sotw, [fixedCluster('misnamed', 'served-as', false, { name: 'other', connect_timeout: '1s', type: 'STATIC' })]).render(ctx([routeDocument('a')]));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.problems).toEqual([{ template: 'misnamed', resource: 'served-as', field: 'name', message: 'does not match the resource name' }]);
  });

  it('rejects endpoints whose cluster_name is not the name they are served under', () => {
    // Envoy's EDS cluster refuses such an update: "Unexpected EDS cluster (expecting <service name>): <cluster_name>"
    // (EdsClusterImpl::onConfigUpdate, source/extensions/clusters/eds/eds.cc).
    const endpoints = (id: string, served: string, resource: Record<string, unknown>): Template => ({ ...fixedCluster(id, served, false, resource), kind: 'endpoints' });
    const wrong = withTemplates(sotw, [endpoints('misnamed-cla', 'svc-x', { cluster_name: 'svc-y', endpoints: [] })]).render(ctx([routeDocument('a')]));
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.problems).toEqual([{ template: 'misnamed-cla', resource: 'svc-x', field: 'cluster_name', message: 'does not match the resource name' }]);
    // Named right, they pass. (A resource with no name at all is refused by the protos' own rule: name and cluster_name have min_len 1.)
    expect(withTemplates(sotw, [endpoints('good-cla', 'svc-x', { cluster_name: 'svc-x', endpoints: [] })]).render(ctx([routeDocument('a')])).ok).toBe(true);
  });

  it('names every invalid field of a shared template\'s resource, and a failing per-instance template excludes its instance only', () => {
    const bad = withTemplates(sotw, [fixedCluster('bad-cluster', 'odd', false, { name: 'odd', connect_timeout: '1s', type: 'STATIC', lb_policy: 'FASTEST' })]).render(ctx([routeDocument('a')]));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems).toEqual([{ template: 'bad-cluster', resource: 'odd', field: 'lb_policy', message: '"FASTEST" is not a value of enum envoy.config.cluster.v3.Cluster.LbPolicy' }]);
    const throwing: Template = { ...fixedCluster('picky', 'x', true), render: ({ context }) => (context.routes[0].instanceId === 'b' ? (() => { throw new Error('no b'); })() : []) };
    const s = ok(withTemplates(sotw, [throwing]).render(ctx([routeDocument('a'), routeDocument('b')])));
    expect(servedOf(s)).toEqual([['b', 1, undefined]]);
    expect(s.excluded[0].problems).toEqual([{ template: 'picky', resource: '', field: '', message: 'template failed: no b', instanceId: 'b' }]);
    expect(keys(s, 'clusters')).toEqual(['svc-a']);
  });

  it('leaves an instance out when its last good generation no longer renders either (the settings changed), and says none is served', () => {
    const strict: Template = { ...fixedCluster('strict', 'x', true), render: ({ context }) => (context.settings.platformName === 'strict' ? (() => { throw new Error('strict'); })() : []) };
    const r = withTemplates(sotw, [strict]);
    const first = ok(r.render(ctx([routeDocument('a')])));
    const s = ok(r.render(ctx([routeDocument('a', { generation: 2 })], renderSettings({ platformName: 'strict' })), first));
    expect(servedOf(s)).toEqual([['a', 2, undefined]]);
    expect(keys(s, 'clusters')).toEqual([]);
  });

  it('a profile that takes another profile\'s render of an instance gets what rendering it would give: warnings and problems too', () => {
    let renders = 0;
    const warner: Template = { ...fixedCluster('warner', 'x', true), render: ({ context, warn }) => (renders++, warn(context.routes[0].instanceId, 'careful'), []) };
    // Applies to Delta nodes only and renders before the clusters: svc-a is then named twice, with or without a share.
    const early: Template = { ...fixedCluster('early-dup', 'svc-a', false), appliesTo: (n) => n.deltaXds === true };
    const registry = new TemplateRegistry([early, ...new TemplateRegistry().forNode(sotw), warner]);
    const units = new SharedUnits();
    const context = ctx([routeDocument('a'), routeDocument('b', { generation: 2, spec: { backends: [{ address: '10.0.0.2', port: 70000, protocol: 'http' }] } }), routeDocument('c')]);
    const s = ok(new SnapshotRenderer(registry, registry.profileOf(sotw), sotw, units).render(context));
    const d = ok(new SnapshotRenderer(registry, registry.profileOf(delta), delta, units).render(context));
    expect(renders).toBe(3);
    const alone = ok(new SnapshotRenderer(registry, registry.profileOf(delta), delta).render(context));
    const careful = (id: string) => ({ instanceId: id, template: 'warner', message: 'careful' });
    expect(s.warnings).toEqual([careful('a'), careful('c')]);
    // In the Delta profile a is excluded (svc-a named twice), b too (its endpoints): c is served, with its warning.
    expect(d.warnings).toEqual([careful('c')]);
    expect(d.warnings).toEqual(alone.warnings);
    // b's endpoints are invalid (port_value lte 65535): no share of them, so each profile finds the same problems.
    const problemsOf = (snap: Snapshot, id: string) => snap.excluded.find((e) => e.instanceId === id)?.problems;
    expect(problemsOf(s, 'b')).toEqual(expect.arrayContaining([expect.objectContaining({ template: 'endpoints', field: expect.stringContaining('port_value') })]));
    expect(problemsOf(d, 'b')).toEqual(problemsOf(s, 'b'));
    expect(problemsOf(d, 'a')).toEqual([{ template: 'edge-clusters', resource: 'svc-a', field: 'name', message: 'another template already rendered a clusters resource with this name', instanceId: 'a' }]);
    expect(problemsOf(d, 'a')).toEqual(problemsOf(alone, 'a'));
  });

  it('forgets the shared render of an instance removed on the changed path', () => {
    const units = new SharedUnits();
    const revisions = new ContextRevisions();
    const r = renderer(sotw, units);
    const a = routeDocument('a');
    const first = ok(r.render(revisions.stamp(ctx([a, routeDocument('b')]))));
    expect(units.size).toBe(2);
    ok(r.render(revisions.stamp(ctx([a])), first));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect(units.size).toBe(1);
  });

  it('frees the hostnames of a removed instance: the instance that lists one next is revisited alone', () => {
    const revisions = new ContextRevisions();
    const r = renderer(delta);
    const extra = 'extra.edge.example.com';
    const [b, c] = [routeDocument('b'), routeDocument('c')];
    const first = ok(r.render(revisions.stamp(ctx([routeDocument('a', { spec: { hostnames: ['a.edge.example.com', extra] } }), b, c]))));
    const second = ok(r.render(revisions.stamp(ctx([b, c])), first));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 1 });
    const third = ok(r.render(revisions.stamp(ctx([b, routeDocument('c', { generation: 2, spec: { hostnames: ['c.edge.example.com', extra] } })])), second));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 1 });
    expect((third.types.virtualHosts.resources.get('edge-https/svc-c')!.json as { domains: string[] }).domains).toContain(extra);
  });

  it('revisits every instance after a context without a revision (built by hand, the persisted one), and after the next', () => {
    const revisions = new ContextRevisions();
    const r = renderer(delta);
    const routes = [routeDocument('a'), routeDocument('b')];
    const first = ok(r.render(revisions.stamp(ctx(routes))));
    const plain = ok(r.render(ctx(routes), first));
    expect(r.lastPass).toEqual({ kind: 'all', instances: 2 });
    ok(r.render(revisions.stamp(ctx(routes)), plain));
    expect(r.lastPass).toEqual({ kind: 'all', instances: 2 });
  });

  it('revisits only the instances added or removed, two at a time or one after the other', () => {
    const revisions = new ContextRevisions();
    const r = renderer(delta);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => routeDocument(id));
    const first = ok(r.render(revisions.stamp(ctx([a, b, c, d]))));
    const fewer = ok(r.render(revisions.stamp(ctx([a, b])), first));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 2 });
    expect(keys(fewer, 'clusters')).toEqual(['svc-a', 'svc-b']);
    const e = routeDocument('e');
    const more = ok(r.render(revisions.stamp(ctx([a, b, e])), fewer));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 1 });
    ok(r.render(revisions.stamp(ctx([a, b, e, routeDocument('f')])), more));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 1 });
    ok(r.render(revisions.stamp(ctx([a, b, e, routeDocument('f'), routeDocument('g'), routeDocument('h')])), more));
    expect(r.lastPass).toEqual({ kind: 'changed', instances: 3 });
  });

  it('a rotation of the cdn origin secret changes the cdn virtual hosts only (docs/control-plane.md "The cdn plan\'s origin header")', () => {
    const r = renderer(delta);
    const cdn = { ...routeDocument('a'), plan: 'cdn' };
    const first = ok(r.render({ ...ctx([cdn, routeDocument('b')]), cdnOrigin: { values: ['first-secret'] } }));
    const rotated = ok(r.render({ ...ctx([cdn, routeDocument('b')]), cdnOrigin: { values: ['second-secret'] } }, first));
    const text = (s: Snapshot, name: string) => JSON.stringify(s.types.virtualHosts.resources.get(name)!.json);
    expect(text(first, 'edge-https/svc-a')).toContain('first-secret');
    expect(text(rotated, 'edge-https/svc-a')).toContain('second-secret');
    expect(text(rotated, 'edge-https/svc-a')).not.toContain('first-secret');
    expect([...rotated.types.virtualHosts.previous!.changed]).toEqual(['edge-https/svc-a']);
    for (const kind of ['clusters', 'endpoints', 'listeners'] as const) expect(rotated.types[kind].version).toBe(first.types[kind].version);
  });

  it('encodes a shared template\'s unchanged resource once: the next render serves the same object', () => {
    const r = renderer(sotw);
    const one = ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    const two = ok(r.render(ctx([routeDocument('a'), routeDocument('b', { generation: 2, spec: { backends: [{ address: '10.0.0.2', port: 80, protocol: 'http' }] } })]), one));
    expect(two.types.listeners.resources.get('edge-https')).toBe(one.types.listeners.resources.get('edge-https'));
    expect(two.types.routes.resources.get('edge-https')).toBe(one.types.routes.resources.get('edge-https'));
    const three = ok(r.render(ctx([routeDocument('a'), routeDocument('b', { generation: 3, spec: { hostnames: ['b2.edge.example.com'] } })]), two));
    expect(three.types.routes.resources.get('edge-https')).not.toBe(two.types.routes.resources.get('edge-https'));
    expect(three.types.routes.resources.get('edge-https')!.version).not.toBe(two.types.routes.resources.get('edge-https')!.version);
  });

  it('keeps encodings from good renders only: after a rejected render, an unchanged shared resource is the last good one\'s object', () => {
    // Names svc-a (a's cluster) again once there are two instances: a cross-instance problem, the whole render is rejected.
    const overAll: Template = { ...fixedCluster('dup-clusters', 'svc-a', false), render: ({ context }) => (context.routes.length > 1 ? [{ name: 'svc-a', resource: { name: 'svc-a', connect_timeout: '1s', type: 'STATIC' } }] : []) };
    const r = withTemplates(sotw, [overAll]);
    const first = ok(r.render(ctx([routeDocument('a')])));
    expect(r.render(ctx([routeDocument('a'), routeDocument('b')]), first).ok).toBe(false);
    const next = ok(r.render(ctx([routeDocument('a')]), first));
    expect(next.types.routes.resources.get('edge-https')).toBe(first.types.routes.resources.get('edge-https'));
  });

  it('serves a held generation with its warnings (what it does not serve still applies)', () => {
    const warner: Template = { ...fixedCluster('warner', 'x', true), render: ({ context, warn }) => (warn(context.routes[0].instanceId, 'careful'), []) };
    const r = withTemplates(sotw, [warner]);
    const careful = (id: string) => ({ instanceId: id, template: 'warner', message: 'careful' });
    const first = ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    expect(first.warnings).toEqual([careful('a'), careful('b')]);
    const held = ok(r.render(ctx([routeDocument('a'), invalid('b', 2)]), first));
    expect(servedOf(held)).toEqual([['b', 2, 1]]);
    expect(held.warnings).toEqual([careful('a'), careful('b')]);
  });

  it('says a resource rendered from no instance names none (templates/types.ts instanceIds: the instances it was rendered from)', () => {
    const s = ok(withTemplates(sotw, [fixedCluster('fixed', 'fixed-cluster', false)]).render(ctx([routeDocument('a')])));
    expect(s.types.clusters.resources.get('fixed-cluster')!.instanceIds).toEqual([]);
    expect(s.types.clusters.resources.get('svc-a')!.instanceIds).toEqual(['a']);
  });

  it('takes no check for a ClusterLoadAssignment no cluster asks for (only listeners, routes and virtual hosts name clusters)', () => {
    const orphan: Template = { ...fixedCluster('orphan-cla', 'orphan', false, { cluster_name: 'orphan', endpoints: [] }), kind: 'endpoints' };
    expect(withTemplates(sotw, [orphan]).render(ctx([routeDocument('a')])).ok).toBe(true);
  });

  it('prune forgets the shared renders of the instances gone only', () => {
    const units = new SharedUnits();
    const r = renderer(sotw, units);
    ok(r.render(ctx([routeDocument('a'), routeDocument('b')])));
    expect(units.size).toBe(2);
    r.prune(ctx([routeDocument('a')]));
    expect(units.size).toBe(1);
  });

  it('a hostname two instances list stays known as both\'s after an update of either: the other one\'s next update revisits both', () => {
    // docs/control-plane.md "Render what changed": a render revisits every instance when a changed instance lists a hostname
    // another lists; the hostname is then served by the first by id and taken off the other, with a warning.
    const revisions = new ContextRevisions();
    const r = renderer(delta);
    const both = 'shared.edge.example.com';
    const a = (generation: number) => routeDocument('a', { generation, spec: { hostnames: ['a.edge.example.com', both] } });
    const b = (generation: number) => routeDocument('b', { generation, spec: { hostnames: ['b.edge.example.com', both] } });
    // The same route objects while unchanged: the merge's revisions tell changes by object identity.
    const [a1, a2, b1, b2] = [a(1), a(2), b(1), b(2)];
    const first = ok(r.render(revisions.stamp(ctx([a1, b1]))));
    const second = ok(r.render(revisions.stamp(ctx([a2, b1])), first));
    expect(r.lastPass).toEqual({ kind: 'all', instances: 2 });
    const third = ok(r.render(revisions.stamp(ctx([a2, b2])), second));
    expect(r.lastPass).toEqual({ kind: 'all', instances: 2 });
    const domains = (name: string) => (third.types.virtualHosts.resources.get(name)!.json as { domains: string[] }).domains;
    expect(domains('edge-https/svc-a')).toContain(both);
    expect(domains('edge-https/svc-b')).not.toContain(both);
    expect(third.warnings).toEqual([{ instanceId: 'b', template: 'edge-virtual-hosts', message: `hostname ${both} is already served by another instance; not served for this one` }]);
  });

  it('tells apart served hostname lists whose names run together alike', () => {
    // The instance z lists three names, the third the first two written together; which of them z serves depends on a (first by id).
    const [h1, h2] = ['edge.example.com', 'api.edge.example.com'];
    const h3 = `${h1}${h2}`;
    const r = renderer(delta);
    const z = routeDocument('z', { spec: { hostnames: [h1, h2, h3] } });
    const first = ok(r.render(ctx([routeDocument('a', { spec: { hostnames: ['a.edge.example.com', h3] } }), z])));
    const zDomains = (s: Snapshot) => (s.types.virtualHosts.resources.get('edge-https/svc-z')!.json as { domains: string[] }).domains;
    expect(zDomains(first)).toEqual(expect.arrayContaining([h1, h2]));
    expect(zDomains(first)).not.toContain(h3);
    const second = ok(r.render(ctx([routeDocument('a', { generation: 2, spec: { hostnames: ['a.edge.example.com', h1, h2] } }), z]), first));
    expect(zDomains(second)).toContain(h3);
    expect(zDomains(second)).not.toContain(h1);
    expect(zDomains(second)).not.toContain(h2);
  });
});

describe('RenderStage', () => {
  const logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const logger: Logger = { log: (level, message, fields) => logs.push({ level, message, fields }) };
  beforeEach(() => (logs.length = 0));

  const snap = (version: string, excluded: Snapshot['excluded'] = []): Snapshot =>
    ({
      profile: 'p',
      seq: 1,
      createdAt: '',
      generation: 0,
      types: Object.fromEntries(RESOURCE_KINDS.map((k) => [k, { kind: k, typeUrl: TYPE_URLS[k], version: `${k}-${version}`, resources: new Map(), cache: new Map() }])),
      excluded,
      warnings: [],
    }) as unknown as Snapshot;
  const profile = (outcome: RenderOutcome, state: Partial<ProfileState> = {}): ProfileState =>
    ({ key: 'p', node: sotw, renderer: { render: () => outcome } as unknown as SnapshotRenderer, ...state }) as ProfileState;
  const context = ctx([routeDocument('a')]);

  it('counts a rejected render and returns its problems, with lastRender not ok', () => {
    const metrics = new Metrics();
    const stage = new RenderStage(metrics, logger);
    const problems = [{ template: 't', resource: 'r', field: 'f', message: 'm' }];
    expect(stage.render(profile({ ok: false, problems, renderMs: 12.34 }), context)).toEqual({ kind: 'failed', problems });
    expect(metrics.renders).toBe(1);
    expect(metrics.renderFailures).toBe(1);
    expect(metrics.lastRenderMs).toBe(12.34);
    expect(metrics.renderMsTotal).toBe(12.34);
    expect(stage.lastRender).toEqual({ at: expect.any(String), ms: 12.3, ok: false });
    expect(logs.map((l) => l.level)).toEqual(['error']);
  });

  it('returns a new snapshot as a candidate, counting its time', () => {
    const metrics = new Metrics();
    const stage = new RenderStage(metrics, logger);
    const s = snap('1');
    expect(stage.render(profile({ ok: true, snapshot: s, renderMs: 3.26 }), context)).toEqual({ kind: 'candidate', snapshot: s, renderMs: 3.26 });
    stage.render(profile({ ok: true, snapshot: s, renderMs: 1 }), context);
    expect(metrics.renders).toBe(2);
    expect(metrics.renderFailures).toBe(0);
    expect(metrics.lastRenderMs).toBe(1);
    expect(metrics.renderMsTotal).toBeCloseTo(4.26);
    expect(stage.lastRender?.ok).toBe(true);
    expect(stage.lastRender?.ms).toBe(1);
    expect(new Date(stage.lastRender!.at).toISOString()).toBe(stage.lastRender!.at);
  });

  it('says unchanged when the versions equal the rendered snapshot, not a persisted one or other versions', () => {
    const stage = new RenderStage(new Metrics(), logger);
    const s = snap('1');
    expect(stage.render(profile({ ok: true, snapshot: snap('1'), renderMs: 1 }, { snapshot: s, snapshotOrigin: 'rendered' }), context).kind).toBe('unchanged');
    expect(stage.render(profile({ ok: true, snapshot: snap('1'), renderMs: 1 }, { snapshot: s, snapshotOrigin: 'persisted' }), context).kind).toBe('candidate');
    expect(stage.render(profile({ ok: true, snapshot: snap('2'), renderMs: 1 }, { snapshot: s, snapshotOrigin: 'rendered' }), context).kind).toBe('candidate');
  });

  it('holds back the candidate a canary halted only while nothing else is on its way out', () => {
    const stage = new RenderStage(new Metrics(), logger);
    const stable = snap('1');
    const halted = versionsOf(snap('2'));
    const again = { ok: true as const, snapshot: snap('2'), renderMs: 1 };
    expect(stage.render(profile(again, { snapshot: stable, stable, heldBack: halted, snapshotOrigin: 'rendered' }), context)).toEqual({ kind: 'held-back' });
    // Another candidate is out (snapshot is not the stable one): canaried as usual.
    expect(stage.render(profile(again, { snapshot: snap('3'), stable, heldBack: halted, snapshotOrigin: 'rendered' }), context).kind).toBe('candidate');
    // Other versions than the halted ones: a candidate.
    expect(stage.render(profile({ ok: true, snapshot: snap('4'), renderMs: 1 }, { snapshot: stable, stable, heldBack: halted, snapshotOrigin: 'rendered' }), context).kind).toBe('candidate');
  });

  it('logs what an operator needs: the profile and the first 20 problems of a rejection, the first 10 of an exclusion, the versions of a candidate', () => {
    const stage = new RenderStage(new Metrics(), logger);
    const many = Array.from({ length: 25 }, (_, i) => ({ template: 't', resource: `r${i}`, field: 'f', message: 'm' }));
    stage.render(profile({ ok: false, problems: many, renderMs: 1 }), context);
    expect(logs[0].level).toBe('error');
    expect(logs[0].message).toMatch(/rejected by validation/);
    expect(logs[0].fields).toEqual({ profile: 'p', problems: many.slice(0, 20) });
    logs.length = 0;
    const s = snap('9', [{ instanceId: 'b', generation: 1, problems: many }]);
    stage.render(profile({ ok: true, snapshot: s, renderMs: 1 }), context);
    expect(logs[0].fields).toEqual({ profile: 'p', instanceId: 'b', generation: 1, problems: many.slice(0, 10) });
    expect(logs[1].level).toBe('info');
    expect(logs[1].message).toMatch(/snapshot rendered/);
    expect(logs[1].fields).toEqual({ profile: 'p', seq: 1, ms: 1, versions: versionsOf(s), routes: 1, excluded: 1 });
  });

  it('reports an excluded instance once per profile, instance and generation', () => {
    const stage = new RenderStage(new Metrics(), logger);
    const ex = (generation: number) => [{ instanceId: 'b', generation, problems: [] }];
    const excluded = () => logs.filter((l) => l.message.startsWith('instance excluded')).map((l) => `${l.fields?.profile}|${l.fields?.instanceId}|${l.fields?.generation}`);
    stage.render(profile({ ok: true, snapshot: snap('1', ex(1)), renderMs: 1 }), context);
    stage.render(profile({ ok: true, snapshot: snap('2', ex(1)), renderMs: 1 }), context);
    expect(excluded()).toEqual(['p|b|1']);
    stage.render(profile({ ok: true, snapshot: snap('3', ex(2)), renderMs: 1 }), context);
    stage.render(profile({ ok: true, snapshot: snap('3', ex(2)), renderMs: 1 }, { key: 'q' } as Partial<ProfileState>), context);
    expect(excluded()).toEqual(['p|b|1', 'p|b|2', 'q|b|2']);
  });
});
