import { RouteDocument } from '../../../model';
import { CdnOriginSource } from '../cdn-origin';
import { ContextSource, PlatformSettings, RenderContext, isServedIn } from '../context';
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

