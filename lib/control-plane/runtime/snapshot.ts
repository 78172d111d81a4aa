import { createHash } from 'node:crypto';
import { Writer } from 'protobufjs';
import { RenderContext } from './context';
import { AUTHZ_PLACEHOLDER_CLUSTER } from './authz-override';
import { StrictJsonError, strictFromJson } from './proto-json';
import { RESOURCE_KINDS, ResourceKind, TYPE_URLS, messageType } from './protos';
import { NodeInfo, RenderedResource, Template, TemplateRegistry } from './templates';

/** One resource, validated and encoded once, shared by every node that receives it. */
export interface EncodedResource {
  readonly name: string;
  readonly version: string;
  /** Canonical JSON with "@type" (REST discovery, persistence). */
  readonly json: Record<string, unknown>;
  /** Encoded google.protobuf.Any. */
  readonly any: Uint8Array;
  /** Encoded envoy.service.discovery.v3.Resource (Delta xDS). */
  readonly deltaEntry: Uint8Array;
  readonly template: string;
  readonly instanceIds: readonly string[];
}

export interface TypeSnapshot {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  /** Hash of the resources' names and versions. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, EncodedResource>;
  /** What changed from the previous snapshot of the same profile (for partial RDS/EDS pushes). */
  readonly previous?: { readonly version: string; readonly changed: ReadonlySet<string>; readonly removed: readonly string[] };
  /** Encoded responses shared by every node (key: what was asked). */
  readonly cache: Map<string, SharedResponse>;
}

/** A DiscoveryResponse encoded once, nonce included, written as it is to every stream it is for. */
export interface SharedResponse {
  readonly body: Buffer;
  readonly nonce: string;
}

export interface RenderProblem {
  readonly template: string;
  readonly resource: string;
  readonly field: string;
  readonly message: string;
  readonly instanceId?: string;
}

export interface Snapshot {
  readonly profile: string;
  readonly seq: number;
  readonly createdAt: string;
  /** The context's route generation this snapshot was rendered from (see RenderContext.generation). */
  readonly generation: number;
  readonly types: Readonly<Record<ResourceKind, TypeSnapshot>>;
  /** Clusters during a change that removes some: the new ones plus the removed ones, served until listeners and routes moved on. */
  readonly transitionalClusters?: TypeSnapshot;
  /**
   * Instances whose newest generation was invalid: `servedGeneration` is the last good
   * generation still served, or undefined when the instance is left out.
   */
  readonly excluded: ReadonlyArray<{ readonly instanceId: string; readonly generation: number; readonly servedGeneration?: number; readonly problems: readonly RenderProblem[] }>;
  readonly warnings: ReadonlyArray<{ readonly instanceId?: string; readonly template: string; readonly message: string }>;
}

export type RenderOutcome = { ok: true; snapshot: Snapshot; renderMs: number } | { ok: false; problems: readonly RenderProblem[]; renderMs: number };

const hash = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex').slice(0, 16);

function encodeAny(typeUrl: string, value: Uint8Array): Uint8Array {
  return Writer.create().uint32(10).string(typeUrl).uint32(18).bytes(value).finish();
}

function encodeDeltaEntry(name: string, version: string, any: Uint8Array): Uint8Array {
  return Writer.create().uint32(10).string(version).uint32(18).bytes(any).uint32(26).string(name).finish();
}

let snapshotSeq = 0;

/** Builds a TypeSnapshot from encoded resources, diffing against the previous one. */
/** Two 32-bit words of sha256(name:version), once per encoded resource. */
const mixes = new WeakMap<EncodedResource, readonly [number, number]>();
function mixOf(res: EncodedResource): readonly [number, number] {
  let mix = mixes.get(res);
  if (!mix) {
    const digest = createHash('sha256').update(`${res.name}:${res.version}`).digest();
    mix = [digest.readUInt32BE(0), digest.readUInt32BE(4)];
    mixes.set(res, mix);
  }
  return mix;
}

/**
 * Builds a TypeSnapshot from encoded resources, diffing against the previous one. Its version
 * is a content hash of the resources' names and versions that does not depend on their order
 * (sums of per-resource hashes), so a render of ten thousand resources needs no sort.
 */
