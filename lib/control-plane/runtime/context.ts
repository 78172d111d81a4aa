import { RegionPin, RouteDocument } from '../../model';

/** Platform-wide settings the templates read (defaults < S3 object < local file). */
export interface PlatformSettings {
  readonly platformName: string;
  readonly region: string;
  readonly domain: string;
  readonly httpsTrafficPort: number;
  readonly httpTrafficPort: number;
  /** Where Envoy writes JSON access logs: `/dev/stdout` (default) or a file path. */
  readonly accessLogPath: string;
  /** The global rate limit service (envoy.service.ratelimit.v3); unset: `rate_limit.global` is reported as not served. */
  readonly rateLimitService?: { readonly address: string; readonly port: number; readonly domain?: string };
}

/** A route the control plane serves: not deleted, and its `spec.regions` names this region. */
export type ServedRoute = RouteDocument;

/** Everything templates render from. */
export interface RenderContext {
  readonly settings: PlatformSettings;
  /** Served routes, sorted by instance id (stable renders). */
  readonly routes: readonly ServedRoute[];
  /** The highest route generation the context has seen (any region, tombstones too): what a node holding this render holds. */
  readonly generation?: number;
  /** The origin header values cdn hosts accept (cdn-origin.ts); unset: not read yet, cdn hosts refuse everything. */
  readonly cdnOrigin?: { readonly values: readonly string[] };
  /**
   * Set by the context merge (sources/merge.ts): the routes by instance, and which instances'
   * routes changed since an earlier context, so a render revisits only those. Not rendered
   * from, not persisted; unset (contexts built by hand, the persisted one): a render revisits every instance.
   */
  readonly revision?: ContextRevision;
}

/** Where a context stands among the contexts the merge built (see RenderContext.revision). */
export interface ContextRevision {
  readonly seq: number;
  /** The context's routes, by instance id. */
  readonly byId: ReadonlyMap<string, ServedRoute>;
  /**
   * The instances whose route is not the same object as in the context of revision `since`
   * (added, changed or removed); undefined when not known (another merge, or too far back).
   */
  changedSince(since: ContextRevision): ReadonlySet<string> | undefined;
}

/** The JSON document an S3 object or a local file may hold. */
export interface ContextDocument {
  readonly settings?: Partial<PlatformSettings>;
  readonly routes?: readonly RouteDocument[];
}

export interface SourceStatus {
  readonly name: string;
  readonly ok: boolean;
  readonly lastSuccessAt?: string;
  readonly lastAttemptAt?: string;
  readonly lastError?: string;
  readonly items: number;
  readonly stalenessSeconds: number;
}

/** A context source: refreshes on its own interval, keeps its last good data on failure. */
export interface ContextSource {
  readonly name: string;
  /** One refresh now; returns whether the data changed. Throws on failure (the caller records it). */
  refresh(): Promise<boolean>;
  readonly intervalMs: number;
  routes(): readonly RouteDocument[];
  settings(): Partial<PlatformSettings>;
  /** Whether the source has loaded successfully at least once. */
  readonly loaded: boolean;
  /** The highest route generation read so far (sources of generations only). */
  generation?(): number;
  /** The operator pin the source obeys, if any (the broker table's routes source only). */
  pinned?(): RegionPin | undefined;
}

/** Whether a route document is served in `region`. */
export function isServedIn(route: RouteDocument, region: string): boolean {
  return !route.deleted && Array.isArray(route.spec?.regions) && route.spec.regions.includes(region);
}

/** Reads a context document, checking its shape enough that templates can trust it. */
export function parseContextDocument(text: string, origin: string): ContextDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${origin}: not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${origin}: must be a JSON object with "settings" and/or "routes"`);
  const doc = parsed as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (key !== 'settings' && key !== 'routes') throw new Error(`${origin}: ${key}: is not a known field`);
  if (doc.routes !== undefined) {
    if (!Array.isArray(doc.routes)) throw new Error(`${origin}: routes: must be an array`);
    doc.routes.forEach((route: unknown, i: number) => {
      const r = route as Partial<RouteDocument> | null;
      if (!r || typeof r.instanceId !== 'string' || typeof r.spec !== 'object' || !Array.isArray(r.spec?.hostnames) || !Array.isArray(r.spec?.backends))
        throw new Error(`${origin}: routes[${i}]: must have instanceId and spec with hostnames and backends`);
    });
  }
  if (doc.settings !== undefined && (typeof doc.settings !== 'object' || doc.settings === null)) throw new Error(`${origin}: settings: must be an object`);
  return doc as ContextDocument;
}

/** Normalises a route from a file/S3 document (generation 0, not deleted, regions defaulted). */
export function normaliseStaticRoute(route: RouteDocument, region: string): RouteDocument {
  return {
    ...route,
    plan: route.plan ?? 'standard',
    generation: route.generation ?? 0,
    deleted: route.deleted ?? false,
    updatedAt: route.updatedAt ?? new Date(0).toISOString(),
    spec: { ...route.spec, regions: route.spec.regions ?? [region] },
  };
}
