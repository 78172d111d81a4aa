import { RouteDocument } from '../../../model';
import { CdnOriginSource } from '../cdn-origin';
import { ContextRevision, ContextSource, PlatformSettings, RenderContext, isServedIn } from '../context';
import { Quarantine } from '../rollout/quarantine';
import { TenantRules } from '../tenant-rules';

export interface MergeInputs {
  readonly region: string;
  /** Settings before any source overrides them. */
  readonly settings: PlatformSettings;
  /** The first source is primary (the broker's routes): nothing renders until it has loaded. */
  readonly sources: readonly ContextSource[];
  readonly tenantRules: TenantRules;
  readonly quarantine: Quarantine;
  readonly cdnOrigin?: CdnOriginSource;
}

/**
 * Stage 1b, the context merge: the sources' routes and settings into one render context.
 * Settings: the defaults, then the secondary sources (the first listed wins); routes: by
 * instance, the primary source's over the others'. Only routes served in the region, sorted
 * by instance id, admitted by the tenant rules, with the quarantine's substitutions.
 * Undefined until the primary source has loaded.
 */
export function buildContext(inputs: MergeInputs): RenderContext | undefined {
  const [primary, ...others] = inputs.sources;
  if (primary && !primary.loaded) return undefined;
  let settings: PlatformSettings = { ...inputs.settings };
  const routes = new Map<string, RouteDocument>();
  for (const source of [...others].reverse()) {
    if (!source.loaded) continue;
    settings = { ...settings, ...source.settings() };
  }
  for (const source of others) for (const route of source.routes()) routes.set(route.instanceId, route);
  if (primary) for (const route of primary.routes()) routes.set(route.instanceId, route);
  const served = [...routes.values()].filter((r) => isServedIn(r, inputs.region)).sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  const generation = Math.max(0, ...inputs.sources.map((source) => source.generation?.() ?? 0));
  return { settings, routes: inputs.quarantine.apply(inputs.tenantRules.admit(served)), generation, cdnOrigin: inputs.cdnOrigin?.origin() };
}

/** How many merges back a render may be and still revisit only what changed. */
const REVISIONS_KEPT = 64;
/** Past this many changed instances, a render revisits every instance anyway. */
const MAX_CHANGED = 4096;

/**
 * The per-instance diff the merge hands down to the render: each context it builds gets a
 * revision that knows which instances' routes changed since an earlier revision of the same
 * merge (by object identity: the sources, tenant rules and quarantine keep a route's object
 * while it is unchanged). Comparing the routes costs one map lookup per instance here, outside
 * the render; the render then revisits the changed instances only.
 */
export class ContextRevisions {
  private seq = 0;
  private last?: ReadonlyMap<string, RouteDocument>;
  /** The instances changed by each of the last REVISIONS_KEPT revisions (undefined: too many to list). */
  private readonly log: Array<{ seq: number; ids?: ReadonlySet<string> }> = [];
  private readonly mine = new WeakSet<ContextRevision>();

  /** The context with its revision. */
  stamp(context: RenderContext): RenderContext {
    const byId = new Map(context.routes.map((r) => [r.instanceId, r]));
    const last = this.last;
    let ids: Set<string> | undefined = new Set<string>();
    if (last) {
      for (const [id, route] of byId) if (last.get(id) !== route) ids.add(id);
      for (const id of last.keys()) if (!byId.has(id)) ids.add(id);
      if (ids.size > MAX_CHANGED) ids = undefined;
    } else ids = undefined;
    const seq = ++this.seq;
    this.last = byId;
    this.log.push({ seq, ids });
    if (this.log.length > REVISIONS_KEPT) this.log.shift();
    const revision: ContextRevision = { seq, byId, changedSince: (since) => this.changedSince(since, seq) };
    this.mine.add(revision);
    return { ...context, revision };
  }

  /** The union of the changes of the revisions after `since`, up to `upTo`. */
  private changedSince(since: ContextRevision, upTo: number): ReadonlySet<string> | undefined {
    if (!this.mine.has(since) || since.seq > upTo) return undefined;
    if (since.seq === upTo) return new Set();
    const entries = this.log.filter((e) => e.seq > since.seq && e.seq <= upTo);
    if (entries.length !== upTo - since.seq) return undefined;
    const union = new Set<string>();
    for (const entry of entries) {
      if (!entry.ids) return undefined;
      for (const id of entry.ids) union.add(id);
      if (union.size > MAX_CHANGED) return undefined;
    }
    return union;
  }
}
