import { createHash } from 'node:crypto';
import { Writer } from 'protobufjs';
import { RenderContext } from './context';
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
export function typeSnapshot(kind: ResourceKind, resources: Map<string, EncodedResource>, previous?: TypeSnapshot): TypeSnapshot {
  const names = [...resources.keys()].sort();
  const version = hash(names.map((n) => `${n}:${resources.get(n)!.version}`).join('\n'));
  let diff: TypeSnapshot['previous'];
  if (previous) {
    const changed = new Set<string>();
    for (const [name, res] of resources) if (previous.resources.get(name)?.version !== res.version) changed.add(name);
    const removed = [...previous.resources.keys()].filter((n) => !resources.has(n));
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

/**
 * Renders the templates of one node profile, validates every resource strictly against
 * Envoy's protos and protoc-gen-validate rules, checks references, and produces a
 * snapshot — or the list of problems, in which case nothing is served from it.
 *
 * Per-instance isolation: each instance is first rendered alone and validated; when an
 * instance's newest generation is invalid, its last good generation keeps being served
 * (or, if it never had one, it is left out), it is reported, and the others move on. Results are cached by instance generation and settings, and encodings by resource text,
 * so a change re-validates only what changed.
 */
export class SnapshotRenderer {
  /** Per instance: the generation and settings it was last checked with, and the outcome. */
  private readonly instanceChecks = new Map<string, { generation: number; settings: string; problems: RenderProblem[] }>();
  private readonly encodings = new Map<string, CachedEncoding>();
  /** The last generation of each instance that was served. */
  private readonly lastGood = new Map<string, RenderContext['routes'][number]>();

  constructor(
    private readonly registry: TemplateRegistry,
    readonly profile: string,
    private readonly node: NodeInfo,
  ) {}

  render(context: RenderContext, previous?: Snapshot): RenderOutcome {
    const started = performance.now();
    const templates = this.registry.forNode(this.node);
    const excluded: Array<{ instanceId: string; generation: number; problems: RenderProblem[]; servedGeneration?: number }> = [];
    const good: RenderContext['routes'][number][] = [];
    // An instance's check depends on its route and on the platform settings (templates are fixed per process).
    const settings = JSON.stringify(context.settings);
    for (const route of context.routes) {
      const problems = this.checkInstance(templates, context, settings, route);
      if (problems.length === 0) {
        good.push(route);
        continue;
      }
      // Keep serving the instance's last good generation, if it had one; otherwise leave it out.
      const held = this.lastGood.get(route.instanceId);
      excluded.push({ instanceId: route.instanceId, generation: route.generation, problems, servedGeneration: held?.generation });
      if (held) good.push(held);
    }
    const warnings: Array<{ instanceId?: string; template: string; message: string }> = [];
    const full = this.renderAll(templates, { settings: context.settings, routes: good }, warnings, true);
    const renderMs = performance.now() - started;
    if (!full.ok) return { ok: false, problems: full.problems, renderMs };
    for (const route of good) this.lastGood.set(route.instanceId, route);
    const types = {} as Record<ResourceKind, TypeSnapshot>;
    for (const kind of RESOURCE_KINDS) types[kind] = typeSnapshot(kind, full.resources[kind], previous?.types[kind]);
    let transitionalClusters: TypeSnapshot | undefined;
    const removedClusters = types.clusters.previous?.removed ?? [];
    if (previous && removedClusters.length > 0) {
      const union = new Map(full.resources.clusters);
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

  private checkInstance(templates: readonly Template[], context: RenderContext, settings: string, route: RenderContext['routes'][number]): RenderProblem[] {
    const cached = this.instanceChecks.get(route.instanceId);
    if (cached && cached.generation === route.generation && cached.settings === settings) return cached.problems;
    const outcome = this.renderAll(templates, { settings: context.settings, routes: [route] }, [], false);
    const problems = outcome.ok ? [] : outcome.problems.map((p) => ({ ...p, instanceId: route.instanceId }));
    this.instanceChecks.set(route.instanceId, { generation: route.generation, settings, problems });
    return problems;
  }

  /** Seeds the last good generations (from a persisted snapshot's context). */
  remember(routes: RenderContext['routes']): void {
    for (const route of routes) this.lastGood.set(route.instanceId, route);
  }

  /** Forgets instances that no longer exist (bounded caches). */
  prune(context: RenderContext): void {
    const ids = new Set(context.routes.map((r) => r.instanceId));
    for (const id of this.instanceChecks.keys()) if (!ids.has(id)) this.instanceChecks.delete(id);
    for (const id of this.lastGood.keys()) if (!ids.has(id)) this.lastGood.delete(id);
  }

  private renderAll(
    templates: readonly Template[],
    context: RenderContext,
    warnings: Array<{ instanceId?: string; template: string; message: string }>,
    useCache: boolean,
  ): { ok: true; resources: Record<ResourceKind, Map<string, EncodedResource>> } | { ok: false; problems: RenderProblem[] } {
    const problems: RenderProblem[] = [];
    const resources = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map() } as Record<ResourceKind, Map<string, EncodedResource>>;
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
        } catch (err) {
          if (!(err instanceof StrictJsonError)) throw err;
          for (const p of err.problems) problems.push({ template: template.id, resource: item.name, field: p.field, message: p.message });
        }
      }
    }
    problems.push(...checkReferences(resources, templates));
    if (problems.length > 0) return { ok: false, problems };
    if (nextEncodings) {
      this.encodings.clear();
      for (const [k, v] of nextEncodings) this.encodings.set(k, v);
    }
    return { ok: true, resources };
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

/** Routes and listeners may only name clusters and route configurations that exist; EDS clusters need endpoints. */
export function checkReferences(resources: Record<ResourceKind, Map<string, EncodedResource>>, templates: readonly Template[]): RenderProblem[] {
  const problems: RenderProblem[] = [];
  const clusterNames = resources.clusters;
  // Clusters from other sources (e.g. the bootstrap's xds_cluster) are not ours to check; only rendered kinds that this profile renders.
  const rendersClusters = templates.some((t) => t.kind === 'clusters');
  const rendersRoutes = templates.some((t) => t.kind === 'routes');
  for (const kind of ['listeners', 'routes'] as const) {
    for (const res of resources[kind].values()) {
      const refs: Array<{ key: string; value: string; path: string }> = [];
      collect(res.json, kind === 'listeners' ? new Set([...CLUSTER_REFS, ...ROUTE_REFS]) : CLUSTER_REFS, '', refs);
      for (const ref of refs) {
        if (CLUSTER_REFS.has(ref.key) && rendersClusters && !clusterNames.has(ref.value))
          problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names cluster ${ref.value}, which does not exist` });
        if (ROUTE_REFS.has(ref.key) && rendersRoutes && !resources.routes.has(ref.value))
          problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names route configuration ${ref.value}, which does not exist` });
      }
    }
  }
  if (templates.some((t) => t.kind === 'endpoints')) {
    for (const cluster of clusterNames.values()) {
      if (cluster.json.type === 'EDS' && !resources.endpoints.has(cluster.name))
        problems.push({ template: cluster.template, resource: cluster.name, field: 'eds_cluster_config', message: 'EDS cluster without endpoints (ClusterLoadAssignment)' });
    }
  }
  return problems;
}