export function typeSnapshot(kind: ResourceKind, resources: Map<string, EncodedResource>, previous?: TypeSnapshot): TypeSnapshot {
  let a = 0;
  let b = 0;
  for (const res of resources.values()) {
    const [x, y] = mixOf(res);
    a = (a + x) >>> 0;
    b = (b + y) >>> 0;
  }
  const version = hash(`${resources.size}:${a.toString(16)}:${b.toString(16)}`);
  let diff: TypeSnapshot['previous'];
  if (previous) {
    const changed = new Set<string>();
    for (const [name, res] of resources) if (previous.resources.get(name)?.version !== res.version) changed.add(name);
    const removed: string[] = [];
    if (changed.size > 0 || previous.resources.size !== resources.size) for (const n of previous.resources.keys()) if (!resources.has(n)) removed.push(n);
    diff = { version: previous.version, changed, removed };
  }
  return { kind, typeUrl: TYPE_URLS[kind], version, resources, previous: diff, cache: new Map() };
}

/** Encodes already-validated canonical JSON (used for persisted snapshots). */
export function encodeResource(kind: ResourceKind, name: string, json: Record<string, unknown>, template: string, instanceIds: readonly string[]): EncodedResource {
  const typeUrl = TYPE_URLS[kind];
  const body: Record<string, unknown> = { ...json };
  delete body['@type'];
  const plain = strictFromJson(typeUrl, body);
  const type = messageType(typeUrl);
  const value = type.encode(type.fromObject(plain)).finish();
  const version = hash(value);
  const any = encodeAny(typeUrl, value);
  return { name, version, json: { '@type': typeUrl, ...body }, any, deltaEntry: encodeDeltaEntry(name, version, any), template, instanceIds };
}

interface CachedEncoding {
  readonly text: string;
  readonly encoded: EncodedResource;
}

type Warning = { instanceId?: string; template: string; message: string };
type Route = RenderContext['routes'][number];

/**
 * One instance rendered alone by every template of the profile and validated: its problems,
 * and (when valid) the resources of the per-instance templates, reused by every render until
 * the instance's revision, the settings or its served hostnames change.
 */
interface Unit {
  readonly key: string;
  readonly problems: readonly RenderProblem[];
  readonly resources: ReadonlyArray<{ readonly kind: ResourceKind; readonly res: EncodedResource }>;
  readonly warnings: readonly Warning[];
}

/**
 * Renders the templates of one node profile, validates every resource strictly against
 * Envoy's protos and protoc-gen-validate rules, checks references, and produces a
 * snapshot — or the list of problems, in which case nothing is served from it.
 *
 * Per-instance isolation: each instance is first rendered alone and validated; when an
 * instance's newest generation is invalid, its last good generation keeps being served
 * (or, if it never had one, it is left out), it is reported, and the others move on.
 *
 * Render what changed: that render of an instance alone is its unit, cached by revision,
 * settings and served hostnames; the resources of per-instance templates (clusters,
 * endpoints, VHDS virtual hosts) come from the units, so a change renders, validates and
 * encodes one instance. Only the templates that aggregate instances (listeners, an inline
 * route table) render over every instance, their encodings cached by resource text.
 */
export class SnapshotRenderer {
  /** Per instance: the unit of its newest revision (valid or not). */
  private readonly checks = new Map<string, Unit>();
  /** Per instance: the unit of the revision last served (valid). */
  private readonly units = new Map<string, Unit>();
  private readonly encodings = new Map<string, CachedEncoding>();
  /** The last generation of each instance that was served. */
  private readonly lastGood = new Map<string, Route>();
  /**
   * The last render's assembly: the unit of each instance served, the resources (units' and
   * shared templates'), and the names the shared templates rendered. A render starts from it
   * and swaps only the units that changed.
   */
  private assembled?: { units: Map<string, Unit>; resources: Record<ResourceKind, Map<string, EncodedResource>>; shared: Array<[ResourceKind, string]> };
  /** The route object each instance's unit was last taken for (an unchanged route needs no key). */
  private readonly unitRoutes = new WeakMap<Route, { settings: string; unit: Unit }>();
  /** References each resource makes (computed once per encoded resource). */
  private readonly refs = new WeakMap<EncodedResource, Array<{ key: string; value: string; path: string }>>();

  constructor(
    private readonly registry: TemplateRegistry,
    readonly profile: string,
    private readonly node: NodeInfo,
  ) {}

