import { createHash } from 'node:crypto';
import { Writer } from 'protobufjs';
import { ContextRevision, RenderContext } from './context';
import { AUTHZ_PLACEHOLDER_CLUSTER } from './authz-override';
import { StrictJsonError, strictFromJson } from './proto-json';
import { RESOURCE_KINDS, ResourceKind, TYPE_URLS, messageType } from './protos';
import { NodeInfo, RenderedResource, Template, TemplateRegistry } from './templates';
import { ResourceMap, ResourceMapEditor } from './render/resource-map';
import { SharedUnits } from './render/shared-units';

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

/** Two 32-bit words of sha256(name:version), once per encoded resource. */
const mixes = new WeakMap<EncodedResource, readonly [number, number]>();
export function mixOf(res: EncodedResource): readonly [number, number] {
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
 * (sums of per-resource hashes), so a render of ten thousand resources needs no sort. With a
 * ResourceMap (render/resource-map.ts) the sums are kept per shard and the diff skips the
 * shards the two snapshots share: the cost is that of what changed.
 */
export function typeSnapshot(kind: ResourceKind, resources: ReadonlyMap<string, EncodedResource>, previous?: TypeSnapshot): TypeSnapshot {
  let a = 0;
  let b = 0;
  if (resources instanceof ResourceMap) [a, b] = resources.sums();
  else
    for (const res of resources.values()) {
      const [x, y] = mixOf(res);
      a = (a + x) >>> 0;
      b = (b + y) >>> 0;
    }
  const version = hash(`${resources.size}:${a.toString(16)}:${b.toString(16)}`);
  let diff: TypeSnapshot['previous'];
  if (previous) {
    if (resources instanceof ResourceMap) diff = { version: previous.version, ...(resources as ResourceMap<EncodedResource>).diff(previous.resources) };
    else {
      const changed = new Set<string>();
      for (const [name, res] of resources) if (previous.resources.get(name)?.version !== res.version) changed.add(name);
      const removed: string[] = [];
      if (changed.size > 0 || previous.resources.size !== resources.size) for (const n of previous.resources.keys()) if (!resources.has(n)) removed.push(n);
      diff = { version: previous.version, changed, removed };
    }
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
type Excluded = { instanceId: string; generation: number; problems: RenderProblem[]; servedGeneration?: number };
/** Where a render writes resources: a plain map (a unit) or a ResourceMap editor (the assembly). */
type Target = { has(name: string): boolean; get(name: string): EncodedResource | undefined; set(name: string, value: EncodedResource): void };

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

/** What one instance contributes to a render: the unit served (of its newest or its last good route), whether it is excluded, its warnings. */
interface InstanceState {
  readonly entry?: { readonly unit: Unit; readonly route: Route };
  readonly excluded?: Excluded;
  readonly warnings: readonly Warning[];
  /** The hostnames of its newest and its last good route (to tell whether a change touches another instance's hostnames). */
  readonly hosts: readonly string[];
}

/**
 * The persistent per-instance assembly of the last good render: each instance's state, the
 * hostname index, the resources (ResourceMaps: a render copies only the shards it changes, so
 * the stable snapshot's maps stay as they were), and the names the shared templates rendered.
 */
interface Assembly {
  revision?: ContextRevision;
  settings: string;
  readonly instances: Map<string, InstanceState>;
  /** Instances with a state that is excluded, or has warnings (reported every render). */
  readonly reported: Set<string>;
  /** Hostname -> the instances whose newest or last good route lists it. */
  readonly hostOwners: Map<string, Set<string>>;
  resources: Record<ResourceKind, ResourceMap<EncodedResource>>;
  shared: Array<[ResourceKind, string]>;
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
 * endpoints, VHDS virtual hosts) come from the units. A render starts from the last good
 * assembly and revisits only the instances whose route changed since (the context's
 * revision, handed down by the merge): a one-service change looks up, validates, swaps and
 * diffs that service alone. It revisits every instance when the rest of the context changed
 * (settings, the cdn origin), when the context has no revision, or when a changed instance
 * shares a hostname with another (which one serves it depends on the others). Only the
 * templates that aggregate instances (listeners, an inline route table) render over every
 * instance, their encodings cached by resource text.
 */
export class SnapshotRenderer {
  /** Per instance: the unit of its newest revision (valid or not). */
  private readonly checks = new Map<string, Unit>();
  /** Per instance: the unit of the revision last served (valid). */
  private readonly units = new Map<string, Unit>();
  private readonly encodings = new Map<string, CachedEncoding>();
  /** The last generation of each instance that was served. */
  private readonly lastGood = new Map<string, Route>();
  private assembled?: Assembly;
  /** The route object each instance's unit was last taken for (an unchanged route needs no key). */
  private readonly unitRoutes = new WeakMap<Route, { settings: string; unit: Unit }>();
  /** References each resource makes (computed once per encoded resource). */
  private readonly refs = new WeakMap<EncodedResource, Ref[]>();
  /** How the last render went: how many instances it revisited (tests of the diff; /status). */
  lastPass?: { readonly kind: 'all' | 'changed'; readonly instances: number };

  constructor(
    private readonly registry: TemplateRegistry,
    readonly profile: string,
    private readonly node: NodeInfo,
    /** Rendered resources shared with the other profiles of the control plane (render/shared-units.ts). */
    private readonly shared: SharedUnits = new SharedUnits(),
  ) {}

  render(context: RenderContext, previous?: Snapshot): RenderOutcome {
    const started = performance.now();
    const templates = this.registry.forNode(this.node);
    const unitTemplates = new Set(templates.filter((t) => t.perInstance).map((t) => t.id));
    const shared = templates.filter((t) => !t.perInstance);
    // Envoy refuses a domain in two virtual hosts of a route table: with per-instance virtual
    // hosts, a hostname an earlier instance (by id) serves is taken off the later ones.
    const exclusive = templates.find((t) => t.perInstance && t.kind === 'virtualHosts');
    // An instance's unit depends on its route and on the rest of the context: the platform
    // settings and whatever else sources add (the cdn origin secret...); templates are fixed per process.
    const { routes: _routes, generation: _generation, revision, ...rest } = context;
    const settings = hash(JSON.stringify(rest));
    const prev = this.assembled;

    // The instances to revisit: those the merge says changed since the last good assembly, else all.
    let changed = prev && prev.settings === settings && prev.revision && revision ? revision.changedSince(prev.revision) : undefined;
    if (changed && exclusive && prev && this.sharesHostnames(changed, revision!.byId, prev)) changed = undefined;
    const next = new Map<string, InstanceState | undefined>();
    if (changed) {
      const byId = revision!.byId;
      for (const id of changed) {
        const route = byId.get(id);
        if (route) next.set(id, this.instance(route, (r) => r, () => undefined, templates, unitTemplates, context, settings));
        else {
          next.set(id, undefined);
          for (const cache of [this.checks, this.units, this.lastGood]) cache.delete(id);
          this.shared.forget(id);
        }
      }
    } else {
      this.prune(context);
      const claimed = new Set<string>();
      const served = (route: Route, warnings: Warning[]): Route => {
        if (!exclusive || !route.spec.hostnames.some((h) => claimed.has(h))) return route;
        const domains = route.spec.hostnames.filter((h) => !claimed.has(h));
        for (const h of route.spec.hostnames)
          if (claimed.has(h)) warnings.push({ instanceId: route.instanceId, template: exclusive.id, message: `hostname ${h} is already served by another instance; not served for this one` });
        return domains.length === route.spec.hostnames.length ? route : { ...route, spec: { ...route.spec, hostnames: domains } };
      };
      const claim = (route: Route) => {
        if (exclusive) for (const h of route.spec.hostnames) claimed.add(h);
      };
      for (const route of context.routes) next.set(route.instanceId, this.instance(route, served, claim, templates, unitTemplates, context, settings));
      for (const id of prev?.instances.keys() ?? []) if (!next.has(id)) next.set(id, undefined);
    }
    this.lastPass = { kind: changed ? 'changed' : 'all', instances: next.size };

    // Start from the last assembly (copy on write: it stays as it was if this render fails) and swap the units that changed.
    const editors = Object.fromEntries(RESOURCE_KINDS.map((kind) => [kind, (prev?.resources[kind] ?? ResourceMap.empty(mixOf)).edit()])) as Record<ResourceKind, ResourceMapEditor<EncodedResource>>;
    for (const [kind, name] of prev?.shared ?? []) editors[kind].delete(name);
    const problems: RenderProblem[] = [];
    const unitOf = (id: string) => prev?.instances.get(id)?.entry?.unit;
    for (const [id, state] of next) {
      const old = unitOf(id);
      if (old && old !== state?.entry?.unit) for (const { kind, res } of old.resources) if (editors[kind].get(res.name) === res) editors[kind].delete(res.name);
    }
    for (const [id, state] of next) {
      const unit = state?.entry?.unit;
      if (!unit || unitOf(id) === unit) continue;
      for (const { kind, res } of unit.resources) {
        if (editors[kind].has(res.name)) problems.push({ template: res.template, resource: res.name, field: 'name', message: `another template already rendered a ${kind} resource with this name` });
        else editors[kind].set(res.name, res);
      }
    }
    // The routes served: the context's, unless an instance is excluded (its last good route, or none).
    const stateOf = (id: string) => (next.has(id) ? next.get(id) : prev?.instances.get(id));
    let anyExcluded = false;
    for (const id of prev?.reported ?? []) if (!next.has(id) && prev!.instances.get(id)?.excluded) anyExcluded = true;
    for (const state of next.values()) if (state?.excluded) anyExcluded = true;
    const good = anyExcluded ? context.routes.map((r) => stateOf(r.instanceId)?.entry?.route).filter((r): r is Route => r !== undefined) : context.routes;
    const sharedWarnings: Warning[] = [];
    const sharedNames: Array<[ResourceKind, string]> = [];
    problems.push(...this.renderAll(shared, { ...context, routes: good }, sharedWarnings, true, editors, sharedNames));
    // A unit's own references were checked when it rendered alone; the shared templates' are checked against everything.
    for (const [kind, name] of sharedNames) problems.push(...referenceProblems(kind, editors[kind].get(name)!, editors, templates, (res) => this.refsOf(res)));
    const renderMs = performance.now() - started;
    if (problems.length > 0) return { ok: false, problems, renderMs };

    const resources = Object.fromEntries(RESOURCE_KINDS.map((kind) => [kind, editors[kind].seal()])) as Record<ResourceKind, ResourceMap<EncodedResource>>;
    const assembly: Assembly = prev ?? { settings, instances: new Map(), reported: new Set(), hostOwners: new Map(), resources, shared: [] };
    this.commit(assembly, next);
    assembly.revision = revision;
    assembly.settings = settings;
    assembly.resources = resources;
    assembly.shared = sharedNames;
    this.assembled = assembly;

    const excluded: Excluded[] = [];
    const warnings: Warning[] = [];
    // By instance id: excluded and warnings are listed in that order.
    for (const id of [...assembly.reported].sort()) {
      const state = assembly.instances.get(id)!;
      if (state.excluded) excluded.push(state.excluded);
      warnings.push(...state.warnings);
    }
    warnings.push(...sharedWarnings);
    const types = {} as Record<ResourceKind, TypeSnapshot>;
    for (const kind of RESOURCE_KINDS) types[kind] = typeSnapshot(kind, resources[kind], previous?.types[kind]);
    let transitionalClusters: TypeSnapshot | undefined;
    const removedClusters = types.clusters.previous?.removed ?? [];
    if (previous && removedClusters.length > 0) {
      const union = resources.clusters.edit();
      for (const name of removedClusters) union.set(name, previous.types.clusters.resources.get(name)!);
      transitionalClusters = typeSnapshot('clusters', union.seal(), previous.types.clusters);
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

  /** One instance's state: its newest route's unit if valid, else its last good route's (if any). */
  private instance(
    route: Route,
    served: (route: Route, warnings: Warning[]) => Route,
    claim: (route: Route) => void,
    templates: readonly Template[],
    unitTemplates: ReadonlySet<string>,
    context: RenderContext,
    settings: string,
  ): InstanceState {
    const warnings: Warning[] = [];
    const held = this.lastGood.get(route.instanceId);
    const hosts = [...new Set([...route.spec.hostnames, ...(held?.spec.hostnames ?? [])])];
    const newest = served(route, warnings);
    const seen = this.unitRoutes.get(newest);
    const reuse = seen !== undefined && seen.settings === settings;
    const check = reuse ? seen.unit : this.unit(this.checks, templates, unitTemplates, context, settings, newest);
    if (!reuse) this.unitRoutes.set(newest, { settings, unit: check });
    if (check.problems.length === 0) {
      this.units.set(route.instanceId, check);
      claim(newest);
      return { entry: { unit: check, route }, warnings: [...warnings, ...check.warnings], hosts };
    }
    // Keep serving the instance's last good generation, if it had one; otherwise leave it out.
    const excluded: Excluded = { instanceId: route.instanceId, generation: route.generation, problems: [...check.problems] };
    if (!held) return { excluded, warnings, hosts };
    const heldServed = served(held, warnings);
    const unit = this.unit(this.units, templates, unitTemplates, context, settings, heldServed);
    if (unit.problems.length > 0) return { excluded, warnings, hosts };
    claim(heldServed);
    return { entry: { unit, route: held }, excluded: { ...excluded, servedGeneration: held.generation }, warnings: [...warnings, ...unit.warnings], hosts };
  }

  /** Whether a changed instance's hostnames (newest, last good, as assembled) are listed by another instance. */
  private sharesHostnames(changed: ReadonlySet<string>, byId: ReadonlyMap<string, Route>, prev: Assembly): boolean {
    const mine = new Map<string, string>();
    for (const id of changed) {
      const hosts = new Set([...(byId.get(id)?.spec.hostnames ?? []), ...(this.lastGood.get(id)?.spec.hostnames ?? []), ...(prev.instances.get(id)?.hosts ?? [])]);
      for (const h of hosts) {
        const owners = prev.hostOwners.get(h);
        if (owners && (owners.size > 1 || !owners.has(id))) return true;
        const other = mine.get(h);
        if (other !== undefined && other !== id) return true;
        mine.set(h, id);
      }
    }
    return false;
  }

  /** Takes the instances' new states into the assembly (after a good render). */
  private commit(assembly: Assembly, next: ReadonlyMap<string, InstanceState | undefined>): void {
    for (const [id, state] of next) {
      const old = assembly.instances.get(id);
      for (const h of old?.hosts ?? []) {
        const owners = assembly.hostOwners.get(h);
        owners?.delete(id);
        if (owners?.size === 0) assembly.hostOwners.delete(h);
      }
      if (!state) {
        assembly.instances.delete(id);
        assembly.reported.delete(id);
        continue;
      }
      assembly.instances.set(id, state);
      if (state.excluded || state.warnings.length > 0) assembly.reported.add(id);
      else assembly.reported.delete(id);
      for (const h of state.hosts) {
        let owners = assembly.hostOwners.get(h);
        if (!owners) assembly.hostOwners.set(h, (owners = new Set()));
        owners.add(id);
      }
      if (state.entry) this.lastGood.set(id, state.entry.route);
    }
  }

  /** The unit of one instance revision, from `cache` when its key is unchanged, else rendered alone and validated. */
  private unit(cache: Map<string, Unit>, templates: readonly Template[], unitTemplates: ReadonlySet<string>, context: RenderContext, settings: string, route: Route): Unit {
    const key = `${route.generation}|${settings}|${route.spec.hostnames.join(',')}`;
    const cached = cache.get(route.instanceId);
    if (cached && cached.key === key) return cached;
    const resources = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), virtualHosts: new Map() } as Record<ResourceKind, Map<string, EncodedResource>>;
    const warnings: Warning[] = [];
    const found = this.renderAll(templates, { ...context, routes: [route] }, warnings, false, resources, undefined, { instanceId: route.instanceId, key });
    found.push(...checkReferences(resources, templates, (res) => this.refsOf(res)));
    const problems = found.map((p) => ({ ...p, instanceId: route.instanceId }));
    const mine: Array<{ kind: ResourceKind; res: EncodedResource }> = [];
    if (problems.length === 0) for (const kind of RESOURCE_KINDS) for (const res of resources[kind].values()) if (unitTemplates.has(res.template)) mine.push({ kind, res });
    const unit: Unit = { key, problems, resources: mine, warnings: warnings.filter((w) => unitTemplates.has(w.template)) };
    cache.set(route.instanceId, unit);
    return unit;
  }

  private refsOf(res: EncodedResource): Ref[] {
    let refs = this.refs.get(res);
    if (!refs) {
      refs = allRefs(res);
      this.refs.set(res, refs);
    }
    return refs;
  }

  /** Seeds the last good generations (from a persisted snapshot's context). */
  remember(routes: RenderContext['routes']): void {
    for (const route of routes) this.lastGood.set(route.instanceId, route);
  }

  /** Forgets instances that no longer exist (bounded caches); a render does it for the instances it revisits. */
  prune(context: RenderContext): void {
    const ids = new Set(context.routes.map((r) => r.instanceId));
    for (const id of this.checks.keys()) if (!ids.has(id)) this.shared.forget(id);
    for (const cache of [this.checks, this.units, this.lastGood]) for (const id of cache.keys()) if (!ids.has(id)) cache.delete(id);
  }

  /** Renders `templates` into `resources`; returns the problems found (names taken twice, invalid resources, failing templates). */
  private renderAll(
    templates: readonly Template[],
    context: RenderContext,
    warnings: Warning[],
    useCache: boolean,
    resources: Record<ResourceKind, Target>,
    added?: Array<[ResourceKind, string]>,
    unit?: { readonly instanceId: string; readonly key: string },
  ): RenderProblem[] {
    const problems: RenderProblem[] = [];
    const nextEncodings = useCache ? new Map<string, CachedEncoding>() : undefined;
    for (const template of templates) {
      // A per-instance template's render of this instance revision, by another profile of the region: taken as it is.
      const share = unit && template.perInstance ? this.shared.get(template.id, this.node.region, unit.instanceId, unit.key) : undefined;
      if (share) {
        for (const res of share.resources) {
          if (resources[template.kind].has(res.name))
            problems.push({ template: template.id, resource: res.name, field: 'name', message: `another template already rendered a ${template.kind} resource with this name` });
          else resources[template.kind].set(res.name, res);
        }
        warnings.push(...share.warnings);
        continue;
      }
      let rendered: RenderedResource[];
      const before = problems.length;
      const mine: Warning[] = [];
      const made: EncodedResource[] = [];
      try {
        rendered = template.render({ context, node: this.node, warn: (instanceId, message) => mine.push({ instanceId, template: template.id, message }) });
      } catch (err) {
        problems.push({ template: template.id, resource: '', field: '', message: `template failed: ${(err as Error).message}` });
        continue;
      } finally {
        warnings.push(...mine);
      }
      for (const item of rendered) {
        const target = resources[template.kind];
        if (target.has(item.name)) {
          problems.push({ template: template.id, resource: item.name, field: 'name', message: `another template already rendered a ${template.kind} resource with this name` });
          continue;
        }
        const nameField = NAME_FIELD[template.kind];
        if (item.resource[nameField] !== item.name) {
          problems.push({ template: template.id, resource: item.name, field: nameField, message: 'does not match the resource name' });
        }
        try {
          const key = `${template.kind}/${item.name}`;
          const text = useCache ? JSON.stringify(item.resource) : '';
          const cached = useCache ? this.encodings.get(key) : undefined;
          const encoded =
            cached && cached.text === text ? cached.encoded : encodeResource(template.kind, item.name, item.resource, template.id, item.instanceIds ?? []);
          nextEncodings?.set(key, { text, encoded });
          target.set(item.name, encoded);
          made.push(encoded);
          added?.push([template.kind, item.name]);
        } catch (err) {
          if (!(err instanceof StrictJsonError)) throw err;
          for (const p of err.problems) problems.push({ template: template.id, resource: item.name, field: p.field, message: p.message });
        }
      }
      if (unit && template.perInstance && problems.length === before) this.shared.set(template.id, this.node.region, unit.instanceId, { key: unit.key, resources: made, warnings: mine });
    }
    if (nextEncodings && problems.length === 0) {
      this.encodings.clear();
      for (const [k, v] of nextEncodings) this.encodings.set(k, v);
    }
    return problems;
  }
}

/**
 * The free-form maps of core.v3.Metadata (config/core/v3/base.proto: `filter_metadata` is
 * map<string, Struct>, `typed_filter_metadata` map<string, Any>): a `cluster` key in them is data.
 */
const FREE_FORM = new Set(['filter_metadata', 'typed_filter_metadata']);

/** Collects the references (string values of REF_KEYS, and weighted clusters' names) anywhere under `value` but in FREE_FORM maps, with their paths. */
function collect(value: unknown, path: string, out: Ref[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => collect(item, `${path}[${i}]`, out));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) {
    if (FREE_FORM.has(key)) continue;
    const itemPath = path ? `${path}.${key}` : key;
    if (typeof item === 'string' && REF_KEYS.has(key)) out.push({ key, value: item, path: itemPath });
    else if (key === 'weighted_clusters') collectWeighted(item, itemPath, out);
    else collect(item, itemPath, out);
  }
}

/**
 * RouteAction.weighted_clusters names its clusters by `clusters[].name`
 * (WeightedCluster.ClusterWeight, route/v3/route_components.proto). Envoy loads an RDS table
 * naming a missing one (validate_clusters defaults to false for RDS, route/v3/route.proto) and
 * answers 404 at runtime, so they are references like `cluster`.
 */
function collectWeighted(value: unknown, path: string, out: Ref[]): void {
  const clusters = (value as { clusters?: unknown } | null)?.clusters;
  if (Array.isArray(clusters))
    clusters.forEach((c, i) => {
      const name = (c as { name?: unknown } | null)?.name;
      if (typeof name === 'string') out.push({ key: 'cluster', value: name, path: `${path}.clusters[${i}].name` });
    });
  collect(value, path, out);
}

/**
 * The field a resource of each kind is named by. A SotW client names each resource it gets by
 * it, and Envoy's EDS refuses a ClusterLoadAssignment whose `cluster_name` is not the one it
 * asked for ("Unexpected EDS cluster (expecting ...)", EdsClusterImpl::onConfigUpdate).
 */
const NAME_FIELD: Record<ResourceKind, string> = { listeners: 'name', routes: 'name', clusters: 'name', endpoints: 'cluster_name', virtualHosts: 'name' };

const CLUSTER_REFS = new Set(['cluster', 'cluster_name']);
const ROUTE_REFS = new Set(['route_config_name']);
const REF_KEYS = new Set([...CLUSTER_REFS, ...ROUTE_REFS]);

/** A reference a resource makes: the field's key, the name it holds, the field's path. */
type Ref = { key: string; value: string; path: string };
type Refs = (res: EncodedResource) => Ref[];

const allRefs: Refs = (res) => {
  const out: Ref[] = [];
  collect(res.json, '', out);
  return out;
};

/** Routes, virtual hosts and listeners may only name clusters and route configurations that exist; EDS clusters need endpoints. */
export function checkReferences(
  resources: Record<ResourceKind, ReadonlyMap<string, EncodedResource>>,
  templates: readonly Template[],
  refsOf: Refs = allRefs,
): RenderProblem[] {
  const problems: RenderProblem[] = [];
  for (const kind of ['listeners', 'routes', 'virtualHosts', 'clusters'] as const)
    for (const res of resources[kind].values()) problems.push(...referenceProblems(kind, res, resources, templates, refsOf));
  return problems;
}

/** The reference problems of one resource among `resources` (see checkReferences). */
function referenceProblems(
  kind: ResourceKind,
  res: EncodedResource,
  resources: Record<ResourceKind, { has(name: string): boolean }>,
  templates: readonly Template[],
  refsOf: Refs,
): RenderProblem[] {
  const problems: RenderProblem[] = [];
  if (kind === 'listeners' || kind === 'routes' || kind === 'virtualHosts') {
    // Clusters from other sources (e.g. the bootstrap's xds_cluster) are not ours to check; only rendered kinds that this profile renders.
    const rendersClusters = templates.some((t) => t.kind === 'clusters');
    const rendersRoutes = templates.some((t) => t.kind === 'routes');
    for (const ref of refsOf(res)) {
      // The ext_authz placeholder is named on purpose and never rendered (authz-override.ts).
      if (CLUSTER_REFS.has(ref.key) && rendersClusters && !resources.clusters.has(ref.value) && ref.value !== AUTHZ_PLACEHOLDER_CLUSTER)
        problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names cluster ${ref.value}, which does not exist` });
      if (kind === 'listeners' && ROUTE_REFS.has(ref.key) && rendersRoutes && !resources.routes.has(ref.value))
        problems.push({ template: res.template, resource: res.name, field: ref.path, message: `names route configuration ${ref.value}, which does not exist` });
    }
  }
  if (kind === 'clusters' && templates.some((t) => t.kind === 'endpoints') && res.json.type === 'EDS' && !resources.endpoints.has(res.name))
    problems.push({ template: res.template, resource: res.name, field: 'eds_cluster_config', message: 'EDS cluster without endpoints (ClusterLoadAssignment)' });
  return problems;
}