  render(context: RenderContext, previous?: Snapshot): RenderOutcome {
    const started = performance.now();
    const templates = this.registry.forNode(this.node);
    const unitTemplates = new Set(templates.filter((t) => t.perInstance).map((t) => t.id));
    const shared = templates.filter((t) => !t.perInstance);
    // Envoy refuses a domain in two virtual hosts of a route table: with per-instance virtual
    // hosts, a hostname an earlier instance (by id) serves is taken off the later ones.
    const exclusive = templates.find((t) => t.perInstance && t.kind === 'virtualHosts');
    const claimed = new Set<string>();
    const excluded: Array<{ instanceId: string; generation: number; problems: RenderProblem[]; servedGeneration?: number }> = [];
    const good: Route[] = [];
    const used: Unit[] = [];
    const warnings: Warning[] = [];
    // An instance's unit depends on its route and on the rest of the context: the platform
    // settings and whatever else sources add (the cdn origin secret...); templates are fixed per process.
    const { routes: _routes, generation: _generation, ...rest } = context;
    const settings = hash(JSON.stringify(rest));
    const served = (route: Route): Route => {
      if (!exclusive || !route.spec.hostnames.some((h) => claimed.has(h))) return route;
      const domains = route.spec.hostnames.filter((h) => !claimed.has(h));
      for (const h of route.spec.hostnames)
        if (claimed.has(h)) warnings.push({ instanceId: route.instanceId, template: exclusive.id, message: `hostname ${h} is already served by another instance; not served for this one` });
      return domains.length === route.spec.hostnames.length ? route : { ...route, spec: { ...route.spec, hostnames: domains } };
    };
    const claim = (route: Route) => {
      if (exclusive) for (const h of route.spec.hostnames) claimed.add(h);
    };
    for (const route of context.routes) {
      const newest = served(route);
      const seen = this.unitRoutes.get(newest);
      const reuse = seen !== undefined && seen.settings === settings;
      const check = reuse ? seen.unit : this.unit(this.checks, templates, unitTemplates, context, settings, newest);
      if (!reuse) this.unitRoutes.set(newest, { settings, unit: check });
      if (check.problems.length === 0) {
        this.units.set(route.instanceId, check);
        good.push(route);
        used.push(check);
        claim(newest);
        continue;
      }
      // Keep serving the instance's last good generation, if it had one; otherwise leave it out.
      const held = this.lastGood.get(route.instanceId);
      excluded.push({ instanceId: route.instanceId, generation: route.generation, problems: [...check.problems], servedGeneration: held?.generation });
      if (!held) continue;
      const heldServed = served(held);
      const unit = this.unit(this.units, templates, unitTemplates, context, settings, heldServed);
      if (unit.problems.length > 0) continue;
      good.push(held);
      used.push(unit);
      claim(heldServed);
    }
    // Start from the last assembly (copied: it stays as it was if this render fails) and swap the units that changed.
    const prev = this.assembled;
    const resources = Object.fromEntries(RESOURCE_KINDS.map((kind) => [kind, new Map(prev?.resources[kind])])) as Record<ResourceKind, Map<string, EncodedResource>>;
    for (const [kind, name] of prev?.shared ?? []) resources[kind].delete(name);
    const problems: RenderProblem[] = [];
    const units = new Map<string, Unit>();
    good.forEach((route, i) => units.set(route.instanceId, used[i]));
    const drop = (unit: Unit) => {
      for (const { kind, res } of unit.resources) if (resources[kind].get(res.name) === res) resources[kind].delete(res.name);
    };
    for (const [id, old] of prev?.units ?? []) if (units.get(id) !== old) drop(old);
    for (const [id, unit] of units) {
      if (unit.warnings.length > 0) warnings.push(...unit.warnings);
      if (prev?.units.get(id) === unit) continue;
      for (const { kind, res } of unit.resources) {
        if (resources[kind].has(res.name)) problems.push({ template: res.template, resource: res.name, field: 'name', message: `another template already rendered a ${kind} resource with this name` });
        else resources[kind].set(res.name, res);
      }
    }
    const sharedNames: Array<[ResourceKind, string]> = [];
    problems.push(...this.renderAll(shared, { ...context, routes: good }, warnings, true, resources, sharedNames));
    // A unit's own references were checked when it rendered alone; the shared templates' are checked against everything.
    const sharedIds = new Set(shared.map((t) => t.id));
    problems.push(...checkReferences(resources, templates, (res) => this.refsOf(res), (res) => sharedIds.has(res.template)));
    const renderMs = performance.now() - started;
    if (problems.length > 0) return { ok: false, problems, renderMs };
    this.assembled = { units, resources, shared: sharedNames };
    for (const route of good) this.lastGood.set(route.instanceId, route);
    const types = {} as Record<ResourceKind, TypeSnapshot>;
    for (const kind of RESOURCE_KINDS) types[kind] = typeSnapshot(kind, resources[kind], previous?.types[kind]);
    let transitionalClusters: TypeSnapshot | undefined;
    const removedClusters = types.clusters.previous?.removed ?? [];
    if (previous && removedClusters.length > 0) {
      const union = new Map(resources.clusters);
      for (const name of removedClusters) union.set(name, previous.types.clusters.resources.get(name)!);
      transitionalClusters = typeSnapshot('clusters', union, previous.types.clusters);
    }
    const snapshot: Snapshot = {
      profile: this.profile,
      seq: ++snapshotSeq,
      createdAt: new Date().toISOString(),
      generation: context.generation ?? 0,
      types,
      transitionalClusters,
      excluded,
      warnings,
    };
    return { ok: true, snapshot, renderMs: performance.now() - started };
  }

  /** The unit of one instance revision, from `cache` when its key is unchanged, else rendered alone and validated. */
  private unit(cache: Map<string, Unit>, templates: readonly Template[], unitTemplates: ReadonlySet<string>, context: RenderContext, settings: string, route: Route): Unit {
    const key = `${route.generation}|${settings}|${route.spec.hostnames.join(',')}`;
    const cached = cache.get(route.instanceId);
    if (cached && cached.key === key) return cached;
    const resources = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), virtualHosts: new Map() } as Record<ResourceKind, Map<string, EncodedResource>>;
    const warnings: Warning[] = [];
    const found = this.renderAll(templates, { ...context, routes: [route] }, warnings, false, resources);
    found.push(...checkReferences(resources, templates, (res) => this.refsOf(res)));
    const problems = found.map((p) => ({ ...p, instanceId: route.instanceId }));
    const mine: Array<{ kind: ResourceKind; res: EncodedResource }> = [];
    if (problems.length === 0) for (const kind of RESOURCE_KINDS) for (const res of resources[kind].values()) if (unitTemplates.has(res.template)) mine.push({ kind, res });
    const unit: Unit = { key, problems, resources: mine, warnings: warnings.filter((w) => unitTemplates.has(w.template)) };
    cache.set(route.instanceId, unit);
    return unit;
  }

  private refsOf(res: EncodedResource): Array<{ key: string; value: string; path: string }> {
    let refs = this.refs.get(res);
    if (!refs) {
      refs = [];
      collect(res.json, REF_KEYS, '', refs);
      this.refs.set(res, refs);
    }
    return refs;
  }

  /** Seeds the last good generations (from a persisted snapshot's context). */
  remember(routes: RenderContext['routes']): void {
    for (const route of routes) this.lastGood.set(route.instanceId, route);
  }

  /** Forgets instances that no longer exist (bounded caches). */
  prune(context: RenderContext): void {
    const ids = new Set(context.routes.map((r) => r.instanceId));
    for (const cache of [this.checks, this.units, this.lastGood]) for (const id of cache.keys()) if (!ids.has(id)) cache.delete(id);
  }

  /** Renders `templates` into `resources`; returns the problems found (names taken twice, invalid resources, failing templates). */
  private renderAll(
    templates: readonly Template[],
    context: RenderContext,
    warnings: Warning[],
    useCache: boolean,
    resources: Record<ResourceKind, Map<string, EncodedResource>>,
    added?: Array<[ResourceKind, string]>,
  ): RenderProblem[] {
    const problems: RenderProblem[] = [];
    const nextEncodings = useCache ? new Map<string, CachedEncoding>() : undefined;
    for (const template of templates) {
      let rendered: RenderedResource[];
      try {
        rendered = template.render({ context, node: this.node, warn: (instanceId, message) => warnings.push({ instanceId, template: template.id, message }) });
      } catch (err) {
        problems.push({ template: template.id, resource: '', field: '', message: `template failed: ${(err as Error).message}` });
        continue;
      }
      for (const item of rendered) {
        const target = resources[template.kind];
        if (target.has(item.name)) {
          problems.push({ template: template.id, resource: item.name, field: 'name', message: `another template already rendered a ${template.kind} resource with this name` });
          continue;
        }
        if (item.resource.name !== undefined && item.resource.name !== item.name && item.resource.cluster_name !== item.name) {
          problems.push({ template: template.id, resource: item.name, field: 'name', message: 'does not match the resource name' });
        }
        try {
          const key = `${template.kind}/${item.name}`;
          const text = useCache ? JSON.stringify(item.resource) : '';
          const cached = useCache ? this.encodings.get(key) : undefined;
          const encoded =
            cached && cached.text === text ? cached.encoded : encodeResource(template.kind, item.name, item.resource, template.id, item.instanceIds ?? []);
          nextEncodings?.set(key, { text, encoded });
          target.set(item.name, encoded);
          added?.push([template.kind, item.name]);
        } catch (err) {
          if (!(err instanceof StrictJsonError)) throw err;
          for (const p of err.problems) problems.push({ template: template.id, resource: item.name, field: p.field, message: p.message });
        }
      }
    }
    if (nextEncodings && problems.length === 0) {
      this.encodings.clear();
      for (const [k, v] of nextEncodings) this.encodings.set(k, v);
    }
    return problems;
  }
}

/** Collects string values of `keys` anywhere under `value`, with their paths. */
function collect(value: unknown, keys: ReadonlySet<string>, path: string, out: Array<{ key: string; value: string; path: string }>): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => collect(item, keys, `${path}[${i}]`, out));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = path ? `${path}.${key}` : key;
    if (typeof item === 'string' && keys.has(key)) out.push({ key, value: item, path: itemPath });
    else collect(item, keys, itemPath, out);
  }
}

const CLUSTER_REFS = new Set(['cluster', 'cluster_name']);
const ROUTE_REFS = new Set(['route_config_name']);
const REF_KEYS = new Set([...CLUSTER_REFS, ...ROUTE_REFS]);

type Refs = (res: EncodedResource) => Array<{ key: string; value: string; path: string }>;

const allRefs: Refs = (res) => {
  const out: Array<{ key: string; value: string; path: string }> = [];
  collect(res.json, REF_KEYS, '', out);
  return out;
};

/** Routes, virtual hosts and listeners may only name clusters and route configurations that exist; EDS clusters need endpoints. */
export function checkReferences(
  resources: Record<ResourceKind, Map<string, EncodedResource>>,
  templates: readonly Template[],
  refsOf: Refs = allRefs,
  only: (res: EncodedResource) => boolean = () => true,
): RenderProblem[] {
  const problems: RenderProblem[] = [];
  const clusterNames = resources.clusters;
  // Clusters from other sources (e.g. the bootstrap's xds_cluster) are not ours to check; only rendered kinds that this profile renders.
  const rendersClusters = templates.some((t) => t.kind === 'clusters');
  const rendersRoutes = templates.some((t) => t.kind === 'routes');
  for (const kind of ['listeners', 'routes', 'virtualHosts'] as const) {
    for (const res of resources[kind].values()) {
      if (!only(res)) continue;
      for (const ref of refsOf(res)) {
        // The ext_authz placeholder is named on purpose and never rendered (authz-override.ts).
        if (CLUSTER_REFS.has(ref.key) && rendersClusters && !clusterNames.has(ref.value) && ref.value !== AUTHZ_PLACEHOLDER_CLUSTER)
          problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names cluster ${ref.value}, which does not exist` });
        if (kind === 'listeners' && ROUTE_REFS.has(ref.key) && rendersRoutes && !resources.routes.has(ref.value))
          problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names route configuration ${ref.value}, which does not exist` });
      }
    }
  }
  if (templates.some((t) => t.kind === 'endpoints')) {
    for (const cluster of clusterNames.values()) {
      if (only(cluster) && cluster.json.type === 'EDS' && !resources.endpoints.has(cluster.name))
        problems.push({ template: cluster.template, resource: cluster.name, field: 'eds_cluster_config', message: 'EDS cluster without endpoints (ClusterLoadAssignment)' });
    }
  }
  return problems;
}
